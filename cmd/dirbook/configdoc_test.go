package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// configKeys lists every key path the configuration accepts, as written
// in docs/config.md: "sources[].ldif", "mapping.books[].include.member_of".
// Conditions nest; their keys are listed once under "condition.".
func configKeys() []string {
	keys := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				if t.Elem().Kind() == reflect.Struct || t.Elem().Kind() == reflect.Pointer {
					prefix += "[]"
				}
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Duration(0)) {
			return
		}
		if t.Name() == "Condition" && prefix != "condition" {
			keys[prefix] = true
			if !keys["condition"] {
				keys["condition"] = true
				walk(t, "condition")
			}
			return
		}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !sf.IsExported() {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			keys[key] = true
			walk(sf.Type, key)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	walk(reflect.TypeOf(AppPasswordConfig{}), "app_passwords_file[]")
	delete(keys, "condition")
	for k := range keys {
		if strings.HasSuffix(k, "[]") {
			delete(keys, k) // a list of conditions: documented as condition
		}
	}
	var out []string
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestConfigReference checks that docs/config.md documents every key of
// the configuration and no key that does not exist, so the reference
// cannot drift from the code.
func TestConfigReference(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	documented := map[string]bool{}
	// Keys are documented as the first cell of a table row: | `key` | ...
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_.\\[\\]]+)` \\|").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	known := map[string]bool{}
	for _, k := range configKeys() {
		known[k] = true
		if !documented[k] {
			t.Errorf("docs/config.md does not document the key %q", k)
		}
	}
	for k := range documented {
		if !known[k] {
			t.Errorf("docs/config.md documents %q, which the configuration does not have", k)
		}
	}
}

// TestConfigReferenceExample checks that the worked example of
// docs/config.md is a valid configuration.
func TestConfigReferenceExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example -->\\s*```yaml\\n(.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatal("docs/config.md has no ```yaml block after <!-- example -->")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "example.yaml")
	if err := os.WriteFile(path, m[1], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo.ldif", "app-passwords.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("DIRBOOK_BIND_PASSWORD", "example")
	if _, err := LoadConfig(path); err != nil {
		t.Errorf("the example of docs/config.md does not load: %v", err)
	}
}
