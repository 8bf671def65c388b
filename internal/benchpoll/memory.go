package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dirbook/dirbook/internal/benchmark"
)

// memoryResult is the memory of dirbook serving a large book.
type memoryResult struct {
	cards   int
	startup time.Duration // start with the first sync
	pass    time.Duration // PROPFIND Depth 1 and every multiget
	// From /proc/PID/status, in kB: after the start and after the pass.
	startStatus, passStatus map[string]int64
	// The Go heap in use, in bytes, from dirbook's metrics (0 if absent).
	startHeap, passHeap int64
}

// multigetChunk is how many cards one multiget of the memory pass asks
// for; dirbook's default limit of hrefs is 20,000.
const multigetChunk = 10000

func (b *bench) measureMemory(ctx context.Context) (*memoryResult, error) {
	n := b.opts.rssCards
	b.logf("writing a directory of %d people", n)
	dir := filepath.Join(b.dir, "book-large")
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	metrics := "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	if err := writeDirectory(dir, n, b.opts.photos, "127.0.0.1:"+strconv.Itoa(port)); err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := b.startDirbook(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer b.stopAll()
	res := &memoryResult{cards: n, startup: time.Since(start)}
	b.logf("dirbook serves %d cards (start with first sync: %v)", n, res.startup.Round(time.Millisecond))
	pid := p.cmd.Process.Pid
	if res.startStatus, err = benchmark.ProcStatus(pid); err != nil {
		return nil, err
	}
	res.startHeap = goHeap(ctx, metrics)

	t := &target{name: "dirbook", url: p.url + "dav/" + benchUser + "/books/" + benchBook + "/", user: benchUser, password: benchPassword}
	var w wire
	c := newClient(&w, 1)
	start = time.Now()
	status, body, err := do(ctx, c, t, "PROPFIND", t.url, "1", propfindETags, true)
	if err != nil {
		return nil, err
	}
	if status != http.StatusMultiStatus {
		return nil, fmt.Errorf("PROPFIND Depth 1 %s = %d, want 207", t.url, status)
	}
	var ms multistatus
	if err := xml.Unmarshal(body, &ms); err != nil {
		return nil, fmt.Errorf("PROPFIND answer: %w", err)
	}
	hrefs := ms.cardHrefs(t.url)
	if len(hrefs) != n {
		return nil, fmt.Errorf("PROPFIND Depth 1 listed %d cards, want %d", len(hrefs), n)
	}
	got := 0
	for chunk := range slices.Chunk(hrefs, multigetChunk) {
		status, body, err := do(ctx, c, t, "REPORT", t.url, "0", multigetBody(chunk), true)
		if err != nil {
			return nil, err
		}
		if status != http.StatusMultiStatus {
			return nil, fmt.Errorf("addressbook-multiget %s = %d, want 207:\n%.2000s", t.url, status, body)
		}
		got += bytes.Count(body, []byte("BEGIN:VCARD"))
	}
	res.pass = time.Since(start)
	if got != n {
		return nil, fmt.Errorf("the multigets returned %d cards, want %d", got, n)
	}
	if res.passStatus, err = benchmark.ProcStatus(pid); err != nil {
		return nil, err
	}
	res.passHeap = goHeap(ctx, metrics)
	b.logf("memory pass done in %v: VmRSS %d MB, VmHWM %d MB", res.pass.Round(time.Millisecond),
		res.passStatus["VmRSS"]/1024, res.passStatus["VmHWM"]/1024)
	return res, nil
}

// goHeap returns go_memstats_heap_inuse_bytes from a Prometheus
// endpoint, or 0.
func goHeap(ctx context.Context, url string) int64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int64(f)
			}
		}
	}
	return 0
}
