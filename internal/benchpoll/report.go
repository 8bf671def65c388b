package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/dirbook/dirbook/internal/benchmark"
)

// Targets of issue 6.
const (
	targetOfBare     = 0.5           // dirbook's poll rate over the bare handler's
	targetOverRad    = 20.0          // dirbook's poll rate over Radicale's
	targetSyncTime   = time.Second   // a first sync of the book
	targetSyncBytes  = 0.6           // its bytes over Radicale's
	targetMemoryByte = 400 * mb      // peak RSS while serving rssCards
	mb               = 1000 * 1000.0 // figures are in megabytes of 10^6 bytes
	kibToBytes       = 1024.0        // the unit of /proc/PID/status
)

func (b *bench) report() string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	photo := "no photo"
	if b.opts.photos {
		photo = "a 48×48 JPEG photo of about 2 KB"
	}
	p("## CardDAV serving (issue 6)\n\n")
	p("Measured by `go run ./internal/benchpoll` on %s, in %v: %s. dirbook %s; %s. ",
		time.Now().UTC().Format("2006-01-02"), time.Since(b.started).Round(time.Second), benchmark.Machine(), b.dirbookVer, radicaleName(b.radVer))
	p("Every server runs as its own process; they and the load generator share the machine and talk over loopback, one server at a time. ")
	p("Each person has a name, organisation and unit, title, mail, work and mobile number and %s; ", photo)
	p("Radicale's storage holds the very vCard 3.0 text dirbook serves (Radicale re-serialises it when answering: properties reordered, LF line ends) and Radicale checks plain htpasswd passwords; dirbook checks bcrypt app passwords (remembered after the first request). ")
	p("dirbook serve started with its first sync of %d people in %v.\n\n", b.opts.cards, b.startup.Round(time.Millisecond))

	// (a)
	p("### (a) Unchanged poll: %d concurrent clients, %v each\n\n", b.opts.clients, b.opts.duration)
	p("The bare handler is a net/http handler in a process of its own that answers dirbook's own 207 body for the request (no authentication, no parsing). No compression.\n\n")
	p("Every client keeps one request in flight; requests still in flight at the end are waited for and counted, and the rate is answers over the whole time.\n\n")
	p("| request | server | requests/s | answers | p50 | p99 | answer body | failed |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range b.polls {
		p("| %s | %s | %.1f | %d | %s | %s | %d B | %d |\n", r.kind, r.server, r.rate(), r.ok, ms(r.quantile(0.5)), ms(r.quantile(0.99)), r.bytes, r.bad)
	}
	p("\n| target | measured | met |\n|---|---:|---|\n")
	for _, k := range []pollKind{pollCTag, pollSync} {
		var bare, db, rad pollResult
		for _, r := range b.polls {
			if r.kind != k {
				continue
			}
			switch r.server {
			case "dirbook":
				db = r
			case "Radicale":
				rad = r
			default:
				bare = r
			}
		}
		ofBare := db.rate() / bare.rate()
		p("| %s: dirbook ≥ 50 %% of the bare handler | %.0f %% | %s |\n", k, 100*ofBare, yes(ofBare >= targetOfBare))
		over := db.rate() / rad.rate()
		p("| %s: dirbook ≥ 20× Radicale | %.0f× | %s |\n", k, over, yes(over >= targetOverRad))
	}

	// (b)
	p("\n### (b) First sync of the %d-card book\n\n", b.opts.cards)
	p("DAVx5's sequence: PROPFIND Depth 0 (max-resource-size, supported-address-data, supported-report-set, getctag, sync-token), "+
		"REPORT sync-collection from the empty token asking for getetag, then addressbook-multiget (getcontenttype, getetag, address-data as text/vcard, "+
		"so vCard 3.0 from both) of %d hrefs each (DAVx5's SyncManager.MAX_MULTIGET_RESOURCES), %d in flight (DAVx5's worker pool has min(CPUs, 4) threads; DAVx5 starts downloading while the listing still arrives, here the listing comes first); "+
		"DAVx5's HTTP client (OkHttp) asks for gzip. \"one multiget\" sends all hrefs in one request, as vdirsyncer and tsdav do. "+
		"Cold is the first sync after the start (dirbook has only the renderings it makes after each publish, as far as its card cache holds them; Radicale has no item cache); warm is a later one. "+
		"Time runs from the first request to the last byte of the last answer, less the client's parsing of the sync-collection answer; "+
		"while the clock runs the client only counts the cards in the multiget answers (the cold runs parse them afterwards, to give Radicale the very cards dirbook served and check that it serves them all); "+
		"bytes are everything on the connections, headers included.\n\n", davx5Batch, davx5Parallel)
	p("| server | run | multigets | gzip | requests | time | bytes received (listing + cards) | bytes sent |\n|---|---|---|---|---:|---:|---:|---:|\n")
	for _, r := range b.syncs {
		p("| %s | %s | %s | %s | %d | %s | %s (%s + %s) | %s |\n", r.server, r.run, downloadName(r.opts), yesNo(r.opts.gzip), r.requests, secs(r.time),
			mbytes(r.receive), mbytes(r.listing), mbytes(r.receive-r.listing), mbytes(r.sent))
	}
	p("\n| target | measured | met |\n|---|---:|---|\n")
	for _, run := range []string{"cold", "warm"} {
		if r, ok := b.sync("dirbook", run, true, davx5Batch); ok {
			p("| DAVx5 sequence, %s, gzip: dirbook ≤ 1 s | %s | %s |\n", run, secs(r.time), yes(r.time <= targetSyncTime))
		}
	}
	for _, gz := range []bool{true, false} {
		db, ok1 := b.sync("dirbook", "warm", gz, davx5Batch)
		rad, ok2 := b.sync("Radicale", "warm", gz, davx5Batch)
		if ok1 && ok2 {
			ratio := float64(db.receive+db.sent) / float64(rad.receive+rad.sent)
			p("| DAVx5 sequence, %s: dirbook's bytes ≤ 60 %% of Radicale's | %.0f %% | %s |\n", map[bool]string{true: "gzip", false: "no compression"}[gz], 100*ratio, yes(ratio <= targetSyncBytes))
		}
	}
	if rad, ok := b.sync("Radicale", "warm", true, davx5Batch); ok && b.cardFloor > 0 {
		total := rad.receive + rad.sent
		verdict := "60 %% of Radicale's bytes (%s) is below what the cards themselves take: no server sending these cards can meet that target."
		if float64(b.cardFloor) <= float64(total)*targetSyncBytes {
			verdict = "60 %% of Radicale's bytes (%s) is above that."
		}
		p("\nThe floor: the %d vCards alone, with no XML, headers, listing or requests, gzipped at the best level in the same batches of %d, are %s, %.0f %% of Radicale's %s (received and sent). "+verdict+"\n",
			b.opts.cards, davx5Batch, mbytes(b.cardFloor), 100*float64(b.cardFloor)/float64(total), mbytes(total), mbytes(int64(float64(total)*targetSyncBytes)))
	}

	// (c)
	if m := b.memory; m != nil {
		p("\n### (c) Memory serving %d cards\n\n", m.cards)
		p("dirbook serve starts (first sync of %d people into a new store), then one client sends PROPFIND Depth 1 (getetag) and addressbook-multiget of every card, %d hrefs per request, gzip. "+
			"Figures from /proc/PID/status; VmHWM is the peak of the whole run, the first sync included; RssFile counts the pages of the mapped bbolt store; the Go heap in use is dirbook's go_memstats_heap_inuse_bytes.\n\n", m.cards, multigetChunk)
		p("| moment | VmRSS | VmHWM (peak) | RssAnon | RssFile | Go heap in use |\n|---|---:|---:|---:|---:|---:|\n")
		p("| after the start (%s) | %s | %s | %s | %s | %s |\n", secs(m.startup), kib(m.startStatus["VmRSS"]), kib(m.startStatus["VmHWM"]), kib(m.startStatus["RssAnon"]), kib(m.startStatus["RssFile"]), mbytes(m.startHeap))
		p("| after PROPFIND and multigets (%s) | %s | %s | %s | %s | %s |\n", secs(m.pass), kib(m.passStatus["VmRSS"]), kib(m.passStatus["VmHWM"]), kib(m.passStatus["RssAnon"]), kib(m.passStatus["RssFile"]), mbytes(m.passHeap))
		peak := float64(m.passStatus["VmHWM"]) * kibToBytes
		p("\n| target | measured | met |\n|---|---:|---|\n")
		p("| ≤ 400 MB RSS serving %d cards (peak, VmHWM) | %s | %s |\n", m.cards, kib(m.passStatus["VmHWM"]), yes(peak <= targetMemoryByte))
	}
	p("\n")
	return s.String()
}

// sync finds a sync result.
func (b *bench) sync(server, run string, gz bool, batch int) (syncResult, bool) {
	for _, r := range b.syncs {
		if r.server == server && r.run == run && r.opts.gzip == gz && r.opts.batch == batch {
			return r, true
		}
	}
	return syncResult{}, false
}

func downloadName(o syncOptions) string {
	if o.batch <= 0 {
		return "one multiget"
	}
	return fmt.Sprintf("%d cards, %d in flight", o.batch, o.parallel)
}

func radicaleName(v string) string {
	if v == "" {
		return "Radicale"
	}
	return "Radicale " + v
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func secs(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func mbytes(n int64) string {
	return fmt.Sprintf("%.2f MB", float64(n)/mb)
}

func kib(n int64) string {
	return fmt.Sprintf("%.0f MB", float64(n)*kibToBytes/mb)
}
