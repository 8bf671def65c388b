// Package mapping turns directory entries into the cards each address book
// shows, by the admin's declarative rules.
//
// Rules is the `mapping:` section of the configuration. Compile checks it
// and reports every problem at once; the Mapper it returns maps one
// dirbook.Entry to the cards the person has in each book (Map), tells which
// books the person may read (Readable), explains both decisions (Explain),
// and Encode renders a card as a vCard 3.0 or 4.0.
//
// A person's way through the rules: an unusable entry or one the global
// exclude condition matches (a locked account, an opt-out) is in no book
// and may read none. Otherwise the person is in every book whose include
// condition holds, with the fields that book lists and no other, and may
// read every book whose readers condition holds.
package mapping

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/dirbook/dirbook"
)

// Rules is the `mapping:` section of the configuration.
//
//	mapping:
//	  phone_region: DE
//	  exclude:
//	    any:
//	      - has: [pwdAccountLockedTime]
//	      - equals: {dirbookHidden: "TRUE"}
//	  photo: {max_size: 256, max_bytes: 32768}
//	  fields: [...]
//	  books: [...]
type Rules struct {
	// PhoneRegion is the ISO 3166 region ("DE") that phone numbers written
	// without a country code belong to. Required when a field uses the
	// e164 transform.
	PhoneRegion string `yaml:"phone_region"`
	// Exclude removes the people it matches from every book, and they may
	// read no book either: locked accounts, and people who opted out. An
	// opt-out by attribute or by group is a condition like any other:
	//
	//	exclude:
	//	  any:
	//	    - has: [pwdAccountLockedTime]
	//	    - equals: {dirbookHidden: "TRUE"}
	//	    - member_of: ["cn=hidden,ou=groups,dc=example,dc=org"]
	//
	// Nil excludes nobody.
	Exclude *Condition `yaml:"exclude"`
	// Photo sets the size limits of PHOTO fields and the size of the
	// cache of scaled photos. Nil uses the defaults: 256 pixels, 32768
	// bytes, 4096 photos cached.
	Photo *PhotoRule `yaml:"photo"`
	// Fields defines the card fields. Cards list their properties in this
	// order.
	Fields []FieldRule `yaml:"fields"`
	// Books defines the address books, in the order clients see them.
	Books []BookRule `yaml:"books"`
}

// Condition selects people. Several keys in one condition must all hold;
// a condition with no key is an error. Examples:
//
//	include: {kind: [employee]}
//	include:
//	  all:
//	    - member_of: ["cn=approved-partners,ou=groups,dc=example,dc=org"]
//	    - future: [dirbookApprovalExpiry]
//	exclude: {has: [pwdAccountLockedTime]}
//	readers: {not: {equals: {employeeType: intern}}}
type Condition struct {
	// MemberOf holds when the person is a member (directly or through
	// nested groups) of any of the listed group DNs, e.g.
	// member_of: ["cn=staff,ou=groups,dc=example,dc=org"]. Quote DNs in a
	// [ ] list: YAML splits them at their commas otherwise.
	MemberOf []string `yaml:"member_of"`
	// Has holds when every listed attribute has a non-empty value, e.g.
	// has: [mail, telephoneNumber].
	Has []string `yaml:"has"`
	// Equals holds when each attribute has a value equal to the given one,
	// ignoring case and surrounding spaces, e.g. equals: {employeeType:
	// staff}.
	Equals map[string]string `yaml:"equals"`
	// Kind holds when the person's kind, set by the source that read them
	// (dirbook.Entry.Kind), is one of the listed ones, ignoring case, e.g.
	// kind: [employee, partner].
	Kind []string `yaml:"kind"`
	// Future holds when every listed attribute holds a date or time later
	// than now, e.g. future: [dirbookApprovalExpiry], for approvals that
	// run out. Accepted forms: LDAP generalized time (20260131235959Z,
	// 2026013123Z, 20260131235959+0100; without a zone it is UTC),
	// YYYY-MM-DD or YYYYMMDD (valid through the end of that day, UTC),
	// RFC 3339 (2026-01-31T23:59:59Z), and Active Directory's integer
	// time as in accountExpires (0 and 9223372036854775807 mean never,
	// which holds). An attribute without a value fails; a value in none
	// of these forms fails and is reported as a warning. All values of a
	// multi-valued attribute must be in the future.
	Future []string `yaml:"future"`
	// All holds when every listed condition holds.
	All []Condition `yaml:"all"`
	// Any holds when at least one listed condition holds.
	Any []Condition `yaml:"any"`
	// Not holds when the given condition does not.
	Not *Condition `yaml:"not"`
}

// FieldRule defines one card field: which attributes feed which vCard
// property, and how their values are transformed. Each field takes its
// values from exactly one of From, Parts, Template and FromGroups.
//
//	fields:
//	  - name: mobile
//	    property: TEL
//	    from: [mobile]
//	    types: [cell]
//	    transform: [e164]
//	  - name: fn
//	    property: FN
//	    template: "{givenName} {sn}"
//	  - name: address
//	    property: ADR
//	    parts: [postOfficeBox, "", street, l, st, postalCode, c]
//	    types: [work]
//	  - name: teams
//	    property: CATEGORIES
//	    from_groups:
//	      "cn=engineering,ou=groups,dc=example,dc=org": Engineering
//	      "cn=sales,ou=groups,dc=example,dc=org": Sales
//
// A text value is cleaned first (invalid UTF-8 replaced, control
// characters removed, white space trimmed and collapsed, at most 4096
// bytes), then Replace runs, then Transform in the listed order, then
// MaxLength cuts it.
type FieldRule struct {
	// Name identifies the field; books list the fields they show by name,
	// e.g. "mobile".
	Name string `yaml:"name"`
	// Property is the vCard property: FN, N, NICKNAME, ORG, TITLE, ROLE,
	// EMAIL, TEL, ADR, URL, IMPP, NOTE, PHOTO, BDAY, CATEGORIES or an X-
	// name such as X-DEPARTMENT. Case does not matter.
	Property string `yaml:"property"`
	// From lists attributes in order of preference: the first one that
	// has a usable value wins, e.g. from: [displayName, cn].
	From []string `yaml:"from"`
	// Parts lists one attribute per component of a structured property,
	// in vCard order. N: family, given, additional, prefix, suffix. ORG:
	// organisation, then units. ADR: post office box, extended address,
	// street, locality, region, postal code, country. An empty entry ("")
	// leaves its component empty, e.g. parts: [sn, givenName].
	Parts []string `yaml:"parts"`
	// Template builds one value from several attributes: each {name} is
	// replaced by the first non-empty value of that attribute, e.g.
	// "{givenName} {sn}" or "xmpp:{uid}@chat.example.org"; write {{ and
	// }} for literal braces. A missing attribute renders as nothing and
	// the spaces around it collapse; when every referenced attribute is
	// empty the field has no value. Not for N, ORG, ADR and PHOTO.
	Template string `yaml:"template"`
	// FromGroups maps group DNs to values: the field has the value of
	// every listed group the person is a member of (directly or through
	// nested groups), ordered by value. Meant for CATEGORIES, so that
	// phones can filter by team:
	//
	//	from_groups:
	//	  "cn=engineering,ou=groups,dc=example,dc=org": Engineering
	//
	// For text properties only.
	FromGroups map[string]string `yaml:"from_groups"`
	// Types are the vCard TYPE values, e.g. [work, voice].
	Types []string `yaml:"types"`
	// Pref marks the field's first value as the preferred one among the
	// properties of the same name.
	Pref bool `yaml:"pref"`
	// Multi says which values of the winning attribute become properties:
	// "all" (the default) or "first". FN, N, ORG, ADR, TITLE, PHOTO and
	// BDAY always take the first usable value, and a template yields one
	// value.
	Multi string `yaml:"multi"`
	// Transform lists transforms applied to each value in order: "lower",
	// "upper", "title" (first letter of each word upper case, the rest
	// lower case: "JANA DOE-MEIER" becomes "Jana Doe-Meier"), "trim" and
	// "collapse" (always done; accepted for clarity), and "e164" (TEL
	// only: international format with phone_region as the default region;
	// values that are not valid numbers, or contain letters, are dropped
	// with a warning). Not for PHOTO.
	Transform []string `yaml:"transform"`
	// Replace rewrites each value with a regular expression before the
	// transforms, e.g. replace: {pattern: '\s*\(mobile\)$', with: ""}. A
	// value that becomes empty is dropped. Nil replaces nothing.
	Replace *Replace `yaml:"replace"`
	// MaxLength cuts each value (each component of N, ORG and ADR) to at
	// most this many characters, e.g. max_length: 64. 0 means no limit
	// beyond the 4096 bytes every text value is cut to. Not for PHOTO,
	// BDAY or with e164.
	MaxLength int `yaml:"max_length"`
	// Photo overrides the size limits of mapping.photo for this PHOTO
	// field, e.g. photo: {max_size: 128}; its cache_size must be 0. Zero
	// values take the value of mapping.photo. Nil uses mapping.photo.
	Photo *PhotoRule `yaml:"photo"`
}

// Replace is a regular expression replacement, as in FieldRule.Replace.
type Replace struct {
	// Pattern is an RE2 regular expression (Go's regexp syntax), e.g.
	// '^\+49 ?\(0\)' or '(?i)\s*ext\.?\s*\d+$'. Required.
	Pattern string `yaml:"pattern"`
	// With replaces each match; $1 or ${name} insert submatches, e.g.
	// "+49 ". "" deletes the matches.
	With string `yaml:"with"`
}

// PhotoRule sets how PHOTO values are prepared. A JPEG within both limits
// is published as it is; any other photo is decoded (JPEG or PNG), scaled
// down to fit a square of MaxSize pixels, and re-encoded as a JPEG with
// the quality stepping down (and, if need be, the size) until it fits in
// MaxBytes. Scaling happens once per photo: results are cached by the
// SHA-256 of the photo's bytes.
//
//	photo: {max_size: 256, max_bytes: 32768, cache_size: 4096}
//
// Photos larger than 10 MiB or 40 megapixels are dropped with a warning
// without being decoded.
type PhotoRule struct {
	// MaxSize is the largest width and height in pixels, 16 to 2048. 0
	// means 256 (or the value of mapping.photo for a field).
	MaxSize int `yaml:"max_size"`
	// MaxBytes is the largest size of a published photo in bytes, 2048 to
	// 1048576. 0 means 32768 (or the value of mapping.photo for a field).
	MaxBytes int `yaml:"max_bytes"`
	// CacheSize is the number of scaled photos kept in memory, 1 to
	// 1048576; set it to at least the number of people with a photo. 0
	// means 4096. Only in mapping.photo.
	CacheSize int `yaml:"cache_size"`
}

// BookRule defines one address book.
//
//	books:
//	  - id: partners
//	    name: Partners
//	    description: Approved external partners
//	    include:
//	      all:
//	        - kind: [partner]
//	        - member_of: ["cn=approved-partners,ou=groups,dc=example,dc=org"]
//	        - future: [dirbookApprovalExpiry]
//	    readers: {member_of: ["cn=staff,ou=groups,dc=example,dc=org"]}
//	    fields: [fn, n, org, email, work_phone]
type BookRule struct {
	// ID is the book's path segment: lower-case letters, digits, '.', '_'
	// and '-', starting with a letter or digit, e.g. "colleagues".
	ID string `yaml:"id"`
	// Name is the display name clients show, e.g. "Colleagues".
	Name string `yaml:"name"`
	// Description is shown by clients that support it. "" shows none.
	Description string `yaml:"description"`
	// Include selects the people the book contains. Required.
	Include *Condition `yaml:"include"`
	// Readers selects the people who may read the book. Required.
	Readers *Condition `yaml:"readers"`
	// Fields lists the names of the fields the book shows; no other field
	// is ever stored for the book. It must contain a field with property
	// FN.
	Fields []string `yaml:"fields"`
}

// CompileOptions adjusts Compile. The zero value is the default.
type CompileOptions struct {
	// Now returns the current time, against which future conditions are
	// checked. Map calls it at most once per entry. If nil, time.Now is
	// used.
	Now func() time.Time
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
	kind     int
	single   bool // one value per field
	once     bool // at most one such property per card
	maxParts int  // structured: the number of components, 0 for any
}

var props = map[string]propInfo{
	"FN":         {kind: kindText, single: true, once: true},
	"N":          {kind: kindStructured, single: true, once: true, maxParts: maxNParts},
	"NICKNAME":   {kind: kindText},
	"ORG":        {kind: kindStructured, single: true},
	"TITLE":      {kind: kindText, single: true},
	"ROLE":       {kind: kindText},
	"EMAIL":      {kind: kindText},
	"TEL":        {kind: kindPhone},
	"ADR":        {kind: kindStructured, single: true, maxParts: maxADRParts},
	"URL":        {kind: kindText},
	"IMPP":       {kind: kindText},
	"NOTE":       {kind: kindText},
	"PHOTO":      {kind: kindPhoto, single: true},
	"BDAY":       {kind: kindDate, single: true, once: true},
	"CATEGORIES": {kind: kindText},
}

// Numbers of components of N and ADR.
const (
	maxNParts   = 5
	maxADRParts = 7
)

var (
	bookIDPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	xNamePattern    = regexp.MustCompile(`^X-[A-Z0-9-]+$`)
	knownTransforms = []string{"e164", "trim", "collapse", "lower", "upper", "title"}
)

// validType reports whether t is a valid TYPE value as the rules write
// them: [a-z0-9][a-z0-9-]*.
func validType(t string) bool {
	if t == "" || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// maxBookID bounds the length of a book ID.
const maxBookID = 64

// Photo limits: defaults and the ranges the rules may set.
const (
	defaultPhotoSize  = 256
	defaultPhotoBytes = 32 << 10
	defaultPhotoCache = 4096
	minPhotoSize      = 16
	maxPhotoSize      = 2048
	minPhotoBytes     = 2048
	maxPhotoBytes     = 1 << 20
	maxPhotoCache     = 1 << 20
)

// Compile checks the rules and returns the Mapper they describe. It
// reports all problems at once; the Mapper is nil if there is any. It is
// CompileWithOptions with default options.
func Compile(r *Rules) (*Mapper, []Problem) {
	return CompileWithOptions(r, nil)
}

// CompileWithOptions is Compile with options; opts may be nil.
func CompileWithOptions(r *Rules, opts *CompileOptions) (*Mapper, []Problem) {
	c := &compiler{}
	if r == nil {
		c.add("", "missing mapping section")
		return nil, c.problems
	}
	m := &Mapper{now: time.Now}
	if opts != nil && opts.Now != nil {
		m.now = opts.Now
	}

	// phone_region.
	region := strings.ToUpper(strings.TrimSpace(r.PhoneRegion))
	if region != "" && !phonenumbers.GetSupportedRegions()[region] {
		c.add("phone_region", fmt.Sprintf("unknown region %q", r.PhoneRegion))
	}
	m.phones = newPhoneCache(phoneCacheSize, region)

	// photo.
	global := photoLimits{size: defaultPhotoSize, bytes: defaultPhotoBytes}
	cacheSize := defaultPhotoCache
	if r.Photo != nil {
		global = c.photo("photo", r.Photo, global)
		switch n := r.Photo.CacheSize; {
		case n < 0 || n > maxPhotoCache:
			c.add("photo.cache_size", fmt.Sprintf("%d is out of range (1 to %d, 0 for %d)", n, maxPhotoCache, defaultPhotoCache))
		case n > 0:
			cacheSize = n
		}
	}
	m.photos = newPhotoCache(cacheSize)

	if r.Exclude != nil {
		m.exclude = c.condition("exclude", r.Exclude)
	}

	// Fields.
	byName := make(map[string]int)
	if len(r.Fields) == 0 {
		c.add("fields", "no fields defined")
	}
	for i := range r.Fields {
		f := c.field(fmt.Sprintf("fields[%d]", i), &r.Fields[i], global)
		if f.name != "" {
			if _, dup := byName[f.name]; dup {
				c.add(fmt.Sprintf("fields[%d].name", i), fmt.Sprintf("duplicate field name %q", f.name))
			} else {
				byName[f.name] = i
			}
		}
		m.fields = append(m.fields, f)
		m.valueHint += max(1, len(f.parts), f.info.maxParts)
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
	m.attributes = m.collectAttributes()
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

// photo checks a PhotoRule's limits; zero values take those of def.
func (c *compiler) photo(path string, r *PhotoRule, def photoLimits) photoLimits {
	l := def
	switch n := r.MaxSize; {
	case n == 0:
	case n < minPhotoSize || n > maxPhotoSize:
		c.add(path+".max_size", fmt.Sprintf("%d is out of range (%d to %d pixels)", n, minPhotoSize, maxPhotoSize))
	default:
		l.size = n
	}
	switch n := r.MaxBytes; {
	case n == 0:
	case n < minPhotoBytes || n > maxPhotoBytes:
		c.add(path+".max_bytes", fmt.Sprintf("%d is out of range (%d to %d bytes)", n, minPhotoBytes, maxPhotoBytes))
	default:
		l.bytes = n
	}
	return l
}

func (c *compiler) field(path string, r *FieldRule, photo photoLimits) *field {
	f := &field{
		name:  strings.TrimSpace(r.Name),
		pref:  r.Pref,
		multi: true,
		photo: photo,
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

	// The source of the values: exactly one of from, parts, template and
	// from_groups.
	var sources []string
	if len(r.From) > 0 {
		sources = append(sources, "from")
	}
	if len(r.Parts) > 0 {
		sources = append(sources, "parts")
	}
	if r.Template != "" {
		sources = append(sources, "template")
	}
	if len(r.FromGroups) > 0 {
		sources = append(sources, "from_groups")
	}
	switch {
	case len(sources) > 1:
		c.add(path, fmt.Sprintf("both %s and %s set; use exactly one", sources[0], sources[1]))
	case len(sources) == 0:
		if info.kind == kindStructured && known {
			c.add(path, "no parts set")
		} else {
			c.add(path, "none of from, parts, template and from_groups set; use exactly one")
		}
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
	case len(r.Parts) > 0:
		if known && info.kind != kindStructured {
			c.add(path+".parts", fmt.Sprintf("parts are for N, ORG and ADR only, not %s", prop))
		}
		if info.maxParts > 0 && len(r.Parts) > info.maxParts {
			c.add(path+".parts", fmt.Sprintf("%s has at most %d parts, got %d", prop, info.maxParts, len(r.Parts)))
		}
		empty := true
		for _, a := range r.Parts {
			a = strings.TrimSpace(a)
			if a != "" {
				empty = false
			}
			f.parts = append(f.parts, strings.ToLower(a))
			f.partNames = append(f.partNames, a)
		}
		if empty {
			c.add(path+".parts", "no attribute in parts")
		}
	case r.Template != "":
		if known && (info.kind == kindStructured || info.kind == kindPhoto) {
			c.add(path+".template", fmt.Sprintf("template does not apply to %s", prop))
		}
		t, err := parseTemplate(r.Template)
		if err != nil {
			c.add(path+".template", err.Error())
		}
		f.tmpl = t
		if r.Multi != "" {
			c.add(path+".multi", "multi does not apply to a template: it yields one value")
		}
	default:
		if known && info.kind != kindText {
			c.add(path+".from_groups", fmt.Sprintf("from_groups does not apply to %s", prop))
		}
		f.groups = c.groups(path+".from_groups", r.FromGroups)
	}

	// Types.
	for j, t := range r.Types {
		t = strings.ToLower(strings.TrimSpace(t))
		if !validType(t) {
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
	if info.single || f.tmpl != nil {
		f.multi = false
	}

	isPhoto := known && info.kind == kindPhoto

	// Transforms.
	for j, t := range r.Transform {
		tp := fmt.Sprintf("%s.transform[%d]", path, j)
		if !slices.Contains(knownTransforms, t) {
			c.add(tp, fmt.Sprintf("unknown transform %q", t))
			continue
		}
		if isPhoto {
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
		case "lower", "upper", "title":
			f.transforms = append(f.transforms, t)
		}
	}

	// Replace.
	if r.Replace != nil {
		switch {
		case isPhoto:
			c.add(path+".replace", "replace does not apply to PHOTO")
		case r.Replace.Pattern == "":
			c.add(path+".replace.pattern", "missing pattern")
		default:
			re, err := regexp.Compile(r.Replace.Pattern)
			if err != nil {
				c.add(path+".replace.pattern", fmt.Sprintf("invalid regular expression: %v", err))
				break
			}
			f.replace = re
			f.with = r.Replace.With
		}
	}

	// max_length.
	switch n := r.MaxLength; {
	case n == 0:
	case n < 0:
		c.add(path+".max_length", fmt.Sprintf("%d is negative", n))
	case isPhoto || known && info.kind == kindDate:
		c.add(path+".max_length", fmt.Sprintf("max_length does not apply to %s", prop))
	case f.e164:
		c.add(path+".max_length", "max_length does not apply with e164: a cut number is a wrong number")
	default:
		f.maxLen = n
	}

	// photo.
	if r.Photo != nil {
		switch {
		case known && !isPhoto:
			c.add(path+".photo", fmt.Sprintf("photo applies to PHOTO only, not %s", prop))
		case r.Photo.CacheSize != 0:
			c.add(path+".photo.cache_size", "set the cache size in mapping.photo, not per field")
		default:
			f.photo = c.photo(path+".photo", r.Photo, photo)
		}
	}

	// Constant values from groups go through the transforms once.
	for i := range f.groups {
		f.groups[i].value = f.text(f.groups[i].value)
	}
	return f
}

// groups compiles a FromGroups map, ordered by value, then DN.
func (c *compiler) groups(path string, m map[string]string) []groupValue {
	var out []groupValue
	dns := make([]string, 0, len(m))
	for dn := range m {
		dns = append(dns, dn)
	}
	sort.Strings(dns)
	for _, dn := range dns {
		p := path + "." + dn
		value := cleanText(m[dn])
		switch rdns := countRDNs(dn); {
		case rdns == 0:
			c.add(p, fmt.Sprintf("not a DN: %q", dn))
			continue
		case rdns == 1:
			c.add(p, fmt.Sprintf("%q is a single RDN, not a group DN", dn))
			continue
		case value == "":
			c.add(p, "empty value")
			continue
		}
		out = append(out, groupValue{dn: dirbook.NormalizeDN(dn), value: value})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].value < out[j].value })
	return out
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
		k.has, k.hasNames = c.attributes(path+".has", r.Has)
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
	if r.Kind != nil {
		keys++
		if len(r.Kind) == 0 {
			c.add(path+".kind", "empty list")
		}
		for i, kind := range r.Kind {
			kind = strings.TrimSpace(kind)
			if kind == "" {
				c.add(fmt.Sprintf("%s.kind[%d]", path, i), "empty kind")
				continue
			}
			k.kind = append(k.kind, strings.ToLower(kind))
			k.kindNames = append(k.kindNames, kind)
		}
	}
	if r.Future != nil {
		keys++
		k.future, k.futureNames = c.attributes(path+".future", r.Future)
		k.futurePath = path + ".future"
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

// attributes checks a list of attribute names and returns them in lower
// case and as configured.
func (c *compiler) attributes(path string, list []string) (lower, names []string) {
	if len(list) == 0 {
		c.add(path, "empty list")
	}
	for i, a := range list {
		a = strings.TrimSpace(a)
		if a == "" {
			c.add(fmt.Sprintf("%s[%d]", path, i), "empty attribute name")
			continue
		}
		lower = append(lower, strings.ToLower(a))
		names = append(names, a)
	}
	return lower, names
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
