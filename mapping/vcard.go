package mapping

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/emersion/go-vcard"

	"github.com/dirbook/dirbook"
)

// reserved reports whether a card's Props cannot set the property name.
func reserved(name string) bool {
	switch name {
	case "BEGIN", "END", vcard.FieldVersion, vcard.FieldUID, vcard.FieldKind:
		return true
	}
	return false
}

// VCard returns the go-vcard value of c that Encode writes: VERSION, UID,
// KIND (4.0 only) and c's properties. version is "3.0" or "4.0"; any other
// value is treated as "4.0". Text values are cleaned again (control
// characters, invalid UTF-8, length), so a card from any source renders
// safely; a backslash in a URL or IMPP becomes %5C. PHOTO is base64 with
// ENCODING=b in 3.0 and a data: URI in 4.0; the preferred flag is
// TYPE=pref in 3.0 and PREF=1 in 4.0.
func VCard(c *dirbook.Card, version string) vcard.Card {
	var b cardBuilder
	b.build(c, version, false)
	return b.card
}

// cardBuilder makes the vcard.Card of a dirbook.Card in few allocations:
// the fields of all properties in one slice, the lists of the card's
// map carved from another. Encode reuses builders.
type cardBuilder struct {
	card   vcard.Card
	lines  []line
	ptrs   []*vcard.Field
	groups []group // the names of the card being built, one each
	// mapped holds the groups b.card maps, over the array mappedPtrs:
	// a card of the same shape as the one before reuses b.card as it is.
	mapped     []group
	mappedPtrs **vcard.Field
	key        []byte // scratch for sharedParams
	buf        bytes.Buffer
	// text holds the values build makes by joining or encoding (N,
	// ORG, ADR, PHOTO); with shared set, the values point into it.
	text []byte
	// uriComma is set when a URI value has a comma, which go-vcard
	// escapes and Encode unescapes.
	uriComma bool
	// seen remembers Params sharedParams returned, cheaper to find than
	// in paramCache: cards have a few combinations, the same card after
	// card.
	seen     []seenParams
	seenNext int // where the next search of seen starts
}

// seenParams is one combination of cardBuilder.seen. Its types are a
// copy: the caller's slice may change.
type seenParams struct {
	v3, pref bool
	format   string
	types    []string
	params   vcard.Params
}

// maxSeen bounds cardBuilder.seen.
const maxSeen = 8

// line is one field of the card under construction.
type line struct {
	name  string
	field vcard.Field
	group int32 // index in cardBuilder.groups
}

// build fills b.card with the vCard of c. With shared set, the Params of
// the fields come from a cache shared by all cards and must not be
// changed: go-vcard's encoder only reads them.
func (b *cardBuilder) build(c *dirbook.Card, version string, shared bool) {
	if c == nil {
		c = &dirbook.Card{}
	}
	v3 := version == "3.0"
	if b.lines == nil {
		b.lines = make([]line, 0, len(c.Props)+3)
	}
	if v3 {
		b.add(vcard.FieldVersion, "3.0", nil)
	} else {
		b.add(vcard.FieldVersion, "4.0", nil)
		b.add(vcard.FieldKind, string(vcard.KindIndividual), nil)
	}
	b.add(vcard.FieldUID, cleanText(c.UID), nil)
	for i := range c.Props {
		p := &c.Props[i]
		name, ok := propName(p.Name)
		if !ok {
			continue
		}
		var value, format string
		switch name {
		case vcard.FieldName, vcard.FieldOrganization, vcard.FieldAddress:
			start := len(b.text)
			b.text = appendStructured(b.text, name, p.Values)
			value = b.string(start, shared)
		case vcard.FieldPhoto:
			var ok bool
			format, ok = photoFormats[p.MediaType]
			if !ok || p.Value() == "" {
				continue
			}
			start := len(b.text)
			b.text = appendPhoto(b.text, p.MediaType, p.Value(), v3)
			value = b.string(start, shared)
		case vcard.FieldBirthday:
			value = cleanText(p.Value())
			if !v3 && len(value) == 10 && value[4] == '-' && value[7] == '-' {
				// RFC 6350 dates are in ISO 8601 basic format.
				value = value[:4] + value[5:7] + value[8:]
			}
		case vcard.FieldURL, vcard.FieldIMPP:
			// A URI is not text: unescapeURIs undoes go-vcard's escaping
			// of commas, which needs the value free of backslashes
			// (never valid in a URI anyway).
			value = strings.ReplaceAll(cleanText(p.Value()), `\`, "%5C")
		default:
			value = cleanText(p.Value())
		}
		if value == "" {
			continue
		}
		if uriProp(name) && strings.IndexByte(value, ',') >= 0 {
			b.uriComma = true
		}
		var params vcard.Params
		if format != "" || p.Pref || len(p.Types) > 0 {
			if shared {
				params = b.sharedParams(v3, format, p.Types, p.Pref)
			} else {
				params = makeParams(v3, format, p.Types, p.Pref)
			}
		}
		b.add(name, value, params)
	}

	// go-vcard writes the fields of a name in the order of its list, the
	// order of c.Props. The map is sized for the distinct names: up to
	// eight, Go keeps it in one group, much cheaper to fill, read, range
	// over and clear than a table.
	b.group()
	if b.card == nil {
		b.card = make(vcard.Card, len(b.groups))
	}
	if b.sameGroups() {
		// b.card maps the same names to the same places in b.ptrs,
		// which group filled anew: the card before had the same shape.
		return
	}
	clear(b.card)
	for _, g := range b.groups {
		b.card[g.name] = b.ptrs[g.start:g.end:g.end]
	}
	b.mapped = append(b.mapped[:0], b.groups...)
	b.mappedPtrs = unsafe.SliceData(b.ptrs)
}

// sameGroups reports whether b.card holds the groups of b.groups, over
// the array of b.ptrs.
func (b *cardBuilder) sameGroups() bool {
	if len(b.mapped) != len(b.groups) || b.mappedPtrs != unsafe.SliceData(b.ptrs) {
		return false
	}
	for j := range b.groups {
		if g, h := &b.groups[j], &b.mapped[j]; g.start != h.start || g.end != h.end || g.name != h.name {
			return false
		}
	}
	return true
}

// group fills b.groups with the distinct names of b.lines in order of
// first use and b.ptrs with the fields of each name in turn, in the order
// of b.lines. The names of nameIDs are told apart by their numbers,
// others by comparing them.
func (b *cardBuilder) group() {
	var first [numNameIDs]int32 // 1 + the group of a numbered name
	b.groups = b.groups[:0]
	for i := range b.lines {
		l := &b.lines[i]
		g := -1
		if id := nameID(l.name); id > 0 {
			g = int(first[id]) - 1
			if g < 0 {
				first[id] = int32(len(b.groups)) + 1
			}
		} else {
			for j := range b.groups {
				if b.groups[j].name == l.name {
					g = j
					break
				}
			}
		}
		if g < 0 {
			g = len(b.groups)
			b.groups = append(b.groups, group{name: l.name})
		}
		l.group = int32(g)
		b.groups[g].end++ // counts the fields for now
	}
	n := 0
	for j := range b.groups {
		g := &b.groups[j]
		count := g.end
		g.start, g.end = n, n
		n += count
	}
	b.ptrs = slices.Grow(b.ptrs[:0], n)[:n]
	for i := range b.lines {
		g := &b.groups[b.lines[i].group]
		b.ptrs[g.end] = &b.lines[i].field
		g.end++
	}
}

// group locates the fields of one name in cardBuilder.ptrs.
type group struct {
	name       string
	start, end int
}

// nameID numbers the property names cards have most, 1 to
// numNameIDs-1, and returns 0 for other names.
func nameID(name string) int {
	switch name {
	case vcard.FieldVersion:
		return 1
	case vcard.FieldKind:
		return 2
	case vcard.FieldUID:
		return 3
	case vcard.FieldFormattedName:
		return 4
	case vcard.FieldName:
		return 5
	case vcard.FieldNickname:
		return 6
	case vcard.FieldOrganization:
		return 7
	case vcard.FieldTitle:
		return 8
	case vcard.FieldRole:
		return 9
	case vcard.FieldEmail:
		return 10
	case vcard.FieldTelephone:
		return 11
	case vcard.FieldAddress:
		return 12
	case vcard.FieldURL:
		return 13
	case vcard.FieldIMPP:
		return 14
	case vcard.FieldNote:
		return 15
	case vcard.FieldPhoto:
		return 16
	case vcard.FieldBirthday:
		return 17
	case vcard.FieldCategories:
		return 18
	}
	return 0
}

const numNameIDs = 19

// propName returns the name of a property as a card writes it, in upper
// case, and false when the name is not valid or not one a card's Props
// may set. A name already in upper case is returned as it is.
func propName(name string) (string, bool) {
	if !validName(name) {
		name = strings.ToUpper(name)
		if !validName(name) {
			return "", false
		}
	}
	return name, !reserved(name)
}

// string returns b.text[start:] as a string and, unless shared, gives the
// bytes back to b.text. A shared string points into b.text, which is
// never written over before reset: the string lives as long as the card.
func (b *cardBuilder) string(start int, shared bool) string {
	if len(b.text) == start {
		return ""
	}
	if shared {
		return unsafe.String(&b.text[start], len(b.text)-start)
	}
	s := string(b.text[start:])
	b.text = b.text[:start]
	return s
}

func (b *cardBuilder) add(name, value string, params vcard.Params) {
	b.lines = append(b.lines, line{name: name, field: vcard.Field{Value: value, Params: params}})
}

// reset empties b for the next card.
func (b *cardBuilder) reset() {
	b.text = b.text[:0]
	b.uriComma = false
	// b.card, b.ptrs and b.groups point into b.lines or hold names only.
	// The lines past the length are written over by the next card; till
	// then they keep one card's text values, each of a few KiB at most
	// (a PHOTO's value is in b.text).
	b.lines = b.lines[:0]
	b.ptrs = b.ptrs[:0]
	b.buf.Reset()
}

var photoFormats = map[string]string{"image/jpeg": "JPEG", "image/png": "PNG"}

// appendPhoto appends the value of a PHOTO to dst: base64 in 3.0, a
// data: URI in 4.0.
func appendPhoto(dst []byte, mediaType, data string, v3 bool) []byte {
	if !v3 {
		dst = append(dst, "data:"...)
		dst = append(dst, mediaType...)
		dst = append(dst, ";base64,"...)
	}
	dst = slices.Grow(dst, base64.StdEncoding.EncodedLen(len(data)))
	var chunk [3 << 10]byte // a multiple of 3: no padding inside
	for len(data) > 0 {
		n := copy(chunk[:], data)
		dst = base64.StdEncoding.AppendEncode(dst, chunk[:n])
		data = data[n:]
	}
	return dst
}

// makeParams returns the parameters of a property: ENCODING=b and the
// image format of a 3.0 PHOTO, the valid types in lower case, and the
// preferred flag.
func makeParams(v3 bool, format string, types []string, pref bool) vcard.Params {
	params := make(vcard.Params, 2)
	if format != "" && v3 {
		params["ENCODING"] = []string{"b"}
		params.Add(vcard.ParamType, format)
	}
	for _, t := range types {
		if t = strings.ToLower(t); validType(t) {
			params.Add(vcard.ParamType, t)
		}
	}
	if pref {
		if v3 {
			params.Add(vcard.ParamType, "pref")
		} else {
			params.Add(vcard.ParamPreferred, "1")
		}
	}
	if len(params) == 0 {
		return nil
	}
	return params
}

// paramCache holds the Params of the combinations of version, photo
// format, types and preferred flag seen, for Encode: a book's fields
// have a few such combinations, so cards share them.
var paramCache struct {
	sync.RWMutex
	m map[string]vcard.Params
}

// maxCachedParams bounds paramCache; other combinations are made for
// each card.
const maxCachedParams = 512

// sharedParams returns makeParams(v3, format, types, pref) from
// paramCache. The result must not be changed.
func (b *cardBuilder) sharedParams(v3 bool, format string, types []string, pref bool) vcard.Params {
	// Cards ask for their combinations in the same order card after
	// card: the search starts after the last one found.
	for k := range b.seen {
		i := b.seenNext + k
		if i >= len(b.seen) {
			i -= len(b.seen)
		}
		if sp := &b.seen[i]; sp.v3 == v3 && sp.pref == pref && sp.format == format && slices.Equal(sp.types, types) {
			b.seenNext = i + 1
			return sp.params
		}
	}
	params := b.cachedParams(v3, format, types, pref)
	if len(b.seen) < maxSeen {
		b.seen = append(b.seen, seenParams{v3: v3, pref: pref, format: format, types: slices.Clone(types), params: params})
	}
	return params
}

// cachedParams returns makeParams(v3, format, types, pref) from
// paramCache.
func (b *cardBuilder) cachedParams(v3 bool, format string, types []string, pref bool) vcard.Params {
	// The key: version, flag, then format and types, each after its
	// length, so that no two combinations share a key.
	k := append(b.key[:0], '4', 0)
	if v3 {
		k[0] = '3'
	}
	if pref {
		k[1] = 1
	}
	k = binary.AppendUvarint(k, uint64(len(format)))
	k = append(k, format...)
	for _, t := range types {
		k = binary.AppendUvarint(k, uint64(len(t)))
		k = append(k, t...)
	}
	b.key = k
	paramCache.RLock()
	params, ok := paramCache.m[string(k)]
	paramCache.RUnlock()
	if ok {
		return params
	}
	params = makeParams(v3, format, types, pref)
	paramCache.Lock()
	if paramCache.m == nil {
		paramCache.m = make(map[string]vcard.Params)
	}
	if len(paramCache.m) < maxCachedParams {
		paramCache.m[string(k)] = params
	}
	paramCache.Unlock()
	return params
}

// appendStructured appends the cleaned components of N, ORG or ADR,
// joined with ';', to dst. N always has its five components, ADR its
// seven. It appends nothing when every component is empty.
func appendStructured(dst []byte, name string, comps []string) []byte {
	n := len(comps)
	switch name {
	case vcard.FieldName:
		n = maxNParts
	case vcard.FieldAddress:
		n = maxADRParts
	}
	start := len(dst)
	empty := true
	for i := range n {
		if i > 0 {
			dst = append(dst, ';')
		}
		if i < len(comps) {
			c := cleanComponent(comps[i])
			dst = append(dst, c...)
			empty = empty && c == ""
		}
	}
	if empty {
		return dst[:start]
	}
	return dst
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
// VERSION. Lines are not folded: go-vcard does not fold, and vCard
// parsers read lines of any length. The output is the same bytes for
// the same card. Commas in URI values (URL, IMPP, the data: URI of a 4.0
// PHOTO) are written as they are: a URI is not text and clients do not
// unescape it.
func Encode(c *dirbook.Card, version string) ([]byte, error) {
	if version != "3.0" && version != "4.0" {
		return nil, fmt.Errorf("mapping: unsupported vcard version %q", version)
	}
	if c == nil {
		return nil, errors.New("mapping: encode nil card")
	}
	b := builders.Get().(*cardBuilder)
	defer b.release()
	b.build(c, version, true)
	b.buf.Grow(encodedSize(c))
	if err := vcard.NewEncoder(&b.buf).Encode(b.card); err != nil {
		return nil, fmt.Errorf("mapping: encode card %s: %w", c.UID, err)
	}
	out := b.buf.Bytes()
	if b.uriComma {
		out = unescapeURIs(out)
	}
	return bytes.Clone(out), nil
}

var builders = sync.Pool{New: func() any { return new(cardBuilder) }}

// maxPooledBuffer bounds the buffer a pooled cardBuilder keeps: a card
// with a large photo does not pin its size.
const maxPooledBuffer = 64 << 10

func (b *cardBuilder) release() {
	b.reset()
	if b.buf.Cap() <= maxPooledBuffer && cap(b.text) <= maxPooledBuffer && cap(b.lines) <= 256 {
		builders.Put(b)
	}
}

// encodedSize estimates the size of c encoded.
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

var escComma = []byte(`\,`)

// uriProps names the properties whose values are URIs, not text, in the
// vCards Encode writes: PHOTO (a data: URI in 4.0, base64 in 3.0), URL and
// IMPP.
var uriProps = [][]byte{[]byte("PHOTO"), []byte("URL"), []byte("IMPP")}

// unescapeURIs undoes, in place, go-vcard's escaping of commas in the URI
// values of the lines in raw (go-vcard escapes commas in every value, but
// clients take a URI's bytes as they are). Those values hold no
// backslash (base64 has none, VCard encodes it in a URL), so every `\,`
// in them is an escaped comma.
func unescapeURIs(raw []byte) []byte {
	if !bytes.Contains(raw, escComma) {
		return raw
	}
	out := raw[:0] // never ahead of the line being read
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n') + 1
		if i == 0 {
			i = len(raw)
		}
		line := raw[:i]
		raw = raw[i:]
		if !isURIProp(line) {
			out = append(out, line...)
			continue
		}
		for {
			j := bytes.Index(line, escComma)
			if j < 0 {
				break
			}
			out = append(out, line[:j]...)
			line = line[j+1:] // drop the backslash
		}
		out = append(out, line...)
	}
	return out
}

// uriProp reports whether the property name is one of uriProps.
func uriProp(name string) bool {
	return name == vcard.FieldPhoto || name == vcard.FieldURL || name == vcard.FieldIMPP
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
