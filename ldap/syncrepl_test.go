package ldap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/slapdtest"
	goldap "github.com/go-ldap/ldap/v3"
)

// approvedDN is the group of approved partners in the feed tests'
// directories, below ou=groups.
func approvedDN(s *slapdtest.Server) string { return "cn=approved,ou=groups," + s.BaseDN }

// startFeedServer starts slapd with the people of d loaded and its groups
// added online, so that the memberof overlay maintains memberOf, and
// cn=approved listing person 0.
func startFeedServer(tb testing.TB, d *slapdtest.Directory, opts slapdtest.Options) *slapdtest.Server {
	tb.Helper()
	people, groups := generate(tb, d, false)
	approved := filepath.Join(tb.TempDir(), "approved.ldif")
	err := os.WriteFile(approved, []byte(fmt.Sprintf("dn: cn=approved,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: approved\nmember: %s\n", d.DN(0))), 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	opts.Load = []string{people}
	opts.Add = []string{groups, approved}
	return slapdtest.Start(tb, &opts)
}

// feedOptions returns options reading the people of s below ou=people and
// the groups below ou=groups, as the reader account.
func feedOptions(s *slapdtest.Server) *Options {
	o := readerOptions(s)
	o.Base = "ou=people," + s.BaseDN
	o.GroupBase = "ou=groups," + s.BaseDN
	return o
}

// syncPolled is what one Poll emitted.
type syncPolled struct {
	entries map[string]*dirbook.Entry // by ID
	removed []string                  // sorted
	full    bool
	state   []byte
}

// ids returns the IDs of the entries, sorted.
func (p *syncPolled) ids() []string {
	var out []string
	for id := range p.entries {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func collectChanges(tb testing.TB, changes []Change) (map[string]*dirbook.Entry, []string) {
	tb.Helper()
	entries := map[string]*dirbook.Entry{}
	var removed []string
	for _, ch := range changes {
		switch {
		case ch.Entry != nil && ch.RemovedID != "":
			tb.Errorf("change with both an entry and a removal: %+v", ch)
		case ch.Entry != nil:
			entries[ch.Entry.ID] = ch.Entry
		default:
			removed = append(removed, ch.RemovedID)
		}
	}
	slices.Sort(removed)
	return entries, removed
}

func syncPoll(tb testing.TB, src *Source, state []byte) *syncPolled {
	tb.Helper()
	var changes []Change
	next, full, err := src.Poll(context.Background(), state, func(ch Change) error {
		changes = append(changes, ch)
		return nil
	})
	if err != nil {
		tb.Fatalf("Poll error: %v", err)
	}
	if len(next) == 0 {
		tb.Fatalf("Poll returned no state")
	}
	p := &syncPolled{full: full, state: next}
	p.entries, p.removed = collectChanges(tb, changes)
	return p
}

// expect checks that p emitted the people with the given IDs and the
// removals of those with the IDs removed, nothing else, and no full read.
func (p *syncPolled) expect(tb testing.TB, step string, ids, removed []string) {
	tb.Helper()
	if p.full {
		tb.Errorf("%s: Poll full = true, want false", step)
	}
	slices.Sort(ids)
	slices.Sort(removed)
	if got := p.ids(); !slices.Equal(got, ids) {
		tb.Errorf("%s: Poll emitted %q, want %q", step, got, ids)
	}
	if !slices.Equal(p.removed, removed) {
		tb.Errorf("%s: Poll removed %q, want %q", step, p.removed, removed)
	}
}

func lowerSorted(ss ...string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	slices.Sort(out)
	return out
}

// sessionLogs are the two ways slapd learns deletions: from its session
// log, or by absence from the present phase.
var sessionLogs = []struct {
	name string
	log  int
}{
	{"sessionlog", 1000},
	{"nosessionlog", -1},
}

// TestPollChanges edits a directory step by step and checks that each
// Poll reports exactly the edit, with and without a session log.
func TestPollChanges(t *testing.T) {
	for _, sl := range sessionLogs {
		t.Run(sl.name, func(t *testing.T) {
			t.Parallel()
			d := &slapdtest.Directory{People: 40, Departments: 4}
			s := startFeedServer(t, d, slapdtest.Options{SessionLog: sl.log})
			src := newSource(t, feedOptions(s))

			first := syncPoll(t, src, nil)
			if !first.full {
				t.Errorf("first Poll full = false, want true")
			}
			if len(first.entries) != d.People || len(first.removed) != 0 {
				t.Fatalf("first Poll emitted %d people and %d removals, want %d and 0", len(first.entries), len(first.removed), d.People)
			}
			for _, i := range []int{0, 1, 7} {
				e := first.entries[d.EntryUUID(i)]
				if e == nil {
					t.Fatalf("first Poll did not emit person %d", i)
				}
				want := d.Groups(i)
				if i == 0 {
					want = lowerSorted(append(want, approvedDN(s))...)
				}
				if !slices.Equal(e.Groups, want) {
					t.Errorf("first Poll: person %d Groups = %q, want %q", i, e.Groups, want)
				}
				if e.Source != "test" || e.DN != d.DN(i) || e.First("uid") != d.UID(i) || e.Invalid != "" {
					t.Errorf("first Poll: person %d = %+v", i, e)
				}
				if _, ok := e.Attrs["entryuuid"]; !ok {
					t.Errorf("first Poll: person %d has no entryUUID attribute, the identity attribute", i)
				}
			}
			state := first.state

			none := syncPoll(t, src, state)
			none.expect(t, "no change", nil, nil)
			state = none.state

			steps := []struct {
				name     string
				ldif     string
				ids      []string
				idsAfter func(t *testing.T) []string // the IDs, known once the change is made
				removed  []string
				check    func(t *testing.T, p *syncPolled)
			}{{
				name: "modify",
				ldif: "dn: " + d.DN(1) + "\nchangetype: modify\nreplace: title\ntitle: Head of Things\n",
				ids:  []string{d.EntryUUID(1)},
				check: func(t *testing.T, p *syncPolled) {
					if got := p.entries[d.EntryUUID(1)].First("title"); got != "Head of Things" {
						t.Errorf("title = %q, want %q", got, "Head of Things")
					}
				},
			}, {
				name:    "delete",
				ldif:    "dn: " + d.DN(2) + "\nchangetype: delete\n",
				removed: []string{d.EntryUUID(2)},
			}, {
				name: "rename keeps the ID",
				ldif: "dn: " + d.DN(3) + "\nchangetype: modrdn\nnewrdn: uid=renamed3\ndeleteoldrdn: 0\n",
				ids:  []string{d.EntryUUID(3)},
				check: func(t *testing.T, p *syncPolled) {
					if got, want := p.entries[d.EntryUUID(3)].DN, "uid=renamed3,ou=people,"+s.BaseDN; got != want {
						t.Errorf("DN = %q, want %q", got, want)
					}
				},
			}, {
				name:    "move out of the base",
				ldif:    "dn: " + d.DN(5) + "\nchangetype: modrdn\nnewrdn: uid=" + d.UID(5) + "\ndeleteoldrdn: 0\nnewsuperior: " + s.BaseDN + "\n",
				removed: []string{d.EntryUUID(5)},
			}, {
				name: "add",
				ldif: "dn: uid=new1,ou=people," + s.BaseDN + "\nchangetype: add\nobjectClass: inetOrgPerson\nuid: new1\ncn: New One\nsn: One\n",
				idsAfter: func(t *testing.T) []string {
					return []string{entryUUIDOf(t, s, "uid=new1,ou=people,"+s.BaseDN)}
				},
			}, {
				name: "approve a partner: only the group changes",
				ldif: "dn: " + approvedDN(s) + "\nchangetype: modify\nadd: member\nmember: " + d.DN(6) + "\n",
				ids:  []string{d.EntryUUID(6)},
				check: func(t *testing.T, p *syncPolled) {
					if e := p.entries[d.EntryUUID(6)]; !e.MemberOf(approvedDN(s)) {
						t.Errorf("Groups = %q, want %s among them", e.Groups, approvedDN(s))
					}
				},
			}, {
				name: "unapprove the partner",
				ldif: "dn: " + approvedDN(s) + "\nchangetype: modify\ndelete: member\nmember: " + d.DN(6) + "\n",
				ids:  []string{d.EntryUUID(6)},
				check: func(t *testing.T, p *syncPolled) {
					e := p.entries[d.EntryUUID(6)]
					if want := d.Groups(6); !slices.Equal(e.Groups, want) {
						t.Errorf("Groups = %q, want %q", e.Groups, want)
					}
				},
			}, {
				name: "posixGroup memberUid",
				ldif: "dn: cn=shell,ou=groups," + s.BaseDN + "\nchangetype: add\nobjectClass: posixGroup\ncn: shell\ngidNumber: 500\nmemberUid: " + d.UID(7) + "\n",
				ids:  []string{d.EntryUUID(7)},
				check: func(t *testing.T, p *syncPolled) {
					if e := p.entries[d.EntryUUID(7)]; !e.MemberOf("cn=shell,ou=groups," + s.BaseDN) {
						t.Errorf("Groups = %q, want cn=shell among them", e.Groups)
					}
				},
			}, {
				// Department 1 leaves cn=employees: its people lose
				// the membership they had through nesting.
				name: "nested group leaves its parent",
				ldif: "dn: " + d.EmployeesDN() + "\nchangetype: modify\ndelete: member\nmember: " + d.DepartmentDN(1) + "\n",
				ids:  peopleOf(d, 1, 5),
				check: func(t *testing.T, p *syncPolled) {
					for _, e := range p.entries {
						if e.MemberOf(d.EmployeesDN()) || !e.MemberOf(d.DepartmentDN(1)) {
							t.Errorf("%s: Groups = %q, want department 1 without employees", e.DN, e.Groups)
						}
					}
				},
			}, {
				name:    "group deleted",
				ldif:    "dn: cn=shell,ou=groups," + s.BaseDN + "\nchangetype: delete\n",
				ids:     []string{d.EntryUUID(7)},
				removed: nil,
			}}
			for _, step := range steps {
				s.Modify(t, step.ldif)
				ids := step.ids
				if step.idsAfter != nil {
					ids = step.idsAfter(t)
				}
				p := syncPoll(t, src, state)
				p.expect(t, step.name, ids, step.removed)
				if step.check != nil && !t.Failed() {
					step.check(t, p)
				}
				state = p.state
			}
		})
	}
}

// entryUUIDOf reads the entryUUID of the entry dn of s.
func entryUUIDOf(tb testing.TB, s *slapdtest.Server, dn string) string {
	tb.Helper()
	l := dialSlapd(tb, s, "", "")
	res, err := l.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		tb.Fatalf("read entryUUID of %s: %v", dn, err)
	}
	return res.Entries[0].GetAttributeValue("entryUUID")
}

// peopleOf returns the entryUUIDs of the people of department k, but for
// those in skip (who were deleted or moved away).
func peopleOf(d *slapdtest.Directory, k int, skip ...int) []string {
	var out []string
	for i := range d.People {
		if d.Department(i) == k && !slices.Contains(skip, i) {
			out = append(out, d.EntryUUID(i))
		}
	}
	return out
}

// TestPollMemberOfFilter selects the partners by the group that approves
// them. Approving or unapproving one changes only the group entry: slapd
// reports no change of the person, and with a session log not even the
// removal.
func TestPollMemberOfFilter(t *testing.T) {
	for _, sl := range sessionLogs {
		t.Run(sl.name, func(t *testing.T) {
			t.Parallel()
			d := &slapdtest.Directory{People: 20, Departments: 2}
			s := startFeedServer(t, d, slapdtest.Options{SessionLog: sl.log})
			opts := feedOptions(s)
			opts.Filter = "(&(objectClass=inetOrgPerson)(memberOf=" + approvedDN(s) + "))"
			src := newSource(t, opts)

			first := syncPoll(t, src, nil)
			if got, want := first.ids(), []string{d.EntryUUID(0)}; !first.full || !slices.Equal(got, want) {
				t.Fatalf("first Poll = %q, full %v; want %q, full", got, first.full, want)
			}
			state := first.state

			s.Modify(t, "dn: "+approvedDN(s)+"\nchangetype: modify\nadd: member\nmember: "+d.DN(4)+"\n")
			p := syncPoll(t, src, state)
			p.expect(t, "approve", []string{d.EntryUUID(4)}, nil)
			if e := p.entries[d.EntryUUID(4)]; e != nil && !e.MemberOf(approvedDN(s)) {
				t.Errorf("approve: Groups = %q, want %s among them", e.Groups, approvedDN(s))
			}
			state = p.state

			s.Modify(t, "dn: "+approvedDN(s)+"\nchangetype: modify\ndelete: member\nmember: "+d.DN(4)+"\n")
			p = syncPoll(t, src, state)
			p.expect(t, "unapprove", nil, []string{d.EntryUUID(4)})
			state = p.state

			p = syncPoll(t, src, state)
			p.expect(t, "no change", nil, nil)
		})
	}
}

// TestPollUnusableState checks that a state Poll cannot use makes a full
// read, never an error.
func TestPollUnusableState(t *testing.T) {
	d := &slapdtest.Directory{People: 30, Departments: 3}
	s := startFeedServer(t, d, slapdtest.Options{SizeLimit: 10})
	opts := feedOptions(s)
	opts.PageSize = 5
	src := newSource(t, opts)
	good := syncPoll(t, src, nil).state

	garbageCookie := func() []byte {
		st, err := decodeSyncState(good)
		if err != nil {
			t.Fatal(err)
		}
		st.peopleCookie = []byte("rid=000,csn=garbage")
		return st.encode()
	}
	other := feedOptions(s)
	other.Filter = "(uid=*)"
	otherState := syncPoll(t, newSource(t, other), nil).state

	tests := []struct {
		name  string
		state []byte
	}{
		{"garbage", []byte("not a state at all")},
		{"truncated", good[:len(good)/2]},
		{"flipped byte", flipByte(good, len(good)-3)},
		{"other version", append([]byte(stateMagic), 99)},
		{"other filter", otherState},
		{"garbage cookie", garbageCookie()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := syncPoll(t, src, tt.state)
			if !p.full || len(p.entries) != d.People {
				t.Errorf("Poll = %d people, full %v; want %d, full", len(p.entries), p.full, d.People)
			}
		})
	}
}

func flipByte(b []byte, i int) []byte {
	b = slices.Clone(b)
	b[i] ^= 0x55
	return b
}

// TestPollTooManyChanges makes more changes than the size limit lets a
// refresh send: Poll reads everything with paged searches instead.
func TestPollTooManyChanges(t *testing.T) {
	d := &slapdtest.Directory{People: 30, Departments: 3}
	s := startFeedServer(t, d, slapdtest.Options{SizeLimit: 10})
	opts := feedOptions(s)
	opts.PageSize = 5
	src := newSource(t, opts)
	state := syncPoll(t, src, nil).state

	var b strings.Builder
	for i := range 15 {
		fmt.Fprintf(&b, "dn: %s\nchangetype: modify\nreplace: title\ntitle: Changed\n\n", d.DN(i))
	}
	fmt.Fprintf(&b, "dn: %s\nchangetype: delete\n\n", d.DN(20))
	s.Modify(t, b.String())
	p := syncPoll(t, src, state)
	if !p.full || len(p.entries) != d.People-1 {
		t.Errorf("Poll = %d people, full %v; want %d, full", len(p.entries), p.full, d.People-1)
	}
	if _, ok := p.entries[d.EntryUUID(20)]; ok {
		t.Errorf("Poll emitted the deleted person 20")
	}
	p = syncPoll(t, src, p.state)
	p.expect(t, "after the full read", nil, nil)
}

// TestPollNoSyncprov checks that a server without content sync gives an
// error wrapping ErrNoFeed, as does a source with the feed turned off.
func TestPollNoSyncprov(t *testing.T) {
	d := &slapdtest.Directory{People: 5, Departments: 1}
	s := startFeedServer(t, d, slapdtest.Options{NoSyncprov: true})
	noop := func(Change) error { return nil }

	_, _, err := newSource(t, feedOptions(s)).Poll(context.Background(), nil, noop)
	if !errors.Is(err, ErrNoFeed) {
		t.Errorf("Poll without syncprov error = %v, want ErrNoFeed", err)
	}
	opts := feedOptions(s)
	opts.Feed = FeedNone
	src := newSource(t, opts)
	if _, _, err := src.Poll(context.Background(), nil, noop); !errors.Is(err, ErrNoFeed) {
		t.Errorf("Poll with feed none error = %v, want ErrNoFeed", err)
	}
	err = src.Watch(context.Background(), nil, func([]Change, bool, []byte) error { return nil })
	if !errors.Is(err, ErrNoFeed) {
		t.Errorf("Watch with feed none error = %v, want ErrNoFeed", err)
	}
}

func TestFeedOption(t *testing.T) {
	tests := []struct {
		feed    string
		ad      bool
		wantErr string
	}{
		{"", false, ""},
		{"syncrepl", false, ""},
		{"none", false, ""},
		{"none", true, ""},
		{"dirsync", true, ""},
		{"usn", true, ""},
		{"dirsync", false, "for Active Directory"},
		{"syncrepl", true, "for OpenLDAP"},
		{"psearch", false, `feed "psearch"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/ad=%v", tt.feed, tt.ad), func(t *testing.T) {
			_, err := New(&Options{URL: "ldap://127.0.0.1", Anonymous: true, Base: "dc=example,dc=com", Feed: tt.feed, ActiveDirectory: tt.ad})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("New(feed %q) error = %v, want none", tt.feed, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("New(feed %q) error = %v, want one containing %q", tt.feed, err, tt.wantErr)
			}
		})
	}
}

// syncWatched runs Watch in the background and passes on its batches.
type syncWatched struct {
	batches chan syncWatchBatch
	done    chan error
	cancel  context.CancelFunc
}

type syncWatchBatch struct {
	changes []Change
	full    bool
	state   []byte
}

func syncWatch(tb testing.TB, src *Source, state []byte) *syncWatched {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &syncWatched{batches: make(chan syncWatchBatch, 100), done: make(chan error, 1), cancel: cancel}
	go func() {
		w.done <- src.Watch(ctx, state, func(changes []Change, full bool, state []byte) error {
			w.batches <- syncWatchBatch{changes, full, state}
			return nil
		})
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-w.done; !errors.Is(err, context.Canceled) {
			tb.Errorf("Watch error = %v, want context.Canceled", err)
		}
	})
	return w
}

// next returns the next batch, failing tb after 10 seconds.
func (w *syncWatched) next(tb testing.TB) syncWatchBatch {
	tb.Helper()
	select {
	case b := <-w.batches:
		return b
	case err := <-w.done:
		tb.Fatalf("Watch ended: %v", err)
	case <-time.After(10 * time.Second):
		tb.Fatalf("no batch from Watch within 10s")
	}
	return syncWatchBatch{}
}

// until gathers batches until the people with the IDs ids and removals of
// removed have all arrived.
func (w *syncWatched) until(tb testing.TB, ids, removed []string) (map[string]*dirbook.Entry, []string, []byte) {
	tb.Helper()
	entries := map[string]*dirbook.Entry{}
	var gone []string
	var state []byte
	for {
		b := w.next(tb)
		if b.full {
			tb.Errorf("Watch batch full = true, want false")
		}
		e, r := collectChanges(tb, b.changes)
		for id, ent := range e {
			entries[id] = ent
		}
		gone = append(gone, r...)
		state = b.state
		complete := len(entries) >= len(ids) && len(gone) >= len(removed)
		if complete {
			break
		}
	}
	var got []string
	for id := range entries {
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(gone)
	ids, removed = slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(removed))
	if !slices.Equal(got, ids) || !slices.Equal(gone, removed) {
		tb.Errorf("Watch emitted %q and removed %q, want %q and %q", got, gone, ids, removed)
	}
	return entries, gone, state
}

// TestWatch follows a directory with a persistent search, from no state
// (one full batch) and from a state Poll returned.
func TestWatch(t *testing.T) {
	for _, sl := range sessionLogs {
		t.Run(sl.name, func(t *testing.T) {
			t.Parallel()
			d := &slapdtest.Directory{People: 20, Departments: 2}
			s := startFeedServer(t, d, slapdtest.Options{SessionLog: sl.log})
			src := newSource(t, feedOptions(s))

			w := syncWatch(t, src, nil)
			b := w.next(t)
			if !b.full || len(b.changes) != d.People {
				t.Fatalf("first batch: %d changes, full %v; want %d, full", len(b.changes), b.full, d.People)
			}

			s.Modify(t, "dn: "+d.DN(1)+"\nchangetype: modify\nreplace: title\ntitle: Boss\n")
			w.until(t, []string{d.EntryUUID(1)}, nil)

			s.Modify(t, "dn: "+approvedDN(s)+"\nchangetype: modify\nadd: member\nmember: "+d.DN(3)+"\n")
			entries, _, _ := w.until(t, []string{d.EntryUUID(3)}, nil)
			if e := entries[d.EntryUUID(3)]; e != nil && !e.MemberOf(approvedDN(s)) {
				t.Errorf("approve: Groups = %q, want %s among them", e.Groups, approvedDN(s))
			}

			s.Modify(t, "dn: "+d.DN(2)+"\nchangetype: delete\n")
			_, _, state := w.until(t, nil, []string{d.EntryUUID(2)})

			// The state of the last batch continues where it stopped,
			// with Poll as with Watch.
			w.cancel()
			s.Modify(t, "dn: "+d.DN(4)+"\nchangetype: modify\nreplace: title\ntitle: Boss\n")
			p := syncPoll(t, src, state)
			p.expect(t, "poll after watch", []string{d.EntryUUID(4)}, nil)

			s.Modify(t, "dn: "+d.DN(5)+"\nchangetype: delete\n")
			w2 := syncWatch(t, src, p.state)
			b = w2.next(t)
			e, r := collectChanges(t, b.changes)
			if b.full || len(e) != 0 || !slices.Equal(r, []string{d.EntryUUID(5)}) {
				t.Errorf("refresh batch = %d people, removed %q, full %v; want none, %q, not full", len(e), r, b.full, d.EntryUUID(5))
			}
			s.Modify(t, "dn: "+approvedDN(s)+"\nchangetype: modify\ndelete: member\nmember: "+d.DN(3)+"\n")
			entries, _, _ = w2.until(t, []string{d.EntryUUID(3)}, nil)
			if e := entries[d.EntryUUID(3)]; e != nil && e.MemberOf(approvedDN(s)) {
				t.Errorf("unapprove: Groups = %q, want no %s", e.Groups, approvedDN(s))
			}
		})
	}
}
