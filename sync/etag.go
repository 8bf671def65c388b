package sync

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"

	"github.com/dirbook/dirbook"
)

// cardJSON is the canonical JSON form of a dirbook.Card, used to decode
// it; appendCard writes it. It follows the
// card's own JSON tags, except that a property whose values are not all
// valid UTF-8 (a photo's raw bytes) carries them base64-encoded under "b"
// instead of "v": plain encoding/json would replace the invalid bytes and
// lose the image.
type cardJSON struct {
	UID   string     `json:"uid"`
	Props []propJSON `json:"props"`
}

type propJSON struct {
	Field     string   `json:"f"`
	Name      string   `json:"n"`
	Types     []string `json:"t,omitempty"`
	Pref      bool     `json:"p,omitempty"`
	Values    []string `json:"v,omitempty"`
	Binary    [][]byte `json:"b,omitempty"`
	MediaType string   `json:"m,omitempty"`
}

// appendCard appends the canonical JSON of c to dst: the bytes encoding/json
// writes for cardJSON, produced by hand so that they depend neither on
// reflection costs nor on the escaping choices of a future encoding/json.
// The same card always encodes to the same bytes, in any process.
func appendCard(dst []byte, c *dirbook.Card) []byte {
	dst = append(dst, `{"uid":`...)
	dst = appendString(dst, c.UID)
	dst = append(dst, `,"props":[`...)
	for i := range c.Props {
		p := &c.Props[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"f":`...)
		dst = appendString(dst, p.Field)
		dst = append(dst, `,"n":`...)
		dst = appendString(dst, p.Name)
		if len(p.Types) > 0 {
			dst = append(dst, `,"t":`...)
			dst = appendStrings(dst, p.Types)
		}
		if p.Pref {
			dst = append(dst, `,"p":true`...)
		}
		if len(p.Values) > 0 {
			if allValidUTF8(p.Values) {
				dst = append(dst, `,"v":`...)
				dst = appendStrings(dst, p.Values)
			} else {
				dst = append(dst, `,"b":[`...)
				for j, v := range p.Values {
					if j > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, '"')
					dst = base64.StdEncoding.AppendEncode(dst, []byte(v))
					dst = append(dst, '"')
				}
				dst = append(dst, ']')
			}
		}
		if p.MediaType != "" {
			dst = append(dst, `,"m":`...)
			dst = appendString(dst, p.MediaType)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// with HTML escaping: '"' and '\\' with a backslash, control characters
// as \b, \f, \n, \r, \t or \u00XX, '<', '>' and '&' as \u00XX, U+2028
// and U+2029 as \u2028 and \u2029, and invalid UTF-8 as \ufffd.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// decodeCard parses what appendCard wrote.
func decodeCard(data []byte) (*dirbook.Card, error) {
	var cj cardJSON
	if err := json.Unmarshal(data, &cj); err != nil {
		return nil, err
	}
	c := &dirbook.Card{UID: cj.UID, Props: make([]dirbook.Prop, len(cj.Props))}
	for i, pj := range cj.Props {
		p := dirbook.Prop{Field: pj.Field, Name: pj.Name, Types: pj.Types, Pref: pj.Pref, Values: pj.Values, MediaType: pj.MediaType}
		if pj.Binary != nil {
			p.Values = make([]string, len(pj.Binary))
			for j, b := range pj.Binary {
				p.Values[j] = string(b)
			}
		}
		c.Props[i] = p
	}
	return c, nil
}

func allValidUTF8(vs []string) bool {
	for _, v := range vs {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// etagOf returns the entity tag of a card: the hex form of the first 16
// bytes of the SHA-256 of its canonical JSON. It depends on the card's
// content only, so it is stable across restarts and processes.
func etagOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:16])
}
