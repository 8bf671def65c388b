package sync

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
)

// newAutoTimer returns a fakeTimer that does not block Run: each wait
// started is recorded on waits (while there is room), and every timer
// fires when the test sends on fire.
func newAutoTimer(s *Scheduler) *fakeTimer {
	a := &fakeTimer{waits: make(chan time.Duration, 64), fire: make(chan time.Time)}
	s.timer = func(d time.Duration) (<-chan time.Time, func() bool) {
		select {
		case a.waits <- d:
		default:
		}
		return a.fire, func() bool { return true }
	}
	return a
}

// waitRevision returns the next revision published, failing the test when
// none comes within ten seconds.
func waitRevision(t *testing.T, published <-chan *dirbook.Revision) *dirbook.Revision {
	t.Helper()
	select {
	case rev := <-published:
		return rev
	case <-time.After(10 * time.Second):
		t.Fatal("no revision published")
		return nil
	}
}

func waitWatch(t *testing.T, f *fakeFeed) string {
	t.Helper()
	select {
	case st := <-f.watching:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no Watch started")
		return ""
	}
}

// watchScheduler returns a scheduler in watch mode over f, whose
// publishes arrive on the returned channel.
func watchScheduler(t *testing.T, s *Store, f *fakeFeed, opts *EngineOptions, logs *logBuffer) (*Scheduler, <-chan *dirbook.Revision) {
	t.Helper()
	published := make(chan *dirbook.Revision, 16)
	f.watching = make(chan string, 16)
	opts.Logger = logs.logger()
	sch := NewScheduler(NewEngine(s, []Source{f}, newFakeMapper(), opts), &SchedulerOptions{
		Interval: time.Minute, Jitter: -1, Watch: true, ReconcileInterval: -1, Logger: logs.logger(),
		OnPublish: func(r *dirbook.Revision) { published <- r },
	})
	return sch, published
}

func TestSchedulerWatch(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	var logs logBuffer
	sch, published := watchScheduler(t, s, f, feedOptions(), &logs)
	newAutoTimer(sch)
	stop := runScheduler(t, sch)

	if rev := waitRevision(t, published); rev.Number != 1 || len(rev.Book("colleagues").Cards) != 2 {
		t.Fatalf("first revision = %d with %d colleagues, want 1 with 2", rev.Number, len(rev.Book("colleagues").Cards))
	}
	if st := waitWatch(t, f); st != "0" {
		t.Errorf("Watch started from %q, want %q", st, "0")
	}
	f.put(entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup))
	if rev := waitRevision(t, published); rev.Number != 2 || rev.Book("colleagues").Cards["u-4"] == nil {
		t.Fatalf("revision after adding dora = %d, want 2 with u-4", rev.Number)
	}
	bernd := directory()[1]
	bernd.Groups = []string{partnerGroup}
	f.put(bernd)
	rev := waitRevision(t, published)
	if rev.Number != 3 || rev.Book("colleagues").Cards["u-2"] != nil || rev.Book("partners").Cards["u-2"] == nil {
		t.Fatalf("revision after bernd moved = %d, want 3 with u-2 in partners only", rev.Number)
	}
	f.remove("3")
	if rev := waitRevision(t, published); rev.Number != 4 || rev.Book("partners").Cards["u-3"] != nil {
		t.Fatalf("revision after carla left = %d, want 4 without u-3", rev.Number)
	}
	if got, want := string(s.FeedState("dir")), logLen(f); got != want {
		t.Errorf("FeedState = %q, want %q", got, want)
	}
	// A trigger restarts the watch after a sync from the stored state.
	sch.Trigger()
	if st := waitWatch(t, f); st != logLen(f) {
		t.Errorf("Watch after a trigger started from %q, want %q", st, logLen(f))
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	checkLikeFull(t, s, feedOptions(), f)
}

var refusedPlanID = regexp.MustCompile(`plan ([0-9a-f]{16}) refused`)

// TestSchedulerWatchRefused: a refused batch stops the watch without
// moving the feed state; after the interval its changes come again from
// the stored state, and an approval lets them through.
func TestSchedulerWatchRefused(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	opts := feedOptions()
	opts.MaxRemovals = 1
	var logs logBuffer
	sch, published := watchScheduler(t, s, f, opts, &logs)
	at := newAutoTimer(sch)
	stop := runScheduler(t, sch)
	waitRevision(t, published)
	waitWatch(t, f)

	f.remove("1", "3")
	if d := at.next(t); d != time.Minute {
		t.Fatalf("wait after a refused batch = %v, want the interval", d)
	}
	m := refusedPlanID.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no refusal logged:\n%s", logs.String())
	}
	if got := string(s.FeedState("dir")); got != "0" || s.Current().Number != 1 {
		t.Errorf("after the refusal: FeedState %q, revision %d, want %q, 1", got, s.Current().Number, "0")
	}
	sch.Approve(m[1])
	at.fire <- time.Time{}
	rev := waitRevision(t, published)
	if rev.Number != 2 || len(rev.Book("colleagues").Cards) != 1 {
		t.Fatalf("revision after the approval = %d with %d colleagues, want 2 with 1", rev.Number, len(rev.Book("colleagues").Cards))
	}
	if st := waitWatch(t, f); st != "2" {
		t.Errorf("Watch after the approval started from %q, want %q", st, "2")
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}

// TestSchedulerWatchFailure: a batch whose publish fails stops the watch;
// after the backoff the changes come again from the stored state.
func TestSchedulerWatchFailure(t *testing.T) {
	s, path := openStore(t)
	f := newFakeFeed("dir", directory())
	var logs logBuffer
	sch, published := watchScheduler(t, s, f, feedOptions(), &logs)
	at := newAutoTimer(sch)
	stop := runScheduler(t, sch)
	waitRevision(t, published)
	waitWatch(t, f)

	setFileRevision(t, path, 9)
	f.put(entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup))
	if d := at.next(t); d != time.Second {
		t.Fatalf("wait after a failed batch = %v, want the first backoff", d)
	}
	if got := string(s.FeedState("dir")); got != "0" {
		t.Errorf("FeedState after the failure = %q, want %q", got, "0")
	}
	setFileRevision(t, path, 1)
	at.fire <- time.Time{}
	if rev := waitRevision(t, published); rev.Number != 2 || rev.Book("colleagues").Cards["u-4"] == nil {
		t.Fatalf("revision after the retry = %d, want 2 with u-4", rev.Number)
	}
	if got := string(s.FeedState("dir")); got != "1" {
		t.Errorf("FeedState after the retry = %q, want %q", got, "1")
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}

// TestSchedulerWatchNoFeed: sources without a feed make Run poll with
// whole reads.
func TestSchedulerWatchNoFeed(t *testing.T) {
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	f.noFeed = true
	var logs logBuffer
	sch, published := watchScheduler(t, s, f, feedOptions(), &logs)
	at := newAutoTimer(sch)
	stop := runScheduler(t, sch)
	if rev := waitRevision(t, published); rev.Number != 1 {
		t.Fatalf("first revision = %d, want 1", rev.Number)
	}
	if d := at.next(t); d != time.Minute {
		t.Fatalf("wait after falling back = %v, want the interval", d)
	}
	f.put(entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup))
	at.fire <- time.Time{}
	if rev := waitRevision(t, published); rev.Number != 2 || rev.Book("colleagues").Cards["u-4"] == nil {
		t.Fatalf("revision after polling = %d, want 2 with u-4", rev.Number)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if n := f.readCount(); n != 2 {
		t.Errorf("source read %d times, want 2", n)
	}
	f.mu.Lock()
	watches := len(f.watches)
	f.mu.Unlock()
	if watches != 0 {
		t.Errorf("%d watches of a source without feed, want 0", watches)
	}
}

// TestSchedulerReconcile: with feeds, Once reads everything when the
// reconcile interval has passed since the last whole read, or on request.
func TestSchedulerReconcile(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	f := newFakeFeed("dir", directory())
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	eng := NewEngine(s, []Source{f}, newFakeMapper(), feedOptions())
	eng.now = c.now
	sch := NewScheduler(eng, &SchedulerOptions{ReconcileInterval: time.Hour, Logger: (&logBuffer{}).logger()})
	sch.now = c.now

	lastPoll := func() string {
		states := f.pollStates()
		return states[len(states)-1]
	}
	steps := []struct {
		name    string
		before  func()
		wantRev uint64
		want    string // the state Poll got
	}{
		{"first sync reads everything", func() {}, 1, ""},
		{"then changes", func() { f.put(entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup)) }, 2, "0"},
		{"a missed removal stays", func() { f.drop("4"); c.add(59 * time.Minute) }, 2, "1"},
		{"reconcile after the interval", func() { c.add(time.Minute) }, 3, ""},
		{"changes again", func() {}, 3, "1"},
		{"reconcile on request", func() { f.drop("2"); sch.TriggerReconcile() }, 4, ""},
		{"changes after the request", func() {}, 4, "1"},
	}
	for _, st := range steps {
		st.before()
		rev, err := sch.Once(ctx)
		if err != nil {
			t.Fatalf("%s: Once = %v", st.name, err)
		}
		if rev.Number != st.wantRev || lastPoll() != st.want {
			t.Errorf("%s: revision %d, Poll from %q, want %d, %q", st.name, rev.Number, lastPoll(), st.wantRev, st.want)
		}
	}
	if got, want := s.Reconciled(), c.now(); !got.Equal(want) {
		t.Errorf("Reconciled = %v, want %v", got, want)
	}
}
