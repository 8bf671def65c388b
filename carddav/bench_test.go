package carddav_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/carddav"
)

// bigRevision has one book of n cards with the usual company fields.
func bigRevision(n int, photo int) *dirbook.Revision {
	var cards []*dirbook.StoredCard
	for i := range n {
		props := []dirbook.Prop{
			{Field: "org", Name: "ORG", Values: []string{"Nordlicht GmbH", "Engineering"}},
			{Field: "title", Name: "TITLE", Values: []string{"Engineer"}},
			{Field: "email", Name: "EMAIL", Types: []string{"work"}, Values: []string{fmt.Sprintf("person%d@example.com", i)}},
			{Field: "work_phone", Name: "TEL", Types: []string{"work", "voice"}, Values: []string{fmt.Sprintf("+4930%07d", i)}},
			{Field: "mobile", Name: "TEL", Types: []string{"cell"}, Values: []string{fmt.Sprintf("+49172%07d", i)}},
		}
		if photo > 0 {
			props = append(props, dirbook.Prop{Field: "photo", Name: "PHOTO", MediaType: "image/jpeg", Values: []string{strings.Repeat("\xff", photo)}})
		}
		cards = append(cards, storedCard(fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), fmt.Sprintf("Person Number%d", i), props...))
	}
	return &dirbook.Revision{
		Number: 1,
		Time:   time.Now(),
		Books:  []*dirbook.BookState{bookState("colleagues", "Colleagues", cards...)},
		Access: map[string][]string{"anna": {"colleagues"}},
	}
}

func benchHandler(b *testing.B, photo int) http.Handler {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	return carddav.NewHandler(&memStore{rev: bigRevision(1000, photo)}, newAppPasswords(b), &carddav.Options{Logger: logger})
}

func benchRequest(b *testing.B, h http.Handler, method, path, body string, header http.Header, want int) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.SetBasicAuth("anna", passwords["anna"])
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("%s %s = %d, want %d", method, path, rec.Code, want)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

func BenchmarkGet(b *testing.B) {
	h := benchHandler(b, 0)
	benchRequest(b, h, http.MethodGet, "/dav/anna/books/colleagues/00000500-0000-4000-8000-000000000000.vcf", "", nil, http.StatusOK)
}

// BenchmarkPropfindBook lists a book of 1,000 cards with their ETags, as a
// client does before fetching what changed.
func BenchmarkPropfindBook(b *testing.B) {
	body := `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>`
	for _, photo := range []int{0, 8 << 10} {
		b.Run(fmt.Sprintf("photo=%d", photo), func(b *testing.B) {
			h := benchHandler(b, photo)
			benchRequest(b, h, "PROPFIND", "/dav/anna/books/colleagues/", body,
				http.Header{"Depth": {"1"}, "Content-Type": {"application/xml"}}, http.StatusMultiStatus)
		})
	}
}

// BenchmarkMultiGet fetches 100 cards in one addressbook-multiget.
func BenchmarkMultiGet(b *testing.B) {
	var hrefs strings.Builder
	for i := range 100 {
		fmt.Fprintf(&hrefs, "<D:href>/dav/anna/books/colleagues/%08d-0000-4000-8000-000000000000.vcf</D:href>", i*10)
	}
	body := `<?xml version="1.0" encoding="utf-8"?><C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>` + hrefs.String() + `</C:addressbook-multiget>`
	h := benchHandler(b, 8<<10)
	benchRequest(b, h, "REPORT", "/dav/anna/books/colleagues/", body, http.Header{"Content-Type": {"application/xml"}}, http.StatusMultiStatus)
}

// FuzzPropfindRoot sends arbitrary PROPFIND bodies to the root, which
// dirbook answers itself: the answer is 400 or a well-formed multistatus.
func FuzzPropfindRoot(f *testing.F) {
	for _, seed := range []string{
		"",
		`<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`,
		`<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`,
		`<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:current-user-principal/><C:addressbook-home-set/></D:prop></D:propfind>`,
		`<D:propfind xmlns:D="DAV:"><D:prop><x:a xmlns:x="&quot;&lt;"/><b/></D:prop></D:propfind>`,
	} {
		f.Add(seed)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := carddav.NewHandler(&memStore{rev: testRevision()}, newAppPasswords(f), &carddav.Options{Logger: logger})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("PROPFIND", "/dav/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/xml")
		req.SetBasicAuth("anna", passwords["anna"])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest:
		case http.StatusMultiStatus:
			var ms struct {
				XMLName   xml.Name `xml:"DAV: multistatus"`
				Responses []struct {
					Href string `xml:"href"`
				} `xml:"response"`
			}
			if err := xml.Unmarshal(rec.Body.Bytes(), &ms); err != nil {
				t.Fatalf("PROPFIND / with %q: malformed answer: %v\n%s", body, err, rec.Body)
			}
			if len(ms.Responses) != 1 || ms.Responses[0].Href != "/dav/" {
				t.Fatalf("PROPFIND / with %q: responses %+v, want one for /dav/", body, ms.Responses)
			}
		default:
			t.Fatalf("PROPFIND / with %q = %d, want 207 or 400", body, rec.Code)
		}
	})
}
