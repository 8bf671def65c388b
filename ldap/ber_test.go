package ldap

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/dirbook/dirbook/internal/slapdtest"
	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

var update = flag.Bool("update", false, "rewrite the seed corpus of FuzzDecodeSearchResult, captured from slapd")

// attr is an attribute of an entry a test encodes.
type attr struct {
	name string
	vals []string
}

// encodeMessage encodes an LDAPMessage of the protocol operation op, with
// controls if any.
func encodeMessage(id int64, op *ber.Packet, controls ...goldap.Control) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	msg.AppendChild(op)
	if len(controls) > 0 {
		c := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, ctrl := range controls {
			c.AppendChild(ctrl.Encode())
		}
		msg.AppendChild(c)
	}
	return msg.Bytes()
}

func entryOp(dn string, attrs ...attr) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultEntry, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range attrs {
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range a.vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		pa.AppendChild(set)
		list.AppendChild(pa)
	}
	op.AppendChild(list)
	return op
}

func resultOp(app ber.Tag, code int64, matched, diag string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, app, nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, matched, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, ""))
	return op
}

func doneOp(code int64, matched, diag string) *ber.Packet {
	return resultOp(goldap.ApplicationSearchResultDone, code, matched, diag)
}

func referenceOp(uris ...string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultReference, nil, "")
	for _, u := range uris {
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, u, ""))
	}
	return op
}

func entry(dn string, attrs ...attr) *goldap.Entry {
	e := &goldap.Entry{DN: dn, Attributes: []*goldap.EntryAttribute{}}
	for _, a := range attrs {
		e.Attributes = append(e.Attributes, &goldap.EntryAttribute{Name: a.name, Values: a.vals})
	}
	return e
}

func TestDecodeSearch(t *testing.T) {
	long := strings.Repeat("x", 70000) // a length of three bytes
	paging := goldap.NewControlPaging(100)
	paging.SetCookie([]byte("cookie\x00\xff"))
	tests := []struct {
		name     string
		msg      []byte
		done     bool
		entries  []*goldap.Entry
		refs     []string
		controls []goldap.Control
		code     uint16
		wantErr  func(error) bool // nil: no error
	}{
		{
			name: "entry",
			msg: encodeMessage(7, entryOp("uid=anna,ou=people,dc=example,dc=com",
				attr{"objectClass", []string{"inetOrgPerson", "top"}},
				attr{"cn", []string{"Anna Schmidt"}},
				attr{"jpegPhoto", []string{"\xff\xd8\xff\x00\x01"}},
				attr{"description", []string{}})),
			entries: []*goldap.Entry{entry("uid=anna,ou=people,dc=example,dc=com",
				attr{"objectClass", []string{"inetOrgPerson", "top"}},
				attr{"cn", []string{"Anna Schmidt"}},
				attr{"jpegPhoto", []string{"\xff\xd8\xff\x00\x01"}},
				attr{"description", []string{}})},
		},
		{
			name:    "entry without attributes",
			msg:     encodeMessage(7, entryOp("dc=example,dc=com")),
			entries: []*goldap.Entry{entry("dc=example,dc=com")},
		},
		{
			name:    "long value",
			msg:     encodeMessage(7, entryOp("cn=x", attr{"description", []string{long, ""}})),
			entries: []*goldap.Entry{entry("cn=x", attr{"description", []string{long, ""}})},
		},
		{
			name: "reference",
			msg:  encodeMessage(7, referenceOp("ldap://other.example/ou=x,dc=example,dc=com", "ldap://third.example/")),
			refs: []string{"ldap://other.example/ou=x,dc=example,dc=com"},
		},
		{
			name: "intermediate response",
			msg:  encodeMessage(7, ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationIntermediateResponse, nil, "")),
		},
		{
			name:     "done with paging",
			msg:      encodeMessage(7, doneOp(0, "", ""), paging),
			done:     true,
			controls: []goldap.Control{paging},
		},
		{
			name: "done with size limit exceeded",
			msg:  encodeMessage(7, doneOp(4, "", "too many")),
			done: true,
			code: 4,
			wantErr: func(err error) bool {
				return goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) && describe(err).Error() == "Size Limit Exceeded: too many"
			},
		},
		{
			name: "done with no such object",
			msg:  encodeMessage(7, doneOp(32, "dc=example,dc=com", "")),
			done: true,
			code: 32,
			wantErr: func(err error) bool {
				var lerr *goldap.Error
				return errors.As(err, &lerr) && lerr.ResultCode == 32 && lerr.MatchedDN == "dc=example,dc=com"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &goldap.SearchResult{}
			done, err := decodeSearch(tt.msg, res)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !tt.wantErr(err) {
				t.Fatalf("decodeSearch error = %v", err)
			}
			if done != tt.done {
				t.Errorf("decodeSearch done = %v, want %v", done, tt.done)
			}
			if !reflect.DeepEqual(res.Entries, tt.entries) {
				t.Errorf("decodeSearch entries = %v, want %v", dumpEntries(res.Entries), dumpEntries(tt.entries))
			}
			if !reflect.DeepEqual(res.Referrals, tt.refs) {
				t.Errorf("decodeSearch referrals = %q, want %q", res.Referrals, tt.refs)
			}
			if got, want := fmt.Sprint(res.Controls), fmt.Sprint(tt.controls); got != want {
				t.Errorf("decodeSearch controls = %s, want %s", got, want)
			}
			if res.ResultCode != tt.code {
				t.Errorf("decodeSearch result code = %d, want %d", res.ResultCode, tt.code)
			}
		})
	}
}

func dumpEntries(es []*goldap.Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "{%q", e.DN)
		for _, a := range e.Attributes {
			fmt.Fprintf(&b, " %s=%q", a.Name, a.Values)
		}
		b.WriteString("}")
	}
	return b.String()
}

func TestDecodeSearchMalformed(t *testing.T) {
	valid := encodeMessage(3, entryOp("cn=a,dc=example", attr{"cn", []string{"a", "b"}}, attr{"sn", []string{"c"}}))
	// Every proper prefix of a message is malformed.
	for n := range len(valid) {
		if _, err := decodeSearch(valid[:n], &goldap.SearchResult{}); !errors.Is(err, errMalformed) {
			t.Errorf("decodeSearch(%x) error = %v, want malformed", valid[:n], err)
		}
	}
	tests := []struct {
		name string
		msg  []byte
	}{
		{"indefinite length", []byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x64, 0x00, 0x00, 0x00}},
		{"length of five bytes", []byte{0x30, 0x85, 0, 0, 0, 0, 5, 0x02, 0x01, 0x01, 0x64, 0x00}},
		{"length beyond the message", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01}},
		{"bytes after the message", append(bytes.Clone(valid), 0)},
		{"not a sequence", append([]byte{0x31}, valid[1:]...)},
		{"message ID not an integer", []byte{0x30, 0x05, 0x04, 0x01, 0x01, 0x64, 0x00}},
		{"empty message ID", []byte{0x30, 0x04, 0x02, 0x00, 0x64, 0x00}},
		{"message ID of nine bytes", []byte{0x30, 0x0d, 0x02, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x64, 0x00}},
		{"no operation", []byte{0x30, 0x03, 0x02, 0x01, 0x01}},
		{"entry without attribute list", []byte{0x30, 0x08, 0x02, 0x01, 0x01, 0x64, 0x03, 0x04, 0x01, 'x'}},
		{"DN not a string", []byte{0x30, 0x0a, 0x02, 0x01, 0x01, 0x64, 0x05, 0x02, 0x01, 'x', 0x30, 0x00}},
		{"multi-byte tag", []byte{0x30, 0x0b, 0x02, 0x01, 0x01, 0x64, 0x06, 0x1f, 0x81, 0x01, 0x00, 0x30, 0x00}},
		{"value not a string", []byte{0x30, 0x14, 0x02, 0x01, 0x01, 0x64, 0x0f, 0x04, 0x01, 'x', 0x30, 0x0a, 0x30, 0x08, 0x04, 0x02, 'c', 'n', 0x31, 0x02, 0x02, 0x00}},
		{"value longer than its set", []byte{0x30, 0x15, 0x02, 0x01, 0x01, 0x64, 0x10, 0x04, 0x01, 'x', 0x30, 0x0b, 0x30, 0x09, 0x04, 0x02, 'c', 'n', 0x31, 0x03, 0x04, 0x05, 'a'}},
		{"attribute without values", []byte{0x30, 0x10, 0x02, 0x01, 0x01, 0x64, 0x0b, 0x04, 0x01, 'x', 0x30, 0x06, 0x30, 0x04, 0x04, 0x02, 'c', 'n'}},
		{"reference without URI", encodeMessage(3, referenceOp())},
		{"done without result code", []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x65, 0x00}},
		{"done with a negative result code", encodeMessage(3, doneOp(-1, "", ""))},
		{"done with controls nested too deep", func() []byte {
			inner := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
			for range maxDepth + 1 {
				outer := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
				outer.AppendChild(inner)
				inner = outer
			}
			msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
			msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
			msg.AppendChild(doneOp(0, "", ""))
			msg.AppendChild(inner)
			return msg.Bytes()
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &goldap.SearchResult{}
			done, err := decodeSearch(tt.msg, res)
			if !errors.Is(err, errMalformed) {
				t.Errorf("decodeSearch(%x) error = %v, want malformed", tt.msg, err)
			}
			if !done {
				t.Errorf("decodeSearch(%x) done = false, want true: the search cannot go on", tt.msg)
			}
			if len(res.Entries) != 0 {
				t.Errorf("decodeSearch(%x) added %d entries, want 0", tt.msg, len(res.Entries))
			}
		})
	}
}

// TestDecodeEntryShares checks that one attribute's values do not grow
// into the next one's.
func TestDecodeEntryShares(t *testing.T) {
	res := &goldap.SearchResult{}
	if _, err := decodeSearch(encodeMessage(1, entryOp("cn=x", attr{"a", []string{"1"}}, attr{"b", []string{"2"}})), res); err != nil {
		t.Fatal(err)
	}
	e := res.Entries[0]
	_ = append(e.Attributes[0].Values, "appended")
	if got := e.Attributes[1].Values; !reflect.DeepEqual(got, []string{"2"}) {
		t.Errorf("after an append to a, b = %q, want [2]", got)
	}
}

func TestReadMessage(t *testing.T) {
	one := encodeMessage(1, doneOp(0, "", ""))
	two := encodeMessage(2, entryOp("cn="+strings.Repeat("y", 300)))
	tests := []struct {
		name    string
		stream  []byte
		want    [][]byte
		wantErr error // after want
	}{
		{"two messages", append(bytes.Clone(one), two...), [][]byte{one, two}, io.EOF},
		{"empty", nil, nil, io.EOF},
		{"cut in the header", two[:2], nil, io.ErrUnexpectedEOF},
		{"cut in the content", two[:100], nil, io.ErrUnexpectedEOF},
		{"not a sequence", []byte{0x04, 0x01, 'x'}, nil, errMalformed},
		{"indefinite length", []byte{0x30, 0x80, 0, 0}, nil, errMalformed},
		{"too large", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02}, nil, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []messageReader{bufio.NewReader(bytes.NewReader(tt.stream)), byteReader{bytes.NewReader(tt.stream)}} {
				for _, want := range tt.want {
					got, err := readMessage(r)
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("readMessage = %x, %v, want %x", got, err, want)
					}
				}
				if got, err := readMessage(r); !errors.Is(err, tt.wantErr) {
					t.Errorf("readMessage at the end = %x, %v, want error %v", got, err, tt.wantErr)
				}
			}
		})
	}
}

// TestReadMessageHostileLength reads a message whose header announces
// 200 MiB, of which the server sends a few bytes: the reader must not
// allocate for what never came.
func TestReadMessageHostileLength(t *testing.T) {
	stream := append([]byte{0x30, 0x84, 0x0c, 0x80, 0x00, 0x00}, make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readMessage(bufio.NewReader(bytes.NewReader(stream)))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("readMessage error = %v, want %v", err, io.ErrUnexpectedEOF)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("readMessage allocated %d bytes for a message of 100, want at most 4 MiB", n)
	}

	// The same through a wire: the search fails, nothing large is held.
	client, server := net.Pipe()
	w := newWire(client)
	defer w.Close()
	go func() {
		readMessage(bufio.NewReader(server))
		server.Write(append([]byte{0x30, 0x84, 0x0c, 0x80, 0x00, 0x00, 0x02, 0x04, 0x40, 0, 0, 0}, make([]byte, 1000)...))
		server.Close()
	}()
	op, err := w.send(goldap.NewSearchRequest("dc=example", goldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	<-op.done
	if _, err := op.result(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("search answered by a message cut short: error = %v, want %v", err, io.ErrUnexpectedEOF)
	}
}

// berEntry decodes the entry message b the way go-ldap does, with
// asn1-ber.
func berEntry(b []byte) (*goldap.Entry, error) {
	p, err := ber.DecodePacketErr(b)
	if err != nil {
		return nil, err
	}
	if len(p.Children) < 2 || len(p.Children[1].Children) < 2 {
		return nil, errors.New("too few children")
	}
	op := p.Children[1]
	e := &goldap.Entry{DN: string(op.Children[0].Data.Bytes()), Attributes: []*goldap.EntryAttribute{}}
	for _, a := range op.Children[1].Children {
		if len(a.Children) < 2 {
			return nil, errors.New("attribute without values")
		}
		ea := &goldap.EntryAttribute{Name: string(a.Children[0].Data.Bytes()), Values: []string{}}
		for _, v := range a.Children[1].Children {
			ea.Values = append(ea.Values, string(v.Data.Bytes()))
		}
		e.Attributes = append(e.Attributes, ea)
	}
	return e, nil
}

// FuzzDecodeSearchResult decodes hostile messages. Its seeds (in
// testdata/fuzz) are the answers slapd gave to TestCaptureSearchResult's
// searches; -update captures them again.
func FuzzDecodeSearchResult(f *testing.F) {
	f.Add(encodeMessage(1, entryOp("cn=a", attr{"cn", []string{"a"}})))
	f.Add(encodeMessage(1, doneOp(0, "", ""), goldap.NewControlPaging(10)))
	f.Add(encodeMessage(1, referenceOp("ldap://x/")))
	f.Fuzz(func(t *testing.T, b []byte) {
		res := &goldap.SearchResult{}
		done, err := decodeSearch(b, res)
		if err != nil && !done {
			t.Fatalf("decodeSearch(%x) = not done, error %v: an error must end the search", b, err)
		}
		if err == nil && len(res.Entries) == 1 {
			// What both accept, both read alike. asn1-ber also checks
			// the content of universal types (UTF8String, REAL, …) in
			// controls, which the lean decoder skips unread.
			want, berr := berEntry(b)
			if got := res.Entries[0]; berr == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeSearch(%x) = %s, asn1-ber reads %s", b, dumpEntries([]*goldap.Entry{got}), dumpEntries([]*goldap.Entry{want}))
			}
		}
		m, err := readMessage(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && !bytes.Equal(m, b[:len(m)]) {
			t.Fatalf("readMessage(%x) = %x, not a prefix", b, m)
		}
	})
}

// recorder is a net.Conn that keeps a copy of what it reads.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// captureLDIF adds, to the generated directory, people whose answers
// exercise the decoder: a DN with escapes, UTF-8, a binary photo, a value
// longer than 127 bytes.
const captureLDIF = `dn: cn=Meier\, Hans,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
cn: Meier, Hans
sn: Meier
givenName: Hans
jpegPhoto:: /9j/4AAQSkZJRgAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr/AwcLDxMXGx8jJysvMzc7P0NHS09TV1tfY2drb3N3e3+Dh4uPk5ebn6Onq6+zt7u/w8fLz9PX29/j5+vv8/f7//9k=
description:: TcO8bGxlciBHcsO8w59lIMOEw5bDnCBhIGRlc2NyaXB0aW9uIGxvbmdlciB0aGFuIG9uZSBodW5kcmVkIGFuZCB0d2VudHktc2V2ZW4gYnl0ZXMsIHNvIHRoYXQgaXRzIGxlbmd0aCB0YWtlcyB0aGUgbG9uZyBmb3JtIG9mIEJFUg==
`

// TestCaptureSearchResult reads answers of slapd through go-ldap and
// checks that the lean decoder reads every message as asn1-ber does. With
// -update it writes them as the seeds of FuzzDecodeSearchResult.
func TestCaptureSearchResult(t *testing.T) {
	d := &slapdtest.Directory{People: 12, Departments: 3}
	people, groups := generate(t, d, true)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people, groups}, Add: []string{writeLDIF(t, captureLDIF)}, SizeLimit: 5})
	raw, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "ldap://"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Conn: raw}
	l := goldap.NewConn(rec, false)
	l.Start()
	defer l.Close()
	if err := l.Bind(s.ReaderDN, s.ReaderPassword); err != nil {
		t.Fatal(err)
	}
	people1 := goldap.NewSearchRequest(s.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"*", "entryUUID", "memberOf"}, nil)
	if _, err := l.SearchWithPaging(people1, 4); err != nil {
		t.Fatal(err)
	}
	for _, req := range []*goldap.SearchRequest{
		// Over the size limit, unpaged.
		goldap.NewSearchRequest(s.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil),
		// No such base.
		goldap.NewSearchRequest("ou=nowhere,"+s.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", nil, nil),
		// Groups.
		goldap.NewSearchRequest(s.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=groupOfNames)", []string{"member", "memberOf", "objectClass"}, nil),
	} {
		l.Search(req)
	}
	l.Unbind()

	rec.mu.Lock()
	stream := bytes.Clone(rec.got.Bytes())
	rec.mu.Unlock()
	r := bufio.NewReader(bytes.NewReader(stream))
	var msgs [][]byte
	var entries, dones int
	for {
		b, err := readMessage(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("readMessage after %d messages: %v", len(msgs), err)
		}
		msgs = append(msgs, b)
		res := &goldap.SearchResult{}
		done, err := decodeSearch(b, res)
		if err != nil && !goldap.IsErrorAnyOf(err, goldap.LDAPResultSizeLimitExceeded, goldap.LDAPResultNoSuchObject) {
			t.Errorf("decodeSearch(%x) error = %v", b, err)
		}
		if done {
			dones++
		}
		for _, e := range res.Entries {
			entries++
			want, err := berEntry(b)
			if err != nil {
				t.Fatalf("asn1-ber cannot decode %x: %v", b, err)
			}
			if !reflect.DeepEqual(e, want) {
				t.Errorf("decodeSearch = %s, asn1-ber reads %s", dumpEntries([]*goldap.Entry{e}), dumpEntries([]*goldap.Entry{want}))
			}
		}
	}
	// 13 people and 4 groups, 5 entries before the size limit.
	if want := d.People + 1 + d.Departments + 1 + 5; entries != want {
		t.Errorf("captured %d entries, want %d", entries, want)
	}
	if want := 4 + 3; dones != want { // the paged search took 4 pages
		t.Errorf("captured %d results, want %d", dones, want)
	}

	if !*update {
		return
	}
	// Inputs the fuzzer found stay; the captured ones are replaced.
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeSearchResult")
	old, _ := filepath.Glob(filepath.Join(dir, "slapd-*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range msgs {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("slapd-%02d", i)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
