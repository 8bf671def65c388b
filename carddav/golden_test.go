package carddav_test

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenHistory is the directory of the golden sequences: revision 1
// publishes five colleagues, revision 2 changes one, removes one and adds
// one.
func goldenHistory(tb testing.TB) *history {
	tb.Helper()
	h := newHistory(tb, []dirbook.Book{
		{ID: "colleagues", Name: "Colleagues", Description: "Everyone at Nordlicht"},
		{ID: "board", Name: "Board"},
	}, map[string][]string{"anna": {"colleagues"}})
	tel := func(kind, n string) dirbook.Prop {
		return dirbook.Prop{Field: kind, Name: "TEL", Types: []string{kind}, Values: []string{n}}
	}
	mail := func(m string) dirbook.Prop {
		return dirbook.Prop{Field: "email", Name: "EMAIL", Types: []string{"work"}, Values: []string{m}}
	}
	org := dirbook.Prop{Field: "org", Name: "ORG", Values: []string{"Nordlicht GmbH", "Engineering"}}
	h.publish(
		put("colleagues", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "Anna Berg", org, tel("work", "+49 30 1111"), mail("anna.berg@example.com")),
		put("colleagues", "6fa459ea-ee8a-3ca4-894e-db77e160355e", "Carl Dahl", org, tel("cell", "+49 172 2222")),
		put("colleagues", "Jörg Ü 1", "Jörg Überall", org),
		put("colleagues", "a3bb189e-8bf9-3888-9912-ace4e6543002", "Dora Eck & Söhne", tel("work", "+49 30 3333")),
		put("colleagues", "e9f8a1c2-0000-4000-8000-000000000005", "Emil Faber", mail("emil@example.com")),
		put("board", "b0a1d000-0000-4000-8000-000000000001", "Secret Person"),
	)
	return h
}

// goldenChange is the publish between the first and the second sync.
func goldenChange(h *history) {
	h.publish(
		put("colleagues", "6fa459ea-ee8a-3ca4-894e-db77e160355e", "Carl Dahl", dirbook.Prop{Field: "title", Name: "TITLE", Values: []string{"Head of Engineering"}}),
		del("colleagues", "a3bb189e-8bf9-3888-9912-ace4e6543002"),
		put("colleagues", "f00dfeed-0000-4000-8000-000000000006", "Frida Gans"),
	)
}

// step is one request of a client sequence. In path and body,
// {{token}} stands for the last sync-token the client was sent and
// {{hrefs}} for the href elements of the cards the last listing named
// (not removed).
type step struct {
	title   string
	method  string
	path    string
	header  http.Header
	body    string
	publish bool // publish goldenChange before this step
}

const (
	davx5CapsBody = `<?xml version='1.0' encoding='UTF-8' ?><propfind xmlns="DAV:" xmlns:CARD="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/"><prop><CARD:max-resource-size /><CARD:supported-address-data /><supported-report-set /><CS:getctag /><sync-token /></prop></propfind>`
	davx5SyncBody = `<?xml version='1.0' encoding='UTF-8' ?><sync-collection xmlns="DAV:"><sync-token>{{token}}</sync-token><sync-level>1</sync-level><prop><getetag /></prop></sync-collection>`
	davx5MultiGet = `<?xml version='1.0' encoding='UTF-8' ?><CARD:addressbook-multiget xmlns="DAV:" xmlns:CARD="urn:ietf:params:xml:ns:carddav"><prop><getetag /><CARD:address-data content-type="text/vcard" version="4.0" /></prop>{{hrefs}}</CARD:addressbook-multiget>`
)

func davx5Header(depth string) http.Header {
	return http.Header{
		"Accept-Encoding": {"gzip"},
		"Content-Type":    {"application/xml; charset=utf-8"},
		"Depth":           {depth},
		"User-Agent":      {"DAVx5/4.4.3-ose (dav4jvm; okhttp/4.12.0) Android/14"},
	}
}

// davx5Steps is how DAVx5 syncs an address book: it asks for the
// capabilities and tokens, syncs with sync-collection, fetches what
// changed with addressbook-multiget, and on the next poll stops after
// the PROPFIND when nothing changed.
var davx5Steps = []step{
	{title: "DAVx5 asks the book for its capabilities and sync token", method: "PROPFIND", path: "/dav/anna/books/colleagues/", header: davx5Header("0"), body: davx5CapsBody},
	{title: "initial sync-collection without a token", method: "REPORT", path: "/dav/anna/books/colleagues/", header: davx5Header("0"), body: strings.Replace(davx5SyncBody, "{{token}}", "", 1)},
	{title: "multiget of every card, vCard 4.0", method: "REPORT", path: "/dav/anna/books/colleagues/", header: davx5Header("0"), body: davx5MultiGet},
	{title: "next poll after a change in the directory", method: "PROPFIND", path: "/dav/anna/books/colleagues/", header: davx5Header("0"), body: davx5CapsBody, publish: true},
	{title: "sync-collection with the token of the first sync", method: "REPORT", path: "/dav/anna/books/colleagues/", header: davx5Header("0"), body: davx5SyncBody},
	{title: "multiget of the changed and added cards", method: "REPORT", path: "/dav/anna/books/colleagues/", header: davx5Header("0"), body: davx5MultiGet},
	{title: "unchanged poll: same token, DAVx5 stops here", method: "PROPFIND", path: "/dav/anna/books/colleagues/", header: davx5Header("0"), body: davx5CapsBody},
	{title: "sync-collection with the current token answers nothing", method: "REPORT", path: "/dav/anna/books/colleagues/", header: davx5Header("0"), body: davx5SyncBody},
}

const (
	iosPropfind = `<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:">
  <A:prop>
    <B:getctag xmlns:B="http://calendarserver.org/ns/"/>
    <A:sync-token/>
    <A:resourcetype/>
    <A:current-user-privilege-set/>
    <B:me-card xmlns:B="http://calendarserver.org/ns/"/>
  </A:prop>
</A:propfind>
`
	iosSync = `<?xml version="1.0" encoding="UTF-8"?>
<A:sync-collection xmlns:A="DAV:">
  <A:sync-token>{{token}}</A:sync-token>
  <A:sync-level>1</A:sync-level>
  <A:prop>
    <A:getetag/>
    <A:getcontenttype/>
  </A:prop>
</A:sync-collection>
`
	iosMultiGet = `<?xml version="1.0" encoding="UTF-8"?>
<B:addressbook-multiget xmlns:B="urn:ietf:params:xml:ns:carddav">
  <A:prop xmlns:A="DAV:">
    <A:getetag/>
    <B:address-data/>
  </A:prop>
{{hrefs}}</B:addressbook-multiget>
`
	iosList = `<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:">
  <A:prop>
    <A:getetag/>
    <A:getcontenttype/>
    <A:resourcetype/>
  </A:prop>
</A:propfind>
`
)

func iosHeader(depth string) http.Header {
	h := http.Header{
		"Accept-Encoding": {"gzip, deflate"},
		"Brief":           {"t"},
		"Content-Type":    {"text/xml"},
		"Prefer":          {"return=minimal"},
		"User-Agent":      {"iOS/17.4 (21E219) dataaccessd/1.0"},
	}
	if depth != "" {
		h.Set("Depth", depth)
	}
	return h
}

// iosSteps is how iOS and macOS Contacts sync: PROPFIND for getctag and
// sync-token, sync-collection, multiget of vCard 3.0; a client without
// sync-collection lists the ETags with PROPFIND Depth 1 instead.
var iosSteps = []step{
	{title: "iOS asks the book for getctag and sync-token (brief)", method: "PROPFIND", path: "/dav/anna/books/colleagues/", header: iosHeader("0"), body: iosPropfind},
	{title: "initial sync-collection", method: "REPORT", path: "/dav/anna/books/colleagues/", header: iosHeader(""), body: strings.Replace(iosSync, "{{token}}", "", 1)},
	{title: "multiget of every card, vCard 3.0", method: "REPORT", path: "/dav/anna/books/colleagues/", header: iosHeader(""), body: iosMultiGet},
	{title: "next poll after a change in the directory", method: "PROPFIND", path: "/dav/anna/books/colleagues/", header: iosHeader("0"), body: iosPropfind, publish: true},
	{title: "sync-collection with the token of the first sync", method: "REPORT", path: "/dav/anna/books/colleagues/", header: iosHeader(""), body: iosSync},
	{title: "multiget of the changed and added cards", method: "REPORT", path: "/dav/anna/books/colleagues/", header: iosHeader(""), body: iosMultiGet},
	{title: "without sync-collection: PROPFIND Depth 1 lists the ETags", method: "PROPFIND", path: "/dav/anna/books/colleagues", header: iosHeader("1"), body: iosList},
}

func TestGoldenDAVx5(t *testing.T) { runGolden(t, "davx5.golden", davx5Steps) }

func TestGoldenIOS(t *testing.T) { runGolden(t, "ios.golden", iosSteps) }

// runGolden plays steps against a server over HTTP and compares the
// transcript with testdata/name.
func runGolden(t *testing.T, name string, steps []step) {
	hist := goldenHistory(t)
	srv := httptest.NewServer(newSyncHandler(t, hist, nil))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}

	var transcript bytes.Buffer
	var syncToken, hrefs string
	for i, s := range steps {
		if s.publish {
			goldenChange(hist)
			fmt.Fprintf(&transcript, "### the directory changes: revision %d\n\n", hist.current().Number)
		}
		body := strings.ReplaceAll(s.body, "{{token}}", syncToken)
		body = strings.ReplaceAll(body, "{{hrefs}}", hrefs)
		req, err := http.NewRequest(s.method, srv.URL+s.path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = s.header.Clone()
		req.SetBasicAuth("anna", passwords["anna"])
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		respBody := raw
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("step %d: %v", i+1, err)
			}
			if respBody, err = io.ReadAll(zr); err != nil {
				t.Fatalf("step %d: %v", i+1, err)
			}
		}

		fmt.Fprintf(&transcript, "=== %d. %s\n%s %s\n", i+1, s.title, s.method, s.path)
		writeHeader(&transcript, s.header)
		fmt.Fprintf(&transcript, "\n%s\n\n--- %s\n", strings.TrimRight(body, "\n"), resp.Status)
		writeHeader(&transcript, resp.Header)
		fmt.Fprintf(&transcript, "\n%s\n", respBody)

		if resp.StatusCode != http.StatusMultiStatus {
			t.Errorf("step %d (%s) = %s, want 207", i+1, s.title, resp.Status)
			continue
		}
		ms := parseMultistatus(t, respBody)
		if ms.SyncToken != "" {
			syncToken = ms.SyncToken
		}
		var list []string
		for _, r := range ms.Responses {
			if strings.HasSuffix(r.Href, ".vcf") && r.Status == "" {
				list = append(list, `<href xmlns="DAV:">`+escapeXML(r.Href)+"</href>")
			}
		}
		if s.method == "REPORT" && strings.Contains(s.body, "sync-collection") || s.header.Get("Depth") == "1" {
			hrefs = strings.Join(list, "\n")
		}
	}

	file := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, transcript.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got := transcript.String(); got != string(want) {
		t.Errorf("transcript differs from %s (run go test -update and review the diff):\n%s", file, firstDiff(got, string(want)))
	}
}

// writeHeader writes h sorted by name, without Date, and without the
// Content-Length of a compressed body (it depends on the compressor's
// version, not on dirbook).
func writeHeader(w io.Writer, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		gzipped := k == "Content-Length" && h.Get("Content-Encoding") == "gzip"
		if k != "Date" && k != "Authorization" && !gzipped {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return "(equal lines, different ends)"
}
