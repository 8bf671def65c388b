package ldap

import (
	"bytes"
	"cmp"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"strings"
)

// entryUUID is the RFC 4530 entryUUID of an entry, the identifier content
// sync names entries by.
type entryUUID [16]byte

// String returns the RFC 4122 string form, in lower case, as slapd writes
// the entryUUID attribute.
func (u entryUUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// parseEntryUUID parses the string form of an entryUUID.
func parseEntryUUID(s string) (entryUUID, bool) {
	var u entryUUID
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return u, false
	}
	if _, err := hex.Decode(u[:], []byte(s)); err != nil {
		return u, false
	}
	return u, true
}

// groupSnap is what a content-sync feed keeps of a group entry: enough to
// resolve memberships, and to know whom a change of the group concerns.
type groupSnap struct {
	dn      string   // in the form of canonicalDN
	members []string // values of member and uniqueMember (without #'…'B), in the form of canonicalDN, sorted
	uids    []string // values of memberUid, in lower case, sorted
}

func (g *groupSnap) equal(o *groupSnap) bool {
	return g.dn == o.dn && slices.Equal(g.members, o.members) && slices.Equal(g.uids, o.uids)
}

// syncState is what a content-sync feed knows between two polls. It is
// handed to the caller encoded (see encode) and comes back with the next
// Poll or Watch.
type syncState struct {
	// config is the fingerprint of the settings that decide what the feed
	// reports; a state of other settings is not used.
	config [16]byte
	// peopleCookie and groupCookie are the last sync cookies of the
	// search for people and of the search for groups.
	peopleCookie, groupCookie []byte
	// people maps the entryUUID of every person reported so far to the ID
	// the person was reported with, stored as person and setPerson say.
	// Deletions name entryUUIDs; this turns them into IDs, and keeps
	// deletions of entries the feed never reported from being passed on.
	people map[entryUUID]string
	// groups are the group entries below the group base.
	groups map[entryUUID]*groupSnap
	// peopleEnc and groupsEnc are the encoded sections of people and
	// groups; nil when they changed since they were encoded.
	peopleEnc, groupsEnc []byte
}

func newSyncState(config [16]byte) *syncState {
	return &syncState{config: config, people: map[entryUUID]string{}, groups: map[entryUUID]*groupSnap{}}
}

// noID is how people keeps the ID of a person reported without one
// (invalid); "" stands for the string form of the person's entryUUID, the
// usual ID, which is thus not kept a hundred thousand times.
const noID = "\x00"

// person returns the ID the person with the entryUUID u was reported with,
// and whether they were reported.
func (st *syncState) person(u entryUUID) (string, bool) {
	id, ok := st.people[u]
	switch {
	case !ok:
		return "", false
	case id == "":
		return u.String(), true
	case id == noID:
		return "", true
	}
	return id, true
}

// setPerson records that the person with the entryUUID u was reported
// with the ID id.
func (st *syncState) setPerson(u entryUUID, id string) {
	stored := id
	switch {
	case id == "":
		stored = noID
	case id == u.String():
		stored = ""
	}
	if old, ok := st.people[u]; !ok || old != stored {
		st.people[u] = stored
		st.peopleEnc = nil
	}
}

func (st *syncState) dropPerson(u entryUUID) {
	delete(st.people, u)
	st.peopleEnc = nil
}

func (st *syncState) setGroup(u entryUUID, g *groupSnap) {
	st.groups[u] = g
	st.groupsEnc = nil
}

func (st *syncState) dropGroup(u entryUUID) {
	delete(st.groups, u)
	st.groupsEnc = nil
}

// stateMagic starts every encoded state; the byte after it is the format
// version.
const (
	stateMagic   = "dirbook-syncrepl"
	stateVersion = 2
)

// The encoded state is stateMagic, the version byte, then three sections:
// the header, the people and the groups. A section is a uvarint length and
// that many bytes: a DEFLATE stream of the section's payload followed by
// the CRC-32 (IEEE) of the payload, big-endian. The sections are separate
// so that an unchanged one is not encoded again. In the payloads, strings
// and byte strings are a uvarint length and the bytes, and counts are
// uvarints:
//
//	header: config (16 bytes), people cookie, group cookie
//	people: count, then each person: entryUUID (16 bytes), then 0 when
//	  the ID is the entryUUID's string form, or 1 and the ID
//	groups: count, then each group: entryUUID (16 bytes), DN, count and
//	  values of members, count and values of memberUids
//
// People and groups are in the order of their entryUUIDs, so equal states
// encode equally.
func (st *syncState) encode() []byte {
	if st.peopleEnc == nil {
		w := newStateWriter(len(st.people) * 18)
		w.uvarint(uint64(len(st.people)))
		for _, u := range sortedUUIDs(st.people) {
			w.raw(u[:])
			if id, _ := st.person(u); id == u.String() {
				w.uvarint(0)
			} else {
				w.uvarint(1)
				w.string(id)
			}
		}
		st.peopleEnc = compressSection(w.w.Bytes())
	}
	if st.groupsEnc == nil {
		w := newStateWriter(0)
		w.uvarint(uint64(len(st.groups)))
		for _, u := range sortedUUIDs(st.groups) {
			g := st.groups[u]
			w.raw(u[:])
			w.string(g.dn)
			w.strings(g.members)
			w.strings(g.uids)
		}
		st.groupsEnc = compressSection(w.w.Bytes())
	}
	h := newStateWriter(0)
	h.raw(st.config[:])
	h.bytes(st.peopleCookie)
	h.bytes(st.groupCookie)
	header := compressSection(h.w.Bytes())

	out := make([]byte, 0, len(stateMagic)+1+3*binary.MaxVarintLen64+len(header)+len(st.peopleEnc)+len(st.groupsEnc))
	out = append(out, stateMagic...)
	out = append(out, stateVersion)
	for _, sec := range [][]byte{header, st.peopleEnc, st.groupsEnc} {
		out = binary.AppendUvarint(out, uint64(len(sec)))
		out = append(out, sec...)
	}
	return out
}

// compressSection returns the section of payload.
func compressSection(payload []byte) []byte {
	var out bytes.Buffer
	fw, _ := flate.NewWriter(&out, flate.BestSpeed) // the level is valid
	fw.Write(payload)
	binary.Write(fw, binary.BigEndian, crc32.ChecksumIEEE(payload))
	fw.Close()
	return out.Bytes()
}

var errBadState = errors.New("ldap: change feed state does not decode")

// decodeSyncState decodes a state encode wrote.
func decodeSyncState(b []byte) (*syncState, error) {
	rest, ok := bytes.CutPrefix(b, []byte(stateMagic))
	if !ok || len(rest) == 0 {
		return nil, fmt.Errorf("%w: not a content sync state", errBadState)
	}
	if rest[0] != stateVersion {
		return nil, fmt.Errorf("%w: version %d", errBadState, rest[0])
	}
	rest = rest[1:]
	var secs [3][]byte
	var payloads [3]*stateReader
	for i := range secs {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, fmt.Errorf("%w: section %d is cut short", errBadState, i)
		}
		secs[i] = bytes.Clone(rest[k : k+int(n)])
		rest = rest[k+int(n):]
		raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(secs[i])))
		if err != nil || len(raw) < 4 {
			return nil, fmt.Errorf("%w: section %d: %v", errBadState, i, cmp.Or(err, io.ErrUnexpectedEOF))
		}
		payload, sum := raw[:len(raw)-4], raw[len(raw)-4:]
		if crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(sum) {
			return nil, fmt.Errorf("%w: section %d: checksum mismatch", errBadState, i)
		}
		payloads[i] = &stateReader{r: bytes.NewReader(payload)}
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errBadState)
	}

	st := &syncState{peopleEnc: secs[1], groupsEnc: secs[2]}
	h := payloads[0]
	h.raw(st.config[:])
	st.peopleCookie = h.bytes()
	st.groupCookie = h.bytes()

	r := payloads[1]
	n := r.count()
	st.people = make(map[entryUUID]string, n)
	for range n {
		var u entryUUID
		r.raw(u[:])
		stored := ""
		if r.uvarint() != 0 {
			if stored = r.string(); stored == "" {
				stored = noID
			}
		}
		st.people[u] = stored
	}

	g := payloads[2]
	n = g.count()
	st.groups = make(map[entryUUID]*groupSnap, n)
	for range n {
		var u entryUUID
		g.raw(u[:])
		st.groups[u] = &groupSnap{dn: g.string(), members: g.strings(), uids: g.strings()}
	}
	for i, r := range payloads {
		if r.err == nil && r.r.Len() != 0 {
			r.err = errors.New("trailing bytes")
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", errBadState, i, r.err)
		}
	}
	return st, nil
}

func sortedUUIDs[V any](m map[entryUUID]V) []entryUUID {
	keys := make([]entryUUID, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUUID)
	return keys
}

func compareUUID(a, b entryUUID) int { return bytes.Compare(a[:], b[:]) }

type stateWriter struct {
	w   *bytes.Buffer
	buf [binary.MaxVarintLen64]byte
}

func newStateWriter(size int) *stateWriter {
	return &stateWriter{w: bytes.NewBuffer(make([]byte, 0, size))}
}

func (w *stateWriter) raw(b []byte) { w.w.Write(b) }

func (w *stateWriter) uvarint(v uint64) { w.w.Write(binary.AppendUvarint(w.buf[:0], v)) }

func (w *stateWriter) bytes(b []byte) {
	w.uvarint(uint64(len(b)))
	w.w.Write(b)
}

func (w *stateWriter) string(s string) {
	w.uvarint(uint64(len(s)))
	w.w.WriteString(s)
}

func (w *stateWriter) strings(ss []string) {
	w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.string(s)
	}
}

// stateReader reads what stateWriter wrote; the first error sticks and
// makes every later read return zero values.
type stateReader struct {
	r   *bytes.Reader
	err error
}

func (r *stateReader) raw(b []byte) {
	if r.err == nil {
		_, r.err = io.ReadFull(r.r, b)
	}
}

func (r *stateReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(r.r)
	r.err = err
	return v
}

// count reads a count of items or bytes. Every item takes a byte at
// least, so a count beyond what is left is corrupt; refusing it keeps a
// corrupt state from making the reader allocate much.
func (r *stateReader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(r.r.Len()) {
		r.err = fmt.Errorf("count %d exceeds the %d bytes left", n, r.r.Len())
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *stateReader) bytes() []byte {
	n := r.count()
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	r.raw(b)
	if r.err != nil {
		return nil
	}
	return b
}

func (r *stateReader) string() string { return string(r.bytes()) }

func (r *stateReader) strings() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.string())
		if r.err != nil {
			return nil
		}
	}
	return out
}

// feedConfig returns the fingerprint of the settings that decide what a
// content-sync feed of s reports: a state written under other settings
// describes other people and is not used.
func (s *Source) feedConfig() [16]byte {
	sum := s.configHash("syncrepl", s.url, s.base, strconv.Itoa(s.scope), s.filter, s.groupBase, s.groupFilter, s.idAttr)
	return [16]byte(sum[:16])
}

// configHash returns the SHA-256 of fields and of the names of the
// attributes read of people, lower-cased and sorted, each preceded by its
// length: the fingerprint of the settings a change feed's state was made
// under.
func (s *Source) configHash(fields ...string) [sha256.Size]byte {
	attrs := make([]string, len(s.attrs))
	for i, a := range s.attrs {
		attrs[i] = strings.ToLower(a)
	}
	slices.Sort(attrs)
	h := sha256.New()
	for _, p := range append(fields, attrs...) {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return [sha256.Size]byte(h.Sum(nil))
}
