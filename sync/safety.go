package sync

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dirbook/dirbook"
)

// Defaults of the removal limits (see EngineOptions).
const (
	defaultMaxRemovalShare = 0.10
	defaultShareFloor      = 3
)

// limits are the removal limits a plan is checked against.
type limits struct {
	maxRemovals int     // 0: no absolute limit
	share       float64 // share of a book's published cards
	floor       int     // removals from one book the share rule always allows
}

// Refusal says why the removal limits refuse a plan. It is an error
// wrapping dirbook.ErrRefused; Engine.Apply returns it for a refused plan.
//
// In the JSON of a plan (Plan.WriteJSON) it is the object under "refusal":
//
//	{"plan_id": "…", "removals": N, "max_removals": N,
//	 "causes": [Cause…], "books": [BookRefusal…]}
type Refusal struct {
	// PlanID is the ID of the refused plan (Plan.ID).
	PlanID string `json:"plan_id"`
	// Removals counts the people the plan removes from at least one book.
	Removals int `json:"removals"`
	// MaxRemovals is the absolute limit when Removals exceeds it, else 0.
	MaxRemovals int `json:"max_removals,omitempty"`
	// Causes groups the people removed by reason, biggest first, when the
	// absolute limit is exceeded.
	Causes []Cause `json:"causes,omitempty"`
	// Books lists the books that would lose more than the share limit
	// allows, in plan order.
	Books []BookRefusal `json:"books,omitempty"`
}

// BookRefusal is a book that would lose too large a share of its cards.
type BookRefusal struct {
	// Book is the book's ID.
	Book string `json:"book"`
	// Removed counts the cards the plan removes from the book; Published
	// the cards the book has now.
	Removed   int `json:"removed"`
	Published int `json:"published"`
	// Limit is the share limit exceeded, 0.1 for 10 %.
	Limit float64 `json:"limit"`
	// Causes groups the removals by reason, biggest first.
	Causes []Cause `json:"causes"`
}

// Cause is one reason for removals and how many it accounts for.
type Cause struct {
	// Reason is the removal reason, as in CardChange.Reason.
	Reason string `json:"reason"`
	// Count counts the removals with this reason.
	Count int `json:"count"`
	// Under is the parent DN (normalised with dirbook.NormalizeDN) of more
	// than half of these removals, UnderCount how many; "" and 0 when no
	// parent DN has a majority or the DNs are unknown.
	Under      string `json:"under,omitempty"`
	UnderCount int    `json:"under_count,omitempty"`
}

// maxCauses is how many causes a refusal message names.
const maxCauses = 3

// Error returns the refusal as one line: the plan ID and every limit
// exceeded with its biggest causes.
func (r *Refusal) Error() string {
	return fmt.Sprintf("sync: plan %s refused by the removal limits: %s", r.PlanID, strings.Join(r.Lines(), "; "))
}

// Unwrap returns dirbook.ErrRefused.
func (r *Refusal) Unwrap() error { return dirbook.ErrRefused }

// Lines describes each limit exceeded, one line each, e.g.
// "colleagues: 4,012 of 40,120 cards removed (10.0 %, limit 10 %): 3,998 ×
// no longer matches book rules (3,990 under ou=sales,dc=example), 14 × no
// longer in the directory".
func (r *Refusal) Lines() []string {
	var out []string
	for _, b := range r.Books {
		out = append(out, fmt.Sprintf("%s: %s of %s cards removed (%.1f %%, limit %s %%): %s",
			oneLine(b.Book), thousands(b.Removed), thousands(b.Published),
			100*float64(b.Removed)/float64(b.Published),
			strconv.FormatFloat(100*b.Limit, 'f', -1, 64), causesText(b.Causes)))
	}
	if r.MaxRemovals > 0 {
		out = append(out, fmt.Sprintf("%s people removed, limit %s: %s",
			thousands(r.Removals), thousands(r.MaxRemovals), causesText(r.Causes)))
	}
	return out
}

func causesText(cs []Cause) string {
	shown := cs
	if len(cs) > maxCauses+1 {
		shown = cs[:maxCauses]
	}
	var parts []string
	for _, c := range shown {
		s := thousands(c.Count) + " × " + oneLine(c.Reason)
		switch {
		case c.Under == "":
		case c.UnderCount == c.Count:
			s += fmt.Sprintf(" (all under %s)", oneLine(c.Under))
		default:
			s += fmt.Sprintf(" (%s under %s)", thousands(c.UnderCount), oneLine(c.Under))
		}
		parts = append(parts, s)
	}
	if rest := cs[len(shown):]; len(rest) > 0 {
		n := 0
		for _, c := range rest {
			n += c.Count
		}
		parts = append(parts, fmt.Sprintf("%s × %d other reasons", thousands(n), len(rest)))
	}
	return strings.Join(parts, ", ")
}

// thousands formats n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// causes groups removals by reason, biggest first.
func causes(removed []CardChange) []Cause {
	type group struct {
		Cause
		under map[string]int
	}
	groups := map[string]*group{}
	for _, c := range removed {
		g := groups[c.Reason]
		if g == nil {
			g = &group{Cause: Cause{Reason: c.Reason}, under: map[string]int{}}
			groups[c.Reason] = g
		}
		g.Count++
		if p := parentDN(c.DN); p != "" {
			g.under[p]++
		}
	}
	out := make([]Cause, 0, len(groups))
	for _, g := range groups {
		for p, n := range g.under {
			if 2*n > g.Count {
				g.Under, g.UnderCount = p, n
			}
		}
		out = append(out, g.Cause)
	}
	slices.SortFunc(out, func(a, b Cause) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// parentDN returns the normalised DN of the entry above dn: dn without its
// first RDN; "" for an empty or one-RDN dn.
func parentDN(dn string) string {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			return dirbook.NormalizeDN(dn[i+1:])
		}
	}
	return ""
}

// check returns the refusal of p by lim, or nil.
func (p *Plan) check(lim limits) *Refusal {
	r := &Refusal{}
	people := map[string]bool{}
	var all []CardChange // one removal per person, for the causes
	for i := range p.Books {
		b := &p.Books[i]
		for _, c := range b.Removed {
			if !people[c.UID] {
				people[c.UID] = true
				all = append(all, c)
			}
		}
		n := len(b.Removed)
		if b.Published > 0 && n > lim.floor && float64(n) > lim.share*float64(b.Published) {
			r.Books = append(r.Books, BookRefusal{Book: b.Book.ID, Removed: n, Published: b.Published, Limit: lim.share, Causes: causes(b.Removed)})
		}
	}
	r.Removals = len(people)
	if lim.maxRemovals > 0 && r.Removals > lim.maxRemovals {
		r.MaxRemovals = lim.maxRemovals
		r.Causes = causes(all)
	}
	if len(r.Books) == 0 && r.MaxRemovals == 0 {
		return nil
	}
	r.PlanID = p.ID()
	return r
}

// planID computes the ID of the changes ch made against the revision
// base of the store storeID: the first 8 bytes of a SHA-256 over all of
// them, in hex. Two plans with the same ID publish the same revision.
func planID(storeID string, ch *Changes) string {
	h := sha256.New()
	buf := make([]byte, 0, 4096)
	flush := func() {
		h.Write(buf)
		buf = buf[:0]
	}
	buf = append(buf, "dirbook plan 1\n"...)
	buf = appendString(buf, storeID)
	buf = strconv.AppendUint(append(buf, ' '), ch.Base, 10)
	for _, bc := range ch.Books {
		buf = append(buf, "\nbook "...)
		buf = appendStrings(buf, []string{bc.Book.ID, bc.Book.Name, bc.Book.Description})
		for _, put := range bc.Put {
			buf = append(buf, "\nput "...)
			buf = appendString(buf, put.EntryID)
			buf = append(buf, put.encoded().etag...) // a hash of the card's content
			if len(buf) > 64<<10 {
				flush()
			}
		}
		for _, uid := range bc.Delete {
			buf = append(buf, "\ndel "...)
			buf = appendString(buf, uid)
		}
	}
	if ch.accessPatch {
		buf = append(buf, "\naccess changes"...)
	}
	for _, login := range sortedKeys(ch.Access) {
		buf = append(buf, "\naccess "...)
		buf = appendString(buf, login)
		buf = appendStrings(buf, ch.Access[login])
	}
	flush()
	return hex.EncodeToString(h.Sum(nil)[:8])
}
