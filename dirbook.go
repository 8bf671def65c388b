// Package dirbook holds the domain types shared by every part of dirbook:
// directory entries as a source reads them, the cards mapping makes of them,
// address books, and published revisions. It imports the standard library
// only; the adapters (ldap, mapping, sync, carddav) depend on it, never the
// other way round.
package dirbook

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Sentinel errors shared across packages. Callers test them with errors.Is.
var (
	// ErrNotFound reports that a person, book or card does not exist (or is
	// not visible to the caller, which must look the same).
	ErrNotFound = errors.New("not found")
	// ErrRefused reports that a sync plan was refused by a safety rule.
	ErrRefused = errors.New("refused by safety rule")
	// ErrLocked reports that another sync holds the store.
	ErrLocked = errors.New("another sync is running")
	// ErrUnauthorized reports wrong or missing credentials.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNoFeed reports that a source offers no change feed, because the
	// configuration turned it off or the server does not support it; the
	// caller reads the whole directory instead.
	ErrNoFeed = errors.New("no change feed")
)

// Entry is one person as a source read them from the directory.
type Entry struct {
	// ID is the directory's own immutable identifier (entryUUID, objectGUID
	// in its canonical string form, or a configured attribute). A card's UID
	// derives from it, never from DN or mail.
	ID string
	// DN is the entry's distinguished name as the source returned it.
	DN string
	// Source names the configured source that produced the entry.
	Source string
	// Kind is the kind of person the source yields ("employee",
	// "partner", ...), as configured on the source; "" when not set.
	Kind string
	// Attrs maps lower-case attribute names to their values. Binary values
	// (jpegPhoto, objectGUID) are kept as raw bytes in the string.
	Attrs map[string][]string
	// Groups lists the DNs of the groups the entry belongs to, directly or
	// through nesting, normalised with NormalizeDN.
	Groups []string
	// Invalid says why the entry cannot be used (e.g. "no entryUUID"); such
	// entries are reported by sync and never mapped. "" when usable.
	Invalid string
}

// Values returns the values of the attribute name (case-insensitive).
func (e *Entry) Values(name string) []string {
	return e.Attrs[strings.ToLower(name)]
}

// First returns the first value of the attribute name, or "".
func (e *Entry) First(name string) string {
	if v := e.Values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// MemberOf reports whether the entry belongs to the group with the given DN.
func (e *Entry) MemberOf(groupDN string) bool {
	return slices.Contains(e.Groups, NormalizeDN(groupDN))
}

// NormalizeDN returns a comparable form of a DN: lower case, with the
// spaces around the separators ',', '+' and '=' removed (escaped characters
// are kept). Sources hand over group DNs in this form, and mapping
// normalises the DNs of the configuration the same way.
func NormalizeDN(dn string) string {
	dn = strings.ToLower(strings.TrimSpace(dn))
	if !strings.Contains(dn, " ") {
		return dn
	}
	out := make([]byte, 0, len(dn))
	isSep := func(c byte) bool { return c == ',' || c == '+' || c == '=' }
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		if c == '\\' && i+1 < len(dn) {
			out = append(out, c, dn[i+1])
			i++
			continue
		}
		if c == ' ' {
			j := i
			for j < len(dn) && dn[j] == ' ' {
				j++
			}
			prevSep := len(out) > 0 && isSep(out[len(out)-1]) && (len(out) < 2 || out[len(out)-2] != '\\')
			if prevSep || (j < len(dn) && isSep(dn[j])) {
				i = j - 1
				continue
			}
		}
		out = append(out, c)
	}
	return string(out)
}

// Prop is one vCard property of a card, before rendering.
type Prop struct {
	// Field names the mapping rule that produced the property ("mobile").
	// Books list fields by this name.
	Field string `json:"f"`
	// Name is the vCard property name in upper case: FN, N, ORG, TEL, ...
	Name string `json:"n"`
	// Types holds the TYPE parameter values in lower case ("work", "cell").
	Types []string `json:"t,omitempty"`
	// Pref marks the preferred value among properties of the same name.
	Pref bool `json:"p,omitempty"`
	// Values holds the components of the value: one for plain text, the
	// vCard components in order for structured properties (N, ORG, ADR).
	// For PHOTO it holds the raw image bytes.
	Values []string `json:"v"`
	// MediaType is the media type of binary values (PHOTO), e.g. "image/jpeg".
	MediaType string `json:"m,omitempty"`
}

// Value returns the first component, or "".
func (p Prop) Value() string {
	if len(p.Values) == 0 {
		return ""
	}
	return p.Values[0]
}

// Card is a person as one address book shows them.
type Card struct {
	// UID is the stable identifier of the card, derived from Entry.ID.
	UID string `json:"uid"`
	// Props are the card's properties in rule order.
	Props []Prop `json:"props"`
}

// FN returns the card's formatted name, or "".
func (c *Card) FN() string {
	for _, p := range c.Props {
		if p.Name == "FN" {
			return p.Value()
		}
	}
	return ""
}

// Book describes an address book as configured.
type Book struct {
	// ID is the book's path segment, e.g. "colleagues".
	ID string `json:"id"`
	// Name is the display name, e.g. "Colleagues".
	Name string `json:"name"`
	// Description is shown by clients that support it.
	Description string `json:"description,omitempty"`
}

// StoredCard is a published card as a revision holds it in memory: which
// card, and which version of it. Its content stays in the store, which
// hands it out by book and UID, so that a revision of 100,000 cards with
// photos costs a few megabytes.
type StoredCard struct {
	// UID is the card's UID.
	UID string
	// ETag is a strong entity tag derived from the card's content; it is
	// stable across restarts for an unchanged card.
	ETag string
	// Revision is the revision in which the card last changed.
	Revision uint64
}

// BookState is the published content of one book at one revision.
type BookState struct {
	Book
	// Cards maps UID to card.
	Cards map[string]*StoredCard
	// UIDs lists the cards' UIDs in ascending order.
	UIDs []string
	// Revision is the revision in which the book last changed (its ctag).
	Revision uint64
	// Removed maps the UID of each card removed from the book to the
	// revision that removed it, for every removal after HistoryFrom. A UID
	// that comes back leaves this map.
	Removed map[string]uint64
	// HistoryFrom is the oldest revision R for which the book's changes
	// since R are fully known (Cards' Revision plus Removed). A client that
	// last synced before it must start over. 0 means the whole history.
	HistoryFrom uint64
}

// Revision is one published, immutable state of all books. It is safe for
// concurrent readers; publishing makes a new Revision instead of changing one.
type Revision struct {
	// Number counts publishes, starting at 1; 0 means nothing was published.
	Number uint64
	// StoreID identifies the store the revision belongs to; it is made at
	// random when a store is created, so sync tokens of another store, or
	// of a store that was deleted and made anew, are told apart.
	StoreID string
	// Time is when the revision was published.
	Time time.Time
	// Books lists the books in configuration order.
	Books []*BookState
	// Access maps a login name (an app-password user) to the IDs of the
	// books that user may read, as computed at publish time from the
	// person's group memberships.
	Access map[string][]string
}

// Book returns the book with the given ID, or nil.
func (r *Revision) Book(id string) *BookState {
	if r == nil {
		return nil
	}
	for _, b := range r.Books {
		if b.ID == id {
			return b
		}
	}
	return nil
}
