package dirbook_test

import (
	"testing"

	"github.com/dirbook/dirbook"
)

func TestNormalizeDN(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "cn=Staff,ou=Groups,dc=Example,dc=com", "cn=staff,ou=groups,dc=example,dc=com"},
		{"spaces around separators", " CN = Staff , OU=Groups ", "cn=staff,ou=groups"},
		{"space inside value kept", "cn=Sales Team,dc=x", "cn=sales team,dc=x"},
		{"escaped comma kept", `cn=Meier\, Hans+uid=hm,dc=x`, `cn=meier\, hans+uid=hm,dc=x`},
		{"multi-valued rdn", "cn=a + uid=b,dc=x", "cn=a+uid=b,dc=x"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dirbook.NormalizeDN(tt.in); got != tt.want {
				t.Errorf("NormalizeDN(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEntryLookups(t *testing.T) {
	e := &dirbook.Entry{
		Attrs:  map[string][]string{"mail": {"a@example.org", "b@example.org"}},
		Groups: []string{"cn=staff,dc=x"},
	}
	if got := e.First("MAIL"); got != "a@example.org" {
		t.Errorf("First(%q) = %q, want %q", "MAIL", got, "a@example.org")
	}
	if got := e.First("mobile"); got != "" {
		t.Errorf("First(%q) = %q, want empty", "mobile", got)
	}
	if !e.MemberOf("CN=Staff, DC=x") {
		t.Errorf("MemberOf(%q) = false, want true", "CN=Staff, DC=x")
	}
	if e.MemberOf("cn=other,dc=x") {
		t.Errorf("MemberOf(%q) = true, want false", "cn=other,dc=x")
	}
}
