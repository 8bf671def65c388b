package ldap

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
	"golang.org/x/text/unicode/norm"
)

// filter is an RFC 4515 search filter compiled for evaluation on the client
// side, against the attributes of an entry read from a file.
type filter struct {
	op    int    // one of the goldap.Filter* choices
	attr  string // lower-case attribute name; "" for and, or, not
	value string // prepared assertion value (equality, approx, ordering)
	// The prepared parts of a substrings filter; initial and final are ""
	// when the filter has none.
	initial, final string
	any            []string
	children       []*filter // of and, or, not
}

// compileFilter parses text with go-ldap's compiler and turns the resulting
// BER packet tree into a filter. Extensible matches cannot be evaluated
// without the server's matching rules and are refused.
func compileFilter(text string) (*filter, error) {
	p, err := goldap.CompileFilter(text)
	if err != nil {
		var lerr *goldap.Error
		if errors.As(err, &lerr) && lerr.Err != nil {
			err = lerr.Err
		}
		return nil, fmt.Errorf("ldap: filter %s: %w", text, err)
	}
	f, err := fromPacket(p)
	if err != nil {
		return nil, fmt.Errorf("ldap: filter %s: %w", text, err)
	}
	return f, nil
}

var errFilterShape = errors.New("malformed filter packet")

// fromPacket converts one node of a compiled filter.
func fromPacket(p *ber.Packet) (*filter, error) {
	if p == nil {
		return nil, errFilterShape
	}
	f := &filter{op: int(p.Tag)}
	switch p.Tag {
	case goldap.FilterAnd, goldap.FilterOr, goldap.FilterNot:
		if p.Tag == goldap.FilterNot && len(p.Children) != 1 {
			return nil, errFilterShape
		}
		for _, c := range p.Children {
			cf, err := fromPacket(c)
			if err != nil {
				return nil, err
			}
			f.children = append(f.children, cf)
		}
	case goldap.FilterPresent:
		f.attr = attrName(string(packetBytes(p)))
	case goldap.FilterEqualityMatch, goldap.FilterApproxMatch,
		goldap.FilterGreaterOrEqual, goldap.FilterLessOrEqual:
		if len(p.Children) != 2 {
			return nil, errFilterShape
		}
		f.attr = attrName(string(packetBytes(p.Children[0])))
		f.value = prepare(string(packetBytes(p.Children[1])))
	case goldap.FilterSubstrings:
		if len(p.Children) != 2 {
			return nil, errFilterShape
		}
		f.attr = attrName(string(packetBytes(p.Children[0])))
		for _, part := range p.Children[1].Children {
			v := prepareSubstring(string(packetBytes(part)))
			switch part.Tag {
			case goldap.FilterSubstringsInitial:
				f.initial = v
			case goldap.FilterSubstringsAny:
				f.any = append(f.any, v)
			case goldap.FilterSubstringsFinal:
				f.final = v
			default:
				return nil, errFilterShape
			}
		}
	case goldap.FilterExtensibleMatch:
		return nil, errors.New("extensible match is not supported when reading LDIF files")
	default:
		return nil, fmt.Errorf("unknown filter choice %d", p.Tag)
	}
	return f, nil
}

func packetBytes(p *ber.Packet) []byte {
	if p == nil || p.Data == nil {
		return nil
	}
	return p.Data.Bytes()
}

// match reports whether an entry with the given attributes (lower-case
// names) matches the filter.
func (f *filter) match(attrs map[string][]string) bool {
	switch f.op {
	case goldap.FilterAnd:
		for _, c := range f.children {
			if !c.match(attrs) {
				return false
			}
		}
		return true
	case goldap.FilterOr:
		for _, c := range f.children {
			if c.match(attrs) {
				return true
			}
		}
		return false
	case goldap.FilterNot:
		return !f.children[0].match(attrs)
	case goldap.FilterPresent:
		// Every directory entry has an object class, even when a file
		// leaves it out: a server matches (objectClass=*) on all entries.
		return f.attr == "objectclass" || len(attrs[f.attr]) > 0
	case goldap.FilterEqualityMatch, goldap.FilterApproxMatch:
		for _, v := range attrs[f.attr] {
			if prepare(v) == f.value {
				return true
			}
		}
		return false
	case goldap.FilterGreaterOrEqual, goldap.FilterLessOrEqual:
		for _, v := range attrs[f.attr] {
			c := compareOrdered(prepare(v), f.value)
			if f.op == goldap.FilterGreaterOrEqual && c >= 0 || f.op == goldap.FilterLessOrEqual && c <= 0 {
				return true
			}
		}
		return false
	case goldap.FilterSubstrings:
		for _, v := range attrs[f.attr] {
			if f.matchSubstrings(prepare(v)) {
				return true
			}
		}
		return false
	}
	return false
}

func (f *filter) matchSubstrings(s string) bool {
	if !strings.HasPrefix(s, f.initial) {
		return false
	}
	pos := len(f.initial)
	for _, a := range f.any {
		i := strings.Index(s[pos:], a)
		if i < 0 {
			return false
		}
		pos += i + len(a)
	}
	return len(s)-pos >= len(f.final) && strings.HasSuffix(s, f.final)
}

// compareOrdered compares two prepared values: as integers when both are
// decimal integers (integerOrderingMatch, so that (uidNumber>=1000) works),
// as strings otherwise.
func compareOrdered(a, b string) int {
	if x, err := strconv.ParseInt(a, 10, 64); err == nil {
		if y, err := strconv.ParseInt(b, 10, 64); err == nil {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(a, b)
}

// attrName returns the lower-case form of an attribute description.
func attrName(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// prepare maps a value for caseIgnoreMatch: compatibility normalisation,
// case folding, no leading or trailing spaces, inner runs of spaces as one.
func prepare(s string) string {
	return collapseSpaces(strings.TrimSpace(fold(s)))
}

// prepareSubstring maps a substrings assertion part like prepare, but keeps
// its outer spaces: they are significant between the parts.
func prepareSubstring(s string) string {
	return collapseSpaces(fold(s))
}

// fold returns the NFKC form of s with every rune mapped to one
// representative of its case folding orbit (the smallest, ASCII in lower
// case), so fold(a) == fold(b) when a and b are equal ignoring case.
func fold(s string) string {
	if utf8.ValidString(s) {
		s = norm.NFKC.String(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteRune(r)
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				break
			}
			r = r2
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A' // the orbit of ſ or K holds an ASCII capital
		}
		b.WriteRune(r)
	}
	return b.String()
}

func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
