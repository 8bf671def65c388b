package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"top", []string{"--help"}, "Commands:"},
		{"help word", []string{"help"}, "Commands:"},
		{"serve", []string{"serve", "--help"}, "serves the\npublished address books"},
		{"sync", []string{"sync", "--help"}, "--dry-run"},
		{"check", []string{"check", "--help"}, "Validates the configuration"},
		{"hash-password", []string{"hash-password", "--help"}, "bcrypt hash"},
		{"show", []string{"show", "--help"}, "Previews one person"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runDirbook(t, tt.args...)
			if res.code != codeOK {
				t.Errorf("dirbook %s exit code = %d, want 0\n%s", strings.Join(tt.args, " "), res.code, res.stderr)
			}
			if !strings.Contains(res.stdout, tt.want) {
				t.Errorf("dirbook %s printed:\n%s\nwant it to contain %q", strings.Join(tt.args, " "), res.stdout, tt.want)
			}
			if n := strings.Count(res.stdout, "Usage:"); n != 1 || res.stderr != "" {
				t.Errorf("dirbook %s printed the usage %d times, and %q on stderr; want once, nothing on stderr", strings.Join(tt.args, " "), n, res.stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"sync", "--dry"}, "unknown flag: --dry"},
		{"missing config", []string{"sync"}, "--config is required"},
		{"stray argument", []string{"check", "--config", "x.yaml", "extra"}, `unexpected argument "extra"`},
		{"bad log level", []string{"sync", "--config", "x.yaml", "--log-level", "loud"}, `--log-level "loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runDirbook(t, tt.args...)
			if res.code != codeUsage {
				t.Errorf("dirbook %s exit code = %d, want %d", strings.Join(tt.args, " "), res.code, codeUsage)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("dirbook %s stderr:\n%s\nwant it to contain %q", strings.Join(tt.args, " "), res.stderr, tt.want)
			}
		})
	}
}

func TestCheckDemo(t *testing.T) {
	res := runDirbook(t, "check", "--config", filepath.Join("..", "..", "testdata", "demo", "dirbook.yaml"))
	if res.code != codeOK {
		t.Fatalf("check of the demo config: exit code %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if want := "OK: 1 source(s), 2 book(s), 60 people read"; !strings.Contains(res.stdout, want) {
		t.Errorf("check printed %q, want %q", res.stdout, want)
	}
}

func TestHashPassword(t *testing.T) {
	var out strings.Builder
	err := run(t.Context(), []string{"hash-password", "--cost", "4"}, strings.NewReader("s3cret\n"), &out, &out)
	if err != nil {
		t.Fatalf("hash-password: %v", err)
	}
	hash := strings.TrimSpace(out.String())
	if !strings.HasPrefix(hash, "$2a$04$") {
		t.Errorf("hash-password printed %q, want a bcrypt hash of cost 4", hash)
	}
	err = run(t.Context(), []string{"hash-password"}, strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("hash-password with empty stdin: error %v, want one about no password", err)
	}
}

// TestCheckWarnings checks that check warns about a book whose rules
// match nobody and an attribute the rules read that no entry has, in the
// whole directory and, with --probe, in a sample of it.
func TestCheckWarnings(t *testing.T) {
	config := demoCopy(t)
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "    - name: photo\n", `    - name: room
      property: NOTE
      from: [dirbookRoomNumber]
    - name: photo
`, 1)
	edited += `    - id: board
      name: Board
      include:
        member_of:
          - cn=board,ou=groups,dc=nordlicht,dc=example
      readers:
        member_of:
          - cn=board,ou=groups,dc=nordlicht,dc=example
      fields: [fn, room]
`
	if err := os.WriteFile(config, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args     []string
		sample   string
		read     string
		unwanted []string // warnings that would be wrong
	}{
		{nil, "", "3 book(s), 60 people read", []string{"book colleagues:", "book partners:", "attribute mail "}},
		// The first five entries are employees: the sample has no partner.
		{[]string{"--probe=5"}, " in the sample", "3 book(s), 5 people read", []string{"book colleagues:", "attribute mail "}},
	} {
		res := runDirbook(t, append([]string{"check", "--config", config}, tc.args...)...)
		if res.code != codeOK {
			t.Fatalf("check %v: exit code %d\n%s%s", tc.args, res.code, res.stdout, res.stderr)
		}
		for _, want := range []string{
			"warning: no entry" + tc.sample + " has the attribute dirbookRoomNumber that the rules read\n",
			"warning: book board: include matches nobody" + tc.sample + "\n",
			"warning: book board: readers matches nobody" + tc.sample + " ",
			"OK: 1 source(s), " + tc.read + "\n",
		} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("check %v printed\n%s\nwant a line with %q", tc.args, res.stdout, want)
			}
		}
		for _, unwanted := range tc.unwanted {
			if strings.Contains(res.stdout, unwanted) {
				t.Errorf("check %v printed\n%s\nwith %q, which the directory has", tc.args, res.stdout, unwanted)
			}
		}
	}
}
