package carddav

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	gosync "sync"

	"github.com/dirbook/dirbook"
)

// Sync tokens (RFC 6578) are URIs in a reserved domain that nothing
// resolves:
//
//	http://dirbook.invalid/ns/sync/<store>/<book>/<rev>
//	http://dirbook.invalid/ns/sync/<store>/<book>/<rev>/<mode>/<after-rev>/<after-uid>
//
// <store> is the store's ID, <book> the book's, <rev> the revision in
// which the book last changed when the token was made; the segments are
// percent-encoded. The first form says "the client has the book as of
// <rev>"; it is also the book's CS:getctag. The second form continues a
// sync-collection that DAV:limit cut short: changes are sent in the order
// (revision, UID), and the client has every change up to and including
// the one at (<after-rev>, <after-uid>). <mode> is "full" when the
// interrupted sync started from no token: the client holds nothing else,
// so only removals after <rev>, the revision the sync started at, concern
// it. It is "delta" when the sync started from a token: every removal
// after <after-rev> concerns the client, and <rev> is the revision the
// token was made at. Continuing from
// such a position never skips a change: a card that changes again moves
// to a later revision, so it is sent again.
const tokenPrefix = "http://dirbook.invalid/ns/sync/"

// Modes of a continuation token.
const (
	modeFull  = "full"
	modeDelta = "delta"
)

// syncToken is a parsed sync token.
type syncToken struct {
	store, book string
	rev         uint64
	// mode is "" for a complete token, modeFull or modeDelta for a
	// continuation after (afterRev, afterUID).
	mode     string
	afterRev uint64
	afterUID string
}

func (t syncToken) String() string {
	var b strings.Builder
	b.WriteString(tokenPrefix)
	b.WriteString(url.PathEscape(t.store))
	b.WriteByte('/')
	b.WriteString(url.PathEscape(t.book))
	b.WriteByte('/')
	b.WriteString(strconv.FormatUint(t.rev, 10))
	if t.mode != "" {
		b.WriteByte('/')
		b.WriteString(t.mode)
		b.WriteByte('/')
		b.WriteString(strconv.FormatUint(t.afterRev, 10))
		b.WriteByte('/')
		b.WriteString(url.PathEscape(t.afterUID))
	}
	return b.String()
}

// parseSyncToken parses a token made by syncToken.String; it accepts
// that exact form only.
func parseSyncToken(s string) (syncToken, bool) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return syncToken{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 && len(parts) != 6 {
		return syncToken{}, false
	}
	var t syncToken
	var err1, err2, err3 error
	t.store, err1 = url.PathUnescape(parts[0])
	t.book, err2 = url.PathUnescape(parts[1])
	t.rev, err3 = strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return syncToken{}, false
	}
	if len(parts) == 6 {
		t.mode = parts[3]
		if t.mode != modeFull && t.mode != modeDelta {
			return syncToken{}, false
		}
		if t.afterRev, err1 = strconv.ParseUint(parts[4], 10, 64); err1 != nil {
			return syncToken{}, false
		}
		if t.afterUID, err2 = url.PathUnescape(parts[5]); err2 != nil || t.afterUID == "" {
			return syncToken{}, false
		}
	}
	if t.String() != s {
		return syncToken{}, false
	}
	return t, true
}

// token returns the complete sync token of a book, also its CS:getctag.
func (v *view) token(bs *dirbook.BookState) string {
	return syncToken{store: v.rev.StoreID, book: bs.ID, rev: bs.Revision}.String()
}

// change is a card added, changed or removed in a revision.
type change struct {
	rev     uint64
	uid     string
	removed bool
}

// after reports whether ch comes after the position (rev, uid) in the
// order (revision, UID); uid "" stands for the end of revision rev.
func (ch *change) after(rev uint64, uid string) bool {
	if ch.rev != rev {
		return ch.rev > rev
	}
	return uid != "" && ch.uid > uid
}

// bookIndex lists the changes of a book state in the order (revision,
// UID): every card at the revision it last changed, and every removal
// the state remembers.
type bookIndex struct {
	bs      *dirbook.BookState
	changes []change
}

func newBookIndex(bs *dirbook.BookState) *bookIndex {
	ix := &bookIndex{bs: bs, changes: make([]change, 0, len(bs.Cards)+len(bs.Removed))}
	for uid, c := range bs.Cards {
		ix.changes = append(ix.changes, change{rev: c.Revision, uid: uid})
	}
	for uid, rev := range bs.Removed {
		if bs.Cards[uid] == nil {
			ix.changes = append(ix.changes, change{rev: rev, uid: uid, removed: true})
		}
	}
	slices.SortFunc(ix.changes, func(a, b change) int {
		if c := cmp.Compare(a.rev, b.rev); c != 0 {
			return c
		}
		return strings.Compare(a.uid, b.uid)
	})
	return ix
}

// start returns the index of the first change after (rev, uid).
func (ix *bookIndex) start(rev uint64, uid string) int {
	i, _ := slices.BinarySearchFunc(ix.changes, struct{}{}, func(ch change, _ struct{}) int {
		if ch.after(rev, uid) {
			return 1
		}
		return -1
	})
	return i
}

// indexCache keeps the index of the current state of each book, made on
// first use; a state that publishing left unchanged keeps its index.
type indexCache struct {
	m gosync.Map // book ID → *bookIndex
}

func (c *indexCache) get(bs *dirbook.BookState) *bookIndex {
	if v, ok := c.m.Load(bs.ID); ok && v.(*bookIndex).bs == bs {
		return v.(*bookIndex)
	}
	ix := newBookIndex(bs)
	c.m.Store(bs.ID, ix)
	return ix
}

// syncCollection answers REPORT sync-collection (RFC 6578) on a book, at
// sync-level 1.
func (h *Handler) syncCollection(ex *exchange, v *view, bs *dirbook.BookState, rep *report, depth int) {
	w := ex.w
	if depth == depthInfinity {
		http.Error(w, "carddav: sync-collection needs Depth 0", http.StatusBadRequest)
		return
	}
	switch strings.ToLower(rep.syncLevel) {
	case "", "1":
	case "infinite", "infinity":
		writeXMLError(w, http.StatusForbidden, "<D:sync-traversal-supported/>")
		return
	default:
		http.Error(w, "carddav: sync-level must be 1", http.StatusBadRequest)
		return
	}

	cur := bs.Revision
	// The changes sent are those after (fromRev, fromUID); full says the
	// client holds nothing but what this sync sends, so removals up to
	// seen concern it not.
	var (
		fromRev uint64
		fromUID string
		full    bool
		seen    uint64
		all     bool // initial sync from the start: every card
	)
	if rep.syncToken == "" {
		full, all, seen = true, true, cur
	} else {
		t, ok := parseSyncToken(rep.syncToken)
		valid := ok && t.store == v.rev.StoreID && t.book == bs.ID && t.rev <= cur
		switch {
		case !valid:
		case t.mode == "":
			valid = t.rev >= bs.HistoryFrom
			fromRev = t.rev
		case t.mode == modeFull:
			valid = t.afterRev <= cur && bs.HistoryFrom <= t.rev
			fromRev, fromUID, full, seen = t.afterRev, t.afterUID, true, t.rev
		case t.mode == modeDelta:
			valid = t.afterRev <= t.rev && bs.HistoryFrom < t.afterRev
			fromRev, fromUID = t.afterRev, t.afterUID
		}
		if !valid {
			writeXMLError(w, http.StatusForbidden, "<D:valid-sync-token/>")
			return
		}
	}

	x, c := startMultistatus(ex, v, &rep.props)
	defer func() { _ = x.close() }()
	href := c.bookHref(bs)
	ctx := ex.r.Context()
	next := syncToken{store: v.rev.StoreID, book: bs.ID, rev: cur}

	var res resource
	switch {
	case fromUID == "" && fromRev == cur && !all:
		// The client is up to date: the poll that matters most.
	case all && rep.limit == 0:
		for i, uid := range bs.UIDs {
			if i%checkEvery == 0 && (x.failed() || ctx.Err() != nil) {
				return
			}
			if card := bs.Cards[uid]; card != nil {
				res = resource{kind: kindObject, book: bs, card: card}
				c.response(href, &res)
			}
		}
	default:
		ix := h.indexes.get(bs)
		i := 0
		if !all {
			i = ix.start(fromRev, fromUID)
		}
		sent := 0
		for ; i < len(ix.changes); i++ {
			ch := &ix.changes[i]
			if ch.removed && full && ch.rev <= seen {
				continue
			}
			if rep.limit > 0 && sent == rep.limit {
				// More changes remain: say so, and where to go on. The
				// change before i was sent, or skipped as of no concern.
				last := &ix.changes[i-1]
				next = syncToken{store: v.rev.StoreID, book: bs.ID, rev: cur, mode: modeDelta, afterRev: last.rev, afterUID: last.uid}
				if full {
					next.mode, next.rev = modeFull, seen
				}
				c.truncated(href)
				break
			}
			if sent%checkEvery == 0 && (x.failed() || ctx.Err() != nil) {
				return
			}
			sent++
			if ch.removed {
				c.status(href, ch.uid, "HTTP/1.1 404 Not Found")
			} else {
				res = resource{kind: kindObject, book: bs, card: bs.Cards[ch.uid]}
				c.response(href, &res)
			}
		}
	}
	x.s("<D:sync-token>")
	x.text(next.String())
	x.s("</D:sync-token>\n")
	x.s(multistatusEnd)
}
