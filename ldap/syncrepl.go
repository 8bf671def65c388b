package ldap

// The content-sync feed (RFC 4533) of OpenLDAP servers.
//
// A feed runs two content-sync searches, each with its own cookie: one for
// the people (Base, Scope, Filter) and one for the groups (GroupBase,
// GroupFilter). Following the groups is necessary: slapd's memberof and
// refint overlays rewrite a person's memberOf without touching the
// person's entryCSN, so when a partner is added to or removed from a group
// only the group entry changes, and the people search never reports it
// (under a memberOf filter, not even as a deletion when there is a session
// log). The feed therefore keeps a snapshot of every group's member list
// in its state; when a group changes it re-reads the people the group
// lists, before and after the change and through nested groups, and
// reports them with their memberships recomputed, or as removed when they
// no longer match the filter.
//
// Deletions: the state keeps the entryUUID of every person reported. With
// a session log slapd sends deleted entryUUIDs (mixed with unrelated ones:
// entries outside the search that changed); only the known ones are
// reported. Without a session log slapd sends the entryUUIDs of every
// entry still present (the present phase); the known ones not among them
// are reported as removed, and present ones never reported are read.
// Either way Poll reports removals itself and full stays false.
//
// Full reads: content sync cannot be combined with paged results, and
// slapd applies the account's size limit to the entries a refresh sends,
// so a feed never asks for a whole directory by sync. When it has no
// usable state, or the server cannot continue from the cookie (size limit
// exceeded by the changes, e-syncRefreshRequired, too many people
// concerned), it notes where the feed stands (a refresh with a filter that
// matches nothing, which returns the current cookie), then reads groups
// and people with paged searches, and reports full.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dirbook/dirbook"
	goldap "github.com/go-ldap/ldap/v3"
)

// maxIncremental bounds the people one incremental refresh may concern
// (changed, or to be read again because a group listing them changed):
// beyond it a full paged read is cheaper than reading them one by one.
const maxIncremental = 5000

// errNeedFull reports that the feed cannot continue from its state.
var errNeedFull = errors.New("content sync cannot continue from its state")

// syncer runs the content sync of a Source over one connection.
type syncer struct {
	s  *Source
	c  *conn
	st *syncState
	// idx resolves memberships from st.groups; nil until needed and
	// after the groups changed.
	idx *groupIndex
	// peopleAttrs are the attributes read of people: the source's, and
	// entryUUID. stripUUID is set when entryUUID was added and is not
	// handed over.
	peopleAttrs []string
	stripUUID   bool
}

func (s *Source) newSyncer(c *conn, st *syncState) *syncer {
	y := &syncer{s: s, c: c, st: st, peopleAttrs: s.attrs}
	if !slices.ContainsFunc(s.attrs, func(a string) bool { return strings.EqualFold(a, "entryUUID") }) {
		y.peopleAttrs = append(slices.Clone(s.attrs), "entryUUID")
		y.stripUUID = true
	}
	return y
}

// syncGroupAttrs are the attributes the feed reads of groups.
var syncGroupAttrs = []string{"entryUUID", "member", "uniqueMember", "memberUid"}

func (y *syncer) peopleRequest(filter string, attrs []string) *goldap.SearchRequest {
	return goldap.NewSearchRequest(y.s.base, y.s.scope, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
}

func (y *syncer) groupRequest(filter string, attrs []string) *goldap.SearchRequest {
	return goldap.NewSearchRequest(y.s.groupBase, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
}

// loadState decodes state, or returns nil when it is empty or unusable:
// corrupt, of another version, or written under other settings.
func (s *Source) loadState(state []byte) *syncState {
	if len(state) == 0 {
		return nil
	}
	st, err := decodeSyncState(state)
	if err != nil || st.config != s.feedConfig() || len(st.peopleCookie) == 0 || len(st.groupCookie) == 0 {
		return nil
	}
	return st
}

// pollSyncrepl implements Poll with content sync.
func (s *Source) pollSyncrepl(ctx context.Context, state []byte, emit func(Change) error) ([]byte, bool, error) {
	emit = s.wrapEmit("poll", emit)
	if st := s.loadState(state); st != nil {
		out, err := s.pollIncremental(ctx, st, emit)
		if !errors.Is(err, errNeedFull) {
			return out, false, err
		}
	}
	c, err := s.connect(ctx)
	if err != nil {
		return nil, false, err
	}
	defer c.close()
	y := s.newSyncer(c, nil)
	if err := y.full(ctx, emit); err != nil {
		return nil, false, err
	}
	return y.st.encode(), true, nil
}

// pollIncremental refreshes the groups, then the people, from the cookies
// of st, and emits the changes. It returns an error wrapping errNeedFull,
// having emitted nothing, when the server cannot continue from st.
func (s *Source) pollIncremental(ctx context.Context, st *syncState, emit func(Change) error) ([]byte, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.close()
	y := s.newSyncer(c, st)
	g, err := y.refresh(ctx, y.groupRequest(s.groupFilter, syncGroupAttrs), st.groupCookie)
	if err != nil {
		return nil, err
	}
	p, err := y.refresh(ctx, y.peopleRequest(s.filter, y.peopleAttrs), st.peopleCookie)
	if err != nil {
		return nil, err
	}
	if err := y.apply(ctx, g, p, emit); err != nil {
		return nil, err
	}
	return y.st.encode(), nil
}

// wrapEmit wraps the errors of emit, so that they name the source.
func (s *Source) wrapEmit(op string, emit func(Change) error) func(Change) error {
	return func(ch Change) error {
		if err := emit(ch); err != nil {
			return fmt.Errorf("ldap: %s %s: %w", op, s.url, err)
		}
		return nil
	}
}

// syncBatch gathers what one content-sync search reported.
type syncBatch struct {
	// changed holds the entries added or modified, in their latest
	// version; order lists their entryUUIDs in the order they first
	// arrived.
	changed map[entryUUID]*goldap.Entry
	order   []entryUUID
	deleted map[entryUUID]bool
	// present holds the entryUUIDs reported present. presentPhase is set
	// when the server used the present phase: then every entry neither
	// present nor changed is gone.
	present      map[entryUUID]bool
	presentPhase bool
	// refreshDone is set once the refresh stage is complete.
	refreshDone bool
	// cookie is the last cookie received; nil when none was.
	cookie []byte
}

func newSyncBatch() *syncBatch {
	return &syncBatch{changed: map[entryUUID]*goldap.Entry{}, deleted: map[entryUUID]bool{}, present: map[entryUUID]bool{}}
}

// size returns the number of changes in b.
func (b *syncBatch) size() int { return len(b.changed) + len(b.deleted) }

func (b *syncBatch) setCookie(c []byte) {
	if len(c) > 0 {
		b.cookie = c
	}
}

// add records one message of a content-sync search: an entry with its
// Sync State control, an intermediate Sync Info message, or the Sync Done
// control of the final result.
func (b *syncBatch) add(e *goldap.Entry, controls []goldap.Control) error {
	if e != nil {
		st, _ := goldap.FindControl(controls, goldap.ControlTypeSyncState).(*goldap.ControlSyncState)
		if st == nil {
			return fmt.Errorf("entry %s without a sync state control", e.DN)
		}
		u := entryUUID(st.EntryUUID)
		b.setCookie(st.Cookie)
		switch st.State {
		case goldap.SyncStatePresent:
			b.present[u] = true
		case goldap.SyncStateAdd, goldap.SyncStateModify:
			if b.changed[u] == nil {
				b.order = append(b.order, u)
			}
			b.changed[u] = e
			delete(b.deleted, u)
		case goldap.SyncStateDelete:
			delete(b.changed, u)
			b.deleted[u] = true
		default:
			return fmt.Errorf("entry %s with unknown sync state %d", e.DN, st.State)
		}
		return nil
	}
	for _, c := range controls {
		switch c := c.(type) {
		case *goldap.ControlSyncInfo:
			switch {
			case c.NewCookie != nil:
				b.setCookie(c.NewCookie.Cookie)
			case c.RefreshDelete != nil:
				b.setCookie(c.RefreshDelete.Cookie)
				b.refreshDone = b.refreshDone || c.RefreshDelete.RefreshDone
			case c.RefreshPresent != nil:
				b.setCookie(c.RefreshPresent.Cookie)
				b.presentPhase = true
				b.refreshDone = b.refreshDone || c.RefreshPresent.RefreshDone
			case c.SyncIdSet != nil:
				b.setCookie(c.SyncIdSet.Cookie)
				for _, id := range c.SyncIdSet.SyncUUIDs {
					u := entryUUID(id)
					if c.SyncIdSet.RefreshDeletes {
						delete(b.changed, u)
						b.deleted[u] = true
					} else {
						b.present[u] = true
					}
				}
				if !c.SyncIdSet.RefreshDeletes {
					b.presentPhase = true
				}
			}
		case *goldap.ControlSyncDone:
			b.setCookie(c.Cookie)
			b.refreshDone = true
			// RFC 4533 section 3.3.1: refreshDeletes FALSE means the
			// present phase was used.
			if !c.RefreshDeletes {
				b.presentPhase = true
			}
		}
	}
	return nil
}

// refresh runs a refreshOnly content sync of req from cookie and returns
// what the server reported. More than maxIncremental changed entries make
// an error wrapping errNeedFull (deletions are cheap, and with a session
// log most concern entries the search never reported).
func (y *syncer) refresh(ctx context.Context, req *goldap.SearchRequest, cookie []byte) (*syncBatch, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The server has Timeout to send each message, not the whole
	// refresh: the present phase of a large directory takes a while.
	watchdog := time.AfterFunc(y.s.timeout, y.c.timeOut)
	defer watchdog.Stop()
	r := y.c.l.Syncrepl(sctx, req, 64, goldap.SyncRequestModeRefreshOnly, cookie, false)
	b := newSyncBatch()
	for r.Next() {
		watchdog.Reset(y.s.timeout)
		if err := b.add(r.Entry(), r.Controls()); err != nil {
			return nil, fmt.Errorf("ldap: content sync of %s at %s: %w", req.BaseDN, y.s.url, err)
		}
		if len(b.changed) > maxIncremental {
			return nil, fmt.Errorf("ldap: content sync of %s at %s: more than %d changed entries: %w", req.BaseDN, y.s.url, maxIncremental, errNeedFull)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ldap: content sync of %s at %s: %w", req.BaseDN, y.s.url, err)
	}
	if err := r.Err(); err != nil {
		if y.c.timedOut.Load() {
			return nil, fmt.Errorf("ldap: content sync of %s at %s: no answer within %v: %w", req.BaseDN, y.s.url, y.s.timeout, os.ErrDeadlineExceeded)
		}
		return nil, y.s.syncError(req.BaseDN, err)
	}
	if !b.refreshDone {
		return nil, fmt.Errorf("ldap: content sync of %s at %s: the result carries no sync done control: %w", req.BaseDN, y.s.url, ErrNoFeed)
	}
	return b, nil
}

// timeOut breaks a connection whose server has gone silent.
func (c *conn) timeOut() {
	c.timedOut.Store(true)
	c.abort()
}

// syncError describes a content-sync search of base that failed.
func (s *Source) syncError(base string, err error) error {
	switch {
	case goldap.IsErrorAnyOf(err, goldap.LDAPResultSizeLimitExceeded, goldap.LDAPResultSyncRefreshRequired):
		return fmt.Errorf("ldap: content sync of %s at %s: %w: %w", base, s.url, describe(err), errNeedFull)
	case goldap.IsErrorWithCode(err, goldap.LDAPResultUnavailableCriticalExtension):
		return fmt.Errorf("ldap: content sync of %s at %s: %w: the server does not offer content sync (OpenLDAP: load the syncprov overlay on the database): %w",
			base, s.url, describe(err), ErrNoFeed)
	}
	return fmt.Errorf("ldap: content sync of %s at %s: %w", base, s.url, describe(err))
}

// currentCookie returns the cookie of the current state of the server for
// a content sync of req, from a refresh whose filter matches nothing.
func (y *syncer) currentCookie(ctx context.Context, req *goldap.SearchRequest) ([]byte, error) {
	req.Filter = "(&" + req.Filter + "(!(objectClass=*)))"
	req.Attributes = []string{"1.1"}
	b, err := y.refresh(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	if len(b.cookie) == 0 {
		return nil, fmt.Errorf("ldap: content sync of %s at %s: the server sent no cookie: %w", req.BaseDN, y.s.url, ErrNoFeed)
	}
	return b.cookie, nil
}

// full reads every group and person with paged searches, emits every
// person, and makes a new state whose cookies are those of the server
// before the reads: changes made during the reads come again with the
// next refresh.
func (y *syncer) full(ctx context.Context, emit func(Change) error) error {
	s := y.s
	st := newSyncState(s.feedConfig())
	y.st, y.idx = st, nil
	var err error
	if st.groupCookie, err = y.currentCookie(ctx, y.groupRequest(s.groupFilter, nil)); err != nil {
		return err
	}
	if st.peopleCookie, err = y.currentCookie(ctx, y.peopleRequest(s.filter, nil)); err != nil {
		return err
	}
	err = s.search(ctx, y.c, y.groupRequest(s.groupFilter, syncGroupAttrs), func(e *goldap.Entry) error {
		u, ok := parseEntryUUID(e.GetEqualFoldAttributeValue("entryUUID"))
		if !ok {
			return nil // content sync could never report its changes
		}
		g, err := y.snap(e)
		if err != nil {
			return err
		}
		st.setGroup(u, g)
		return nil
	})
	if err != nil {
		return err
	}
	return s.search(ctx, y.c, y.peopleRequest(s.filter, y.peopleAttrs), func(e *goldap.Entry) error {
		return y.report(e, emit)
	})
}

// snap returns what the feed keeps of the group entry e.
func (y *syncer) snap(e *goldap.Entry) (*groupSnap, error) {
	if err := completeRanges(y.c, e); err != nil {
		return nil, fmt.Errorf("ldap: read group %s at %s: %w", e.DN, y.s.url, err)
	}
	g := &groupSnap{dn: canonicalDN(e.DN)}
	for _, a := range e.Attributes {
		switch strings.ToLower(a.Name) {
		case "member":
			for _, v := range a.Values {
				g.members = append(g.members, canonicalDN(v))
			}
		case "uniquemember":
			for _, v := range a.Values {
				g.members = append(g.members, canonicalDN(stripUID(v)))
			}
		case "memberuid":
			for _, v := range a.Values {
				if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
					g.uids = append(g.uids, v)
				}
			}
		}
	}
	slices.Sort(g.members)
	g.members = slices.Compact(g.members)
	slices.Sort(g.uids)
	g.uids = slices.Compact(g.uids)
	return g, nil
}

// index returns the memberships of st.groups.
//
// Unlike Read, it ignores the memberOf values of groups: in OpenLDAP the
// memberof overlay sets them without changing the group's entryCSN, so a
// snapshot of them would go stale; the member lists say the same.
func (y *syncer) index() *groupIndex {
	if y.idx != nil {
		return y.idx
	}
	idx := newGroupIndex()
	for _, g := range y.st.groups {
		for _, m := range g.members {
			idx.parents[m] = append(idx.parents[m], g.dn)
		}
		for _, u := range g.uids {
			idx.byUID[u] = append(idx.byUID[u], g.dn)
		}
	}
	y.idx = idx
	return idx
}

// entry returns the person e as an Entry, with the memberships of the
// groups as the feed knows them.
func (y *syncer) entry(e *goldap.Entry) (*dirbook.Entry, error) {
	s := y.s
	if err := completeRanges(y.c, e); err != nil {
		return nil, fmt.Errorf("ldap: read %s at %s: %w", e.DN, s.url, err)
	}
	ent := s.makeEntry(e, y.index())
	if y.stripUUID {
		delete(ent.Attrs, "entryuuid")
	}
	return ent, nil
}

// report emits the person e, read with peopleAttrs, as changed, and
// records them. When their ID changed, the old one is reported removed
// first.
func (y *syncer) report(e *goldap.Entry, emit func(Change) error) error {
	u, ok := parseEntryUUID(e.GetEqualFoldAttributeValue("entryUUID"))
	ent, err := y.entry(e)
	if err != nil {
		return err
	}
	if ok {
		if old, known := y.st.person(u); known && old != "" && old != ent.ID {
			if err := emit(Change{RemovedID: old}); err != nil {
				return err
			}
		}
		y.st.setPerson(u, ent.ID)
	}
	return emit(Change{Entry: ent})
}

// remove emits the removal of the person with the entryUUID u, if the
// feed reported them before.
func (y *syncer) remove(u entryUUID, emit func(Change) error) error {
	id, ok := y.st.person(u)
	if !ok {
		return nil
	}
	y.st.dropPerson(u)
	if id == "" {
		return nil
	}
	return emit(Change{RemovedID: id})
}

// concerned collects the people whose memberships a change of groups
// may have changed.
type concerned struct {
	dns  map[string]bool // in the form of canonicalDN
	uids map[string]bool // in lower case
}

func (a *concerned) size() int { return len(a.dns) + len(a.uids) }

// groupGraph maps the DN of each group to the group.
type groupGraph map[string]*groupSnap

func graphOf(groups map[entryUUID]*groupSnap) groupGraph {
	g := make(groupGraph, len(groups))
	for _, snap := range groups {
		g[snap.dn] = snap
	}
	return g
}

// add adds the people that the member values members and the memberUid
// values uids name; a member that is a group of graph stands for the
// people it lists, directly or through nested groups.
func (a *concerned) add(graph groupGraph, members, uids []string) {
	seen := map[*groupSnap]bool{}
	for len(members) > 0 || len(uids) > 0 {
		var next []string
		for _, m := range members {
			if sub := graph[m]; sub != nil {
				if !seen[sub] {
					seen[sub] = true
					next = append(next, sub.members...)
					uids = append(uids, sub.uids...)
				}
				continue
			}
			a.dns[m] = true
		}
		for _, u := range uids {
			a.uids[u] = true
		}
		members, uids = next, nil
	}
}

// missingFrom returns the values of a that b lacks; both are sorted.
func missingFrom(a, b []string) []string {
	var out []string
	for _, v := range a {
		if _, found := slices.BinarySearch(b, v); !found {
			out = append(out, v)
		}
	}
	return out
}

// applyGroups updates the groups of the state with what g reported and
// returns the people whose memberships the changes may have changed: the
// members that left a group (with the people of nested groups, as they
// were) and those that joined one (as they are now). When a group is
// added, deleted or renamed, all of its members count.
func (y *syncer) applyGroups(g *syncBatch) (*concerned, error) {
	a := &concerned{dns: map[string]bool{}, uids: map[string]bool{}}
	st := y.st
	if g.cookie != nil {
		defer func() { st.groupCookie = g.cookie }()
	}
	type change struct {
		u        entryUUID
		old, new *groupSnap // nil when added, nil when gone
	}
	var changes []change
	for _, u := range g.order {
		e := g.changed[u]
		if e == nil {
			continue
		}
		snap, err := y.snap(e)
		if err != nil {
			return nil, err
		}
		if old := st.groups[u]; old == nil || !old.equal(snap) {
			changes = append(changes, change{u, old, snap})
		}
	}
	for _, u := range sortedUUIDs(st.groups) {
		if g.deleted[u] || (g.presentPhase && !g.present[u] && g.changed[u] == nil) {
			changes = append(changes, change{u, st.groups[u], nil})
		}
	}
	if len(changes) == 0 {
		return a, nil
	}

	var left, joined, leftUIDs, joinedUIDs []string
	for _, c := range changes {
		switch {
		case c.old == nil:
			joined, joinedUIDs = append(joined, c.new.members...), append(joinedUIDs, c.new.uids...)
		case c.new == nil || c.old.dn != c.new.dn:
			left, leftUIDs = append(left, c.old.members...), append(leftUIDs, c.old.uids...)
			if c.new != nil {
				joined, joinedUIDs = append(joined, c.new.members...), append(joinedUIDs, c.new.uids...)
			}
		default:
			left = append(left, missingFrom(c.old.members, c.new.members)...)
			joined = append(joined, missingFrom(c.new.members, c.old.members)...)
			leftUIDs = append(leftUIDs, missingFrom(c.old.uids, c.new.uids)...)
			joinedUIDs = append(joinedUIDs, missingFrom(c.new.uids, c.old.uids)...)
		}
	}
	a.add(graphOf(st.groups), left, leftUIDs)
	for _, c := range changes {
		if c.new == nil {
			st.dropGroup(c.u)
		} else {
			st.setGroup(c.u, c.new)
		}
	}
	a.add(graphOf(st.groups), joined, joinedUIDs)
	y.idx = nil
	return a, nil
}

// apply brings the state up to date with the batches g of the group search
// and p of the people search, and emits the changes of people. When more
// than maxIncremental people are concerned it returns an error wrapping
// errNeedFull, having emitted nothing.
func (y *syncer) apply(ctx context.Context, g, p *syncBatch, emit func(Change) error) error {
	a, err := y.applyGroups(g)
	if err != nil {
		return err
	}
	st := y.st
	// Present entries the feed never reported: they match the filter
	// now without having changed, as when an overlay set the memberOf
	// a filter asks for.
	var unknown []entryUUID
	if p.presentPhase {
		for u := range p.present {
			if _, ok := st.person(u); !ok && p.changed[u] == nil && !p.deleted[u] {
				unknown = append(unknown, u)
			}
		}
		slices.SortFunc(unknown, compareUUID)
	}
	if n := len(p.changed) + a.size() + len(unknown); n > maxIncremental {
		return fmt.Errorf("ldap: content sync at %s: %d people concerned, more than %d: %w", y.s.url, n, maxIncremental, errNeedFull)
	}

	done := map[string]bool{} // canonical DNs of the people emitted
	for _, u := range p.order {
		e := p.changed[u]
		if e == nil {
			continue
		}
		if e.GetEqualFoldAttributeValue("entryUUID") == "" {
			e.Attributes = append(e.Attributes, goldap.NewEntryAttribute("entryUUID", []string{u.String()}))
		}
		if err := y.report(e, emit); err != nil {
			return err
		}
		done[canonicalDN(e.DN)] = true
	}
	for _, u := range sortedUUIDs(p.deleted) {
		if err := y.remove(u, emit); err != nil {
			return err
		}
	}
	if p.presentPhase {
		for _, u := range sortedUUIDs(st.people) {
			if !p.present[u] && p.changed[u] == nil {
				if err := y.remove(u, emit); err != nil {
					return err
				}
			}
		}
	}
	for _, u := range unknown {
		if err := y.reselect(ctx, "(entryUUID="+u.String()+")", emit); err != nil {
			return err
		}
	}
	for _, dn := range slices.Sorted(maps.Keys(a.dns)) {
		if done[dn] {
			continue
		}
		if err := y.reread(ctx, dn, emit); err != nil {
			return err
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(a.uids)) {
		if err := y.reselect(ctx, "(uid="+goldap.EscapeFilter(uid)+")", emit); err != nil {
			return err
		}
	}
	if p.cookie != nil {
		st.peopleCookie = p.cookie
	}
	return nil
}

// reread reads the entry dn, which a changed group lists, and emits it as
// changed when it is a person of the source, or as removed when it was
// reported before and no longer is one.
func (y *syncer) reread(ctx context.Context, dn string, emit func(Change) error) error {
	if y.s.inScope(dn) {
		res, err := y.c.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			0, 0, false, y.s.filter, y.peopleAttrs, nil))
		switch {
		case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
			return nil // deleted: the people search reports it
		case err != nil:
			return y.readError(ctx, dn, err)
		case len(res.Entries) > 0:
			return y.report(res.Entries[0], emit)
		}
	}
	res, err := y.c.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil))
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return nil
	case err != nil:
		return y.readError(ctx, dn, err)
	}
	for _, e := range res.Entries {
		if u, ok := parseEntryUUID(e.GetEqualFoldAttributeValue("entryUUID")); ok {
			if err := y.remove(u, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// reselect reads the entries below the base that the filter sel selects,
// and emits those that are people of the source as changed, and those
// reported before that no longer are as removed.
func (y *syncer) reselect(ctx context.Context, sel string, emit func(Change) error) error {
	matched := map[entryUUID]bool{}
	err := y.s.search(ctx, y.c, y.peopleRequest("(&"+y.s.filter+sel+")", y.peopleAttrs), func(e *goldap.Entry) error {
		if u, ok := parseEntryUUID(e.GetEqualFoldAttributeValue("entryUUID")); ok {
			matched[u] = true
		}
		return y.report(e, emit)
	})
	if err != nil {
		return err
	}
	return y.s.search(ctx, y.c, y.peopleRequest(sel, []string{"entryUUID"}), func(e *goldap.Entry) error {
		if u, ok := parseEntryUUID(e.GetEqualFoldAttributeValue("entryUUID")); ok && !matched[u] {
			return y.remove(u, emit)
		}
		return nil
	})
}

func (y *syncer) readError(ctx context.Context, dn string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("ldap: read %s at %s: %w", dn, y.s.url, cerr)
	}
	return fmt.Errorf("ldap: read %s at %s: %w", dn, y.s.url, describe(err))
}

// inScope reports whether the entry dn lies where the source searches for
// people: below the base, as deep as the scope reaches.
func (s *Source) inScope(dn string) bool {
	d, err := goldap.ParseDN(dn)
	if err != nil {
		return false
	}
	b := s.baseDN
	switch s.scope {
	case goldap.ScopeBaseObject:
		return b.EqualFold(d)
	case goldap.ScopeSingleLevel:
		return len(d.RDNs) == len(b.RDNs)+1 && b.AncestorOfFold(d)
	}
	return b.EqualFold(d) || b.AncestorOfFold(d)
}
