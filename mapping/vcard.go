package mapping

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-vcard"

	"github.com/dirbook/dirbook"
)

// maxLine is the length in octets at which vCard lines are folded
// (RFC 6350 section 3.2, RFC 2426 section 2.6).
const maxLine = 75

// reserved names properties that a card's Props cannot set.
var reserved = map[string]bool{
	"BEGIN": true, "END": true, vcard.FieldVersion: true, vcard.FieldUID: true, vcard.FieldKind: true,
}

// VCard returns the go-vcard value of c that Encode writes: VERSION, UID,
// KIND (4.0 only) and c's properties. version is "3.0" or "4.0"; any other
// value is treated as "4.0". Text values are cleaned again (control
// characters, invalid UTF-8, length), so a card from any source renders
// safely; a backslash in a URL or IMPP becomes %5C. PHOTO is base64 with
// ENCODING=b in 3.0 and a data: URI in 4.0; the preferred flag is
// TYPE=pref in 3.0 and PREF=1 in 4.0.
func VCard(c *dirbook.Card, version string) vcard.Card {
	if c == nil {
		c = &dirbook.Card{}
	}
	v3 := version == "3.0"
	card := make(vcard.Card, len(c.Props)+3)
	if v3 {
		card.SetValue(vcard.FieldVersion, "3.0")
	} else {
		card.SetValue(vcard.FieldVersion, "4.0")
		card.SetKind(vcard.KindIndividual)
	}
	card.SetValue(vcard.FieldUID, cleanText(c.UID))
	for _, p := range c.Props {
		name := strings.ToUpper(p.Name)
		if !validName(name) || reserved[name] {
			continue
		}
		f := &vcard.Field{}
		switch name {
		case vcard.FieldName, vcard.FieldOrganization, vcard.FieldAddress:
			f.Value = structuredValue(name, p.Values)
		case vcard.FieldPhoto:
			format, ok := photoFormats[p.MediaType]
			if !ok || p.Value() == "" {
				continue
			}
			data := base64.StdEncoding.EncodeToString([]byte(p.Value()))
			if v3 {
				f.Params = vcard.Params{"ENCODING": {"b"}, vcard.ParamType: {format}}
				f.Value = data
			} else {
				f.Value = "data:" + p.MediaType + ";base64," + data
			}
		case vcard.FieldBirthday:
			f.Value = cleanText(p.Value())
			if !v3 && len(f.Value) == 10 && f.Value[4] == '-' && f.Value[7] == '-' {
				// RFC 6350 dates are in ISO 8601 basic format.
				f.Value = f.Value[:4] + f.Value[5:7] + f.Value[8:]
			}
		case vcard.FieldURL, vcard.FieldIMPP:
			// A URI is not text: finish undoes go-vcard's escaping of
			// commas, which needs the value free of backslashes (never
			// valid in a URI anyway).
			f.Value = strings.ReplaceAll(cleanText(p.Value()), `\`, "%5C")
		default:
			f.Value = cleanText(p.Value())
		}
		if f.Value == "" {
			continue
		}
		for _, t := range p.Types {
			if t = strings.ToLower(t); validType(t) {
				addParam(f, vcard.ParamType, t)
			}
		}
		if p.Pref {
			if v3 {
				addParam(f, vcard.ParamType, "pref")
			} else {
				addParam(f, vcard.ParamPreferred, "1")
			}
		}
		card.Add(name, f)
	}
	return card
}

var photoFormats = map[string]string{"image/jpeg": "JPEG", "image/png": "PNG"}

func addParam(f *vcard.Field, k, v string) {
	if f.Params == nil {
		f.Params = make(vcard.Params)
	}
	f.Params.Add(k, v)
}

// structuredValue joins the cleaned components of N, ORG or ADR with ';'.
// N always has its five components, ADR its seven. It returns "" when
// every component is empty.
func structuredValue(name string, comps []string) string {
	n := len(comps)
	switch name {
	case vcard.FieldName:
		n = maxNParts
	case vcard.FieldAddress:
		n = maxADRParts
	}
	out := make([]string, n)
	empty := true
	for i := 0; i < n && i < len(comps); i++ {
		out[i] = cleanComponent(comps[i])
		if out[i] != "" {
			empty = false
		}
	}
	if empty {
		return ""
	}
	return strings.Join(out, ";")
}

// validName reports whether name is a syntactically valid property name.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Encode renders c as a vCard of the given version ("3.0" or "4.0") with
// go-vcard's encoder: CRLF line ends, properties sorted by name after
// VERSION, lines folded at 75 octets. The output is the same bytes for the
// same card. Commas in URI values (URL, IMPP, the data: URI of a 4.0
// PHOTO) are written as they are: a URI is not text and clients do not
// unescape it.
func Encode(c *dirbook.Card, version string) ([]byte, error) {
	if version != "3.0" && version != "4.0" {
		return nil, fmt.Errorf("mapping: unsupported vcard version %q", version)
	}
	if c == nil {
		return nil, errors.New("mapping: encode nil card")
	}
	var buf bytes.Buffer
	buf.Grow(encodedSize(c))
	if err := vcard.NewEncoder(&buf).Encode(VCard(c, version)); err != nil {
		return nil, fmt.Errorf("mapping: encode card %s: %w", c.UID, err)
	}
	return finish(buf.Bytes()), nil
}

// encodedSize estimates the size of c encoded, before folding.
func encodedSize(c *dirbook.Card) int {
	n := 96 + len(c.UID)
	for _, p := range c.Props {
		n += 32 + len(p.Name) + 8*len(p.Types)
		for _, v := range p.Values {
			n += len(v) + 1
		}
		if p.Name == vcard.FieldPhoto {
			n += len(p.Value())/3 + 48 // base64
		}
	}
	return n
}

var (
	crlf     = []byte("\r\n")
	escComma = []byte(`\,`)
	comma    = []byte(",")
)

// uriProps names the properties whose values are URIs, not text, in the
// vCards Encode writes: PHOTO (a data: URI in 4.0, base64 in 3.0), URL and
// IMPP.
var uriProps = [][]byte{[]byte("PHOTO"), []byte("URL"), []byte("IMPP")}

// finish folds the lines go-vcard wrote and undoes its escaping of commas
// in URI values (go-vcard escapes commas in every value, but clients take
// a URI's bytes as they are). Those values hold no backslash (base64 has
// none, VCard encodes it in a URL), so every `\,` in them is an escaped
// comma.
func finish(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+len(raw)/(maxLine-1)*3+8)
	for len(raw) > 0 {
		i := bytes.Index(raw, crlf)
		if i < 0 {
			i = len(raw)
		}
		line := raw[:i]
		raw = raw[min(i+2, len(raw)):]
		if isURIProp(line) && bytes.Contains(line, escComma) {
			line = bytes.ReplaceAll(line, escComma, comma)
		}
		out = fold(out, line)
	}
	return out
}

// isURIProp reports whether line holds a property of uriProps.
func isURIProp(line []byte) bool {
	for _, name := range uriProps {
		if len(line) > len(name) && bytes.HasPrefix(line, name) && (line[len(name)] == ':' || line[len(name)] == ';') {
			return true
		}
	}
	return false
}

// fold appends line to out, folded at maxLine octets without splitting a
// UTF-8 sequence, and a CRLF.
func fold(out, line []byte) []byte {
	limit := maxLine
	for len(line) > limit {
		cut := limit
		for cut > 0 && line[cut]&0xC0 == 0x80 { // continuation byte
			cut--
		}
		if cut == 0 { // not UTF-8: cut anywhere
			cut = limit
		}
		out = append(out, line[:cut]...)
		out = append(out, '\r', '\n', ' ')
		line = line[cut:]
		limit = maxLine - 1
	}
	out = append(out, line...)
	return append(out, '\r', '\n')
}
