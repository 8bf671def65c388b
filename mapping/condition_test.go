package mapping

import (
	"slices"
	"testing"

	"github.com/dirbook/dirbook"
)

func TestConditions(t *testing.T) {
	e := &dirbook.Entry{
		ID: "1",
		Attrs: map[string][]string{
			"employeetype": {"Staff", " Contractor "},
			"mail":         {"a@example.org"},
			"description":  {"  "},
		},
		Groups: []string{employees, "cn=sales,ou=groups,dc=nordlicht,dc=example"},
	}
	tests := []struct {
		name string
		c    Condition
		want bool
		why  string // for matches
	}{
		{"member of first", Condition{MemberOf: []string{employees, partners}}, true, "member_of " + employees},
		{"member of second", Condition{MemberOf: []string{partners, "CN=Sales, OU=Groups,dc=nordlicht,dc=example"}}, true,
			"member_of CN=Sales, OU=Groups,dc=nordlicht,dc=example"},
		{"member of none", Condition{MemberOf: []string{partners}}, false, ""},
		{"has", Condition{Has: []string{"Mail", "employeeType"}}, true, "has Mail, employeeType"},
		{"has missing", Condition{Has: []string{"mail", "mobile"}}, false, ""},
		{"has only spaces", Condition{Has: []string{"description"}}, false, ""},
		{"equals ignores case and spaces", Condition{Equals: map[string]string{"employeeType": "contractor"}}, true,
			`employeeType equals "contractor"`},
		{"equals no value", Condition{Equals: map[string]string{"employeeType": "intern"}}, false, ""},
		{"equals is not a substring test", Condition{Equals: map[string]string{"employeeType": "staf"}}, false, ""},
		{"keys are anded", Condition{MemberOf: []string{employees}, Has: []string{"mail"}}, true,
			"member_of " + employees + " and has mail"},
		{"keys are anded fail", Condition{MemberOf: []string{employees}, Has: []string{"mobile"}}, false, ""},
		{"all", Condition{All: []Condition{{Has: []string{"mail"}}, {MemberOf: []string{employees}}}}, true,
			"has mail and member_of " + employees},
		{"all fail", Condition{All: []Condition{{Has: []string{"mail"}}, {MemberOf: []string{partners}}}}, false, ""},
		{"any", Condition{Any: []Condition{{MemberOf: []string{partners}}, {Has: []string{"mail"}}}}, true, "has mail"},
		{"any fail", Condition{Any: []Condition{{MemberOf: []string{partners}}, {Has: []string{"mobile"}}}}, false, ""},
		{"not", Condition{Not: &Condition{MemberOf: []string{partners}}}, true, "not (member_of " + partners + ")"},
		{"not fail", Condition{Not: &Condition{Has: []string{"mail"}}}, false, ""},
		{"nested", Condition{
			MemberOf: []string{employees},
			Not:      &Condition{Any: []Condition{{Has: []string{"mobile"}}, {Equals: map[string]string{"employeeType": "intern"}}}},
		}, true, `member_of ` + employees + ` and not ((has mobile or employeeType equals "intern"))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &compiler{}
			k := c.condition("c", &tt.c)
			if len(c.problems) > 0 {
				t.Fatalf("condition problems: %v", c.problems)
			}
			if got := k.match(e); got != tt.want {
				t.Errorf("match(%+v) = %v, want %v", tt.c, got, tt.want)
			}
			why, ok := k.why(e)
			if ok != tt.want || why != tt.why {
				t.Errorf("why(%+v) = %q, %v, want %q, %v", tt.c, why, ok, tt.why, tt.want)
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
