package dirbook_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/dirbook/dirbook"

// bannedImports lists import edges the layout forbids, each with its reason.
// A key is a package path relative to the module ("" is the root package);
// a banned value ending in "/..." bans every package below it.
var bannedImports = map[string][]struct{ pkg, why string }{
	"": {
		{"github.com/...", "the domain types use the standard library only"},
		{"go.etcd.io/...", "the domain types use the standard library only"},
		{"go.yaml.in/...", "the domain types use the standard library only"},
		{"golang.org/x/...", "the domain types use the standard library only"},
	},
	"ldap": {
		{module + "/carddav", "sources know nothing of serving"},
		{module + "/sync", "sources are driven by sync, not the reverse"},
		{module + "/mapping", "sources hand over raw entries; rules are mapping's"},
	},
	"mapping": {
		{module + "/carddav", "rules are pure and know nothing of serving"},
		{module + "/sync", "rules are pure and know nothing of publishing"},
		{module + "/ldap", "rules see dirbook.Entry, never go-ldap types"},
		{"github.com/go-ldap/...", "go-ldap types stay in package ldap"},
		{"github.com/emersion/go-webdav/...", "only the HTTP side uses go-webdav"},
	},
	"sync": {
		{module + "/carddav", "publishing must not depend on serving"},
		{module + "/ldap", "sync reads sources through its own interface"},
		{"github.com/go-ldap/...", "go-ldap types stay in package ldap"},
		{"github.com/emersion/go-webdav/...", "only the HTTP side uses go-webdav"},
	},
	"carddav": {
		{module + "/ldap", "serving reads the store, never the directory"},
		{module + "/sync", "serving reads the store through its own interface"},
		{"github.com/go-ldap/...", "go-ldap types stay in package ldap"},
		{"go.etcd.io/bbolt", "serving reads the store through its own interface"},
	},
}

type listedPackage struct {
	ImportPath string
	Deps       []string
	Doc        string
	Name       string
}

func listPackages(t testing.TB) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	seen := map[string]bool{}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		seen[rel] = true
		for _, ban := range bannedImports[rel] {
			for _, dep := range p.Deps {
				if matches(dep, ban.pkg) {
					t.Errorf("%s imports %s: %s", p.ImportPath, dep, ban.why)
				}
			}
		}
	}
	for rel := range bannedImports {
		if !seen[rel] {
			t.Errorf("package %q in the import rules does not exist", rel)
		}
	}
}

func matches(dep, pattern string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return dep == prefix || strings.HasPrefix(dep, prefix+"/")
	}
	return dep == pattern
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.Name == "main" {
			if !strings.HasPrefix(p.Doc, "Dirbook") && !strings.HasPrefix(p.Doc, "Command") {
				if p.Doc == "" {
					t.Errorf("%s has no package doc comment", p.ImportPath)
				}
			}
			continue
		}
		want := "Package " + p.Name + " "
		if !strings.HasPrefix(p.Doc, want) {
			t.Errorf("%s: package doc = %q, want it to start with %q", p.ImportPath, p.Doc, want)
		}
	}
}
