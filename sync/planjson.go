package sync

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// PlanFormat is the version of the JSON document Plan.WriteJSON writes. It
// is raised only by changes that break readers (a key removed or its
// meaning changed); new keys may appear without it.
const PlanFormat = 1

// Totals counts what a plan changes across all books.
type Totals struct {
	// Added, Changed and Removed count cards; a person in two books counts
	// twice.
	Added   int `json:"added"`
	Changed int `json:"changed"`
	Removed int `json:"removed"`
	// Access counts the logins whose readable books change.
	Access int `json:"access"`
}

func (p *Plan) totals() Totals {
	return Totals{
		Added:   p.count(func(b *BookPlan) int { return len(b.Added) }),
		Changed: p.count(func(b *BookPlan) int { return len(b.Changed) }),
		Removed: p.count(func(b *BookPlan) int { return len(b.Removed) }),
		Access:  len(p.Access),
	}
}

// PlanDocument is the JSON document Plan.WriteJSON writes: the plan for
// tools. Its schema, with the types of the nested objects:
//
//	{
//	  "format": 1,                   // PlanFormat
//	  "id": "3f9a2c71e0b45d18",      // Plan.ID, for ApplyOptions.ApprovedID
//	  "store_id": "…",               // the store's ID (32 hex digits; "" before the first Open)
//	  "base": 7,                     // the revision the plan was made against
//	  "empty": false,                // the plan changes nothing
//	  "entries": 1234,               // usable entries the sources returned
//	  "totals": Totals,              // {"added","changed","removed","access"}
//	  "refusal": Refusal | null,     // the removal limits exceeded; null when none
//	  "reordered": false,            // the books' order changes
//	  "books": [BookPlan],           // configured books in order, then dropped ones
//	  "access": [AccessChange],      // {"login","old":[book IDs],"new":[book IDs]}
//	  "skipped": [Skip],             // {"dn","source","reason"}
//	  "warnings": [Warning]          // {"dn","field","message"}
//	}
//
//	BookPlan:    {"book": Book, "previous": Book | null, "dropped": bool,
//	              "published": N, "added": [CardChange], "changed": [CardChange],
//	              "removed": [CardChange]}
//	Book:        {"id", "name", "description" (omitted when empty)}
//	CardChange:  {"uid", "fn", "dn" (omitted for people no longer in the directory),
//	              "fields": [FieldChange] (changed cards only),
//	              "reason" (removed cards only)}
//	FieldChange: {"field", "old": [string], "new": [string], "binary": true (photos only;
//	              old and new then hold sizes in bytes)}
//	Refusal:     {"plan_id", "removals", "max_removals" (omitted when not exceeded),
//	              "causes": [Cause] (with max_removals), "books": [BookRefusal]}
//	BookRefusal: {"book", "removed", "published", "limit": 0.1, "causes": [Cause]}
//	Cause:       {"reason", "count", "under" and "under_count" (omitted when no
//	              parent DN holds most of them)}
//
// Lists are never null: an empty list is []. Strings are UTF-8 text;
// values of binary fields never appear, only their sizes. Like the text
// report, the document holds the published fields of the people it lists.
type PlanDocument struct {
	Format    int            `json:"format"`
	ID        string         `json:"id"`
	StoreID   string         `json:"store_id"`
	Base      uint64         `json:"base"`
	Empty     bool           `json:"empty"`
	Entries   int            `json:"entries"`
	Totals    Totals         `json:"totals"`
	Refusal   *Refusal       `json:"refusal"`
	Reordered bool           `json:"reordered"`
	Books     []BookPlan     `json:"books"`
	Access    []AccessChange `json:"access"`
	Skipped   []Skip         `json:"skipped"`
	Warnings  []Warning      `json:"warnings"`
}

// Document returns the plan as the document WriteJSON writes.
func (p *Plan) Document() *PlanDocument {
	d := &PlanDocument{
		Format:    PlanFormat,
		ID:        p.ID(),
		StoreID:   p.storeID,
		Base:      p.Base,
		Empty:     p.Empty(),
		Entries:   p.Entries,
		Totals:    p.totals(),
		Refusal:   p.refusal,
		Reordered: p.Reordered,
		Books:     make([]BookPlan, len(p.Books)),
		Access:    make([]AccessChange, len(p.Access)),
		Skipped:   nonNil(p.Skipped),
		Warnings:  nonNil(p.Warnings),
	}
	for i, b := range p.Books {
		b.Added, b.Changed, b.Removed = nonNil(b.Added), nonNil(b.Changed), nonNil(b.Removed)
		changed := make([]CardChange, len(b.Changed))
		for j, c := range b.Changed {
			fields := make([]FieldChange, len(c.Fields))
			for k, f := range c.Fields {
				f.Old, f.New = nonNil(f.Old), nonNil(f.New)
				fields[k] = f
			}
			c.Fields = fields
			changed[j] = c
		}
		b.Changed = changed
		d.Books[i] = b
	}
	for i, a := range p.Access {
		a.Old, a.New = nonNil(a.Old), nonNil(a.New)
		d.Access[i] = a
	}
	return d
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// WriteJSON writes the plan as one JSON document (PlanDocument), indented,
// followed by a newline.
func (p *Plan) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p.Document()); err != nil {
		return fmt.Errorf("sync: write plan: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sync: write plan: %w", err)
	}
	return nil
}
