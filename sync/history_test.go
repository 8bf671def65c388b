package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	bolt "go.etcd.io/bbolt"
)

// digest lists what sync tokens depend on in rev, one line per item: the
// revision and store, per book its ctag, history start, tombstones and
// cards with ETag and revision, and the access map.
func digest(rev *dirbook.Revision) []string {
	out := []string{fmt.Sprintf("revision %d store %s time %s", rev.Number, rev.StoreID, rev.Time.Format(time.RFC3339Nano))}
	for _, b := range rev.Books {
		out = append(out, fmt.Sprintf("book %s %q rev %d from %d", b.ID, b.Name, b.Revision, b.HistoryFrom))
		for _, uid := range slices.Sorted(func(yield func(string) bool) {
			for uid := range b.Removed {
				if !yield(uid) {
					return
				}
			}
		}) {
			out = append(out, fmt.Sprintf("  removed %s at %d", uid, b.Removed[uid]))
		}
		if len(b.UIDs) != len(b.Cards) {
			out = append(out, fmt.Sprintf("  %d UIDs for %d cards", len(b.UIDs), len(b.Cards)))
		}
		for _, uid := range b.UIDs {
			c := b.Cards[uid]
			if c == nil {
				out = append(out, "  missing card "+uid)
				continue
			}
			out = append(out, fmt.Sprintf("  card %s %s rev %d", uid, c.ETag, c.Revision))
		}
	}
	for _, login := range sortedKeys(rev.Access) {
		out = append(out, fmt.Sprintf("access %s %v", login, rev.Access[login]))
	}
	return out
}

// clock is a settable time for stores in tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }

func openStoreAt(tb testing.TB, path string, opts *StoreOptions, c *clock) *Store {
	tb.Helper()
	s, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%q) = %v", path, err)
	}
	if c != nil {
		s.now = c.now
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// reopen closes s and opens its file again, and checks that the current
// revision reads back identically.
func reopen(t *testing.T, s *Store, opts *StoreOptions, c *clock) *Store {
	t.Helper()
	want := digest(s.Current())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStoreAt(t, s.Path(), opts, c)
	if got := digest(s2.Current()); !slices.Equal(got, want) {
		t.Errorf("after reopening:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	return s2
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dirbook.db")
	s := openStoreAt(t, path, nil, nil)
	id := s.Current().StoreID
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("StoreID = %q, want 32 hex digits", id)
	}
	other := openStoreAt(t, filepath.Join(t.TempDir(), "other.db"), nil, nil)
	if other.Current().StoreID == id {
		t.Errorf("two stores have the same StoreID %s", id)
	}

	publish := func(ch *Changes) *dirbook.Revision {
		t.Helper()
		ch.Base = s.Current().Number
		rev, err := s.Publish(ctx, ch)
		if err != nil {
			t.Fatalf("Publish = %v", err)
		}
		if rev.StoreID != id {
			t.Errorf("revision %d StoreID = %q, want %q", rev.Number, rev.StoreID, id)
		}
		return rev
	}
	three := []CardPut{{Card: card("u-1", "Anna")}, {Card: card("u-2", "Bernd")}, {Card: card("u-3", "Carla")}}
	rev1 := publish(&Changes{Books: []BookChanges{{Book: colleagues, Put: three}, {Book: partners, Put: three[2:]}}})
	for _, b := range rev1.Books {
		if b.HistoryFrom != 1 || len(b.Removed) != 0 || b.Removed == nil {
			t.Errorf("revision 1 book %s: HistoryFrom %d, Removed %v, want 1 and an empty map", b.ID, b.HistoryFrom, b.Removed)
		}
	}
	s = reopen(t, s, nil, nil)

	// A removal moves the book's ctag and leaves a tombstone; the other
	// book stays as it is.
	before := s.Current()
	rev2 := publish(&Changes{Books: []BookChanges{{Book: colleagues, Delete: []string{"u-2"}}, {Book: partners}}})
	col := rev2.Book("colleagues")
	if col.Revision != 2 || col.Removed["u-2"] != 2 || len(col.Removed) != 1 {
		t.Errorf("after removing u-2: colleagues rev %d, Removed %v, want rev 2, {u-2: 2}", col.Revision, col.Removed)
	}
	if rev2.Book("partners") != before.Book("partners") {
		t.Errorf("unchanged partners was copied")
	}
	if len(rev1.Book("colleagues").Removed) != 0 {
		t.Errorf("publishing changed revision 1's tombstones: %v", rev1.Book("colleagues").Removed)
	}
	s = reopen(t, s, nil, nil)

	// A card that comes back loses its tombstone and is new in its
	// revision; another removal adds one.
	rev3 := publish(&Changes{Books: []BookChanges{{Book: colleagues, Put: three[1:2], Delete: []string{"u-1"}}, {Book: partners}}})
	col = rev3.Book("colleagues")
	if _, ok := col.Removed["u-2"]; ok || col.Removed["u-1"] != 3 || col.Cards["u-2"].Revision != 3 {
		t.Errorf("after u-2 came back: Removed %v, u-2 rev %d, want {u-1: 3} and 3", col.Removed, col.Cards["u-2"].Revision)
	}
	s = reopen(t, s, nil, nil)

	// A dropped book loses its history; configured again, it starts anew.
	publish(&Changes{Books: []BookChanges{{Book: partners}}})
	s = reopen(t, s, nil, nil)
	rev5 := publish(&Changes{Books: []BookChanges{{Book: partners}, {Book: colleagues, Put: three[2:]}}})
	col = rev5.Book("colleagues")
	if col.HistoryFrom != 5 || len(col.Removed) != 0 || col.Revision != 5 {
		t.Errorf("colleagues configured again: HistoryFrom %d, Removed %v, rev %d, want 5, none, 5", col.HistoryFrom, col.Removed, col.Revision)
	}
	s = reopen(t, s, nil, nil)
	if got := s.Current().Book("partners").HistoryFrom; got != 1 {
		t.Errorf("partners HistoryFrom = %d, want 1", got)
	}
	s.Close()
	tombs := readTombstones(t, path)
	if want := map[string]map[string]uint64{}; len(tombs) != 0 {
		t.Errorf("tombstones in the file = %v, want %v", tombs, want)
	}
}

func readTombstones(t *testing.T, path string) map[string]map[string]uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]map[string]uint64{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTombstones).ForEach(func(book, _ []byte) error {
			return tx.Bucket(bucketTombstones).Bucket(book).ForEach(func(uid, rev []byte) error {
				if out[string(book)] == nil {
					out[string(book)] = map[string]uint64{}
				}
				out[string(book)][string(uid)] = getUintBytes(rev)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHistoryRetention(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	opts := &StoreOptions{HistoryRetention: 24 * time.Hour}
	s := openStoreAt(t, filepath.Join(t.TempDir(), "dirbook.db"), opts, c)
	path := s.Path()
	step := func(after time.Duration, books ...BookChanges) *dirbook.Revision {
		t.Helper()
		c.add(after)
		rev, err := s.Publish(ctx, &Changes{Base: s.Current().Number, Books: books})
		if err != nil {
			t.Fatalf("Publish = %v", err)
		}
		return rev
	}
	logKeys := func() []uint64 {
		t.Helper()
		s.Close()
		var keys []uint64
		for k := range readLog(t, path) {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		s = openStoreAt(t, path, opts, c)
		return keys
	}
	puts := []CardPut{{Card: card("u-1", "Anna")}, {Card: card("u-2", "Bernd")}, {Card: card("u-3", "Carla")}, {Card: card("u-4", "Dora")}}
	step(0, BookChanges{Book: colleagues, Put: puts}, BookChanges{Book: partners, Put: puts[:1]})
	step(time.Hour, BookChanges{Book: colleagues, Delete: []string{"u-2"}}, BookChanges{Book: partners})
	step(time.Hour, BookChanges{Book: colleagues, Delete: []string{"u-3"}}, BookChanges{Book: partners})
	if got := logKeys(); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("log = revisions %v, want 1 2 3", got)
	}

	// Over 24 h after revision 2: revisions 1 and 2 are past the retention.
	rev4 := step(23*time.Hour+time.Minute, BookChanges{Book: colleagues, Delete: []string{"u-4"}}, BookChanges{Book: partners})
	col := rev4.Book("colleagues")
	if want := map[string]uint64{"u-3": 3, "u-4": 4}; !mapsEqual(col.Removed, want) || col.HistoryFrom != 2 {
		t.Errorf("after compaction: colleagues Removed %v, HistoryFrom %d, want %v, 2", col.Removed, col.HistoryFrom, want)
	}
	if got := rev4.Book("partners").HistoryFrom; got != 1 {
		t.Errorf("partners, which lost no tombstone: HistoryFrom %d, want 1", got)
	}
	if got := logKeys(); !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("log = revisions %v, want 3 4", got)
	}
	s = reopen(t, s, opts, c)

	// Compaction alone does not move a book's ctag.
	rev5 := step(48*time.Hour, BookChanges{Book: colleagues}, BookChanges{Book: partners, Put: puts[1:2]})
	col = rev5.Book("colleagues")
	if len(col.Removed) != 0 || col.HistoryFrom != 4 || col.Revision != 4 {
		t.Errorf("after compaction only: colleagues Removed %v, HistoryFrom %d, rev %d, want none, 4, 4", col.Removed, col.HistoryFrom, col.Revision)
	}
	if rev4.Book("colleagues").Removed["u-3"] != 3 {
		t.Errorf("compaction changed an earlier revision")
	}
	s = reopen(t, s, opts, c)
	s.Close()
	if got := readTombstones(t, path); len(got) != 0 {
		t.Errorf("tombstones in the file = %v, want none", got)
	}

	// A negative retention keeps everything.
	keep := &StoreOptions{HistoryRetention: -1}
	s = openStoreAt(t, filepath.Join(t.TempDir(), "keep.db"), keep, c)
	step(0, BookChanges{Book: colleagues, Put: puts})
	step(time.Hour, BookChanges{Book: colleagues, Delete: []string{"u-1"}})
	rev := step(10000*time.Hour, BookChanges{Book: colleagues, Delete: []string{"u-2"}})
	if col := rev.Book("colleagues"); len(col.Removed) != 2 || col.HistoryFrom != 1 {
		t.Errorf("kept history: Removed %v, HistoryFrom %d, want 2 tombstones from 1", col.Removed, col.HistoryFrom)
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestUpgradeFormat1 opens a file written by the first store format: no
// store ID, tombstones or log times.
func TestUpgradeFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := newEncoded(card("u-1", "Anna"))
	rec, etag := encodeRecord(enc.json, enc.etag, 3, ""), enc.etag
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketBooks, bucketCards, bucketAccess, bucketLog} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		meta.Put(keyFormat, uintKey(1))
		meta.Put(keyRevision, uintKey(3))
		meta.Put(keyTime, []byte("2025-01-01T00:00:00Z"))
		book, _ := json.Marshal(bookRecord{Book: colleagues, Revision: 3})
		tx.Bucket(bucketBooks).Put([]byte("colleagues"), book)
		cards, err := tx.Bucket(bucketCards).CreateBucket([]byte("colleagues"))
		if err != nil {
			return err
		}
		cards.Put([]byte("u-1"), rec)
		return tx.Bucket(bucketLog).Put(uintKey(3), []byte(`[{"book":"colleagues","uid":"u-1","op":"put"}]`))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openStoreAt(t, path, nil, nil)
	rev := s.Current()
	col := rev.Book("colleagues")
	if len(rev.StoreID) != 32 || rev.Number != 3 || col.HistoryFrom != 3 || col.Cards["u-1"].ETag != etag {
		t.Fatalf("upgraded store: StoreID %q, revision %d, HistoryFrom %d, want an ID, 3, 3, the card", rev.StoreID, rev.Number, col.HistoryFrom)
	}
	s = reopen(t, s, nil, nil)
	next, err := s.Publish(context.Background(), &Changes{Base: 3, Books: []BookChanges{{Book: colleagues, Delete: []string{"u-1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := next.Book("colleagues").Removed; got["u-1"] != 4 {
		t.Errorf("Removed after publishing = %v, want u-1 at 4", got)
	}
	s.Close()
	// The format 1 log entry has no time: the first publish drops it.
	if got := readLog(t, path); len(got) != 1 || got[4] == nil {
		t.Errorf("log after the first publish = %v, want revision 4 only", got)
	}
}
