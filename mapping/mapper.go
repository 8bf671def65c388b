package mapping

import (
	"fmt"
	"image"
	_ "image/jpeg" // register the JPEG header reader for PHOTO
	_ "image/png"  // register the PNG header reader for PHOTO
	"strings"
	"time"

	"github.com/dirbook/dirbook"
)

// maxPhoto bounds the size of a photo; larger photos are dropped with a
// warning.
const maxPhoto = 1 << 20

// maxValues bounds the number of values one field takes from an entry,
// and twice that the number of values it looks at; the rest are dropped
// with a warning.
const maxValues = 32

// Mapper applies compiled rules. It is safe for concurrent use.
type Mapper struct {
	region  string
	exclude *cond // nil: nobody
	fields  []*field
	books   []*book
	phones  *phoneCache
}

// field is a compiled FieldRule.
type field struct {
	name       string
	prop       string
	info       propInfo
	from       []string // lower-case attribute names
	fromNames  []string // as configured, for warnings
	parts      []string // lower-case attribute names, "" for an empty component
	types      []string
	pref       bool
	multi      bool
	transforms []string // "lower", "upper" in order
	e164       bool
	region     string
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
	// undecodable photos) and books the person was left out of. They
	// never contain the values themselves.
	Warnings []Warning
}

// Warning reports a value dropped while mapping an entry.
type Warning struct {
	// Field names the field rule, e.g. "work_phone".
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
	if m.exclude != nil && m.exclude.match(e) {
		return nil
	}
	var ids []string
	for _, b := range m.books {
		if b.readers.match(e) {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

// Map returns the cards e has in each book. It does no I/O and returns
// the same result for the same entry.
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
	if m.exclude != nil {
		if why, ok := m.exclude.why(e); ok {
			res.Excluded = "excluded by mapping.exclude: " + why
			return res
		}
	}

	var values []fieldValue // computed on first use, shared by books
	for _, b := range m.books {
		if !b.include.match(e) {
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
	if f.info.kind == kindStructured {
		values[i].props = f.structured(e)
		return
	}
	values[i].props = m.values(e, f, res)
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
	if f.prop == "N" {
		n = maxNParts
	}
	comps := make([]string, n)
	last := -1
	for j, a := range f.parts {
		if a == "" {
			continue
		}
		for _, raw := range e.Attrs[a] {
			if v := f.transform(cleanComponent(raw)); v != "" {
				comps[j] = v
				last = j
				break
			}
		}
	}
	if last < 0 {
		return nil
	}
	if f.prop != "N" {
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
			p, problem := f.value(raw, m.phones)
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

// value converts one attribute value. It returns a Prop with nil Values
// for an empty value, and a problem ("is not a valid phone number") for a
// value that must be dropped.
func (f *field) value(raw string, phones *phoneCache) (dirbook.Prop, string) {
	p := dirbook.Prop{Field: f.name, Name: f.prop, Types: f.types}
	switch f.info.kind {
	case kindPhoto:
		if raw == "" {
			return p, ""
		}
		if len(raw) > maxPhoto {
			return p, "is larger than 1 MiB"
		}
		cfg, format, err := image.DecodeConfig(strings.NewReader(raw))
		if err != nil || (format != "jpeg" && format != "png") || cfg.Width <= 0 || cfg.Height <= 0 {
			return p, "is not a JPEG or PNG image"
		}
		p.MediaType = "image/" + format
		p.Values = []string{raw}
		return p, ""
	case kindPhone:
		if !f.e164 {
			break
		}
		v := cleanText(raw)
		if v == "" {
			return p, ""
		}
		n, ok := phones.e164(v, f.region)
		if !ok {
			return p, "is not a valid phone number"
		}
		p.Values = []string{n}
		return p, ""
	case kindDate:
		v := cleanText(raw)
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
	if v := f.transform(cleanText(raw)); v != "" {
		p.Values = []string{v}
	}
	return p, ""
}

// transform applies the field's case transforms to a cleaned value.
func (f *field) transform(v string) string {
	if len(f.transforms) == 0 || v == "" {
		return v
	}
	for _, t := range f.transforms {
		switch t {
		case "lower":
			v = strings.ToLower(v)
		case "upper":
			v = strings.ToUpper(v)
		}
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
