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
	// wherever in the file their groups are.
	groups := newGroupIndex()
	err = s.each(ctx, f, func(dn string, attrs map[string][]string) error {
		if isGroup(attrs) {
			groups.add(dn, attrs)
		}
		return nil
	})
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
	n := 0
	for rec, err := range ldif.UnmarshalEntries(br, &ldif.LDIF{}) {
		if err != nil {
			return s.parseError(err)
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
func (s *LDIF) parseError(err error) error {
	pe := &ParseError{Path: s.path, Message: err.Error()}
	var le *ldif.ParseError
	if errors.As(err, &le) {
		pe.Line = le.Line
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
