package ldap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// This file decodes the messages that answer a search (RFC 4511 section
// 4.5.2) straight from their bytes. go-ldap decodes every message into a
// tree of packets, with several allocations for each attribute value;
// reading a large directory that way took several times longer than the
// server needed to send it. Here an entry costs a few allocations in all:
// one string holds its DN and values, which the entry's strings share.
//
// Only the definite length form is accepted (RFC 4511 section 5.1), lengths
// must fit the element that holds them, and a message read from a
// connection is allocated as its bytes arrive, never from its length field
// alone, so a hostile server makes the client allocate no more than it
// sends.

// BER tags of the elements decoded here.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagSequence    = 0x30
	tagSet         = 0x31
	tagSearchEntry = 0x64 // [APPLICATION 4], constructed
	tagSearchDone  = 0x65 // [APPLICATION 5], constructed
	tagExtendedRes = 0x78 // [APPLICATION 24], constructed
	tagSearchRef   = 0x73 // [APPLICATION 19], constructed
)

// maxMessage is the largest message a connection accepts: room for an
// entry with large photos, or a group of a million members.
const maxMessage = 256 << 20

// maxDepth is how deep constructed elements may nest in a message handed
// to asn1-ber.
const maxDepth = 32

// errMalformed is wrapped by the errors of messages that do not decode.
var errMalformed = errors.New("malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// element reads the header of the element of b that starts at off and must
// end by end. It returns the element's tag and the bounds of its content,
// b[start:stop]; the next element starts at stop.
func element(b []byte, off, end int) (tag byte, start, stop int, err error) {
	if off >= end {
		return 0, 0, 0, malformed("element missing")
	}
	tag = b[off]
	if tag&0x1f == 0x1f {
		return 0, 0, 0, malformed("tag number above 30")
	}
	off++
	if off >= end {
		return 0, 0, 0, malformed("length missing")
	}
	n := uint64(b[off])
	off++
	if n&0x80 != 0 {
		k := int(n & 0x7f)
		switch {
		case k == 0:
			return 0, 0, 0, malformed("indefinite length")
		case k > 4:
			return 0, 0, 0, malformed("length of %d bytes", k)
		case end-off < k:
			return 0, 0, 0, malformed("length cut short")
		}
		n = 0
		for _, c := range b[off : off+k] {
			n = n<<8 | uint64(c)
		}
		off += k
	}
	if n > uint64(end-off) {
		return 0, 0, 0, malformed("length %d exceeds the %d bytes left", n, end-off)
	}
	return tag, off, off + int(n), nil
}

// expect reads the element at off like element, which must have the tag
// want.
func expect(b []byte, off, end int, want byte) (start, stop int, err error) {
	tag, start, stop, err := element(b, off, end)
	if err != nil {
		return 0, 0, err
	}
	if tag != want {
		return 0, 0, malformed("tag %#x, want %#x", tag, want)
	}
	return start, stop, nil
}

// integer decodes the content of an INTEGER or ENUMERATED of at most 8
// bytes, two's complement.
func integer(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, malformed("integer of %d bytes", len(c))
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// envelope decodes the frame of an LDAPMessage: b holds exactly one
// SEQUENCE of a messageID and a protocolOp. It returns the message ID, the
// protocolOp's tag and the bounds of its content. Controls after the
// protocolOp are not looked at.
func envelope(b []byte) (id int64, op byte, start, stop int, err error) {
	s, e, err := expect(b, 0, len(b), tagSequence)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if e != len(b) {
		return 0, 0, 0, 0, malformed("%d bytes after the message", len(b)-e)
	}
	is, ie, err := expect(b, s, e, tagInteger)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("message ID: %w", err)
	}
	if id, err = integer(b[is:ie]); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("message ID: %w", err)
	}
	op, start, stop, err = element(b, ie, e)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("protocol operation: %w", err)
	}
	return id, op, start, stop, nil
}

// decodeEntry decodes the content b[start:stop] of a SearchResultEntry:
//
//	SearchResultEntry ::= [APPLICATION 4] SEQUENCE {
//	     objectName      LDAPDN,
//	     attributes      PartialAttributeList }
//	PartialAttributeList ::= SEQUENCE OF partialAttribute PartialAttribute
//	PartialAttribute ::= SEQUENCE {
//	     type       AttributeDescription,
//	     vals       SET OF value AttributeValue }
//
// Every value is a string of its own, so that a value kept (in a card)
// keeps no more of the entry alive; attribute names are interned. The
// slices of an entry are allocated once for all its attributes. ByteValues
// are left nil: they would double the memory for the same bytes (use
// rawValue).
func decodeEntry(b []byte, start, stop int) (*goldap.Entry, error) {
	// First check the structure and count, so that the second pass can
	// fill slices of the right size.
	dnStart, dnStop, err := expect(b, start, stop, tagOctetString)
	if err != nil {
		return nil, fmt.Errorf("entry DN: %w", err)
	}
	ls, le, err := expect(b, dnStop, stop, tagSequence)
	if err != nil {
		return nil, fmt.Errorf("attribute list: %w", err)
	}
	if err := checkTree(b, le, stop, maxDepth); err != nil {
		return nil, fmt.Errorf("after the attribute list: %w", err)
	}
	nattrs, nvals := 0, 0
	for off := ls; off < le; {
		as, ae, err := expect(b, off, le, tagSequence)
		if err != nil {
			return nil, fmt.Errorf("attribute %d: %w", nattrs, err)
		}
		_, te, err := expect(b, as, ae, tagOctetString)
		if err != nil {
			return nil, fmt.Errorf("attribute %d type: %w", nattrs, err)
		}
		vs, ve, err := expect(b, te, ae, tagSet)
		if err != nil {
			return nil, fmt.Errorf("attribute %d values: %w", nattrs, err)
		}
		if err := checkTree(b, ve, ae, maxDepth); err != nil {
			return nil, fmt.Errorf("attribute %d: after the values: %w", nattrs, err)
		}
		for v := vs; v < ve; nvals++ {
			if _, v, err = expect(b, v, ve, tagOctetString); err != nil {
				return nil, fmt.Errorf("attribute %d value %d: %w", nattrs, nvals, err)
			}
		}
		nattrs++
		off = ae
	}

	// Every element has a header of at least 2 bytes, so these sizes are
	// bounded by the message's.
	values := make([]string, nvals)
	attrs := make([]goldap.EntryAttribute, nattrs)
	ptrs := make([]*goldap.EntryAttribute, nattrs)
	e := &goldap.Entry{DN: string(b[dnStart:dnStop]), Attributes: ptrs}
	i, j := 0, 0
	for off := ls; off < le; i++ {
		as, ae, _ := expect(b, off, le, tagSequence)
		ts, te, _ := expect(b, as, ae, tagOctetString)
		vs, ve, _ := expect(b, te, ae, tagSet)
		first := j
		for v := vs; v < ve; j++ {
			var s int
			s, v, _ = expect(b, v, ve, tagOctetString)
			values[j] = string(b[s:v])
		}
		// Capacities end at the attribute's last value, so that an
		// append to one attribute never writes into the next.
		attrs[i] = goldap.EntryAttribute{Name: internName(b[ts:te]), Values: values[first:j:j]}
		ptrs[i] = &attrs[i]
		off = ae
	}
	return e, nil
}

// names interns attribute names as servers send them: every entry of a
// search repeats the same dozen.
var names struct {
	sync.RWMutex
	m map[string]string
}

// internName returns b as a string, the same string for the same name.
func internName(b []byte) string {
	names.RLock()
	name, ok := names.m[string(b)]
	names.RUnlock()
	if ok {
		return name
	}
	name = string(b)
	names.Lock()
	if names.m == nil {
		names.m = map[string]string{}
	}
	if len(names.m) < maxAttrKeys {
		names.m[name] = name
	}
	names.Unlock()
	return name
}

// rawValue returns the first value of the attribute name of e as bytes,
// for entries decoded here as for go-ldap's. Absent or empty, it is empty.
func rawValue(e *goldap.Entry, name string) []byte {
	return []byte(e.GetAttributeValue(name))
}

// decodeReference returns the first URI of the content b[start:stop] of a
// SearchResultReference, as go-ldap does.
func decodeReference(b []byte, start, stop int) (string, error) {
	s, e, err := expect(b, start, stop, tagOctetString)
	if err != nil {
		return "", fmt.Errorf("search reference: %w", err)
	}
	return string(b[s:e]), nil
}

// result holds an LDAPResult's fields that searches report.
type result struct {
	code uint16
	diag string
}

// decodeResult decodes the first fields of the LDAPResult in the content
// b[start:stop] of a SearchResultDone or ExtendedResponse.
func decodeResult(b []byte, start, stop int) (result, error) {
	cs, ce, err := expect(b, start, stop, tagEnumerated)
	if err != nil {
		return result{}, fmt.Errorf("result code: %w", err)
	}
	code, err := integer(b[cs:ce])
	if err != nil {
		return result{}, fmt.Errorf("result code: %w", err)
	}
	if code < 0 || code > 0xffff {
		return result{}, malformed("result code %d", code)
	}
	_, me, err := expect(b, ce, stop, tagOctetString)
	if err != nil {
		return result{}, fmt.Errorf("matched DN: %w", err)
	}
	ds, de, err := expect(b, me, stop, tagOctetString)
	if err != nil {
		return result{}, fmt.Errorf("diagnostic message: %w", err)
	}
	return result{code: uint16(code), diag: string(b[ds:de])}, nil
}

// checkTree checks that every element of b[off:end] and, recursively, of
// every constructed one, has a definite length inside its parent, with
// no more than depth levels of nesting.
func checkTree(b []byte, off, end, depth int) error {
	if depth == 0 {
		return malformed("nested more than %d levels", maxDepth)
	}
	for off < end {
		tag, s, e, err := element(b, off, end)
		if err != nil {
			return err
		}
		if tag == 0 {
			return malformed("end-of-contents in an element of definite length")
		}
		if tag&0x20 != 0 {
			if err := checkTree(b, s, e, depth-1); err != nil {
				return err
			}
		}
		off = e
	}
	return nil
}

// decodePacket decodes a whole message with asn1-ber, for go-ldap's
// functions that take packets, once checkTree has accepted it.
func decodePacket(b []byte) (p *ber.Packet, err error) {
	if err := checkTree(b, 0, len(b), maxDepth); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, malformed("asn1-ber: %v", r)
		}
	}()
	p, err = ber.DecodePacketErr(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return p, nil
}

// decodeDone completes res from the SearchResultDone message b, whose
// content is b[start:stop]: its result code, diagnostic message and
// controls. The error is go-ldap's for the result, so that callers tell
// result codes apart with goldap.IsErrorWithCode as before.
func decodeDone(b []byte, start, stop int, res *goldap.SearchResult) error {
	r, err := decodeResult(b, start, stop)
	if err != nil {
		return fmt.Errorf("search result: %w", err)
	}
	res.ResultCode, res.DiagnosticMessage = r.code, r.diag
	p, err := decodePacket(b)
	if err != nil {
		return fmt.Errorf("search result: %w", err)
	}
	if err := goldap.GetLDAPError(p); err != nil {
		return err
	}
	if len(p.Children) > 2 {
		for _, child := range p.Children[2].Children {
			c, err := goldap.DecodeControl(child)
			if err != nil {
				return fmt.Errorf("failed to decode child control: %w", err)
			}
			res.Controls = append(res.Controls, c)
		}
	}
	return nil
}

// decodeSearch adds the message b, one of the answers to a search, to res.
// done is true when b ends the search (SearchResultDone); err is not nil
// when b does not decode, or when the search failed. Messages of other
// kinds are ignored, as go-ldap does.
func decodeSearch(b []byte, res *goldap.SearchResult) (done bool, err error) {
	_, op, start, stop, err := envelope(b)
	if err != nil {
		return true, err
	}
	// Controls may follow the operation; they are not looked at, but
	// must be well formed like the rest.
	if err := checkTree(b, stop, len(b), maxDepth); err != nil {
		return true, fmt.Errorf("controls: %w", err)
	}
	switch op {
	case tagSearchEntry:
		e, err := decodeEntry(b, start, stop)
		if err != nil {
			return true, err
		}
		res.Entries = append(res.Entries, e)
	case tagSearchRef:
		ref, err := decodeReference(b, start, stop)
		if err != nil {
			return true, err
		}
		res.Referrals = append(res.Referrals, ref)
	case tagSearchDone:
		return true, decodeDone(b, start, stop, res)
	}
	return false, nil
}

// messageReader reads LDAP messages from a stream.
type messageReader interface {
	io.Reader
	io.ByteReader
}

// readMessage reads one LDAPMessage, a SEQUENCE, whole from r. Up to a
// mebibyte is allocated at once; beyond that the buffer grows with the
// bytes that arrive. A message larger than maxMessage is an error.
func readMessage(r messageReader) ([]byte, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, err // io.EOF between messages: the connection closed
	}
	if tag != tagSequence {
		return nil, malformed("message starts with tag %#x", tag)
	}
	var hb [6]byte
	hdr := append(hb[:0], tag)
	b, err := r.ReadByte()
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	hdr = append(hdr, b)
	n := int(b)
	if b&0x80 != 0 {
		k := int(b & 0x7f)
		if k == 0 || k > 4 {
			return nil, malformed("message length of form %#x", b)
		}
		n = 0
		for range k {
			c, err := r.ReadByte()
			if err != nil {
				return nil, unexpectedEOF(err)
			}
			hdr = append(hdr, c)
			n = n<<8 | int(c)
		}
	}
	if n > maxMessage {
		return nil, malformed("message of %d bytes, more than %d", n, maxMessage)
	}
	total := len(hdr) + n
	const step = 1 << 20
	buf := make([]byte, len(hdr), min(total, len(hdr)+step))
	copy(buf, hdr)
	for len(buf) < total {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(total, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < total {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// byteReader reads a stream one byte or one exact slice at a time, with
// no buffer: after a message, nothing of what follows has been consumed.
type byteReader struct{ r io.Reader }

func (b byteReader) Read(p []byte) (int, error) { return io.ReadFull(b.r, p) }

func (b byteReader) ReadByte() (byte, error) {
	var c [1]byte
	_, err := io.ReadFull(b.r, c[:])
	return c[0], err
}

var _ messageReader = (*bufio.Reader)(nil)
