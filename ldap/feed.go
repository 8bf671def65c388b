package ldap

import (
	"context"
	"fmt"

	"github.com/dirbook/dirbook"
)

// Change feeds: the values of Options.Feed.
const (
	// FeedSyncrepl follows the directory with RFC 4533 content sync
	// (OpenLDAP's syncprov overlay): refreshOnly for Poll,
	// refreshAndPersist for Watch.
	FeedSyncrepl = "syncrepl"
	// FeedDirSync and FeedUSN are the Active Directory feeds: the DirSync
	// control, and searches for uSNChanged above the last seen
	// highestCommittedUSN.
	FeedDirSync = "dirsync"
	FeedUSN     = "usn"
	// FeedNone turns change feeds off: Poll and Watch return an error
	// wrapping ErrNoFeed.
	FeedNone = "none"
)

// ErrNoFeed reports that a source offers no change feed, because the
// configuration turned it off or the server does not support it. The
// caller then reads the whole directory instead. It is dirbook.ErrNoFeed,
// so that callers that know no ldap types (sync) can test for it.
var ErrNoFeed = dirbook.ErrNoFeed

// Change is one change a feed reports.
type Change struct {
	// Entry is a person added or modified, complete: attributes and
	// Groups. It is nil for a removal.
	Entry *dirbook.Entry
	// RemovedID is the Entry.ID of a person who left: deleted, moved out
	// of the base, or no longer matching the filter.
	RemovedID string
}

// setFeed checks the configured feed and sets s.feed to it or, when it is
// empty, to the server's default: FeedSyncrepl, or FeedUSN in Active
// Directory.
func (s *Source) setFeed(feed string) error {
	switch feed {
	case "":
		feed = FeedSyncrepl
		if s.ad {
			feed = FeedUSN
		}
	case FeedNone:
	case FeedSyncrepl:
		if s.ad {
			return fmt.Errorf("ldap: feed %q is for OpenLDAP; Active Directory offers %q and %q", feed, FeedDirSync, FeedUSN)
		}
	case FeedDirSync, FeedUSN:
		if !s.ad {
			return fmt.Errorf("ldap: feed %q is for Active Directory; use %q for OpenLDAP", feed, FeedSyncrepl)
		}
	default:
		return fmt.Errorf("ldap: feed %q: want %s, %s, %s or %s", feed, FeedSyncrepl, FeedDirSync, FeedUSN, FeedNone)
	}
	s.feed = feed
	return nil
}

// Poll reads the changes since state and calls emit for each. A nil or
// empty state means none is known: Poll then reads every person. It
// returns the state to pass to the next Poll or Watch (an opaque value to
// store with the data it produced), and full: true when the feed could not
// continue from state (first run, cookie expired, server lost its log,
// configuration changed) and emitted every present person instead; the
// caller must then treat the IDs it knows but did not receive as removed.
//
// A state Poll cannot use is never an error: it makes a full read. Poll
// returns an error when the server fails, or one wrapping ErrNoFeed when
// the feed is turned off or the server does not support it. It stops at
// the first error emit returns and returns it wrapped. After an error,
// pass the previous state again.
func (s *Source) Poll(ctx context.Context, state []byte, emit func(Change) error) (newState []byte, full bool, err error) {
	switch {
	case s.feed == FeedNone:
		return nil, false, fmt.Errorf("ldap: poll %s: feed %q: %w", s.url, s.feed, ErrNoFeed)
	case s.ad:
		return s.pollAD(ctx, state, emit)
	}
	return s.pollSyncrepl(ctx, state, emit)
}

// Watch runs a persistent feed (refreshAndPersist where the server
// supports it) until ctx ends or an error: after the initial refresh from
// state it calls fn with each batch of changes and the state after that
// batch. The first call carries the initial refresh, changes or none; full
// has the meaning it has for Poll. Later calls carry changes only.
//
// A full initial refresh arrives as one batch of every person: to keep
// memory flat, Poll first and then Watch from the state Poll returned.
// Watch returns an error wrapping ctx.Err() when ctx ends, the first error
// fn returns (wrapped), or an error of the server or the connection.
func (s *Source) Watch(ctx context.Context, state []byte, fn func(changes []Change, full bool, newState []byte) error) error {
	switch {
	case s.feed == FeedNone:
		return fmt.Errorf("ldap: watch %s: feed %q: %w", s.url, s.feed, ErrNoFeed)
	case s.ad:
		return s.watchAD(ctx, state, fn)
	}
	return s.watchSyncrepl(ctx, state, fn)
}
