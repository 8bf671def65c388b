package carddav_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// testStoreID is the StoreID of the revisions the tests build.
const testStoreID = "3f2a9c10"

// op is one change to a book in a publish.
type op struct {
	book   string
	uid    string
	fn     string // "" removes the card
	extras []dirbook.Prop
}

// put adds or changes a card.
func put(book, uid, fn string, extras ...dirbook.Prop) op {
	return op{book: book, uid: uid, fn: fn, extras: extras}
}

// del removes a card.
func del(book, uid string) op { return op{book: book, uid: uid} }

// contentCard returns a card whose ETag derives from its content, as the
// store makes them.
func contentCard(tb testing.TB, uid, fn string, rev uint64, extras ...dirbook.Prop) *dirbook.StoredCard {
	tb.Helper()
	props := []dirbook.Prop{
		{Field: "fn", Name: "FN", Values: []string{fn}},
		{Field: "n", Name: "N", Values: strings.SplitN(fn, " ", 2)},
	}
	props = append(props, extras...)
	c := dirbook.Card{UID: uid, Props: props}
	b, err := mapping.Encode(&c, "4.0")
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return stored(c, hex.EncodeToString(sum[:16]), rev)
}

// history publishes successive revisions the way the store does: a book
// that a publish leaves alone keeps its state, a changed card gets the
// publish's number, a removed one is remembered in Removed.
type history struct {
	tb   testing.TB
	revs []*dirbook.Revision
}

// newHistory starts a history with the given empty books and access.
func newHistory(tb testing.TB, books []dirbook.Book, access map[string][]string) *history {
	rev := &dirbook.Revision{StoreID: testStoreID, Access: access}
	for _, b := range books {
		rev.Books = append(rev.Books, &dirbook.BookState{Book: b, Cards: map[string]*dirbook.StoredCard{}, Removed: map[string]uint64{}})
	}
	return &history{tb: tb, revs: []*dirbook.Revision{rev}}
}

func (h *history) current() *dirbook.Revision { return h.revs[len(h.revs)-1] }

// publish makes the next revision from ops.
func (h *history) publish(ops ...op) *dirbook.Revision {
	h.tb.Helper()
	prev := h.current()
	num := prev.Number + 1
	next := &dirbook.Revision{
		Number:  num,
		StoreID: prev.StoreID,
		Time:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(num) * time.Hour),
		Access:  prev.Access,
	}
	for _, old := range prev.Books {
		var mine []op
		for _, o := range ops {
			if o.book == old.ID {
				mine = append(mine, o)
			}
		}
		if len(mine) == 0 {
			next.Books = append(next.Books, old)
			continue
		}
		bs := &dirbook.BookState{
			Book:        old.Book,
			Cards:       maps.Clone(old.Cards),
			Removed:     maps.Clone(old.Removed),
			Revision:    num,
			HistoryFrom: old.HistoryFrom,
		}
		for _, o := range mine {
			if o.fn == "" {
				if bs.Cards[o.uid] == nil {
					h.tb.Fatalf("publish %d: remove of missing card %q", num, o.uid)
				}
				delete(bs.Cards, o.uid)
				bs.Removed[o.uid] = num
				continue
			}
			bs.Cards[o.uid] = contentCard(h.tb, o.uid, o.fn, num, o.extras...)
			delete(bs.Removed, o.uid)
		}
		bs.UIDs = slices.Sorted(maps.Keys(bs.Cards))
		next.Books = append(next.Books, bs)
	}
	for _, o := range ops {
		if next.Book(o.book) == nil {
			h.tb.Fatalf("publish %d: no book %q", num, o.book)
		}
	}
	h.revs = append(h.revs, next)
	return next
}

// forget drops the removals up to rev from every book, as a store that
// keeps a bounded history does, in a new revision with no other change.
func (h *history) forget(rev uint64) *dirbook.Revision {
	prev := h.current()
	next := *prev
	next.Number++
	next.Books = nil
	for _, old := range prev.Books {
		bs := *old
		bs.Removed = map[string]uint64{}
		for uid, r := range old.Removed {
			if r > rev {
				bs.Removed[uid] = r
			}
		}
		bs.HistoryFrom = max(old.HistoryFrom, rev)
		next.Books = append(next.Books, &bs)
	}
	h.revs = append(h.revs, &next)
	return &next
}

// token returns the complete sync token of a book at a revision.
func token(book string, rev uint64) string {
	return fmt.Sprintf("http://dirbook.invalid/ns/sync/%s/%s/%d", testStoreID, book, rev)
}

// syncStore is a Store whose revision tests replace.
type syncStore struct{ h *history }

func (s syncStore) Current() *dirbook.Revision { return s.h.current() }
