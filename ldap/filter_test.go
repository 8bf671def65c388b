package ldap

import (
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
)

// filterEntry is the entry every case of filterTests is evaluated on.
var filterEntry = map[string][]string{
	"objectclass":     {"top", "person", "organizationalPerson", "inetOrgPerson"},
	"uid":             {"anna.schmidt"},
	"cn":              {"Anna  Schmidt", "Anna Schmidt-Weber"},
	"sn":              {"Schmidt"},
	"givenname":       {"Anna"},
	"ou":              {"Engineering"},
	"uidnumber":       {"1200"},
	"mail":            {"anna.schmidt@nordlicht.example", "a.schmidt@nordlicht.example"},
	"displayname":     {"Jürgen MÜLLER"},
	"description":     {"a*b(c)"},
	"createtimestamp": {"20240105120000Z"},
}

var filterTests = []struct {
	name   string
	filter string
	want   bool
}{
	{"present", "(uid=*)", true},
	{"present absent", "(telephoneNumber=*)", false},
	{"objectClass always present", "(objectClass=*)", true},
	{"equality", "(uid=anna.schmidt)", true},
	{"equality other value", "(uid=paul.partner)", false},
	{"equality ignores case of value", "(objectClass=INETORGPERSON)", true},
	{"equality ignores case of name", "(OBJECTCLASS=inetOrgPerson)", true},
	{"equality any value", "(mail=a.schmidt@nordlicht.example)", true},
	{"equality insignificant spaces", "(cn= anna schmidt )", true},
	{"equality non-ASCII case", "(displayName=jürgen müller)", true},
	{"equality escaped", `(description=a\2ab\28c\29)`, true},
	{"equality is not substring", "(sn=Schmid)", false},
	{"approx as equality", "(sn~=schmidt)", true},
	{"approx different", "(sn~=Schmitt)", false},
	{"substring initial", "(cn=Anna*)", true},
	{"substring final", "(mail=*@nordlicht.example)", true},
	{"substring final other", "(mail=*@example.org)", false},
	{"substring any", "(cn=*schmidt*)", true},
	{"substring all", "(cn=a*na*schmidt-*er)", true},
	{"substring parts in order", "(cn=*weber*schmidt*)", false},
	{"substring parts do not overlap", "(uid=anna*nna.schmidt)", false},
	{"substring final may not overlap initial", "(sn=schmi*midt)", false},
	{"substring initial case", "(givenName=AN*)", true},
	{"greater or equal number", "(uidNumber>=1000)", true},
	{"greater or equal number false", "(uidNumber>=13000)", false},
	{"less or equal number", "(uidNumber<=1200)", true},
	{"less or equal string", "(createTimestamp<=20250101000000Z)", true},
	{"greater or equal string", "(sn>=t)", false},
	{"greater or equal string true", "(sn>=SCH)", true},
	{"ordering on absent attribute", "(title>=a)", false},
	{"and", "(&(objectClass=person)(ou=engineering))", true},
	{"and one false", "(&(objectClass=person)(ou=sales))", false},
	{"empty and is true", "(&)", true},
	{"or", "(|(ou=sales)(ou=engineering))", true},
	{"or all false", "(|(ou=sales)(ou=hr))", false},
	{"empty or is false", "(|)", false},
	{"not", "(!(ou=sales))", true},
	{"not true", "(!(uid=*))", false},
	{"nested", "(&(objectClass=inetOrgPerson)(|(ou=sales)(&(ou=engineering)(!(uid=paul*)))))", true},
}

func TestFilterMatch(t *testing.T) {
	for _, tt := range filterTests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := compileFilter(tt.filter)
			if err != nil {
				t.Fatalf("compileFilter(%q) error: %v", tt.filter, err)
			}
			if got := f.match(filterEntry); got != tt.want {
				t.Errorf("match(%q) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

func TestCompileFilterErrors(t *testing.T) {
	tests := []struct {
		name   string
		filter string
	}{
		{"extensible", "(cn:caseExactMatch:=Anna)"},
		{"extensible dn", "(ou:dn:=engineering)"},
		{"extensible inside", "(&(uid=*)(!(cn:=x)))"},
		{"no parenthesis", "uid=anna"},
		{"unbalanced", "(&(uid=anna)"},
		{"bad escape", `(cn=\zz)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileFilter(tt.filter)
			if err == nil {
				t.Fatalf("compileFilter(%q) = nil error, want one", tt.filter)
			}
			if !strings.Contains(err.Error(), tt.filter) {
				t.Errorf("compileFilter(%q) error = %q, want it to name the filter", tt.filter, err)
			}
		})
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ a, b string }{
		{"ANNA", "anna"},
		{"MÜLLER", "müller"},
		{"ØYVIND", "øyvind"},
		{"\u212a", "k"},            // Kelvin sign
		{"Mu\u0308ller", "Müller"}, // decomposed ü
		{"ΣΊΣΥΦΟΣ", "σίσυφος"},
	}
	for _, tt := range tests {
		if got, want := fold(tt.a), fold(tt.b); got != want {
			t.Errorf("fold(%q) = %q, want %q (fold(%q))", tt.a, got, want, tt.b)
		}
	}
}

// FuzzFilter checks that evaluation never panics, that a negation is the
// complement of its filter, and that a filter go-ldap writes back from the
// compiled form evaluates the same.
func FuzzFilter(f *testing.F) {
	for _, tt := range filterTests {
		f.Add(tt.filter, "Anna Schmidt")
	}
	f.Add("(cn=*)", "\xff\xfe")
	f.Fuzz(func(t *testing.T, text, value string) {
		flt, err := compileFilter(text)
		if err != nil {
			return
		}
		attrs := map[string][]string{}
		for k, v := range filterEntry {
			attrs[k] = v
		}
		attrs["cn"] = append([]string{value}, attrs["cn"]...)
		attrs["description"] = []string{value}
		got := flt.match(attrs)

		neg, err := compileFilter("(!" + text + ")")
		if err != nil {
			t.Fatalf("compileFilter(%q) error: %v; %q compiled", "(!"+text+")", err, text)
		}
		if ng := neg.match(attrs); ng == got {
			t.Errorf("match(%q) = %v and match of its negation = %v", text, got, ng)
		}

		p, err := goldap.CompileFilter(text)
		if err != nil {
			t.Fatalf("goldap.CompileFilter(%q) error: %v", text, err)
		}
		back, err := goldap.DecompileFilter(p)
		if err != nil {
			return
		}
		again, err := compileFilter(back)
		if err != nil {
			return // go-ldap does not always write back what it reads
		}
		if g2 := again.match(attrs); g2 != got {
			t.Errorf("match(%q) = %v, match of its decompiled form %q = %v", text, got, back, g2)
		}
	})
}
