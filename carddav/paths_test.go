package carddav

import (
	"net/url"
	"testing"
)

func TestParse(t *testing.T) {
	p := paths{prefix: "/dav"}
	tests := []struct {
		path string
		want target
		ok   bool
	}{
		{"/dav", target{kind: kindRoot}, true},
		{"/dav/", target{kind: kindRoot}, true},
		{"/dav/anna/", target{kind: kindPrincipal, user: "anna"}, true},
		{"/dav/anna", target{kind: kindPrincipal, user: "anna"}, true},
		{"/dav/anna/books/", target{kind: kindHomeSet, user: "anna"}, true},
		{"/dav/anna/books/colleagues/", target{kind: kindBook, user: "anna", book: "colleagues"}, true},
		{"/dav/anna/books/colleagues", target{kind: kindBook, user: "anna", book: "colleagues"}, true},
		{"/dav/anna/books/colleagues/x.vcf", target{kind: kindObject, user: "anna", book: "colleagues", uid: "x"}, true},
		{"/dav/anna/books/colleagues/Jörg Ü.vcf", target{kind: kindObject, user: "anna", book: "colleagues", uid: "Jörg Ü"}, true},
		{"/dav/anna/books/colleagues/a%2Fb%25c.vcf", target{kind: kindObject, user: "anna", book: "colleagues", uid: "a/b%c"}, true},
		{"/dav/a%2Fb/", target{kind: kindPrincipal, user: "a/b"}, true},
		{"/dav/anna/books/colleagues/x.vcf/", target{}, false},
		{"/dav/anna/books/colleagues/x", target{}, false},
		{"/dav/anna/books/colleagues/.vcf", target{}, false},
		{"/dav/anna/books/colleagues/a%41.vcf", target{}, false}, // not canonical
		{"/dav/anna/books/colleagues/a%zz.vcf", target{}, false},
		{"/dav/anna/books/colleagues/x.vcf/y", target{}, false},
		{"/dav/anna/contacts/", target{}, false},
		{"/dav//books/", target{}, false},
		{"/dav/anna//colleagues/", target{}, false},
		{"/davx/anna/", target{}, false},
		{"/", target{}, false},
		{"", target{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := p.parse(tt.path)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parse(%q) = %+v, %v, want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseRootPrefix(t *testing.T) {
	p := paths{prefix: ""}
	tests := []struct {
		path string
		want target
		ok   bool
	}{
		{"/", target{kind: kindRoot}, true},
		{"/anna/", target{kind: kindPrincipal, user: "anna"}, true},
		{"/anna/books/b/u.vcf", target{kind: kindObject, user: "anna", book: "b", uid: "u"}, true},
		{"", target{}, false},
	}
	for _, tt := range tests {
		got, ok := p.parse(tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parse(%q) = %+v, %v, want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

// roundTrip checks that the object path of (login, book, uid) parses back
// to the same names, also after the trip through an href's escaping.
func roundTrip(t *testing.T, login, book, uid string) {
	t.Helper()
	if login == "" || book == "" || uid == "" {
		return
	}
	p := paths{prefix: "/dav"}
	path := p.object(login, book, uid)
	want := target{kind: kindObject, user: login, book: book, uid: uid}
	if got, ok := p.parse(path); got != want || !ok {
		t.Errorf("parse(object(%q, %q, %q)) = %+v, %v, want %+v, true", login, book, uid, got, ok, want)
	}
	href := (&url.URL{Path: path}).String()
	u, err := url.Parse(href)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", href, err)
	}
	if u.Path != path {
		t.Errorf("href %q decodes to %q, want %q", href, u.Path, path)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, uid := range []string{"x", "Jörg Ü 1", "a/b", "%", "%2F", "a%25b", "..", ".", "?#&=;,+", "tab\there", "\x00"} {
		roundTrip(t, "anna", "colleagues", uid)
	}
	roundTrip(t, "a/b@example.com", "my book", "u")
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("anna", "colleagues", "Jörg Ü 1")
	f.Add("a/b", "%", "a%2Fb")
	f.Add("x", "y", "..")
	f.Fuzz(roundTrip)
}
