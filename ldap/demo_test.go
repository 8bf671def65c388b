package ldap

import (
	"slices"
	"strings"
	"testing"
)

// The demo directory as testdata/demo/dirbook.yaml configures it.
const (
	demoLDIF      = "../testdata/demo/demo.ldif"
	demoBase      = "dc=nordlicht,dc=example"
	demoFilter    = "(objectClass=inetOrgPerson)"
	demoEmployees = "cn=employees,ou=groups,dc=nordlicht,dc=example"
	demoApproved  = "cn=approved-partners,ou=groups,dc=nordlicht,dc=example"
)

func TestDemoDirectory(t *testing.T) {
	entries := readAll(t, demoLDIF, &LDIFOptions{Name: "demo", Base: demoBase, Filter: demoFilter, IDAttribute: "entryUUID"})
	if n := len(entries); n < 55 || n > 65 {
		t.Errorf("demo has %d people, want about 60", n)
	}
	ids := map[string]bool{}
	for _, e := range entries {
		if e.ID == "" || e.Invalid != "" {
			t.Errorf("entry %q: ID %q, Invalid %q, want an ID", e.DN, e.ID, e.Invalid)
		}
		if ids[e.ID] {
			t.Errorf("entry %q: ID %q used twice", e.DN, e.ID)
		}
		ids[e.ID] = true
		if e.Source != "demo" {
			t.Errorf("entry %q: Source = %q, want %q", e.DN, e.Source, "demo")
		}
		// Employees are members of cn=employees through their department
		// only.
		if strings.Contains(e.DN, ",ou=people,") && !e.MemberOf(demoEmployees) {
			t.Errorf("employee %q is not in %s", e.First("uid"), demoEmployees)
		}
	}

	tests := []struct {
		uid      string
		employee bool
		approved bool
		locked   bool
	}{
		{uid: "anna.schmidt", employee: true},
		{uid: "paul.partner", approved: true},
		{uid: "ulrike.unapproved"},
		{uid: "dieter.disabled", employee: true, locked: true},
		{uid: "hmeier", employee: true},
	}
	for _, tt := range tests {
		t.Run(tt.uid, func(t *testing.T) {
			e := byUID(entries, tt.uid)
			if e == nil {
				t.Fatalf("no person with uid %q", tt.uid)
			}
			if got := e.MemberOf(demoEmployees); got != tt.employee {
				t.Errorf("%s: MemberOf(%s) = %v, want %v", tt.uid, demoEmployees, got, tt.employee)
			}
			if got := e.MemberOf(demoApproved); got != tt.approved {
				t.Errorf("%s: MemberOf(%s) = %v, want %v", tt.uid, demoApproved, got, tt.approved)
			}
			if got := e.First("pwdAccountLockedTime") != ""; got != tt.locked {
				t.Errorf("%s: locked = %v, want %v", tt.uid, got, tt.locked)
			}
		})
	}

	anna := byUID(entries, "anna.schmidt")
	if anna != nil {
		if got, want := anna.Groups, []string{demoEmployees, "cn=engineering,ou=groups,dc=nordlicht,dc=example"}; !slices.Equal(got, want) {
			t.Errorf("anna.schmidt: Groups = %q, want %q", got, want)
		}
		if got := len(anna.Values("mail")); got != 2 {
			t.Errorf("anna.schmidt has %d mails, want 2", got)
		}
		if !strings.HasPrefix(anna.First("jpegPhoto"), "\xff\xd8") {
			t.Errorf("anna.schmidt: jpegPhoto is not a JPEG")
		}
		if anna.First("mobile") == "" || anna.First("telephoneNumber") == "" {
			t.Errorf("anna.schmidt: want a mobile and a work phone")
		}
	}

	hmeier := byUID(entries, "hmeier")
	if hmeier != nil {
		if got, want := hmeier.DN, `cn=Meier\, Hans+uid=hmeier,ou=people,dc=nordlicht,dc=example`; got != want {
			t.Errorf("hmeier: DN = %q, want %q", got, want)
		}
		if got, want := hmeier.First("cn"), "Meier, Hans"; got != want {
			t.Errorf("hmeier: cn = %q, want %q", got, want)
		}
		if !hmeier.MemberOf("cn=hr,ou=groups,dc=nordlicht,dc=example") {
			t.Errorf("hmeier: Groups = %q, want cn=hr among them", hmeier.Groups)
		}
	}

	wang := byUID(entries, "wang.fang")
	if wang == nil || wang.First("displayName") != "王芳" {
		t.Errorf("wang.fang: displayName is not 王芳")
	}
}
