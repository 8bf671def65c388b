package sync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/benchmark"
	dirsync "github.com/dirbook/dirbook/sync"
)

// benchFeed is a change feed over the bench directory: Poll without state
// reads the LDIF source whole; with a state it emits next and moves the
// state on when moveState is set.
type benchFeed struct {
	dirsync.Source
	next      []dirsync.Change
	moveState bool
	n         int
}

func (f *benchFeed) Poll(ctx context.Context, state []byte, emit func(dirsync.Change) error) ([]byte, bool, error) {
	if state == nil {
		err := f.Read(ctx, func(e *dirbook.Entry) error { return emit(dirsync.Change{Entry: e}) })
		return []byte("0"), true, err
	}
	for _, c := range f.next {
		if err := emit(c); err != nil {
			return nil, false, err
		}
	}
	if f.moveState {
		f.n++
	}
	return []byte(strconv.Itoa(f.n)), false, nil
}

func (f *benchFeed) Watch(ctx context.Context, state []byte, fn func([]dirsync.Change, bool, []byte) error) error {
	return fmt.Errorf("bench: watch: %w", dirbook.ErrNoFeed)
}

// changedEntries returns the entries of the bench LDIF at path whose
// mobile number the changed version of the directory changes.
func changedEntries(tb testing.TB, path string) []dirsync.Change {
	tb.Helper()
	var out []dirsync.Change
	step := benchPeople / benchChanged
	err := benchSource(tb, path).Read(context.Background(), func(e *dirbook.Entry) error {
		n, err := strconv.Atoi(strings.TrimPrefix(e.First("uid"), "user"))
		if err != nil {
			return err
		}
		if n%step == 0 {
			out = append(out, dirsync.Change{Entry: e})
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(out) != benchChanged {
		tb.Fatalf("%d changed entries, want %d", len(out), benchChanged)
	}
	return out
}

// BenchmarkFeed100k measures plans from a change feed against a published
// directory of 100,000 people (the LDIF bench directory, demo rules): a
// poll that brings nothing (with the feed state unchanged, and moved on,
// which stores it), and 100 changed people. Each iteration is PlanChanges
// and Apply, the feed's own work excluded.
//
//	go test ./sync -run '^$' -bench 'Feed100k' -benchtime 20x
func BenchmarkFeed100k(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	photos := benchmark.Photos(64)
	v0, v1 := filepath.Join(dir, "v0.ldif"), filepath.Join(dir, "v1.ldif")
	writeBenchLDIF(b, v0, benchPeople, false, photos)
	writeBenchLDIF(b, v1, benchPeople, true, photos)
	versions := [][]dirsync.Change{changedEntries(b, v1), changedEntries(b, v0)}

	s, err := dirsync.Open(filepath.Join(dir, "feed.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	feed := &benchFeed{Source: benchSource(b, v0)}
	eng := dirsync.NewEngine(s, []dirsync.Source{feed}, demoMapper(b), &dirsync.EngineOptions{RulesFingerprint: "bench"})
	sync := func(b *testing.B) *dirsync.Plan {
		p, err := eng.PlanChanges(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := eng.Apply(ctx, p); err != nil {
			b.Fatal(err)
		}
		return p
	}
	if p := sync(b); p.Incremental || len(p.Books[0].Added) < benchPeople*9/10 {
		b.Fatalf("first sync: Incremental %v, %d added, want a full read", p.Incremental, len(p.Books[0].Added))
	}

	for _, bc := range []struct {
		name      string
		moveState bool
	}{{"no-change", false}, {"no-change-new-state", true}} {
		b.Run(bc.name, func(b *testing.B) {
			feed.next, feed.moveState = nil, bc.moveState
			for b.Loop() {
				if p := sync(b); !p.Incremental || !p.Empty() {
					b.Fatalf("plan: Incremental %v, Empty %v, want an empty plan from changes", p.Incremental, p.Empty())
				}
			}
		})
	}
	b.Run("100-joiners-leavers", func(b *testing.B) {
		// 100 people join, and leave at the next plan.
		var join, leave []dirsync.Change
		for k, c := range versions[0] {
			e := *c.Entry
			e.ID = fmt.Sprintf("ffffffff-0000-4000-8000-%012x", k)
			join = append(join, dirsync.Change{Entry: &e})
			leave = append(leave, dirsync.Change{RemovedID: e.ID})
		}
		feed.moveState = true
		i := 0
		for b.Loop() {
			feed.next = join
			if i%2 == 1 {
				feed.next = leave
			}
			i++
			p := sync(b)
			if n := len(p.Books[0].Added) + len(p.Books[0].Removed); !p.Incremental || n != benchChanged {
				b.Fatalf("plan: Incremental %v, %d colleagues added or removed, want %d from changes", p.Incremental, n, benchChanged)
			}
		}
		if i%2 == 1 {
			feed.next = leave
			sync(b)
		}
	})
	b.Run("100-changes", func(b *testing.B) {
		feed.moveState = true
		i := 0
		for b.Loop() {
			feed.next = versions[i%2]
			i++
			p := sync(b)
			if n := len(p.Books[0].Changed); !p.Incremental || n != benchChanged {
				b.Fatalf("plan: Incremental %v, %d colleagues changed, want %d from changes", p.Incremental, n, benchChanged)
			}
		}
	})
}
