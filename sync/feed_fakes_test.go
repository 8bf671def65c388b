package sync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/dirbook/dirbook"
)

// fakeFeed is a source with a change feed over an in-memory directory. Its
// state is the number of changes in its log, in decimal; Poll and Watch
// deliver the changes logged after it. A state it cannot parse (nil
// included) makes a full read.
type fakeFeed struct {
	name string

	mu      sync.Mutex
	entries map[string]*dirbook.Entry
	log     []Change
	noFeed  bool  // Poll and Watch fail with dirbook.ErrNoFeed
	expired bool  // the next Poll or Watch cannot continue from its state
	pollErr error // returned by the next Poll, once
	reads   int
	polls   []string // the states Poll was called with ("" for nil)
	watches []string // the states Watch was called with
	changed chan struct{}
	// watching, if not nil, receives the state of each Watch that starts.
	watching chan string
}

func newFakeFeed(name string, es []*dirbook.Entry) *fakeFeed {
	f := &fakeFeed{name: name, entries: map[string]*dirbook.Entry{}, changed: make(chan struct{}, 1)}
	for _, e := range clone(es) {
		f.entries[e.ID] = e
	}
	return f
}

func (f *fakeFeed) Name() string { return f.name }

// put adds or replaces a person and logs the change.
func (f *fakeFeed) put(e *dirbook.Entry) {
	f.mu.Lock()
	c := clone([]*dirbook.Entry{e})[0]
	f.entries[e.ID] = c
	f.log = append(f.log, Change{Entry: c})
	f.mu.Unlock()
	f.notify()
}

// remove removes people and logs it, notifying watchers once: a feed
// delivers them together.
func (f *fakeFeed) remove(ids ...string) {
	f.mu.Lock()
	for _, id := range ids {
		delete(f.entries, id)
		f.log = append(f.log, Change{RemovedID: id})
	}
	f.mu.Unlock()
	f.notify()
}

// raw logs changes without touching the directory.
func (f *fakeFeed) raw(cs ...Change) {
	f.mu.Lock()
	f.log = append(f.log, cs...)
	f.mu.Unlock()
	f.notify()
}

// drop removes a person without logging it: a change the feed missed.
func (f *fakeFeed) drop(id string) {
	f.mu.Lock()
	delete(f.entries, id)
	f.mu.Unlock()
}

func (f *fakeFeed) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeFeed) current() []*dirbook.Entry {
	var out []*dirbook.Entry
	for _, id := range slices.Sorted(maps.Keys(f.entries)) {
		out = append(out, f.entries[id])
	}
	return clone(out)
}

func (f *fakeFeed) Read(ctx context.Context, emit func(*dirbook.Entry) error) error {
	f.mu.Lock()
	f.reads++
	es := f.current()
	f.mu.Unlock()
	for _, e := range es {
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}

// since returns what a feed at state delivers: the changes after it, or
// everyone when state is unusable, and the new state.
func (f *fakeFeed) since(state []byte) (changes []Change, full bool, next []byte) {
	n, err := strconv.Atoi(string(state))
	if err != nil || n > len(f.log) || n < 0 || f.expired {
		f.expired = false
		for _, e := range f.current() {
			changes = append(changes, Change{Entry: e})
		}
		full = true
	} else {
		for _, c := range f.log[n:] {
			if c.Entry != nil {
				c.Entry = clone([]*dirbook.Entry{c.Entry})[0]
			}
			changes = append(changes, c)
		}
	}
	return changes, full, []byte(strconv.Itoa(len(f.log)))
}

func (f *fakeFeed) Poll(ctx context.Context, state []byte, emit func(Change) error) ([]byte, bool, error) {
	f.mu.Lock()
	f.polls = append(f.polls, string(state))
	if f.noFeed {
		f.mu.Unlock()
		return nil, false, fmt.Errorf("fake: poll: %w", dirbook.ErrNoFeed)
	}
	if err := f.pollErr; err != nil {
		f.pollErr = nil
		f.mu.Unlock()
		return nil, false, err
	}
	changes, full, next := f.since(state)
	f.mu.Unlock()
	for _, c := range changes {
		if err := emit(c); err != nil {
			return nil, false, err
		}
	}
	return next, full, nil
}

func (f *fakeFeed) Watch(ctx context.Context, state []byte, fn func([]Change, bool, []byte) error) error {
	f.mu.Lock()
	f.watches = append(f.watches, string(state))
	if f.noFeed {
		f.mu.Unlock()
		return fmt.Errorf("fake: watch: %w", dirbook.ErrNoFeed)
	}
	changes, full, next := f.since(state)
	watching := f.watching
	f.mu.Unlock()
	if watching != nil {
		watching <- string(state)
	}
	for {
		if err := fn(changes, full, next); err != nil {
			return fmt.Errorf("fake: watch: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fake: watch: %w", ctx.Err())
		case <-f.changed:
		}
		f.mu.Lock()
		changes, full, next = f.since(next)
		f.mu.Unlock()
	}
}

// pollStates returns the states Poll was called with.
func (f *fakeFeed) pollStates() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.polls)
}

func (f *fakeFeed) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}
