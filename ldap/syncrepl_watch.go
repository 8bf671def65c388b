package ldap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Batching of a persistent feed: changes are handed over once the feed has
// been quiet for watchQuiet, or watchMaxDelay after the first change of the
// batch, whichever comes first, so that a burst of edits arrives as one
// batch without holding back a steady stream.
const (
	watchQuiet    = 50 * time.Millisecond
	watchMaxDelay = 500 * time.Millisecond
)

// watchSyncrepl implements Watch with content sync in refreshAndPersist
// mode. When the state is unusable, or the server cannot continue from it,
// it reads the whole directory (one batch, full), then persists from the
// new state.
func (s *Source) watchSyncrepl(ctx context.Context, state []byte, fn func([]Change, bool, []byte) error) error {
	st := s.loadState(state)
	for {
		if st == nil {
			var err error
			if st, err = s.watchFull(ctx, fn); err != nil {
				return err
			}
		}
		err := s.persist(ctx, st, fn)
		if !errors.Is(err, errNeedFull) {
			return err
		}
		st = nil
	}
}

// watchFull reads the whole directory and hands it to fn as one batch.
func (s *Source) watchFull(ctx context.Context, fn func([]Change, bool, []byte) error) (*syncState, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.close()
	y := s.newSyncer(c, nil)
	var batch []Change
	err = y.full(ctx, func(ch Change) error {
		batch = append(batch, ch)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := fn(batch, true, y.st.encode()); err != nil {
		return nil, fmt.Errorf("ldap: watch %s: %w", s.url, err)
	}
	return y.st, nil
}

// syncMsg is one message of a persistent search.
type syncMsg struct {
	group    bool // of the group search, else of the people search
	entry    *goldap.Entry
	controls []goldap.Control
	end      bool  // the search ended
	err      error // why it ended
}

// msgQueue passes messages from the readers of the searches to the loop
// of persist. It never blocks a reader: go-ldap dispatches the answers of
// all requests of a connection from one goroutine, so a blocked reader
// would stall the searches persist sends while it handles a batch.
type msgQueue struct {
	mu    sync.Mutex
	msgs  []syncMsg
	ready chan struct{}
}

func (q *msgQueue) push(m syncMsg) {
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *msgQueue) take() []syncMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.msgs
	q.msgs = nil
	return m
}

// persist runs the group and people searches in refreshAndPersist mode
// from the cookies of st and hands fn the refresh, then each batch of
// changes. It returns an error wrapping errNeedFull when the server cannot
// continue from st.
func (s *Source) persist(ctx context.Context, st *syncState, fn func([]Change, bool, []byte) error) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	y := s.newSyncer(c, st)

	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	q := &msgQueue{ready: make(chan struct{}, 1)}
	start := func(group bool, req *goldap.SearchRequest, cookie []byte) {
		r := c.l.Syncrepl(sctx, req, 64, goldap.SyncRequestModeRefreshAndPersist, cookie, false)
		wg.Go(func() {
			for r.Next() {
				q.push(syncMsg{group: group, entry: r.Entry(), controls: r.Controls()})
			}
			q.push(syncMsg{group: group, end: true, err: r.Err()})
		})
	}
	start(true, y.groupRequest(s.groupFilter, syncGroupAttrs), st.groupCookie)
	start(false, y.peopleRequest(s.filter, y.peopleAttrs), st.peopleCookie)

	g, p := newSyncBatch(), newSyncBatch()
	refreshing := true
	var first time.Time // when the first change of the batch arrived
	// During the refresh the timer is a watchdog: the server must send
	// something within the timeout. Afterwards it ends a batch.
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()

	flush := func() error {
		var changes []Change
		err := y.apply(ctx, g, p, func(ch Change) error {
			changes = append(changes, ch)
			return nil
		})
		if err != nil {
			return err
		}
		if refreshing || len(changes) > 0 {
			if err := fn(changes, false, y.st.encode()); err != nil {
				return fmt.Errorf("ldap: watch %s: %w", s.url, err)
			}
		}
		g, p = newSyncBatch(), newSyncBatch()
		first = time.Time{}
		return nil
	}

	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("ldap: watch %s: %w", s.url, ctx.Err())
		case <-timer.C:
			if refreshing {
				return fmt.Errorf("ldap: watch %s: no answer within %v: %w", s.url, s.timeout, os.ErrDeadlineExceeded)
			}
			if err := flush(); err != nil {
				return err
			}
			continue
		case <-q.ready:
		}
		for _, m := range q.take() {
			if m.end {
				return s.persistEnd(ctx, m)
			}
			b := p
			if m.group {
				b = g
			}
			if err := b.add(m.entry, m.controls); err != nil {
				return fmt.Errorf("ldap: watch %s: %w", s.url, err)
			}
		}
		if refreshing {
			if len(g.changed) > maxIncremental || len(p.changed) > maxIncremental {
				return fmt.Errorf("ldap: watch %s: more than %d changes to catch up with: %w", s.url, maxIncremental, errNeedFull)
			}
			if !g.refreshDone || !p.refreshDone {
				timer.Reset(s.timeout)
				continue
			}
			if err := flush(); err != nil {
				return err
			}
			refreshing = false
			timer.Stop()
			continue
		}
		if g.size()+p.size() == 0 && g.cookie == nil && p.cookie == nil {
			continue
		}
		if len(g.changed)+len(p.changed) >= maxIncremental {
			if err := flush(); err != nil {
				return err
			}
			timer.Stop()
			continue
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		timer.Reset(max(0, min(watchQuiet, watchMaxDelay-now.Sub(first))))
	}
}

// persistEnd returns the error of a persistent search that ended.
func (s *Source) persistEnd(ctx context.Context, m syncMsg) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ldap: watch %s: %w", s.url, err)
	}
	base := s.base
	if m.group {
		base = s.groupBase
	}
	if m.err != nil {
		return s.syncError(base, m.err)
	}
	return fmt.Errorf("ldap: watch %s: the server ended the persistent content sync of %s", s.url, base)
}
