package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShow previews demo people and compares with golden files in
// testdata/show: an approved partner (both books, reads one), a partner
// who is not approved, a disabled employee, and a person found by mail.
func TestShow(t *testing.T) {
	config := filepath.Join("..", "..", "testdata", "demo", "dirbook.yaml")
	tests := []struct{ name, who string }{
		{"approved-partner", "paul.partner"},
		{"unapproved-partner", "uid=ulrike.unapproved,ou=partners,dc=nordlicht,dc=example"},
		{"disabled", "dieter.disabled"},
		{"by-mail-v4", "Greta.Zimmermann@nordlicht.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"show", "--config", config, tt.who}
			if strings.HasSuffix(tt.name, "-v4") {
				args = append(args, "--vcard-version", "4.0")
			}
			res := runDirbook(t, args...)
			if res.code != codeOK {
				t.Fatalf("show %s: exit code %d\n%s", tt.who, res.code, res.stderr)
			}
			golden := filepath.Join("..", "..", "testdata", "show", tt.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(res.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if res.stdout != string(want) {
				t.Errorf("show %s printed:\n%s\nwant:\n%s", tt.who, res.stdout, want)
			}
		})
	}
	res := runDirbook(t, "show", "--config", config, "nobody@nordlicht.example")
	if res.code != codeError || !strings.Contains(res.stderr, `no person matches "nobody@nordlicht.example"`) {
		t.Errorf("show of an unknown person: exit code %d, stderr %q; want 1 and a clear message", res.code, res.stderr)
	}
}
