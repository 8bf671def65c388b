// Command benchpoll measures dirbook's CardDAV server against the targets
// of issue 6, side by side in one run on loopback: dirbook serve (built
// and run as its own process), Radicale serving the same cards, and a bare
// net/http handler that answers a fixed 207 body, the practical limit.
//
// It measures
//
//   - (a) unchanged polls: PROPFIND Depth 0 of CS:getctag, and REPORT
//     sync-collection with the current token, as requests per second and
//     latency at a number of concurrent clients for a fixed time, against
//     all three servers;
//   - (b) the first sync of a whole book by DAVx5's sequence: PROPFIND
//     Depth 0 of the book's capabilities, sync-collection from the empty
//     token, then addressbook-multiget of every card in batches of ten
//     (DAVx5's SyncManager.MAX_MULTIGET_RESOURCES) with two batches in
//     flight, against dirbook and Radicale, as time and bytes on the wire;
//     also the single multiget of the whole book that vdirsyncer and tsdav
//     send;
//   - (c) the memory of dirbook serving a larger book, after a PROPFIND
//     Depth 1 and multigets of every card: VmRSS and VmHWM of the process.
//
// and prints a Markdown section with the figures, the targets and whether
// each is met. It needs Go, the radicale program (Debian package radicale)
// and two free cores; it takes two to three minutes.
//
// Usage, from the repository:
//
//	go run ./internal/benchpoll [-out FILE] [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dirbook/dirbook/internal/benchmark"
)

func main() { benchmark.Main("benchpoll", run) }

// options are the command's flags.
type options struct {
	out      string
	duration time.Duration
	clients  int
	cards    int
	rssCards int
	photos   bool
	radicale string
	dirbook  string
	keep     bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchpoll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.out, "out", "", "also write the Markdown section to this file")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long each poll measurement runs")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients of the poll measurements")
	fs.IntVar(&o.cards, "cards", 10000, "cards in the book of (a) and (b)")
	fs.IntVar(&o.rssCards, "rss-cards", 100000, "cards in the book of (c); 0 skips (c)")
	fs.BoolVar(&o.photos, "photos", true, "give every person a small JPEG photo (about 2 KB), as company directories have")
	fs.StringVar(&o.radicale, "radicale", "radicale", "the radicale program")
	fs.StringVar(&o.dirbook, "dirbook", "", "a dirbook binary to measure instead of building ./cmd/dirbook")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (its path is printed)")
	bare := fs.String("bare-serve", "", "internal: serve the fixed bodies of this folder and print the address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bare != "" {
		return serveBare(ctx, *bare, stdout)
	}
	if o.cards < 10 || o.clients < 1 || o.duration <= 0 {
		return errors.New("-cards must be at least 10, -clients at least 1 and -duration positive")
	}
	if _, err := lookRadicale(o.radicale); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "benchpoll-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stderr, "benchpoll: working in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	b := &bench{opts: o, dir: dir, log: stderr, started: time.Now()}
	defer b.stopAll()
	if err := b.run(ctx); err != nil {
		return err
	}
	return benchmark.WriteReport(stdout, b.report(), o.out)
}

// bench is one run of all measurements.
type bench struct {
	opts    options
	dir     string
	log     io.Writer
	started time.Time
	procs   []*process

	dirbookBin string
	dirbookVer string
	radVer     string
	startup    time.Duration // dirbook serve's first sync of opts.cards

	polls  []pollResult
	syncs  []syncResult
	memory *memoryResult
	// cardFloor is the size of the vCards of the book alone, gzipped at
	// the best level in the batches of a DAVx5 sync: what any server
	// sending these cards must send at least.
	cardFloor int64
}

// logf reports progress on stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "benchpoll: %5.1fs  %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) stopAll() {
	for _, p := range b.procs {
		p.stop()
	}
	b.procs = nil
}

func (b *bench) run(ctx context.Context) error {
	var err error
	if b.opts.dirbook != "" {
		b.dirbookBin, b.dirbookVer = b.opts.dirbook, b.opts.dirbook
	} else {
		b.logf("building dirbook")
		if b.dirbookBin, b.dirbookVer, err = buildDirbook(ctx, b.dir); err != nil {
			return err
		}
	}
	if b.radVer, err = radicaleVersion(ctx, b.opts.radicale); err != nil {
		return err
	}

	// dirbook with the book of opts.cards people.
	b.logf("writing a directory of %d people", b.opts.cards)
	small := filepath.Join(b.dir, "book")
	port, err := freePort()
	if err != nil {
		return err
	}
	if err := writeDirectory(small, b.opts.cards, b.opts.photos, "127.0.0.1:"+strconv.Itoa(port)); err != nil {
		return err
	}
	start := time.Now()
	db, err := b.startDirbook(ctx, small)
	if err != nil {
		return err
	}
	b.startup = time.Since(start)
	b.logf("dirbook serves %d cards at %s (start with first sync: %v)", b.opts.cards, db.url, b.startup.Round(time.Millisecond))
	dirbookBook := &target{name: "dirbook", url: db.url + "dav/" + benchUser + "/books/" + benchBook + "/", user: benchUser, password: benchPassword}

	// (b) first, so the cold run is cold: dirbook has rendered nothing yet.
	cold, cards, err := davx5Sync(ctx, dirbookBook, syncOptions{batch: davx5Batch, parallel: davx5Parallel, gzip: true, collect: true})
	if err != nil {
		return fmt.Errorf("dirbook: %w", err)
	}
	if len(cards) != b.opts.cards {
		return fmt.Errorf("dirbook: the first sync got %d cards, want %d", len(cards), b.opts.cards)
	}
	b.cardFloor = gzipFloor(cards, davx5Batch)
	cold.run = "cold"
	b.syncs = append(b.syncs, cold)

	// Radicale with the same cards, as dirbook rendered them.
	b.logf("starting Radicale with the same %d cards", len(cards))
	rad, err := b.startRadicale(ctx, filepath.Join(b.dir, "radicale"), cards)
	if err != nil {
		return err
	}
	radicaleBook := &target{name: "Radicale", url: rad.url + benchUser + "/" + benchBook + "/", user: benchUser, password: benchPassword}
	rcold, rcards, err := davx5Sync(ctx, radicaleBook, syncOptions{batch: davx5Batch, parallel: davx5Parallel, gzip: true, collect: true})
	if err != nil {
		return fmt.Errorf("radicale: %w", err)
	}
	if len(rcards) != len(cards) {
		return fmt.Errorf("radicale: the first sync got %d cards, want %d", len(rcards), len(cards))
	}
	for name := range cards {
		if _, ok := rcards[name]; !ok {
			return fmt.Errorf("radicale lacks the card %s", name)
		}
	}
	rcold.run = "cold"
	b.syncs = append(b.syncs, rcold)
	b.logf("cold first syncs done")

	// Radicale takes seconds for each of these, so it runs DAVx5's
	// sequence only, which the targets compare.
	for _, t := range []*target{dirbookBook, radicaleBook} {
		variants := []syncOptions{
			{batch: davx5Batch, parallel: davx5Parallel, gzip: true},
			{batch: davx5Batch, parallel: davx5Parallel},
			{batch: 0, parallel: 1, gzip: true},
			{batch: 0, parallel: 1},
		}
		if t == radicaleBook {
			variants = variants[:1]
		}
		for _, so := range variants {
			r, _, err := davx5Sync(ctx, t, so)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			r.run = "warm"
			b.syncs = append(b.syncs, r)
		}
	}
	b.logf("warm first syncs done")

	// (a) unchanged polls.
	if err := b.polls3(ctx, dirbookBook, radicaleBook); err != nil {
		return err
	}
	b.stopAll()

	// (c) memory with a larger book.
	if b.opts.rssCards > 0 {
		if b.memory, err = b.measureMemory(ctx); err != nil {
			return err
		}
	}
	return nil
}

// polls3 runs the two unchanged polls against dirbook, Radicale and the
// bare handler answering dirbook's bodies.
func (b *bench) polls3(ctx context.Context, dirbookBook, radicaleBook *target) error {
	kinds := []pollKind{pollCTag, pollSync}
	bodies := map[pollKind][]byte{}
	tokens := map[*target]string{}
	for _, t := range []*target{dirbookBook, radicaleBook} {
		tok, err := currentToken(ctx, t)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		tokens[t] = tok
	}
	for _, k := range kinds {
		body, err := pollOnce(ctx, dirbookBook, k, tokens[dirbookBook])
		if err != nil {
			return fmt.Errorf("dirbook: %w", err)
		}
		bodies[k] = body
	}
	bare, err := b.startBare(ctx, bodies)
	if err != nil {
		return err
	}
	bareTarget := &target{name: "bare net/http", url: bare.url + "book/", user: benchUser, password: benchPassword}
	for _, k := range kinds {
		for _, t := range []*target{bareTarget, dirbookBook, radicaleBook} {
			b.logf("poll %s against %s, %d clients for %v", k, t.name, b.opts.clients, b.opts.duration)
			r, err := pollLoad(ctx, t, k, tokens[t], b.opts.clients, b.opts.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			b.polls = append(b.polls, r)
		}
	}
	return nil
}
