package ldap

import (
	"strings"
	"unicode/utf8"

	"github.com/dirbook/dirbook"
	goldap "github.com/go-ldap/ldap/v3"
)

// readableDN returns dn in one spelling of its many: every value escaped
// only where RFC 4514 requires it, with a backslash before the special
// character (`\,`, not `\2C`), and UTF-8 text as it is. Servers spell DNs
// differently (slapd returns `cn=Meier\2C Hans`, where the group listing
// that person says `cn=Meier\, Hans`); in this form the spellings agree.
// Types keep their case, multi-valued RDNs their order. A DN that does not
// parse is returned as it is.
func readableDN(dn string) string {
	if !strings.ContainsAny(dn, `\"#`) {
		return dn
	}
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return dn
	}
	var b strings.Builder
	for i, rdn := range parsed.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, atv := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(atv.Type)
			b.WriteByte('=')
			writeDNValue(&b, atv.Value)
		}
	}
	return b.String()
}

// canonicalDN returns the form of dn that group DNs are compared and
// handed over in: readableDN normalised with dirbook.NormalizeDN.
func canonicalDN(dn string) string {
	return dirbook.NormalizeDN(readableDN(dn))
}

// writeDNValue writes an attribute value escaped as RFC 4514 section 2.4
// requires, and no more.
func writeDNValue(b *strings.Builder, v string) {
	const hexDigits = "0123456789abcdef"
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\',
			i == 0 && (c == ' ' || c == '#'),
			i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c == 0x7f:
			b.WriteByte('\\')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteByte('\\')
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			} else {
				b.WriteString(v[i : i+size])
			}
			i += size
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
}
