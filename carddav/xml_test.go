package carddav

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dirbook/dirbook"
)

// checkHrefEscape compares hrefEscape with url.URL.EscapedPath, then
// XML-escaped.
func checkHrefEscape(t *testing.T, s string) {
	t.Helper()
	var b strings.Builder
	hrefEscape(&b, s)
	want := escapeString((&url.URL{Path: s}).EscapedPath())
	if s == "*" {
		want = "%2A" // EscapedPath special-cases a lone "*"
	}
	if b.String() != want {
		t.Errorf("hrefEscape(%q) = %q, want %q", s, b.String(), want)
	}
}

func TestHrefEscape(t *testing.T) {
	for _, s := range []string{"", "a", "Jörg Ü 1.vcf", "a%252Fb", "?#&=;,+$:@!'()*", "tab\there", "\x00\x7f\xff", "..", "a/b/c"} {
		checkHrefEscape(t, s)
	}
}

func FuzzHrefEscape(f *testing.F) {
	f.Add("Jörg Ü 1.vcf")
	f.Add("?#&=;,+$:@!'()*")
	f.Fuzz(checkHrefEscape)
}

// checkEscape checks that escapeTo's output is character data that an
// XML parser reads back as the input, with what XML cannot hold replaced.
func checkEscape(t *testing.T, s string) {
	t.Helper()
	var b strings.Builder
	escapeTo(&b, s, true)
	var got struct {
		Text string `xml:",chardata"`
	}
	if err := xml.Unmarshal([]byte("<a>"+b.String()+"</a>"), &got); err != nil {
		t.Fatalf("escapeTo(%q) = %q: not XML: %v", s, b.String(), err)
	}
	var want strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			r = utf8.RuneError
		}
		want.WriteRune(r)
	}
	// ToValidUTF8 merges a run of invalid bytes into one U+FFFD;
	// escapeTo replaces each; compare without the replacements.
	norm := func(s string) string { return strings.ReplaceAll(s, "\uFFFD", "") }
	if norm(got.Text) != norm(want.String()) {
		t.Errorf("escapeTo(%q) reads back as %q, want %q", s, got.Text, want.String())
	}
}

func TestEscape(t *testing.T) {
	for _, s := range []string{"", "a&b<c>d", "BEGIN:VCARD\r\nFN:x\r\n", "\x00\x01\x1f", "\xff\xfe", "\uFFFE\uFFFF", "]]>", "Jörg"} {
		checkEscape(t, s)
	}
}

// TestEscapeExact checks escapeTo's output byte for byte, around the
// runs of bytes it copies as they are.
func TestEscapeExact(t *testing.T) {
	tests := []struct {
		name, in string
		cr       bool
		want     string
	}{
		{"empty", "", true, ""},
		{"plain", "FN:Anna Schmidt\tx\n~\x7f", true, "FN:Anna Schmidt\tx\n~\x7f"},
		{"vcard", "BEGIN:VCARD\r\nFN:a\r\n", true, "BEGIN:VCARD&#13;\nFN:a&#13;\n"},
		{"cr kept", "a\r\nb", false, "a\r\nb"},
		{"markup", "&a<b>c&", true, "&amp;a&lt;b&gt;c&amp;"},
		{"first and last", "<x>", true, "&lt;x&gt;"},
		{"utf-8", "Jürgen Øyvind 日本", true, "Jürgen Øyvind 日本"},
		{"controls", "a\x00b\x1fc", true, "a\uFFFDb\uFFFDc"},
		{"invalid utf-8", "a\xffb\xc3", true, "a\uFFFDb\uFFFD"},
		{"noncharacters", "\uFFFEx\uFFFF", true, "\uFFFDx\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			escapeTo(&b, tt.in, tt.cr)
			if got := b.String(); got != tt.want {
				t.Errorf("escapeTo(%q, %v) = %q, want %q", tt.in, tt.cr, got, tt.want)
			}
		})
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("BEGIN:VCARD\r\nFN:a&b\r\n")
	f.Add("\x00\xff\uFFFE")
	f.Fuzz(checkEscape)
}

func TestSyncTokenRoundTrip(t *testing.T) {
	tests := []syncToken{
		{store: "3f2a9c10", book: "colleagues", rev: 7},
		{store: "", book: "a/b c", rev: 0},
		{store: "s", book: "b", rev: 9, mode: modeFull, afterRev: 3, afterUID: "Jörg Ü/1%"},
		{store: "s", book: "b", rev: 18446744073709551615, mode: modeDelta, afterRev: 1, afterUID: "x"},
	}
	for _, tt := range tests {
		s := tt.String()
		got, ok := parseSyncToken(s)
		if !ok || got != tt {
			t.Errorf("parseSyncToken(%q) = %+v, %v, want %+v, true", s, got, ok, tt)
		}
	}
}

func FuzzSyncToken(f *testing.F) {
	f.Add("s", "b", uint64(7), "", uint64(0), "")
	f.Add("", "a/b", uint64(9), modeFull, uint64(3), "u%2F")
	f.Fuzz(func(t *testing.T, store, book string, rev uint64, mode string, afterRev uint64, uid string) {
		tok := syncToken{store: store, book: book, rev: rev}
		if mode != "" && uid != "" {
			tok.mode, tok.afterRev, tok.afterUID = modeFull, afterRev, uid
		}
		s := tok.String()
		if got, ok := parseSyncToken(s); !ok || got != tok {
			t.Errorf("parseSyncToken(%q) = %+v, %v, want %+v", s, got, ok, tok)
		}
		// Any string: parsing never panics, and what parses is canonical.
		raw := store + book + mode + uid
		if got, ok := parseSyncToken(raw); ok && got.String() != raw {
			t.Errorf("parseSyncToken(%q) accepted a non-canonical form", raw)
		}
	})
}

func TestBookIndexStart(t *testing.T) {
	bs := &dirbook.BookState{
		Cards: map[string]*dirbook.StoredCard{
			"a": {Revision: 1}, "b": {Revision: 3}, "c": {Revision: 3}, "d": {Revision: 5},
		},
		Removed: map[string]uint64{"x": 3, "y": 4, "d": 2}, // d came back: not a removal
	}
	ix := newBookIndex(bs)
	var order []string
	for _, ch := range ix.changes {
		order = append(order, ch.uid)
	}
	if got, want := strings.Join(order, ","), "a,b,c,x,y,d"; got != want {
		t.Fatalf("index order = %s, want %s", got, want)
	}
	tests := []struct {
		rev  uint64
		uid  string
		want int
	}{
		{0, "", 0}, {1, "", 1}, {2, "", 1}, {3, "", 4}, {3, "a", 1}, {3, "b", 2}, {3, "bz", 2}, {3, "c", 3}, {3, "x", 4}, {5, "", 6}, {9, "", 6},
	}
	for _, tt := range tests {
		if got := ix.start(tt.rev, tt.uid); got != tt.want {
			t.Errorf("start(%d, %q) = %d, want %d", tt.rev, tt.uid, got, tt.want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{"gzip"}, true},
		{[]string{"GZIP"}, true},
		{[]string{"deflate, gzip;q=1.0, *;q=0.5"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.000"}, false},
		{[]string{"br", "x-gzip"}, true},
		{[]string{"identity"}, false},
		{[]string{"*"}, true},
		{[]string{"gzipx"}, false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header["Accept-Encoding"] = tt.header
		if got := acceptsGzip(r); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestMatchETag(t *testing.T) {
	tests := []struct {
		list string
		weak bool
		want bool
	}{
		{`"a"`, true, true},
		{`"b", "a"`, false, true},
		{`W/"a"`, true, true},
		{`W/"a"`, false, false},
		{`*`, false, true},
		{`"ab"`, true, false},
		{`a`, true, false},
	}
	for _, tt := range tests {
		if got := matchETag(tt.list, `"a"`, tt.weak); got != tt.want {
			t.Errorf("matchETag(%q, weak %v) = %v, want %v", tt.list, tt.weak, got, tt.want)
		}
	}
}

func TestHasDotSegment(t *testing.T) {
	for p, want := range map[string]bool{
		"/dav/anna/":             false,
		"/dav/../x":              true,
		"/dav/./x":               true,
		"/dav/..":                true,
		"/dav/...vcf":            false,
		"/dav/books/..x/":        false,
		"/dav/anna/books/b/.":    true,
		"..":                     true,
		"/dav/anna/books/b/.vcf": false,
	} {
		if got := hasDotSegment(p); got != want {
			t.Errorf("hasDotSegment(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestParseReportLimits(t *testing.T) {
	deep := strings.Repeat("<a>", 70) + strings.Repeat("</a>", 70)
	tests := []struct {
		name string
		body string
		want error
	}{
		{"deep", `<D:sync-collection xmlns:D="DAV:">` + deep + `</D:sync-collection>`, errTooDeep},
		{"hrefs", `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">` + strings.Repeat("<D:href>x</D:href>", 4) + `</C:addressbook-multiget>`, errTooManyHrefs},
		{"just enough", `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">` + strings.Repeat("<D:href>x</D:href>", 3) + `</C:addressbook-multiget>`, nil},
		{"version", `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data version="5.0"/></D:prop></C:addressbook-multiget>`, errUnsupportedData},
	}
	for _, tt := range tests {
		_, err := parseReport(strings.NewReader(tt.body), 64, 3)
		if !errors.Is(err, tt.want) {
			t.Errorf("parseReport(%s) error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzParseRequest feeds arbitrary bodies to both parsers: they return a
// request or an error, and never more hrefs or properties than allowed.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:sync-token/></D:include></D:propfind>`,
		`<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:limit><D:nresults>5</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>`,
		`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><C:address-data version="4.0"><C:prop name="FN"/></C:address-data></D:prop><D:href>/a.vcf</D:href></C:addressbook-multiget>`,
		`<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><C:filter test="allof"><C:prop-filter name="TEL"><C:text-match negate-condition="yes" match-type="ends-with">1</C:text-match><C:param-filter name="TYPE"><C:is-not-defined/></C:param-filter></C:prop-filter></C:filter></C:addressbook-query>`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if req, err := parsePropfind(strings.NewReader(body), 16); err == nil && len(req.names) > maxProps {
			t.Errorf("parsePropfind: %d names", len(req.names))
		}
		rep, err := parseReport(strings.NewReader(body), 16, 5)
		if err != nil {
			return
		}
		if len(rep.hrefs) > 5 || len(rep.props.names) > maxProps {
			t.Errorf("parseReport: %d hrefs, %d names", len(rep.hrefs), len(rep.props.names))
		}
	})
}

// BenchmarkEscapeCard escapes a vCard with a photo as address-data.
func BenchmarkEscapeCard(b *testing.B) {
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL;TYPE=work:jürgen.müller@example.com\r\nFN:Jürgen Müller\r\nN:Müller;Jürgen;;;\r\n" +
		"ORG:Nordlicht GmbH & Co. KG;Engineering\r\nPHOTO;ENCODING=b;TYPE=JPEG:" + strings.Repeat("/9j/2wCEAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsK", 50) +
		"\r\nTEL;TYPE=work;TYPE=voice:+493020000000\r\nUID:00000000-0000-4000-8000-000000000000\r\nEND:VCARD\r\n"
	var sb strings.Builder
	b.SetBytes(int64(len(card)))
	for b.Loop() {
		sb.Reset()
		escapeTo(&sb, card, true)
	}
}
