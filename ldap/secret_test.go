package ldap

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	const pw = "hunter2"
	s := Secret(pw)
	leaks := func(out string) bool {
		return strings.Contains(out, pw) || strings.Contains(strings.ToLower(out), hex.EncodeToString([]byte(pw)))
	}
	for _, verb := range []string{"%v", "%s", "%q", "%x", "%X", "%#v", "%+v", "%d"} {
		if got := fmt.Sprintf(verb, s); leaks(got) || !strings.Contains(got, redacted) {
			t.Errorf("Sprintf(%q, secret) = %q, want it redacted", verb, got)
		}
	}
	opts := Options{URL: "ldaps://h", BindDN: "cn=r", BindPassword: s}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		if got := fmt.Sprintf(verb, opts); leaks(got) {
			t.Errorf("Sprintf(%q, options) = %q, shows the password", verb, got)
		}
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("bind", "password", s, "options", opts)
	if got := buf.String(); leaks(got) || !strings.Contains(got, `"password":"[redacted]"`) {
		t.Errorf("slog wrote %s, want the password redacted", got)
	}
	b, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); leaks(got) || !strings.Contains(got, `"BindPassword":"[redacted]"`) {
		t.Errorf("json.Marshal(options) = %s, want the password redacted", got)
	}

	if got := Secret("").String(); got != "" {
		t.Errorf("Secret(\"\").String() = %q, want \"\"", got)
	}
	if got := string(s); got != pw {
		t.Errorf("string(secret) = %q, want %q", got, pw)
	}
}
