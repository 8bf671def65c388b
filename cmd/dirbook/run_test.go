package main

import (
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
