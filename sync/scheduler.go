package sync

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dirbook/dirbook"
)

// Defaults of SchedulerOptions.
const (
	defaultInterval = 5 * time.Minute
	defaultJitter   = 0.1
	firstBackoff    = time.Second
)

// SchedulerOptions configures a Scheduler.
type SchedulerOptions struct {
	// Interval is the time between two syncs. If zero, 5 minutes.
	Interval time.Duration
	// Jitter is the largest random share of a wait added to it, so that
	// replicas and restarts spread out: 0.1 adds up to 10 %. If zero, 0.1
	// is used; if negative, none.
	Jitter float64
	// MaxBackoff caps the wait after failed syncs, which starts at one
	// second and doubles with each failure in a row. If zero, Interval.
	MaxBackoff time.Duration
	// Logger receives a record per sync: published, no changes, refused
	// (with the refusal), failed. If nil, slog.Default() is used.
	Logger *slog.Logger
	// OnPublish, if not nil, is called with each revision the scheduler
	// publishes, after it is current.
	OnPublish func(*dirbook.Revision)
}

// Scheduler runs the syncs of an engine: on a schedule (Run), on demand
// (Trigger), or once (Once). Syncs never overlap.
type Scheduler struct {
	e          *Engine
	interval   time.Duration
	jitter     float64
	maxBackoff time.Duration
	log        *slog.Logger
	onPublish  func(*dirbook.Revision)

	trigger chan struct{}

	running sync.Mutex // held during a sync

	mu       sync.Mutex // guards the fields below
	failures int        // failed syncs in a row, refusals not counted
	approved string     // plan ID approved once, see Approve

	// Test hooks.
	timer  func(d time.Duration) (<-chan time.Time, func() bool)
	random func() float64
}

// NewScheduler returns a scheduler running the syncs of e.
func NewScheduler(e *Engine, opts *SchedulerOptions) *Scheduler {
	if opts == nil {
		opts = &SchedulerOptions{}
	}
	s := &Scheduler{
		e:         e,
		interval:  opts.Interval,
		jitter:    opts.Jitter,
		log:       opts.Logger,
		onPublish: opts.OnPublish,
		trigger:   make(chan struct{}, 1),
		timer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
		random: rand.Float64,
	}
	if s.interval <= 0 {
		s.interval = defaultInterval
	}
	switch {
	case s.jitter == 0:
		s.jitter = defaultJitter
	case s.jitter < 0:
		s.jitter = 0
	}
	s.maxBackoff = opts.MaxBackoff
	if s.maxBackoff <= 0 {
		s.maxBackoff = s.interval
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Log attribute keys of the scheduler.
const (
	logPlan     = "plan"
	logDuration = "duration"
	logErr      = "err"
	logRetry    = "retry_in"
)

// Trigger asks Run for a sync as soon as possible, without waiting for the
// interval. It does not block; triggers made while a sync waits to start
// are merged into one, and a trigger made during a sync runs one more
// after it.
func (s *Scheduler) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Approve lets the plan with the given ID (Plan.ID) through the removal
// limits once: the next sync whose plan has that ID applies it, and the
// approval is then used up. A later Approve replaces it.
func (s *Scheduler) Approve(planID string) {
	s.mu.Lock()
	s.approved = planID
	s.mu.Unlock()
}

// Once runs one sync now: it plans, and applies the plan unless the
// removal limits refuse it (ApplyOptions of an Approve aside). It returns
// the current revision afterwards. It logs the outcome itself (a refusal
// as an error with its text; nothing for a canceled ctx), so callers
// should not log the error again; it is returned for callers that branch
// on it (a refusal wraps dirbook.ErrRefused).
func (s *Scheduler) Once(ctx context.Context) (*dirbook.Revision, error) {
	s.running.Lock()
	defer s.running.Unlock()
	start := time.Now()
	store := s.e.store
	s.mu.Lock()
	approved := s.approved
	s.mu.Unlock()

	p, err := s.e.Plan(ctx)
	var rev *dirbook.Revision
	if err == nil {
		rev, err = s.e.ApplyWith(ctx, p, &ApplyOptions{ApprovedID: approved})
	}

	s.mu.Lock()
	published := false
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err == nil && rev.Number != p.Base:
		if approved != "" && s.approved == p.ID() {
			s.approved = ""
		}
		s.failures = 0
		t := p.totals()
		s.log.Info("sync published", logRevision, rev.Number, logPlan, p.ID(),
			logAdded, t.Added, logChanged, t.Changed, logRemoved, t.Removed, logDuration, took)
		published = true
	case err == nil:
		s.failures = 0
		s.log.Info("sync found no changes", logRevision, rev.Number, logDuration, took)
	case errors.Is(err, dirbook.ErrRefused):
		s.failures = 0
		s.log.Error("sync refused by a safety rule; the last published revision keeps serving",
			logRevision, store.Current().Number, logErr, err)
	case ctx.Err() != nil:
		// Stopping: not worth a record.
	default:
		s.failures++
		s.log.Error("sync failed; the last published revision keeps serving",
			logRevision, store.Current().Number, logRetry, s.backoff(), logErr, err)
	}
	s.mu.Unlock()
	if err != nil {
		return store.Current(), err
	}
	if published && s.onPublish != nil {
		s.onPublish(rev)
	}
	return rev, nil
}

// backoff returns the wait after the current run of failures. s.mu must
// be held.
func (s *Scheduler) backoff() time.Duration {
	if s.failures <= 0 {
		return 0
	}
	d := firstBackoff
	for i := 1; i < s.failures && d < s.maxBackoff; i++ {
		d *= 2
	}
	return min(d, s.maxBackoff)
}

// wait returns the time to wait before the next sync: the interval, or
// the backoff after a failure, plus jitter.
func (s *Scheduler) wait() time.Duration {
	s.mu.Lock()
	d := s.backoff()
	s.mu.Unlock()
	if d == 0 {
		d = s.interval
	}
	return d + time.Duration(s.jitter*s.random()*float64(d))
}

// Run syncs at the interval until ctx is done, and then returns ctx.Err().
// It waits before its first sync (run Once first to sync at start; a
// failed Once makes Run start with the backoff), retries failed syncs after
// a backoff doubling from one second up to MaxBackoff, and tries a refused
// plan again at the interval. Trigger starts a sync at once.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		c, stop := s.timer(s.wait())
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-s.trigger:
			stop()
		case <-c:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.Once(ctx) // logs its outcome
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
