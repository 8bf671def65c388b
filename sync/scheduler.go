package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dirbook/dirbook"
)

// Defaults of SchedulerOptions.
const (
	defaultInterval  = 5 * time.Minute
	defaultJitter    = 0.1
	firstBackoff     = time.Second
	defaultReconcile = 6 * time.Hour
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

	// Watch makes Run follow the change feeds as they report changes
	// (persist mode) when every source has one: each batch a feed
	// delivers is planned and applied at once. If false, or when a source
	// has no feed, Run polls at Interval (PlanChanges when sources have
	// feeds, else Plan).
	Watch bool
	// ReconcileInterval is the longest time between two syncs that read
	// every source whole, when sources have change feeds: a full read
	// finds what a feed missed. It counts from the last such sync stored
	// with the revision, across restarts. If zero, 6 hours; if negative,
	// only TriggerReconcile (and a revision without feed states) makes
	// one.
	ReconcileInterval time.Duration
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
	watch      bool
	reconcile  time.Duration // <= 0: no periodic reconcile

	trigger chan struct{}

	running sync.Mutex // held during a sync

	mu           sync.Mutex // guards the fields below
	failures     int        // failed syncs in a row, refusals not counted
	approved     string     // plan ID approved once, see Approve
	reconcileReq bool       // TriggerReconcile was called

	// Test hooks.
	timer  func(d time.Duration) (<-chan time.Time, func() bool)
	random func() float64
	now    func() time.Time
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
		watch:     opts.Watch,
		reconcile: opts.ReconcileInterval,
		trigger:   make(chan struct{}, 1),
		timer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
		random: rand.Float64,
		now:    time.Now,
	}
	if s.reconcile == 0 {
		s.reconcile = defaultReconcile
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
	logMode     = "mode"
)

// Modes of a sync, as logged.
const (
	modeFull      = "full"      // Plan: every source read whole
	modeReconcile = "reconcile" // every source read whole, feeds from scratch
	modeChanges   = "changes"   // PlanChanges: the feeds' changes
	modeWatch     = "watch"     // a batch a Watch delivered
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

// TriggerReconcile asks Run for a sync that reads every source whole as
// soon as possible, as if the reconcile interval had passed; without
// change feeds it is Trigger.
func (s *Scheduler) TriggerReconcile() {
	s.mu.Lock()
	s.reconcileReq = true
	s.mu.Unlock()
	s.Trigger()
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
//
// Without change feeds the plan is Engine.Plan. With them it is
// Engine.PlanChanges, or a reconcile that reads every source whole (the
// feeds from scratch) when ReconcileInterval passed since the last one or
// TriggerReconcile asked for it.
func (s *Scheduler) Once(ctx context.Context) (*dirbook.Revision, error) {
	s.running.Lock()
	defer s.running.Unlock()
	start := time.Now()
	approved := s.approval()
	mode := s.mode()
	var p *Plan
	var err error
	switch mode {
	case modeFull:
		p, err = s.e.Plan(ctx)
	case modeReconcile:
		p, err = s.e.planFull(ctx, true)
	default:
		p, err = s.e.PlanChanges(ctx)
	}
	if p != nil {
		defer p.Close()
	}
	if mode == modeChanges && p != nil && !p.Incremental {
		mode = modeReconcile // PlanChanges had to read everything
	}
	var rev *dirbook.Revision
	if err == nil {
		rev, err = s.e.ApplyWith(ctx, p, &ApplyOptions{ApprovedID: approved})
	}
	if err == nil && mode == modeReconcile {
		s.mu.Lock()
		s.reconcileReq = false
		s.mu.Unlock()
	}
	return s.outcome(ctx, start, mode, approved, p, rev, err)
}

// approval returns the plan ID approved once.
func (s *Scheduler) approval() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.approved
}

// mode returns how Once plans next.
func (s *Scheduler) mode() string {
	if !s.e.hasFeeds() {
		return modeFull
	}
	s.mu.Lock()
	req := s.reconcileReq
	s.mu.Unlock()
	if d, ok := s.untilReconcile(); req || ok && d <= 0 {
		return modeReconcile
	}
	return modeChanges
}

// untilReconcile returns the time until a reconcile is due, and false
// when none is due ever.
func (s *Scheduler) untilReconcile() (time.Duration, bool) {
	if s.reconcile <= 0 {
		return 0, false
	}
	last := s.e.store.Reconciled()
	if last.IsZero() {
		return 0, true
	}
	return last.Add(s.reconcile).Sub(s.now()), true
}

// outcome logs the outcome of a sync in mode that started at start, counts
// failures, and calls OnPublish. A sync that changed nothing in mode
// watch logs at debug level only.
func (s *Scheduler) outcome(ctx context.Context, start time.Time, mode, approved string, p *Plan, rev *dirbook.Revision, err error) (*dirbook.Revision, error) {
	store := s.e.store
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
		s.log.Info("sync published", logRevision, rev.Number, logPlan, p.ID(), logMode, mode,
			logAdded, t.Added, logChanged, t.Changed, logRemoved, t.Removed, logDuration, took)
		published = true
	case err == nil:
		s.failures = 0
		level := slog.LevelInfo
		if mode == modeWatch {
			level = slog.LevelDebug
		}
		s.log.Log(ctx, level, "sync found no changes", logRevision, rev.Number, logMode, mode, logDuration, took)
	case errors.Is(err, dirbook.ErrRefused):
		s.failures = 0
		s.log.Error("sync refused by a safety rule; the last published revision keeps serving",
			logRevision, store.Current().Number, logMode, mode, logErr, err)
	case ctx.Err() != nil:
		// Stopping: not worth a record.
	default:
		s.failures++
		s.log.Error("sync failed; the last published revision keeps serving",
			logRevision, store.Current().Number, logMode, mode, logRetry, s.backoff(), logErr, err)
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
//
// In watch mode (SchedulerOptions.Watch, with a change feed on every
// source) Run syncs at once (Once), then follows the feeds from the states
// stored with the revision, planning and applying each batch they deliver
// as it comes. A failure, a refused batch (whose changes then come again
// from the stored states), a trigger or a due reconcile stops following;
// Run then waits as in poll mode after a failure or refusal, and starts
// over with Once. A source that turns out to have no feed makes Run poll.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		if s.watch && s.e.canWatch() {
			if err := s.runWatch(ctx); err != nil {
				return err
			}
			continue // a feed is gone: poll
		}
		if !s.sleep(ctx) {
			return ctx.Err()
		}
		s.Once(ctx) // logs its outcome
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// sleep waits for the next sync: the interval or backoff, or a trigger.
// It returns false when ctx ends first.
func (s *Scheduler) sleep(ctx context.Context) bool {
	c, stop := s.timer(s.wait())
	defer stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.trigger:
	case <-c:
	}
	return ctx.Err() == nil
}

// runWatch is Run in watch mode. It returns ctx.Err() when ctx ends, and
// nil when a source has no feed any more.
func (s *Scheduler) runWatch(ctx context.Context) error {
	for s.e.canWatch() {
		_, err := s.Once(ctx)
		if err == nil && s.e.canWatch() {
			err = s.follow(ctx)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !s.sleep(ctx) {
			return ctx.Err()
		}
	}
	return nil
}

// batch is what a Watch delivered, waiting for its plan to be applied.
type batch struct {
	src     int
	changes []Change
	full    bool
	state   []byte
	done    chan error
}

// follow watches every feed from its stored state and applies each batch,
// until ctx ends, a trigger or a due reconcile (nil), or a failure or
// refusal (the error, logged).
func (s *Scheduler) follow(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := s.e.store.state.Load()
	batches := make(chan batch)
	type end struct {
		src int
		err error
	}
	ended := make(chan end, len(s.e.sources))
	running := 0
	for i := range s.e.sources {
		f := s.e.feed(i)
		if f == nil {
			return nil
		}
		running++
		go func() {
			err := f.Watch(wctx, st.feeds[s.e.names[i]], func(changes []Change, full bool, state []byte) error {
				b := batch{src: i, changes: changes, full: full, state: state, done: make(chan error, 1)}
				select {
				case batches <- b:
				case <-wctx.Done():
					return wctx.Err()
				}
				select {
				case err := <-b.done:
					return err
				case <-wctx.Done():
					return wctx.Err()
				}
			})
			ended <- end{i, err}
		}()
	}
	stopAll := func() {
		cancel()
		for ; running > 0; running-- {
			<-ended
		}
	}
	var reconcile <-chan time.Time
	if d, ok := s.untilReconcile(); ok {
		c, stop := s.timer(max(d, 0))
		defer stop()
		reconcile = c
	}
	for {
		select {
		case <-ctx.Done():
			stopAll()
			return ctx.Err()
		case <-s.trigger:
			stopAll()
			return nil
		case <-reconcile:
			stopAll()
			return nil
		case b := <-batches:
			err := s.applyBatch(wctx, b)
			b.done <- err
			if err != nil {
				stopAll()
				return err
			}
		case e := <-ended:
			running--
			stopAll()
			err := e.err
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, dirbook.ErrNoFeed):
				s.e.dropFeed(e.src, err)
				return nil
			case err == nil:
				err = fmt.Errorf("sync: the change feed of source %s stopped", s.e.names[e.src])
			}
			s.outcome(ctx, time.Now(), modeWatch, "", nil, nil, err)
			return err
		}
	}
}

// applyBatch plans and applies a batch, and logs the outcome.
func (s *Scheduler) applyBatch(ctx context.Context, b batch) error {
	s.running.Lock()
	defer s.running.Unlock()
	start := time.Now()
	approved := s.approval()
	p, err := s.e.planBatch(ctx, b.src, b.changes, b.full, b.state)
	if p != nil {
		defer p.Close()
	}
	var rev *dirbook.Revision
	if err == nil {
		rev, err = s.e.ApplyWith(ctx, p, &ApplyOptions{ApprovedID: approved})
	}
	_, err = s.outcome(ctx, start, modeWatch, approved, p, rev, err)
	return err
}
