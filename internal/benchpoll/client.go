package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is an address book on one of the servers.
type target struct {
	name     string
	url      string // the book's URL, with a trailing slash
	user     string
	password string
}

// wire counts the bytes a client's connections carry.
type wire struct {
	sent, received atomic.Int64
}

type countingConn struct {
	net.Conn
	w *wire
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.received.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.sent.Add(int64(n))
	return n, err
}

// newClient returns an HTTP client whose connections count into w. It
// never asks for compression by itself: requests that want gzip say so.
func newClient(w *wire, conns int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return countingConn{c, w}, nil
			},
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			DisableCompression:  true,
		},
	}
}

// do sends one WebDAV request and returns the status and the whole
// (decompressed) body.
func do(ctx context.Context, c *http.Client, t *target, method, url, depth, body string, gz bool) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(t.user, t.password)
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	if depth != "" {
		req.Header.Set("Depth", depth)
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
		}
		r = zr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	return resp.StatusCode, data, nil
}

// Request bodies, as DAVx5 (dav4jvm) and iOS send them.
const (
	davx5Capabilities = `<?xml version='1.0' encoding='UTF-8' ?><propfind xmlns="DAV:" xmlns:CARD="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/"><prop><CARD:max-resource-size /><CARD:supported-address-data /><supported-report-set /><CS:getctag /><sync-token /></prop></propfind>`
	syncCollection    = `<?xml version='1.0' encoding='UTF-8' ?><sync-collection xmlns="DAV:"><sync-token>%s</sync-token><sync-level>1</sync-level><prop><getetag /></prop></sync-collection>`
	multigetHead      = `<?xml version='1.0' encoding='UTF-8' ?><CARD:addressbook-multiget xmlns="DAV:" xmlns:CARD="urn:ietf:params:xml:ns:carddav"><prop><getcontenttype /><getetag /><CARD:address-data content-type="text/vcard" /></prop>`
	multigetTail      = `</CARD:addressbook-multiget>`
	propfindCTag      = `<?xml version="1.0" encoding="UTF-8"?><propfind xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/"><prop><CS:getctag/></prop></propfind>`
	propfindETags     = `<?xml version="1.0" encoding="UTF-8"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>`
)

// multigetBody returns the addressbook-multiget of the cards at hrefs, as
// DAVx5 sends it.
func multigetBody(hrefs []string) string {
	var sb strings.Builder
	sb.WriteString(multigetHead)
	for _, h := range hrefs {
		sb.WriteString("<href>")
		xml.EscapeText(&sb, []byte(h))
		sb.WriteString("</href>")
	}
	sb.WriteString(multigetTail)
	return sb.String()
}

// DAVx5's download: ten cards per multiget (SyncManager's
// MAX_MULTIGET_RESOURCES); its worker pool runs min(CPUs, 4) of them at
// once, which is two on this benchmark's two cores.
const (
	davx5Batch    = 10
	davx5Parallel = 2
)

// multistatus is the part of a 207 answer the client reads.
type multistatus struct {
	Responses []msResponse `xml:"DAV: response"`
	SyncToken string       `xml:"DAV: sync-token"`
}

type msResponse struct {
	Href     string `xml:"DAV: href"`
	Status   string `xml:"DAV: status"`
	Propstat []struct {
		Status      string `xml:"DAV: status"`
		ETag        string `xml:"DAV: prop>getetag"`
		AddressData string `xml:"urn:ietf:params:xml:ns:carddav prop>address-data"`
	} `xml:"DAV: propstat"`
}

// cardHrefs returns the hrefs of the members of a multistatus that are
// cards (not the collection itself).
func (ms *multistatus) cardHrefs(book string) []string {
	var out []string
	for _, r := range ms.Responses {
		if strings.HasSuffix(r.Href, ".vcf") || (!strings.HasSuffix(r.Href, "/") && r.Href != book) {
			out = append(out, r.Href)
		}
	}
	return out
}

// syncOptions chooses how a first sync downloads the cards.
type syncOptions struct {
	batch    int  // hrefs per multiget; 0: all in one
	parallel int  // multigets in flight
	gzip     bool // send Accept-Encoding: gzip, as DAVx5 (OkHttp) does
	collect  bool // return the cards (file name → vCard)
}

// syncResult is one first sync of a whole book.
type syncResult struct {
	server   string
	run      string // "cold" or "warm"
	opts     syncOptions
	requests int
	cards    int
	// time is the wall time from the first request to the last byte of
	// the last answer, less the client's parsing of the sync-collection
	// answer (the multiget answers are only counted meanwhile; a run
	// that collects the cards parses them after the clock stops).
	time          time.Duration
	sent, receive int64
	// listing is what the PROPFIND and sync-collection answers took of
	// receive.
	listing int64
}

// davx5Sync runs a first sync of t's book the way DAVx5 does.
func davx5Sync(ctx context.Context, t *target, o syncOptions) (syncResult, map[string]string, error) {
	var w wire
	c := newClient(&w, max(o.parallel, 1))
	res := syncResult{server: t.name, opts: o}
	var elapsed time.Duration

	start := time.Now()
	status, body, err := do(ctx, c, t, "PROPFIND", t.url, "0", davx5Capabilities, o.gzip)
	if err != nil {
		return res, nil, err
	}
	if status != http.StatusMultiStatus || !bytes.Contains(body, []byte("sync-collection")) {
		return res, nil, fmt.Errorf("PROPFIND %s = %d, want 207 listing sync-collection:\n%.2000s", t.url, status, body)
	}
	status, body, err = do(ctx, c, t, "REPORT", t.url, "0", fmt.Sprintf(syncCollection, ""), o.gzip)
	if err != nil {
		return res, nil, err
	}
	elapsed += time.Since(start)
	res.requests = 2
	res.listing = w.received.Load()
	if status != http.StatusMultiStatus {
		return res, nil, fmt.Errorf("REPORT sync-collection %s = %d, want 207:\n%.2000s", t.url, status, body)
	}
	var ms multistatus
	if err := xml.Unmarshal(body, &ms); err != nil {
		return res, nil, fmt.Errorf("sync-collection answer: %w", err)
	}
	hrefs := ms.cardHrefs(t.url)
	if len(hrefs) == 0 || ms.SyncToken == "" {
		return res, nil, fmt.Errorf("sync-collection from the empty token listed %d cards and token %q", len(hrefs), ms.SyncToken)
	}

	batch := o.batch
	if batch <= 0 {
		batch = len(hrefs)
	}
	batches := make(chan []string)
	var (
		mu    sync.Mutex
		count int
		errs  []error
		wg    sync.WaitGroup
		// answers are the multiget answers of a run that collects the
		// cards, parsed once the clock has stopped: the client's XML
		// parsing is no part of the server's time.
		answers [][]byte
	)
	start = time.Now()
	for range max(o.parallel, 1) {
		wg.Go(func() {
			for hs := range batches {
				status, body, err := do(ctx, c, t, "REPORT", t.url, "0", multigetBody(hs), o.gzip)
				if err == nil && status != http.StatusMultiStatus {
					err = fmt.Errorf("addressbook-multiget %s = %d, want 207:\n%.2000s", t.url, status, body)
				}
				n := bytes.Count(body, []byte("BEGIN:VCARD"))
				if err == nil && n != len(hs) {
					err = fmt.Errorf("addressbook-multiget of %d cards answered %d", len(hs), n)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				count += n
				if err == nil && o.collect {
					answers = append(answers, body)
				}
				mu.Unlock()
			}
		})
	}
	for chunk := range slices.Chunk(hrefs, batch) {
		res.requests++
		batches <- chunk
	}
	close(batches)
	wg.Wait()
	elapsed += time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return res, nil, err
	}
	res.cards = count
	res.time = elapsed
	res.sent, res.receive = w.sent.Load(), w.received.Load()
	if !o.collect {
		return res, nil, nil
	}
	cards, err := collectCards(answers)
	if err != nil {
		return res, nil, err
	}
	return res, cards, nil
}

// collectCards returns the cards (file name → vCard) of multiget answers.
func collectCards(answers [][]byte) (map[string]string, error) {
	cards := map[string]string{}
	for _, body := range answers {
		var got multistatus
		if err := xml.Unmarshal(body, &got); err != nil {
			return nil, fmt.Errorf("multiget answer: %w", err)
		}
		for _, r := range got.Responses {
			for _, ps := range r.Propstat {
				if ps.AddressData != "" {
					cards[unescapeName(r.Href)] = ps.AddressData
				}
			}
		}
	}
	return cards, nil
}

// pollKind is one of the unchanged polls.
type pollKind string

const (
	pollCTag pollKind = "propfind-getctag"
	pollSync pollKind = "sync-collection"
)

func (k pollKind) String() string {
	switch k {
	case pollCTag:
		return "PROPFIND Depth 0 getctag"
	case pollSync:
		return "sync-collection, current token"
	}
	return string(k)
}

func pollRequest(k pollKind, token string) (method, depth, body string) {
	if k == pollCTag {
		return "PROPFIND", "0", propfindCTag
	}
	return "REPORT", "0", fmt.Sprintf(syncCollection, xmlEscape(token))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// currentToken returns the current sync token of t's book.
func currentToken(ctx context.Context, t *target) (string, error) {
	var w wire
	status, body, err := do(ctx, newClient(&w, 1), t, "PROPFIND", t.url, "0",
		`<?xml version="1.0" encoding="UTF-8"?><propfind xmlns="DAV:"><prop><sync-token/></prop></propfind>`, false)
	if err != nil {
		return "", err
	}
	var ms struct {
		Token string `xml:"DAV: response>propstat>prop>sync-token"`
	}
	if err := xml.Unmarshal(body, &ms); err != nil || status != http.StatusMultiStatus || ms.Token == "" {
		return "", fmt.Errorf("PROPFIND sync-token %s = %d, want 207 with a token (%v):\n%.2000s", t.url, status, err, body)
	}
	// A token the server has not handed out in a sync-collection answer
	// may be unknown to it (Radicale keeps the state behind each token it
	// answered with); one sync from the empty token makes it known.
	status, body, err = do(ctx, newClient(&w, 1), t, "REPORT", t.url, "0", fmt.Sprintf(syncCollection, ""), false)
	if err != nil {
		return "", err
	}
	var sync multistatus
	if err := xml.Unmarshal(body, &sync); err != nil || status != http.StatusMultiStatus || sync.SyncToken == "" {
		return "", fmt.Errorf("sync-collection %s = %d, want 207 with a token (%v)", t.url, status, err)
	}
	return sync.SyncToken, nil
}

// pollOnce sends one unchanged poll and returns the answer, which must be
// a 207 that lists no card.
func pollOnce(ctx context.Context, t *target, k pollKind, token string) ([]byte, error) {
	var w wire
	method, depth, reqBody := pollRequest(k, token)
	status, body, err := do(ctx, newClient(&w, 1), t, method, t.url, depth, reqBody, false)
	if err != nil {
		return nil, err
	}
	if status != http.StatusMultiStatus || bytes.Contains(body, []byte(".vcf")) {
		return nil, fmt.Errorf("%s %s = %d, want 207 listing no card:\n%.2000s", k, t.url, status, body)
	}
	return body, nil
}

// pollResult is one poll measurement.
type pollResult struct {
	kind     pollKind
	server   string
	clients  int
	duration time.Duration
	ok, bad  int
	lat      []time.Duration // sorted
	bytes    int             // answer body size
}

func (r pollResult) rate() float64 { return float64(r.ok) / r.duration.Seconds() }

func (r pollResult) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(q*float64(len(r.lat))+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

// pollLoad sends the unchanged poll k from clients goroutines for d and
// records the latency of every answer.
func pollLoad(ctx context.Context, t *target, k pollKind, token string, clients int, d time.Duration) (pollResult, error) {
	res := pollResult{kind: k, server: t.name, clients: clients}
	first := time.Now()
	sample, err := pollOnce(ctx, t, k, token)
	if err != nil {
		return res, err
	}
	slow := time.Since(first) > 50*time.Millisecond
	res.bytes = len(sample)
	var w wire
	c := newClient(&w, clients)
	method, depth, body := pollRequest(k, token)
	one := func() (time.Duration, bool) {
		req, err := http.NewRequestWithContext(ctx, method, t.url, strings.NewReader(body))
		if err != nil {
			return 0, false
		}
		req.SetBasicAuth(t.user, t.password)
		req.Header.Set("Content-Type", "application/xml; charset=utf-8")
		req.Header.Set("Depth", depth)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, false
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), err == nil && resp.StatusCode == http.StatusMultiStatus && n > 0
	}
	// Warm the connections up, then measure. A slow server is not warmed
	// up: one round of its requests would take longer than the
	// measurement.
	warm := time.Now().Add(min(d/10, 500*time.Millisecond))
	if slow {
		warm = time.Now()
	}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(warm) {
				one()
			}
		})
	}
	wg.Wait()

	var mu sync.Mutex
	start := time.Now()
	end := start.Add(d)
	for range clients {
		wg.Go(func() {
			var lat []time.Duration
			bad := 0
			for time.Now().Before(end) && ctx.Err() == nil {
				l, ok := one()
				if ok {
					lat = append(lat, l)
				} else {
					bad++
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.bad += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	res.duration = time.Since(start)
	res.ok = len(res.lat)
	slices.Sort(res.lat)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// gzipFloor returns the size of the cards (file name → vCard), in the
// order of their names, gzipped at the best level in batches of batch
// cards each: the least a server can send of them in such batches, with
// no XML, headers or listing around them.
func gzipFloor(cards map[string]string, batch int) int64 {
	var n int64
	for names := range slices.Chunk(slices.Sorted(maps.Keys(cards)), batch) {
		var cw countWriter
		zw, _ := gzip.NewWriterLevel(&cw, gzip.BestCompression) // a valid level: no error
		for _, name := range names {
			io.WriteString(zw, cards[name])
		}
		zw.Close()
		n += cw.n
	}
	return n
}

// countWriter counts what is written to it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
