package mapping

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
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
	exclude    *cond // nil: nobody
	fields     []*field
	books      []*book
	phones     *phoneCache
	photos     *photoCache
	now        func() time.Time
	attributes []string
	valueHint  int // strings one entry's fields take at most, multi aside
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

	mem *resultMem // for MapTo
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
	var res *Result
	if len(m.books) <= len(resultCards{}.cards) {
		rc := new(resultCards)
		res = &rc.Result
		res.mem = &rc.mem
		res.mem.cards = rc.cards[:0:len(m.books)]
	} else {
		res = new(Result)
	}
	m.mapTo(res, e, false)
	return res
}

// MapTo is Map writing into res, which it empties first. The cards, their
// properties and lists of values reuse the memory of res's earlier
// results, which must no longer be in use; so do res.Cards and
// res.Warnings. A caller mapping many people in turn, like a sync, gives
// each of them the same Result and allocates little. Calls with different
// Results may run concurrently.
func (m *Mapper) MapTo(res *Result, e *dirbook.Entry) {
	m.mapTo(res, e, true)
}

// mapTo fills res; with reuse set, res.mem's slices are emptied and
// written over.
func (m *Mapper) mapTo(res *Result, e *dirbook.Entry, reuse bool) {
	if res.mem == nil {
		res.mem = new(resultMem)
	}
	mem := res.mem
	if reuse {
		clear(res.Cards)
		res.Excluded, res.Timed = "", false
		res.Warnings = res.Warnings[:0]
		clear(mem.cards)
		mem.cards = mem.cards[:0]
		if cap(mem.cards) < len(m.books) {
			mem.cards = make([]dirbook.Card, 0, len(m.books))
		}
		clear(mem.scratch)
		clear(mem.strs)
		mem.scratch, mem.strs = mem.scratch[:0], mem.strs[:0]
	} else {
		mem.scratch, mem.strs = nil, nil
	}
	if res.Cards == nil {
		res.Cards = make(map[string]*dirbook.Card, len(m.books))
	}
	switch {
	case e == nil:
		res.Excluded = "no entry"
		return
	case e.Invalid != "":
		res.Excluded = e.Invalid
		return
	case e.ID == "":
		res.Excluded = "no id"
		return
	}
	v := env{e: e, clock: m.now, warn: &res.Warnings}
	if m.exclude != nil && m.exclude.match(&v) {
		// Explaining builds strings: only for the few who are excluded.
		quiet := v
		quiet.warn = nil
		why, _ := m.exclude.why(&quiet)
		res.Excluded = "excluded by mapping.exclude: " + why
		res.Timed = v.haveNow || quiet.haveNow
		return
	}

	var s *mapState // on first use, shared by books
	for _, b := range m.books {
		if !b.include.match(&v) {
			continue
		}
		if s == nil {
			s = m.newMapState(mem)
			if mem.cards == nil {
				mem.cards = make([]dirbook.Card, 0, len(m.books))
			}
		}
		n := 0
		for i, f := range m.fields {
			if b.fields[i] {
				m.compute(e, i, f, s, res)
				n += s.values[i].end - s.values[i].start
			}
		}
		fn := s.props(b.fnField)
		derived := len(fn) == 0
		if derived {
			fn = m.fnFromN(b, s)
			n += len(fn)
		}
		if len(fn) == 0 {
			res.Warnings = append(res.Warnings, Warning{
				Field:   m.fields[b.fnField].name,
				Message: fmt.Sprintf("no name, left out of book %q", b.ID),
			})
			continue
		}
		props := s.span(m, b, derived)
		if props == nil {
			props = make([]dirbook.Prop, 0, n)
			for i := range m.fields {
				switch {
				case !b.fields[i]:
				case i == b.fnField:
					props = append(props, fn...)
				default:
					props = append(props, s.props(i)...)
				}
			}
		}
		mem.cards = append(mem.cards, dirbook.Card{UID: e.ID, Props: props})
		res.Cards[b.ID] = &mem.cards[len(mem.cards)-1]
	}
	if s != nil {
		s.release(mem)
	}
	res.Timed = v.haveNow
}

// resultCards is a Result with room for the cards of up to two books:
// Map makes both in one allocation.
type resultCards struct {
	Result
	mem   resultMem
	cards [2]dirbook.Card
}

// resultMem holds the memory of a Result's cards: the cards (never
// grown while a Result is filled, as Result.Cards points into it), their
// properties and the block of their values. MapTo reuses it.
type resultMem struct {
	cards   []dirbook.Card
	scratch []dirbook.Prop
	strs    []string
}

// mapState holds what one Map computes once and shares between books:
// the properties of every field, kept in one slice whose stretches become
// the cards' properties where they can, and the strings their values
// take, which the cards keep.
type mapState struct {
	values  []fieldValue   // indexed like Mapper.fields
	scratch []dirbook.Prop // the properties of the computed fields; new for each Map
	strs    []string       // room for values; a new block when full
	hint    int            // the size of a new block of strs
}

// span returns the properties of book b when they lie in s.scratch one
// after the other, as those of the first book a person is in do, and
// nil otherwise. derived says that b's FN is made from its N field, and
// so not in s.scratch. The full slice expression keeps an append to one
// card's properties from writing over another's.
func (s *mapState) span(m *Mapper, b *book, derived bool) []dirbook.Prop {
	if derived {
		return nil
	}
	start, end := -1, -1
	for i := range m.fields {
		v := s.values[i]
		if !b.fields[i] || v.start == v.end {
			continue
		}
		switch {
		case start < 0:
			start, end = v.start, v.end
		case v.start == end:
			end = v.end
		default:
			return nil
		}
	}
	if start < 0 {
		return nil
	}
	return s.scratch[start:end:end]
}

// fieldValue locates the properties a field yields for one entry in
// mapState.scratch.
type fieldValue struct {
	start, end int
	done       bool
}

var mapStates = sync.Pool{New: func() any { return new(mapState) }}

// newMapState returns a mapState that starts from mem's properties and
// values, empty or nil.
func (m *Mapper) newMapState(mem *resultMem) *mapState {
	s := mapStates.Get().(*mapState)
	s.values = slices.Grow(s.values[:0], len(m.fields))[:len(m.fields)]
	s.scratch = mem.scratch
	if s.scratch == nil {
		s.scratch = make([]dirbook.Prop, 0, len(m.fields))
	}
	s.strs = mem.strs
	s.hint = m.valueHint
	return s
}

// release gives the properties and the last block of values to mem,
// whose cards hold them, and returns s to the pool.
func (s *mapState) release(mem *resultMem) {
	clear(s.values)
	mem.scratch, mem.strs = s.scratch, s.strs
	s.scratch = nil
	s.strs = nil
	mapStates.Put(s)
}

// props returns the properties field i yields.
func (s *mapState) props(i int) []dirbook.Prop {
	return s.scratch[s.values[i].start:s.values[i].end]
}

// newValues returns n empty strings for the values of one property. The
// slice has no room to grow into the next property's values.
func (s *mapState) newValues(n int) []string {
	if cap(s.strs)-len(s.strs) < n {
		s.strs = make([]string, 0, max(n, s.hint))
	}
	i := len(s.strs)
	s.strs = s.strs[:i+n]
	return s.strs[i : i+n : i+n]
}

// value1 returns v as the values of a property with one value.
func (s *mapState) value1(v string) []string {
	vs := s.newValues(1)
	vs[0] = v
	return vs
}

// compute fills the properties of field i unless done; warnings go to
// res.
func (m *Mapper) compute(e *dirbook.Entry, i int, f *field, s *mapState, res *Result) {
	if s.values[i].done {
		return
	}
	start := len(s.scratch)
	switch {
	case f.info.kind == kindStructured:
		f.structured(e, s)
	case f.tmpl != nil:
		m.template(e, f, s, res)
	case f.groups != nil:
		f.fromGroups(e, s)
	default:
		m.values(e, f, s, res)
	}
	s.values[i] = fieldValue{start: start, end: len(s.scratch), done: true}
}

// fnFromN makes an FN from the given and family names of the book's N
// field, or returns nil.
func (m *Mapper) fnFromN(b *book, s *mapState) []dirbook.Prop {
	if b.nField < 0 {
		return nil
	}
	ps := s.props(b.nField)
	if len(ps) == 0 {
		return nil
	}
	n := ps[0].Values // family, given, ...
	name := strings.TrimSpace(n[1] + " " + n[0])
	if name == "" {
		return nil
	}
	f := m.fields[b.fnField]
	return []dirbook.Prop{{Field: f.name, Name: "FN", Types: f.types, Values: []string{name}}}
}

// structured adds the one property of an N, ORG or ADR field to s.
func (f *field) structured(e *dirbook.Entry, s *mapState) {
	n := len(f.parts)
	comps := s.newValues(max(n, f.info.maxParts))
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
		return
	}
	if f.info.maxParts == 0 { // ORG: no trailing empty units
		comps = comps[: last+1 : last+1]
	}
	s.scratch = append(s.scratch, dirbook.Prop{Field: f.name, Name: f.prop, Types: f.types, Pref: f.pref, Values: comps})
}

// values adds the properties of a field fed by From to s: the usable
// values of the first attribute that has one.
func (m *Mapper) values(e *dirbook.Entry, f *field, s *mapState, res *Result) {
	start := len(s.scratch)
	seen := 0 // values looked at, usable or not
	for a, attr := range f.from {
		for j, raw := range e.Attrs[attr] {
			seen++
			if len(s.scratch)-start == maxValues || seen > 2*maxValues {
				res.Warnings = append(res.Warnings, Warning{
					Field:   f.name,
					Message: fmt.Sprintf("too many values of %s, the rest dropped", f.fromNames[a]),
				})
				return
			}
			v, problem := m.value(f, raw)
			if problem != "" {
				res.Warnings = append(res.Warnings, Warning{
					Field:   f.name,
					Message: fmt.Sprintf("value %d of %s %s", j+1, f.fromNames[a], problem),
				})
				continue
			}
			if v == "" || duplicate(s.scratch[start:], v, f.prop) {
				continue
			}
			s.scratch = append(s.scratch, f.prop1(s, v, len(s.scratch) == start))
			if !f.multi {
				return
			}
		}
		if len(s.scratch) > start {
			return
		}
	}
}

// prop1 returns a property of f with the one value v; first marks the
// field's first property, which carries its pref.
func (f *field) prop1(s *mapState, v string, first bool) dirbook.Prop {
	p := dirbook.Prop{Field: f.name, Name: f.prop, Types: f.types, Pref: first && f.pref, Values: s.value1(v)}
	if f.info.kind == kindPhoto {
		p.MediaType = "image/jpeg"
	}
	return p
}

// template adds the one property of a field with a template to s.
func (m *Mapper) template(e *dirbook.Entry, f *field, s *mapState, res *Result) {
	raw, ok := f.tmpl.render(e)
	if !ok {
		return
	}
	v, problem := m.value(f, raw)
	if problem != "" {
		res.Warnings = append(res.Warnings, Warning{Field: f.name, Message: "the template's value " + problem})
		return
	}
	if v != "" {
		s.scratch = append(s.scratch, f.prop1(s, v, true))
	}
}

// fromGroups adds the properties of a field with from_groups to s: the
// value of every listed group e is a member of.
func (f *field) fromGroups(e *dirbook.Entry, s *mapState) {
	start := len(s.scratch)
	for _, g := range f.groups {
		if g.value == "" || !slices.Contains(e.Groups, g.dn) {
			continue
		}
		if duplicate(s.scratch[start:], g.value, f.prop) {
			continue
		}
		s.scratch = append(s.scratch, f.prop1(s, g.value, len(s.scratch) == start))
		if !f.multi {
			break
		}
	}
}

// value converts one attribute value. It returns "" for an empty value,
// and a problem ("is not a valid phone number") for a value that must be
// dropped. A photo is returned as JPEG bytes.
func (m *Mapper) value(f *field, raw string) (string, string) {
	switch f.info.kind {
	case kindPhoto:
		if raw == "" {
			return "", ""
		}
		return m.photos.photo(raw, f.photo)
	case kindPhone:
		if !f.e164 {
			break
		}
		v := f.text(cleanText(raw))
		if v == "" {
			return "", ""
		}
		n, ok := m.phones.e164(v)
		if !ok {
			return "", "is not a valid phone number"
		}
		return n, ""
	case kindDate:
		v := f.text(cleanText(raw))
		if v == "" {
			return "", ""
		}
		d, ok := parseDate(v)
		if !ok {
			return "", "is not a date"
		}
		return d, ""
	}
	return f.text(cleanText(raw)), ""
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

// duplicate reports whether props already holds the value v. EMAIL
// values compare without regard to case.
func duplicate(props []dirbook.Prop, v, prop string) bool {
	for _, q := range props {
		if q.Values[0] == v || prop == "EMAIL" && strings.EqualFold(q.Values[0], v) {
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
