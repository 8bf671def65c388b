package carddav_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/carddav"
)

// contents holds the content of every test card, as a store file does: by
// UID and ETag, which the test cards derive from their UID or content.
var contents gosync.Map // contentKey → *dirbook.Card

type contentKey struct{ uid, etag string }

// stored records the content of c and returns its published form.
func stored(c dirbook.Card, etag string, rev uint64) *dirbook.StoredCard {
	contents.Store(contentKey{c.UID, etag}, &c)
	return &dirbook.StoredCard{UID: c.UID, ETag: etag, Revision: rev}
}

// contentOf returns the content of the test card sc.
func contentOf(sc *dirbook.StoredCard) *dirbook.Card {
	c, ok := contents.Load(contentKey{sc.UID, sc.ETag})
	if !ok {
		panic(fmt.Sprintf("no content for test card %s %s", sc.UID, sc.ETag))
	}
	return c.(*dirbook.Card)
}

// cardsOf implements carddav.Store's Cards for a store whose file holds
// the revision rev.
func cardsOf(rev *dirbook.Revision, book string, uids []string, fn func(*dirbook.Card, string) error) error {
	bs := rev.Book(book)
	if bs == nil {
		return nil
	}
	for _, uid := range uids {
		if sc := bs.Cards[uid]; sc != nil {
			if err := fn(contentOf(sc), sc.ETag); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *memStore) Cards(book string, uids []string, fn func(*dirbook.Card, string) error) error {
	s.cardReads.Add(int64(len(uids)))
	return cardsOf(s.rev, book, uids, fn)
}

func (s syncStore) Cards(book string, uids []string, fn func(*dirbook.Card, string) error) error {
	return cardsOf(s.h.current(), book, uids, fn)
}

func (s *atomicStore) Cards(book string, uids []string, fn func(*dirbook.Card, string) error) error {
	return cardsOf(s.p.Load(), book, uids, fn)
}

// laggingStore serves the revision rev while its file already holds file:
// a publish happened during the request.
type laggingStore struct{ rev, file *dirbook.Revision }

func (s *laggingStore) Current() *dirbook.Revision { return s.rev }

func (s *laggingStore) Cards(book string, uids []string, fn func(*dirbook.Card, string) error) error {
	return cardsOf(s.file, book, uids, fn)
}

// TestCardContentFromStore checks that card contents come from the store
// only when a rendering is not cached, that listings and polls read none,
// and that a card changed or removed after the revision a request is
// answered from is served as the store holds it now.
func TestCardContentFromStore(t *testing.T) {
	f := newFixture(t)
	for _, r := range []struct{ method, path, depth, body string }{
		{"PROPFIND", "/dav/anna/books/colleagues/", "0", `<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>`},
		{"PROPFIND", "/dav/anna/books/colleagues/", "1", `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`},
		{"REPORT", "/dav/anna/books/colleagues/", "1", `<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`},
	} {
		resp, _ := f.do(t, "anna", r.method, r.path, r.body, http.Header{"Depth": {r.depth}})
		if resp.StatusCode != http.StatusMultiStatus {
			t.Fatalf("%s %s = %d, want 207", r.method, r.path, resp.StatusCode)
		}
	}
	if got := f.store.cardReads.Load(); got != 0 {
		t.Errorf("listings and polls read %d card contents, want 0", got)
	}
	get := "/dav/anna/books/colleagues/uid-anna.vcf"
	for range 3 {
		if resp, body := f.do(t, "anna", http.MethodGet, get, "", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "FN:Anna Berg\r\n") {
			t.Fatalf("GET %s = %d %q", get, resp.StatusCode, body)
		}
	}
	if got := f.store.cardReads.Load(); got != 1 {
		t.Errorf("three GETs of one card read %d contents, want 1 (then cached)", got)
	}

	// The file moved on: carl changed, anna was removed.
	rev := testRevision()
	file := testRevision()
	colleagues := file.Book("colleagues")
	colleagues.Cards["uid-carl"] = stored(dirbook.Card{UID: "uid-carl", Props: []dirbook.Prop{{Field: "fn", Name: "FN", Values: []string{"Carl Renamed"}}}}, "etag-carl-2", 8)
	delete(colleagues.Cards, "uid-anna")
	h := carddav.NewHandler(&laggingStore{rev: rev, file: file}, newAppPasswords(t), &carddav.Options{Logger: discardLogger()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	lf := &fixture{srv: srv}
	multiget := `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>` +
		`<D:href>/dav/anna/books/colleagues/uid-anna.vcf</D:href><D:href>/dav/anna/books/colleagues/uid-carl.vcf</D:href></C:addressbook-multiget>`
	resp, body := lf.do(t, "anna", "REPORT", "/dav/anna/books/colleagues/", multiget, nil)
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("multiget = %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<D:href>/dav/anna/books/colleagues/uid-anna.vcf</D:href><D:status>HTTP/1.1 404 Not Found</D:status>`,
		`<D:getetag>"etag-carl-2"</D:getetag>`,
		"FN:Carl Renamed",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("multiget answer lacks %s:\n%s", want, body)
		}
	}
	if resp, _ := lf.do(t, "anna", http.MethodGet, get, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of a card removed meanwhile = %d, want 404", resp.StatusCode)
	}
	resp, _ = lf.do(t, "anna", http.MethodGet, "/dav/anna/books/colleagues/uid-carl.vcf", "", nil)
	if got := resp.Header.Get("ETag"); resp.StatusCode != http.StatusOK || got != `"etag-carl-2"` {
		t.Errorf("GET of a card changed meanwhile = %d with ETag %s, want 200 with \"etag-carl-2\"", resp.StatusCode, got)
	}
}
