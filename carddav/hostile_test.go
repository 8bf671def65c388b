package carddav_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dirbook/dirbook/carddav"
)

// endlessReader yields head, then about n bytes of s repeated, without a
// known length, so the request goes out chunked.
type endlessReader struct {
	head string
	s    string
	n    int
}

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.head != "" {
		c := copy(p, r.head)
		r.head = r.head[c:]
		return c, nil
	}
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k+len(r.s) <= len(p) && r.n > 0 {
		k += copy(p[k:], r.s)
		r.n -= len(r.s)
	}
	if k == 0 {
		k = copy(p, r.s[:1])
		r.n--
	}
	return k, nil
}

func nested(n int) string {
	return `<D:propfind xmlns:D="DAV:">` + strings.Repeat("<D:prop>", n) + strings.Repeat("</D:prop>", n) + `</D:propfind>`
}

func manyHrefs(n int) string {
	var b strings.Builder
	b.WriteString(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>`)
	for i := range n {
		fmt.Fprintf(&b, "<D:href>/dav/anna/books/colleagues/c%d.vcf</D:href>", i)
	}
	b.WriteString(`</C:addressbook-multiget>`)
	return b.String()
}

// TestHostileRequests sends malformed and oversized requests; each gets a
// clean 4xx, and a healthy request right after it is answered.
func TestHostileRequests(t *testing.T) {
	h := carddav.NewHandler(&memStore{rev: testRevision()}, newAppPasswords(t), &carddav.Options{
		Logger:         discardLogger(),
		MaxRequestBody: 64 << 10,
		MaxHrefs:       10,
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	const book = "/dav/anna/books/colleagues/"
	deepEntity := `<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&b;</D:displayname></D:prop></D:propfind>`
	manyProps := `<D:propfind xmlns:D="DAV:"><D:prop>`
	for i := range 300 {
		manyProps += fmt.Sprintf("<x:p%d xmlns:x=\"urn:x\"/>", i)
	}
	manyProps += `</D:prop></D:propfind>`
	tests := []struct {
		name   string
		method string
		path   string // raw, sent as is
		header http.Header
		body   io.Reader
		noAuth bool
		auth   string // Authorization header instead of anna's
		want   int
		inBody string
	}{
		{name: "huge body", method: "PROPFIND", path: book, body: strings.NewReader(strings.Repeat(" ", 100<<10)), want: 413},
		{name: "huge chunked body", method: "REPORT", path: book, body: &endlessReader{head: `<C:addressbook-multiget xmlns:C="urn:ietf:params:xml:ns:carddav">`, s: "<!-- padding -->", n: 1 << 20}, want: 413},
		{name: "huge body to a write", method: "PUT", path: book + "x.vcf", body: &endlessReader{s: "BEGIN:VCARD\r\n", n: 8 << 20}, want: 403},
		{name: "deep XML", method: "PROPFIND", path: book, body: strings.NewReader(nested(100)), want: 400, inBody: "nested too deeply"},
		{name: "deep XML in a report", method: "REPORT", path: book, body: strings.NewReader(`<C:addressbook-query xmlns:C="urn:ietf:params:xml:ns:carddav">` + strings.Repeat("<C:filter>", 80) + strings.Repeat("</C:filter>", 80) + `</C:addressbook-query>`), want: 400},
		{name: "multiget above the href limit", method: "REPORT", path: book, body: strings.NewReader(manyHrefs(11)), want: 403, inBody: "number-of-matches-within-limits"},
		{name: "malformed XML", method: "REPORT", path: book, body: strings.NewReader(`<C:addressbook-multiget xmlns:C="urn:ietf:params:xml:ns:carddav"><D:href>`), want: 400},
		{name: "unclosed XML", method: "PROPFIND", path: book, body: strings.NewReader(`<D:propfind xmlns:D="DAV:"><D:prop>`), want: 400},
		{name: "entity expansion", method: "PROPFIND", path: book, body: strings.NewReader(deepEntity), want: 400},
		{name: "foreign charset", method: "PROPFIND", path: book, body: strings.NewReader(`<?xml version="1.0" encoding="ISO-8859-1"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`), want: 400},
		{name: "too many properties", method: "PROPFIND", path: book, body: strings.NewReader(manyProps), want: 400},
		{name: "long href", method: "REPORT", path: book, body: strings.NewReader(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:href>` + strings.Repeat("a", 10<<10) + `</D:href></C:addressbook-multiget>`), want: 400},
		{name: "unknown report", method: "REPORT", path: book, body: strings.NewReader(`<D:expand-property xmlns:D="DAV:"/>`), want: 403, inBody: "supported-report"},
		{name: "empty report", method: "REPORT", path: book, body: strings.NewReader(""), want: 400},
		{name: "address data 2.1", method: "REPORT", path: book, body: strings.NewReader(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data version="2.1"/></D:prop><D:href>` + book + `uid-anna.vcf</D:href></C:addressbook-multiget>`), want: 403, inBody: "supported-address-data"},
		{name: "address data as JSON", method: "REPORT", path: book, body: strings.NewReader(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data content-type="application/vcard+json"/></D:prop><D:href>` + book + `uid-anna.vcf</D:href></C:addressbook-multiget>`), want: 403, inBody: "supported-address-data"},
		{name: "octet collation", method: "REPORT", path: book, body: strings.NewReader(`<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter><C:prop-filter name="FN"><C:text-match collation="i;octet">a</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`), want: 403, inBody: "supported-collation"},
		{name: "unknown match type", method: "REPORT", path: book, body: strings.NewReader(`<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter><C:prop-filter name="FN"><C:text-match match-type="regex">a</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`), want: 400},
		{name: "dot-dot traversal", method: "PROPFIND", path: "/dav/anna/books/../../bob/books/partners/", want: 400},
		{name: "encoded dot-dot", method: "PROPFIND", path: "/dav/anna/books/%2e%2e/%2E%2E/bob/", want: 400},
		{name: "encoded slash and dot-dot", method: "GET", path: "/dav/anna/books/colleagues/..%2F..%2F..%2Fbob%2Fbooks%2Fpartners%2Fuid-pat.vcf", want: 400},
		{name: "dot segment", method: "GET", path: "/dav/anna/./books/colleagues/uid-anna.vcf", want: 400},
		{name: "traversal before auth", method: "GET", path: "/dav/../etc/passwd", noAuth: true, want: 400},
		{name: "bad depth", method: "PROPFIND", path: book, header: http.Header{"Depth": {"2"}}, want: 400},
		{name: "word depth", method: "PROPFIND", path: book, header: http.Header{"Depth": {"one"}}, want: 400},
		{name: "two depths", method: "PROPFIND", path: book, header: http.Header{"Depth": {"0", "1"}}, want: 400},
		{name: "unknown method", method: "FROB", path: book, want: 405},
		{name: "trace", method: "TRACE", path: book, want: 405},
		{name: "search", method: "SEARCH", path: "/dav/", want: 405},
		{name: "malformed basic", method: "PROPFIND", path: book, auth: "Basic !!!", want: 401},
		{name: "basic without colon", method: "PROPFIND", path: book, auth: "Basic YW5uYQ==", want: 401},
		{name: "basic without credentials", method: "PROPFIND", path: book, auth: "Basic", want: 401},
		{name: "huge basic", method: "PROPFIND", path: book, auth: "Basic " + strings.Repeat("QUFB", 1000), want: 401},
		{name: "GET of a collection", method: "GET", path: book, want: 405},
	}
	healthy := func(t *testing.T) {
		t.Helper()
		resp, body := do(t, srv, "anna", "PROPFIND", book, `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`, http.Header{"Depth": {"1"}})
		if resp.StatusCode != http.StatusMultiStatus || !strings.Contains(body, "uid-anna.vcf") {
			t.Fatalf("healthy PROPFIND after the request = %d:\n%s", resp.StatusCode, body)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == nil {
				body = http.NoBody
			}
			req, err := http.NewRequest(tt.method, srv.URL+"/", body)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = tt.path // sent as is, not cleaned
			for k, v := range tt.header {
				req.Header[k] = v
			}
			switch {
			case tt.auth != "":
				req.Header.Set("Authorization", tt.auth)
			case !tt.noAuth:
				req.SetBasicAuth("anna", passwords["anna"])
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			got, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s (%s) = %d, want %d: %s", tt.method, tt.path, tt.name, resp.StatusCode, tt.want, got)
			}
			if !strings.Contains(string(got), tt.inBody) {
				t.Errorf("%s %s (%s) body lacks %q: %s", tt.method, tt.path, tt.name, tt.inBody, got)
			}
			for _, secret := range []string{"Pat Partner", "Secret Person"} {
				if strings.Contains(string(got), secret) {
					t.Errorf("%s %s (%s) leaks %q", tt.method, tt.path, tt.name, secret)
				}
			}
			healthy(t)
		})
	}
}

// TestDefaultLimitsWholeBook fetches a book of 10,000 cards in one
// multiget (about 0.6 MB of request) under the default limits.
func TestDefaultLimitsWholeBook(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 cards")
	}
	rev := bigRevision(10000, 0)
	h := carddav.NewHandler(&memStore{rev: rev}, newAppPasswords(t), &carddav.Options{Logger: discardLogger()})
	body := multigetAll(rev.Book("colleagues").UIDs)
	if len(body) < 500<<10 {
		t.Fatalf("multiget body is %d bytes, want a realistic 0.5 MB or more", len(body))
	}
	rec := serve(t, h, "anna", "REPORT", "/dav/anna/books/colleagues/", body, http.Header{"Depth": {"1"}})
	if rec.Code != http.StatusMultiStatus {
		t.Fatalf("multiget of 10,000 cards = %d: %.300s", rec.Code, rec.Body)
	}
	ms := parseMultistatus(t, rec.Body.Bytes())
	if len(ms.Responses) != 10000 {
		t.Fatalf("multiget of 10,000 cards: %d responses", len(ms.Responses))
	}
	for _, r := range ms.Responses[:10] {
		if len(r.Propstats) != 1 || !strings.HasPrefix(r.Propstats[0].Prop.Data, "BEGIN:VCARD\r\n") {
			t.Errorf("response %s: no address data with CRLF: %+v", r.Href, r)
		}
	}
}

// multigetAll is the multiget body of every card of the big revision.
func multigetAll(uids []string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>`)
	for _, uid := range uids {
		b.WriteString("<D:href>/dav/anna/books/colleagues/" + uid + ".vcf</D:href>\n")
	}
	b.WriteString("</C:addressbook-multiget>")
	return b.String()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// do sends a request to srv as user ("" for none) and returns the
// response with its body read.
func do(tb testing.TB, srv *httptest.Server, user, method, path, body string, header http.Header) (*http.Response, string) {
	tb.Helper()
	f := &fixture{srv: srv}
	return f.do(tb, user, method, path, body, header)
}
