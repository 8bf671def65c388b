package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dirbook/dirbook"
)

// spoolDirectory returns n people, every third with a photo.
func spoolDirectory(n int) []*dirbook.Entry {
	var es []*dirbook.Entry
	for i := range n {
		attrs := []string{"displayName", fmt.Sprintf("Person %d", i), "mail", fmt.Sprintf("p%d@example.com", i), "group", staffGroup}
		if i%3 == 0 {
			attrs = append(attrs, "jpegPhoto", fmt.Sprintf("\xff\xd8photo of %d", i))
		}
		es = append(es, entry(fmt.Sprint(i), fmt.Sprintf("p%d", i), attrs...))
	}
	return es
}

// planWith plans entries into s with a spool memory of limit bytes and
// returns the plan and the number of bytes it spooled to its file.
func planWith(t *testing.T, s *Store, entries []*dirbook.Entry, limit int64) (*Plan, int64) {
	t.Helper()
	old := spoolMemory
	spoolMemory = limit
	defer func() { spoolMemory = old }()
	eng := NewEngine(s, []Source{&fakeSource{name: "dir", entries: entries}}, newFakeMapper(), nil)
	p, err := eng.Plan(context.Background())
	if err != nil {
		t.Fatalf("Plan = %v", err)
	}
	return p, p.spool.size
}

// applyAndClose publishes p into s and closes it.
func applyAndClose(t *testing.T, s *Store, p *Plan) {
	t.Helper()
	eng := NewEngine(s, nil, newFakeMapper(), nil)
	if _, err := eng.Apply(context.Background(), p); err != nil {
		t.Fatalf("Apply = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
}

// TestSpool checks that a plan whose cards go to its spool file publishes
// the same cards, and has the same ID, as one that keeps them in memory,
// and that the file is gone after Close.
func TestSpool(t *testing.T) {
	entries := spoolDirectory(300)
	file, _ := openStore(t)
	inMemory, memSpooled := planWith(t, file, entries, 1<<30)
	spooled, fileSpooled := planWith(t, file, entries, 0)
	if memSpooled != 0 || fileSpooled == 0 {
		t.Fatalf("spooled %d bytes with a large memory share and %d with none; want 0 and more", memSpooled, fileSpooled)
	}
	if inMemory.ID() != spooled.ID() {
		t.Errorf("plan ID with a spool file = %s, in memory %s", spooled.ID(), inMemory.ID())
	}
	applyAndClose(t, file, spooled)
	mem, _ := openStore(t)
	p, _ := planWith(t, mem, entries, 1<<30)
	applyAndClose(t, mem, p)
	for _, want := range mem.Current().Books {
		got := file.Current().Book(want.ID)
		if got == nil || !slices.Equal(got.UIDs, want.UIDs) {
			t.Fatalf("book %s with a spool file = %v, want %v", want.ID, got, want.UIDs)
		}
		for _, uid := range want.UIDs {
			if g, w := got.Cards[uid].ETag, want.Cards[uid].ETag; g != w {
				t.Errorf("book %s card %s: ETag %s with a spool file, %s in memory", want.ID, uid, g, w)
			}
			gc, _, err := file.Card(want.ID, uid)
			if err != nil {
				t.Fatal(err)
			}
			wc, _, err := mem.Card(want.ID, uid)
			if err != nil {
				t.Fatal(err)
			}
			if !sameCard(gc, wc) {
				t.Errorf("book %s card %s = %+v with a spool file, want %+v", want.ID, uid, gc, wc)
			}
		}
	}

	// A plan of changes reads the spooled cards to describe them.
	changed := clone(entries)
	changed[3].Attrs["displayname"] = []string{"Renamed Person"}
	old := spoolMemory
	spoolMemory = 0
	defer func() { spoolMemory = old }()
	eng := NewEngine(file, []Source{&fakeSource{name: "dir", entries: changed}}, newFakeMapper(), nil)
	p, err := eng.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := summarize(p); !slices.Contains(got, "colleagues ~ u-3 fn: Person 3 → Renamed Person") {
		t.Errorf("plan of one rename = %q, want the changed name field", got)
	}
	name := p.spool.f.Name()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("spool file %s after Close: %v, want it gone", name, err)
	}
	if _, err := eng.Apply(context.Background(), p); err == nil {
		t.Error("Apply of a closed plan whose cards were spooled succeeded")
	}
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "dirbook-plan-*"))
	for _, m := range matches {
		if m == name {
			t.Errorf("spool file %s left in %s", m, os.TempDir())
		}
	}
}
