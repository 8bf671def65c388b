package sync

import (
	"bytes"
	"encoding/base64"
	"strconv"

	"github.com/dirbook/dirbook"
)

// cardMeta is what a card record says besides the card: its ETag, the
// revision in which it last changed and the ID of its entry ("" when that
// is the UID).
type cardMeta struct {
	etag    string
	rev     uint64
	entryID string
}

// decodeRecordFast parses a card record as encodeRecord writes it, without
// reflection. It reports false for anything else (an older or hand-made
// record), which decodeRecord then reads with encoding/json.
func decodeRecordFast(v []byte) (*dirbook.Card, cardMeta, bool) {
	s := &scan{b: v, ok: true}
	s.lit(`{"card":`)
	c := s.card()
	m := s.meta()
	if !s.ok {
		return nil, cardMeta{}, false
	}
	return c, m, true
}

// decodeCanonical parses the canonical JSON of a card as appendCard writes
// it.
func decodeCanonical(v []byte) (*dirbook.Card, error) {
	s := &scan{b: v, ok: true}
	c := s.card()
	if !s.ok || s.i != len(v) {
		return decodeCard(v)
	}
	return c, nil
}

// card reads a card's canonical JSON.
func (s *scan) card() *dirbook.Card {
	c := &dirbook.Card{}
	s.lit(`{"uid":`)
	c.UID = s.str()
	s.lit(`,"props":[`)
	if n := bytes.Count(s.b[min(s.i, len(s.b)):], []byte(`{"f":`)); n > 0 {
		c.Props = make([]dirbook.Prop, 0, n) // quotes in values are escaped: the pattern starts properties only
	}
	if s.peek() != ']' {
		for {
			c.Props = append(c.Props, s.prop())
			if s.peek() != ',' {
				break
			}
			s.i++
		}
	}
	s.lit(`]}`)
	return c
}

// recordTail starts what follows the card in a record encodeRecord wrote.
// In the canonical JSON before it, quotes inside strings are escaped, and
// no key is "etag": the last occurrence is the one after the card.
var recordTail = []byte(`,"etag":`)

// recordMeta reads the cardMeta of a record without decoding the card: a
// store keeps only that in memory. It reports false for a record
// encodeRecord did not write.
func recordMeta(v []byte) (cardMeta, bool) {
	i := bytes.LastIndex(v, recordTail)
	if i < 0 || !bytes.HasPrefix(v, []byte(`{"card":{"uid":`)) {
		return cardMeta{}, false
	}
	s := &scan{b: v, i: i, ok: true}
	m := s.meta()
	return m, s.ok
}

// meta reads the end of a record: the ETag, the revision and the optional
// entry ID, then the closing brace.
func (s *scan) meta() cardMeta {
	var m cardMeta
	s.lit(`,"etag":`)
	m.etag = s.str()
	s.lit(`,"rev":`)
	m.rev = s.uint()
	if s.peek() == ',' {
		s.lit(`,"id":`)
		m.entryID = s.str()
	}
	s.lit(`}`)
	if s.i != len(s.b) {
		s.fail()
	}
	return m
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
