package mapping

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
)

// clock is the fixed time conditions are tested at.
var clock = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return clock }

func TestConditions(t *testing.T) {
	e := &dirbook.Entry{
		ID:   "1",
		Kind: "Partner",
		Attrs: map[string][]string{
			"employeetype": {"Staff", " Contractor "},
			"mail":         {"a@example.org"},
			"description":  {"  "},
			"expiry":       {"20260615120001Z"},
			"expired":      {"2026-06-14"},
			"badexpiry":    {"soon"},
			"twoexpiries":  {"20300101000000Z", "20200101000000Z"},
		},
		Groups: []string{employees, "cn=sales,ou=groups,dc=nordlicht,dc=example"},
	}
	tests := []struct {
		name string
		c    Condition
		want bool
		why  string // why it matched, or which part failed
		warn []Warning
	}{
		{"member of first", Condition{MemberOf: []string{employees, partners}}, true, "member_of " + employees, nil},
		{"member of second", Condition{MemberOf: []string{partners, "CN=Sales, OU=Groups,dc=nordlicht,dc=example"}}, true,
			"member_of CN=Sales, OU=Groups,dc=nordlicht,dc=example", nil},
		{"member of none", Condition{MemberOf: []string{partners}}, false, "member_of " + partners, nil},
		{"has", Condition{Has: []string{"Mail", "employeeType"}}, true, "has Mail, employeeType", nil},
		{"has missing", Condition{Has: []string{"mail", "mobile"}}, false, "has mobile", nil},
		{"has only spaces", Condition{Has: []string{"description"}}, false, "has description", nil},
		{"equals ignores case and spaces", Condition{Equals: map[string]string{"employeeType": "contractor"}}, true,
			`employeeType equals "contractor"`, nil},
		{"equals no value", Condition{Equals: map[string]string{"employeeType": "intern"}}, false, `employeeType equals "intern"`, nil},
		{"equals is not a substring test", Condition{Equals: map[string]string{"employeeType": "staf"}}, false,
			`employeeType equals "staf"`, nil},
		{"kind ignores case", Condition{Kind: []string{"employee", "partner"}}, true, "kind partner", nil},
		{"kind other", Condition{Kind: []string{"employee"}}, false, "kind employee", nil},
		{"future", Condition{Future: []string{"expiry"}}, true, "future expiry", nil},
		{"future expired date", Condition{Future: []string{"expired"}}, false, "future expired (expired)", nil},
		{"future missing", Condition{Future: []string{"expiry", "approval"}}, false, "future approval (no value)", nil},
		{"future invalid", Condition{Future: []string{"badExpiry"}}, false, "future badExpiry (value 1 is not a date or time)",
			[]Warning{{Field: "c.future", Message: "value 1 of badExpiry is not a date or time; condition false"}}},
		{"future needs every value", Condition{Future: []string{"twoExpiries"}}, false, "future twoExpiries (expired)", nil},
		{"keys are anded", Condition{MemberOf: []string{employees}, Has: []string{"mail"}}, true,
			"member_of " + employees + " and has mail", nil},
		{"keys are anded fail", Condition{MemberOf: []string{employees}, Has: []string{"mobile"}}, false, "has mobile", nil},
		{"all", Condition{All: []Condition{{Has: []string{"mail"}}, {MemberOf: []string{employees}}}}, true,
			"has mail and member_of " + employees, nil},
		{"all fail", Condition{All: []Condition{{Has: []string{"mail"}}, {MemberOf: []string{partners}}}}, false,
			"member_of " + partners, nil},
		{"any", Condition{Any: []Condition{{MemberOf: []string{partners}}, {Has: []string{"mail"}}}}, true, "has mail", nil},
		{"any fail", Condition{Any: []Condition{{MemberOf: []string{partners}}, {Has: []string{"mobile"}}}}, false,
			"(member_of " + partners + " or has mobile)", nil},
		{"not", Condition{Not: &Condition{MemberOf: []string{partners}}}, true, "not (member_of " + partners + ")", nil},
		{"not fail", Condition{Not: &Condition{Has: []string{"mail"}}}, false, "not (has mail)", nil},
		{"nested", Condition{
			MemberOf: []string{employees},
			Not:      &Condition{Any: []Condition{{Has: []string{"mobile"}}, {Equals: map[string]string{"employeeType": "intern"}}}},
		}, true, `member_of ` + employees + ` and not ((has mobile or employeeType equals "intern"))`, nil},
		{"approved partner", Condition{All: []Condition{
			{Kind: []string{"partner"}},
			{MemberOf: []string{employees}},
			{Future: []string{"expiry"}},
		}}, true, "kind partner and member_of " + employees + " and future expiry", nil},
		{"unapproved partner", Condition{All: []Condition{
			{Kind: []string{"partner"}},
			{Future: []string{"expired"}},
		}}, false, "future expired (expired)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &compiler{}
			k := c.condition("c", &tt.c)
			if len(c.problems) > 0 {
				t.Fatalf("condition problems: %v", c.problems)
			}
			var warnings []Warning
			if got := k.match(newEnv(e, fixedClock, &warnings)); got != tt.want {
				t.Errorf("match(%+v) = %v, want %v", tt.c, got, tt.want)
			}
			if !reflect.DeepEqual(warnings, tt.warn) {
				t.Errorf("match(%+v) warnings = %q, want %q", tt.c, warnings, tt.warn)
			}
			why, ok := k.why(newEnv(e, fixedClock, nil))
			if ok != tt.want || why != tt.why {
				t.Errorf("why(%+v) = %q, %v, want %q, %v", tt.c, why, ok, tt.why, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in    string
		want  time.Time
		never bool
		ok    bool
	}{
		{"20260131235959Z", utc(2026, 1, 31, 23, 59, 59, 0), false, true},
		{"20260131235959", utc(2026, 1, 31, 23, 59, 59, 0), false, true},
		{"202601312359Z", utc(2026, 1, 31, 23, 59, 0, 0), false, true},
		{"2026013123Z", utc(2026, 1, 31, 23, 0, 0, 0), false, true},
		{"20260131235959.5Z", utc(2026, 1, 31, 23, 59, 59, 5e8), false, true},
		{"2026013123,5Z", utc(2026, 1, 31, 23, 30, 0, 0), false, true},
		{"20260131235959+0100", utc(2026, 1, 31, 22, 59, 59, 0), false, true},
		{"20260131235959-02", utc(2026, 2, 1, 1, 59, 59, 0), false, true},
		{"2026-01-31", utc(2026, 2, 1, 0, 0, 0, 0), false, true},
		{"20260131", utc(2026, 2, 1, 0, 0, 0, 0), false, true},
		{"2026-01-31T12:00:00+02:00", utc(2026, 1, 31, 10, 0, 0, 0), false, true},
		{"134141184000000000", utc(2026, 1, 29, 0, 0, 0, 0), false, true}, // AD file time
		{"0", time.Time{}, true, true},
		{"9223372036854775807", time.Time{}, true, true},
		{"2026-02-30", time.Time{}, false, false},
		{"20261331000000Z", time.Time{}, false, false},
		{"20260131235959+2500", time.Time{}, false, false},
		{"20260131235959.Z", time.Time{}, false, false},
		{"20260131235959X", time.Time{}, false, false},
		{"2026013", time.Time{}, false, false},
		{"tomorrow", time.Time{}, false, false},
		{"99999999999999999999", time.Time{}, false, false},
		{"", time.Time{}, false, false},
	}
	for _, tt := range tests {
		got, never, ok := parseTime(tt.in)
		if !got.Equal(tt.want) || never != tt.never || ok != tt.ok {
			t.Errorf("parseTime(%q) = %v, %v, %v, want %v, %v, %v", tt.in, got, never, ok, tt.want, tt.never, tt.ok)
		}
	}
}

// TestOptOut shows how an opt-out is written: a global exclude by
// attribute or by group, which keeps the person out of every book and
// every book's readers.
func TestOptOut(t *testing.T) {
	const hidden = "cn=hidden,ou=groups,dc=nordlicht,dc=example"
	r := demoRules()
	r.Exclude = &Condition{Any: []Condition{
		{Has: []string{"pwdAccountLockedTime"}},
		{Equals: map[string]string{"dirbookHidden": "TRUE"}},
		{MemberOf: []string{hidden}},
	}}
	m := mustCompile(t, r)
	tests := []struct {
		name   string
		change func(e *dirbook.Entry)
		why    string // "" when not excluded
	}{
		{"visible", func(e *dirbook.Entry) {}, ""},
		{"hidden false", func(e *dirbook.Entry) { e.Attrs["dirbookhidden"] = []string{"FALSE"} }, ""},
		{"hidden attribute", func(e *dirbook.Entry) { e.Attrs["dirbookhidden"] = []string{"true"} },
			`excluded by mapping.exclude: dirbookHidden equals "TRUE"`},
		{"hidden group", func(e *dirbook.Entry) { e.Groups = append(e.Groups, hidden) },
			"excluded by mapping.exclude: member_of " + hidden},
		{"locked", func(e *dirbook.Entry) { e.Attrs["pwdaccountlockedtime"] = []string{"000001010000Z"} },
			"excluded by mapping.exclude: has pwdAccountLockedTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := person()
			e.Groups = []string{employees, partners}
			tt.change(e)
			res := m.Map(e)
			if res.Excluded != tt.why {
				t.Errorf("Map().Excluded = %q, want %q", res.Excluded, tt.why)
			}
			wantCards, wantRead := 2, []string{"colleagues", "partners"}
			if tt.why != "" {
				wantCards, wantRead = 0, nil
			}
			if len(res.Cards) != wantCards {
				t.Errorf("Map() has %d cards, want %d", len(res.Cards), wantCards)
			}
			if got := m.Readable(e); !slices.Equal(got, wantRead) {
				t.Errorf("Readable() = %v, want %v", got, wantRead)
			}
			for _, d := range m.Explain(e) {
				if d.In != (wantCards > 0) || tt.why != "" && (d.Why != tt.why || d.ReadWhy != tt.why) {
					t.Errorf("Explain() = %+v, want In %v, Why %q", d, wantCards > 0, tt.why)
				}
			}
		})
	}
}

func TestExcluded(t *testing.T) {
	m := mustCompile(t, demoRules())
	e := person()
	e.Groups = append(e.Groups, partners)
	if got := m.Readable(e); !slices.Equal(got, []string{"colleagues", "partners"}) {
		t.Fatalf("Readable(active) = %v, want both books", got)
	}
	e.Attrs["pwdaccountlockedtime"] = []string{"000001010000Z"}
	res := m.Map(e)
	if len(res.Cards) != 0 {
		t.Errorf("Map(locked).Cards = %v, want none", res.Cards)
	}
	if want := "excluded by mapping.exclude: has pwdAccountLockedTime"; res.Excluded != want {
		t.Errorf("Map(locked).Excluded = %q, want %q", res.Excluded, want)
	}
	if got := m.Readable(e); got != nil {
		t.Errorf("Readable(locked) = %v, want nil", got)
	}
}

func TestReadable(t *testing.T) {
	m := mustCompile(t, demoRules())
	tests := []struct {
		name   string
		groups []string
		want   []string
	}{
		{"employee", []string{employees}, []string{"colleagues", "partners"}},
		{"partner", []string{partners}, []string{"partners"}},
		{"nobody", []string{"cn=other,dc=example"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := person()
			e.Groups = tt.groups
			if got := m.Readable(e); !slices.Equal(got, tt.want) {
				t.Errorf("Readable(%v) = %v, want %v", tt.groups, got, tt.want)
			}
		})
	}
}
