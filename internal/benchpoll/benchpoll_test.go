package main

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSafeLDIF(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"Anna Schmidt", true},
		{"Müller", false},
		{"", false},
		{" leading space", false},
		{"trailing space ", false},
		{":colon", false},
		{"<angle", false},
		{"two\nlines", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := safeLDIF(tc.in); got != tc.want {
				t.Errorf("safeLDIF(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestASCIILower(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Anna", "anna"},
		{"Müller", "mueller"},
		{"Øyvind", "oeyvind"},
		{"Yılmaz", "yilmaz"},
		{"García", "garcia"},
		{"Zoë", "zoe"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := asciiLower(tc.in); got != tc.want {
				t.Errorf("asciiLower(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWritePerson(t *testing.T) {
	var sb strings.Builder
	w := bufio.NewWriter(&sb)
	writePerson(w, 17, []string{"AAAA"})
	w.Flush()
	got := sb.String()
	for _, want := range []string{
		"dn: uid=p0000017,ou=people,dc=bench,dc=example\n",
		"uid: p0000017\n",
		"mail: ",
		"entryUUID: 00000011-",
		"jpegPhoto:: AAAA\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("writePerson(17) lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(got, "\n\n") {
		t.Errorf("writePerson(17) does not end the entry with an empty line:\n%q", got)
	}
}

func TestQuantile(t *testing.T) {
	r := pollResult{}
	for i := 1; i <= 100; i++ {
		r.lat = append(r.lat, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 50 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{0, time.Millisecond},
	} {
		if got := r.quantile(tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := (pollResult{}).quantile(0.99); got != 0 {
		t.Errorf("quantile of no answers = %v, want 0", got)
	}
}

func TestCardHrefs(t *testing.T) {
	var ms multistatus
	for _, h := range []string{"/dav/u/books/b/", "/dav/u/books/b/a.vcf", "/dav/u/books/b/c%20d.vcf"} {
		ms.Responses = append(ms.Responses, msResponse{Href: h})
	}
	got := ms.cardHrefs("/dav/u/books/b/")
	if strings.Join(got, " ") != "/dav/u/books/b/a.vcf /dav/u/books/b/c%20d.vcf" {
		t.Errorf("cardHrefs = %q, want the two cards", got)
	}
	if name := unescapeName(got[1]); name != "c d.vcf" {
		t.Errorf("unescapeName(%q) = %q, want %q", got[1], name, "c d.vcf")
	}
}

func TestCollectCards(t *testing.T) {
	const answer = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:response><D:href>/dav/bench/books/people/a%20b.vcf</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag><C:address-data>BEGIN:VCARD&#13;
END:VCARD&#13;
</C:address-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:response><D:href>/dav/bench/books/people/gone.vcf</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response></D:multistatus>`
	for _, tc := range []struct {
		name    string
		answers []string
		want    map[string]string
		err     bool
	}{
		{"none", nil, map[string]string{}, false},
		{"one card, one 404", []string{answer}, map[string]string{"a b.vcf": "BEGIN:VCARD\r\nEND:VCARD\r\n"}, false},
		{"not XML", []string{"<D:multistatus"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bodies [][]byte
			for _, a := range tc.answers {
				bodies = append(bodies, []byte(a))
			}
			got, err := collectCards(bodies)
			if (err != nil) != tc.err {
				t.Fatalf("collectCards error %v, want error %v", err, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("collectCards = %q, want %q", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("collectCards()[%q] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestGzipFloor(t *testing.T) {
	cards := map[string]string{}
	for i := range 25 {
		cards[fmt.Sprintf("%02d.vcf", i)] = fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%d\r\nFN:Person %d\r\nEND:VCARD\r\n", i, i)
	}
	one := gzipFloor(cards, 25)
	three := gzipFloor(cards, 10)
	raw := 0
	for _, c := range cards {
		raw += len(c)
	}
	if one <= 0 || one >= int64(raw) {
		t.Errorf("gzipFloor of %d bytes in one batch = %d, want less and more than 0", raw, one)
	}
	if three <= one {
		t.Errorf("gzipFloor in batches of 10 = %d, want more than in one batch (%d): each batch compresses alone", three, one)
	}
}
