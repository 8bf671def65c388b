package sync

import (
	"encoding/base64"
	"strconv"

	"github.com/dirbook/dirbook"
)

// decodeRecordFast parses a card record as encodeRecord writes it, without
// reflection. It reports false for anything else (an older or hand-made
// record), which decodeRecord then reads with encoding/json.
func decodeRecordFast(v []byte) (*dirbook.StoredCard, string, bool) {
	s := &scan{b: v, ok: true}
	sc := &dirbook.StoredCard{}
	s.lit(`{"card":{"uid":`)
	sc.UID = s.str()
	s.lit(`,"props":[`)
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
	p.Field = s.str()
	s.lit(`,"n":`)
	p.Name = s.str()
	if s.has(`,"t":`) {
		p.Types = s.strs()
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
		p.MediaType = s.str()
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
