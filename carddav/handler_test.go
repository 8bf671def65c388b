package carddav_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-webdav"
	gocarddav "github.com/emersion/go-webdav/carddav"
	"golang.org/x/crypto/bcrypt"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/carddav"
	"github.com/dirbook/dirbook/mapping"
)

// Test logins and their app passwords.
var passwords = map[string]string{
	"anna": "anna-phone-secret",
	"bob":  "bob-phone-secret",
}

// Awkward UIDs: non-ASCII with spaces, and the two characters the path
// escapes itself.
const (
	uidUmlaut = "Jörg Ü 1"
	uidSlash  = "a/b%c"
)

// memStore is a Store over a fixed revision that counts reads.
type memStore struct {
	rev       *dirbook.Revision
	reads     atomic.Int64
	cardReads atomic.Int64 // cards asked for through Cards
}

func (s *memStore) Current() *dirbook.Revision {
	s.reads.Add(1)
	return s.rev
}

func storedCard(uid, fn string, extra ...dirbook.Prop) *dirbook.StoredCard {
	props := []dirbook.Prop{
		{Field: "fn", Name: "FN", Values: []string{fn}},
		{Field: "n", Name: "N", Values: strings.SplitN(fn, " ", 2)},
	}
	props = append(props, extra...)
	return stored(dirbook.Card{UID: uid, Props: props}, "etag-"+strings.ReplaceAll(uid, " ", "_"), 7)
}

func bookState(id, name string, cards ...*dirbook.StoredCard) *dirbook.BookState {
	bs := &dirbook.BookState{
		Book:     dirbook.Book{ID: id, Name: name, Description: name + " book"},
		Cards:    map[string]*dirbook.StoredCard{},
		Revision: 7,
	}
	for _, c := range cards {
		bs.Cards[c.UID] = c
		bs.UIDs = append(bs.UIDs, c.UID)
	}
	slices.Sort(bs.UIDs)
	return bs
}

// testRevision has three books: anna reads colleagues and partners, bob
// reads partners only, nobody reads board.
func testRevision() *dirbook.Revision {
	tel := func(types string, number string) dirbook.Prop {
		return dirbook.Prop{Field: types, Name: "TEL", Types: []string{types}, Values: []string{number}}
	}
	return &dirbook.Revision{
		Number: 7,
		Time:   time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC),
		Books: []*dirbook.BookState{
			bookState("colleagues", "Colleagues",
				storedCard("uid-anna", "Anna Berg", tel("work", "+49301111"), tel("cell", "+49172222")),
				storedCard("uid-carl", "Carl Dahl", tel("work", "+49303333")),
				storedCard(uidUmlaut, "Jörg Überall"),
				storedCard(uidSlash, "Slash Percent"),
			),
			bookState("partners", "Partners", storedCard("uid-pat", "Pat Partner")),
			bookState("board", "Board", storedCard("uid-secret", "Secret Person")),
		},
		Access: map[string][]string{
			"anna": {"colleagues", "partners"},
			"bob":  {"partners"},
		},
	}
}

// newAppPasswords returns real app passwords for the test logins, hashed
// at the lowest cost.
func newAppPasswords(tb testing.TB) *carddav.AppPasswords {
	tb.Helper()
	var list []carddav.AppPassword
	for _, user := range []string{"anna", "bob"} {
		hash, err := bcrypt.GenerateFromPassword([]byte(passwords[user]), bcrypt.MinCost)
		if err != nil {
			tb.Fatal(err)
		}
		list = append(list, carddav.AppPassword{User: user, Hash: string(hash)})
	}
	a, err := carddav.NewAppPasswords(list, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

type fixture struct {
	store *memStore
	srv   *httptest.Server
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	store := &memStore{rev: testRevision()}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := carddav.NewHandler(store, newAppPasswords(tb), &carddav.Options{Logger: logger})
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &fixture{store: store, srv: srv}
}

// client returns a go-webdav CardDAV client logged in as user.
func (f *fixture) client(tb testing.TB, user string) *gocarddav.Client {
	tb.Helper()
	hc := webdav.HTTPClientWithBasicAuth(f.srv.Client(), user, passwords[user])
	c, err := gocarddav.NewClient(hc, f.srv.URL+"/dav/")
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// do sends a raw request as user ("" for none) and returns the response
// with its body read.
func (f *fixture) do(tb testing.TB, user, method, path, body string, header http.Header) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if user != "" {
		req.SetBasicAuth(user, passwords[user])
	}
	c := *f.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, string(b)
}

func xmlHeader() http.Header {
	return http.Header{"Content-Type": {"application/xml; charset=utf-8"}}
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		user  string
		books map[string]string // path → name
	}{
		{"anna", map[string]string{
			"/dav/anna/books/colleagues/": "Colleagues",
			"/dav/anna/books/partners/":   "Partners",
		}},
		{"bob", map[string]string{
			"/dav/bob/books/partners/": "Partners",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			c := f.client(t, tt.user)
			principal, err := c.FindCurrentUserPrincipal(ctx)
			if err != nil {
				t.Fatalf("FindCurrentUserPrincipal() error: %v", err)
			}
			if want := "/dav/" + tt.user + "/"; principal != want {
				t.Errorf("FindCurrentUserPrincipal() = %q, want %q", principal, want)
			}
			home, err := c.FindAddressBookHomeSet(ctx, principal)
			if err != nil {
				t.Fatalf("FindAddressBookHomeSet(%q) error: %v", principal, err)
			}
			if want := "/dav/" + tt.user + "/books/"; home != want {
				t.Errorf("FindAddressBookHomeSet(%q) = %q, want %q", principal, home, want)
			}
			abs, err := c.FindAddressBooks(ctx, home)
			if err != nil {
				t.Fatalf("FindAddressBooks(%q) error: %v", home, err)
			}
			got := map[string]string{}
			for _, ab := range abs {
				got[ab.Path] = ab.Name
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.books) {
				t.Errorf("FindAddressBooks(%q) = %v, want %v", home, got, tt.books)
			}
		})
	}
}

func TestGetAddressObject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client(t, "anna")
	rev := testRevision()
	tests := []struct {
		path string
		book string
		uid  string
	}{
		{"/dav/anna/books/colleagues/uid-anna.vcf", "colleagues", "uid-anna"},
		{"/dav/anna/books/partners/uid-pat.vcf", "partners", "uid-pat"},
		{"/dav/anna/books/colleagues/" + uidUmlaut + ".vcf", "colleagues", uidUmlaut},
		{"/dav/anna/books/colleagues/a%2Fb%25c.vcf", "colleagues", uidSlash},
	}
	for _, tt := range tests {
		t.Run(tt.uid, func(t *testing.T) {
			want := rev.Book(tt.book).Cards[tt.uid]
			ao, err := c.GetAddressObject(ctx, tt.path)
			if err != nil {
				t.Fatalf("GetAddressObject(%q) error: %v", tt.path, err)
			}
			if ao.ETag != want.ETag {
				t.Errorf("GetAddressObject(%q).ETag = %q, want %q", tt.path, ao.ETag, want.ETag)
			}
			if got := ao.Card.PreferredValue("FN"); got != contentOf(want).FN() {
				t.Errorf("GetAddressObject(%q) FN = %q, want %q", tt.path, got, contentOf(want).FN())
			}
			if got := ao.Card.PreferredValue("VERSION"); got != "3.0" {
				t.Errorf("GetAddressObject(%q) VERSION = %q, want 3.0", tt.path, got)
			}
			if !ao.ModTime.Equal(rev.Time) {
				t.Errorf("GetAddressObject(%q).ModTime = %v, want %v", tt.path, ao.ModTime, rev.Time)
			}
		})
	}
}

func TestConditionalGet(t *testing.T) {
	f := newFixture(t)
	const path = "/dav/anna/books/colleagues/uid-anna.vcf"
	tests := []struct {
		name        string
		ifNoneMatch string
		want        int
	}{
		{"current", `"etag-uid-anna"`, http.StatusNotModified},
		{"weak", `W/"etag-uid-anna"`, http.StatusNotModified},
		{"list", `"old", "etag-uid-anna"`, http.StatusNotModified},
		{"star", `*`, http.StatusNotModified},
		{"stale", `"old"`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.do(t, "anna", http.MethodGet, path, "", http.Header{"If-None-Match": {tt.ifNoneMatch}})
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s If-None-Match %s = %d, want %d", path, tt.ifNoneMatch, resp.StatusCode, tt.want)
			}
			if got := resp.Header.Get("ETag"); got != `"etag-uid-anna"` {
				t.Errorf("GET %s ETag = %q, want %q", path, got, `"etag-uid-anna"`)
			}
		})
	}
}

func TestMultiGet(t *testing.T) {
	f := newFixture(t)
	c := f.client(t, "anna")
	paths := []string{
		"/dav/anna/books/colleagues/uid-carl.vcf",
		"/dav/anna/books/colleagues/" + uidUmlaut + ".vcf",
		"/dav/anna/books/colleagues/a%2Fb%25c.vcf",
	}
	aos, err := c.MultiGetAddressBook(context.Background(), "/dav/anna/books/colleagues/", &gocarddav.AddressBookMultiGet{
		Paths:       paths,
		DataRequest: gocarddav.AddressDataRequest{AllProp: true},
	})
	if err != nil {
		t.Fatalf("MultiGetAddressBook() error: %v", err)
	}
	got := map[string]string{}
	for _, ao := range aos {
		got[ao.Path] = ao.ETag + " " + ao.Card.PreferredValue("FN")
	}
	want := map[string]string{
		paths[0]: "etag-uid-carl Carl Dahl",
		paths[1]: "etag-Jörg_Ü_1 Jörg Überall",
		paths[2]: "etag-a/b%c Slash Percent",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("MultiGetAddressBook() = %v, want %v", got, want)
	}
}

// TestMultiGetInvisible asks for cards of books the user may not read, and
// of another user's tree, in one multiget: each answers 404, and no card
// data leaks.
func TestMultiGetInvisible(t *testing.T) {
	f := newFixture(t)
	body := `<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><C:address-data/></D:prop>
  <D:href>/dav/bob/books/colleagues/uid-anna.vcf</D:href>
  <D:href>/dav/anna/books/board/uid-secret.vcf</D:href>
  <D:href>/dav/bob/books/partners/nope.vcf</D:href>
  <D:href>/dav/bob/books/partners/uid-pat.vcf</D:href>
</C:addressbook-multiget>`
	resp, got := f.do(t, "bob", "REPORT", "/dav/bob/books/partners/", body, xmlHeader())
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("REPORT multiget = %d, want %d", resp.StatusCode, http.StatusMultiStatus)
	}
	if n := strings.Count(got, "HTTP/1.1 404 Not Found"); n != 3 {
		t.Errorf("REPORT multiget: %d responses with 404, want 3:\n%s", n, got)
	}
	for _, secret := range []string{"Anna Berg", "Secret Person"} {
		if strings.Contains(got, secret) {
			t.Errorf("REPORT multiget leaks %q:\n%s", secret, got)
		}
	}
	if !strings.Contains(got, "Pat Partner") {
		t.Errorf("REPORT multiget lacks the visible card:\n%s", got)
	}
}

func TestQuery(t *testing.T) {
	f := newFixture(t)
	c := f.client(t, "anna")
	const book = "/dav/anna/books/colleagues/"
	text := func(name, text string, mt gocarddav.MatchType) gocarddav.PropFilter {
		return gocarddav.PropFilter{Name: name, TextMatches: []gocarddav.TextMatch{{Text: text, MatchType: mt}}}
	}
	tests := []struct {
		name  string
		query gocarddav.AddressBookQuery
		want  []string // FNs, sorted
	}{
		{"fn contains", gocarddav.AddressBookQuery{
			PropFilters: []gocarddav.PropFilter{text("FN", "Dahl", "")},
		}, []string{"Carl Dahl"}},
		{"fn case-insensitive", gocarddav.AddressBookQuery{
			PropFilters: []gocarddav.PropFilter{text("FN", "anna", gocarddav.MatchContains)},
		}, []string{"Anna Berg"}},
		{"fn starts-with non-ASCII", gocarddav.AddressBookQuery{
			PropFilters: []gocarddav.PropFilter{text("FN", "jörg", gocarddav.MatchStartsWith)},
		}, []string{"Jörg Überall"}},
		{"second TEL instance", gocarddav.AddressBookQuery{
			PropFilters: []gocarddav.PropFilter{text("TEL", "2222", gocarddav.MatchEndsWith)},
		}, []string{"Anna Berg"}},
		{"anyof", gocarddav.AddressBookQuery{
			PropFilters: []gocarddav.PropFilter{text("FN", "Carl", ""), text("FN", "Slash", "")},
		}, []string{"Carl Dahl", "Slash Percent"}},
		{"allof", gocarddav.AddressBookQuery{
			FilterTest:  gocarddav.FilterAllOf,
			PropFilters: []gocarddav.PropFilter{text("FN", "a", ""), text("TEL", "+4930", gocarddav.MatchStartsWith)},
		}, []string{"Anna Berg", "Carl Dahl"}},
		{"not defined", gocarddav.AddressBookQuery{
			PropFilters: []gocarddav.PropFilter{{Name: "TEL", IsNotDefined: true}},
		}, []string{"Jörg Überall", "Slash Percent"}},
		{"no match", gocarddav.AddressBookQuery{
			PropFilters: []gocarddav.PropFilter{text("FN", "Secret", "")},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.query.DataRequest = gocarddav.AddressDataRequest{AllProp: true}
			aos, err := c.QueryAddressBook(context.Background(), book, &tt.query)
			if err != nil {
				t.Fatalf("QueryAddressBook() error: %v", err)
			}
			var got []string
			for _, ao := range aos {
				got = append(got, ao.Card.PreferredValue("FN"))
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("QueryAddressBook(%s) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

// TestEscapedUIDs lists a book and follows every href back to its card.
func TestEscapedUIDs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client(t, "anna")
	aos, err := c.QueryAddressBook(ctx, "/dav/anna/books/colleagues/", &gocarddav.AddressBookQuery{
		DataRequest: gocarddav.AddressDataRequest{AllProp: true},
	})
	if err != nil {
		t.Fatalf("QueryAddressBook() error: %v", err)
	}
	paths := map[string]string{}
	for _, ao := range aos {
		paths[ao.Card.PreferredValue("FN")] = ao.Path
	}
	wantPaths := map[string]string{
		"Jörg Überall":  "/dav/anna/books/colleagues/" + uidUmlaut + ".vcf",
		"Slash Percent": "/dav/anna/books/colleagues/a%2Fb%25c.vcf",
	}
	for fn, want := range wantPaths {
		if paths[fn] != want {
			t.Errorf("path of %q = %q, want %q", fn, paths[fn], want)
		}
	}
	for fn, p := range paths {
		ao, err := c.GetAddressObject(ctx, p)
		if err != nil {
			t.Errorf("GetAddressObject(%q) error: %v", p, err)
			continue
		}
		if got := ao.Card.PreferredValue("FN"); got != fn {
			t.Errorf("GetAddressObject(%q) FN = %q, want %q", p, got, fn)
		}
	}

	// On the wire, hrefs are percent-encoded once.
	resp, body := f.do(t, "anna", "PROPFIND", "/dav/anna/books/colleagues/", "", http.Header{"Depth": {"1"}})
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND = %d, want %d", resp.StatusCode, http.StatusMultiStatus)
	}
	for _, href := range []string{
		"<D:href>/dav/anna/books/colleagues/J%C3%B6rg%20%C3%9C%201.vcf</D:href>",
		"<D:href>/dav/anna/books/colleagues/a%252Fb%2525c.vcf</D:href>",
	} {
		if !strings.Contains(body, href) {
			t.Errorf("PROPFIND response lacks %s:\n%s", href, body)
		}
	}
}

func TestWellKnown(t *testing.T) {
	f := newFixture(t)
	for _, method := range []string{"PROPFIND", http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			resp, _ := f.do(t, "", method, "/.well-known/carddav", "", nil)
			if resp.StatusCode != http.StatusMovedPermanently {
				t.Errorf("%s /.well-known/carddav = %d, want %d", method, resp.StatusCode, http.StatusMovedPermanently)
			}
			if got := resp.Header.Get("Location"); got != "/dav/" {
				t.Errorf("%s /.well-known/carddav Location = %q, want %q", method, got, "/dav/")
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	f := newFixture(t)
	const challenge = `Basic realm="dirbook", charset="UTF-8"`
	tests := []struct {
		name string
		auth string // Authorization header; "" for none
	}{
		{"missing", ""},
		{"wrong password", basic("anna", "bob-phone-secret")},
		{"unknown user", basic("eve", "anna-phone-secret")},
		{"empty password", basic("anna", "")},
		{"empty user", basic("", "anna-phone-secret")},
		{"malformed base64", "Basic !!!not-base64"},
		{"no colon", "Basic YW5uYQ=="},
		{"other scheme", "Bearer anna-phone-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{"PROPFIND", http.MethodGet, http.MethodPut, "MKCOL"} {
				var h http.Header
				if tt.auth != "" {
					h = http.Header{"Authorization": {tt.auth}}
				}
				resp, _ := f.do(t, "", method, "/dav/anna/books/colleagues/", "", h)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s with %s auth = %d, want %d", method, tt.name, resp.StatusCode, http.StatusUnauthorized)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != challenge {
					t.Errorf("%s with %s auth: WWW-Authenticate = %q, want %q", method, tt.name, got, challenge)
				}
			}
		})
	}
}

func basic(user, password string) string {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

func TestWritesRefused(t *testing.T) {
	f := newFixture(t)
	before := f.store.rev
	vcf := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new\r\nFN:New\r\nEND:VCARD\r\n"
	tests := []struct {
		method string
		body   string
		header http.Header
	}{
		{http.MethodPut, vcf, http.Header{"Content-Type": {"text/vcard"}}},
		{http.MethodDelete, "", nil},
		{"MKCOL", "", nil},
		{"PROPPATCH", `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set></D:propertyupdate>`, xmlHeader()},
		{"MOVE", "", http.Header{"Destination": {"/dav/anna/books/colleagues/moved.vcf"}}},
		{"COPY", "", http.Header{"Destination": {"/dav/anna/books/colleagues/copy.vcf"}}},
		{http.MethodPost, vcf, nil},
		{"LOCK", "", nil},
		{"ACL", "", nil},
	}
	paths := []string{
		"/dav/",
		"/dav/anna/",
		"/dav/anna/books/",
		"/dav/anna/books/colleagues/",
		"/dav/anna/books/colleagues/uid-anna.vcf",
		"/dav/anna/books/colleagues/new.vcf",
		"/dav/anna/books/colleagues/J%C3%B6rg%20%C3%9C%201.vcf",
		"/dav/anna/books/board/",
		"/elsewhere",
	}
	for _, tt := range tests {
		for _, p := range paths {
			t.Run(tt.method+" "+p, func(t *testing.T) {
				resp, body := f.do(t, "anna", tt.method, p, tt.body, tt.header)
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("%s %s = %d, want %d", tt.method, p, resp.StatusCode, http.StatusForbidden)
				}
				if got, want := resp.Header.Get("Content-Type"), "application/xml; charset=utf-8"; got != want {
					t.Errorf("%s %s Content-Type = %q, want %q", tt.method, p, got, want)
				}
				var e davError
				if err := xml.Unmarshal([]byte(body), &e); err != nil {
					t.Fatalf("%s %s body %q: %v", tt.method, p, body, err)
				}
				if e.Href != p || e.Write == nil {
					t.Errorf("%s %s error = %+v, want need-privileges write on %q", tt.method, p, e, p)
				}
			})
		}
	}
	if f.store.rev != before || !reflect.DeepEqual(f.store.rev, testRevision()) {
		t.Errorf("revision changed by refused writes")
	}
	ao, err := f.client(t, "anna").GetAddressObject(context.Background(), "/dav/anna/books/colleagues/uid-anna.vcf")
	if err != nil || ao.Card.PreferredValue("FN") != "Anna Berg" {
		t.Errorf("card after refused writes = %v, %v; want Anna Berg", ao, err)
	}
}

// davError is the 403 body of a refused write.
type davError struct {
	XMLName xml.Name  `xml:"DAV: error"`
	Href    string    `xml:"need-privileges>resource>href"`
	Write   *struct{} `xml:"need-privileges>resource>privilege>write"`
}

func TestNotFound(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		user, method, path string
	}{
		{"bob", "PROPFIND", "/dav/bob/books/colleagues/"},
		{"bob", http.MethodGet, "/dav/bob/books/colleagues/uid-anna.vcf"},
		{"bob", "REPORT", "/dav/bob/books/colleagues/"},
		{"anna", "PROPFIND", "/dav/anna/books/board/"},
		{"anna", http.MethodGet, "/dav/anna/books/board/uid-secret.vcf"},
		{"anna", "PROPFIND", "/dav/anna/books/nope/"},
		{"anna", http.MethodGet, "/dav/anna/books/colleagues/nope.vcf"},
		{"anna", http.MethodGet, "/dav/anna/books/colleagues/uid-anna"},
		{"anna", http.MethodGet, "/dav/anna/books/colleagues/uid-anna.vcf/"},
		{"anna", "PROPFIND", "/dav/anna/contacts/"},
		{"anna", "PROPFIND", "/dav/anna/books/colleagues/uid-anna.vcf/extra"},
		{"anna", "PROPFIND", "/elsewhere/"},
		// Another user's tree.
		{"anna", "PROPFIND", "/dav/bob/"},
		{"anna", "PROPFIND", "/dav/bob/books/"},
		{"anna", "PROPFIND", "/dav/bob/books/partners/"},
		{"anna", http.MethodGet, "/dav/bob/books/partners/uid-pat.vcf"},
		{"bob", "PROPFIND", "/dav/anna/"},
	}
	query := `<?xml version="1.0"?><C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter/></C:addressbook-query>`
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.method+" "+tt.path, func(t *testing.T) {
			var body string
			var h http.Header
			switch tt.method {
			case "REPORT":
				body, h = query, xmlHeader()
			case "PROPFIND":
				h = http.Header{"Depth": {"1"}}
			}
			resp, got := f.do(t, tt.user, tt.method, tt.path, body, h)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s as %s = %d, want %d", tt.method, tt.path, tt.user, resp.StatusCode, http.StatusNotFound)
			}
			for _, secret := range []string{"Anna Berg", "Secret Person", "Colleagues", "Board"} {
				if strings.Contains(got, secret) {
					t.Errorf("%s %s as %s leaks %q", tt.method, tt.path, tt.user, secret)
				}
			}
		})
	}
}

func TestPropfindBook(t *testing.T) {
	f := newFixture(t)
	etagOnly := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`
	withData := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop></D:propfind>`
	tests := []struct {
		name    string
		path    string
		depth   string
		body    string
		want    []string
		notWant []string
	}{
		{"depth 0", "/dav/bob/books/partners/", "0", "", []string{
			"<D:href>/dav/bob/books/partners/</D:href>",
			"<D:displayname>Partners</D:displayname>",
			"<C:addressbook-description>Partners book</C:addressbook-description>",
		}, []string{"uid-pat"}},
		// allprop lists the live properties of RFC 4918; address data
		// is no property (RFC 6352 section 10.4) and is not among them.
		{"allprop", "/dav/bob/books/partners/", "1", "", []string{
			"<D:href>/dav/bob/books/partners/uid-pat.vcf</D:href>",
			`<D:getetag>"etag-uid-pat"</D:getetag>`,
			"<D:getcontentlength>84</D:getcontentlength>",
		}, []string{"BEGIN:VCARD"}},
		{"etags only", "/dav/bob/books/partners/", "1", etagOnly, []string{
			"<D:href>/dav/bob/books/partners/uid-pat.vcf</D:href>",
			`<D:getetag>"etag-uid-pat"</D:getetag>`,
		}, []string{"BEGIN:VCARD"}},
		{"etags and data", "/dav/bob/books/partners/", "1", withData, []string{
			`<D:getetag>"etag-uid-pat"</D:getetag>`,
			"FN:Pat Partner&#13;\n",
		}, nil},
		{"no trailing slash", "/dav/bob/books/partners", "0", "", []string{
			"<D:href>/dav/bob/books/partners/</D:href>",
		}, nil},
		{"home without slash", "/dav/bob/books", "1", "", []string{
			"<D:href>/dav/bob/books/</D:href>",
			"<D:href>/dav/bob/books/partners/</D:href>",
		}, nil},
		{"principal", "/dav/bob/", "0", "", []string{
			"<D:href>/dav/bob/</D:href>",
			"<C:addressbook-home-set><D:href>/dav/bob/books/</D:href></C:addressbook-home-set>",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Depth": {tt.depth}}
			if tt.body != "" {
				h.Set("Content-Type", "application/xml")
			}
			resp, body := f.do(t, "bob", "PROPFIND", tt.path, tt.body, h)
			if resp.StatusCode != http.StatusMultiStatus {
				t.Fatalf("PROPFIND %s = %d, want %d", tt.path, resp.StatusCode, http.StatusMultiStatus)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("PROPFIND %s lacks %s:\n%s", tt.path, w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("PROPFIND %s has %s:\n%s", tt.path, w, body)
				}
			}
		})
	}
}

func TestPropfindRoot(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		body    string
		want    []string
		notWant []string
	}{
		{"empty body", "", []string{
			"<D:href>/dav/</D:href>",
			"<D:current-user-principal><D:href>/dav/anna/</D:href></D:current-user-principal>",
			"<D:resourcetype><D:collection/></D:resourcetype>",
		}, []string{"404"}},
		{"prop", `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:current-user-principal/><C:addressbook-home-set/></D:prop></D:propfind>`, []string{
			"<D:current-user-principal><D:href>/dav/anna/</D:href></D:current-user-principal>",
			`<C:addressbook-home-set/>`,
			"HTTP/1.1 404 Not Found",
		}, []string{"resourcetype"}},
		{"propname", `<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`, []string{
			"<D:current-user-principal/>",
			"<D:resourcetype/>",
		}, []string{"/dav/anna/"}},
		{"allprop", `<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, []string{
			"<D:current-user-principal><D:href>/dav/anna/</D:href></D:current-user-principal>",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "anna", "PROPFIND", "/dav/", tt.body, http.Header{"Depth": {"0"}, "Content-Type": {"text/xml"}})
			if resp.StatusCode != http.StatusMultiStatus {
				t.Fatalf("PROPFIND /dav/ = %d, want %d: %s", resp.StatusCode, http.StatusMultiStatus, body)
			}
			if err := xml.Unmarshal([]byte(body), new(struct {
				XMLName xml.Name `xml:"DAV: multistatus"`
			})); err != nil {
				t.Errorf("PROPFIND /dav/ body is not a multistatus: %v\n%s", err, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("PROPFIND /dav/ lacks %s:\n%s", w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("PROPFIND /dav/ has %s:\n%s", w, body)
				}
			}
		})
	}
	for _, body := range []string{"<not xml", `<D:propfind xmlns:D="DAV:"/>`} {
		resp, _ := f.do(t, "anna", "PROPFIND", "/dav/", body, xmlHeader())
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("PROPFIND /dav/ with %q = %d, want %d", body, resp.StatusCode, http.StatusBadRequest)
		}
	}
}

func TestOptions(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/dav/", "/dav/anna/books/colleagues/", "/dav/anna/books/colleagues/uid-anna.vcf"} {
		resp, _ := f.do(t, "anna", http.MethodOptions, p, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("OPTIONS %s = %d, want %d", p, resp.StatusCode, http.StatusOK)
		}
		if got, want := resp.Header.Get("DAV"), "1, 3, addressbook"; got != want {
			t.Errorf("OPTIONS %s DAV = %q, want %q", p, got, want)
		}
		if got, want := resp.Header.Get("Allow"), "OPTIONS, GET, HEAD, PROPFIND, REPORT"; got != want {
			t.Errorf("OPTIONS %s Allow = %q, want %q", p, got, want)
		}
	}
	resp, _ := f.do(t, "anna", "SEARCH", "/dav/", "", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("SEARCH /dav/ = %d, want %d", resp.StatusCode, http.StatusMethodNotAllowed)
	}
}

// TestOneRevisionPerRequest checks that a request reads the store once,
// so that a publish during the request cannot mix two revisions.
func TestOneRevisionPerRequest(t *testing.T) {
	f := newFixture(t)
	requests := []struct{ method, path, depth string }{
		{"PROPFIND", "/dav/anna/", "infinity"},
		{"PROPFIND", "/dav/anna/books/", "1"},
		{"PROPFIND", "/dav/anna/books/colleagues/", "1"},
		{http.MethodGet, "/dav/anna/books/colleagues/uid-anna.vcf", ""},
	}
	for _, r := range requests {
		before := f.store.reads.Load()
		resp, _ := f.do(t, "anna", r.method, r.path, "", http.Header{"Depth": {r.depth}})
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s = %d", r.method, r.path, resp.StatusCode)
		}
		if got := f.store.reads.Load() - before; got != 1 {
			t.Errorf("%s %s read the store %d times, want 1", r.method, r.path, got)
		}
	}
}

// authFunc is an Authenticator made of a function.
type authFunc func(user, password string) (string, error)

func (f authFunc) Authenticate(_ context.Context, user, password string) (string, error) {
	return f(user, password)
}

func TestAuthenticatorFailures(t *testing.T) {
	tests := []struct {
		name string
		auth authFunc
		want int
	}{
		{"backend down", func(string, string) (string, error) {
			return "", errors.New("directory unreachable")
		}, http.StatusServiceUnavailable},
		{"wrapped unauthorized", func(string, string) (string, error) {
			return "", fmt.Errorf("ldap: bind: %w", dirbook.ErrUnauthorized)
		}, http.StatusUnauthorized},
		{"empty login", func(string, string) (string, error) {
			return "", nil
		}, http.StatusUnauthorized},
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := carddav.NewHandler(&memStore{rev: testRevision()}, tt.auth, &carddav.Options{Logger: logger})
			req := httptest.NewRequest("PROPFIND", "/dav/", nil)
			req.SetBasicAuth("anna", "x")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("PROPFIND /dav/ with %s = %d, want %d", tt.name, rec.Code, tt.want)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		prefix, principal, root string
	}{
		{"/carddav/", "/carddav/anna/", "/carddav/"},
		{"carddav", "/carddav/anna/", "/carddav/"},
		{"/", "/anna/", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			h := carddav.NewHandler(&memStore{rev: testRevision()}, newAppPasswords(t), &carddav.Options{Prefix: tt.prefix, Logger: logger})
			srv := httptest.NewServer(h)
			defer srv.Close()
			hc := webdav.HTTPClientWithBasicAuth(srv.Client(), "anna", passwords["anna"])
			c, err := gocarddav.NewClient(hc, srv.URL+tt.root)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			principal, err := c.FindCurrentUserPrincipal(ctx)
			if err != nil || principal != tt.principal {
				t.Fatalf("FindCurrentUserPrincipal() = %q, %v, want %q", principal, err, tt.principal)
			}
			home, err := c.FindAddressBookHomeSet(ctx, principal)
			if err != nil {
				t.Fatal(err)
			}
			abs, err := c.FindAddressBooks(ctx, home)
			if err != nil || len(abs) != 2 {
				t.Fatalf("FindAddressBooks(%q) = %v, %v, want 2 books", home, abs, err)
			}
			if _, err := c.GetAddressObject(ctx, abs[0].Path+"uid-anna.vcf"); err != nil {
				t.Errorf("GetAddressObject() error: %v", err)
			}
		})
	}
}

// TestGetBytes checks that GET serves the bytes mapping.Encode writes, and
// HEAD the same headers without a body.
func TestGetBytes(t *testing.T) {
	f := newFixture(t)
	card := testRevision().Book("colleagues").Cards[uidUmlaut]
	want, err := mapping.Encode(contentOf(card), "3.0")
	if err != nil {
		t.Fatal(err)
	}
	const path = "/dav/anna/books/colleagues/J%C3%B6rg%20%C3%9C%201.vcf"
	resp, body := f.do(t, "anna", http.MethodGet, path, "", nil)
	if resp.StatusCode != http.StatusOK || body != string(want) {
		t.Errorf("GET %s = %d %q, want 200 %q", path, resp.StatusCode, body, want)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/vcard; charset=utf-8" {
		t.Errorf("GET %s Content-Type = %q, want text/vcard; charset=utf-8", path, got)
	}
	if got := resp.Header.Get("Last-Modified"); got != "Sun, 01 Mar 2026 12:30:00 GMT" {
		t.Errorf("GET %s Last-Modified = %q, want Sun, 01 Mar 2026 12:30:00 GMT", path, got)
	}
	resp, body = f.do(t, "anna", http.MethodHead, path, "", nil)
	if resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength != int64(len(want)) {
		t.Errorf("HEAD %s = %d, body %q, length %d; want 200, no body, length %d", path, resp.StatusCode, body, resp.ContentLength, len(want))
	}
}

// TestAccessLog checks the per-request line: method, path, status and
// login, at Debug, and never card content.
func TestAccessLog(t *testing.T) {
	var buf strings.Builder
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := carddav.NewHandler(&memStore{rev: testRevision()}, newAppPasswords(t), &carddav.Options{Logger: logger})
	req := httptest.NewRequest(http.MethodGet, "/dav/anna/books/colleagues/uid-anna.vcf?x=1", nil)
	req.SetBasicAuth("anna", passwords["anna"])
	h.ServeHTTP(httptest.NewRecorder(), req)
	got := buf.String()
	for _, want := range []string{
		`"level":"DEBUG"`,
		`"method":"GET"`,
		`"path":"/dav/anna/books/colleagues/uid-anna.vcf"`,
		`"status":200`,
		`"login":"anna"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("access log lacks %s: %s", want, got)
		}
	}
	for _, secret := range []string{"Anna Berg", "+49", passwords["anna"], "x=1"} {
		if strings.Contains(got, secret) {
			t.Errorf("access log has %q: %s", secret, got)
		}
	}
}
