// Package sync reads people from the configured sources, maps each entry to
// the cards it yields per address book, plans the changes against the
// published state (cards added, changed field by field, removed with a
// reason, and who may read which book), checks the plan against the removal
// limits, and publishes it atomically as a new revision into the store, a
// bbolt file that also keeps the history sync tokens need (tombstones of
// removed cards, a log of each revision's changes) for a retention period.
// A Scheduler runs syncs at an interval, with backoff and triggers.
//
// Sources with a change feed (Feed) make syncs incremental: PlanChanges
// maps only the people a feed reports and compares them with the
// published cards, found through a people index the store keeps on disk,
// so that its cost grows with the changes, not with the directory. The
// feeds' states are stored with the revision they produced. The
// scheduler follows the feeds as they report changes (watch mode) or polls
// them, and reads everything at a reconcile interval.
//
// Other packages import it as dirsync, since its name shadows the standard
// library's sync.
package sync

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// Source reads people from a directory. Read calls emit once per entry and
// returns the first error of either; an error means the read is incomplete.
type Source interface {
	Read(ctx context.Context, emit func(*dirbook.Entry) error) error
}

// Mapper turns entries into cards; *mapping.Mapper implements it. Map and
// Readable are called from several goroutines at once.
type Mapper interface {
	// Books lists the configured books in configuration order.
	Books() []dirbook.Book
	// MapTo writes the cards an entry yields per book into a Result,
	// reusing the memory of the Result's earlier contents.
	MapTo(*mapping.Result, *dirbook.Entry)
	// Readable lists the IDs of the books the entry's person may read.
	Readable(*dirbook.Entry) []string
}

// User is a login allowed to read books, and the person it belongs to.
type User struct {
	// Login is the login name (an app-password user).
	Login string
	// Person is the value of EngineOptions.LoginAttribute identifying the
	// person in the directory; it is compared case-insensitively.
	Person string
}

// EngineOptions configures an Engine.
type EngineOptions struct {
	// Users lists the logins whose book access the engine computes. If
	// nil, no one has access to any book.
	Users []User
	// DirectoryLogins makes every person with a value of LoginAttribute a
	// login of its own (people logging in with their directory password):
	// Revision.Access gets an entry for each, keyed by the value in lower
	// case. Users take precedence over a directory login of the same name.
	// If false, only Users get access entries.
	DirectoryLogins bool
	// LoginAttribute is the directory attribute that User.Person names. If
	// empty, "uid" is used.
	LoginAttribute string
	// Logger receives debug records with counts (never personal data),
	// and a warning when a source's change feed turns out to be missing
	// (dirbook.ErrNoFeed) and the source is read whole from then on. If
	// nil, slog.Default() is used.
	Logger *slog.Logger

	// MaxRemovals refuses a plan that removes more than this many people
	// (from at least one book each). If zero, there is no absolute limit.
	MaxRemovals int
	// MaxRemovalShare refuses a plan that removes more than this share of
	// the published cards of any book: 0.1 is 10 %. If zero, 0.1 is used;
	// 1 or more turns the share rule off.
	MaxRemovalShare float64
	// ShareFloor is how many removals from one book the share rule always
	// allows, so that one person leaving a book of five needs no force. If
	// zero, 3 is used; if negative, none.
	ShareFloor int

	// Progress, if not nil, is called with the counters of a running Plan
	// or Apply, at most every 200 ms, and once more at its end (Done).
	// It runs on the syncing goroutine and must return quickly.
	Progress func(Progress)

	// RulesFingerprint identifies the rules the Mapper applies, e.g. a
	// hash of the configuration's mapping section. PlanChanges continues
	// from the feed states stored with the published revision only when
	// that revision was planned with the same rules, sources, books and
	// logins; otherwise it reads every source whole. Likewise, Plan maps
	// again only the entries that changed since the published revision
	// when that revision was planned with the same configuration, and
	// everyone otherwise. If empty, the rules count as different in
	// every Engine: its first PlanChanges reads everything, and its first
	// Plan maps everyone.
	RulesFingerprint string
}

// Engine plans and applies syncs from sources into a store.
type Engine struct {
	store     *Store
	sources   []Source
	mapper    Mapper
	users     []User
	loginAttr string
	// dirLogins makes every person's login attribute value a login.
	dirLogins bool
	log       *slog.Logger
	limits    limits
	progress  func(Progress)
	now       func() time.Time

	// names holds the sources' names by position, feeds their change
	// feeds (nil for a source without one).
	names []string
	feeds []Feed
	// fingerprint identifies the configuration the people index is made
	// with (see RulesFingerprint).
	fingerprint string
	// persons holds the lower-case Person values of Users, firstUser
	// the logins of Users. personUsers maps lower-case Person values to
	// the users that come first with their login.
	persons     map[string]bool
	firstUser   map[string]bool
	personUsers map[string][]User

	fmu    sync.Mutex
	noFeed []bool // sources whose feed reported dirbook.ErrNoFeed
}

// NewEngine returns an engine reading sources in order, mapping entries with
// m, and publishing into store.
func NewEngine(store *Store, sources []Source, m Mapper, opts *EngineOptions) *Engine {
	e := &Engine{
		store: store, sources: sources, mapper: m, loginAttr: "uid", log: slog.Default(),
		limits: limits{share: defaultMaxRemovalShare, floor: defaultShareFloor},
		now:    time.Now,
	}
	if opts != nil {
		e.users = slices.Clone(opts.Users)
		e.dirLogins = opts.DirectoryLogins
		if opts.LoginAttribute != "" {
			e.loginAttr = opts.LoginAttribute
		}
		if opts.Logger != nil {
			e.log = opts.Logger
		}
		e.limits.maxRemovals = max(opts.MaxRemovals, 0)
		if opts.MaxRemovalShare != 0 {
			e.limits.share = opts.MaxRemovalShare
		}
		switch {
		case opts.ShareFloor > 0:
			e.limits.floor = opts.ShareFloor
		case opts.ShareFloor < 0:
			e.limits.floor = 0
		}
		e.progress = opts.Progress
	}
	e.names = make([]string, len(sources))
	e.feeds = make([]Feed, len(sources))
	e.noFeed = make([]bool, len(sources))
	seen := make(map[string]bool, len(sources))
	for i, src := range sources {
		e.names[i] = sourceName(i, src)
		if seen[e.names[i]] {
			// Feed states and the index are kept by source name.
			e.names[i] = fmt.Sprintf("%s#%d", e.names[i], i+1)
		}
		seen[e.names[i]] = true
		if f, ok := src.(Feed); ok {
			e.feeds[i] = f
		}
	}
	e.persons = make(map[string]bool, len(e.users))
	e.firstUser = make(map[string]bool, len(e.users))
	e.personUsers = make(map[string][]User, len(e.users))
	for _, u := range e.users {
		k := strings.ToLower(u.Person)
		e.persons[k] = true
		if e.firstUser[u.Login] {
			continue
		}
		e.firstUser[u.Login] = true
		e.personUsers[k] = append(e.personUsers[k], u)
	}
	var rules string
	if opts != nil {
		rules = opts.RulesFingerprint
	}
	e.fingerprint = e.makeFingerprint(rules)
	return e
}

// Store returns the store the engine publishes into.
func (e *Engine) Store() *Store { return e.store }

// Log attribute keys.
const (
	logSource   = "source"
	logEntries  = "entries"
	logSkipped  = "skipped"
	logRevision = "revision"
	logAdded    = "added"
	logChanged  = "changed"
	logRemoved  = "removed"
)

// refusedError is a plan refused by a safety rule.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }
func (e *refusedError) Unwrap() error { return dirbook.ErrRefused }

// Plan reads every source fully, maps the entries, and compares the result
// with the store's current revision. A source error aborts the plan. When
// two entries have the same ID, the earlier source in configuration order
// takes precedence (within one source, the earlier entry) and the later one
// is skipped. Plan refuses, with an error wrapping dirbook.ErrRefused, when
// the sources returned no usable entry at all: an empty or failed read
// never counts as everyone leaving. A plan that exceeds the removal limits
// is returned with a non-nil Refusal.
//
// Plan reads sources with Read, also those with change feeds, whose stored
// states it keeps as they are (see PlanChanges).
func (e *Engine) Plan(ctx context.Context) (*Plan, error) {
	return e.planFull(ctx, false)
}

// planFull is Plan. With refresh, sources with a change feed are read
// through it from scratch (Poll without state), and the plan stores the
// feed states they return with the revision; a feed reporting
// dirbook.ErrNoFeed is read with Read instead.
func (e *Engine) planFull(ctx context.Context, refresh bool) (*Plan, error) {
	pr := newProgress(e.progress, e.now)
	defer pr.done()
	st := e.store.state.Load()
	base := st.rev
	p := &Plan{Base: base.Number, storeID: base.StoreID}
	pr.stage("read")

	var people []*person
	byID := make(map[string]*person)
	mp := e.startMapping(ctx, base)
	defer mp.stop()
	mp.loadReuse(st)
	states := map[string][]byte{}
	for i, src := range e.sources {
		name := e.names[i]
		n := 0
		emit := func(en *dirbook.Entry) error {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if en == nil {
				return nil
			}
			pr.p.Read++
			pr.tick()
			source := cmp.Or(en.Source, name)
			switch {
			case en.Invalid != "":
				p.Skipped = append(p.Skipped, Skip{DN: en.DN, Source: source, Reason: en.Invalid})
			case en.ID == "":
				p.Skipped = append(p.Skipped, Skip{DN: en.DN, Source: source, Reason: "no identity"})
			case byID[en.ID] != nil:
				p.Skipped = append(p.Skipped, Skip{DN: en.DN, Source: source, Reason: "duplicate id, already read from source " + byID[en.ID].source})
			default:
				ps := newPerson(en, i, source)
				byID[en.ID] = ps
				people = append(people, ps)
				if n%mapBatch == 0 {
					pr.p.Mapped = int(mp.mapped.Load())
				}
				mp.add(ps)
			}
			return nil
		}
		var err error
		if f := e.feed(i); refresh && f != nil {
			start, skipped := len(people), len(p.Skipped)
			var state []byte
			var full bool
			state, full, err = f.Poll(ctx, nil, func(c Change) error {
				if c.Entry == nil {
					return nil
				}
				return emit(c.Entry)
			})
			switch {
			case errors.Is(err, dirbook.ErrNoFeed):
				// Forget what the feed emitted, and read the source.
				e.dropFeed(i, err)
				for _, ps := range people[start:] {
					delete(byID, ps.id)
				}
				people, p.Skipped = people[:start], p.Skipped[:skipped]
				err = src.Read(ctx, emit)
			case err == nil && !full:
				err = errors.New("its change feed, asked for everything, reported changes only")
			case err == nil && !bytes.Equal(state, st.feeds[name]):
				states[name] = state
			}
		} else {
			err = src.Read(ctx, emit)
		}
		if err != nil {
			return nil, fmt.Errorf("sync: source %d (%s): %w", i+1, name, err)
		}
		e.log.Debug("sync: source read", logSource, name, logEntries, n)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sync: plan: %w", err)
	}
	if len(people) == 0 {
		msg := "sync: sources returned no entries; refusing to treat that as everyone leaving"
		if len(p.Skipped) > 0 {
			msg = fmt.Sprintf("sync: sources returned no usable entries (%d skipped); refusing to treat that as everyone leaving", len(p.Skipped))
		}
		return nil, &refusedError{msg}
	}
	p.Entries = len(people)
	pr.stage("map")
	mp.finish(pr)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sync: plan: %w", err)
	}

	books := e.mapper.Books()
	// newCards[i] maps UID → person for book i.
	newCards := make([]map[string]*person, len(books))
	for i := range newCards {
		newCards[i] = make(map[string]*person)
	}
	pr.stage("plan")
	for _, ps := range people {
		p.warnMapping(ps)
		for i, b := range books {
			c := ps.card(i)
			switch {
			case c == nil:
			case c.uid == "":
				p.leaveOut(ps, b.ID, "", "")
			case newCards[i][c.uid] != nil:
				p.leaveOut(ps, b.ID, c.uid, newCards[i][c.uid].dn)
			default:
				newCards[i][c.uid] = ps
			}
		}
	}

	// left finds the person a published card without successor was made
	// from, if they are still in the directory. byUID, built on first
	// use, finds people still in other books.
	var byUID map[string]*person
	left := func(uid string) *person {
		if byUID == nil {
			byUID = make(map[string]*person)
			for i := range books {
				for uid, ps := range newCards[i] {
					if byUID[uid] == nil {
						byUID[uid] = ps
					}
				}
			}
		}
		if ps := byUID[uid]; ps != nil {
			return ps
		}
		return byID[st.entryID(uid)]
	}

	ch := &Changes{Base: base.Number, Books: make([]BookChanges, len(books))}
	configured := make(map[string]bool, len(books))
	for i, b := range books {
		configured[b.ID] = true
		old := base.Book(b.ID)
		d := newBookDraft(b, old)
		for _, ps := range newCards[i] {
			d.put(ps.cards[i], ps)
		}
		if old != nil {
			for _, uid := range old.UIDs {
				if newCards[i][uid] == nil {
					d.remove(uid, left(uid))
				}
			}
		}
		if err := e.finishBook(base.Number, d); err != nil {
			return nil, err
		}
		p.Books = append(p.Books, d.bp)
		ch.Books[i] = d.bc
	}
	for _, old := range base.Books {
		if configured[old.ID] {
			continue
		}
		prev := old.Book
		bp := BookPlan{Book: old.Book, Previous: &prev, Dropped: true, Published: len(old.Cards)}
		for _, uid := range old.UIDs {
			bp.Removed = append(bp.Removed, CardChange{UID: uid, Reason: "book no longer configured"})
		}
		if err := e.describe(base.Number, old.ID, &bp, nil, old.UIDs); err != nil {
			return nil, err
		}
		bp.sort()
		p.Books = append(p.Books, bp)
	}
	var oldOrder, newOrder []string
	for _, b := range base.Books {
		if configured[b.ID] {
			oldOrder = append(oldOrder, b.ID)
		}
	}
	for _, b := range books {
		if base.Book(b.ID) != nil {
			newOrder = append(newOrder, b.ID)
		}
	}
	p.Reordered = !slices.Equal(oldOrder, newOrder)

	var holders map[string]*person
	ch.Access, holders = e.access(people, configured, p)
	// Every engine keeps the index: besides plans from changes, full
	// reads use it to skip mapping people whose entries did not change.
	ch.feeds = &feedChanges{states: states, index: e.fullIndex(people, holders)}
	if e.indexed() {
		ch.feeds.reconciled = e.now()
	}
	for _, login := range sortedKeys(unionKeys(base.Access, ch.Access)) {
		oldIDs, newIDs := base.Access[login], ch.Access[login]
		if !slices.Equal(oldIDs, newIDs) {
			p.Access = append(p.Access, AccessChange{Login: login, Old: oldIDs, New: newIDs})
		}
	}
	e.conclude(p, ch, "sync: planned")
	return mp.handOver(p, nil)
}

// conclude makes ch the changes of p, checks p against the removal
// limits, and logs its counts with msg.
func (e *Engine) conclude(p *Plan, ch *Changes, msg string) {
	p.changes = ch
	p.refusal = p.check(e.limits)
	t := p.totals()
	e.log.Debug(msg, logRevision, p.Base, logEntries, p.Entries, logSkipped, len(p.Skipped),
		logAdded, t.Added, logChanged, t.Changed, logRemoved, t.Removed)
}

// warnMapping adds the warnings of the mapping of ps to p.
func (p *Plan) warnMapping(ps *person) {
	for _, w := range ps.warnings {
		p.Warnings = append(p.Warnings, Warning{DN: ps.dn, Field: w.Field, Message: w.Message})
	}
}

// leaveOut leaves the card of ps in book out of p, with a warning: the
// card has no UID (uid ""), or its UID is taken by another person, named
// by taker. ps is then mapped again at every read (personRecord.Remap).
func (p *Plan) leaveOut(ps *person, book, uid, taker string) {
	ps.remap = true
	msg := fmt.Sprintf("card UID %s in book %s is already taken by %s; left out", uid, book, taker)
	if uid == "" {
		msg = fmt.Sprintf("card for book %s has no UID; left out", book)
	}
	p.Warnings = append(p.Warnings, Warning{DN: ps.dn, Field: "uid", Message: msg})
}

// loginShared is the warning that the login value v of the entry dn is
// also the value of holder (a DN, or "the entry" and its ID), whose
// logins use it.
func (e *Engine) loginShared(dn, v, holder string) Warning {
	return Warning{DN: dn, Field: e.loginAttr,
		Message: fmt.Sprintf("%s %q is also the value of %s; logins for it use the first", e.loginAttr, v, holder)}
}

// noPerson is the warning that no person holds the value the user u
// names.
func (e *Engine) noPerson(u User) Warning {
	return Warning{Field: "login " + u.Login,
		Message: fmt.Sprintf("no person with %s %q; the login reads no book", e.loginAttr, u.Person)}
}

// bookDraft collects the changes of one configured book while a plan is
// made.
type bookDraft struct {
	bp  BookPlan
	bc  BookChanges
	old *dirbook.BookState // as published; nil for a new book
	// changed and removed are the cards describe completes bp with.
	changed []*encoded
	removed []string
}

func newBookDraft(b dirbook.Book, old *dirbook.BookState) *bookDraft {
	d := &bookDraft{bp: BookPlan{Book: b}, bc: BookChanges{Book: b}, old: old}
	if old != nil {
		prev := old.Book
		d.bp.Previous = &prev
		d.bp.Published = len(old.Cards)
	}
	return d
}

// put plans the card c of ps: added when the book has no card of its
// UID, changed when that card differs, and nothing otherwise.
func (d *bookDraft) put(c *encoded, ps *person) {
	var prev *dirbook.StoredCard
	if d.old != nil {
		prev = d.old.Cards[c.uid]
	}
	switch {
	case prev == nil:
		d.bp.Added = append(d.bp.Added, CardChange{UID: c.uid, FN: c.fn, DN: ps.dn})
	case prev.ETag != c.etag:
		d.bp.Changed = append(d.bp.Changed, CardChange{UID: c.uid, FN: c.fn, DN: ps.dn})
		d.changed = append(d.changed, c)
	default:
		return
	}
	d.bc.Put = append(d.bc.Put, CardPut{enc: c, EntryID: ps.id})
}

// remove plans the removal of the published card uid, made from the
// person ps: nil when they are no longer in the directory.
func (d *bookDraft) remove(uid string, ps *person) {
	cc := CardChange{UID: uid, Reason: "no longer in the directory"}
	switch {
	case ps == nil:
	case ps.excluded != "":
		cc.Reason, cc.DN = ps.excluded, ps.dn
		if !strings.HasPrefix(cc.Reason, "excluded") {
			cc.Reason = "excluded: " + cc.Reason
		}
	default:
		cc.Reason, cc.DN = "no longer matches book rules", ps.dn
	}
	d.bp.Removed = append(d.bp.Removed, cc)
	d.bc.Delete = append(d.bc.Delete, uid)
	d.removed = append(d.removed, uid)
}

// finishBook completes d with describe and puts its lists in order.
func (e *Engine) finishBook(base uint64, d *bookDraft) error {
	if err := e.describe(base, d.bp.Book.ID, &d.bp, d.changed, d.removed); err != nil {
		return err
	}
	slices.SortFunc(d.bc.Put, func(a, b CardPut) int { return cmp.Compare(a.uid(), b.uid()) })
	slices.Sort(d.bc.Delete)
	d.bp.sort()
	return nil
}

// describe completes the changes of bp, a plan of book made against the
// revision base, with what only the published cards tell: the fields in
// which the cards of changed differ from them, and the names of the
// removed cards. It reads those cards from the store, the plan holding
// only the new ones.
func (e *Engine) describe(base uint64, book string, bp *BookPlan, changed []*encoded, removed []string) error {
	if len(changed) == 0 && len(removed) == 0 {
		return nil
	}
	uids := slices.Clone(removed)
	now := make(map[string]*encoded, len(changed))
	for _, c := range changed {
		uids = append(uids, c.uid)
		now[c.uid] = c
	}
	fields := make(map[string][]FieldChange, len(changed))
	names := make(map[string]string, len(removed))
	err := e.store.publishedCards(base, book, uids, func(old *dirbook.Card) error {
		c := now[old.UID]
		if c == nil {
			names[old.UID] = old.FN()
			return nil
		}
		canon, err := c.canonical()
		if err != nil {
			return err
		}
		card, err := decodeCanonical(canon)
		if err != nil {
			return fmt.Errorf("sync: book %q: card %q: %w", book, c.uid, err)
		}
		fields[c.uid] = diffCards(old, card)
		return nil
	})
	if err != nil {
		return err
	}
	for i := range bp.Changed {
		bp.Changed[i].Fields = fields[bp.Changed[i].UID]
	}
	for i := range bp.Removed {
		bp.Removed[i].FN = names[bp.Removed[i].UID]
	}
	return nil
}

// access computes the new access map: for each user, the readable books of
// the entry whose login attribute equals the user's person. Users whose
// person is missing or excluded read nothing. It also returns the holder
// of each lower-case login value: the first person with it.
func (e *Engine) access(people []*person, configured map[string]bool, p *Plan) (map[string][]string, map[string]*person) {
	found := make(map[string]*person, len(e.users))
	for _, ps := range people {
		for _, v := range ps.logins {
			k := strings.ToLower(v)
			if other := found[k]; other != nil && other != ps {
				p.Warnings = append(p.Warnings, e.loginShared(ps.dn, v, other.dn))
				continue
			}
			found[k] = ps
		}
	}
	access := make(map[string][]string)
	done := make(map[string]bool, len(e.users))
	for _, u := range e.users {
		if done[u.Login] {
			continue
		}
		done[u.Login] = true
		ps := found[strings.ToLower(u.Person)]
		if ps == nil {
			p.Warnings = append(p.Warnings, e.noPerson(u))
			continue
		}
		if ps.excluded != "" {
			continue
		}
		ids := ps.readableIn(configured)
		if len(ids) > 0 {
			access[u.Login] = ids
		}
	}
	if !e.dirLogins {
		return access, found
	}
	for _, ps := range people {
		if ps.excluded != "" {
			continue
		}
		ids := ps.readableIn(configured)
		if len(ids) == 0 {
			continue
		}
		for _, v := range ps.logins {
			k := strings.ToLower(v)
			if done[k] || found[k] != ps {
				continue // an app-password login of that name, or a duplicate value
			}
			done[k] = true
			access[k] = ids
		}
	}
	return access, found
}

// fullIndex returns the people index of a plan from a whole read: every
// person with their source and the login values they hold.
func (e *Engine) fullIndex(people []*person, holders map[string]*person) *indexChanges {
	ic := &indexChanges{fingerprint: e.fingerprint, full: true, people: make([]indexedPerson, len(people)), logins: make(map[string]string, len(holders))}
	owned := make(map[*person][]string, len(holders))
	for k, ps := range holders {
		owned[ps] = append(owned[ps], k)
		ic.logins[k] = ps.id
	}
	for i, ps := range people {
		logins := owned[ps]
		slices.Sort(logins)
		ic.people[i] = indexedPerson{id: ps.id, rec: e.personRecord(ps, logins)}
	}
	return ic
}

// personRecord returns the index record of ps holding the sorted logins.
func (e *Engine) personRecord(ps *person, logins []string) personRecord {
	return personRecord{Source: e.names[ps.src], Logins: logins, Digest: hex.EncodeToString(ps.digest[:]),
		Remap: ps.remap, Excluded: ps.excluded}
}

// ApplyOptions configures Engine.ApplyWith.
type ApplyOptions struct {
	// Force applies a plan that the removal limits refuse. If false, such
	// a plan is refused unless ApprovedID names it.
	Force bool
	// ApprovedID lets exactly the plan with this ID (Plan.ID) through the
	// removal limits: the plan an operator reviewed in a dry run. A plan
	// that changed since, or that the limits do not refuse, is not
	// affected. If empty, nothing is approved.
	ApprovedID string
}

// Apply is ApplyWith without options: a plan the removal limits refuse is
// refused.
func (e *Engine) Apply(ctx context.Context, p *Plan) (*dirbook.Revision, error) {
	return e.ApplyWith(ctx, p, nil)
}

// ApplyWith publishes p as a new revision and returns it. It refuses a plan
// made against another revision than the store's current one. A plan the
// removal limits refuse (p.Refusal() != nil) is refused as a whole, with the
// *Refusal as error (wrapping dirbook.ErrRefused), unless opts forces or
// approves it. An empty plan publishes nothing and returns the current
// revision.
func (e *Engine) ApplyWith(ctx context.Context, p *Plan, opts *ApplyOptions) (*dirbook.Revision, error) {
	if opts == nil {
		opts = &ApplyOptions{}
	}
	cur := e.store.Current()
	if p == nil || p.changes == nil {
		return nil, fmt.Errorf("sync: apply: no plan")
	}
	if p.Base != cur.Number {
		return nil, fmt.Errorf("sync: plan is stale: made against revision %d, the store is at %d", p.Base, cur.Number)
	}
	if p.Empty() {
		if fc := p.changes.feeds; fc != nil && e.store.needsFeeds(fc) {
			if err := e.store.saveFeeds(ctx, p.Base, fc); err != nil {
				return nil, err
			}
		}
		return cur, nil
	}
	if r := p.Refusal(); r != nil && !opts.Force && opts.ApprovedID != r.PlanID {
		if opts.ApprovedID != "" {
			return nil, fmt.Errorf("%w (the approved plan %s is not this plan)", r, oneLine(opts.ApprovedID))
		}
		return nil, r
	}
	pr := newProgress(e.progress, e.now)
	pr.stage("publish")
	defer pr.done()
	return e.store.publish(ctx, p.changes, pr.published)
}

// Sync plans and applies one sync with Apply, and returns the current
// revision afterwards.
func (e *Engine) Sync(ctx context.Context) (*dirbook.Revision, error) {
	p, err := e.Plan(ctx)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return e.Apply(ctx, p)
}

func sourceName(i int, src Source) string {
	if n, ok := src.(interface{ Name() string }); ok && n.Name() != "" {
		return n.Name()
	}
	return fmt.Sprintf("#%d", i+1)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func unionKeys(a, b map[string][]string) map[string]bool {
	u := make(map[string]bool, len(a)+len(b))
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}
