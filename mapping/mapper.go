package mapping

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dirbook/dirbook"
)

// maxValues bounds the number of values one field takes from an entry,
// and twice that the number of values it looks at; the rest are dropped
// with a warning.
const maxValues = 32

// Mapper applies compiled rules: Map makes the cards of one person,
// Readable and Explain say which books the person may read and why, and
// Attributes lists the attributes the rules read. It remembers the E.164
// forms of phone numbers and the scaled forms of photos it has seen, so
// that mapping the same people again (every sync) costs little. It is
// safe for concurrent use.
type Mapper struct {
	region     string
	exclude    *cond // nil: nobody
	fields     []*field
	books      []*book
	phones     *phoneCache
	photos     *photoCache
	now        func() time.Time
	attributes []string
}

// field is a compiled FieldRule.
type field struct {
	name       string
	prop       string
	info       propInfo
	from       []string // lower-case attribute names
	fromNames  []string // as configured, for warnings
	parts      []string // lower-case attribute names, "" for an empty component
	partNames  []string
	tmpl       *template    // nil unless the field has a template
	groups     []groupValue // from_groups, ordered by value
	types      []string
	pref       bool
	multi      bool
	transforms []string // "lower", "upper", "title" in order
	replace    *regexp.Regexp
	with       string
	maxLen     int // in runes; 0 for none
	e164       bool
	region     string
	photo      photoLimits
}

// groupValue is one entry of a field's from_groups.
type groupValue struct {
	dn    string // normalised
	value string // cleaned and transformed
}

// book is a compiled BookRule.
type book struct {
	dirbook.Book
	include *cond
	readers *cond
	fields  []bool // indexed like Mapper.fields: shown in this book
	fnField int    // index of the book's FN field
	nField  int    // index of the book's N field, or -1
}

// Result is what Map makes of one entry.
type Result struct {
	// Cards maps a book ID to the card the person has in that book, with
	// that book's fields only. A book the person is not in is absent.
	// Cards share memory with each other: treat them as read-only.
	Cards map[string]*dirbook.Card
	// Excluded is non-empty when the person is in no book because of the
	// global exclude rule or because the entry is unusable: a short
	// reason naming the rule, e.g. "excluded by mapping.exclude: has
	// pwdAccountLockedTime". It never contains a value of the entry.
	Excluded string
	// Warnings lists values that were dropped (invalid phone numbers,
	// undecodable photos, dates a future condition cannot read) and books
	// the person was left out of. They never contain the values
	// themselves.
	Warnings []Warning
	// Timed reports whether a future condition read the clock: the same
	// entry may map differently at another time.
	Timed bool
}

// Warning reports a value dropped while mapping an entry.
type Warning struct {
	// Field names the field rule, e.g. "work_phone", or for a value a
	// condition cannot read, the condition's path in the rules, e.g.
	// "books[1].include.all[1].future".
	Field string
	// Message says what was dropped and why, e.g. "value 2 of
	// telephoneNumber is not a valid phone number".
	Message string
}

// Books returns the configured books in configuration order.
func (m *Mapper) Books() []dirbook.Book {
	out := make([]dirbook.Book, len(m.books))
	for i, b := range m.books {
		out[i] = b.Book
	}
	return out
}

// Readable returns the IDs of the books whose readers condition e meets,
// in configuration order. A person the global exclude rule matches (such
// as a locked account) and an unusable entry may read no book.
func (m *Mapper) Readable(e *dirbook.Entry) []string {
	if e == nil || e.Invalid != "" || e.ID == "" {
		return nil
	}
	v := newEnv(e, m.now, nil)
	if m.exclude != nil && m.exclude.match(v) {
		return nil
	}
	var ids []string
	for _, b := range m.books {
		if b.readers.match(v) {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

// Map returns the cards e has in each book. It does no I/O and returns
// the same result for the same entry at the same time (future conditions
// read the clock of CompileOptions). It is safe for concurrent use.
//
// A card holds the book's fields in rule order. When the FN field has no
// value, FN is made of the given and family names of the book's N field;
// without those the person is left out of the book with a warning.
func (m *Mapper) Map(e *dirbook.Entry) *Result {
	res := &Result{Cards: make(map[string]*dirbook.Card)}
	switch {
	case e == nil:
		res.Excluded = "no entry"
		return res
	case e.Invalid != "":
		res.Excluded = e.Invalid
		return res
	case e.ID == "":
		res.Excluded = "no id"
		return res
	}
	v := newEnv(e, m.now, &res.Warnings)
	if m.exclude != nil {
		if why, ok := m.exclude.why(v); ok {
			res.Excluded = "excluded by mapping.exclude: " + why
			res.Timed = v.haveNow
			return res
		}
	}

	var values []fieldValue // computed on first use, shared by books
	for _, b := range m.books {
		if !b.include.match(v) {
			continue
		}
		if values == nil {
			values = make([]fieldValue, len(m.fields))
		}
		n := 0
		for i, f := range m.fields {
			if b.fields[i] {
				m.compute(e, i, f, values, res)
				n += len(values[i].props)
			}
		}
		props := make([]dirbook.Prop, 0, n+1)
		hasFN := false
		for i := range m.fields {
			if !b.fields[i] {
				continue
			}
			ps := values[i].props
			if i == b.fnField {
				if len(ps) == 0 {
					ps = m.fnFromN(b, values)
				}
				hasFN = len(ps) > 0
			}
			props = append(props, ps...)
		}
		if !hasFN {
			res.Warnings = append(res.Warnings, Warning{
				Field:   m.fields[b.fnField].name,
				Message: fmt.Sprintf("no name, left out of book %q", b.ID),
			})
			continue
		}
		res.Cards[b.ID] = &dirbook.Card{UID: e.ID, Props: props}
	}
	res.Timed = v.haveNow
	return res
}

// fieldValue holds the properties a field yields for one entry.
type fieldValue struct {
	props []dirbook.Prop
	done  bool
}

// compute fills values[i] unless done; warnings go to res.
func (m *Mapper) compute(e *dirbook.Entry, i int, f *field, values []fieldValue, res *Result) {
	if values[i].done {
		return
	}
	values[i].done = true
	switch {
	case f.info.kind == kindStructured:
		values[i].props = f.structured(e)
	case f.tmpl != nil:
		values[i].props = m.template(e, f, res)
	case f.groups != nil:
		values[i].props = f.fromGroups(e)
	default:
		values[i].props = m.values(e, f, res)
	}
}

// fnFromN makes an FN from the given and family names of the book's N
// field, or returns nil.
func (m *Mapper) fnFromN(b *book, values []fieldValue) []dirbook.Prop {
	if b.nField < 0 || len(values[b.nField].props) == 0 {
		return nil
	}
	n := values[b.nField].props[0].Values // family, given, ...
	name := strings.TrimSpace(n[1] + " " + n[0])
	if name == "" {
		return nil
	}
	f := m.fields[b.fnField]
	return []dirbook.Prop{{Field: f.name, Name: "FN", Types: f.types, Values: []string{name}}}
}

// structured builds the one property of an N or ORG field.
func (f *field) structured(e *dirbook.Entry) []dirbook.Prop {
	n := len(f.parts)
	comps := make([]string, max(n, f.info.maxParts))
	last := -1
	for j, a := range f.parts {
		if a == "" {
			continue
		}
		for _, raw := range e.Attrs[a] {
			if v := f.component(raw); v != "" {
				comps[j] = v
				last = j
				break
			}
		}
	}
	if last < 0 {
		return nil
	}
	if f.info.maxParts == 0 { // ORG: no trailing empty units
		comps = comps[:last+1]
	}
	return []dirbook.Prop{{Field: f.name, Name: f.prop, Types: f.types, Pref: f.pref, Values: comps}}
}

// values builds the properties of a field fed by From: the usable values
// of the first attribute that has one.
func (m *Mapper) values(e *dirbook.Entry, f *field, res *Result) []dirbook.Prop {
	var props []dirbook.Prop
	seen := 0 // values looked at, usable or not
	for a, attr := range f.from {
		for j, raw := range e.Attrs[attr] {
			seen++
			if len(props) == maxValues || seen > 2*maxValues {
				res.Warnings = append(res.Warnings, Warning{
					Field:   f.name,
					Message: fmt.Sprintf("too many values of %s, the rest dropped", f.fromNames[a]),
				})
				return props
			}
			p, problem := m.value(f, raw)
			if problem != "" {
				res.Warnings = append(res.Warnings, Warning{
					Field:   f.name,
					Message: fmt.Sprintf("value %d of %s %s", j+1, f.fromNames[a], problem),
				})
				continue
			}
			if p.Values == nil || duplicate(props, p, f.prop) {
				continue
			}
			if len(props) == 0 {
				p.Pref = f.pref
			}
			props = append(props, p)
			if !f.multi {
				return props
			}
		}
		if len(props) > 0 {
			return props
		}
	}
	return props
}

// template builds the one property of a field with a template.
func (m *Mapper) template(e *dirbook.Entry, f *field, res *Result) []dirbook.Prop {
	raw, ok := f.tmpl.render(e)
	if !ok {
		return nil
	}
	p, problem := m.value(f, raw)
	if problem != "" {
		res.Warnings = append(res.Warnings, Warning{Field: f.name, Message: "the template's value " + problem})
		return nil
	}
	if p.Values == nil {
		return nil
	}
	p.Pref = f.pref
	return []dirbook.Prop{p}
}

// fromGroups builds the properties of a field with from_groups: the value
// of every listed group e is a member of.
func (f *field) fromGroups(e *dirbook.Entry) []dirbook.Prop {
	var props []dirbook.Prop
	for _, g := range f.groups {
		if g.value == "" || !slices.Contains(e.Groups, g.dn) {
			continue
		}
		p := dirbook.Prop{Field: f.name, Name: f.prop, Types: f.types, Values: []string{g.value}}
		if duplicate(props, p, f.prop) {
			continue
		}
		if len(props) == 0 {
			p.Pref = f.pref
		}
		props = append(props, p)
		if !f.multi {
			break
		}
	}
	return props
}

// value converts one attribute value. It returns a Prop with nil Values
// for an empty value, and a problem ("is not a valid phone number") for a
// value that must be dropped.
func (m *Mapper) value(f *field, raw string) (dirbook.Prop, string) {
	p := dirbook.Prop{Field: f.name, Name: f.prop, Types: f.types}
	switch f.info.kind {
	case kindPhoto:
		if raw == "" {
			return p, ""
		}
		data, problem := m.photos.photo(raw, f.photo)
		if problem != "" {
			return p, problem
		}
		p.MediaType = "image/jpeg"
		p.Values = []string{data}
		return p, ""
	case kindPhone:
		if !f.e164 {
			break
		}
		v := f.text(cleanText(raw))
		if v == "" {
			return p, ""
		}
		n, ok := m.phones.e164(v, f.region)
		if !ok {
			return p, "is not a valid phone number"
		}
		p.Values = []string{n}
		return p, ""
	case kindDate:
		v := f.text(cleanText(raw))
		if v == "" {
			return p, ""
		}
		d, ok := parseDate(v)
		if !ok {
			return p, "is not a date"
		}
		p.Values = []string{d}
		return p, ""
	}
	if v := f.text(cleanText(raw)); v != "" {
		p.Values = []string{v}
	}
	return p, ""
}

// component converts one component of a structured value: ';' separates
// components and go-vcard does not escape it, so it becomes ','.
func (f *field) component(raw string) string {
	v := f.text(cleanText(raw))
	if strings.IndexByte(v, ';') >= 0 {
		v = strings.ReplaceAll(v, ";", ",")
	}
	return v
}

// text applies the field's replace, case transforms and max_length to a
// cleaned value, in that order.
func (f *field) text(v string) string {
	if v == "" {
		return v
	}
	if f.replace != nil {
		v = cleanText(f.replace.ReplaceAllString(v, f.with))
	}
	for _, t := range f.transforms {
		switch t {
		case "lower":
			v = strings.ToLower(v)
		case "upper":
			v = strings.ToUpper(v)
		case "title":
			v = titleCase(v)
		}
	}
	if f.maxLen > 0 {
		v = truncateRunes(v, f.maxLen)
	}
	return truncate(v, maxText)
}

// duplicate reports whether props already holds p's value. EMAIL values
// compare without regard to case.
func duplicate(props []dirbook.Prop, p dirbook.Prop, prop string) bool {
	for _, q := range props {
		if q.Values[0] == p.Values[0] || prop == "EMAIL" && strings.EqualFold(q.Values[0], p.Values[0]) {
			return true
		}
	}
	return false
}

// parseDate accepts a date as YYYY-MM-DD, YYYYMMDD or an LDAP generalized
// time (YYYYMMDDhhmmss...) and returns it as YYYY-MM-DD.
func parseDate(s string) (string, bool) {
	layout := "2006-01-02"
	switch {
	case len(s) == 10:
	case len(s) >= 8 && isDigits(s[:8]) && (len(s) == 8 || len(s) >= 14 && isDigits(s[8:14])):
		s, layout = s[:8], "20060102"
	default:
		return "", false
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return "", false
	}
	return t.Format("2006-01-02"), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
