package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"runtime"
	"slices"
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
	// book's position, encoded; nil when they are in none. A card equal
	// to the published one has no JSON: the store has it.
	cards []*encoded
	// excluded and warnings are those of the mapping.Result.
	excluded string
	warnings []mapping.Warning
	// logins holds the values of the login attribute that name a user;
	// readable the books the person may read, computed only for them.
	logins   []string
	readable []string
	// digest is the entryDigest of the entry, set when it is mapped.
	// remap marks a person whose result cannot be reused by the next full
	// read (see personRecord.Remap).
	digest [16]byte
	remap  bool
}

// newPerson returns the person of en, read from source src.
func newPerson(en *dirbook.Entry, src int, source string) *person {
	// The copies keep the source's buffers (an LDIF line, a search
	// response) from staying alive with the person.
	return &person{entry: en, id: strings.Clone(en.ID), dn: strings.Clone(en.DN), src: src, source: source}
}

// card returns the person's card in the book at position i, or nil.
func (ps *person) card(i int) *encoded {
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
	cancel context.CancelFunc   // ends the workers' context
	books  []dirbook.Book       // configured, in order
	old    []*dirbook.BookState // the published state of each, or nil
	jobs   chan []*person
	wg     sync.WaitGroup
	mapped atomic.Int64
	batch  []*person
	closed bool

	// st is the state reuse was loaded from; reuse maps entry IDs to what
	// the people index says of them, for people whose published cards
	// may be reused. Both are nil when nothing is reused.
	st    *state
	reuse map[string]reusable

	// sp keeps the JSON of the mapped cards; handedOver says a plan owns
	// it now.
	sp         *spool
	handedOver bool
}

// reusable is what the index says about a person whose mapping can be
// reused when their entry has the same digest.
type reusable struct {
	digest   [16]byte
	excluded string
}

// decode sets r from the people record v and reports whether the record
// allows reuse. Most records have a digest and nothing else of interest;
// they are read without decoding the JSON. In encoding/json's output, the
// keys searched for cannot occur inside strings, where quotes are escaped.
func (r *reusable) decode(v []byte) (bool, error) {
	if !bytes.Contains(v, []byte(`,"m":`)) && !bytes.Contains(v, []byte(`,"x":`)) {
		if _, after, ok := bytes.Cut(v, []byte(`,"d":"`)); ok && len(after) > 2*len(r.digest) && after[2*len(r.digest)] == '"' {
			_, err := hex.Decode(r.digest[:], after[:2*len(r.digest)])
			return err == nil, nil
		}
		return false, nil
	}
	rec, err := decodePerson(v)
	if err != nil || rec.Remap || len(rec.Digest) != 2*len(r.digest) {
		return false, err
	}
	if _, err := hex.Decode(r.digest[:], []byte(rec.Digest)); err != nil {
		return false, nil
	}
	r.excluded = rec.Excluded
	return true, nil
}

// loadReuse reads the people index of st, if it was made by this engine's
// configuration for st's revision, so that people whose entries did not
// change need not be mapped again. Without such an index, everyone is
// mapped.
func (mp *mapPool) loadReuse(st *state) {
	if !mp.e.incremental(st) {
		return
	}
	n := 0
	for _, b := range st.rev.Books {
		n = max(n, len(b.Cards))
	}
	reuse := make(map[string]reusable, n)
	err := mp.e.store.viewIndex(st.rev.Number, mp.e.fingerprint, func(ix *indexReader) error {
		return ix.people.ForEach(func(k, v []byte) error {
			var r reusable
			ok, err := r.decode(v)
			if err != nil {
				return fmt.Errorf("people %q: %w", k, err)
			}
			if ok {
				reuse[string(k)] = r
			}
			return nil
		})
	})
	if err != nil {
		// Mapping everyone gives the same plan, only slower.
		mp.e.log.Debug("sync: people index not used", "error", err)
		return
	}
	mp.st, mp.reuse = st, reuse
}

func (e *Engine) startMapping(ctx context.Context, base *dirbook.Revision) *mapPool {
	n := max(runtime.GOMAXPROCS(0), 1)
	ctx, cancel := context.WithCancel(ctx)
	mp := &mapPool{e: e, cancel: cancel, jobs: make(chan []*person, 4*n), sp: &spool{}}
	mp.books = e.mapper.Books()
	mp.old = make([]*dirbook.BookState, len(mp.books))
	for i, b := range mp.books {
		mp.old[i] = base.Book(b.ID)
	}
	for range n {
		mp.wg.Go(func() {
			var res mapping.Result // reused: MapTo writes over the last person's cards
			for batch := range mp.jobs {
				if ctx.Err() != nil {
					continue // Plan fails; drain the queue
				}
				for _, ps := range batch {
					mp.mapOne(ps, &res)
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
	if !mp.handedOver {
		mp.sp.close()
	}
}

// handOver gives the spool to p, the plan made from mp's cards, and
// returns p and err; with an error, the spool stays with mp, whose stop
// removes it.
func (mp *mapPool) handOver(p *Plan, err error) (*Plan, error) {
	if err == nil && p != nil {
		p.adopt(mp.sp)
		mp.handedOver = true
	}
	return p, err
}

// mapOne maps ps into res, whose earlier contents it writes over. A card
// identical to the published one is replaced by it, so that the new copy
// is freed at once: a sync without changes then holds no second set of
// cards. Nothing of res is kept: the cards are encoded, the warnings
// copied.
func (mp *mapPool) mapOne(ps *person, res *mapping.Result) {
	e := mp.e
	ps.digest = entryDigest(ps.entry)
	if r, ok := mp.reuse[ps.id]; ok && r.digest == ps.digest {
		mp.reuseOne(ps, r)
		return
	}
	e.mapper.MapTo(res, ps.entry)
	ps.remap = len(res.Warnings) > 0 || res.Timed
	for i, b := range mp.books {
		c := res.Cards[b.ID]
		if c == nil {
			continue
		}
		enc := newEncoded(c)
		if old := mp.old[i]; old != nil {
			if prev := old.Cards[c.UID]; prev != nil && prev.ETag == enc.etag {
				enc = unchanged(prev)
			}
		}
		if enc.json != nil {
			mp.sp.hold(enc)
		}
		if ps.cards == nil {
			ps.cards = make([]*encoded, len(mp.books))
		}
		ps.cards[i] = enc
	}
	ps.excluded = res.Excluded
	if len(res.Warnings) > 0 {
		ps.warnings = slices.Clone(res.Warnings)
	}
	mp.readable(ps)
}

// reuseOne gives ps the published cards of their entry and the excluded
// reason r holds, as mapping the unchanged entry with the unchanged rules
// would.
func (mp *mapPool) reuseOne(ps *person, r reusable) {
	other := mp.st.byEntry[ps.id]
	for i, old := range mp.old {
		if old == nil {
			continue
		}
		var c *encoded
		if prev := old.Cards[ps.id]; prev != nil && mp.st.entryID(ps.id) == ps.id {
			c = unchanged(prev)
		}
		for _, uid := range other {
			if prev := old.Cards[uid]; c == nil && prev != nil {
				c = unchanged(prev)
			}
		}
		if c == nil {
			continue
		}
		if ps.cards == nil {
			ps.cards = make([]*encoded, len(mp.books))
		}
		ps.cards[i] = c
	}
	ps.excluded = r.excluded
	mp.readable(ps)
}

// readableIn returns the IDs of the books of configured that ps may read,
// once each, in the order of ps.readable.
func (ps *person) readableIn(configured map[string]bool) []string {
	var ids []string
	for _, id := range ps.readable {
		if configured[id] && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// readable sets the logins of ps and, for a login, the books they may
// read; then it drops the entry.
func (mp *mapPool) readable(ps *person) {
	e := mp.e
	if len(e.persons) > 0 || e.dirLogins {
		for _, v := range ps.entry.Values(e.loginAttr) {
			if e.dirLogins || e.persons[strings.ToLower(v)] {
				ps.logins = append(ps.logins, strings.Clone(v))
			}
		}
		if len(ps.logins) > 0 && ps.excluded == "" {
			ps.readable = e.mapper.Readable(ps.entry)
		}
	}
	ps.entry = nil
}

// digester holds what entryDigest reuses from one entry to the next.
type digester struct {
	h     hash.Hash
	buf   []byte
	names []string
}

var digesters = sync.Pool{New: func() any { return &digester{h: sha256.New(), buf: make([]byte, 0, 1024)} }}

// str adds the length and bytes of s.
func (d *digester) str(s string) {
	d.buf = binary.AppendUvarint(d.buf, uint64(len(s)))
	if len(d.buf)+len(s) > cap(d.buf) {
		d.h.Write(d.buf)
		d.buf = d.buf[:0]
		if len(s) > cap(d.buf) {
			io.WriteString(d.h, s)
			return
		}
	}
	d.buf = append(d.buf, s...)
}

// entryDigest returns a digest of everything of en that mapping reads:
// its ID, DN, Source, Kind, groups (in any order) and attributes.
func entryDigest(en *dirbook.Entry) [16]byte {
	d := digesters.Get().(*digester)
	defer digesters.Put(d)
	d.h.Reset()
	d.buf = d.buf[:0]
	d.str(en.ID)
	d.str(en.DN)
	d.str(en.Source)
	d.str(en.Kind)
	groups := en.Groups
	if !slices.IsSorted(groups) {
		groups = slices.Sorted(slices.Values(groups))
	}
	d.buf = binary.AppendUvarint(d.buf, uint64(len(groups)))
	for _, g := range groups {
		d.str(g)
	}
	d.names = d.names[:0]
	for name := range en.Attrs {
		d.names = append(d.names, name)
	}
	slices.Sort(d.names)
	d.buf = binary.AppendUvarint(d.buf, uint64(len(d.names)))
	for _, name := range d.names {
		vs := en.Attrs[name]
		d.str(name)
		d.buf = binary.AppendUvarint(d.buf, uint64(len(vs)))
		for _, v := range vs {
			d.str(v)
		}
	}
	d.h.Write(d.buf)
	var sum [sha256.Size]byte
	var out [16]byte
	copy(out[:], d.h.Sum(sum[:0]))
	return out
}

// unchanged returns the encoded form of a card that stays as published:
// its UID and ETag, the content being in the store.
func unchanged(sc *dirbook.StoredCard) *encoded {
	return &encoded{uid: sc.UID, etag: sc.ETag}
}
