package sync

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dirbook/dirbook"
)

// Change is one change a Feed reports.
type Change struct {
	// Entry is a person added or modified, complete: attributes and
	// Groups. It is nil for a removal. An entry with Invalid set counts
	// as its person leaving.
	Entry *dirbook.Entry
	// RemovedID is the Entry.ID of a person who left. An ID the published
	// revision does not know is ignored.
	RemovedID string
}

// Feed is a Source that also reports what changed since a state it
// returned earlier: a change feed. The engine stores each source's state
// with the revision it published from it, so that a restart continues
// where it stopped. A state is opaque to the engine.
type Feed interface {
	Source
	// Poll calls emit for each change since state (nil: since nothing)
	// and returns the new state. full reports that it emitted every
	// present person instead (first run, unusable state): the people of
	// the source it did not emit are gone. The same ID may come more than
	// once: the last change counts. An error wrapping dirbook.ErrNoFeed
	// means the source has no feed; the engine then reads it with Read.
	Poll(ctx context.Context, state []byte, emit func(Change) error) (newState []byte, full bool, err error)
	// Watch follows the changes since state until ctx ends or an error,
	// calling fn with each batch, full as for Poll, and the state after
	// it. An error fn returns ends Watch with it (wrapped).
	Watch(ctx context.Context, state []byte, fn func(changes []Change, full bool, newState []byte) error) error
}

// feed returns the change feed of source i, or nil when it has none or
// reported dirbook.ErrNoFeed.
func (e *Engine) feed(i int) Feed {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	if e.noFeed[i] {
		return nil
	}
	return e.feeds[i]
}

// dropFeed stops using the change feed of source i, which reported err
// (wrapping dirbook.ErrNoFeed): the source is read whole from now on.
func (e *Engine) dropFeed(i int, err error) {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	if !e.noFeed[i] {
		e.noFeed[i] = true
		e.log.Warn("sync: source has no change feed; reading it whole from now on", logSource, e.names[i], logErr, err)
	}
}

// hasFeeds reports whether a source has a change feed in use.
func (e *Engine) hasFeeds() bool {
	for i := range e.sources {
		if e.feed(i) != nil {
			return true
		}
	}
	return false
}

// canWatch reports whether every source has a change feed in use.
func (e *Engine) canWatch() bool {
	for i := range e.sources {
		if e.feed(i) == nil {
			return false
		}
	}
	return len(e.sources) > 0
}

// indexed reports whether the engine keeps the people index, which only
// plans from change feeds need: when a source implements Feed.
func (e *Engine) indexed() bool {
	return slices.ContainsFunc(e.feeds, func(f Feed) bool { return f != nil })
}

// makeFingerprint identifies what the people index depends on: the rules,
// the sources in order, the books, and the login settings.
func (e *Engine) makeFingerprint(rules string) string {
	if rules == "" {
		var b [16]byte
		rand.Read(b[:])
		rules = "random " + hex.EncodeToString(b[:])
	}
	buf := []byte("dirbook engine 1\n")
	buf = appendString(buf, rules)
	buf = appendStrings(append(buf, "\nsources "...), e.names)
	for _, b := range e.mapper.Books() {
		buf = appendStrings(append(buf, "\nbook "...), []string{b.ID, b.Name, b.Description})
	}
	buf = appendString(append(buf, "\nlogin "...), strings.ToLower(e.loginAttr))
	buf = strconv.AppendBool(append(buf, ' '), e.dirLogins)
	for _, u := range e.users {
		buf = appendStrings(append(buf, "\nuser "...), []string{u.Login, strings.ToLower(u.Person)})
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}

// incremental reports whether a plan may start from the index and feed
// states of st: they describe its revision and this configuration, and
// the configured books are the published ones.
func (e *Engine) incremental(st *state) bool {
	if st.rev.Number == 0 || st.index != e.fingerprint {
		return false
	}
	books := e.mapper.Books()
	if len(books) != len(st.rev.Books) {
		return false
	}
	for i, b := range books {
		if st.rev.Books[i].Book != b {
			return false
		}
	}
	return true
}

// PlanChanges plans a sync from the change feeds: each source with one is
// polled from the state stored with the published revision, and only the
// people it reports are mapped and compared; sources without a feed are
// read whole (their people not read are removed). The result is a Plan
// like Plan's, checked against the same removal limits; applying it also
// stores the feeds' new states, and a plan without changes stores them
// too, without a new revision. A plan that is not applied leaves the
// states where they were, so the changes come again.
//
// PlanChanges reads everything instead, through the feeds from scratch,
// when the published revision has no index of this configuration (the
// first sync, a store written by Plan of an engine without feeds, changed
// rules, sources, books or logins). Without sources with a feed it is Plan.
//
// Precedence: a person belongs to the earliest source that has them, as in
// Plan. A change reported by a later source for a person of an earlier one
// is skipped. When the owning source reports the person gone, a later
// source reporting them in the same plan takes over; one that does not
// report them is not consulted: the person is removed, and comes back
// from the later source at its next report or full read.
//
// Logins: a login value belongs to the person who held it; a change
// giving it to a second person leaves it with the first (with a warning),
// and when the holder leaves, a second person with the value gets it at
// the next full read.
func (e *Engine) PlanChanges(ctx context.Context) (*Plan, error) {
	if !e.hasFeeds() {
		return e.Plan(ctx)
	}
	st := e.store.state.Load()
	if !e.incremental(st) {
		return e.planFull(ctx, true)
	}
	pr := newProgress(e.progress, e.now)
	defer pr.done()
	pr.stage("read")
	mp := e.startMapping(ctx, st.rev)
	defer mp.stop()
	deltas := make([]*delta, len(e.sources))
	for i := range e.sources {
		d, err := e.readDelta(ctx, i, st, mp, pr)
		if err != nil {
			return nil, fmt.Errorf("sync: source %d (%s): %w", i+1, e.names[i], err)
		}
		deltas[i] = d
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sync: plan: %w", err)
	}
	pr.stage("map")
	mp.finish(pr)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sync: plan: %w", err)
	}
	pr.stage("plan")
	return mp.handOver(e.planDeltas(st, deltas))
}

// readDelta reads what source i reports: the changes of its feed since
// the stored state, or everything it has.
func (e *Engine) readDelta(ctx context.Context, i int, st *state, mp *mapPool, pr *progress) (*delta, error) {
	src := e.sources[i]
	if f := e.feed(i); f != nil {
		d := newDelta(i, true)
		state, full, err := f.Poll(ctx, st.feeds[e.names[i]], func(c Change) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			pr.p.Read++
			pr.tick()
			d.change(e, c, mp)
			return nil
		})
		switch {
		case errors.Is(err, dirbook.ErrNoFeed):
			e.dropFeed(i, err)
		case err != nil:
			return nil, err
		default:
			d.full, d.state, d.polled = full, state, true
			return d, nil
		}
	}
	d := newDelta(i, false)
	d.full = true
	err := src.Read(ctx, func(en *dirbook.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if en == nil {
			return nil
		}
		pr.p.Read++
		pr.tick()
		d.change(e, Change{Entry: en}, mp)
		return nil
	})
	return d, err
}

// planBatch plans a batch of changes a Watch of source i delivered.
func (e *Engine) planBatch(ctx context.Context, i int, changes []Change, full bool, state []byte) (*Plan, error) {
	st := e.store.state.Load()
	if !e.incremental(st) {
		return nil, errIndexStale
	}
	pr := newProgress(e.progress, e.now)
	defer pr.done()
	mp := e.startMapping(ctx, st.rev)
	defer mp.stop()
	d := newDelta(i, true)
	for _, c := range changes {
		d.change(e, c, mp)
	}
	d.full, d.state, d.polled = full, state, true
	mp.finish(pr)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sync: plan: %w", err)
	}
	deltas := make([]*delta, len(e.sources))
	deltas[i] = d
	return mp.handOver(e.planDeltas(st, deltas))
}

// delta is what one source reported for a plan: one event per entry ID.
type delta struct {
	src int
	// lastWins: a later report of an ID replaces an earlier one (feeds);
	// otherwise it is skipped as a duplicate (reads).
	lastWins bool
	// full: the source reported every person it has.
	full   bool
	events []event
	pos    map[string]int // ID → index in events
	skips  []Skip
	// state is the feed's new state, when polled.
	state  []byte
	polled bool
}

// event is a person reported present (ps) or gone (ps nil).
type event struct {
	id string
	ps *person
}

func newDelta(src int, lastWins bool) *delta {
	return &delta{src: src, lastWins: lastWins, pos: map[string]int{}}
}

func (d *delta) has(id string) bool {
	_, ok := d.pos[id]
	return ok
}

func (d *delta) set(id string, ps *person) {
	if j, ok := d.pos[id]; ok {
		d.events[j].ps = ps
		return
	}
	d.pos[id] = len(d.events)
	d.events = append(d.events, event{id: id, ps: ps})
}

// change records c, queueing a reported person for mapping.
func (d *delta) change(e *Engine, c Change, mp *mapPool) {
	name := e.names[d.src]
	en := c.Entry
	if en == nil {
		if c.RemovedID != "" && d.lastWins {
			d.set(c.RemovedID, nil)
		}
		return
	}
	source := cmp.Or(en.Source, name)
	switch {
	case en.Invalid != "":
		d.skips = append(d.skips, Skip{DN: en.DN, Source: source, Reason: en.Invalid})
		if en.ID != "" && d.lastWins {
			d.set(en.ID, nil)
		}
	case en.ID == "":
		d.skips = append(d.skips, Skip{DN: en.DN, Source: source, Reason: "no identity"})
	case !d.lastWins && d.has(en.ID):
		d.skips = append(d.skips, Skip{DN: en.DN, Source: source, Reason: "duplicate id, already read from source " + d.events[d.pos[en.ID]].ps.source})
	default:
		ps := newPerson(en, d.src, source)
		d.set(en.ID, ps)
		mp.add(ps)
	}
}

// A report is what source src says of a person in a plan: present (ps) or
// gone.
type report struct {
	src int
	ps  *person
}

// personChange is a person whose cards a plan from deltas recomputes.
type personChange struct {
	id    string
	old   personRecord
	known bool
	ps    *person // the person's entry now; nil when they are gone
	// logins lists the lower-case login values the person has now.
	logins []string
	// owned collects the login values the person holds after the plan.
	owned []string
}

// planDeltas plans the changes the sources reported against st, whose
// people index it reads for the people concerned.
func (e *Engine) planDeltas(st *state, deltas []*delta) (*Plan, error) {
	base := st.rev
	p := &Plan{Base: base.Number, storeID: base.StoreID, Incremental: true}
	reports := map[string][]report{}
	var ids []string
	add := func(id string, r report) {
		if _, ok := reports[id]; !ok {
			ids = append(ids, id)
		}
		reports[id] = append(reports[id], r)
	}
	fc := &feedChanges{states: map[string][]byte{}}
	allFull := true
	for i, d := range deltas {
		if d == nil {
			allFull = false
			continue
		}
		allFull = allFull && d.full
		p.Skipped = append(p.Skipped, d.skips...)
		for _, ev := range d.events {
			if ev.ps != nil {
				p.Entries++
			}
			add(ev.id, report{src: i, ps: ev.ps})
		}
		if d.polled && !bytes.Equal(d.state, st.feeds[e.names[i]]) {
			fc.states[e.names[i]] = d.state
		}
	}
	if allFull {
		fc.reconciled = e.now()
	}
	sourcePos := make(map[string]int, len(e.names))
	for i, n := range e.names {
		if _, ok := sourcePos[n]; !ok {
			sourcePos[n] = i
		}
	}

	var (
		changes []*personChange
		byID    = map[string]*personChange{}
		holders = map[string]string{} // login value → holder before the plan, for the values concerned
		refused error
	)
	err := e.store.viewIndex(base.Number, e.fingerprint, func(ix *indexReader) error {
		// A source read whole loses the people it no longer has.
		for i, d := range deltas {
			if d == nil || !d.full {
				continue
			}
			owned := 0
			err := ix.eachOf(e.names[i], func(id string) {
				owned++
				if !d.has(id) {
					add(id, report{src: i})
				}
			})
			if err != nil {
				return err
			}
			usable := slices.ContainsFunc(d.events, func(ev event) bool { return ev.ps != nil })
			if owned > 0 && !usable {
				refused = &refusedError{fmt.Sprintf("sync: source %s returned no usable entries; refusing to treat that as everyone leaving", e.names[i])}
				return nil
			}
		}
		for _, id := range ids {
			rs := reports[id]
			slices.SortStableFunc(rs, func(a, b report) int { return cmp.Compare(a.src, b.src) })
			rec, known, err := ix.person(id)
			if err != nil {
				return err
			}
			owner := -1
			if pos, ok := sourcePos[rec.Source]; known && ok {
				owner = pos
			}
			configured := owner >= 0
			// The earliest source that has the person: a source reporting
			// them present, or the owner when it reported nothing.
			winner := -1
			var ps *person
			ownerReported := false
			for _, r := range rs {
				if r.src == owner {
					ownerReported = true
				}
				if r.ps != nil && winner < 0 {
					winner, ps = r.src, r.ps
				}
			}
			if configured && !ownerReported && (winner < 0 || owner < winner) {
				winner, ps = owner, nil
			}
			for _, r := range rs {
				if r.ps != nil && r.src != winner {
					p.Skipped = append(p.Skipped, Skip{DN: r.ps.dn, Source: r.ps.source,
						Reason: "duplicate id, already read from source " + e.names[winner]})
				}
			}
			switch {
			case winner >= 0 && ps == nil:
				continue // the owner has them, unchanged
			case winner < 0 && !known:
				continue // gone, and never published
			}
			pc := &personChange{id: id, old: rec, known: known, ps: ps}
			if ps != nil {
				for _, v := range ps.logins {
					if k := strings.ToLower(v); !slices.Contains(pc.logins, k) {
						pc.logins = append(pc.logins, k)
					}
				}
			}
			changes = append(changes, pc)
			byID[id] = pc
		}
		for _, pc := range changes {
			for _, v := range pc.old.Logins {
				holders[v] = ""
			}
			for _, v := range pc.logins {
				holders[v] = ""
			}
		}
		for v := range holders {
			holders[v] = ix.holder(v)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errIndexStale) {
			return nil, err
		}
		return nil, fmt.Errorf("sync: plan: read the people index: %w", err)
	}
	if refused != nil {
		return nil, refused
	}

	books := e.mapper.Books()
	ch := &Changes{Base: base.Number, Books: make([]BookChanges, len(books)), Access: map[string][]string{}, accessPatch: true, feeds: fc}
	configured := make(map[string]bool, len(books))
	for _, b := range books {
		configured[b.ID] = true
	}
	for _, pc := range changes {
		if pc.ps != nil {
			p.warnMapping(pc.ps)
		}
	}
	for i, b := range books {
		old := base.Books[i]
		d := newBookDraft(b, old)
		// claims maps each UID a changed person's card takes to them.
		claims := map[string]*personChange{}
		for _, pc := range changes {
			if pc.ps == nil {
				continue
			}
			c := pc.ps.card(i)
			if c == nil {
				continue
			}
			if c.uid == "" {
				p.leaveOut(pc.ps, b.ID, "", "")
				continue
			}
			taken := ""
			if other := claims[c.uid]; other != nil {
				taken = other.ps.dn
			} else if old.Cards[c.uid] != nil {
				if holder := st.entryID(c.uid); holder != pc.id && byID[holder] == nil {
					taken = "the entry " + holder
				}
			}
			if taken != "" {
				p.leaveOut(pc.ps, b.ID, c.uid, taken)
				continue
			}
			claims[c.uid] = pc
		}
		for _, pc := range claims {
			d.put(pc.ps.card(i), pc.ps)
		}
		for _, pc := range changes {
			for _, uid := range st.uidsOf(pc.id) {
				if old.Cards[uid] != nil && claims[uid] == nil {
					d.remove(uid, pc.ps)
				}
			}
		}
		if err := e.finishBook(base.Number, d); err != nil {
			return nil, err
		}
		p.Books = append(p.Books, d.bp)
		ch.Books[i] = d.bc
	}

	ic := &indexChanges{fingerprint: e.fingerprint, logins: map[string]string{}}
	e.accessChanges(base, changes, byID, holders, configured, ch, ic, p)
	for _, pc := range changes {
		switch {
		case pc.ps != nil:
			slices.Sort(pc.owned)
			rec := e.personRecord(pc.ps, pc.owned)
			if !pc.known || !rec.equal(&pc.old) {
				ic.people = append(ic.people, indexedPerson{id: pc.id, rec: rec})
			}
		case pc.known:
			ic.gone = append(ic.gone, pc.id)
		}
	}
	fc.index = ic
	e.conclude(p, ch, "sync: planned from changes")
	return p, nil
}

// accessChanges computes what the changed people change in Access: for
// each login value they had or have, who holds it now and which books
// the logins it names may read. It fills ch.Access with the logins whose
// books change, ic.logins with the values whose holder changes, and each
// person's owned values.
func (e *Engine) accessChanges(base *dirbook.Revision, changes []*personChange, byID map[string]*personChange, holders map[string]string, configured map[string]bool, ch *Changes, ic *indexChanges, p *Plan) {
	readable := func(pc *personChange) []string {
		if pc == nil || pc.ps == nil || pc.ps.excluded != "" {
			return nil
		}
		return pc.ps.readableIn(configured)
	}
	newAccess := map[string][]string{}
	for _, v := range sortedKeys(holders) {
		cur := holders[v]
		if cur != "" && byID[cur] == nil {
			// Held by someone the plan does not change: stays theirs.
			for _, pc := range changes {
				if slices.Contains(pc.logins, v) {
					p.Warnings = append(p.Warnings, e.loginShared(pc.ps.dn, v, "the entry "+cur))
				}
			}
			continue
		}
		var holder *personChange
		if pc := byID[cur]; pc != nil && slices.Contains(pc.logins, v) {
			holder = pc
		}
		for _, pc := range changes {
			if !slices.Contains(pc.logins, v) || pc == holder {
				continue
			}
			if holder == nil {
				holder = pc
				continue
			}
			p.Warnings = append(p.Warnings, e.loginShared(pc.ps.dn, v, holder.ps.dn))
		}
		switch {
		case holder != nil:
			holder.owned = append(holder.owned, v)
			if holder.id != cur {
				ic.logins[v] = holder.id
			}
		case cur != "":
			ic.logins[v] = ""
		}
		ids := readable(holder)
		for _, u := range e.personUsers[v] {
			newAccess[u.Login] = ids
			if holder == nil {
				p.Warnings = append(p.Warnings, e.noPerson(u))
			}
		}
		if e.dirLogins && !e.firstUser[v] {
			newAccess[v] = ids
		}
	}
	for _, login := range sortedKeys(newAccess) {
		oldIDs, newIDs := base.Access[login], newAccess[login]
		if !slices.Equal(oldIDs, newIDs) {
			p.Access = append(p.Access, AccessChange{Login: login, Old: oldIDs, New: newIDs})
			ch.Access[login] = newIDs
		}
	}
}

// uidsOf returns the UIDs the cards made from the entry id may have: id
// itself, unless a card of that UID was made from another entry, and the
// UIDs that differ from it.
func (st *state) uidsOf(id string) []string {
	var out []string
	if _, ok := st.entries[id]; !ok {
		out = append(out, id)
	}
	return append(out, st.byEntry[id]...)
}
