package ldap

// The change feeds of Active Directory (Microsoft AD and Samba AD).
//
// Two modes follow a domain controller, chosen by Options.Feed:
//
//   - FeedUSN, the default: every poll reads the domain controller's
//     highestCommittedUSN from the rootDSE, then searches for the entries
//     whose uSNChanged is above the one the previous poll read. It needs no
//     right beyond reading the people and the groups: any domain account
//     will do. Deleted people are found as tombstones in the Deleted
//     Objects container, with the show-deleted control
//     (1.2.840.113556.1.4.417), where the account may list that container;
//     by default only Domain Admins may (dsacls "CN=Deleted
//     Objects,DC=..." /takeownership, then /G DOMAIN\account:LCRP grants
//     it). Without it, deletions are found by the periodic full read.
//   - FeedDirSync: the DirSync control (1.2.840.113556.1.4.841) with
//     incremental values, which returns the objects changed since a cookie,
//     deletions included, and the values added to and removed from each
//     group's member list. The account needs the "Replicating Directory
//     Changes" right (DS-Replication-Get-Changes) on the domain's naming
//     context; without it the server refuses the search.
//
// Both modes read group entries too: member and memberOf are linked
// attributes, so adding a person to a group or removing them changes only
// the group's uSNChanged, never the person's. When a group changed, its
// members, through nested groups, are read again and reported with their
// memberships recomputed, and former members too: DirSync names them, and
// for FeedUSN the Source remembers, in memory, the memberships it last
// reported. Former members that no longer match the filter are reported
// removed. A FeedUSN poll that finds a changed group without that memory
// (the first poll after a restart) makes a full read instead.
//
// With that memory a poll reports removed only IDs it reported before.
// Without it (after a restart, until the next full read), it may report
// as removed the IDs of entries it never reported: changed entries below
// the base that do not match the filter, such as groups; callers ignore
// removals of IDs they do not know.
//
// Any change to a group, not only to its members (a rename changes its
// members' memberOf), has its members read again. DirSync names changed
// and deleted objects by objectGUID: with another IDAttribute, DirSync
// reports no removals, and the full reads find them.
//
// Watch polls every ADPollInterval (DefaultADPollInterval, 5 seconds).
//
// Some changes neither mode sees: a person moved out of the base (FeedUSN),
// and deletions where the account may not list deleted objects. A full read
// every ADReconcileInterval catches them; full reads are also made when the
// state is empty or unreadable, was written under other settings, or names
// another domain controller (another invocationId: another server, or this
// one restored from a backup), and when the server refuses a DirSync
// cookie.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dirbook/dirbook"
	goldap "github.com/go-ldap/ldap/v3"
)

// Defaults of the Active Directory feeds.
const (
	// DefaultADPollInterval is how often Watch polls Active Directory.
	DefaultADPollInterval = 5 * time.Second
	// DefaultADReconcileInterval is the longest an Active Directory feed
	// goes without a full read.
	DefaultADReconcileInterval = 6 * time.Hour
)

// Object identifiers of Active Directory's controls and matching rules.
const (
	oidShowDeleted = "1.2.840.113556.1.4.417"
	// oidInChain is LDAP_MATCHING_RULE_IN_CHAIN: memberOf through
	// nested groups.
	oidInChain = "1.2.840.113556.1.4.1941"
)

// adBatch is the most values one search's filter lists.
const adBatch = 50

// adStateVersion is the version of the state format.
const adStateVersion = 1

// adState is where an Active Directory feed stands, handed to the caller
// as JSON.
type adState struct {
	Version int    `json:"v"`
	Feed    string `json:"feed"`
	// Config is the fingerprint of the settings the state was made
	// under.
	Config string `json:"config"`
	// DC is the invocationId of the domain controller: USNs and cookies
	// mean something on that database only.
	DC string `json:"dc"`
	// USN is the highestCommittedUSN read before the poll that made the
	// state; changes above it are still to be reported.
	USN int64 `json:"usn"`
	// Cookie is the DirSync cookie (FeedDirSync).
	Cookie []byte `json:"cookie,omitempty"`
	// Full is when the last full read began, in Unix seconds.
	Full int64 `json:"full"`
}

func decodeADState(b []byte) (*adState, bool) {
	if len(b) == 0 {
		return nil, false
	}
	var st adState
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil || st.Version != adStateVersion {
		return nil, false
	}
	return &st, true
}

func (st *adState) encode() []byte {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err) // a struct of plain fields always encodes
	}
	return b
}

// adMemory is what the feed of a Source remembers between polls: the
// memberships it reported last, which tell who left a changed group, and
// the group index. It belongs to the state the last poll returned, and is
// used only with that state.
type adMemory struct {
	mu  sync.Mutex
	key [sha256.Size]byte // of the state; zero when nothing is remembered
	// people maps the ID of every person reported to the numbers of
	// their groups in groupDN.
	people   map[string][]int32
	groupNum map[string]int32
	groupDN  []string
	// groups resolves nested memberships; nil when it must be read.
	groups *groupIndex
}

func (m *adMemory) reset() {
	m.key = [sha256.Size]byte{}
	m.people = map[string][]int32{}
	m.groupNum = map[string]int32{}
	m.groupDN = nil
	m.groups = nil
}

func (m *adMemory) valid(state []byte) bool {
	return m.people != nil && m.key != [sha256.Size]byte{} && m.key == sha256.Sum256(state)
}

// record notes the memberships of e.
func (m *adMemory) record(e *dirbook.Entry) {
	if e.ID == "" {
		return
	}
	nums := make([]int32, 0, len(e.Groups))
	for _, g := range e.Groups {
		n, ok := m.groupNum[g]
		if !ok {
			n = int32(len(m.groupDN))
			m.groupNum[g] = n
			m.groupDN = append(m.groupDN, g)
		}
		nums = append(nums, n)
	}
	m.people[e.ID] = nums
}

// members returns the IDs of the people reported as members of any of the
// groups (normalised DNs).
func (m *adMemory) members(groups []string) []string {
	want := map[int32]bool{}
	for _, g := range groups {
		if n, ok := m.groupNum[g]; ok {
			want[n] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	var ids []string
	for id, nums := range m.people {
		if slices.ContainsFunc(nums, func(n int32) bool { return want[n] }) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// adConfig returns the fingerprint of the settings that decide what an
// Active Directory feed of s reports.
func (s *Source) adConfig() string {
	sum := s.configHash("ad", s.feed, s.url, s.base, strconv.Itoa(s.scope), s.filter,
		s.groupBase, s.groupFilter, strings.ToLower(s.idAttr), strconv.FormatBool(s.disabledOK))
	return hex.EncodeToString(sum[:12])
}

// rootDSE is what a poll reads of the server first.
type rootDSE struct {
	usn int64
	// dc is the invocationId of the domain controller's database.
	dc string
	// nc is the naming context holding the base.
	nc string
}

// readRootDSE reads the highestCommittedUSN, the invocationId and the
// naming context of the base.
func (s *Source) readRootDSE(ctx context.Context, c *conn) (*rootDSE, error) {
	e, err := s.readBase(ctx, c, "", []string{"highestCommittedUSN", "dsServiceName", "namingContexts", "defaultNamingContext"})
	if err != nil {
		return nil, err
	}
	d := &rootDSE{}
	if d.usn, err = strconv.ParseInt(e.GetAttributeValue("highestCommittedUSN"), 10, 64); err != nil {
		return nil, fmt.Errorf("ldap: read rootDSE of %s: no highestCommittedUSN: is this Active Directory?", s.url)
	}
	svc := e.GetAttributeValue("dsServiceName")
	if svc == "" {
		return nil, fmt.Errorf("ldap: read rootDSE of %s: no dsServiceName: is this Active Directory?", s.url)
	}
	ntds, err := s.readBase(ctx, c, svc, []string{"invocationId"})
	if err != nil {
		return nil, err
	}
	inv := rawValue(ntds, "invocationId")
	if len(inv) != 16 {
		return nil, fmt.Errorf("ldap: read %s at %s: no invocationId", svc, s.url)
	}
	d.dc = formatGUID(inv)

	base := canonicalDN(s.base)
	for _, nc := range e.GetAttributeValues("namingContexts") {
		if underBase(base, canonicalDN(nc)) && len(nc) > len(d.nc) {
			d.nc = nc
		}
	}
	if d.nc == "" {
		d.nc = cmp.Or(e.GetAttributeValue("defaultNamingContext"), s.base)
	}
	return d, nil
}

// readBase reads the entry dn with a base search.
func (s *Source) readBase(ctx context.Context, c *conn, dn string, attrs []string) (*goldap.Entry, error) {
	req := goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", attrs, nil)
	res, err := c.Search(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("ldap: read %s: %w", s.url, cerr)
		}
		name := dn
		if name == "" {
			name = "rootDSE"
		}
		return nil, fmt.Errorf("ldap: read %s at %s: %w", name, s.url, describe(err))
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("ldap: read %q at %s: %d entries, want 1", dn, s.url, len(res.Entries))
	}
	return res.Entries[0], nil
}

// pollAD implements Poll for Active Directory.
func (s *Source) pollAD(ctx context.Context, state []byte, emit func(Change) error) ([]byte, bool, error) {
	m := &s.adMem
	m.mu.Lock()
	defer m.mu.Unlock()

	c, err := s.connect(ctx)
	if err != nil {
		return nil, false, err
	}
	defer c.close()
	dse, err := s.readRootDSE(ctx, c)
	if err != nil {
		return nil, false, err
	}
	st, ok := decodeADState(state)
	if ok && s.adContinues(st, dse) {
		p := &adPoll{s: s, c: c, dse: dse, st: st, mem: m, memValid: m.valid(state),
			emitted: map[string]bool{}, emit: emit}
		if !p.memValid {
			m.reset()
		}
		var newState []byte
		if st.Feed == FeedDirSync {
			newState, err = p.dirsync(ctx)
		} else {
			newState, err = p.usn(ctx)
		}
		switch {
		case err == nil:
			// The memberships are known only from a full read and
			// the polls since.
			if p.memValid {
				m.key = sha256.Sum256(newState)
			}
			return newState, false, nil
		case !errors.Is(err, errADFull):
			m.reset()
			return nil, false, err
		}
	}
	return s.adFull(ctx, c, dse, emit)
}

// adContinues reports whether a poll may continue from st.
func (s *Source) adContinues(st *adState, dse *rootDSE) bool {
	switch {
	case st.Feed != s.feed, st.Config != s.adConfig(), st.DC != dse.dc:
		return false
	case st.USN > dse.usn: // restored, or another database under the same ID
		return false
	case st.Feed == FeedDirSync && len(st.Cookie) == 0:
		return false
	}
	return time.Since(time.Unix(st.Full, 0)) < s.adReconcile
}

// errADFull reports that an incremental poll cannot tell what changed, so
// a full read is needed.
var errADFull = errors.New("full read needed")

// adFull reads every person and returns the state after it, noted before
// the read so that changes made during it are reported by the next poll.
func (s *Source) adFull(ctx context.Context, c *conn, dse *rootDSE, emit func(Change) error) ([]byte, bool, error) {
	m := &s.adMem
	m.reset()
	st := &adState{Version: adStateVersion, Feed: s.feed, Config: s.adConfig(), DC: dse.dc, USN: dse.usn, Full: time.Now().Unix()}
	if st.Feed == FeedDirSync {
		cookie, err := s.dirsyncCookie(ctx, c, dse)
		if err != nil {
			return nil, false, err
		}
		st.Cookie = cookie
	}
	err := s.Read(ctx, func(e *dirbook.Entry) error {
		m.record(e)
		return emit(Change{Entry: e})
	})
	if err != nil {
		m.reset()
		return nil, false, err
	}
	b := st.encode()
	m.key = sha256.Sum256(b)
	return b, true, nil
}

// watchAD implements Watch for Active Directory, which pushes nothing: it
// polls every ADPollInterval and calls fn after the first poll and after
// every poll that found changes. A poll that has to read everything (the
// reconcile interval passed) calls fn with full set and every person in one
// batch.
func (s *Source) watchAD(ctx context.Context, state []byte, fn func([]Change, bool, []byte) error) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return fmt.Errorf("ldap: watch %s: %w", s.url, ctx.Err())
		case <-t.C:
		}
		var batch []Change
		newState, full, err := s.pollAD(ctx, state, func(c Change) error {
			batch = append(batch, c)
			return nil
		})
		if err != nil {
			return err
		}
		if first || full || len(batch) > 0 {
			if err := fn(batch, full, newState); err != nil {
				return fmt.Errorf("ldap: watch %s: %w", s.url, err)
			}
		}
		state = newState
		t.Reset(s.adPollInterval)
	}
}

// adPoll is one incremental poll of an Active Directory feed.
type adPoll struct {
	s   *Source
	c   *conn
	dse *rootDSE
	st  *adState
	mem *adMemory
	// memValid is set when mem describes what st was reported with.
	memValid bool
	// groupsChanged is set when a group changed: the group index is read
	// again.
	groupsChanged bool
	emitted       map[string]bool
	emit          func(Change) error
}

// groupIndex returns the group index, read once after groups changed.
func (p *adPoll) groupIndex(ctx context.Context) (*groupIndex, error) {
	if p.mem.groups != nil && !p.groupsChanged {
		return p.mem.groups, nil
	}
	groups := newGroupIndex()
	req := goldap.NewSearchRequest(p.s.groupBase, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, p.s.groupFilter, p.s.groupAttributes(), nil)
	err := p.s.search(ctx, p.c, req, func(e *goldap.Entry) error {
		if err := completeRanges(p.c, e); err != nil {
			return fmt.Errorf("ldap: read group %s at %s: %w", e.DN, p.s.url, err)
		}
		groups.add(e.DN, entryAttrs(e))
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.mem.groups, p.groupsChanged = groups, false
	return groups, nil
}

// report emits the person e, once per poll.
func (p *adPoll) report(ctx context.Context, e *goldap.Entry) error {
	if err := completeRanges(p.c, e); err != nil {
		return fmt.Errorf("ldap: read %s at %s: %w", e.DN, p.s.url, err)
	}
	groups, err := p.groupIndex(ctx)
	if err != nil {
		return err
	}
	ent := p.s.makeEntry(e, groups)
	if ent.ID != "" {
		if p.emitted[ent.ID] {
			return nil
		}
		p.emitted[ent.ID] = true
		p.mem.record(ent)
	}
	if err := p.emit(Change{Entry: ent}); err != nil {
		return fmt.Errorf("ldap: poll %s: %w", p.s.url, err)
	}
	return nil
}

// remove emits the removal of the person id, once per poll. When the poll
// knows whom it reported before, only those are reported removed.
func (p *adPoll) remove(id string) error {
	if id == "" || p.emitted[id] {
		return nil
	}
	if p.memValid {
		if _, known := p.mem.people[id]; !known {
			return nil
		}
	}
	p.emitted[id] = true
	delete(p.mem.people, id)
	if err := p.emit(Change{RemovedID: id}); err != nil {
		return fmt.Errorf("ldap: poll %s: %w", p.s.url, err)
	}
	return nil
}

// removeAll emits the removals of the people ids as remove does.
func (p *adPoll) removeAll(ids []string) error {
	for _, id := range ids {
		if err := p.remove(id); err != nil {
			return err
		}
	}
	return nil
}

// searchPeople reports the people below the base that match the
// configured filter and sel.
func (p *adPoll) searchPeople(ctx context.Context, sel string) error {
	req := goldap.NewSearchRequest(p.s.base, p.s.scope, goldap.NeverDerefAliases,
		0, 0, false, "(&"+p.s.filter+sel+")", p.s.attrs, nil)
	return p.s.search(ctx, p.c, req, func(e *goldap.Entry) error { return p.report(ctx, e) })
}

// inChain reports the people who are members of the groups, directly or
// through nested groups, and the people among dns themselves.
func (p *adPoll) inChain(ctx context.Context, dns []string) error {
	for chunk := range slices.Chunk(dns, adBatch) {
		var b strings.Builder
		b.WriteString("(|")
		for _, dn := range chunk {
			v := goldap.EscapeFilter(dn)
			fmt.Fprintf(&b, "(memberOf:%s:=%s)(distinguishedName=%s)", oidInChain, v, v)
		}
		b.WriteString(")")
		if err := p.searchPeople(ctx, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// reread reads the people ids again and reports them, or, when they no
// longer match the filter below the base, their removal.
func (p *adPoll) reread(ctx context.Context, ids []string) error {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return p.emitted[id] })
	for chunk := range slices.Chunk(ids, adBatch) {
		var b strings.Builder
		b.WriteString("(|")
		for _, id := range chunk {
			b.WriteString(p.s.idFilter(id))
		}
		b.WriteString(")")
		if err := p.searchPeople(ctx, b.String()); err != nil {
			return err
		}
		if err := p.removeAll(chunk); err != nil {
			return err
		}
	}
	return nil
}

// changedGroups returns the normalised DNs of the groups in the naming
// context changed since the state's USN.
func (p *adPoll) changedGroups(ctx context.Context) ([]string, error) {
	var dns []string
	req := goldap.NewSearchRequest(p.dse.nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, fmt.Sprintf("(&%s(uSNChanged>=%d))", p.s.groupFilter, p.st.USN+1), []string{"1.1"}, nil)
	err := p.s.search(ctx, p.c, req, func(e *goldap.Entry) error {
		dns = append(dns, e.DN)
		return nil
	})
	return dns, err
}

// regroup reports the people whose memberships may have changed because
// the groups dns (as the server spells them) changed: their present
// members, and the people reported as members before. The caller has set
// groupsChanged before reporting anyone.
func (p *adPoll) regroup(ctx context.Context, dns []string) error {
	if len(dns) == 0 {
		return nil
	}
	if !p.memValid {
		return errADFull
	}
	if err := p.inChain(ctx, dns); err != nil {
		return err
	}
	norm := make([]string, len(dns))
	for i, dn := range dns {
		norm[i] = canonicalDN(dn)
	}
	return p.reread(ctx, p.mem.members(norm))
}

// tombstones reports the removal of the people deleted since the state's
// USN, as far as the account may read the Deleted Objects container.
func (p *adPoll) tombstones(ctx context.Context) error {
	req := goldap.NewSearchRequest(p.dse.nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, fmt.Sprintf("(&(isDeleted=TRUE)(uSNChanged>=%d))", p.st.USN+1),
		[]string{p.s.idAttr, "lastKnownParent"}, []goldap.Control{goldap.NewControlMicrosoftShowDeleted()})
	var ids []string
	err := p.s.search(ctx, p.c, req, func(e *goldap.Entry) error {
		if parent := e.GetAttributeValue("lastKnownParent"); parent != "" && !underBase(canonicalDN(parent), canonicalDN(p.s.base)) {
			return nil
		}
		ids = append(ids, identity(p.s.idAttr, e.GetAttributeValues(p.s.idAttr)))
		return nil
	})
	var rerr *resultError
	if errors.As(err, &rerr) && (rerr.code == goldap.LDAPResultUnavailableCriticalExtension || rerr.code == goldap.LDAPResultInsufficientAccessRights) {
		err = nil // deletions then come from the full reads
	}
	if err != nil {
		return err
	}
	return p.removeAll(ids)
}

// idFilter returns a filter item matching the person whose ID is id.
func (s *Source) idFilter(id string) string {
	if strings.EqualFold(s.idAttr, "objectGUID") {
		if _, ok := parseGUID(id); ok {
			return guidFilter([]string{id})
		}
	}
	return "(" + s.idAttr + "=" + goldap.EscapeFilter(id) + ")"
}

// parseGUID is the inverse of formatGUID.
func parseGUID(s string) ([]byte, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, false
	}
	raw, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36])
	if err != nil {
		return nil, false
	}
	b := []byte{raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6]}
	return append(b, raw[8:16]...), true
}
