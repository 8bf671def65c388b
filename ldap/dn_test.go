package ldap

import "testing"

func TestReadableDN(t *testing.T) {
	tests := []struct {
		name, in, readable, canonical string
	}{
		{"plain", "uid=a,ou=People,dc=example", "uid=a,ou=People,dc=example", "uid=a,ou=people,dc=example"},
		{"spaces", "uid=a, ou=People , dc=example", "uid=a, ou=People , dc=example", "uid=a,ou=people,dc=example"},
		{"hex comma", `cn=Meier\2C Hans+uid=hm,dc=x`, `cn=Meier\, Hans+uid=hm,dc=x`, `cn=meier\, hans+uid=hm,dc=x`},
		{"backslash comma", `cn=Meier\, Hans+uid=hm,dc=x`, `cn=Meier\, Hans+uid=hm,dc=x`, `cn=meier\, hans+uid=hm,dc=x`},
		{"hex UTF-8", `cn=M\c3\bcller,dc=x`, "cn=Müller,dc=x", "cn=müller,dc=x"},
		{"escaped plain characters", `cn=\41nna,dc=x`, "cn=Anna,dc=x", "cn=anna,dc=x"},
		{"quoted (RFC 1779) left as it is", `cn="a,b",dc=x`, `cn="a,b",dc=x`, `cn="a,b",dc=x`},
		{"specials", `cn=a\+b\;c\<d\>e\"f\\g,dc=x`, `cn=a\+b\;c\<d\>e\"f\\g,dc=x`, `cn=a\+b\;c\<d\>e\"f\\g,dc=x`},
		{"leading hash and spaces", `cn=\#x\20\20,dc=x`, `cn=\#x \ ,dc=x`, `cn=\#x \ ,dc=x`},
		{"leading space", `cn=\ x,dc=x`, `cn=\ x,dc=x`, `cn=\ x,dc=x`},
		{"control byte", `cn=a\0Ab,dc=x`, `cn=a\0ab,dc=x`, `cn=a\0ab,dc=x`},
		{"invalid UTF-8", `cn=a\ffb,dc=x`, `cn=a\ffb,dc=x`, `cn=a\ffb,dc=x`},
		{"does not parse", `cn=a\zz,dc=x`, `cn=a\zz,dc=x`, `cn=a\zz,dc=x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readableDN(tt.in); got != tt.readable {
				t.Errorf("readableDN(%q) = %q, want %q", tt.in, got, tt.readable)
			}
			if got := canonicalDN(tt.in); got != tt.canonical {
				t.Errorf("canonicalDN(%q) = %q, want %q", tt.in, got, tt.canonical)
			}
		})
	}
}
