package main

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestBadConfigs runs "dirbook check" on every file of testdata/badconfig
// and compares what it prints with the file's .golden twin.
func TestBadConfigs(t *testing.T) {
	t.Setenv("DIRBOOK_TEST_UNSET_HASH", "")
	os.Unsetenv("DIRBOOK_TEST_UNSET_HASH")
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "badconfig", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs found: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			res := runDirbook(t, "check", "--config", file)
			if res.code != codeError {
				t.Errorf("check exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, codeError, res.stdout, res.stderr)
			}
			got := strings.ReplaceAll(res.stdout+res.stderr, filepath.Join("..", "..")+string(filepath.Separator), "")
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("check %s printed:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"a.b[2].c", "a|b|[2]|c"},
		{"books[0].fields[3]", "books|[0]|fields|[3]"},
		{"", ""},
	}
	for _, tt := range tests {
		var parts []string
		for _, s := range splitPath(tt.path) {
			if s.index >= 0 {
				parts = append(parts, "["+strconv.Itoa(s.index)+"]")
			} else {
				parts = append(parts, s.key)
			}
		}
		if got := strings.Join(parts, "|"); got != tt.want {
			t.Errorf("splitPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"filter", "base", "ldif", "name"}
	if got := suggest("fitler", names); got != "filter" {
		t.Errorf("suggest(%q) = %q, want %q", "fitler", got, "filter")
	}
	if got := suggest("colour", names); got != "" {
		t.Errorf("suggest(%q) = %q, want none", "colour", got)
	}
}
