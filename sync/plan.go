package sync

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/dirbook/dirbook"
)

// Plan is what a sync would change, computed by Engine.Plan against one
// revision. It holds the next state for Engine.Apply; a plan is applied at
// most once.
type Plan struct {
	// Base is the number of the revision the plan was computed against.
	Base uint64
	// Entries counts the usable entries the sources returned.
	Entries int
	// Books lists the configured books in configuration order, then the
	// published books no longer configured (Dropped).
	Books []BookPlan
	// Reordered reports that the configured order of the books differs
	// from the published one.
	Reordered bool
	// Access lists the logins whose readable books change, by login.
	Access []AccessChange
	// Skipped lists the entries that were not used, in reading order.
	Skipped []Skip
	// Warnings lists values mapping dropped and login problems.
	Warnings []Warning
	// Incremental reports a plan made from change feeds (PlanChanges):
	// only the people the feeds reported were read and compared, and
	// Entries counts them.
	Incremental bool

	changes *Changes
	spool   *spool // holds the JSON of the cards of changes
	storeID string
	refusal *Refusal
	idOnce  sync.Once
	id      string
}

// ID returns the plan's ID: 16 hex digits derived from the store, the base
// revision and everything the plan would publish. Planning again against
// the same revision and directory gives the same ID, so an operator can
// review a dry run and approve exactly that plan (ApplyOptions.ApprovedID).
func (p *Plan) ID() string {
	p.idOnce.Do(func() {
		ch := p.changes
		if ch == nil {
			ch = &Changes{Base: p.Base}
		}
		p.id = planID(p.storeID, ch)
	})
	return p.id
}

// Refusal returns why the removal limits refuse the plan, or nil when they
// do not. Apply refuses such a plan unless forced or approved.
func (p *Plan) Refusal() *Refusal { return p.refusal }

// BookPlan is what changes in one book. Each list is ordered by display
// name, then UID.
type BookPlan struct {
	// Book is the book as configured (as published, when Dropped).
	Book dirbook.Book `json:"book"`
	// Previous is the book as published; nil when the book is new.
	Previous *dirbook.Book `json:"previous"`
	// Dropped reports a published book that is no longer configured; all
	// its cards are in Removed.
	Dropped bool `json:"dropped"`
	// Published counts the cards the book has in the base revision.
	Published int `json:"published"`
	// Added, Changed and Removed list the cards that change.
	Added   []CardChange `json:"added"`
	Changed []CardChange `json:"changed"`
	Removed []CardChange `json:"removed"`
}

// CardChange is one card added, changed or removed.
type CardChange struct {
	// UID is the card's UID.
	UID string `json:"uid"`
	// FN is the person's display name (for removals, as published).
	FN string `json:"fn"`
	// DN is the entry's DN; "" (absent in JSON) for a person no longer in
	// the directory.
	DN string `json:"dn,omitempty"`
	// Fields lists the fields that differ, for changed cards (absent in
	// JSON otherwise).
	Fields []FieldChange `json:"fields,omitempty"`
	// Reason says why a card is removed: "no longer in the directory",
	// "excluded: …", "no longer matches book rules" or "book no longer
	// configured"; "" (absent in JSON) for added and changed cards.
	Reason string `json:"reason,omitempty"`
}

// FieldChange is one field of a changed card, by the mapping field name.
type FieldChange struct {
	Field string `json:"field"`
	// Old and New hold the values of the field's properties, structured
	// components joined by ";". For Binary fields they hold the sizes in
	// bytes instead (decimal strings). Either is empty when the field is
	// added or removed.
	Old []string `json:"old"`
	New []string `json:"new"`
	// Binary marks fields holding bytes (photos).
	Binary bool `json:"binary,omitempty"`
}

// AccessChange is a login whose readable books change.
type AccessChange struct {
	Login string `json:"login"`
	// Old and New list book IDs; empty means no book.
	Old []string `json:"old"`
	New []string `json:"new"`
}

// Skip is an entry that was not used.
type Skip struct {
	DN     string `json:"dn"`
	Source string `json:"source"`
	Reason string `json:"reason"`
}

// Warning is a mapping or login problem that did not stop the sync.
type Warning struct {
	// DN is the entry concerned; "" for login problems.
	DN string `json:"dn"`
	// Field is the mapping field, or "login <name>" for login problems.
	Field string `json:"field"`
	// Message says what happened; it never contains the dropped value.
	Message string `json:"message"`
}

// Empty reports whether the plan changes nothing at all.
func (p *Plan) Empty() bool {
	if p.Reordered || len(p.Access) > 0 {
		return false
	}
	for i := range p.Books {
		if p.Books[i].changed() {
			return false
		}
	}
	return true
}

func (b *BookPlan) changed() bool {
	return b.Dropped || b.Previous == nil || *b.Previous != b.Book || len(b.Added)+len(b.Changed)+len(b.Removed) > 0
}

func (b *BookPlan) sort() {
	byName := func(x, y CardChange) int {
		return cmp.Or(cmp.Compare(x.FN, y.FN), cmp.Compare(x.UID, y.UID))
	}
	slices.SortFunc(b.Added, byName)
	slices.SortFunc(b.Changed, byName)
	slices.SortFunc(b.Removed, byName)
}

func (p *Plan) count(f func(*BookPlan) int) int {
	n := 0
	for i := range p.Books {
		n += f(&p.Books[i])
	}
	return n
}

// WriteTextOptions configures Plan.WriteTextWith.
type WriteTextOptions struct {
	// Verbose lists, under each changed card, the fields that change with
	// their old and new values (photos by size). If false, changed cards
	// are listed by name only.
	Verbose bool
}

// WriteText is WriteTextWith in verbose mode.
func (p *Plan) WriteText(w io.Writer) error {
	return p.WriteTextWith(w, &WriteTextOptions{Verbose: true})
}

// WriteTextWith writes the plan as a report for people. A summary comes
// first: the plan's ID and totals, the removal limits it exceeds (if any),
// and a line per book. Then the details: per book each person added (+),
// changed (~, verbose: with the changed fields) or removed (-, with the
// reason), then access changes, skipped entries and warnings. A plan that
// changes nothing reads "no changes", followed by skipped entries and
// warnings.
//
// The report shows the published fields, phone numbers and mail addresses
// included; it is meant for the operator's terminal, never for logs.
func (p *Plan) WriteTextWith(w io.Writer, opts *WriteTextOptions) error {
	if opts == nil {
		opts = &WriteTextOptions{}
	}
	bw := bufio.NewWriter(w)
	if p.Empty() {
		fmt.Fprintln(bw, "no changes")
	} else {
		t := p.totals()
		fmt.Fprintf(bw, "plan %s against revision %d: %s added, %s changed, %s removed", p.ID(), p.Base,
			thousands(t.Added), thousands(t.Changed), thousands(t.Removed))
		if t.Access > 0 {
			fmt.Fprintf(bw, ", %s access changes", thousands(t.Access))
		}
		fmt.Fprintln(bw)
		if r := p.Refusal(); r != nil {
			fmt.Fprintln(bw, "refused by the removal limits:")
			for _, line := range r.Lines() {
				fmt.Fprintf(bw, "  %s\n", line)
			}
		}
		for i := range p.Books {
			fmt.Fprintf(bw, "%s: %s\n", p.Books[i].Book.ID, p.Books[i].summary())
		}
		if p.Reordered {
			fmt.Fprintln(bw, "book order changed")
		}
		for i := range p.Books {
			b := &p.Books[i]
			if len(b.Added)+len(b.Changed)+len(b.Removed) == 0 {
				continue
			}
			fmt.Fprintf(bw, "\n%s:\n", b.Book.ID)
			for _, c := range b.Added {
				fmt.Fprintf(bw, "  + %s\n", c.label())
			}
			for _, c := range b.Changed {
				fmt.Fprintf(bw, "  ~ %s\n", c.label())
				if !opts.Verbose {
					continue
				}
				for _, f := range c.Fields {
					fmt.Fprintf(bw, "    %s\n", f.text())
				}
			}
			for _, c := range b.Removed {
				fmt.Fprintf(bw, "  - %s: %s\n", c.label(), c.Reason)
			}
		}
		if len(p.Access) > 0 {
			fmt.Fprintf(bw, "\naccess:\n")
			for _, a := range p.Access {
				fmt.Fprintf(bw, "  %s: %s → %s\n", oneLine(a.Login), bookList(a.Old), bookList(a.New))
			}
		}
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintf(bw, "\nskipped:\n")
		for _, s := range p.Skipped {
			fmt.Fprintf(bw, "  %s", oneLine(s.DN))
			if s.Source != "" {
				fmt.Fprintf(bw, " (source %s)", oneLine(s.Source))
			}
			fmt.Fprintf(bw, ": %s\n", oneLine(s.Reason))
		}
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintf(bw, "\nwarnings:\n")
		for _, wn := range p.Warnings {
			fmt.Fprint(bw, "  ")
			if wn.DN != "" {
				fmt.Fprintf(bw, "%s: ", oneLine(wn.DN))
			}
			if wn.Field != "" {
				fmt.Fprintf(bw, "%s: ", oneLine(wn.Field))
			}
			fmt.Fprintln(bw, oneLine(wn.Message))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sync: write plan: %w", err)
	}
	return nil
}

func (b *BookPlan) summary() string {
	var parts []string
	switch {
	case b.Dropped:
		parts = append(parts, "no longer configured")
	case b.Previous == nil:
		parts = append(parts, fmt.Sprintf("new book %q", b.Book.Name))
	default:
		if b.Previous.Name != b.Book.Name {
			parts = append(parts, fmt.Sprintf("name %q → %q", b.Previous.Name, b.Book.Name))
		}
		if b.Previous.Description != b.Book.Description {
			parts = append(parts, fmt.Sprintf("description %q → %q", b.Previous.Description, b.Book.Description))
		}
	}
	if len(parts) == 0 && len(b.Added)+len(b.Changed)+len(b.Removed) == 0 {
		return "no changes"
	}
	parts = append(parts, fmt.Sprintf("%d added, %d changed, %d removed", len(b.Added), len(b.Changed), len(b.Removed)))
	return strings.Join(parts, ", ")
}

func (c *CardChange) label() string {
	name := c.FN
	if name == "" {
		name = "(no name)"
	}
	s := oneLine(name) + " (uid " + oneLine(c.UID)
	if c.DN != "" {
		s += ", " + oneLine(c.DN)
	}
	return s + ")"
}

func (f *FieldChange) text() string {
	if f.Binary {
		switch {
		case len(f.Old) == 0:
			return fmt.Sprintf("%s added (%s bytes)", f.Field, strings.Join(f.New, ", "))
		case len(f.New) == 0:
			return fmt.Sprintf("%s removed (%s bytes)", f.Field, strings.Join(f.Old, ", "))
		default:
			return fmt.Sprintf("%s changed (%s → %s bytes)", f.Field, strings.Join(f.Old, ", "), strings.Join(f.New, ", "))
		}
	}
	return fmt.Sprintf("%s: %s → %s", f.Field, values(f.Old), values(f.New))
}

func values(vs []string) string {
	if len(vs) == 0 {
		return "(none)"
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = oneLine(v)
	}
	return strings.Join(out, ", ")
}

func bookList(ids []string) string {
	if len(ids) == 0 {
		return "(none)"
	}
	return oneLine(strings.Join(ids, ", "))
}

// oneLine quotes s when it holds control characters, so that a value
// cannot break the report's lines.
func oneLine(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}
