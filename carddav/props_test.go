package carddav_test

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dirbook/dirbook/carddav"
)

// propResponse is a response with its properties as raw XML, by status.
type propResponse struct {
	Href      string `xml:"href"`
	Propstats []struct {
		Status string `xml:"status"`
		Prop   struct {
			Any []struct {
				XMLName xml.Name
				Inner   string `xml:",innerxml"`
			} `xml:",any"`
		} `xml:"prop"`
	} `xml:"propstat"`
}

// props returns the properties of r with the given status code ("200",
// "404"): qualified name → inner XML.
func (r *propResponse) props(code string) map[string]string {
	out := map[string]string{}
	for _, ps := range r.Propstats {
		if strings.Contains(ps.Status, " "+code+" ") {
			for _, p := range ps.Prop.Any {
				out[p.XMLName.Space+" "+p.XMLName.Local] = p.Inner
			}
		}
	}
	return out
}

func propfindResponses(tb testing.TB, h http.Handler, user, path, depth, body string, header http.Header) []propResponse {
	tb.Helper()
	hdr := http.Header{"Depth": {depth}}
	for k, v := range header {
		hdr[k] = v
	}
	rec := serve(tb, h, user, "PROPFIND", path, body, hdr)
	if rec.Code != http.StatusMultiStatus {
		tb.Fatalf("PROPFIND %s = %d, want 207: %s", path, rec.Code, rec.Body)
	}
	var ms struct {
		XMLName   xml.Name       `xml:"DAV: multistatus"`
		Responses []propResponse `xml:"response"`
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &ms); err != nil {
		tb.Fatalf("PROPFIND %s: %v\n%s", path, err, rec.Body)
	}
	return ms.Responses
}

const (
	dav = "DAV: "
	crd = "urn:ietf:params:xml:ns:carddav "
	cs  = "http://calendarserver.org/ns/ "
)

// TestPrivilegeSet checks that every resource says read only.
func TestPrivilegeSet(t *testing.T) {
	h := newSyncHandler(t, syncHistory(t), nil)
	body := `<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop></D:propfind>`
	for _, p := range []string{"/dav/", "/dav/anna/", "/dav/anna/books/", "/dav/anna/books/colleagues/", "/dav/anna/books/colleagues/a.vcf"} {
		t.Run(p, func(t *testing.T) {
			rs := propfindResponses(t, h, "anna", p, "0", body, nil)
			if len(rs) != 1 {
				t.Fatalf("PROPFIND %s: %d responses, want 1", p, len(rs))
			}
			var set struct {
				Privileges []struct {
					Any []struct{ XMLName xml.Name } `xml:",any"`
				} `xml:"DAV: privilege"`
			}
			inner := rs[0].props("200")[dav+"current-user-privilege-set"]
			if err := xml.Unmarshal([]byte(`<s xmlns:D="DAV:">`+inner+`</s>`), &set); err != nil {
				t.Fatalf("PROPFIND %s privilege set %q: %v", p, inner, err)
			}
			var got []string
			for _, priv := range set.Privileges {
				for _, a := range priv.Any {
					got = append(got, a.XMLName.Space+" "+a.XMLName.Local)
				}
			}
			if want := []string{dav + "read", dav + "read-current-user-privilege-set"}; !slices.Equal(got, want) {
				t.Errorf("PROPFIND %s current-user-privilege-set = %q, want %q", p, got, want)
			}
		})
	}
}

func TestBookProperties(t *testing.T) {
	h := newSyncHandler(t, syncHistory(t), nil)
	body := `<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/" xmlns:X="urn:example">
<D:prop><D:resourcetype/><D:displayname/><C:addressbook-description/><CS:getctag/><D:sync-token/>
<D:supported-report-set/><D:current-user-privilege-set/><C:supported-address-data/><D:owner/><D:current-user-principal/>
<X:color/><D:getetag/><C:max-resource-size/><plain xmlns=""/></D:prop></D:propfind>`
	rs := propfindResponses(t, h, "anna", "/dav/anna/books/colleagues/", "0", body, nil)
	if len(rs) != 1 {
		t.Fatalf("PROPFIND Depth 0: %d responses", len(rs))
	}
	found, missing := rs[0].props("200"), rs[0].props("404")
	want := map[string]string{
		dav + "resourcetype":            "<D:collection/><C:addressbook/>",
		dav + "displayname":             "Colleagues",
		crd + "addressbook-description": "",
		cs + "getctag":                  token("colleagues", 5),
		dav + "sync-token":              token("colleagues", 5),
		dav + "owner":                   "<D:href>/dav/anna/</D:href>",
		dav + "current-user-principal":  "<D:href>/dav/anna/</D:href>",
	}
	for k, v := range want {
		if got, ok := found[k]; !ok || got != v {
			t.Errorf("property %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	for _, r := range []string{"<D:sync-collection/>", "<C:addressbook-multiget/>", "<C:addressbook-query/>"} {
		if !strings.Contains(found[dav+"supported-report-set"], r) {
			t.Errorf("supported-report-set %q lacks %s", found[dav+"supported-report-set"], r)
		}
	}
	for _, v := range []string{`version="3.0"`, `version="4.0"`} {
		if !strings.Contains(found[crd+"supported-address-data"], v) {
			t.Errorf("supported-address-data %q lacks %s", found[crd+"supported-address-data"], v)
		}
	}
	if _, ok := found[dav+"current-user-privilege-set"]; !ok {
		t.Errorf("no current-user-privilege-set")
	}
	for _, k := range []string{"urn:example color", dav + "getetag", crd + "max-resource-size", " plain"} {
		if _, ok := missing[k]; !ok {
			t.Errorf("property %s not in the 404 propstat: %v", k, missing)
		}
	}
	if len(found)+len(missing) != 14 {
		t.Errorf("%d properties answered, want 14: %v %v", len(found)+len(missing), found, missing)
	}
}

func TestPropfindModes(t *testing.T) {
	h := newSyncHandler(t, syncHistory(t), nil)
	tests := []struct {
		name    string
		body    string
		header  http.Header
		want    []string
		notWant []string
	}{
		{"propname", `<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`, nil,
			[]string{"<CS:getctag/>", "<D:sync-token/>", "<D:current-user-privilege-set/>", "<D:supported-report-set/>", "<D:getetag/>"},
			[]string{"dirbook.invalid", "<D:read/>", "<C:address-data/>"}},
		{"allprop", `<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, nil,
			[]string{"<CS:getctag>", "<D:getetag>", "<D:displayname>Colleagues</D:displayname>"},
			[]string{"<D:sync-token>", "<D:current-user-privilege-set>", "404"}},
		{"allprop include", `<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:sync-token/><D:current-user-privilege-set/></D:include></D:propfind>`, nil,
			[]string{"<D:sync-token>", "<D:current-user-privilege-set>", "<CS:getctag>"},
			nil},
		{"unknown without brief", `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:quota-used-bytes/></D:prop></D:propfind>`, nil,
			[]string{"<D:quota-used-bytes/>", "HTTP/1.1 404 Not Found"}, nil},
		{"brief", `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:quota-used-bytes/></D:prop></D:propfind>`, http.Header{"Brief": {"t"}},
			[]string{"<D:getetag>"}, []string{"quota", "404"}},
		{"prefer minimal", `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:quota-used-bytes/></D:prop></D:propfind>`, http.Header{"Prefer": {"depth-noroot, return=minimal"}},
			[]string{"<D:getetag>"}, []string{"quota", "404"}},
		{"address data with props", `<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data><C:prop name="FN"/></C:address-data></D:prop></D:propfind>`, nil,
			[]string{"FN:Anna Berg-Holm", "UID:a"}, []string{"\nN:Anna"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{"Depth": {"1"}}
			for k, v := range tt.header {
				hdr[k] = v
			}
			rec := serve(t, h, "anna", "PROPFIND", "/dav/anna/books/colleagues/", tt.body, hdr)
			got := rec.Body.String()
			if rec.Code != http.StatusMultiStatus {
				t.Fatalf("PROPFIND = %d: %s", rec.Code, got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("PROPFIND %s lacks %s:\n%s", tt.name, w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("PROPFIND %s has %s:\n%s", tt.name, w, got)
				}
			}
		})
	}
}

// TestInvisibleBooks walks whole trees: a book a user may not read is
// never named.
func TestInvisibleBooks(t *testing.T) {
	h := newSyncHandler(t, syncHistory(t), nil)
	tests := []struct {
		user, path string
		want       []string
		never      []string
	}{
		{"bob", "/dav/bob/", []string{"/dav/bob/books/partners/p1.vcf"}, []string{"colleagues", "board", "Secret"}},
		{"bob", "/dav/bob/books/", []string{"/dav/bob/books/partners/"}, []string{"colleagues", "board"}},
		{"anna", "/dav/anna/", []string{"/dav/anna/books/colleagues/g.vcf", "/dav/anna/books/partners/p1.vcf"}, []string{"board", "Secret"}},
	}
	for _, tt := range tests {
		for _, depth := range []string{"infinity", ""} {
			hdr := http.Header{}
			if depth != "" {
				hdr.Set("Depth", depth)
			}
			rec := serve(t, h, tt.user, "PROPFIND", tt.path, "", hdr)
			got := rec.Body.String()
			if rec.Code != http.StatusMultiStatus {
				t.Fatalf("PROPFIND %s as %s = %d", tt.path, tt.user, rec.Code)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, "<D:href>"+w+"</D:href>") {
					t.Errorf("PROPFIND %s Depth %q as %s lacks %s", tt.path, depth, tt.user, w)
				}
			}
			for _, w := range tt.never {
				if strings.Contains(got, w) {
					t.Errorf("PROPFIND %s Depth %q as %s names %s", tt.path, depth, tt.user, w)
				}
			}
		}
	}
	// A principal PROPFIND Depth 1 lists the home set, not the books.
	rs := propfindResponses(t, h, "anna", "/dav/anna/", "1", "", nil)
	var hrefs []string
	for _, r := range rs {
		hrefs = append(hrefs, r.Href)
	}
	if want := []string{"/dav/anna/", "/dav/anna/books/"}; !slices.Equal(hrefs, want) {
		t.Errorf("PROPFIND /dav/anna/ Depth 1 = %q, want %q", hrefs, want)
	}
}

func TestGetVersions(t *testing.T) {
	f := newFixture(t)
	const path = "/dav/anna/books/colleagues/uid-anna.vcf"
	tests := []struct {
		accept, version, contentType string
	}{
		{"", "3.0", "text/vcard; charset=utf-8"},
		{"text/vcard", "3.0", "text/vcard; charset=utf-8"},
		{"text/vcard;version=4.0", "4.0", "text/vcard; charset=utf-8; version=4.0"},
		{"text/vcard; version=4.0, text/vcard; version=3.0; q=0.5", "4.0", "text/vcard; charset=utf-8; version=4.0"},
		{"text/vcard; version=4.0; q=0.2, text/vcard; version=3.0", "3.0", "text/vcard; charset=utf-8"},
		{"text/vcard;version=4.0;q=0", "3.0", "text/vcard; charset=utf-8"},
		{"application/json", "3.0", "text/vcard; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			resp, body := f.do(t, "anna", http.MethodGet, path, "", http.Header{"Accept": {tt.accept}})
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "\r\nVERSION:"+tt.version+"\r\n") {
				t.Fatalf("GET Accept %q = %d %q, want VERSION %s", tt.accept, resp.StatusCode, body, tt.version)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("GET Accept %q Content-Type = %q, want %q", tt.accept, got, tt.contentType)
			}
			if got := resp.Header.Get("ETag"); got != `"etag-uid-anna"` {
				t.Errorf("GET Accept %q ETag = %q, want the card's", tt.accept, got)
			}
			if vary := resp.Header.Values("Vary"); !slices.Contains(vary, "Accept") || !slices.Contains(vary, "Accept-Encoding") {
				t.Errorf("GET Accept %q Vary = %q, want Accept and Accept-Encoding", tt.accept, vary)
			}
		})
	}

	conds := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"if-modified-since same", http.Header{"If-Modified-Since": {"Sun, 01 Mar 2026 12:30:00 GMT"}}, 304},
		{"if-modified-since later", http.Header{"If-Modified-Since": {"Mon, 02 Mar 2026 12:30:00 GMT"}}, 304},
		{"if-modified-since earlier", http.Header{"If-Modified-Since": {"Sat, 28 Feb 2026 12:30:00 GMT"}}, 200},
		{"if-none-match wins", http.Header{"If-None-Match": {`"old"`}, "If-Modified-Since": {"Mon, 02 Mar 2026 12:30:00 GMT"}}, 200},
		{"if-match", http.Header{"If-Match": {`"etag-uid-anna"`}}, 200},
		{"if-match stale", http.Header{"If-Match": {`"old"`}}, 412},
		{"if-match weak", http.Header{"If-Match": {`W/"etag-uid-anna"`}}, 412},
	}
	for _, tt := range conds {
		resp, body := f.do(t, "anna", http.MethodGet, path, "", tt.header)
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		if tt.want != 200 && body != "" {
			t.Errorf("GET %s has a body %q", tt.name, body)
		}
	}
}

func TestGzip(t *testing.T) {
	f := newFixture(t)
	const book = "/dav/anna/books/colleagues/"
	list := `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontentlength/></D:prop></D:propfind>`
	plainResp, plain := f.do(t, "anna", "PROPFIND", book, list, http.Header{"Depth": {"1"}})
	if plainResp.StatusCode != http.StatusMultiStatus || plainResp.Header.Get("Content-Encoding") != "" || len(plain) < 1024 {
		t.Fatalf("PROPFIND without Accept-Encoding = %d, %q, %d bytes", plainResp.StatusCode, plainResp.Header.Get("Content-Encoding"), len(plain))
	}
	tests := []struct {
		name, method, path, body, depth, accept string
		gzipped                                 bool
	}{
		{"gzip", "PROPFIND", book, list, "1", "gzip", true},
		{"list", "PROPFIND", book, list, "1", "deflate, gzip;q=0.5, br", true},
		{"star", "PROPFIND", book, list, "1", "*", true},
		{"refused", "PROPFIND", book, list, "1", "gzip;q=0, identity", false},
		{"other", "PROPFIND", book, list, "1", "br", false},
		{"small", "PROPFIND", book, list, "0", "gzip", false},
		{"small card", http.MethodGet, book + "uid-anna.vcf", "", "", "gzip", false},
		{"not modified", http.MethodGet, book + "uid-anna.vcf", "", "", "gzip", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{"Accept-Encoding": {tt.accept}}
			if tt.depth != "" {
				hdr.Set("Depth", tt.depth)
			}
			if tt.name == "not modified" {
				hdr.Set("If-None-Match", `"etag-uid-anna"`)
			}
			resp, body := f.do(t, "anna", tt.method, tt.path, tt.body, hdr)
			if resp.StatusCode >= 400 {
				t.Fatalf("%s %s = %d", tt.method, tt.path, resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tt.gzipped {
				t.Fatalf("%s %s Accept-Encoding %q: gzipped %v, want %v", tt.method, tt.path, tt.accept, got, tt.gzipped)
			}
			if !slices.Contains(resp.Header.Values("Vary"), "Accept-Encoding") {
				t.Errorf("%s %s Vary = %q, want Accept-Encoding", tt.method, tt.path, resp.Header.Values("Vary"))
			}
			if !tt.gzipped {
				if resp.StatusCode == http.StatusOK && resp.ContentLength != int64(len(body)) {
					t.Errorf("%s %s Content-Length = %d, body %d bytes", tt.method, tt.path, resp.ContentLength, len(body))
				}
				return
			}
			zr, err := gzip.NewReader(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != plain {
				t.Errorf("gunzipped answer differs from the plain one")
			}
			if len(body) >= len(plain) {
				t.Errorf("gzipped answer is %d bytes, plain %d", len(body), len(plain))
			}
			// Bytes on the wire count more than the compressor's time.
			if fast := gzipSize(t, plain, gzip.BestSpeed); len(body) >= fast {
				t.Errorf("gzipped answer is %d bytes, gzip.BestSpeed makes %d", len(body), fast)
			}
		})
	}
}

// gzipSize returns the size of s gzipped at level.
func gzipSize(t *testing.T, s string, level int) int {
	t.Helper()
	var b strings.Builder
	zw, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Len()
}

// TestQueryLimit checks the 507 marker of a truncated addressbook-query
// (RFC 6352 section 8.6.1), which go-webdav's client does not accept.
func TestQueryLimit(t *testing.T) {
	f := newFixture(t)
	body := `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>
<C:filter><C:prop-filter name="FN"><C:text-match>a</C:text-match></C:prop-filter></C:filter><C:limit><C:nresults>1</C:nresults></C:limit></C:addressbook-query>`
	for _, tt := range []struct {
		depth string
		want  []string
	}{
		{"1", []string{"/dav/anna/books/colleagues/J%C3%B6rg%20%C3%9C%201.vcf", "/dav/anna/books/colleagues/ 507"}},
		{"", []string{"/dav/anna/books/colleagues/J%C3%B6rg%20%C3%9C%201.vcf", "/dav/anna/books/colleagues/ 507"}},
		{"0", nil},
	} {
		hdr := http.Header{}
		if tt.depth != "" {
			hdr.Set("Depth", tt.depth)
		}
		resp, got := f.do(t, "anna", "REPORT", "/dav/anna/books/colleagues/", body, hdr)
		if resp.StatusCode != http.StatusMultiStatus {
			t.Fatalf("query Depth %q = %d: %s", tt.depth, resp.StatusCode, got)
		}
		var list []string
		for _, r := range parseMultistatus(t, []byte(got)).Responses {
			if r.Status != "" {
				list = append(list, r.Href+" "+strings.Fields(r.Status)[1])
			} else {
				list = append(list, r.Href)
			}
		}
		if !slices.Equal(list, tt.want) {
			t.Errorf("query with limit 1, Depth %q = %q, want %q", tt.depth, list, tt.want)
		}
	}
}

func TestMultiGetHrefForms(t *testing.T) {
	f := newFixture(t)
	body := `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>
<D:href>` + f.srv.URL + `/dav/anna/books/colleagues/uid-anna.vcf</D:href>
<D:href>/dav/anna/books/colleagues/J%c3%b6rg%20%c3%9c%201.vcf</D:href>
<D:href>/dav/anna/books/colleagues/../partners/uid-pat.vcf</D:href>
<D:href>/dav/anna/books/partners/uid-pat.vcf</D:href>
<D:href>/dav/anna/books/partners/uid-pat.vcf</D:href>
<D:href>/dav/anna/books/colleagues/</D:href>
<D:href>/dav/anna/books/colleagues/a&amp;b.vcf</D:href>
<D:href>%zz</D:href>
</C:addressbook-multiget>`
	resp, got := f.do(t, "anna", "REPORT", "/dav/anna/books/colleagues/", body, nil)
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("multiget = %d: %s", resp.StatusCode, got)
	}
	var list []string
	for _, r := range parseMultistatus(t, []byte(got)).Responses {
		list = append(list, r.Href+" "+r.etag())
	}
	want := []string{
		"/dav/anna/books/colleagues/uid-anna.vcf etag-uid-anna",
		"/dav/anna/books/colleagues/J%C3%B6rg%20%C3%9C%201.vcf etag-Jörg_Ü_1",
		"/dav/anna/books/colleagues/../partners/uid-pat.vcf ",
		"/dav/anna/books/partners/uid-pat.vcf etag-uid-pat",
		"/dav/anna/books/partners/uid-pat.vcf etag-uid-pat",
		"/dav/anna/books/colleagues/ ",
		"/dav/anna/books/colleagues/a&b.vcf ",
		"%zz ",
	}
	if !slices.Equal(list, want) {
		t.Errorf("multiget = %q, want %q", list, want)
	}
}

// counter returns the value of a counter in reg with the given labels.
func counter(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	total := 0.0
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// TestMetricsAndCache checks the request counters and that an unchanged
// poll renders nothing: the second multiget is served from the cache,
// and PROPFIND and sync-collection of an unchanged book look nothing up.
func TestMetricsAndCache(t *testing.T) {
	hist := syncHistory(t)
	h := newSyncHandler(t, hist, nil)
	reg := prometheus.NewRegistry()
	for _, c := range h.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	multiget := `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>
<D:href>/dav/anna/books/colleagues/a.vcf</D:href><D:href>/dav/anna/books/colleagues/b.vcf</D:href></C:addressbook-multiget>`
	lookups := func() (hits, misses float64) {
		return counter(t, reg, "dirbook_carddav_card_cache_lookups_total", map[string]string{"result": "hit"}),
			counter(t, reg, "dirbook_carddav_card_cache_lookups_total", map[string]string{"result": "miss"})
	}
	serve(t, h, "anna", "REPORT", "/dav/anna/books/colleagues/", multiget, nil)
	if hits, misses := lookups(); hits != 0 || misses != 2 {
		t.Errorf("first multiget: %v hits, %v misses, want 0, 2", hits, misses)
	}
	serve(t, h, "anna", "REPORT", "/dav/anna/books/colleagues/", multiget, nil)
	if hits, misses := lookups(); hits != 2 || misses != 2 {
		t.Errorf("second multiget: %v hits, %v misses, want 2, 2", hits, misses)
	}
	// A publish that leaves a and b alone keeps their renderings.
	hist.publish(put("colleagues", "z", "Zora Zett"))
	serve(t, h, "anna", "REPORT", "/dav/anna/books/colleagues/", multiget, nil)
	if hits, misses := lookups(); hits != 4 || misses != 2 {
		t.Errorf("multiget after a publish: %v hits, %v misses, want 4, 2", hits, misses)
	}
	serve(t, h, "anna", "PROPFIND", "/dav/anna/books/colleagues/", `<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>`, http.Header{"Depth": {"0"}})
	syncRequest(t, h, "colleagues", token("colleagues", 6), 0)
	serve(t, h, "anna", "PROPFIND", "/dav/anna/books/colleagues/", `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`, http.Header{"Depth": {"1"}})
	if hits, misses := lookups(); hits != 4 || misses != 2 {
		t.Errorf("unchanged polls looked up cards: %v hits, %v misses, want 4, 2", hits, misses)
	}
	serve(t, h, "", "PROPFIND", "/dav/", "", nil)
	serve(t, h, "anna", "PUT", "/dav/anna/books/colleagues/a.vcf", "x", nil)

	for _, tt := range []struct {
		kind, code string
		want       float64
	}{
		{"multiget", "2xx", 3},
		{"propfind_book", "2xx", 2},
		{"sync_collection", "2xx", 1},
		{"unauthorized", "4xx", 1},
		{"write_refused", "4xx", 1},
	} {
		if got := counter(t, reg, "dirbook_carddav_requests_total", map[string]string{"kind": tt.kind, "code": tt.code}); got != tt.want {
			t.Errorf("requests_total{kind=%q,code=%q} = %v, want %v", tt.kind, tt.code, got, tt.want)
		}
	}
	if got := counter(t, reg, "dirbook_carddav_request_duration_seconds", map[string]string{"kind": "multiget"}); got != 3 {
		t.Errorf("request_duration_seconds{kind=multiget} count = %v, want 3", got)
	}
	if got := counter(t, reg, "dirbook_carddav_response_bytes_total", map[string]string{"kind": "multiget"}); got < 500 {
		t.Errorf("response_bytes_total{kind=multiget} = %v, want the bytes of three answers", got)
	}
}

// TestCacheBudget fills a small cache with more than it holds: answers
// stay right and the cache stays within its budget.
func TestCacheBudget(t *testing.T) {
	rev := bigRevision(300, 0)
	h := carddav.NewHandler(&memStore{rev: rev}, newAppPasswords(t), &carddav.Options{Logger: discardLogger(), CardCacheBytes: 8 << 10})
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collectors()...)
	body := multigetAll(rev.Book("colleagues").UIDs)
	for range 2 {
		rec := serve(t, h, "anna", "REPORT", "/dav/anna/books/colleagues/", body, nil)
		ms := parseMultistatus(t, rec.Body.Bytes())
		for i, r := range ms.Responses {
			want := rev.Book("colleagues").UIDs[i]
			if !strings.Contains(r.Propstats[0].Prop.Data, "\r\nUID:"+want+"\r\n") {
				t.Fatalf("response %d: card %q, want UID %s", i, r.Propstats[0].Prop.Data, want)
			}
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "dirbook_carddav_card_cache_bytes" {
			if v := mf.GetMetric()[0].GetGauge().GetValue(); v > 8<<10 || v == 0 {
				t.Errorf("card_cache_bytes = %v, want between 1 and %d", v, 8<<10)
			}
		}
	}
	// Without a cache, the same answer.
	nc := carddav.NewHandler(&memStore{rev: rev}, newAppPasswords(t), &carddav.Options{Logger: discardLogger(), CardCacheBytes: -1})
	a := serve(t, nc, "anna", "REPORT", "/dav/anna/books/colleagues/", body, nil)
	b := serve(t, h, "anna", "REPORT", "/dav/anna/books/colleagues/", body, nil)
	if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
		t.Errorf("answers with and without a cache differ")
	}
}
