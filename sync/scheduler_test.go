package sync

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
)

// scriptSource emits entries, or fails as its script says: fail(n) is
// asked before the n-th Read (from 1) and returns that read's error.
type scriptSource struct {
	mu      sync.Mutex
	entries []*dirbook.Entry
	reads   int
	fail    func(ctx context.Context, n int) error
}

func (s *scriptSource) Read(ctx context.Context, emit func(*dirbook.Entry) error) error {
	s.mu.Lock()
	s.reads++
	n := s.reads
	es := s.entries
	s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(ctx, n); err != nil {
			return err
		}
	}
	for _, e := range es {
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *scriptSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *scriptSource) set(es []*dirbook.Entry) {
	s.mu.Lock()
	s.entries = es
	s.mu.Unlock()
}

// fakeTimer stands in for the scheduler's timers: each wait Run starts is
// sent on waits, and fires when the test sends on fire.
type fakeTimer struct {
	waits chan time.Duration
	fire  chan time.Time
}

func newFakeTimer(s *Scheduler) *fakeTimer {
	f := &fakeTimer{waits: make(chan time.Duration), fire: make(chan time.Time)}
	s.timer = func(d time.Duration) (<-chan time.Time, func() bool) {
		f.waits <- d
		return f.fire, func() bool { return true }
	}
	return f
}

// next returns the wait Run starts next.
func (f *fakeTimer) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.waits:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("Run started no wait")
		return 0
	}
}

// logBuffer collects log records; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, nil))
}

// runScheduler starts s.Run and returns a function that cancels it and
// returns its error.
func runScheduler(t *testing.T, s *Scheduler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}
}

func TestSchedulerBackoff(t *testing.T) {
	s, _ := openStore(t)
	src := &scriptSource{entries: directory(), fail: func(_ context.Context, n int) error {
		if n <= 5 {
			return errors.New("ldap: connection refused")
		}
		return nil
	}}
	var logs logBuffer
	sch := NewScheduler(NewEngine(s, []Source{src}, newFakeMapper(), nil), &SchedulerOptions{
		Interval: time.Minute, MaxBackoff: 10 * time.Second, Jitter: -1, Logger: logs.logger(),
	})
	ft := newFakeTimer(sch)
	stop := runScheduler(t, sch)
	var got []time.Duration
	for range 7 {
		got = append(got, ft.next(t))
		ft.fire <- time.Time{}
	}
	got = append(got, ft.next(t))
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	want := []time.Duration{time.Minute, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, time.Minute, time.Minute}
	if !equalDurations(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	out := logs.String()
	if n := strings.Count(out, `level=ERROR msg="sync failed; the last published revision keeps serving"`); n != 5 {
		t.Errorf("%d failure records, want 5:\n%s", n, out)
	}
	if !strings.Contains(out, "retry_in=10s") || !strings.Contains(out, `err="sync: source 1 (#1): ldap: connection refused"`) {
		t.Errorf("failure records lack the retry time or the error:\n%s", out)
	}
	if n := strings.Count(out, `msg="sync published" revision=1`); n != 1 {
		t.Errorf("%d publish records of revision 1, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="sync found no changes"`); n != 1 {
		t.Errorf("%d no-change records, want 1:\n%s", n, out)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSchedulerJitter(t *testing.T) {
	tests := []struct {
		jitter float64
		want   time.Duration
	}{
		{0, 63 * time.Second}, // the default 10 %, half of it drawn
		{0.2, 66 * time.Second},
		{-1, 60 * time.Second},
	}
	for _, tt := range tests {
		sch := NewScheduler(NewEngine(nil, nil, newFakeMapper(), nil), &SchedulerOptions{Interval: time.Minute, Jitter: tt.jitter})
		sch.random = func() float64 { return 0.5 }
		if got := sch.wait(); got != tt.want {
			t.Errorf("wait() with Jitter %v = %v, want %v", tt.jitter, got, tt.want)
		}
	}
	if got := NewScheduler(nil, nil); got.interval != 5*time.Minute || got.maxBackoff != 5*time.Minute {
		t.Errorf("defaults: interval %v, max backoff %v, want 5m, 5m", got.interval, got.maxBackoff)
	}
}

func TestSchedulerTrigger(t *testing.T) {
	s, _ := openStore(t)
	reading := make(chan int)
	src := &scriptSource{entries: directory(), fail: func(_ context.Context, n int) error {
		reading <- n
		return nil
	}}
	sch := NewScheduler(NewEngine(s, []Source{src}, newFakeMapper(), nil), &SchedulerOptions{Interval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	ft := newFakeTimer(sch)
	stop := runScheduler(t, sch)

	ft.next(t)
	sch.Trigger() // Run waits: it syncs at once
	if n := <-reading; n != 1 {
		t.Fatalf("sync %d started, want 1", n)
	}
	// While Run syncs, triggers are merged into one.
	for range 3 {
		sch.Trigger()
	}
	if n := len(sch.trigger); n != 1 {
		t.Errorf("%d pending triggers after three, want 1", n)
	}
	ft.next(t)
	if n := <-reading; n != 2 {
		t.Fatalf("sync %d started, want 2", n)
	}
	ft.next(t)
	if n := len(sch.trigger); n != 0 {
		t.Errorf("%d pending triggers after the sync, want 0", n)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}

func TestSchedulerCancelDuringSync(t *testing.T) {
	s, _ := openStore(t)
	started := make(chan struct{})
	src := &scriptSource{entries: directory(), fail: func(ctx context.Context, _ int) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}
	var logs logBuffer
	sch := NewScheduler(NewEngine(s, []Source{src}, newFakeMapper(), nil), &SchedulerOptions{Logger: logs.logger()})
	ft := newFakeTimer(sch)
	stop := runScheduler(t, sch)
	ft.next(t)
	ft.fire <- time.Time{}
	<-started
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if out := logs.String(); out != "" {
		t.Errorf("a canceled sync logged:\n%s", out)
	}
}

func TestSchedulerOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	src := &scriptSource{entries: directory()}
	var logs logBuffer
	var published []uint64
	sch := NewScheduler(NewEngine(s, []Source{src}, newFakeMapper(), &EngineOptions{ShareFloor: -1}), &SchedulerOptions{
		Logger:    logs.logger(),
		OnPublish: func(r *dirbook.Revision) { published = append(published, r.Number) },
	})
	sch.random = func() float64 { return 0 }

	rev, err := sch.Once(ctx)
	if err != nil || rev.Number != 1 || s.Current() != rev {
		t.Fatalf("first Once = %v, %v, want revision 1 published", rev, err)
	}
	if rev, err := sch.Once(ctx); err != nil || rev.Number != 1 {
		t.Fatalf("Once without changes = %v, %v, want revision 1", rev, err)
	}
	if len(published) != 1 || published[0] != 1 {
		t.Errorf("OnPublish saw %v, want [1]", published)
	}

	// Removing a third of the colleagues is refused, logged and not applied.
	src.set(directory()[1:])
	rev, err = sch.Once(ctx)
	var r *Refusal
	if !errors.Is(err, dirbook.ErrRefused) || !errors.As(err, &r) || rev.Number != 1 {
		t.Fatalf("Once(refused plan) = %v, %v, want revision 1 and a refusal", rev, err)
	}
	out := logs.String()
	if !strings.Contains(out, `level=ERROR msg="sync refused by a safety rule; the last published revision keeps serving"`) ||
		!strings.Contains(out, "colleagues: 1 of 2 cards removed (50.0 %, limit 10 %)") {
		t.Errorf("refusal record missing or without the refusal:\n%s", out)
	}
	if got := sch.wait(); got != 5*time.Minute {
		t.Errorf("wait after a refusal = %v, want the interval", got)
	}

	// An approval lets exactly that plan through, once.
	sch.Approve(r.PlanID)
	rev, err = sch.Once(ctx)
	if err != nil || rev.Number != 2 || len(rev.Book("colleagues").Cards) != 1 {
		t.Fatalf("Once(approved plan) = %v, %v, want revision 2 with 1 colleague", rev, err)
	}
	if sch.approved != "" {
		t.Errorf("approval %q left after use", sch.approved)
	}
	if len(published) != 2 || published[1] != 2 {
		t.Errorf("OnPublish saw %v, want [1 2]", published)
	}

	// A failure counts towards the backoff.
	src.fail = func(context.Context, int) error { return errors.New("ldap: timeout") }
	if _, err := sch.Once(ctx); err == nil {
		t.Fatal("Once with a failing source = nil error")
	}
	if got := sch.wait(); got != time.Second {
		t.Errorf("wait after a failure = %v, want 1s", got)
	}
}
