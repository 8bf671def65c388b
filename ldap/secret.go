package ldap

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret is a password or another credential. It never shows itself:
// printed with any fmt verb, logged with slog or marshalled as text it is
// "[redacted]", or "" when empty. Convert it with string() where the value
// is needed.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `ldap.Secret("` + s.String() + `")` }

// Format keeps every fmt verb, %d and %x included, from printing the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.String())
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders (JSON, YAML) from writing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
