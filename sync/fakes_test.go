package sync

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// Groups of the fake directory.
const (
	staffGroup   = "cn=staff,ou=groups,dc=example"
	partnerGroup = "cn=partners,ou=groups,dc=example"
)

var (
	colleagues = dirbook.Book{ID: "colleagues", Name: "Colleagues", Description: "Everyone at Example"}
	partners   = dirbook.Book{ID: "partners", Name: "Partners"}
)

// fakeSource emits a fixed list of entries, then err.
type fakeSource struct {
	name    string
	entries []*dirbook.Entry
	err     error
}

func (s *fakeSource) Read(ctx context.Context, emit func(*dirbook.Entry) error) error {
	for _, e := range s.entries {
		if s.name != "" {
			e.Source = s.name
		}
		if err := emit(e); err != nil {
			return err
		}
	}
	return s.err
}

// fakeMapper is a small fixed rule set: staff are in colleagues with every
// field and partners are in partners with name and mail only; staff read
// both books, partners read partners; entries with pwdaccountlockedtime are
// excluded; when dropUnder is set, entries below that DN are in no book
// (as if an OU were removed from the book rules). Card UIDs are the entry
// ID with prefix.
type fakeMapper struct {
	books     []dirbook.Book
	prefix    string
	dropUnder string
}

func newFakeMapper() *fakeMapper {
	return &fakeMapper{books: []dirbook.Book{colleagues, partners}, prefix: "u-"}
}

func (m *fakeMapper) Books() []dirbook.Book { return m.books }

func (m *fakeMapper) has(id string) bool {
	for _, b := range m.books {
		if b.ID == id {
			return true
		}
	}
	return false
}

func (m *fakeMapper) MapTo(res *mapping.Result, e *dirbook.Entry) { *res = *m.Map(e) }

func (m *fakeMapper) Map(e *dirbook.Entry) *mapping.Result {
	res := &mapping.Result{Cards: map[string]*dirbook.Card{}}
	if m.dropUnder != "" && strings.HasSuffix(dirbook.NormalizeDN(e.DN), ","+m.dropUnder) {
		return res
	}
	if len(e.Values("pwdAccountLockedTime")) > 0 {
		res.Excluded = "excluded by mapping.exclude: has pwdAccountLockedTime"
		return res
	}
	fn := dirbook.Prop{Field: "fn", Name: "FN", Values: []string{e.First("displayName")}}
	var mail, mobile, photo []dirbook.Prop
	for _, v := range e.Values("mail") {
		mail = append(mail, dirbook.Prop{Field: "email", Name: "EMAIL", Types: []string{"work"}, Values: []string{v}})
	}
	for _, v := range e.Values("mobile") {
		if !strings.HasPrefix(v, "+") {
			res.Warnings = append(res.Warnings, mapping.Warning{Field: "mobile", Message: "value 1 of mobile is not a valid phone number"})
			continue
		}
		mobile = append(mobile, dirbook.Prop{Field: "mobile", Name: "TEL", Types: []string{"cell"}, Values: []string{v}})
	}
	for _, v := range e.Values("jpegPhoto") {
		photo = append(photo, dirbook.Prop{Field: "photo", Name: "PHOTO", MediaType: "image/jpeg", Values: []string{v}})
	}
	uid := m.prefix + e.ID
	if e.MemberOf(staffGroup) && m.has("colleagues") {
		props := append([]dirbook.Prop{fn}, mail...)
		props = append(props, mobile...)
		props = append(props, photo...)
		res.Cards["colleagues"] = &dirbook.Card{UID: uid, Props: props}
	}
	if e.MemberOf(partnerGroup) && m.has("partners") {
		props := append([]dirbook.Prop{fn}, mail...)
		res.Cards["partners"] = &dirbook.Card{UID: uid, Props: props}
	}
	return res
}

func (m *fakeMapper) Readable(e *dirbook.Entry) []string {
	if len(e.Values("pwdAccountLockedTime")) > 0 {
		return nil
	}
	switch {
	case e.MemberOf(staffGroup):
		return []string{"colleagues", "partners"}
	case e.MemberOf(partnerGroup):
		return []string{"partners"}
	}
	return nil
}

// entry builds an entry: attrs alternate attribute names and values; a
// name "group" adds a group membership instead.
func entry(id, login string, attrs ...string) *dirbook.Entry {
	e := &dirbook.Entry{
		ID:    id,
		DN:    "uid=" + login + ",ou=people,dc=example",
		Attrs: map[string][]string{"uid": {login}},
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		k, v := strings.ToLower(attrs[i]), attrs[i+1]
		if k == "group" {
			e.Groups = append(e.Groups, dirbook.NormalizeDN(v))
			continue
		}
		e.Attrs[k] = append(e.Attrs[k], v)
	}
	return e
}

// clone copies entries deeply, so that a test can change them.
func clone(es []*dirbook.Entry) []*dirbook.Entry {
	out := make([]*dirbook.Entry, len(es))
	for i, e := range es {
		c := *e
		c.Attrs = make(map[string][]string, len(e.Attrs))
		for k, v := range e.Attrs {
			c.Attrs[k] = append([]string(nil), v...)
		}
		c.Groups = append([]string(nil), e.Groups...)
		out[i] = &c
	}
	return out
}

// openStore opens a store in a new temporary directory.
func openStore(tb testing.TB) (*Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "dirbook.db")
	s, err := Open(path, &StoreOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		tb.Fatalf("Open(%q) = %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

// summarize lists a plan's content one line per item, for comparisons.
func summarize(p *Plan) []string {
	var out []string
	for _, b := range p.Books {
		if b.Previous == nil {
			out = append(out, fmt.Sprintf("%s: new book", b.Book.ID))
		}
		if b.Dropped {
			out = append(out, fmt.Sprintf("%s: dropped", b.Book.ID))
		}
		for _, c := range b.Added {
			out = append(out, fmt.Sprintf("%s + %s %s", b.Book.ID, c.UID, c.FN))
		}
		for _, c := range b.Changed {
			for _, f := range c.Fields {
				out = append(out, fmt.Sprintf("%s ~ %s %s", b.Book.ID, c.UID, f.text()))
			}
		}
		for _, c := range b.Removed {
			out = append(out, fmt.Sprintf("%s - %s %s [%s]: %s", b.Book.ID, c.UID, c.FN, c.DN, c.Reason))
		}
	}
	for _, a := range p.Access {
		out = append(out, fmt.Sprintf("access %s: %s → %s", a.Login, bookList(a.Old), bookList(a.New)))
	}
	for _, s := range p.Skipped {
		out = append(out, fmt.Sprintf("skip %s (%s): %s", s.DN, s.Source, s.Reason))
	}
	for _, w := range p.Warnings {
		out = append(out, fmt.Sprintf("warn %s: %s: %s", w.DN, w.Field, w.Message))
	}
	return out
}
