package sync

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
)

// directory is the fake directory the plan tests start from.
func directory() []*dirbook.Entry {
	return []*dirbook.Entry{
		entry("1", "anna", "displayName", "Anna Schmidt", "mail", "anna@example.com", "mobile", "+4917012345", "jpegPhoto", "\xff\xd8abc", "group", staffGroup),
		entry("2", "bernd", "displayName", "Bernd Meier", "mail", "bernd@example.com", "group", staffGroup),
		entry("3", "carla", "displayName", "Carla Ost", "mail", "carla@partner.example", "group", partnerGroup),
	}
}

var users = []User{{Login: "anna-phone", Person: "Anna"}, {Login: "carla", Person: "carla"}}

// published returns a store holding the plan of entries.
func published(t *testing.T, entries []*dirbook.Entry) *Store {
	t.Helper()
	s, _ := openStore(t)
	eng := NewEngine(s, []Source{&fakeSource{name: "dir", entries: entries}}, newFakeMapper(), &EngineOptions{Users: users})
	if _, err := eng.Sync(context.Background()); err != nil {
		t.Fatalf("Sync = %v", err)
	}
	return s
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		before  []*dirbook.Entry // published first; nil: an empty store
		sources func(es []*dirbook.Entry) []Source
		mapper  func(m *fakeMapper)
		want    []string
	}{
		{
			name: "first sync",
			sources: func(es []*dirbook.Entry) []Source {
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{
				"colleagues: new book",
				"colleagues + u-1 Anna Schmidt",
				"colleagues + u-2 Bernd Meier",
				"partners: new book",
				"partners + u-3 Carla Ost",
				"access anna-phone: (none) → colleagues, partners",
				"access carla: (none) → partners",
			},
		},
		{
			name:   "no change",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: nil,
		},
		{
			name:   "add",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				es = append(es, entry("4", "dora", "displayName", "Dora Berg", "group", staffGroup))
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{"colleagues + u-4 Dora Berg"},
		},
		{
			name:   "change field",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				es[0].Attrs["mobile"] = []string{"+4917099999"}
				es[0].Attrs["mail"] = append(es[0].Attrs["mail"], "a.schmidt@example.com")
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{
				"colleagues ~ u-1 email: anna@example.com → anna@example.com, a.schmidt@example.com",
				"colleagues ~ u-1 mobile: +4917012345 → +4917099999",
			},
		},
		{
			name:   "field removed",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				delete(es[0].Attrs, "mobile")
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{"colleagues ~ u-1 mobile: +4917012345 → (none)"},
		},
		{
			name:   "photo only",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				es[0].Attrs["jpegphoto"] = []string{"\xff\xd8abcd"}
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{"colleagues ~ u-1 photo changed (5 → 6 bytes)"},
		},
		{
			name:   "remove",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				return []Source{&fakeSource{name: "dir", entries: es[:2]}}
			},
			want: []string{
				"partners - u-3 Carla Ost []: no longer in the directory",
				"access carla: partners → (none)",
				"warn : login carla: no person with uid \"carla\"; the login reads no book",
			},
		},
		{
			name:   "excluded",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				es[1].Attrs["pwdaccountlockedtime"] = []string{"20240101000000Z"}
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{"colleagues - u-2 Bernd Meier [uid=bernd,ou=people,dc=example]: excluded by mapping.exclude: has pwdAccountLockedTime"},
		},
		{
			name:   "moves between books",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				es[1].Groups = []string{partnerGroup}
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{
				"colleagues - u-2 Bernd Meier [uid=bernd,ou=people,dc=example]: no longer matches book rules",
				"partners + u-2 Bernd Meier",
			},
		},
		{
			name:   "access change",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				es[2].Groups = append(es[2].Groups, staffGroup)
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{
				"colleagues + u-3 Carla Ost",
				"access carla: partners → colleagues, partners",
			},
		},
		{
			name:   "excluded user reads nothing",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				es[0].Attrs["pwdaccountlockedtime"] = []string{"20240101000000Z"}
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{
				"colleagues - u-1 Anna Schmidt [uid=anna,ou=people,dc=example]: excluded by mapping.exclude: has pwdAccountLockedTime",
				"access anna-phone: colleagues, partners → (none)",
			},
		},
		{
			name:   "duplicate id across sources",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				dup := entry("2", "bernd2", "displayName", "Bernd Zwei", "group", staffGroup)
				return []Source{
					&fakeSource{name: "dir", entries: es},
					&fakeSource{name: "hr", entries: []*dirbook.Entry{dup}},
				}
			},
			want: []string{"skip uid=bernd2,ou=people,dc=example (hr): duplicate id, already read from source dir"},
		},
		{
			name:   "duplicate id in unnamed sources",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				dup := entry("3", "carla2", "displayName", "Carla Zwei", "group", partnerGroup)
				return []Source{&fakeSource{entries: es}, &fakeSource{entries: []*dirbook.Entry{dup}}}
			},
			want: []string{"skip uid=carla2,ou=people,dc=example (#2): duplicate id, already read from source #1"},
		},
		{
			name:   "invalid entry skipped",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				bad := &dirbook.Entry{DN: "uid=ghost,ou=people,dc=example", Invalid: "no entryUUID"}
				return []Source{&fakeSource{name: "dir", entries: append(es, bad)}}
			},
			want: []string{"skip uid=ghost,ou=people,dc=example (dir): no entryUUID"},
		},
		{
			name:   "mapping warning",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				es[1].Attrs["mobile"] = []string{"0170 12"}
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			want: []string{"warn uid=bernd,ou=people,dc=example: mobile: value 1 of mobile is not a valid phone number"},
		},
		{
			name:   "book dropped",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			mapper: func(m *fakeMapper) { m.books = []dirbook.Book{colleagues} },
			want: []string{
				"partners: dropped",
				"partners - u-3 Carla Ost []: book no longer configured",
				"access anna-phone: colleagues, partners → colleagues",
				"access carla: partners → (none)",
			},
		},
		{
			name:   "book renamed",
			before: directory(),
			sources: func(es []*dirbook.Entry) []Source {
				return []Source{&fakeSource{name: "dir", entries: es}}
			},
			mapper: func(m *fakeMapper) { m.books = []dirbook.Book{colleagues, {ID: "partners", Name: "Partner firms"}} },
			want:   nil, // only the book changes; see TestPlanBookChanges
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *Store
			if tt.before != nil {
				s = published(t, tt.before)
			} else {
				s, _ = openStore(t)
			}
			m := newFakeMapper()
			if tt.mapper != nil {
				tt.mapper(m)
			}
			eng := NewEngine(s, tt.sources(directory()), m, &EngineOptions{Users: users})
			p, err := eng.Plan(context.Background())
			if err != nil {
				t.Fatalf("Plan = %v", err)
			}
			if got := summarize(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Plan =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			wantEmpty := tt.name != "book renamed"
			for _, line := range tt.want {
				if !strings.HasPrefix(line, "skip ") && !strings.HasPrefix(line, "warn ") {
					wantEmpty = false
				}
			}
			if p.Empty() != wantEmpty {
				t.Errorf("Empty() = %v, want %v", p.Empty(), wantEmpty)
			}

			// Applying the plan and planning again finds nothing left.
			if _, err := eng.Apply(context.Background(), p); err != nil {
				t.Fatalf("Apply = %v", err)
			}
			again, err := eng.Plan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !again.Empty() {
				t.Errorf("Plan after Apply =\n%s\nwant no changes", strings.Join(summarize(again), "\n"))
			}
		})
	}
}

func TestPlanBookChanges(t *testing.T) {
	s := published(t, directory())
	m := newFakeMapper()
	m.books = []dirbook.Book{{ID: "partners", Name: "Partner firms"}, colleagues}
	eng := NewEngine(s, []Source{&fakeSource{entries: directory()}}, m, &EngineOptions{Users: users})
	p, err := eng.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Reordered || p.Empty() {
		t.Errorf("Plan: Reordered = %v, Empty() = %v, want true, false", p.Reordered, p.Empty())
	}
	rev, err := eng.Apply(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Books[0].ID != "partners" || rev.Books[0].Name != "Partner firms" || rev.Books[0].Revision != 2 {
		t.Errorf("first book = %+v rev %d, want partners renamed at revision 2", rev.Books[0].Book, rev.Books[0].Revision)
	}
	if rev.Books[1].Revision != 1 {
		t.Errorf("colleagues revision = %d, want 1 (unchanged)", rev.Books[1].Revision)
	}
}

func TestPlanRefused(t *testing.T) {
	tests := []struct {
		name    string
		entries []*dirbook.Entry
		want    string
	}{
		{"no entries", nil, "sync: sources returned no entries; refusing to treat that as everyone leaving"},
		{"only invalid", []*dirbook.Entry{{DN: "uid=x", Invalid: "no entryUUID"}}, "sync: sources returned no usable entries (1 skipped); refusing to treat that as everyone leaving"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := published(t, directory())
			eng := NewEngine(s, []Source{&fakeSource{entries: tt.entries}, &fakeSource{}}, newFakeMapper(), nil)
			p, err := eng.Plan(context.Background())
			if err == nil {
				t.Fatalf("Plan = %v, nil, want an error", summarize(p))
			}
			if err.Error() != tt.want || !errors.Is(err, dirbook.ErrRefused) {
				t.Errorf("Plan = %q, want %q wrapping ErrRefused", err, tt.want)
			}
		})
	}
}

func TestPlanSourceError(t *testing.T) {
	s := published(t, directory())
	boom := errors.New("ldap: connection reset")
	eng := NewEngine(s, []Source{
		&fakeSource{entries: directory()},
		&fakeSource{entries: directory()[:1], err: boom},
	}, newFakeMapper(), nil)
	p, err := eng.Plan(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "source 2") {
		t.Errorf("Plan = %v, %v, want an error naming source 2 and wrapping %v", p, err, boom)
	}
}

func TestApplyStale(t *testing.T) {
	s := published(t, directory())
	es := directory()
	es[0].Attrs["mobile"] = []string{"+491"}
	eng := NewEngine(s, []Source{&fakeSource{entries: es}}, newFakeMapper(), &EngineOptions{Users: users})
	p1, err := eng.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p2, err := eng.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rev, err := eng.Apply(context.Background(), p1)
	if err != nil || rev.Number != 2 {
		t.Fatalf("Apply = %v, %v, want revision 2", rev, err)
	}
	for name, p := range map[string]*Plan{"applied": p1, "concurrent": p2} {
		if _, err := eng.Apply(context.Background(), p); err == nil || !strings.HasPrefix(err.Error(), "sync: plan is stale") {
			t.Errorf("Apply(%s plan) = %v, want sync: plan is stale", name, err)
		}
	}
	if got := s.Current().Number; got != 2 {
		t.Errorf("revision = %d after stale applies, want 2", got)
	}

	// An empty plan publishes nothing.
	p3, err := eng.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rev, err = eng.Apply(context.Background(), p3)
	if err != nil || rev != s.Current() || rev.Number != 2 {
		t.Errorf("Apply(empty plan) = %v, %v, want the current revision 2", rev, err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	s, path := openStore(t)
	eng := NewEngine(s, []Source{&fakeSource{entries: directory()}}, newFakeMapper(), &EngineOptions{Users: users})
	if _, err := eng.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	es := directory()
	es[0].Attrs["mobile"] = []string{"+491"}
	for _, readOnly := range []bool{true, false} {
		var st *Store
		if readOnly {
			st, err = OpenReadOnly(path, nil)
		} else {
			s.Close()
			st, err = Open(path, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		eng := NewEngine(st, []Source{&fakeSource{entries: es}}, newFakeMapper(), &EngineOptions{Users: users})
		p, err := eng.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if p.Empty() {
			t.Fatalf("Plan is empty, want a change")
		}
		var out bytes.Buffer
		if err := p.WriteText(&out); err != nil {
			t.Fatal(err)
		}
		if readOnly {
			if _, err := eng.Apply(context.Background(), p); err == nil {
				t.Errorf("Apply on a read-only store = nil error, want an error")
			}
		}
		st.Close()
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("dry run (read-only %v) changed the store file", readOnly)
		}
		if st.Current().Number != 1 {
			t.Errorf("dry run (read-only %v): revision %d, want 1", readOnly, st.Current().Number)
		}
	}
}

func TestLoginAttribute(t *testing.T) {
	s, _ := openStore(t)
	es := directory()
	es[2].Attrs["mail"] = []string{"Carla@Partner.example"}
	eng := NewEngine(s, []Source{&fakeSource{entries: es}}, newFakeMapper(), &EngineOptions{
		Users:          []User{{Login: "c", Person: "carla@partner.EXAMPLE"}},
		LoginAttribute: "mail",
	})
	rev, err := eng.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rev.Access, map[string][]string{"c": {"partners"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Access = %v, want %v", got, want)
	}
}

func TestDirectoryLogins(t *testing.T) {
	s, _ := openStore(t)
	es := append(directory(), entry("4", "Dieter", "displayName", "Dieter Locked", "group", staffGroup, "pwdAccountLockedTime", "000001010000Z"))
	eng := NewEngine(s, []Source{&fakeSource{entries: es}}, newFakeMapper(), &EngineOptions{
		Users:           []User{{Login: "carla", Person: "anna"}},
		DirectoryLogins: true,
	})
	rev, err := eng.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"carla": {"colleagues", "partners"}, // the app-password login wins over carla's own
		"anna":  {"colleagues", "partners"},
		"bernd": {"colleagues", "partners"},
		// dieter is locked: no access
	}
	if !reflect.DeepEqual(rev.Access, want) {
		t.Errorf("Access = %v, want %v", rev.Access, want)
	}
}
