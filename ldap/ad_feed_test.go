package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/sambatest"
)

// polled is what one Poll reported.
type polled struct {
	entries map[string]*dirbook.Entry // by ID
	removed []string
	state   []byte
	full    bool
}

func pollOnce(tb testing.TB, src *Source, state []byte) *polled {
	tb.Helper()
	p := &polled{entries: map[string]*dirbook.Entry{}}
	var err error
	p.state, p.full, err = src.Poll(context.Background(), state, func(c Change) error {
		if c.Entry != nil {
			p.entries[c.Entry.ID] = c.Entry
		} else {
			p.removed = append(p.removed, c.RemovedID)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("Poll error: %v", err)
	}
	sort.Strings(p.removed)
	return p
}

// feedDomain is a small part of the test domain that a feed test changes:
// people f0 to f5 and the groups approved (f5) and team (f0, f1) in an OU
// of their own.
type feedDomain struct {
	s    *sambatest.Server
	ou   string
	name string
}

func (f feedDomain) dn(i int) string  { return fmt.Sprintf("CN=f%d,%s", i, f.ou) }
func (f feedDomain) sam(i int) string { return fmt.Sprintf("%s-f%d", f.name, i) }
func (f feedDomain) approved() string { return "CN=approved," + f.ou }
func (f feedDomain) team() string     { return "CN=team," + f.ou }

func (f feedDomain) create(tb testing.TB) {
	tb.Helper()
	ldif := fmt.Sprintf("dn: %s\nchangetype: add\nobjectClass: organizationalUnit\n\n", f.ou)
	for i := range 6 {
		ldif += fmt.Sprintf("dn: %s\nchangetype: add\nobjectClass: user\nsAMAccountName: %s\ntelephoneNumber: %d\nuserAccountControl: 512\n\n", f.dn(i), f.sam(i), i)
	}
	ldif += fmt.Sprintf("dn: %s\nchangetype: add\nobjectClass: group\nmember: %s\nmember: %s\n\n", f.team(), f.dn(0), f.dn(1))
	ldif += fmt.Sprintf("dn: %s\nchangetype: add\nobjectClass: group\nmember: %s\n", f.approved(), f.dn(5))
	f.s.Modify(tb, ldif)
}

func (f feedDomain) member(tb testing.TB, op, group, member string) {
	tb.Helper()
	f.s.Modify(tb, fmt.Sprintf("dn: %s\nchangetype: modify\n%s: member\nmember: %s\n", group, op, member))
}

// wantPoll checks a poll's report: full as want, every person of must
// reported (by index), nobody outside may, and the removals exactly.
func (f feedDomain) wantPoll(tb testing.TB, step string, p *polled, ids []string, full bool, must, may []int, removed []int) {
	tb.Helper()
	if p.full != full {
		tb.Errorf("%s: full = %v, want %v", step, p.full, full)
	}
	for _, i := range must {
		if p.entries[ids[i]] == nil {
			tb.Errorf("%s: f%d not reported; reported %d entries", step, i, len(p.entries))
		}
	}
	for id := range p.entries {
		i := slices.Index(ids, id)
		if i < 0 || !slices.Contains(must, i) && !slices.Contains(may, i) {
			tb.Errorf("%s: reported %s (f%d), want only %v (or %v)", step, id, i, must, may)
		}
	}
	var want []string
	for _, i := range removed {
		want = append(want, ids[i])
	}
	sort.Strings(want)
	if !slices.Equal(p.removed, want) {
		tb.Errorf("%s: removed %q, want %q", step, p.removed, want)
	}
}

// groupsOf returns the Groups of e, nil when e is.
func groupsOf(e *dirbook.Entry) []string {
	if e == nil {
		return nil
	}
	return e.Groups
}

// hasGroup reports whether e belongs to the group dn.
func hasGroup(e *dirbook.Entry, dn string) bool {
	return e != nil && slices.Contains(e.Groups, dirbook.NormalizeDN(dn))
}

// testADFeed follows changes to a Samba domain with the feed.
func testADFeed(t *testing.T, s *sambatest.Server, feed string) {
	f := feedDomain{s: s, ou: "OU=feed-" + feed + "," + s.BaseDN, name: feed}
	f.create(t)
	opts := adOptions(s, f.ou)
	opts.Feed = feed
	src := newSource(t, opts)

	p := pollOnce(t, src, nil)
	if !p.full || len(p.entries) != 6 {
		t.Fatalf("first Poll: full %v, %d entries; want full, 6", p.full, len(p.entries))
	}
	ids := make([]string, 6)
	for id, e := range p.entries {
		var i int
		fmt.Sscanf(e.First("sAMAccountName"), feed+"-f%d", &i)
		ids[i] = id
	}
	if !hasGroup(p.entries[ids[5]], f.approved()) || !hasGroup(p.entries[ids[0]], f.team()) {
		t.Errorf("first Poll: f5 groups %q, f0 groups %q; want approved, team", groupsOf(p.entries[ids[5]]), groupsOf(p.entries[ids[0]]))
	}
	state := p.state

	p = pollOnce(t, src, state)
	f.wantPoll(t, "no change", p, ids, false, nil, nil, nil)
	state = p.state

	s.Modify(t, fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +49 30 1111\n", f.dn(1)))
	p = pollOnce(t, src, state)
	f.wantPoll(t, "modify f1", p, ids, false, []int{1}, nil, nil)
	if got := p.entries[ids[1]]; got == nil || got.First("telephoneNumber") != "+49 30 1111" {
		t.Errorf("modify f1: f1 %v, want telephoneNumber +49 30 1111", got)
	}
	if !hasGroup(p.entries[ids[1]], f.team()) {
		t.Errorf("modify f1: Groups %q, want team", groupsOf(p.entries[ids[1]]))
	}
	state = p.state

	// Approval: only the group's uSNChanged moves.
	f.member(t, "add", f.approved(), f.dn(2))
	p = pollOnce(t, src, state)
	f.wantPoll(t, "add f2 to approved", p, ids, false, []int{2}, []int{5}, nil)
	if !hasGroup(p.entries[ids[2]], f.approved()) {
		t.Errorf("add f2 to approved: Groups %q, want approved", groupsOf(p.entries[ids[2]]))
	}
	state = p.state

	// Nesting: team's members become approved.
	f.member(t, "add", f.approved(), f.team())
	p = pollOnce(t, src, state)
	f.wantPoll(t, "add team to approved", p, ids, false, []int{0, 1}, []int{2, 5}, nil)
	for _, i := range []int{0, 1} {
		if e := p.entries[ids[i]]; !hasGroup(e, f.approved()) || !hasGroup(e, f.team()) {
			t.Errorf("add team to approved: f%d Groups %v, want approved and team", i, e)
		}
	}
	state = p.state

	// Un-approval.
	f.member(t, "delete", f.approved(), f.dn(2))
	p = pollOnce(t, src, state)
	f.wantPoll(t, "remove f2 from approved", p, ids, false, []int{2}, []int{0, 1, 5}, nil)
	if e := p.entries[ids[2]]; e == nil || hasGroup(e, f.approved()) {
		t.Errorf("remove f2 from approved: f2 %v, want reported without approved", e)
	}
	state = p.state

	s.Modify(t, fmt.Sprintf("dn: %s\nchangetype: delete\n", f.dn(3)))
	p = pollOnce(t, src, state)
	f.wantPoll(t, "delete f3", p, ids, false, nil, nil, []int{3})
	state = p.state

	p = pollOnce(t, src, []byte("garbage"))
	if !p.full || len(p.entries) != 5 {
		t.Errorf("Poll with a garbage state: full %v, %d entries; want full, 5", p.full, len(p.entries))
	}

	// A new Source, as after a restart, continues from the state.
	src2 := newSource(t, opts)
	p = pollOnce(t, src2, state)
	f.wantPoll(t, "restart", p, ids, false, nil, nil, nil)
	state = p.state
	// It does not know who was approved before: USN makes a full read,
	// DirSync names the member removed.
	f.member(t, "delete", f.approved(), f.dn(5))
	p = pollOnce(t, src2, state)
	if feed == FeedUSN {
		if !p.full || len(p.entries) != 5 {
			t.Errorf("remove f5 after a restart: full %v, %d entries; want full, 5", p.full, len(p.entries))
		}
	} else {
		f.wantPoll(t, "remove f5 after a restart", p, ids, false, []int{5}, nil, nil)
	}
	if e := p.entries[ids[5]]; e == nil || hasGroup(e, f.approved()) {
		t.Errorf("remove f5 after a restart: f5 %v, want reported without approved", e)
	}

	// A person removed from the group the filter asks for leaves.
	opts3 := adOptions(s, f.ou)
	opts3.Feed = feed
	opts3.Filter = fmt.Sprintf("(&(objectClass=user)(memberOf=%s))", f.approved())
	src3 := newSource(t, opts3)
	f.member(t, "add", f.approved(), f.dn(4))
	p = pollOnce(t, src3, nil)
	f.wantPoll(t, "filtered: first poll", p, ids, true, []int{4}, nil, nil)
	f.member(t, "delete", f.approved(), f.dn(4))
	p = pollOnce(t, src3, p.state)
	f.wantPoll(t, "filtered: remove f4 from approved", p, ids, false, nil, nil, []int{4})

	// The reconcile interval forces full reads.
	opts4 := *opts
	opts4.ADReconcileInterval = time.Nanosecond
	src4 := newSource(t, &opts4)
	p = pollOnce(t, src4, nil)
	p = pollOnce(t, src4, p.state)
	if !p.full {
		t.Errorf("Poll after the reconcile interval: full false, want true")
	}
	// State of another configuration: a full read.
	p = pollOnce(t, src3, p.state)
	if !p.full {
		t.Errorf("Poll with the state of another configuration: full false, want true")
	}
}

// testADWatch watches a Samba domain: the first call reports everything,
// a change follows within a few poll intervals.
func testADWatch(t *testing.T, s *sambatest.Server) {
	f := feedDomain{s: s, ou: "OU=feed-watch," + s.BaseDN, name: "watch"}
	f.create(t)
	opts := adOptions(s, f.ou)
	opts.ADPollInterval = 50 * time.Millisecond
	src := newSource(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	calls := 0
	err := src.Watch(ctx, nil, func(changes []Change, full bool, state []byte) error {
		calls++
		switch calls {
		case 1:
			if !full || len(changes) != 6 || len(state) == 0 {
				t.Errorf("first call: full %v, %d changes, state %d bytes; want full, 6, a state", full, len(changes), len(state))
			}
			f.member(t, "add", f.approved(), f.dn(3))
		case 2:
			if full || len(changes) == 0 {
				t.Errorf("second call: full %v, %d changes; want changes", full, len(changes))
			}
			found := false
			for _, c := range changes {
				if c.Entry != nil && c.Entry.First("sAMAccountName") == f.sam(3) {
					found = hasGroup(c.Entry, f.approved())
				}
			}
			if !found {
				t.Errorf("second call: %s not reported in approved", f.sam(3))
			}
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Watch = %v, want context.Canceled", err)
	}
	if calls != 2 {
		t.Errorf("Watch called fn %d times, want 2", calls)
	}
}
