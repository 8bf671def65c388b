package sync

import "time"

// Progress is how far a sync has come, for a progress display. Counters
// grow within one Plan or Apply and start at zero in the next.
type Progress struct {
	// Stage is what the sync is doing: "read" (reading the sources),
	// "map" (mapping the entries read), "plan" (comparing with the
	// published revision) or "publish" (writing the new revision).
	Stage string
	// Read counts the entries read from the sources.
	Read int
	// Mapped counts the entries mapped to cards.
	Mapped int
	// Published counts the cards written or removed while publishing.
	Published int
	// Done marks the last call of a Plan or an Apply, made whether it
	// succeeded or not.
	Done bool
}

// progressInterval is the least time between two progress calls, except
// for the last one.
const progressInterval = 200 * time.Millisecond

// progress throttles calls of a progress function. Its methods do nothing
// when the function is nil.
type progress struct {
	f    func(Progress)
	now  func() time.Time
	last time.Time
	p    Progress
	n    int
}

func newProgress(f func(Progress), now func() time.Time) *progress {
	pr := &progress{f: f, now: now}
	if f != nil {
		pr.last = now()
	}
	return pr
}

// tick reports p if progressInterval passed since the last report. It
// looks at the clock every 256 calls only.
func (pr *progress) tick() {
	if pr.f == nil {
		return
	}
	if pr.n++; pr.n%256 != 0 {
		return
	}
	if t := pr.now(); t.Sub(pr.last) >= progressInterval {
		pr.last = t
		pr.f(pr.p)
	}
}

// report reports p if progressInterval passed since the last report.
func (pr *progress) report() {
	if pr.f == nil {
		return
	}
	if t := pr.now(); t.Sub(pr.last) >= progressInterval {
		pr.last = t
		pr.f(pr.p)
	}
}

// stage sets the stage the next reports show.
func (pr *progress) stage(s string) { pr.p.Stage = s }

// published reports n cards published if progressInterval passed since
// the last report.
func (pr *progress) published(n int) {
	if pr.f == nil {
		return
	}
	pr.p.Published = n
	pr.report()
}

// done makes the last report.
func (pr *progress) done() {
	if pr.f == nil {
		return
	}
	pr.p.Done = true
	pr.f(pr.p)
}
