package mapping

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dirbook/dirbook"
)

// Decision says whether a person is in one book and may read it, and why,
// as `dirbook show` prints it.
type Decision struct {
	// Book is the book's ID, e.g. "partners".
	Book string
	// In reports whether the person has a card in the book.
	In bool
	// Why says which rule put the person in the book or kept them out, e.g.
	// "include: member_of cn=approved-partners,ou=groups,dc=example,dc=org
	// matched", "include: kind partner did not match", "excluded by
	// mapping.exclude: has pwdAccountLockedTime".
	Why string
	// Readable reports whether the person may read the book.
	Readable bool
	// ReadWhy says why the person may read the book or not, e.g.
	// "readers: member_of cn=staff,ou=groups,dc=example,dc=org matched".
	ReadWhy string
}

// Explain returns, for every book in configuration order, whether e is
// in it and may read it, and why. It agrees with Map and Readable at the
// same time. The texts name configured attributes, groups, kinds and
// values only, never a value of the entry.
func (m *Mapper) Explain(e *dirbook.Entry) []Decision {
	out := make([]Decision, len(m.books))
	for i, b := range m.books {
		out[i].Book = b.ID
	}
	notMapped := ""
	switch {
	case e == nil:
		notMapped = "not mapped: no entry"
	case e.Invalid != "":
		notMapped = "not mapped: " + e.Invalid
	case e.ID == "":
		notMapped = "not mapped: no id"
	}
	if notMapped != "" {
		for i := range out {
			out[i].Why, out[i].ReadWhy = notMapped, notMapped
		}
		return out
	}

	// One clock reading for the explanation and the Map it relies on.
	v := newEnv(e, m.now, nil)
	now := v.time()
	if m.exclude != nil {
		if why, ok := m.exclude.why(v); ok {
			for i := range out {
				out[i].Why = "excluded by mapping.exclude: " + why
				out[i].ReadWhy = out[i].Why
			}
			return out
		}
	}
	fixed := *m
	fixed.now = func() time.Time { return now }
	res := fixed.Map(e)
	for i, b := range m.books {
		d := &out[i]
		why, ok := b.include.why(v)
		_, d.In = res.Cards[b.ID]
		switch {
		case !ok:
			d.Why = "include: " + why + " did not match"
		case !d.In:
			d.Why = "include: " + why + " matched, but the card has no name (FN) and is left out"
		default:
			d.Why = "include: " + why + " matched"
		}
		why, ok = b.readers.why(v)
		d.Readable = ok
		if ok {
			d.ReadWhy = "readers: " + why + " matched"
		} else {
			d.ReadWhy = "readers: " + why + " did not match"
		}
	}
	return out
}

// Attributes returns the names of every attribute the rules read, as
// first configured, once each ignoring case, sorted: those of the
// conditions (has, equals, future) and those of the fields that some book
// lists (from, parts, template). A source can request just these (and
// its identity attribute), and `dirbook check --probe` can warn about
// those it never sees. Group membership (member_of, from_groups) reads no
// attribute here: sources resolve groups themselves.
func (m *Mapper) Attributes() []string {
	return slices.Clone(m.attributes)
}

// collectAttributes computes the list Attributes returns.
func (m *Mapper) collectAttributes() []string {
	seen := make(map[string]bool)
	var out []string
	add := func(name string) {
		if name == "" {
			return
		}
		if k := strings.ToLower(name); !seen[k] {
			seen[k] = true
			out = append(out, name)
		}
	}
	m.exclude.attributes(add)
	for _, b := range m.books {
		b.include.attributes(add)
		b.readers.attributes(add)
	}
	for i, f := range m.fields {
		if !slices.ContainsFunc(m.books, func(b *book) bool { return b.fields[i] }) {
			continue
		}
		for _, a := range f.fromNames {
			add(a)
		}
		for _, a := range f.partNames {
			add(a)
		}
		f.tmpl.attributes(add)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out
}
