package sync

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dirbook/dirbook"
)

const benchN = 100_000

// benchEntries makes n synthetic staff entries; variant changes every
// mobile number.
func benchEntries(n, variant int) []*dirbook.Entry {
	es := make([]*dirbook.Entry, n)
	for i := range es {
		login := fmt.Sprintf("user%06d", i)
		es[i] = entry(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), login,
			"displayName", fmt.Sprintf("User %06d", i),
			"mail", login+"@example.com",
			"mobile", fmt.Sprintf("+49170%07d", i+variant),
			"group", staffGroup)
	}
	return es
}

func BenchmarkPlan(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		publish bool
	}{
		{"no-change", true},
		{"all-new", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := openStore(b)
			eng := NewEngine(s, []Source{&fakeSource{entries: benchEntries(benchN, 0)}}, newFakeMapper(), nil)
			if bc.publish {
				if _, err := eng.Sync(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				p, err := eng.Plan(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if p.Empty() != bc.publish {
					b.Fatalf("Plan: Empty() = %v, want %v", p.Empty(), bc.publish)
				}
			}
		})
	}
}

func benchChanges(base uint64, variant int) *Changes {
	puts := make([]CardPut, benchN)
	for i := range puts {
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		puts[i] = CardPut{EntryID: uid, Card: card(uid, fmt.Sprintf("User %06d", i),
			dirbook.Prop{Field: "email", Name: "EMAIL", Types: []string{"work"}, Values: []string{fmt.Sprintf("user%06d@example.com", i)}},
			mobileProp(fmt.Sprintf("+49170%07d", i+variant)))}
	}
	return &Changes{Base: base, Books: []BookChanges{{Book: colleagues, Put: puts}}}
}

func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	b.Run("insert", func(b *testing.B) {
		ch := benchChanges(0, 0)
		dir := b.TempDir()
		b.ReportAllocs()
		for i := range b.N {
			b.StopTimer()
			s, err := Open(filepath.Join(dir, fmt.Sprintf("%d.db", i)), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := s.Publish(ctx, ch); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s.Close()
			b.StartTimer()
		}
	})
	b.Run("update-all", func(b *testing.B) {
		s, _ := openStore(b)
		changes := []*Changes{benchChanges(0, 0), benchChanges(0, 1)}
		if _, err := s.Publish(ctx, changes[0]); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 1
		for b.Loop() {
			ch := changes[i%2]
			ch.Base = s.Current().Number
			if _, err := s.Publish(ctx, ch); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
