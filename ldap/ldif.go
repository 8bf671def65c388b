package ldap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dirbook/dirbook"
	goldap "github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldif"
)

// LDIFOptions configure an LDIF source.
type LDIFOptions struct {
	// Name is the source name copied into Entry.Source. If empty, "ldif"
	// is used.
	Name string
	// Base limits the people read to the entries at or below this DN. If
	// empty, entries anywhere in the file are read.
	Base string
	// Filter is an RFC 4515 filter selecting the people among the
	// entries. If empty, "(objectClass=*)" is used. Extensible matches
	// (":dn:", matching rules) are not supported.
	Filter string
	// IDAttribute names the attribute holding each person's immutable
	// identity. If empty, "entryUUID" is used. An objectGUID of 16 bytes
	// becomes its canonical string form.
	IDAttribute string
}

// LDIF reads people from an LDIF file (RFC 2849). The file is read anew,
// streaming, by every call of Read; its group entries (groupOfNames,
// groupOfUniqueNames, posixGroup, ...) are used to resolve memberships
// whatever the base and filter say.
type LDIF struct {
	path       string
	name       string
	base       string // in the form of canonicalDN
	filterText string
	filter     *filter
	idAttr     string
}

// NewLDIF returns a source reading the LDIF file at path. It checks the
// options (a filter that cannot be evaluated is an error naming it) but
// does not read the file yet.
func NewLDIF(path string, opts *LDIFOptions) (*LDIF, error) {
	if opts == nil {
		opts = &LDIFOptions{}
	}
	s := &LDIF{
		path:       path,
		name:       opts.Name,
		filterText: opts.Filter,
		idAttr:     opts.IDAttribute,
	}
	if s.name == "" {
		s.name = "ldif"
	}
	if s.filterText == "" {
		s.filterText = "(objectClass=*)"
	}
	if s.idAttr == "" {
		s.idAttr = "entryUUID"
	}
	if opts.Base != "" {
		if _, err := goldap.ParseDN(opts.Base); err != nil {
			return nil, fmt.Errorf("ldap: base %q: %w", opts.Base, err)
		}
		s.base = canonicalDN(opts.Base)
	}
	f, err := compileFilter(s.filterText)
	if err != nil {
		return nil, err
	}
	s.filter = f
	return s, nil
}

// ParseError reports a malformed LDIF file.
type ParseError struct {
	// Path is the file.
	Path string
	// Line is the line at which the parser noticed the error, which is
	// the end of the faulty entry (the empty line after it, or the end of
	// the file); 0 when unknown.
	Line int
	// Message describes the error. It never quotes the file's content.
	Message string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("ldap: %s: %s", e.Path, e.Message)
	}
	return fmt.Sprintf("ldap: %s:%d: %s", e.Path, e.Line, e.Message)
}

// Read reads the file and calls emit for every person below the base that
// matches the filter, in file order. An entry without a value of the
// identity attribute is emitted with ID "" and Invalid set. Read stops at
// the first error emit returns and returns it wrapped; a malformed file is
// a *ParseError.
func (s *LDIF) Read(ctx context.Context, emit func(*dirbook.Entry) error) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("ldap: %w", err)
	}
	defer f.Close()

	// First pass: the groups, so that a person's memberships are known
	// wherever in the file their groups are. Only the records that may be
	// groups are parsed.
	groups := newGroupIndex()
	addGroup := func(dn string, attrs map[string][]string) error {
		if isGroup(attrs) {
			groups.add(dn, attrs)
		}
		return nil
	}
	err = s.eachGroup(ctx, f, addGroup)
	if errors.Is(err, errRescan) {
		groups = newGroupIndex()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("ldap: %w", err)
		}
		err = s.each(ctx, f, addGroup)
	}
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("ldap: %w", err)
	}

	idKey := strings.ToLower(s.idAttr)
	return s.each(ctx, f, func(dn string, attrs map[string][]string) error {
		if !underBase(canonicalDN(dn), s.base) || !s.filter.match(attrs) {
			return nil
		}
		e := &dirbook.Entry{
			ID:     identity(s.idAttr, attrs[idKey]),
			DN:     dn,
			Source: s.name,
			Attrs:  attrs,
			Groups: groups.groups(dn, attrs["uid"], attrs["memberof"]),
		}
		if e.ID == "" {
			e.Invalid = "no " + s.idAttr
		}
		if err := emit(e); err != nil {
			return fmt.Errorf("ldap: read %s: %w", s.path, err)
		}
		return nil
	})
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// each parses the file r from its start and calls fn for every entry
// record (content records and "changetype: add" records) with its DN and
// attributes keyed by lower-case name. Errors of fn are returned as they
// are.
func (s *LDIF) each(ctx context.Context, r io.Reader, fn func(dn string, attrs map[string][]string) error) error {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		br.Discard(len(bom))
	}
	return s.parse(ctx, br, 0, fn)
}

// errRescan asks for the groups to be read by each: a record that
// eachGroup took apart did not parse on its own.
var errRescan = errors.New("ldap: read the groups with the whole file's parser")

// eachGroup is each for the records that may be groups only (see
// mayBeGroup): the others are split off as text and not parsed. When a
// record does not parse on its own, it returns errRescan, and each, which
// parses the file as a whole, says what is wrong where.
func (s *LDIF) eachGroup(ctx context.Context, r io.Reader, fn func(dn string, attrs map[string][]string) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		br.Discard(len(bom))
	}
	var rec []byte
	line, start := 0, 1 // the current line; the first line of rec
	flush := func() error {
		defer func() { rec = rec[:0] }()
		if !mayBeGroup(rec) {
			return nil
		}
		err := s.parse(ctx, bytes.NewReader(rec), start-1, fn)
		if _, ok := errors.AsType[*ParseError](err); ok {
			return errRescan
		}
		return err
	}
	for {
		l, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer (a photo on one line):
			// collect it whole.
			long := bytes.Clone(l)
			for errors.Is(err, bufio.ErrBufferFull) {
				l, err = br.ReadSlice('\n')
				long = append(long, l...)
			}
			l = long
		}
		if len(l) > 0 {
			line++
			if blank := len(bytes.TrimRight(l, "\r\n")) == 0; blank {
				if len(rec) > 0 {
					if err := flush(); err != nil {
						return err
					}
				}
				start = line + 1
			} else {
				rec = append(rec, l...)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("ldap: read %s: %w", s.path, err)
		}
	}
	if len(rec) > 0 {
		return flush()
	}
	return nil
}

// mayBeGroup reports whether the LDIF record rec may hold a group entry:
// whether an objectClass value names a group class as far as its raw
// lines tell. Every group class has "group" in its name; a value in
// base64 or an attribute with options counts as may-be.
func mayBeGroup(rec []byte) bool {
	const key = "objectclass"
	for len(rec) > 0 {
		l, rest, _ := bytes.Cut(rec, []byte("\n"))
		rec = rest
		if len(l) <= len(key) || !bytes.EqualFold(l[:len(key)], []byte(key)) {
			continue
		}
		switch l[len(key)] {
		case ';':
			return true
		case ':':
		default:
			continue // another attribute, e.g. objectClasses
		}
		v := l[len(key)+1:]
		if len(v) > 0 && v[0] == ':' {
			return true
		}
		for len(rec) > 0 && rec[0] == ' ' { // a folded value
			cont, rest, _ := bytes.Cut(rec, []byte("\n"))
			v = append(bytes.Clone(bytes.TrimRight(v, "\r")), cont[1:]...)
			rec = rest
		}
		if containsFold(v, "group") {
			return true
		}
	}
	return false
}

// containsFold reports whether b contains the lower-case ASCII word w in
// any case, without copying b.
func containsFold(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(w)], []byte(w)) {
			return true
		}
	}
	return false
}

// parse parses the LDIF in r, whose first line is line offset+1 of the
// file, and calls fn for every entry record, as each does.
func (s *LDIF) parse(ctx context.Context, r io.Reader, offset int, fn func(dn string, attrs map[string][]string) error) error {
	n := 0
	for rec, err := range ldif.UnmarshalEntries(r, &ldif.LDIF{}) {
		if err != nil {
			return s.parseError(err, offset)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ldap: read %s: %w", s.path, err)
		}
		n++
		attrs := map[string][]string{}
		var dn string
		switch {
		case rec.Entry != nil:
			dn = rec.Entry.DN
			for _, a := range rec.Entry.Attributes {
				addAttr(attrs, a.Name, a.Values)
			}
		case rec.Add != nil:
			dn = rec.Add.DN
			for _, a := range rec.Add.Attributes {
				addAttr(attrs, a.Type, a.Vals)
			}
		default:
			return &ParseError{Path: s.path, Message: fmt.Sprintf("entry %d is a modify or delete record; only entries and additions can be read", n)}
		}
		if err := fn(dn, attrs); err != nil {
			return err
		}
	}
	return nil
}

// parseError turns an error of the LDIF parser into a *ParseError. The
// parser quotes offending lines, which may hold personal data: the quote
// is cut off.
func (s *LDIF) parseError(err error, offset int) error {
	pe := &ParseError{Path: s.path, Message: err.Error()}
	var le *ldif.ParseError
	if errors.As(err, &le) {
		pe.Line = le.Line + offset
		pe.Message = le.Message
	}
	if before, _, ok := strings.Cut(pe.Message, "`"); ok {
		pe.Message = strings.TrimSpace(before)
	}
	if m := pe.Message; m != "" && 'A' <= m[0] && m[0] <= 'Z' {
		pe.Message = strings.ToLower(m[:1]) + m[1:]
	}
	return pe
}
