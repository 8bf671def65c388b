package sync

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
	bolt "go.etcd.io/bbolt"
)

// feedOptions are the engine options of the feed tests.
func feedOptions() *EngineOptions {
	return &EngineOptions{Users: users, RulesFingerprint: "rules 1"}
}

func planChanges(t *testing.T, eng *Engine) *Plan {
	t.Helper()
	p, err := eng.PlanChanges(context.Background())
	if err != nil {
		t.Fatalf("PlanChanges = %v", err)
	}
	return p
}

func apply(t *testing.T, eng *Engine, p *Plan) *dirbook.Revision {
	t.Helper()
	rev, err := eng.Apply(context.Background(), p)
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	return rev
}

// checkLikeFull checks that a whole read of what the sources hold now
// plans nothing against the store: the plans from changes published what
// a full sync would have.
func checkLikeFull(t *testing.T, s *Store, opts *EngineOptions, feeds ...*fakeFeed) {
	t.Helper()
	var srcs []Source
	for _, f := range feeds {
		f.mu.Lock()
		srcs = append(srcs, &fakeSource{name: f.name, entries: f.current()})
		f.mu.Unlock()
	}
	p, err := NewEngine(s, srcs, newFakeMapper(), opts).Plan(context.Background())
	if err != nil {
		t.Fatalf("full Plan = %v", err)
	}
	if !p.Empty() {
		t.Errorf("full Plan after the plans from changes =\n%s\nwant no changes", strings.Join(summarize(p), "\n"))
	}
}

func logLen(f *fakeFeed) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strconv.Itoa(len(f.log))
}

// TestPlanChanges follows a directory through changes, one plan each, and
// checks every plan, that it moves the stored feed state, and that it
// publishes what a full sync would.
func TestPlanChanges(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	eng := NewEngine(s, []Source{f}, newFakeMapper(), feedOptions())

	// The first plan reads everything, through the feed.
	p := planChanges(t, eng)
	if p.Incremental || p.Entries != 3 {
		t.Fatalf("first PlanChanges: Incremental %v, Entries %d, want a full read of 3", p.Incremental, p.Entries)
	}
	apply(t, eng, p)
	if got := string(s.FeedState("dir")); got != "0" {
		t.Fatalf("FeedState after the first sync = %q, want %q", got, "0")
	}

	es := directory()
	anna, bernd, carla := es[0], es[1], es[2]
	dora := entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup)
	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{
			name:   "add",
			change: func() { f.put(dora) },
			want:   []string{"colleagues + u-4 Dora Berg"},
		},
		{
			name: "change",
			change: func() {
				anna.Attrs["mobile"] = []string{"+4917099999"}
				f.put(anna)
			},
			want: []string{"colleagues ~ u-1 mobile: +4917012345 → +4917099999"},
		},
		{
			name: "group change moves between books",
			change: func() {
				bernd.Groups = []string{partnerGroup}
				f.put(bernd)
			},
			want: []string{
				"colleagues - u-2 Bernd Meier [uid=bernd,ou=people,dc=example]: no longer matches book rules",
				"partners + u-2 Bernd Meier",
			},
		},
		{
			name: "approval changes access",
			change: func() {
				carla.Groups = append(carla.Groups, staffGroup)
				f.put(carla)
			},
			want: []string{
				"colleagues + u-3 Carla Ost",
				"access carla: partners → colleagues, partners",
			},
		},
		{
			name: "excluded",
			change: func() {
				dora.Attrs["pwdaccountlockedtime"] = []string{"20240101000000Z"}
				f.put(dora)
			},
			want: []string{"colleagues - u-4 Dora Berg [uid=dora,ou=people,dc=example]: excluded by mapping.exclude: has pwdAccountLockedTime"},
		},
		{
			name:   "removal of an unknown ID ignored",
			change: func() { f.raw(Change{RemovedID: "nobody"}) },
			want:   nil,
		},
		{
			name: "same ID twice in a batch: the last counts",
			change: func() {
				anna.Attrs["mobile"] = []string{"+4917011111"}
				f.put(anna)
				anna.Attrs["mobile"] = []string{"+4917055555"}
				f.put(anna)
			},
			want: []string{"colleagues ~ u-1 mobile: +4917099999 → +4917055555"},
		},
		{
			name: "removed and back in one batch",
			change: func() {
				f.remove("2")
				f.put(bernd)
			},
			want: nil,
		},
		{
			name:   "remove",
			change: func() { f.remove("3") },
			want: []string{
				"colleagues - u-3 Carla Ost []: no longer in the directory",
				"partners - u-3 Carla Ost []: no longer in the directory",
				"access carla: colleagues, partners → (none)",
				"warn : login carla: no person with uid \"carla\"; the login reads no book",
			},
		},
		{
			name: "invalid entry leaves",
			change: func() {
				f.raw(Change{Entry: &dirbook.Entry{ID: "2", DN: bernd.DN, Invalid: "disabled account"}})
				f.drop("2")
			},
			want: []string{
				"partners - u-2 Bernd Meier []: no longer in the directory",
				"skip uid=bernd,ou=people,dc=example (dir): disabled account",
			},
		},
		{
			name: "back again",
			change: func() {
				carla.Groups = []string{partnerGroup}
				f.put(carla)
			},
			want: []string{
				"partners + u-3 Carla Ost",
				"access carla: (none) → partners",
			},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := s.Current().Number
			st.change()
			p := planChanges(t, eng)
			if !p.Incremental {
				t.Errorf("PlanChanges: Incremental = false, want true")
			}
			if got := summarize(p); !reflect.DeepEqual(got, st.want) {
				t.Errorf("PlanChanges =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(st.want, "\n"))
			}
			rev := apply(t, eng, p)
			wantRev := before + 1
			if p.Empty() {
				wantRev = before
			}
			if rev.Number != wantRev {
				t.Errorf("revision after Apply = %d, want %d", rev.Number, wantRev)
			}
			if got, want := string(s.FeedState("dir")), logLen(f); got != want {
				t.Errorf("FeedState after Apply = %q, want %q", got, want)
			}
			if again := planChanges(t, eng); !again.Empty() {
				t.Errorf("PlanChanges after Apply =\n%s\nwant no changes", strings.Join(summarize(again), "\n"))
			}
			checkLikeFull(t, s, feedOptions(), f)
		})
	}
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPlanChangesFullRead: a feed that cannot continue reads everyone
// (full); the people it did not report are removed, within the limits.
func TestPlanChangesFullRead(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", append(directory(), staff(10, 12, "ou=people,dc=example")...))
	eng := NewEngine(s, []Source{f}, newFakeMapper(), feedOptions())
	apply(t, eng, planChanges(t, eng))

	// Missed removals come out at the next full read of the feed.
	f.drop("2")
	f.mu.Lock()
	f.expired = true
	f.mu.Unlock()
	p := planChanges(t, eng)
	want := []string{"colleagues - u-2 Bernd Meier []: no longer in the directory"}
	if got := summarize(p); !p.Incremental || !reflect.DeepEqual(got, want) {
		t.Fatalf("PlanChanges after a full read: Incremental %v,\n%s\nwant true,\n%s", p.Incremental, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	apply(t, eng, p)
	checkLikeFull(t, s, feedOptions(), f)

	// A full read missing many is refused by the share rule.
	for i := 10; i < 16; i++ {
		f.drop(fmt.Sprintf("s%05d", i))
	}
	f.mu.Lock()
	f.expired = true
	f.mu.Unlock()
	p = planChanges(t, eng)
	if r := p.Refusal(); r == nil || len(r.Books) != 1 || r.Books[0].Removed != 6 {
		t.Fatalf("Refusal of a full read missing 6 of 14 = %+v, want colleagues refused", r)
	}
	state := string(s.FeedState("dir"))
	if _, err := eng.Apply(context.Background(), p); !errors.Is(err, dirbook.ErrRefused) {
		t.Fatalf("Apply(refused) = %v, want ErrRefused", err)
	}
	if got := string(s.FeedState("dir")); got != state {
		t.Errorf("FeedState after a refusal = %q, want %q (unchanged)", got, state)
	}
}

// TestPlanChangesEmptySource: a source read whole that returns nobody is
// refused, as in Plan.
func TestPlanChangesEmptySource(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory()[:1])
	hr := &scriptSource{entries: directory()[1:]}
	eng := NewEngine(s, []Source{f, hr}, newFakeMapper(), feedOptions())
	apply(t, eng, planChanges(t, eng))

	hr.set(directory()[1:2])
	p := planChanges(t, eng)
	want := []string{
		"partners - u-3 Carla Ost []: no longer in the directory",
		"access carla: partners → (none)",
		"warn : login carla: no person with uid \"carla\"; the login reads no book",
	}
	if got := summarize(p); !p.Incremental || !reflect.DeepEqual(got, want) {
		t.Fatalf("PlanChanges with a source read whole: Incremental %v,\n%s\nwant true,\n%s", p.Incremental, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	apply(t, eng, p)

	hr.set(nil)
	if _, err := eng.PlanChanges(context.Background()); !errors.Is(err, dirbook.ErrRefused) {
		t.Errorf("PlanChanges with an empty source = %v, want ErrRefused", err)
	}
	if n := hr.count(); n != 3 {
		t.Errorf("source without a feed read %d times, want 3 (every plan)", n)
	}
}

// TestPlanChangesRestart: the feed state is stored with the revision, and
// an engine of the same configuration continues from it after a restart.
func TestPlanChangesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dirbook.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeFeed("dir", directory())
	eng := NewEngine(s, []Source{f}, newFakeMapper(), feedOptions())
	apply(t, eng, planChanges(t, eng))
	f.put(entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup))
	apply(t, eng, planChanges(t, eng))
	f.put(entry("5", "emil", "displayName", "Emil Nord", "group", staffGroup))
	s.Close()

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := string(s.FeedState("dir")); got != "1" {
		t.Fatalf("FeedState after reopening = %q, want %q", got, "1")
	}
	if s.Reconciled().IsZero() {
		t.Errorf("Reconciled after reopening is zero, want the first sync's time")
	}
	eng = NewEngine(s, []Source{f}, newFakeMapper(), feedOptions())
	p := planChanges(t, eng)
	if want := []string{"colleagues + u-5 Emil Nord"}; !p.Incremental || !reflect.DeepEqual(summarize(p), want) {
		t.Errorf("PlanChanges after reopening: Incremental %v, %q, want true, %q", p.Incremental, summarize(p), want)
	}
	if got := f.pollStates(); got[len(got)-1] != "1" {
		t.Errorf("Poll after reopening from state %q, want %q", got[len(got)-1], "1")
	}

	// Other rules: everything is read again, through the feed from scratch.
	other := NewEngine(s, []Source{f}, newFakeMapper(), &EngineOptions{Users: users, RulesFingerprint: "rules 2"})
	p, err = other.PlanChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.pollStates(); p.Incremental || got[len(got)-1] != "" {
		t.Errorf("PlanChanges with other rules: Incremental %v, Poll from %q, want a full read from no state", p.Incremental, got[len(got)-1])
	}
	apply(t, other, p)
	if got := string(s.FeedState("dir")); got != "2" {
		t.Errorf("FeedState after the full read = %q, want %q", got, "2")
	}
	// A publish that keeps no index makes the next plan read everything.
	if _, err := s.Publish(ctx, &Changes{Base: s.Current().Number, Books: []BookChanges{{Book: colleagues}, {Book: partners}}, Access: s.Current().Access}); err != nil {
		t.Fatal(err)
	}
	if p := planChanges(t, other); p.Incremental {
		t.Errorf("PlanChanges after Store.Publish: Incremental = true, want a full read")
	}
}

// setFileRevision writes rev as the revision of the store file at path,
// as another process would.
func setFileRevision(t *testing.T, path string, rev uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyRevision, uintKey(rev))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestPlanChangesFailedPublish: a publish that fails stores no feed state,
// so the next plan gets the same changes again.
func TestPlanChangesFailedPublish(t *testing.T) {
	s, path := openStore(t)
	f := newFakeFeed("dir", directory())
	eng := NewEngine(s, []Source{f}, newFakeMapper(), feedOptions())
	apply(t, eng, planChanges(t, eng))
	f.put(entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup))
	p := planChanges(t, eng)

	setFileRevision(t, path, 7)
	if _, err := eng.Apply(context.Background(), p); err == nil || !strings.Contains(err.Error(), "changed by another process") {
		t.Fatalf("Apply to a file changed behind the store = %v, want an error", err)
	}
	if got := string(s.FeedState("dir")); got != "0" {
		t.Errorf("FeedState after a failed publish = %q, want %q", got, "0")
	}
	setFileRevision(t, path, 1)
	reopened := reopen(t, s, nil, nil)
	if got := string(reopened.FeedState("dir")); got != "0" {
		t.Errorf("stored FeedState after a failed publish = %q, want %q", got, "0")
	}
	eng = NewEngine(reopened, []Source{f}, newFakeMapper(), feedOptions())
	again := planChanges(t, eng)
	if again.ID() != p.ID() {
		t.Errorf("plan after the failure = %s %q, want the same plan %s", again.ID(), summarize(again), p.ID())
	}
	apply(t, eng, again)
	if got := string(reopened.FeedState("dir")); got != "1" {
		t.Errorf("FeedState after the publish = %q, want %q", got, "1")
	}
}

// TestPlanChangesRefused: a refused plan stores no feed state; the same
// plan comes again, and its approval lets it through.
func TestPlanChangesRefused(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	opts := feedOptions()
	opts.MaxRemovals = 1
	eng := NewEngine(s, []Source{f}, newFakeMapper(), opts)
	apply(t, eng, planChanges(t, eng))
	f.remove("1")
	f.remove("3")
	p := planChanges(t, eng)
	r := p.Refusal()
	if r == nil || r.Removals != 2 {
		t.Fatalf("Refusal of 2 removals with a limit of 1 = %+v, want a refusal", r)
	}
	if _, err := eng.Apply(context.Background(), p); !errors.Is(err, dirbook.ErrRefused) {
		t.Fatalf("Apply(refused) = %v, want ErrRefused", err)
	}
	if got := string(s.FeedState("dir")); got != "0" {
		t.Errorf("FeedState after a refusal = %q, want %q", got, "0")
	}
	again := planChanges(t, eng)
	if again.ID() != p.ID() {
		t.Fatalf("plan after the refusal = %s, want the same plan %s", again.ID(), p.ID())
	}
	rev, err := eng.ApplyWith(context.Background(), again, &ApplyOptions{ApprovedID: r.PlanID})
	if err != nil || rev.Number != 2 {
		t.Fatalf("ApplyWith(approved) = %v, %v, want revision 2", rev, err)
	}
	if got := string(s.FeedState("dir")); got != "2" {
		t.Errorf("FeedState after the approved plan = %q, want %q", got, "2")
	}
}

// TestPlanChangesPrecedence: with two sources, the earlier one keeps a
// person both have, also in plans from changes.
func TestPlanChangesPrecedence(t *testing.T) {
	s, _ := openStore(t)
	a := newFakeFeed("a", directory())
	b := newFakeFeed("b", []*dirbook.Entry{entry("2", "bernd2", "displayName", "Bernd Zwei", "group", staffGroup)})
	eng := NewEngine(s, []Source{a, b}, newFakeMapper(), feedOptions())
	apply(t, eng, planChanges(t, eng))

	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{
			name:   "later source changes a person of the earlier",
			change: func() { b.put(entry("2", "bernd2", "displayName", "Bernd Drei", "group", staffGroup)) },
			want:   []string{"skip uid=bernd2,ou=people,dc=example (b): duplicate id, already read from source a"},
		},
		{
			name:   "later source removes a person of the earlier",
			change: func() { b.remove("2") },
			want:   nil,
		},
		{
			name:   "later source adds a person of the earlier",
			change: func() { b.put(entry("1", "anna2", "displayName", "Anna Zwei", "group", staffGroup)) },
			want:   []string{"skip uid=anna2,ou=people,dc=example (b): duplicate id, already read from source a"},
		},
		{
			name: "earlier source removes, later has them",
			change: func() {
				a.remove("1")
				b.put(entry("1", "anna2", "displayName", "Anna Zwei", "group", staffGroup))
			},
			want: []string{
				"colleagues ~ u-1 fn: Anna Schmidt → Anna Zwei",
				"colleagues ~ u-1 email: anna@example.com → (none)",
				"colleagues ~ u-1 mobile: +4917012345 → (none)",
				"colleagues ~ u-1 photo removed (5 bytes)",
				"access anna-phone: colleagues, partners → (none)",
				"warn : login anna-phone: no person with uid \"Anna\"; the login reads no book",
			},
		},
		{
			name:   "earlier source has them again",
			change: func() { a.put(directory()[0]) },
			want: []string{
				"colleagues ~ u-1 fn: Anna Zwei → Anna Schmidt",
				"colleagues ~ u-1 email: (none) → anna@example.com",
				"colleagues ~ u-1 mobile: (none) → +4917012345",
				"colleagues ~ u-1 photo added (5 bytes)",
				"access anna-phone: (none) → colleagues, partners",
			},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			p := planChanges(t, eng)
			if got := summarize(p); !p.Incremental || !reflect.DeepEqual(got, st.want) {
				t.Errorf("PlanChanges: Incremental %v,\n%s\nwant true,\n%s", p.Incremental, strings.Join(got, "\n"), strings.Join(st.want, "\n"))
			}
			apply(t, eng, p)
			checkLikeFull(t, s, feedOptions(), a, b)
		})
	}
}

// TestPlanChangesDirectoryLogins: the login of a person follows changes of
// their login attribute, and stays with its first holder.
func TestPlanChangesDirectoryLogins(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	opts := &EngineOptions{DirectoryLogins: true, RulesFingerprint: "rules 1"}
	eng := NewEngine(s, []Source{f}, newFakeMapper(), opts)
	rev := apply(t, eng, planChanges(t, eng))
	if got := len(rev.Access); got != 3 {
		t.Fatalf("Access after the first sync has %d logins, want 3", got)
	}
	anna := directory()[0]
	anna.Attrs["uid"] = []string{"anne"}
	f.put(anna)
	// Carla takes bernd's login value too: bernd keeps it.
	carla := directory()[2]
	carla.Attrs["uid"] = []string{"carla", "Bernd"}
	f.put(carla)
	p := planChanges(t, eng)
	want := []string{
		"access anna: colleagues, partners → (none)",
		"access anne: (none) → colleagues, partners",
		"warn uid=carla,ou=people,dc=example: uid: uid \"bernd\" is also the value of the entry 2; logins for it use the first",
	}
	if got := summarize(p); !reflect.DeepEqual(got, want) {
		t.Errorf("PlanChanges =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	apply(t, eng, p)
	checkLikeFull(t, s, opts, f)

	// The holder leaves: the value is free at the next full read.
	f.remove("2")
	p = planChanges(t, eng)
	want = []string{
		"colleagues - u-2 Bernd Meier []: no longer in the directory",
		"access bernd: colleagues, partners → (none)",
	}
	if got := summarize(p); !reflect.DeepEqual(got, want) {
		t.Errorf("PlanChanges =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	apply(t, eng, p)
	full, err := NewEngine(s, []Source{&fakeSource{name: "dir", entries: f.current()}}, newFakeMapper(), opts).Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"access bernd: (none) → partners"}
	if got := summarize(full); !reflect.DeepEqual(got, want) {
		t.Errorf("full Plan =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPlanChangesNoFeed: a source whose feed reports ErrNoFeed is read
// whole, from then on.
func TestPlanChangesNoFeed(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	f.noFeed = true
	var logs logBuffer
	opts := feedOptions()
	opts.Logger = logs.logger()
	eng := NewEngine(s, []Source{f}, newFakeMapper(), opts)
	p := planChanges(t, eng)
	if p.Incremental || p.Entries != 3 || f.readCount() != 1 {
		t.Fatalf("PlanChanges without a feed: Incremental %v, Entries %d, %d reads, want a full read", p.Incremental, p.Entries, f.readCount())
	}
	apply(t, eng, p)
	f.put(entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup))
	p = planChanges(t, eng)
	if want := []string{"colleagues + u-4 Dora Berg"}; !reflect.DeepEqual(summarize(p), want) {
		t.Errorf("second PlanChanges = %q, want %q", summarize(p), want)
	}
	if n := len(f.pollStates()); n != 1 || f.readCount() != 2 {
		t.Errorf("after two plans: %d polls, %d reads, want 1 poll, 2 reads", n, f.readCount())
	}
	if out := logs.String(); strings.Count(out, "source has no change feed") != 1 {
		t.Errorf("log of a source without feed, want one warning:\n%s", out)
	}
}

// TestPlanChangesFeedError: a feed that fails fails the plan.
func TestPlanChangesFeedError(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	eng := NewEngine(s, []Source{f}, newFakeMapper(), feedOptions())
	apply(t, eng, planChanges(t, eng))
	f.pollErr = errors.New("fake: server down")
	if _, err := eng.PlanChanges(context.Background()); err == nil || !strings.Contains(err.Error(), "server down") {
		t.Errorf("PlanChanges with a failing feed = %v, want its error", err)
	}
}

// readIndex returns the people and logins buckets of the store file at
// path, one "key value" line each, and the index fingerprint. Digests
// of entries are left out of the people records (TestReuseMapping checks
// their use).
func readIndex(t *testing.T, path string) (people, logins []string, fingerprint string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		fingerprint = string(tx.Bucket(bucketMeta).Get(keyIndex))
		if err := tx.Bucket(bucketPeople).ForEach(func(k, v []byte) error {
			people = append(people, string(k)+" "+digestField.ReplaceAllString(string(v), ""))
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketLogins).ForEach(func(k, v []byte) error {
			logins = append(logins, string(k)+" "+string(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return people, logins, fingerprint
}

var digestField = regexp.MustCompile(`,"d":"[0-9a-f]{32}"`)

// TestPeopleIndex checks the index plans keep in the store file: written
// whole by full reads, changed person by person by plans from changes.
func TestPeopleIndex(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	f := newFakeFeed("dir", directory())
	hr := &fakeSource{name: "hr", entries: []*dirbook.Entry{entry("9", "ida", "displayName", "Ida Hr", "group", staffGroup)}}
	eng := NewEngine(s, []Source{f, hr}, newFakeMapper(), feedOptions())
	check := func(step string, wantPeople, wantLogins []string) {
		t.Helper()
		people, logins, fp := readIndex(t, path)
		if !reflect.DeepEqual(people, wantPeople) || !reflect.DeepEqual(logins, wantLogins) || fp != eng.fingerprint {
			t.Errorf("%s: index\npeople %q\nlogins %q\nfingerprint %q\nwant\npeople %q\nlogins %q\nfingerprint %q",
				step, people, logins, fp, wantPeople, wantLogins, eng.fingerprint)
		}
	}
	apply(t, eng, planChanges(t, eng))
	check("first sync",
		[]string{`1 {"s":"dir","l":["anna"]}`, `2 {"s":"dir"}`, `3 {"s":"dir","l":["carla"]}`, `9 {"s":"#2"}`},
		[]string{"anna 1", "carla 3"})

	f.remove("3")
	anna := directory()[0]
	anna.Attrs["uid"] = []string{"carla"}
	f.put(anna)
	apply(t, eng, planChanges(t, eng))
	check("changes", []string{`1 {"s":"dir","l":["carla"]}`, `2 {"s":"dir"}`, `9 {"s":"#2"}`}, []string{"carla 1"})

	// A whole read with Plan rewrites what differs, and keeps the feed state.
	state := string(s.FeedState("dir"))
	hr.entries = nil
	f.drop("2")
	p, err := eng.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.ApplyWith(ctx, p, &ApplyOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	check("whole read", []string{`1 {"s":"dir","l":["carla"]}`}, []string{"carla 1"})
	if got := string(s.FeedState("dir")); got != state {
		t.Errorf("FeedState after Plan = %q, want %q (kept)", got, state)
	}
	if p := planChanges(t, eng); !p.Incremental || !p.Empty() {
		t.Errorf("PlanChanges after Plan: Incremental %v, %q, want an empty plan from changes", p.Incremental, summarize(p))
	}
}
