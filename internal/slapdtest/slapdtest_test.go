package slapdtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDirectoryDeterministic(t *testing.T) {
	d := &Directory{People: 50, Departments: 4}
	var a, b bytes.Buffer
	if err := d.WritePeople(&a, true); err != nil {
		t.Fatal(err)
	}
	if err := d.WritePeople(&b, true); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("WritePeople wrote different files for the same directory")
	}
	if got := strings.Count(a.String(), "\ndn: uid="); got != 50 {
		t.Errorf("WritePeople wrote %d people, want 50", got)
	}
	if got, want := d.EntryUUID(7), d.EntryUUID(7); got != want || got == d.EntryUUID(8) {
		t.Errorf("EntryUUID(7) = %q, %q; EntryUUID(8) = %q: want stable and distinct", got, want, d.EntryUUID(8))
	}
	if got := d.EntryUUID(7); len(got) != 36 || got[14] != '5' {
		t.Errorf("EntryUUID(7) = %q, want a version 5 UUID", got)
	}
	if got, want := d.Groups(5), []string{"cn=dept-01,ou=groups,dc=example,dc=com", "cn=employees,ou=groups,dc=example,dc=com"}; !slices.Equal(got, want) {
		t.Errorf("Groups(5) = %q, want %q", got, want)
	}
}

// TestStart loads a small directory both ways, checks that the memberof
// overlay ran for the online part, and restarts the server.
func TestStart(t *testing.T) {
	d := &Directory{People: 20, Departments: 2}
	dir := t.TempDir()
	people := filepath.Join(dir, "people.ldif")
	groups := filepath.Join(dir, "groups.ldif")
	write(t, people, func(f *os.File) error { return d.WritePeople(f, false) })
	write(t, groups, func(f *os.File) error { return d.WriteGroups(f, false) })
	s := Start(t, &Options{Load: []string{people}, Add: []string{groups}})

	out := search(t, s, "uid="+d.UID(3), "memberOf", "entryUUID")
	if !strings.Contains(out, "memberOf: "+d.DepartmentDN(1)) {
		t.Errorf("search for %s = %q, want memberOf %s", d.UID(3), out, d.DepartmentDN(1))
	}
	if !strings.Contains(out, "entryUUID: "+d.EntryUUID(3)) {
		t.Errorf("search for %s = %q, want entryUUID %s", d.UID(3), out, d.EntryUUID(3))
	}

	s.Stop()
	if err := exec.Command("ldapsearch", "-x", "-H", s.URL, "-b", s.BaseDN, "-s", "base").Run(); err == nil {
		t.Errorf("ldapsearch after Stop succeeded, want an error")
	}
	s.Start()
	if out := search(t, s, "uid="+d.UID(3), "uid"); !strings.Contains(out, "uid: "+d.UID(3)) {
		t.Errorf("search after restart = %q, want %s", out, d.UID(3))
	}
}

func search(t *testing.T, s *Server, filter string, attrs ...string) string {
	t.Helper()
	args := append([]string{"-x", "-LLL", "-o", "ldif-wrap=no", "-H", s.URL, "-D", s.ReaderDN, "-w", s.ReaderPassword, "-b", s.BaseDN, filter}, attrs...)
	out, err := exec.Command("ldapsearch", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ldapsearch %s: %v\n%s", filter, err, out)
	}
	return string(out)
}

func write(t *testing.T, path string, fn func(*os.File) error) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
