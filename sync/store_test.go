package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dirbook/dirbook"
	bolt "go.etcd.io/bbolt"
)

// jpeg is a few bytes that are not valid UTF-8, as photos are.
const jpeg = "\xff\xd8\xff\xe0\x00\x10JFIF\x00\xff\xd9"

func card(uid, fn string, extra ...dirbook.Prop) *dirbook.Card {
	return &dirbook.Card{UID: uid, Props: append([]dirbook.Prop{{Field: "fn", Name: "FN", Values: []string{fn}}}, extra...)}
}

func mobileProp(v string) dirbook.Prop {
	return dirbook.Prop{Field: "mobile", Name: "TEL", Types: []string{"cell"}, Values: []string{v}}
}

func photoProp(v string) dirbook.Prop {
	return dirbook.Prop{Field: "photo", Name: "PHOTO", MediaType: "image/jpeg", Values: []string{v}}
}

func firstChanges() *Changes {
	return &Changes{
		Books: []BookChanges{
			{Book: colleagues, Put: []CardPut{
				{Card: card("u-1", "Anna Schmidt", mobileProp("+4917012345"), photoProp(jpeg)), EntryID: "1"},
				{Card: card("u-2", "Bernd Meier"), EntryID: "2"},
			}},
			{Book: partners, Put: []CardPut{
				{Card: card("u-3", "Carla Ost"), EntryID: "3"},
			}},
		},
		Access: map[string][]string{"anna": {"colleagues", "partners"}},
	}
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	if got := s.Current(); got == nil || got.Number != 0 || len(got.Books) != 0 {
		t.Fatalf("Current() on a new store = %+v, want revision 0 without books", got)
	}
	rev1, err := s.Publish(ctx, firstChanges())
	if err != nil {
		t.Fatalf("Publish = %v", err)
	}
	if rev1.Number != 1 || s.Current() != rev1 {
		t.Fatalf("Publish returned revision %d (current %p, returned %p), want 1 and current", rev1.Number, s.Current(), rev1)
	}
	anna := rev1.Book("colleagues").Cards["u-1"]
	annaCard, annaETag, err := s.Card("colleagues", "u-1")
	if err != nil {
		t.Fatalf("Card(colleagues, u-1) = %v", err)
	}
	if got := annaCard.Props[2].Values[0]; got != jpeg {
		t.Errorf("photo bytes = %q, want %q", got, jpeg)
	}
	if want := cardETag(annaCard); anna.ETag != want || annaETag != want || len(anna.ETag) != 32 {
		t.Errorf("ETag = %q (from Card %q), want %q (32 hex digits)", anna.ETag, annaETag, want)
	}
	if _, _, err := s.Card("colleagues", "u-nobody"); !errors.Is(err, dirbook.ErrNotFound) {
		t.Errorf("Card(colleagues, u-nobody) = %v, want dirbook.ErrNotFound", err)
	}

	// A second revision changes one card in colleagues and nothing in
	// partners: unchanged cards and books are shared.
	ch := &Changes{
		Base: 1,
		Books: []BookChanges{
			{Book: colleagues, Put: []CardPut{{Card: card("u-2", "Bernd Meier", mobileProp("+491")), EntryID: "2"}}},
			{Book: partners},
		},
		Access: map[string][]string{"anna": {"colleagues", "partners"}, "bernd": {"colleagues"}},
	}
	rev2, err := s.Publish(ctx, ch)
	if err != nil {
		t.Fatalf("Publish = %v", err)
	}
	if rev2.Book("partners") != rev1.Book("partners") {
		t.Errorf("unchanged book partners was copied, want the same *BookState")
	}
	if rev2.Book("colleagues").Cards["u-1"] != anna {
		t.Errorf("unchanged card u-1 was copied, want the same *StoredCard")
	}
	if got := rev2.Book("colleagues").Revision; got != 2 {
		t.Errorf("colleagues revision = %d, want 2", got)
	}
	if got := rev2.Book("partners").Revision; got != 1 {
		t.Errorf("partners revision = %d, want 1", got)
	}
	if got, want := rev1.Book("colleagues").Cards["u-2"].ETag, cardETag(card("u-2", "Bernd Meier")); got != want {
		t.Errorf("publishing changed revision 1: u-2 has ETag %s, want %s", got, want)
	}
	if c, etag, err := s.Card("colleagues", "u-2"); err != nil || etag != rev2.Book("colleagues").Cards["u-2"].ETag || len(c.Props) != 2 {
		t.Errorf("Card(colleagues, u-2) = %+v, %s, %v; want the card of revision 2", c, etag, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	s2, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open again = %v", err)
	}
	defer s2.Close()
	got := s2.Current()
	if got.Number != 2 || !got.Time.Equal(rev2.Time) {
		t.Errorf("reopened revision = %d at %v, want 2 at %v", got.Number, got.Time, rev2.Time)
	}
	if !reflect.DeepEqual(got.Access, rev2.Access) {
		t.Errorf("reopened Access = %v, want %v", got.Access, rev2.Access)
	}
	if len(got.Books) != 2 || got.Books[0].ID != "colleagues" || got.Books[1].ID != "partners" {
		t.Fatalf("reopened books = %v, want colleagues, partners", got.Books)
	}
	for i, want := range rev2.Books {
		b := got.Books[i]
		if b.Book != want.Book || b.Revision != want.Revision || !reflect.DeepEqual(b.UIDs, want.UIDs) {
			t.Errorf("reopened book %s = %+v rev %d %v, want %+v rev %d %v", want.ID, b.Book, b.Revision, b.UIDs, want.Book, want.Revision, want.UIDs)
		}
		for uid, wc := range want.Cards {
			gc := b.Cards[uid]
			if gc == nil {
				t.Errorf("reopened book %s lacks card %s", want.ID, uid)
				continue
			}
			if *gc != *wc {
				t.Errorf("reopened card %s = %+v, want %+v", uid, gc, wc)
			}
		}
	}

	// The log holds each revision's card operations.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	ops := readLog(t, path)
	want := map[uint64][]logOp{
		1: {{"colleagues", "u-1", "put"}, {"colleagues", "u-2", "put"}, {"partners", "u-3", "put"}},
		2: {{"colleagues", "u-2", "put"}},
	}
	if !reflect.DeepEqual(ops, want) {
		t.Errorf("log = %v, want %v", ops, want)
	}
}

func readLog(t *testing.T, path string) map[uint64][]logOp {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[uint64][]logOp{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			var e logEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out[getUintBytes(k)] = e.Ops
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func getUintBytes(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

func TestPublishDropsBooks(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	if _, err := s.Publish(ctx, firstChanges()); err != nil {
		t.Fatal(err)
	}
	rev, err := s.Publish(ctx, &Changes{Base: 1, Books: []BookChanges{{Book: partners}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Books) != 1 || rev.Books[0].ID != "partners" {
		t.Fatalf("books after dropping colleagues = %v, want partners only", rev.Books)
	}
	if len(rev.Access) != 0 {
		t.Errorf("Access = %v, want empty", rev.Access)
	}
	s.Close()
	s2, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.Current(); len(got.Books) != 1 || got.Books[0].ID != "partners" || len(got.Access) != 0 {
		t.Errorf("reopened books = %v, access %v, want partners only, no access", got.Books, got.Access)
	}
}

func TestPublishAtomic(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *Store) (context.Context, *Changes)
		want  string
	}{
		{
			name: "key too large",
			setup: func(s *Store) (context.Context, *Changes) {
				// A UID longer than bbolt's key limit fails the put after
				// other writes of the transaction succeeded.
				ch := &Changes{Base: 1, Books: []BookChanges{
					{Book: colleagues, Put: []CardPut{{Card: card("u-2", "Bernd B.")}, {Card: card(strings.Repeat("x", 40000), "Too Long")}}},
					{Book: dirbook.Book{ID: "new", Name: "New"}, Put: []CardPut{{Card: card("u-9", "Nina")}}},
				}}
				return context.Background(), ch
			},
			want: "key too large",
		},
		{
			name: "canceled",
			setup: func(s *Store) (context.Context, *Changes) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, &Changes{Base: 1, Books: []BookChanges{{Book: colleagues, Delete: []string{"u-1"}}}}
			},
			want: "context canceled",
		},
		{
			name: "stale",
			setup: func(s *Store) (context.Context, *Changes) {
				return context.Background(), &Changes{Base: 0, Books: []BookChanges{{Book: colleagues}}}
			},
			want: "sync: plan is stale",
		},
		{
			name: "closed",
			setup: func(s *Store) (context.Context, *Changes) {
				s.Close()
				return context.Background(), &Changes{Base: 1, Books: []BookChanges{{Book: colleagues, Delete: []string{"u-1"}}}}
			},
			want: "is closed",
		},
		{
			name: "put and delete",
			setup: func(s *Store) (context.Context, *Changes) {
				return context.Background(), &Changes{Base: 1, Books: []BookChanges{{Book: colleagues, Put: []CardPut{{Card: card("u-1", "A")}}, Delete: []string{"u-1"}}}}
			},
			want: "both written and deleted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openStore(t)
			if _, err := s.Publish(context.Background(), firstChanges()); err != nil {
				t.Fatal(err)
			}
			before := s.Current()
			fileBefore, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ctx, ch := tt.setup(s)
			rev, err := s.Publish(ctx, ch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Publish = %v, %v, want an error containing %q", rev, err, tt.want)
			}
			if s.Current() != before {
				t.Errorf("Current() changed after a failed publish")
			}
			if got := before.Book("colleagues").UIDs; !reflect.DeepEqual(got, []string{"u-1", "u-2"}) {
				t.Errorf("revision 1 colleagues = %v after a failed publish, want [u-1 u-2]", got)
			}
			fileAfter, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fileBefore, fileAfter) {
				t.Errorf("store file changed after a failed publish")
			}
			s.Close()
			s2, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			got := s2.Current()
			if got.Number != 1 || len(got.Books) != 2 || len(got.Book("colleagues").Cards) != 2 {
				t.Errorf("reopened after a failed publish: revision %d, %d books, want revision 1 as published", got.Number, len(got.Books))
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	s, path := openStore(t)
	start := time.Now()
	s2, err := Open(path, &StoreOptions{Timeout: 100 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatalf("second Open(%q) = nil error, want ErrLocked", path)
	}
	if !errors.Is(err, dirbook.ErrLocked) {
		t.Errorf("second Open = %v, want an error wrapping ErrLocked", err)
	}
	if want := "sync: store " + path + " is in use by another dirbook process (a running serve or sync holds " + path + ".lock); only one may sync into a store at a time"; err.Error() != want {
		t.Errorf("second Open = %q, want %q", err, want)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("second Open gave up after %v, want it to wait for the timeout", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	s3.Close()
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	if _, err := s.Publish(ctx, firstChanges()); err != nil {
		t.Fatal(err)
	}
	// The writer stays open, as a running server does.
	ro, err := OpenReadOnly(path, nil)
	if err != nil {
		t.Fatalf("OpenReadOnly beside a writer = %v", err)
	}
	defer ro.Close()
	if got := ro.Current(); got.Number != 1 || len(got.Book("colleagues").Cards) != 2 {
		t.Errorf("OpenReadOnly: revision %d, want 1 with 2 colleagues", got.Number)
	}
	if !ro.ReadOnly() {
		t.Errorf("ReadOnly() = false, want true")
	}
	if _, err := ro.Publish(ctx, &Changes{Base: 1}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Publish on a read-only store = %v, want a read-only error", err)
	}
	// The read-only store does not keep the file: the writer still publishes.
	if _, err := s.Publish(ctx, &Changes{Base: 1, Books: []BookChanges{{Book: colleagues}, {Book: partners}}, Access: map[string][]string{}}); err != nil {
		t.Errorf("Publish beside a read-only store = %v", err)
	}

	missing := filepath.Join(t.TempDir(), "none.db")
	ro2, err := OpenReadOnly(missing, nil)
	if err != nil {
		t.Fatalf("OpenReadOnly(missing) = %v", err)
	}
	if got := ro2.Current(); got.Number != 0 || len(got.Books) != 0 {
		t.Errorf("OpenReadOnly(missing) = revision %d, want an empty revision 0", got.Number)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s: %v", missing, err)
	}
}

func TestCardEncoding(t *testing.T) {
	// The ETag of "text" is the first half of the SHA-256 of
	// {"uid":"u-1","props":[{"f":"fn","n":"FN","v":["Anna Schmidt"]},{"f":"mobile","n":"TEL","t":["cell"],"v":["+4917012345"]}]}
	// (checked with sha256sum). It must not change between versions:
	// clients would download every card again.
	tests := []struct {
		name string
		card *dirbook.Card
		etag string
	}{
		{"text", card("u-1", "Anna Schmidt", mobileProp("+4917012345")), "42ed888d12d4efe226d0eaff395d24a5"},
		{"photo", card("u-1", "Anna Schmidt", photoProp(jpeg)), ""},
		{"empty", &dirbook.Card{UID: "u-0"}, ""},
		{"escapes", card("u-<&>", "A \"B\" \\ \u2028\u2029 \b\f\n\r\t\x00\x1f\x7f é 😀"), ""},
		{"params", &dirbook.Card{UID: "u", Props: []dirbook.Prop{{Field: "x", Name: "X", Types: []string{"a", "b"}, Pref: true, Values: []string{"", "1"}, MediaType: "text/plain"}, {Name: "Y", Values: []string{}}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkEncoding(t, tt.card)
			if tt.etag != "" {
				if got := cardETag(tt.card); got != tt.etag {
					t.Errorf("cardETag(%+v) = %q, want %q", tt.card, got, tt.etag)
				}
			}
		})
	}
}

// checkEncoding checks that c's canonical JSON is what encoding/json
// writes for cardJSON and decodes back to c.
func checkEncoding(t *testing.T, c *dirbook.Card) {
	t.Helper()
	data := encodeCard(c)
	cj := cardJSON{UID: c.UID, Props: make([]propJSON, len(c.Props))}
	for i, p := range c.Props {
		cj.Props[i] = propJSON{Field: p.Field, Name: p.Name, Types: p.Types, Pref: p.Pref, MediaType: p.MediaType}
		if allValidUTF8(p.Values) {
			cj.Props[i].Values = p.Values
		} else {
			for _, v := range p.Values {
				cj.Props[i].Binary = append(cj.Props[i].Binary, []byte(v))
			}
		}
	}
	want, err := json.Marshal(cj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("encodeCard(%+v) =\n%s\nwant (encoding/json)\n%s", c, data, want)
	}
	got, err := decodeCard(data)
	if err != nil {
		t.Fatalf("decodeCard(%s) = %v", data, err)
	}
	if !sameCard(got, c) {
		t.Errorf("decodeCard(encodeCard(%+v)) = %+v", c, got)
	}
	if again := encodeCard(got); !bytes.Equal(again, data) {
		t.Errorf("encodeCard is not stable: %s, then %s", data, again)
	}

	// The fast record decoder reads what encoding/json reads.
	for _, entryID := range []string{"", "e<1>\n"} {
		enc := newEncoded(c)
		rec := encodeRecord(enc.json, enc.etag, 7, entryID)
		fast, m, ok := decodeRecordFast(rec)
		if !ok {
			t.Fatalf("decodeRecordFast(%s) failed", rec)
		}
		var cr cardRecord
		if err := json.Unmarshal(rec, &cr); err != nil {
			t.Fatal(err)
		}
		slow, err := decodeCard(cr.Card)
		if err != nil {
			t.Fatal(err)
		}
		if want := (cardMeta{etag: enc.etag, rev: 7, entryID: entryID}); !sameCard(fast, slow) || m != want {
			t.Errorf("decodeRecordFast(%s) = %+v, %+v, want %+v, %+v", rec, fast, m, slow, want)
		}
		if got, ok := recordMeta(rec); !ok || got != m {
			t.Errorf("recordMeta(%s) = %+v, %v, want %+v", rec, got, ok, m)
		}
		canon, err := decodeCanonical(enc.json)
		if err != nil || !sameCard(canon, c) {
			t.Errorf("decodeCanonical(%s) = %+v, %v, want %+v", enc.json, canon, err, c)
		}
	}
}

func TestDecodeRecordFallback(t *testing.T) {
	// Records the fast decoder does not know, such as the same JSON with
	// other spacing or key order, are read by encoding/json.
	tests := []string{
		`{"card": {"uid":"u-1","props":[{"f":"fn","n":"FN","v":["Anna"]}]}, "etag":"x", "rev":3}`,
		`{"etag":"x","rev":3,"card":{"props":[{"n":"FN","f":"fn","v":["Anna"]}],"uid":"u-1"}}`,
	}
	for _, rec := range tests {
		if _, _, ok := decodeRecordFast([]byte(rec)); ok {
			t.Errorf("decodeRecordFast(%s) = ok, want a fallback", rec)
		}
		c, m, err := decodeRecord([]byte(rec))
		if err != nil || c.UID != "u-1" || c.FN() != "Anna" || m.rev != 3 || m.etag != "x" {
			t.Errorf("decodeRecord(%s) = %+v, %+v, %v, want u-1 Anna at 3", rec, c, m, err)
		}
		if m, err := decodeMeta([]byte(rec)); err != nil || m.rev != 3 {
			t.Errorf("decodeMeta(%s) = %+v, %v, want revision 3", rec, m, err)
		}
	}
	for _, rec := range []string{`{"card":{"uid":"u-1","props":[`, `{"card":{"uid":"u\x","props":[]},"etag":"","rev":1}`} {
		if _, _, ok := decodeRecordFast([]byte(rec)); ok {
			t.Errorf("decodeRecordFast(%s) = ok, want false", rec)
		}
	}
}

func FuzzCardEncoding(f *testing.F) {
	f.Add("u-1", "fn", "FN", "Anna Schmidt", "cell", "")
	f.Add("u-<&>", "photo", "PHOTO", jpeg, "", "image/jpeg")
	f.Add("\u2028", "a\x00", "\"", "\xff\xfe", "\\", "\t")
	f.Fuzz(func(t *testing.T, uid, field, name, value, typ, media string) {
		c := &dirbook.Card{UID: uid, Props: []dirbook.Prop{
			{Field: field, Name: name, Types: []string{typ}, Values: []string{value, typ}, MediaType: media},
			{Field: "fn", Name: "FN", Values: []string{value}},
		}}
		for _, s := range []string{uid, field, name, typ, media} {
			if !utf8.ValidString(s) {
				// Only values may hold bytes; other strings are text.
				return
			}
		}
		checkEncoding(t, c)
	})
}

func TestLogEncoding(t *testing.T) {
	times := []time.Time{
		time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC),
	}
	for i, ops := range [][]logOp{nil, {{"b", "u<1>", "put"}, {"b", "\u2028", "del"}}} {
		want, err := json.Marshal(logEntry{Time: times[i], Ops: append([]logOp{}, ops...)})
		if err != nil {
			t.Fatal(err)
		}
		got := encodeLog(times[i], ops)
		if !bytes.Equal(got, want) {
			t.Errorf("encodeLog(%v, %v) = %s, want %s", times[i], ops, got, want)
		}
		if tm := logTime(got); !tm.Equal(times[i]) {
			t.Errorf("logTime(%s) = %v, want %v", got, tm, times[i])
		}
	}
	if tm := logTime([]byte(`[{"book":"b","uid":"u","op":"put"}]`)); !tm.IsZero() {
		t.Errorf("logTime(format 1 entry) = %v, want the zero time", tm)
	}
}

func TestCurrentWhilePublishing(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	done := make(chan struct{})
	readerDone := make(chan int)
	go func() {
		var last uint64
		reads := 0
		for {
			select {
			case <-done:
				readerDone <- reads
				return
			default:
			}
			rev := s.Current()
			if rev.Number < last {
				t.Errorf("Current() went back from revision %d to %d", last, rev.Number)
			}
			last = rev.Number
			for _, b := range rev.Books {
				for _, uid := range b.UIDs {
					if b.Cards[uid] == nil {
						t.Errorf("revision %d book %s lists %s without a card", rev.Number, b.ID, uid)
					}
				}
			}
			reads++
		}
	}()
	for i := range 20 {
		ch := &Changes{Base: uint64(i), Books: []BookChanges{{Book: colleagues, Put: []CardPut{
			{Card: card("u-1", "Anna", mobileProp(strings.Repeat("1", i+1)))},
			{Card: card(strings.Repeat("u", i+2), "New")},
		}}}}
		if _, err := s.Publish(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	<-readerDone
	if got := s.Current(); got.Number != 20 || len(got.Books[0].UIDs) != 21 {
		t.Errorf("after 20 publishes: revision %d with %d cards, want 20 with 21", got.Number, len(got.Books[0].UIDs))
	}
}

func TestMergeUIDs(t *testing.T) {
	tests := []struct {
		name                string
		old, added, deleted []string
		want                []string
	}{
		{"nothing", []string{"a", "c"}, nil, nil, []string{"a", "c"}},
		{"add", []string{"b", "d"}, []string{"e", "a", "c"}, nil, []string{"a", "b", "c", "d", "e"}},
		{"delete", []string{"a", "b", "c", "d"}, nil, []string{"a", "c", "d"}, []string{"b"}},
		{"both", []string{"a", "b", "d"}, []string{"c", "0"}, []string{"b", "x"}, []string{"0", "a", "c", "d"}},
		{"into empty", nil, []string{"b", "a"}, nil, []string{"a", "b"}},
		{"delete all", []string{"a"}, nil, []string{"a"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeUIDs(tt.old, slices.Clone(tt.added), tt.deleted, len(tt.want))
			if !slices.Equal(got, tt.want) {
				t.Errorf("mergeUIDs(%q, %q, %q) = %q, want %q", tt.old, tt.added, tt.deleted, got, tt.want)
			}
		})
	}
}
