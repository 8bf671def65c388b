package carddav_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
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
			props = append(props, dirbook.Prop{Field: "photo", Name: "PHOTO", MediaType: "image/jpeg", Values: []string{photoBytes(i, photo)}})
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

// photoBytes returns n bytes that compress as badly as a JPEG does.
func photoBytes(seed, n int) string {
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return string(b)
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

// discardWriter is a ResponseWriter that counts the body and keeps none
// of it, so a benchmark measures the handler, not a buffer.
type discardWriter struct {
	header http.Header
	status int
	n      int64
}

func newDiscardWriter() *discardWriter { return &discardWriter{header: http.Header{}} }

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += int64(len(p))
	return len(p), nil
}

// preparedRequest is a request as anna, parsed once and sent many times.
type preparedRequest struct {
	base *http.Request
	body string
}

func newPreparedRequest(method, path, body string, header http.Header) *preparedRequest {
	req := httptest.NewRequest(method, path, nil)
	req.SetBasicAuth("anna", passwords["anna"])
	for k, v := range header {
		req.Header[k] = v
	}
	req.ContentLength = int64(len(body))
	return &preparedRequest{base: req, body: body}
}

// serve sends the request to h and fails unless it gets want. The
// request is a shallow copy: the handler changes none of what it shares.
func (br *preparedRequest) serve(b *testing.B, h http.Handler, want int) *discardWriter {
	req := *br.base
	req.Body = io.NopCloser(strings.NewReader(br.body))
	w := newDiscardWriter()
	h.ServeHTTP(w, &req)
	if w.status != want {
		b.Fatalf("%s %s = %d, want %d", req.Method, req.URL.Path, w.status, want)
	}
	return w
}

// benchServe sends one request as anna and fails unless it gets want.
func benchServe(b *testing.B, h http.Handler, method, path, body string, header http.Header, want int) *discardWriter {
	return newPreparedRequest(method, path, body, header).serve(b, h, want)
}

// bookHandler serves a revision of one book of n cards, with a
// photo of the given size in each card, under a fixed store ID.
func bookHandler(b *testing.B, n, photo int) (*carddav.Handler, *dirbook.Revision) {
	b.Helper()
	rev := bigRevision(n, photo)
	rev.StoreID = testStoreID
	return carddav.NewHandler(&memStore{rev: rev}, newAppPasswords(b), &carddav.Options{Logger: discardLogger()}), rev
}

const pollPropfind = `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>`

// BenchmarkUnchangedPollPropfind is the poll of a phone whose book did
// not change: PROPFIND Depth 0 for getctag and sync-token on a book of
// 10,000 cards, from parallel clients.
func BenchmarkUnchangedPollPropfind(b *testing.B) {
	h, _ := bookHandler(b, 10000, 0)
	req := newPreparedRequest("PROPFIND", "/dav/anna/books/colleagues/", pollPropfind, http.Header{"Depth": {"0"}, "Content-Type": {"application/xml"}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req.serve(b, h, http.StatusMultiStatus)
		}
	})
}

// BenchmarkSyncCollectionCurrent is the poll of a client with a current
// sync token on a book of 10,000 cards: the answer is empty.
func BenchmarkSyncCollectionCurrent(b *testing.B) {
	h, rev := bookHandler(b, 10000, 0)
	tok := fmt.Sprintf("http://dirbook.invalid/ns/sync/%s/colleagues/%d", testStoreID, rev.Book("colleagues").Revision)
	body := `<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>` + tok + `</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
	req := newPreparedRequest("REPORT", "/dav/anna/books/colleagues/", body, http.Header{"Depth": {"0"}, "Content-Type": {"application/xml"}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := req.serve(b, h, http.StatusMultiStatus)
			if w.n > 400 {
				b.Fatalf("sync-collection with the current token answered %d bytes", w.n)
			}
		}
	})
}

// BenchmarkInitialSync is the DAVx5 sequence of a first sync of 10,000
// cards: sync-collection without a token, then one multiget of every
// card. bytes/op (SetBytes) is what goes on the wire.
func BenchmarkInitialSync(b *testing.B) {
	for _, bc := range []struct {
		name     string
		photo    int
		encoding string
	}{
		{"plain", 0, ""},
		{"plain/gzip", 0, "gzip"},
		{"photo", 1200, ""},
		{"photo/gzip", 1200, "gzip"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, rev := bookHandler(b, 10000, bc.photo)
			syncBody := `<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
			multiget := multigetAll(rev.Book("colleagues").UIDs)
			hdr := http.Header{"Depth": {"0"}, "Content-Type": {"application/xml"}}
			if bc.encoding != "" {
				hdr.Set("Accept-Encoding", bc.encoding)
			}
			b.ReportAllocs()
			var wire int64
			for b.Loop() {
				s := benchServe(b, h, "REPORT", "/dav/anna/books/colleagues/", syncBody, hdr, http.StatusMultiStatus)
				m := benchServe(b, h, "REPORT", "/dav/anna/books/colleagues/", multiget, hdr, http.StatusMultiStatus)
				wire = s.n + m.n + int64(len(syncBody)+len(multiget))
			}
			b.SetBytes(wire)
			b.ReportMetric(float64(wire)/1e6, "MB-wire/op")
		})
	}
}

// BenchmarkServe100k serves a book of 100,000 cards (an initial sync,
// a multiget of all of them, unchanged polls) and reports the heap in
// use afterwards, the rendered-card cache at its default budget
// included.
func BenchmarkServe100k(b *testing.B) {
	h, rev := bookHandler(b, 100000, 0)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	revisionHeap := float64(ms.HeapInuse) / (1 << 20)
	uids := rev.Book("colleagues").UIDs
	syncBody := `<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
	hdr := http.Header{"Depth": {"0"}, "Content-Type": {"application/xml"}}
	b.ReportAllocs()
	for b.Loop() {
		benchServe(b, h, "REPORT", "/dav/anna/books/colleagues/", syncBody, hdr, http.StatusMultiStatus)
		for i := 0; i < len(uids); i += 20000 {
			benchServe(b, h, "REPORT", "/dav/anna/books/colleagues/", multigetAll(uids[i:min(i+20000, len(uids))]), hdr, http.StatusMultiStatus)
		}
		benchServe(b, h, "PROPFIND", "/dav/anna/books/colleagues/", pollPropfind, hdr, http.StatusMultiStatus)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(revisionHeap, "MB-heap-revision")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MB-heap-inuse")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "MB-sys")
	runtime.KeepAlive(h)
	runtime.KeepAlive(rev)
}

// BenchmarkLoopbackPoll runs the unchanged poll (PROPFIND getctag and
// sync-token on a book of 10,000 cards) over loopback HTTP from 16
// concurrent clients, side by side with a bare handler that answers a
// fixed 207 body: the ratio of the two is what dirbook costs.
func BenchmarkLoopbackPoll(b *testing.B) {
	h, rev := bookHandler(b, 10000, 0)
	fixed := []byte(`<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:response><D:href>/dav/anna/books/colleagues/</D:href><D:propstat><D:prop><CS:getctag>` +
		fmt.Sprintf("http://dirbook.invalid/ns/sync/%s/colleagues/%d", testStoreID, rev.Book("colleagues").Revision) +
		`</CS:getctag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusMultiStatus)
		_, _ = w.Write(fixed)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"dirbook", h}, {"bare", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("PROPFIND", srv.URL+"/dav/anna/books/colleagues/", strings.NewReader(pollPropfind))
					req.SetBasicAuth("anna", passwords["anna"])
					req.Header.Set("Depth", "0")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusMultiStatus {
						b.Errorf("PROPFIND = %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
