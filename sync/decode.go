package sync

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strconv"

	"github.com/dirbook/dirbook"
)

// decodeRecordFast parses a card record as encodeRecord writes it, without
// reflection. It reports false for anything else (an older or hand-made
// record), which decodeRecord then reads with encoding/json.
func decodeRecordFast(v []byte) (*dirbook.StoredCard, string, bool) {
	return decodeRecordFastWith(v, nil)
}

// decodeRecordFastWith is decodeRecordFast; the field names, property
// names, types and media types of the card come from in when not nil.
func decodeRecordFastWith(v []byte, in *interner) (*dirbook.StoredCard, string, bool) {
	s := &scan{b: v, ok: true, in: in}
	sc := &dirbook.StoredCard{}
	s.lit(`{"card":{"uid":`)
	sc.UID = s.str()
	s.lit(`,"props":[`)
	if n := bytes.Count(v, []byte(`{"f":`)); n > 0 {
		sc.Props = make([]dirbook.Prop, 0, n) // quotes in values are escaped: the pattern starts properties only
	}
	if s.peek() != ']' {
		for {
			sc.Props = append(sc.Props, s.prop())
			if s.peek() != ',' {
				break
			}
			s.i++
		}
	}
	s.lit(`]},"etag":`)
	sc.ETag = s.str()
	s.lit(`,"rev":`)
	sc.Revision = s.uint()
	var entryID string
	if s.peek() == ',' {
		s.lit(`,"id":`)
		entryID = s.str()
	}
	s.lit(`}`)
	if !s.ok || s.i != len(s.b) {
		return nil, "", false
	}
	return sc, entryID, true
}

// scan reads the canonical JSON of appendCard. Once a read fails, ok is
// false and further reads return zero values.
type scan struct {
	b  []byte
	i  int
	ok bool
	in *interner // nil: no interning
}

// interner shares the strings that repeat across the cards of a store
// (field and property names, types, media types) while a store loads: a
// card then holds references to one copy of each.
type interner struct {
	strs  map[string]string
	lists map[string][]string
}

func newInterner() *interner {
	return &interner{strs: map[string]string{}, lists: map[string][]string{}}
}

// str reads a JSON string, interned.
func (s *scan) istr() string {
	if s.in == nil {
		return s.str()
	}
	start := s.i
	v := s.str()
	if !s.ok {
		return v
	}
	key := string(s.b[start:s.i]) // the JSON text: the map lookup does not allocate
	if c, ok := s.in.strs[key]; ok {
		return c
	}
	s.in.strs[key] = v
	return v
}

// istrs reads a JSON array of strings, interned as a whole. The slice is
// shared: cards of a revision are never modified.
func (s *scan) istrs() []string {
	if s.in == nil {
		return s.strs()
	}
	start := s.i
	v := s.strs()
	if !s.ok {
		return v
	}
	if c, ok := s.in.lists[string(s.b[start:s.i])]; ok {
		return c
	}
	s.in.lists[string(s.b[start:s.i])] = slices.Clip(v)
	return v
}

func (s *scan) fail() { s.ok, s.i = false, len(s.b) }

func (s *scan) peek() byte {
	if s.i >= len(s.b) {
		s.fail()
		return 0
	}
	return s.b[s.i]
}

func (s *scan) lit(l string) {
	if len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		s.fail()
		return
	}
	s.i += len(l)
}

// str reads a JSON string.
func (s *scan) str() string {
	if s.peek() != '"' {
		s.fail()
		return ""
	}
	start := s.i
	s.i++
	escaped := false
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			escaped = true
			s.i += 2
			continue
		case '"':
			s.i++
			if !escaped {
				return string(s.b[start+1 : s.i-1])
			}
			// appendString escapes only what strconv.Unquote reads the
			// same way: \" \\ \b \f \n \r \t \u00XX \u2028 \u2029 \ufffd.
			u, err := strconv.Unquote(string(s.b[start:s.i]))
			if err != nil {
				s.fail()
				return ""
			}
			return u
		}
		s.i++
	}
	s.fail()
	return ""
}

// strs reads a JSON array of strings.
func (s *scan) strs() []string {
	s.lit("[")
	var out []string
	if s.peek() == ']' {
		s.i++
		return []string{}
	}
	for s.ok {
		out = append(out, s.str())
		if s.peek() != ',' {
			break
		}
		s.i++
	}
	s.lit("]")
	return out
}

func (s *scan) uint() uint64 {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n, err := strconv.ParseUint(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		s.fail()
	}
	return n
}

// prop reads one property object.
func (s *scan) prop() dirbook.Prop {
	var p dirbook.Prop
	s.lit(`{"f":`)
	p.Field = s.istr()
	s.lit(`,"n":`)
	p.Name = s.istr()
	if s.has(`,"t":`) {
		p.Types = s.istrs()
	}
	if s.has(`,"p":true`) {
		p.Pref = true
	}
	switch {
	case s.has(`,"v":`):
		p.Values = s.strs()
	case s.has(`,"b":`):
		p.Values = s.strs()
		for i, v := range p.Values {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				s.fail()
				break
			}
			p.Values[i] = string(b)
		}
	}
	if s.has(`,"m":`) {
		p.MediaType = s.istr()
	}
	s.lit("}")
	return p
}

// has reads l if it comes next.
func (s *scan) has(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}
