package sync

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// person is one usable entry and what mapping made of it. It is kept
// small: a plan holds one per person of the directory.
type person struct {
	// entry is the entry as read, until it is mapped: then nil, so that
	// the attributes (photos among them) are freed while the sources are
	// still being read.
	entry  *dirbook.Entry
	id, dn string // of the entry
	src    int    // the source's position
	source string // the source's name, or the entry's Source
	// cards holds the person's card in each configured book, by the
	// book's position; nil when they are in none.
	cards []*dirbook.Card
	// excluded and warnings are those of the mapping.Result.
	excluded string
	warnings []mapping.Warning
	// logins holds the values of the login attribute that name a user;
	// readable the books the person may read, computed only for them.
	logins   []string
	readable []string
}

// newPerson returns the person of en, read from source src.
func newPerson(en *dirbook.Entry, src int, source string) *person {
	return &person{entry: en, id: en.ID, dn: en.DN, src: src, source: source}
}

// card returns the person's card in the book at position i, or nil.
func (ps *person) card(i int) *dirbook.Card {
	if ps.cards == nil {
		return nil
	}
	return ps.cards[i]
}

// mapBatch is how many people a mapping worker takes at a time.
const mapBatch = 256

// mapPool maps people on worker goroutines while the sources are read.
// Mapping is pure and the published revision immutable, so the workers
// share nothing but the counter.
type mapPool struct {
	e      *Engine
	ctx    context.Context
	cancel context.CancelFunc
	base   *dirbook.Revision
	books  []dirbook.Book       // configured, in order
	old    []*dirbook.BookState // the published state of each, or nil
	users  map[string]bool      // lower-case User.Person values
	jobs   chan []*person
	wg     sync.WaitGroup
	mapped atomic.Int64
	batch  []*person
	closed bool
}

func (e *Engine) startMapping(ctx context.Context, base *dirbook.Revision) *mapPool {
	n := max(runtime.GOMAXPROCS(0), 1)
	ctx, cancel := context.WithCancel(ctx)
	mp := &mapPool{e: e, ctx: ctx, cancel: cancel, base: base, jobs: make(chan []*person, 4*n)}
	mp.books = e.mapper.Books()
	mp.old = make([]*dirbook.BookState, len(mp.books))
	for i, b := range mp.books {
		mp.old[i] = base.Book(b.ID)
	}
	if len(e.users) > 0 {
		mp.users = make(map[string]bool, len(e.users))
		for _, u := range e.users {
			mp.users[strings.ToLower(u.Person)] = true
		}
	}
	for range n {
		mp.wg.Go(func() {
			for batch := range mp.jobs {
				if mp.ctx.Err() != nil {
					continue // Plan fails; drain the queue
				}
				for _, ps := range batch {
					mp.mapOne(ps)
				}
				mp.mapped.Add(int64(len(batch)))
			}
		})
	}
	return mp
}

// add queues ps for mapping.
func (mp *mapPool) add(ps *person) {
	mp.batch = append(mp.batch, ps)
	if len(mp.batch) == mapBatch {
		mp.jobs <- mp.batch
		mp.batch = make([]*person, 0, mapBatch)
	}
}

// finish waits until everyone queued is mapped, reporting progress.
func (mp *mapPool) finish(pr *progress) {
	if len(mp.batch) > 0 {
		mp.jobs <- mp.batch
		mp.batch = nil
	}
	mp.closed = true
	close(mp.jobs)
	done := make(chan struct{})
	go func() {
		mp.wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(progressInterval / 4)
	defer tick.Stop()
	for {
		select {
		case <-done:
			pr.p.Mapped = int(mp.mapped.Load())
			mp.cancel()
			return
		case <-tick.C:
			pr.p.Mapped = int(mp.mapped.Load())
			pr.report()
		}
	}
}

// stop ends the workers without waiting for the queue to be mapped. It
// may be called after finish.
func (mp *mapPool) stop() {
	mp.cancel()
	if !mp.closed {
		mp.closed = true
		close(mp.jobs)
	}
	mp.wg.Wait()
}

// mapOne maps ps. A card identical to the published one is replaced by
// it, so that the new copy is freed at once: a sync without changes then
// holds no second set of cards.
func (mp *mapPool) mapOne(ps *person) {
	e := mp.e
	res := e.mapper.Map(ps.entry)
	if res == nil {
		res = &mapping.Result{}
	}
	for i, b := range mp.books {
		c := res.Cards[b.ID]
		if c == nil {
			continue
		}
		if old := mp.old[i]; old != nil {
			if prev := old.Cards[c.UID]; prev != nil && sameCard(&prev.Card, c) {
				c = &prev.Card
			}
		}
		if ps.cards == nil {
			ps.cards = make([]*dirbook.Card, len(mp.books))
		}
		ps.cards[i] = c
	}
	ps.excluded, ps.warnings = res.Excluded, res.Warnings
	if mp.users != nil || e.dirLogins {
		for _, v := range ps.entry.Values(e.loginAttr) {
			if e.dirLogins || mp.users[strings.ToLower(v)] {
				ps.logins = append(ps.logins, v)
			}
		}
		if len(ps.logins) > 0 && res.Excluded == "" {
			ps.readable = e.mapper.Readable(ps.entry)
		}
	}
	ps.entry = nil
}
