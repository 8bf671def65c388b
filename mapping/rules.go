// Package mapping turns directory entries into the cards each address book
// shows, by the admin's declarative rules.
//
// Rules is the `mapping:` section of the configuration. Compile checks it
// and reports every problem at once; the Mapper it returns maps one
// dirbook.Entry to the cards the person has in each book (Map), tells which
// books the person may read (Readable), and Encode renders a card as a
// vCard 3.0 or 4.0.
package mapping

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/dirbook/dirbook"
)

// Rules is the `mapping:` section of the configuration.
type Rules struct {
	// PhoneRegion is the ISO 3166 region ("DE") that phone numbers written
	// without a country code belong to. Required when a field uses the
	// e164 transform.
	PhoneRegion string `yaml:"phone_region"`
	// Exclude removes the people it matches from every book (for example
	// locked accounts). Nil excludes nobody.
	Exclude *Condition `yaml:"exclude"`
	// Fields defines the card fields. Cards list their properties in this
	// order.
	Fields []FieldRule `yaml:"fields"`
	// Books defines the address books, in the order clients see them.
	Books []BookRule `yaml:"books"`
}

// Condition selects people. Several keys in one condition must all hold;
// a condition with no key is an error.
type Condition struct {
	// MemberOf holds when the person is a member (directly or through
	// nested groups) of any of the listed group DNs.
	MemberOf []string `yaml:"member_of"`
	// Has holds when every listed attribute has a non-empty value.
	Has []string `yaml:"has"`
	// Equals holds when each attribute has a value equal to the given one,
	// ignoring case and surrounding spaces.
	Equals map[string]string `yaml:"equals"`
	// All holds when every listed condition holds.
	All []Condition `yaml:"all"`
	// Any holds when at least one listed condition holds.
	Any []Condition `yaml:"any"`
	// Not holds when the given condition does not.
	Not *Condition `yaml:"not"`
}

// FieldRule defines one card field: which attributes feed which vCard
// property.
type FieldRule struct {
	// Name identifies the field; books list the fields they show by name.
	Name string `yaml:"name"`
	// Property is the vCard property: FN, N, NICKNAME, ORG, TITLE, ROLE,
	// EMAIL, TEL, URL, NOTE, PHOTO, BDAY, CATEGORIES or an X- name.
	Property string `yaml:"property"`
	// From lists attributes in order of preference: the first one that
	// has a usable value wins. Exactly one of From and Parts is set.
	From []string `yaml:"from"`
	// Parts lists one attribute per component of a structured property,
	// in vCard order: N is family, given, additional, prefix, suffix; ORG
	// is organisation, then units. An empty entry leaves its component
	// empty.
	Parts []string `yaml:"parts"`
	// Types are the vCard TYPE values, e.g. [work, voice].
	Types []string `yaml:"types"`
	// Pref marks the field's first value as the preferred one among the
	// properties of the same name.
	Pref bool `yaml:"pref"`
	// Multi says which values of the winning attribute become properties:
	// "all" (the default) or "first". FN, N, ORG, TITLE, PHOTO and BDAY
	// always take the first usable value.
	Multi string `yaml:"multi"`
	// Transform lists transforms applied to each value in order: "trim"
	// (text is always trimmed), "lower", "upper", and "e164" (TEL only:
	// international format; values that are not valid numbers are dropped
	// with a warning).
	Transform []string `yaml:"transform"`
}

// BookRule defines one address book.
type BookRule struct {
	// ID is the book's path segment: lower-case letters, digits, '.', '_'
	// and '-', starting with a letter or digit.
	ID string `yaml:"id"`
	// Name is the display name clients show.
	Name string `yaml:"name"`
	// Description is shown by clients that support it.
	Description string `yaml:"description"`
	// Include selects the people the book contains. Required.
	Include *Condition `yaml:"include"`
	// Readers selects the people who may read the book. Required.
	Readers *Condition `yaml:"readers"`
	// Fields lists the names of the fields the book shows. It must contain
	// a field with property FN.
	Fields []string `yaml:"fields"`
}

// Problem is one mistake in the rules.
type Problem struct {
	// Path locates the mistake relative to the mapping section, e.g.
	// "fields[2].property" or "books[0].include.member_of[1]".
	Path string
	// Message says what is wrong, in lower case.
	Message string
}

// Error returns "<path>: <message>".
func (p Problem) Error() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Property kinds.
const (
	kindText = iota
	kindStructured
	kindPhone
	kindPhoto
	kindDate
)

// propInfo describes a supported vCard property.
type propInfo struct {
	kind   int
	single bool // one value per field
	once   bool // at most one such property per card
}

var props = map[string]propInfo{
	"FN":         {kind: kindText, single: true, once: true},
	"N":          {kind: kindStructured, single: true, once: true},
	"NICKNAME":   {kind: kindText},
	"ORG":        {kind: kindStructured, single: true},
	"TITLE":      {kind: kindText, single: true},
	"ROLE":       {kind: kindText},
	"EMAIL":      {kind: kindText},
	"TEL":        {kind: kindPhone},
	"URL":        {kind: kindText},
	"NOTE":       {kind: kindText},
	"PHOTO":      {kind: kindPhoto, single: true},
	"BDAY":       {kind: kindDate, single: true, once: true},
	"CATEGORIES": {kind: kindText},
}

// maxNParts is the number of components of N.
const maxNParts = 5

var (
	bookIDPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	xNamePattern    = regexp.MustCompile(`^X-[A-Z0-9-]+$`)
	typePattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	knownTransforms = []string{"e164", "trim", "lower", "upper"}
)

// maxBookID bounds the length of a book ID.
const maxBookID = 64

// Compile checks the rules and returns the Mapper they describe. It
// reports all problems at once; the Mapper is nil if there is any.
func Compile(r *Rules) (*Mapper, []Problem) {
	c := &compiler{}
	if r == nil {
		c.add("", "missing mapping section")
		return nil, c.problems
	}
	m := &Mapper{phones: newPhoneCache(phoneCacheSize)}

	// phone_region.
	region := strings.ToUpper(strings.TrimSpace(r.PhoneRegion))
	if region != "" && !phonenumbers.GetSupportedRegions()[region] {
		c.add("phone_region", fmt.Sprintf("unknown region %q", r.PhoneRegion))
	}
	m.region = region

	if r.Exclude != nil {
		m.exclude = c.condition("exclude", r.Exclude)
	}

	// Fields.
	byName := make(map[string]int)
	if len(r.Fields) == 0 {
		c.add("fields", "no fields defined")
	}
	for i := range r.Fields {
		f := c.field(fmt.Sprintf("fields[%d]", i), &r.Fields[i], m.region)
		if f.name != "" {
			if _, dup := byName[f.name]; dup {
				c.add(fmt.Sprintf("fields[%d].name", i), fmt.Sprintf("duplicate field name %q", f.name))
			} else {
				byName[f.name] = i
			}
		}
		m.fields = append(m.fields, f)
	}
	if c.e164Field != "" && region == "" {
		c.add("phone_region", fmt.Sprintf("missing: field %q uses the e164 transform", c.e164Field))
	}

	// Books.
	ids := make(map[string]bool)
	if len(r.Books) == 0 {
		c.add("books", "no books defined")
	}
	for i := range r.Books {
		b := c.book(fmt.Sprintf("books[%d]", i), &r.Books[i], m.fields, byName, ids)
		m.books = append(m.books, b)
	}

	if len(c.problems) > 0 {
		return nil, c.problems
	}
	return m, nil
}

// compiler collects problems while compiling.
type compiler struct {
	problems  []Problem
	e164Field string // name of the first field using e164
}

func (c *compiler) add(path, msg string) {
	c.problems = append(c.problems, Problem{Path: path, Message: msg})
}

func (c *compiler) field(path string, r *FieldRule, region string) *field {
	f := &field{
		name:  strings.TrimSpace(r.Name),
		pref:  r.Pref,
		multi: true,
	}
	if f.name == "" {
		c.add(path+".name", "missing name")
	}

	prop := strings.ToUpper(strings.TrimSpace(r.Property))
	info, known := props[prop]
	switch {
	case prop == "":
		c.add(path+".property", "missing property")
	case known:
	case xNamePattern.MatchString(prop):
		info = propInfo{kind: kindText}
		known = true
	default:
		c.add(path+".property", fmt.Sprintf("unknown property %q", r.Property))
	}
	f.prop = prop
	f.info = info

	// From and Parts.
	switch {
	case len(r.From) > 0 && len(r.Parts) > 0:
		c.add(path, "both from and parts set; use exactly one")
	case len(r.From) == 0 && len(r.Parts) == 0:
		c.add(path, "neither from nor parts set; use exactly one")
	case len(r.From) > 0:
		if known && info.kind == kindStructured {
			c.add(path+".from", fmt.Sprintf("%s takes parts, not from", prop))
		}
		for j, a := range r.From {
			a = strings.TrimSpace(a)
			if a == "" {
				c.add(fmt.Sprintf("%s.from[%d]", path, j), "empty attribute name")
			}
			f.from = append(f.from, strings.ToLower(a))
			f.fromNames = append(f.fromNames, a)
		}
	default:
		if known && info.kind != kindStructured {
			c.add(path+".parts", fmt.Sprintf("parts are for N and ORG only, not %s", prop))
		}
		if prop == "N" && len(r.Parts) > maxNParts {
			c.add(path+".parts", fmt.Sprintf("N has at most %d parts, got %d", maxNParts, len(r.Parts)))
		}
		empty := true
		for _, a := range r.Parts {
			a = strings.TrimSpace(a)
			if a != "" {
				empty = false
			}
			f.parts = append(f.parts, strings.ToLower(a))
		}
		if empty {
			c.add(path+".parts", "no attribute in parts")
		}
	}

	// Types.
	for j, t := range r.Types {
		t = strings.ToLower(strings.TrimSpace(t))
		if !typePattern.MatchString(t) {
			c.add(fmt.Sprintf("%s.types[%d]", path, j), fmt.Sprintf("invalid type %q", r.Types[j]))
			continue
		}
		f.types = append(f.types, t)
	}

	// Multi.
	switch r.Multi {
	case "":
	case "all":
		if known && info.single {
			c.add(path+".multi", fmt.Sprintf("multi %q not allowed: %s is single-valued", r.Multi, prop))
		}
	case "first":
		f.multi = false
	default:
		c.add(path+".multi", fmt.Sprintf("unknown multi %q (want \"all\" or \"first\")", r.Multi))
	}
	if info.single {
		f.multi = false
	}

	// Transforms.
	for j, t := range r.Transform {
		tp := fmt.Sprintf("%s.transform[%d]", path, j)
		if !slices.Contains(knownTransforms, t) {
			c.add(tp, fmt.Sprintf("unknown transform %q", t))
			continue
		}
		if known && info.kind == kindPhoto {
			c.add(tp, fmt.Sprintf("transform %q does not apply to PHOTO", t))
			continue
		}
		switch t {
		case "e164":
			if known && prop != "TEL" {
				c.add(tp, fmt.Sprintf("transform %q applies to TEL only, not %s", t, prop))
				continue
			}
			f.e164 = true
			if c.e164Field == "" {
				c.e164Field = f.name
			}
		case "lower", "upper":
			f.transforms = append(f.transforms, t)
		}
	}
	f.region = region
	return f
}

func (c *compiler) book(path string, r *BookRule, fields []*field, byName map[string]int, ids map[string]bool) *book {
	b := &book{
		Book: dirbook.Book{
			ID:          r.ID,
			Name:        strings.TrimSpace(r.Name),
			Description: strings.TrimSpace(r.Description),
		},
		fnField: -1,
		nField:  -1,
	}
	switch {
	case r.ID == "":
		c.add(path+".id", "missing id")
	case len(r.ID) > maxBookID:
		c.add(path+".id", fmt.Sprintf("id %q is longer than %d characters", r.ID, maxBookID))
	case !bookIDPattern.MatchString(r.ID):
		c.add(path+".id", fmt.Sprintf("id %q is not a safe path segment (want [a-z0-9][a-z0-9._-]*)", r.ID))
	case ids[r.ID]:
		c.add(path+".id", fmt.Sprintf("duplicate book id %q", r.ID))
	default:
		ids[r.ID] = true
	}
	if b.Name == "" {
		c.add(path+".name", "missing name")
	}
	if r.Include == nil {
		c.add(path+".include", "missing: a book must say who it contains")
	} else {
		b.include = c.condition(path+".include", r.Include)
	}
	if r.Readers == nil {
		c.add(path+".readers", "missing: a book must say who may read it")
	} else {
		b.readers = c.condition(path+".readers", r.Readers)
	}

	b.fields = make([]bool, len(fields))
	onceSeen := make(map[string]string)
	for j, name := range r.Fields {
		fp := fmt.Sprintf("%s.fields[%d]", path, j)
		i, ok := byName[name]
		if !ok {
			c.add(fp, fmt.Sprintf("field %q is not defined", name))
			continue
		}
		if b.fields[i] {
			c.add(fp, fmt.Sprintf("field %q listed twice", name))
			continue
		}
		b.fields[i] = true
		f := fields[i]
		if f.info.once {
			if prev, dup := onceSeen[f.prop]; dup {
				c.add(fp, fmt.Sprintf("field %q is a second %s field after %q; a card has one", name, f.prop, prev))
				continue
			}
			onceSeen[f.prop] = name
		}
		switch f.prop {
		case "FN":
			b.fnField = i
		case "N":
			b.nField = i
		}
	}
	switch {
	case len(r.Fields) == 0:
		c.add(path+".fields", "no fields listed")
	case b.fnField < 0:
		c.add(path+".fields", "no FN field: every card needs a formatted name")
	}
	return b
}

func (c *compiler) condition(path string, r *Condition) *cond {
	k := &cond{}
	keys := 0
	if r.MemberOf != nil {
		keys++
		if len(r.MemberOf) == 0 {
			c.add(path+".member_of", "empty list")
		}
		for i, dn := range r.MemberOf {
			switch rdns := countRDNs(dn); {
			case rdns == 0:
				c.add(fmt.Sprintf("%s.member_of[%d]", path, i), fmt.Sprintf("not a DN: %q", dn))
				continue
			case rdns == 1:
				c.add(fmt.Sprintf("%s.member_of[%d]", path, i),
					fmt.Sprintf("%q is a single RDN, not a group DN (in a YAML [ ] list, quote each DN: commas split it)", dn))
				continue
			}
			k.memberOf = append(k.memberOf, dirbook.NormalizeDN(dn))
			k.memberOfNames = append(k.memberOfNames, strings.TrimSpace(dn))
		}
	}
	if r.Has != nil {
		keys++
		if len(r.Has) == 0 {
			c.add(path+".has", "empty list")
		}
		for i, a := range r.Has {
			a = strings.TrimSpace(a)
			if a == "" {
				c.add(fmt.Sprintf("%s.has[%d]", path, i), "empty attribute name")
				continue
			}
			k.has = append(k.has, strings.ToLower(a))
			k.hasNames = append(k.hasNames, a)
		}
	}
	if r.Equals != nil {
		keys++
		if len(r.Equals) == 0 {
			c.add(path+".equals", "empty map")
		}
		attrs := make([]string, 0, len(r.Equals))
		for a := range r.Equals {
			attrs = append(attrs, a)
		}
		sort.Strings(attrs)
		for _, a := range attrs {
			want := strings.TrimSpace(r.Equals[a])
			name := strings.TrimSpace(a)
			switch {
			case name == "":
				c.add(path+".equals", "empty attribute name")
			case want == "":
				c.add(path+".equals."+a, fmt.Sprintf("empty value for %q; to match a missing attribute use not: {has: [%s]}", a, name))
			default:
				k.equals = append(k.equals, equalsTest{attr: strings.ToLower(name), name: name, want: want})
			}
		}
	}
	if r.All != nil {
		keys++
		if len(r.All) == 0 {
			c.add(path+".all", "empty list")
		}
		for i := range r.All {
			k.all = append(k.all, c.condition(fmt.Sprintf("%s.all[%d]", path, i), &r.All[i]))
		}
	}
	if r.Any != nil {
		keys++
		if len(r.Any) == 0 {
			c.add(path+".any", "empty list")
		}
		for i := range r.Any {
			k.any = append(k.any, c.condition(fmt.Sprintf("%s.any[%d]", path, i), &r.Any[i]))
		}
	}
	if r.Not != nil {
		keys++
		k.not = c.condition(path+".not", r.Not)
	}
	if keys == 0 {
		c.add(path, "empty condition")
	}
	return k
}

// countRDNs returns the number of RDNs of dn, or 0 if dn is malformed: an
// RDN is empty or lacks "type=".
func countRDNs(dn string) int {
	n := 0
	start := 0
	for i := 0; i <= len(dn); i++ {
		if i < len(dn) && dn[i] == '\\' {
			i++
			continue
		}
		if i < len(dn) && dn[i] != ',' {
			continue
		}
		rdn := strings.TrimSpace(dn[start:i])
		if eq := strings.IndexByte(rdn, '='); eq <= 0 || strings.TrimSpace(rdn[:eq]) == "" {
			return 0
		}
		n++
		start = i + 1
	}
	return n
}
