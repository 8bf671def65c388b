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

// TestLaunch starts a server the way a program does, and stops it.
func TestLaunch(t *testing.T) {
	requireTools(t)
	d := &Directory{People: 5, Departments: 1}
	dir := t.TempDir()
	people := filepath.Join(dir, "people.ldif")
	write(t, people, func(f *os.File) error { return d.WritePeople(f, true) })

	s, err := Launch(dir, &Options{Load: []string{people}})
	if err != nil {
		t.Fatalf("Launch error = %v", err)
	}
	if out := search(t, s, "uid="+d.UID(4), "uid"); !strings.Contains(out, "uid: "+d.UID(4)) {
		t.Errorf("search = %q, want %s", out, d.UID(4))
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close error = %v", err)
	}
	if err := exec.Command("ldapsearch", "-x", "-H", s.URL, "-b", s.BaseDN, "-s", "base").Run(); err == nil {
		t.Errorf("ldapsearch after Close succeeded, want an error")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "slapdtest-*")); len(left) != 0 {
		t.Errorf("files left after Close: %q", left)
	}

	// A failure is an error, and leaves nothing behind.
	s, err = Launch(dir, &Options{Load: []string{filepath.Join(dir, "missing.ldif")}})
	if err == nil {
		s.Close()
		t.Fatal("Launch with a missing file: no error")
	}
	if !strings.HasPrefix(err.Error(), "slapdtest: ") {
		t.Errorf("Launch error = %q, want it to start with slapdtest: ", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "slapdtest-*")); len(left) != 0 {
		t.Errorf("files left after a failed Launch: %q", left)
	}
}
