package carddav_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"

	gocarddav "github.com/emersion/go-webdav/carddav"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/carddav"
)

// syncHistory is the history of the sync tests. Book colleagues:
//
//	rev 1: add a, b, c, d, e
//	rev 2: change b, add f
//	rev 3: remove c, change a
//	rev 4: (only partners changes)
//	rev 5: remove d, add g, change e, c comes back
func syncHistory(tb testing.TB) *history {
	tb.Helper()
	h := newHistory(tb, []dirbook.Book{
		{ID: "colleagues", Name: "Colleagues"},
		{ID: "partners", Name: "Partners"},
		{ID: "board", Name: "Board"},
	}, map[string][]string{
		"anna": {"colleagues", "partners"},
		"bob":  {"partners"},
	})
	h.publish(
		put("colleagues", "a", "Anna Berg"), put("colleagues", "b", "Bernd Carl"),
		put("colleagues", "c", "Carla Dahl"), put("colleagues", "d", "Dora Eck"),
		put("colleagues", "e", "Emil Faber"),
		put("partners", "p1", "Pat Partner"), put("board", "s1", "Secret Person"),
	)
	h.publish(put("colleagues", "b", "Bernd Carlsen"), put("colleagues", "f", "Frida Gans"))
	h.publish(del("colleagues", "c"), put("colleagues", "a", "Anna Berg-Holm"))
	h.publish(put("partners", "p1", "Pat Partnerin"))
	h.publish(del("colleagues", "d"), put("colleagues", "g", "Gustav Hahn"),
		put("colleagues", "e", "Emil Faber Jr"), put("colleagues", "c", "Carla Dahl"))
	return h
}

func newSyncHandler(tb testing.TB, h *history, opts *carddav.Options) *carddav.Handler {
	tb.Helper()
	if opts == nil {
		opts = &carddav.Options{}
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return carddav.NewHandler(syncStore{h}, newAppPasswords(tb), opts)
}

// serve sends a request to h directly as user.
func serve(tb testing.TB, h http.Handler, user, method, target, body string, header http.Header) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if user != "" {
		req.SetBasicAuth(user, passwords[user])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// multistatus is a parsed 207 body.
type multistatus struct {
	XMLName   xml.Name     `xml:"DAV: multistatus"`
	Responses []msResponse `xml:"response"`
	SyncToken string       `xml:"sync-token"`
}

type msResponse struct {
	Href      string `xml:"href"`
	Status    string `xml:"status"`
	Propstats []struct {
		Status string `xml:"status"`
		Prop   struct {
			ETag string `xml:"getetag"`
			Data string `xml:"address-data"`
			Raw  string `xml:",innerxml"`
		} `xml:"prop"`
	} `xml:"propstat"`
	Error *struct {
		Raw string `xml:",innerxml"`
	} `xml:"error"`
}

func parseMultistatus(tb testing.TB, body []byte) *multistatus {
	tb.Helper()
	var ms multistatus
	if err := xml.Unmarshal(body, &ms); err != nil {
		tb.Fatalf("malformed multistatus: %v\n%s", err, body)
	}
	return &ms
}

// etag returns the ETag of a 200 response, unquoted.
func (r *msResponse) etag() string {
	for _, ps := range r.Propstats {
		if strings.Contains(ps.Status, " 200 ") {
			return strings.Trim(ps.Prop.ETag, `"`)
		}
	}
	return ""
}

// uid returns the card UID of an href (test UIDs need no escaping).
func uidOf(tb testing.TB, href string) string {
	tb.Helper()
	p, err := url.PathUnescape(path.Base(href))
	if err != nil {
		tb.Fatalf("href %q: %v", href, err)
	}
	return strings.TrimSuffix(p, ".vcf")
}

const syncBody = `<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token>%s</D:sync-token><D:sync-level>1</D:sync-level>%s<D:prop><D:getetag/></D:prop></D:sync-collection>`

// syncPage is one sync-collection answer.
type syncPage struct {
	changes   []string // in answer order: "uid" for a card, "-uid" for a removal
	etags     map[string]string
	truncated bool
	token     string
}

// syncRequest sends sync-collection with the token and limit (0 for
// none) on book as anna and parses the answer.
func syncRequest(tb testing.TB, h http.Handler, book, tok string, limit int) syncPage {
	tb.Helper()
	lim := ""
	if limit > 0 {
		lim = fmt.Sprintf("<D:limit><D:nresults>%d</D:nresults></D:limit>", limit)
	}
	bookPath := "/dav/anna/books/" + book + "/"
	rec := serve(tb, h, "anna", "REPORT", bookPath, fmt.Sprintf(syncBody, tok, lim),
		http.Header{"Depth": {"0"}, "Content-Type": {"application/xml"}})
	if rec.Code != http.StatusMultiStatus {
		tb.Fatalf("sync-collection from %q = %d, want 207: %s", tok, rec.Code, rec.Body)
	}
	ms := parseMultistatus(tb, rec.Body.Bytes())
	page := syncPage{etags: map[string]string{}, token: ms.SyncToken}
	for i, r := range ms.Responses {
		switch {
		case r.Href == bookPath:
			if !strings.Contains(r.Status, " 507 ") || r.Error == nil || !strings.Contains(r.Error.Raw, "number-of-matches-within-limits") {
				tb.Errorf("sync-collection from %q: response for the book = %+v, want 507 number-of-matches-within-limits", tok, r)
			}
			if i != len(ms.Responses)-1 {
				tb.Errorf("sync-collection from %q: 507 response is not the last", tok)
			}
			page.truncated = true
		case strings.Contains(r.Status, " 404 "):
			page.changes = append(page.changes, "-"+uidOf(tb, r.Href))
		default:
			uid := uidOf(tb, r.Href)
			page.changes = append(page.changes, uid)
			page.etags[uid] = r.etag()
		}
	}
	return page
}

func TestSyncCollection(t *testing.T) {
	h := newSyncHandler(t, syncHistory(t), nil)
	tests := []struct {
		name  string
		token string
		want  []string
	}{
		{"initial", "", []string{"a", "b", "c", "e", "f", "g"}},
		{"current", token("colleagues", 5), nil},
		{"after 4 (no change of the book)", token("colleagues", 4), []string{"c", "-d", "e", "g"}},
		{"after 3", token("colleagues", 3), []string{"c", "-d", "e", "g"}},
		{"after 2: removed and back", token("colleagues", 2), []string{"a", "c", "-d", "e", "g"}},
		{"after 1", token("colleagues", 1), []string{"b", "f", "a", "c", "-d", "e", "g"}},
		{"after 0", token("colleagues", 0), []string{"b", "f", "a", "c", "-d", "e", "g"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := syncRequest(t, h, "colleagues", tt.token, 0)
			if !slices.Equal(page.changes, tt.want) {
				t.Errorf("sync-collection from %q = %q, want %q", tt.token, page.changes, tt.want)
			}
			if want := token("colleagues", 5); page.token != want || page.truncated {
				t.Errorf("sync-collection from %q: token %q, truncated %v; want %q, false", tt.token, page.token, page.truncated, want)
			}
		})
	}

	// The ETags are those of the current cards.
	page := syncRequest(t, h, "colleagues", "", 0)
	cur := syncHistory(t).current().Book("colleagues")
	for uid, etag := range page.etags {
		if etag != cur.Cards[uid].ETag {
			t.Errorf("initial sync: ETag of %s = %q, want %q", uid, etag, cur.Cards[uid].ETag)
		}
	}
	// Another book has tokens of its own.
	if page := syncRequest(t, h, "partners", token("partners", 1), 0); !slices.Equal(page.changes, []string{"p1"}) || page.token != token("partners", 4) {
		t.Errorf("sync-collection of partners from 1 = %q, %q; want [p1], %q", page.changes, page.token, token("partners", 4))
	}
}

// TestSyncCollectionLimit follows the continuation tokens of limited
// answers to the end: every change arrives exactly once, in pages of the
// limit.
func TestSyncCollectionLimit(t *testing.T) {
	h := newSyncHandler(t, syncHistory(t), nil)
	starts := []struct {
		token string
		want  []string
	}{
		{"", []string{"a", "b", "c", "e", "f", "g"}},
		{token("colleagues", 1), []string{"b", "f", "a", "c", "-d", "e", "g"}},
		{token("colleagues", 2), []string{"a", "c", "-d", "e", "g"}},
	}
	for _, start := range starts {
		for _, limit := range []int{1, 2, 3, 4, 6, 7, 100} {
			t.Run(fmt.Sprintf("from %q limit %d", start.token, limit), func(t *testing.T) {
				var got []string
				tok, pages := start.token, 0
				for {
					pages++
					if pages > 20 {
						t.Fatalf("no end after %d pages", pages)
					}
					page := syncRequest(t, h, "colleagues", tok, limit)
					if len(page.changes) > limit {
						t.Errorf("page %d has %d changes, limit %d", pages, len(page.changes), limit)
					}
					if page.truncated && len(page.changes) != limit {
						t.Errorf("truncated page %d has %d changes, want %d", pages, len(page.changes), limit)
					}
					got = append(got, page.changes...)
					tok = page.token
					if !page.truncated {
						break
					}
				}
				if start.token == "" {
					slices.Sort(got)
				}
				if !slices.Equal(got, start.want) {
					t.Errorf("changes over all pages = %q, want %q", got, start.want)
				}
				if wantPages := max(1, (len(start.want)+limit-1)/limit); pages != wantPages {
					t.Errorf("pages = %d, want %d", pages, wantPages)
				}
				if want := token("colleagues", 5); tok != want {
					t.Errorf("final token = %q, want %q", tok, want)
				}
			})
		}
	}
}

// TestSyncCollectionTokens sends tokens that are not the book's, expired,
// from the future or garbage: each gets 403 DAV:valid-sync-token.
func TestSyncCollectionTokens(t *testing.T) {
	hist := syncHistory(t)
	h := newSyncHandler(t, hist, nil)
	// A continuation token of the current history, to alter below.
	page := syncRequest(t, h, "colleagues", token("colleagues", 1), 2)
	if !page.truncated {
		t.Fatalf("sync-collection from 1 limit 2 not truncated")
	}
	cont := page.token

	// A history that forgot the removals up to revision 2.
	forgetful := syncHistory(t)
	forgetful.forget(2)
	hf := newSyncHandler(t, forgetful, nil)

	tests := []struct {
		name  string
		h     http.Handler
		token string
	}{
		{"other book", h, token("partners", 4)},
		{"other store", h, "http://dirbook.invalid/ns/sync/0000/colleagues/3"},
		{"future", h, token("colleagues", 6)},
		{"expired", hf, token("colleagues", 1)},
		{"expired continuation", hf, strings.Replace(cont, "/delta/2/", "/delta/1/", 1)},
		{"garbage", h, "not a token"},
		{"other server's", h, "http://sabre.io/ns/sync/5"},
		{"no revision", h, "http://dirbook.invalid/ns/sync/" + testStoreID + "/colleagues/"},
		{"leading zero", h, token("colleagues", 1)[:len(token("colleagues", 1))-1] + "01"},
		{"negative", h, token("colleagues", 1)[:len(token("colleagues", 1))-1] + "-1"},
		{"bad mode", h, strings.Replace(cont, "/delta/", "/half/", 1)},
		{"continuation without uid", h, cont[:strings.LastIndex(cont, "/")+1]},
		{"extra segment", h, token("colleagues", 3) + "/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, tt.h, "anna", "REPORT", "/dav/anna/books/colleagues/", fmt.Sprintf(syncBody, escapeXML(tt.token), ""), http.Header{"Depth": {"0"}})
			if rec.Code != http.StatusForbidden {
				t.Fatalf("sync-collection with token %q = %d, want 403: %s", tt.token, rec.Code, rec.Body)
			}
			var e struct {
				XMLName xml.Name  `xml:"DAV: error"`
				Valid   *struct{} `xml:"DAV: valid-sync-token"`
			}
			if err := xml.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Valid == nil {
				t.Errorf("sync-collection with token %q: body %s, want DAV:valid-sync-token (%v)", tt.token, rec.Body, err)
			}
		})
	}

	// What the forgetful store still knows is served.
	if page := syncRequest(t, hf, "colleagues", token("colleagues", 2), 0); !slices.Equal(page.changes, []string{"a", "c", "-d", "e", "g"}) {
		t.Errorf("forgetful sync-collection from 2 = %q", page.changes)
	}
	// The continuation token itself is valid.
	if page := syncRequest(t, h, "colleagues", cont, 0); !slices.Equal(page.changes, []string{"a", "c", "-d", "e", "g"}) {
		t.Errorf("sync-collection from %q = %q", cont, page.changes)
	}
}

func escapeXML(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// TestSyncCollectionRequests covers the request forms around the token.
func TestSyncCollectionRequests(t *testing.T) {
	h := newSyncHandler(t, syncHistory(t), nil)
	tests := []struct {
		name   string
		user   string
		path   string
		depth  string
		body   string
		status int
		want   []string
	}{
		{"depth 1 tolerated", "anna", "/dav/anna/books/colleagues/", "1", fmt.Sprintf(syncBody, "", ""), 207, nil},
		{"no depth", "anna", "/dav/anna/books/colleagues/", "", fmt.Sprintf(syncBody, "", ""), 207, nil},
		{"depth infinity", "anna", "/dav/anna/books/colleagues/", "infinity", fmt.Sprintf(syncBody, "", ""), 400, nil},
		{"sync-level infinite", "anna", "/dav/anna/books/colleagues/", "0",
			`<sync-collection xmlns="DAV:"><sync-token/><sync-level>infinite</sync-level><prop><getetag/></prop></sync-collection>`,
			403, []string{"<D:sync-traversal-supported/>"}},
		{"sync-level 2", "anna", "/dav/anna/books/colleagues/", "0",
			`<sync-collection xmlns="DAV:"><sync-token/><sync-level>2</sync-level><prop><getetag/></prop></sync-collection>`, 400, nil},
		{"no sync-token element", "anna", "/dav/anna/books/colleagues/", "0",
			`<sync-collection xmlns="DAV:"><sync-level>1</sync-level><prop><getetag/></prop></sync-collection>`, 207, []string{"/dav/anna/books/colleagues/a.vcf"}},
		{"limit zero", "anna", "/dav/anna/books/colleagues/", "0",
			`<sync-collection xmlns="DAV:"><sync-token/><sync-level>1</sync-level><limit><nresults>0</nresults></limit><prop/></sync-collection>`, 400, nil},
		{"limit garbage", "anna", "/dav/anna/books/colleagues/", "0",
			`<sync-collection xmlns="DAV:"><sync-token/><sync-level>1</sync-level><limit><nresults>many</nresults></limit><prop/></sync-collection>`, 400, nil},
		{"address data 4.0", "anna", "/dav/anna/books/colleagues/", "0",
			`<sync-collection xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><sync-token>` + token("colleagues", 3) + `</sync-token><sync-level>1</sync-level><prop><getetag/><C:address-data content-type="text/vcard" version="4.0"/></prop></sync-collection>`,
			207, []string{"VERSION:4.0&#13;\nFN:Gustav Hahn", "KIND:individual"}},
		{"on the home", "anna", "/dav/anna/books/", "0", fmt.Sprintf(syncBody, "", ""), 403, []string{"<D:supported-report/>"}},
		{"on a card", "anna", "/dav/anna/books/colleagues/a.vcf", "0", fmt.Sprintf(syncBody, "", ""), 403, []string{"<D:supported-report/>"}},
		{"invisible book", "anna", "/dav/anna/books/board/", "0", fmt.Sprintf(syncBody, "", ""), 404, nil},
		{"other user's book", "bob", "/dav/bob/books/colleagues/", "0", fmt.Sprintf(syncBody, token("colleagues", 1), ""), 404, nil},
		{"token of a book bob reads", "bob", "/dav/bob/books/partners/", "0", fmt.Sprintf(syncBody, token("partners", 1), ""), 207, []string{"/dav/bob/books/partners/p1.vcf"}},
		{"token of anna's book on bob's", "bob", "/dav/bob/books/partners/", "0", fmt.Sprintf(syncBody, token("colleagues", 1), ""), 403, []string{"valid-sync-token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.depth != "" {
				hdr.Set("Depth", tt.depth)
			}
			rec := serve(t, h, tt.user, "REPORT", tt.path, tt.body, hdr)
			if rec.Code != tt.status {
				t.Fatalf("REPORT %s (%s) = %d, want %d: %s", tt.path, tt.name, rec.Code, tt.status, rec.Body)
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("REPORT %s (%s) lacks %q:\n%s", tt.path, tt.name, w, rec.Body)
				}
			}
			for _, secret := range []string{"Secret", "board"} {
				if strings.Contains(rec.Body.String(), secret) {
					t.Errorf("REPORT %s (%s) leaks %q", tt.path, tt.name, secret)
				}
			}
		})
	}
}

// TestSyncCollectionInterleaved pages through random histories while
// new revisions are published between pages, with a client that applies
// what it is sent: at the end it holds exactly the server's book.
func TestSyncCollectionInterleaved(t *testing.T) {
	for seed := range uint64(150) {
		rng := rand.New(rand.NewPCG(seed, 42))
		hist := newHistory(t, []dirbook.Book{{ID: "colleagues", Name: "Colleagues"}}, map[string][]string{"anna": {"colleagues"}})
		uids := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"}
		randomPublish := func() {
			cur := hist.current().Book("colleagues")
			var ops []op
			for _, uid := range uids {
				switch x := rng.IntN(10); {
				case x < 2 && cur.Cards[uid] == nil:
					ops = append(ops, put("colleagues", uid, fmt.Sprintf("New %s", uid)))
				case x < 2:
					ops = append(ops, del("colleagues", uid))
				case x < 4 && cur.Cards[uid] != nil:
					ops = append(ops, put("colleagues", uid, fmt.Sprintf("Changed %s %d", uid, rng.IntN(1000))))
				}
			}
			hist.publish(ops...)
		}
		for range 1 + rng.IntN(4) {
			randomPublish()
		}
		h := newSyncHandler(t, hist, nil)

		// The client starts empty, or from an earlier revision it holds.
		client := map[string]string{}
		tok := ""
		if rng.IntN(2) == 0 {
			from := hist.revs[1+rng.IntN(len(hist.revs)-1)].Book("colleagues")
			for uid, c := range from.Cards {
				client[uid] = c.ETag
			}
			tok = token("colleagues", from.Revision)
			if from.Revision == 0 {
				tok = ""
				clear(client)
			}
		}
		limit := 1 + rng.IntN(4)
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("seed %d: no end after %d pages", seed, pages)
			}
			page := syncRequest(t, h, "colleagues", tok, limit)
			for _, ch := range page.changes {
				if uid, ok := strings.CutPrefix(ch, "-"); ok {
					delete(client, uid)
				} else {
					client[ch] = page.etags[ch]
				}
			}
			tok = page.token
			if !page.truncated {
				break
			}
			if rng.IntN(3) == 0 {
				randomPublish()
			}
		}
		want := map[string]string{}
		for uid, c := range hist.current().Book("colleagues").Cards {
			want[uid] = c.ETag
		}
		if fmt.Sprint(client) != fmt.Sprint(want) {
			t.Errorf("seed %d: client holds %v after sync, want %v", seed, client, want)
		}
		if want := token("colleagues", hist.current().Book("colleagues").Revision); tok != want {
			t.Errorf("seed %d: final token %q, want %q", seed, tok, want)
		}
	}
}

// TestSyncCollectionGoWebdavClient syncs with go-webdav's client:
// initial, unchanged, and after an add, a change and a removal.
func TestSyncCollectionGoWebdavClient(t *testing.T) {
	hist := syncHistory(t)
	srv := httptest.NewServer(newSyncHandler(t, hist, nil))
	defer srv.Close()
	c := (&fixture{srv: srv}).client(t, "anna")
	ctx := t.Context()
	const book = "/dav/anna/books/colleagues/"
	sorted := func(r *gocarddav.SyncResponse) (updated, deleted []string) {
		for _, ao := range r.Updated {
			updated = append(updated, path.Base(ao.Path)+" "+ao.ETag)
		}
		for _, p := range r.Deleted {
			deleted = append(deleted, path.Base(p))
		}
		slices.Sort(updated)
		slices.Sort(deleted)
		return updated, deleted
	}
	etags := func(uids ...string) []string {
		var out []string
		for _, uid := range uids {
			out = append(out, uid+".vcf "+hist.current().Book("colleagues").Cards[uid].ETag)
		}
		return out
	}

	first, err := c.SyncCollection(ctx, book, &gocarddav.SyncQuery{DataRequest: gocarddav.AddressDataRequest{AllProp: true}})
	if err != nil {
		t.Fatalf("SyncCollection() error: %v", err)
	}
	if up, del := sorted(first); !slices.Equal(up, etags("a", "b", "c", "e", "f", "g")) || del != nil {
		t.Errorf("initial SyncCollection() = %q, %q", up, del)
	}
	same, err := c.SyncCollection(ctx, book, &gocarddav.SyncQuery{SyncToken: first.SyncToken})
	if err != nil || len(same.Updated)+len(same.Deleted) != 0 || same.SyncToken != first.SyncToken {
		t.Errorf("unchanged SyncCollection() = %+v, %v; want nothing and the same token", same, err)
	}
	hist.publish(put("colleagues", "h", "Hanna Iber"), put("colleagues", "a", "Anna Berg"), del("colleagues", "b"))
	next, err := c.SyncCollection(ctx, book, &gocarddav.SyncQuery{SyncToken: first.SyncToken})
	if err != nil {
		t.Fatalf("SyncCollection() after a change: %v", err)
	}
	if up, del := sorted(next); !slices.Equal(up, etags("a", "h")) || !slices.Equal(del, []string{"b.vcf"}) {
		t.Errorf("SyncCollection() after a change = %q, %q; want a and h changed, b removed", up, del)
	}
	if want := token("colleagues", 6); next.SyncToken != want {
		t.Errorf("SyncCollection() token = %q, want %q", next.SyncToken, want)
	}
}

// atomicStore is a Store that a publisher swaps while others read.
type atomicStore struct {
	p atomic.Pointer[dirbook.Revision]
}

func (s *atomicStore) Current() *dirbook.Revision { return s.p.Load() }

// TestConcurrentPublish polls, syncs and fetches from several goroutines
// while revisions are published: every answer is well-formed and comes
// from one revision (its token names a revision that was published).
func TestConcurrentPublish(t *testing.T) {
	hist := syncHistory(t)
	store := &atomicStore{}
	store.p.Store(hist.current())
	h := carddav.NewHandler(store, newAppPasswords(t), &carddav.Options{Logger: discardLogger()})
	valid := gosync.Map{}
	valid.Store(token("colleagues", 5), true)
	multiget := `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>
<D:href>/dav/anna/books/colleagues/a.vcf</D:href><D:href>/dav/anna/books/colleagues/e.vcf</D:href></C:addressbook-multiget>`

	var wg gosync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 60 {
				switch (g + i) % 3 {
				case 0:
					page := syncRequest(t, h, "colleagues", "", 1+i%3)
					if _, ok := valid.Load(page.token); !ok && !strings.Contains(page.token, "/full/") {
						t.Errorf("sync-collection token %q names no published revision", page.token)
					}
				case 1:
					rec := serve(t, h, "anna", "REPORT", "/dav/anna/books/colleagues/", multiget, nil)
					if rec.Code != http.StatusMultiStatus {
						t.Errorf("multiget = %d", rec.Code)
					}
					parseMultistatus(t, rec.Body.Bytes())
				default:
					rec := serve(t, h, "anna", "PROPFIND", "/dav/anna/books/colleagues/", "", http.Header{"Depth": {"1"}})
					parseMultistatus(t, rec.Body.Bytes())
				}
			}
		})
	}
	for i := range 20 {
		rev := hist.publish(put("colleagues", "a", fmt.Sprintf("Anna %d", i)), put("colleagues", fmt.Sprintf("n%d", i), "New Person"))
		valid.Store(token("colleagues", rev.Book("colleagues").Revision), true)
		store.p.Store(rev)
	}
	wg.Wait()
}
