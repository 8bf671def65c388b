package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// vdirsyncer drives the real vdirsyncer program against a server.
type vdirsyncer struct {
	bin    string
	config string
	dir    string
}

func newVdirsyncer(t testing.TB, url, user, password string) *vdirsyncer {
	t.Helper()
	v := &vdirsyncer{bin: requireTool(t, "vdirsyncer"), dir: t.TempDir()}
	v.config = filepath.Join(v.dir, "config")
	cfg := fmt.Sprintf(`[general]
status_path = %q

[pair dirbook]
a = "dirbook_remote"
b = "dirbook_local"
collections = ["from a"]
conflict_resolution = "a wins"

[storage dirbook_remote]
type = "carddav"
url = %q
username = %q
password = %q
read_only = true

[storage dirbook_local]
type = "filesystem"
path = %q
fileext = ".vcf"
`, filepath.Join(v.dir, "status")+"/", url, user, password, filepath.Join(v.dir, "contacts")+"/")
	if err := os.WriteFile(v.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

// run runs vdirsyncer with args, answering "y" to its questions (it asks
// whether to create local collections).
func (v *vdirsyncer) run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(v.bin, append([]string{"--config", v.config}, args...)...)
	cmd.Stdin = strings.NewReader(strings.Repeat("y\n", 20))
	cmd.Env = append(os.Environ(), "HOME="+v.dir, "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vdirsyncer %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// collections returns, per local collection, the sorted file names.
func (v *vdirsyncer) collections(t testing.TB) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	dirs, err := os.ReadDir(filepath.Join(v.dir, "contacts"))
	if errors.Is(err, fs.ErrNotExist) {
		return got // no collection was synced
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, err := filepath.Glob(filepath.Join(v.dir, "contacts", d.Name(), "*.vcf"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f))
		}
		sort.Strings(names)
		got[d.Name()] = names
	}
	return got
}

// fns returns the FN values of the cards in one local collection.
func (v *vdirsyncer) fns(t testing.TB, collection string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(v.dir, "contacts", collection, "*.vcf"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	re := regexp.MustCompile(`(?m)^FN[;:](?:[^:\r\n]*:)?([^\r\n]*)\r?$`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(data)
		if m == nil {
			t.Errorf("%s has no FN line:\n%s", f, data)
			continue
		}
		names = append(names, string(m[1]))
	}
	sort.Strings(names)
	return names
}

var transferLine = regexp.MustCompile(`(?m)^(Copying|Deleting|Updating).*$`)

func TestEndToEndVdirsyncerKhard(t *testing.T) {
	config := demoCopy(t)
	srv := startServe(t, config)

	// anna is an employee: she sees both books.
	v := newVdirsyncer(t, srv.url, "anna", "demo-anna")
	v.run(t, "discover")
	first := v.run(t, "sync")
	got := v.collections(t)
	if len(got) != 2 || len(got["colleagues"]) != demoColleagues || len(got["partners"]) != demoPartners {
		t.Fatalf("after sync, local collections hold %d books: colleagues %d cards, partners %d cards; want 2 books, %d and %d cards\n%s",
			len(got), len(got["colleagues"]), len(got["partners"]), demoColleagues, demoPartners, first)
	}
	if n := len(transferLine.FindAllString(first, -1)); n != demoColleagues+demoPartners {
		t.Errorf("first vdirsyncer sync reported %d transfers, want %d:\n%s", n, demoColleagues+demoPartners, first)
	}
	colleagues := v.fns(t, "colleagues")
	for _, name := range []string{"Anna Schmidt", "Paul Partner", "Jürgen Müller", "Øyvind Hansen", "Zoë Lefèvre"} {
		if !contains(colleagues, name) {
			t.Errorf("colleagues lacks %q; has %q", name, colleagues)
		}
	}
	for _, name := range colleagues {
		if strings.Contains(name, "Ulrike") || strings.Contains(name, "Dieter") {
			t.Errorf("colleagues shows %q: unapproved partners and disabled accounts must be in no book", name)
		}
	}

	// A second sync transfers nothing.
	second := v.run(t, "sync")
	if m := transferLine.FindAllString(second, -1); len(m) > 0 {
		t.Errorf("second vdirsyncer sync transferred %d items, want none:\n%s", len(m), second)
	}

	// khard reads every synced card without error. The same person may be
	// in both books with the same UID (a UID is unique within a book), and
	// khard warns about UIDs seen twice across its books, so each book gets
	// its own khard configuration.
	khard := requireTool(t, "khard")
	for book, want := range map[string]int{"colleagues": demoColleagues, "partners": demoPartners} {
		lines := khardList(t, khard, v.dir, book)
		if len(lines) != want {
			t.Errorf("khard lists %d contacts of %s, want %d:\n%s", len(lines), book, want, strings.Join(lines, "\n"))
		}
	}

	// paul is an approved partner: only the Partners book.
	p := newVdirsyncer(t, srv.url, "paul", "demo-paul")
	p.run(t, "discover")
	p.run(t, "sync")
	gotP := p.collections(t)
	if len(gotP) != 1 || len(gotP["partners"]) != demoPartners {
		t.Errorf("paul's collections = %v, want only partners with %d cards", keys(gotP), demoPartners)
	}
	partners := p.fns(t, "partners")
	if !contains(partners, "Paul Partner") || contains(partners, "Ulrike Unapproved") {
		t.Errorf("partners = %q, want Paul Partner and not Ulrike Unapproved", partners)
	}

	// ulrike is a partner who is not approved: she may log in, but there
	// is no book for her.
	u := newVdirsyncer(t, srv.url, "ulrike", "demo-ulrike")
	u.run(t, "discover")
	u.run(t, "sync")
	if gotU := u.collections(t); len(gotU) != 0 {
		t.Errorf("ulrike's collections = %v, want none", keys(gotU))
	}
}

// TestWritesRefused sends PUT and DELETE to a running server and checks
// the 403 need-privileges answer and that the published revision stays.
func TestWritesRefused(t *testing.T) {
	config := demoCopy(t)
	srv := startServe(t, config)
	before := etags(t, srv.url+"dav/anna/books/colleagues/", "anna", "demo-anna")
	if len(before) != demoColleagues {
		t.Fatalf("PROPFIND lists %d cards, want %d", len(before), demoColleagues)
	}
	var some string
	for href := range before {
		some = href
		break
	}
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Mallory\r\nEND:VCARD\r\n"
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "dav/anna/books/colleagues/new.vcf", card},
		{"PUT", strings.TrimPrefix(some, "/"), card},
		{"DELETE", strings.TrimPrefix(some, "/"), ""},
		{"DELETE", "dav/anna/books/colleagues/", ""},
	} {
		resp := httpDo(t, tc.method, srv.url+tc.path, "anna", "demo-anna", nil, tc.body)
		if resp.status != http.StatusForbidden || !strings.Contains(resp.body, "need-privileges") {
			t.Errorf("%s %s = %d %q, want 403 with need-privileges", tc.method, tc.path, resp.status, resp.body)
		}
	}
	after := etags(t, srv.url+"dav/anna/books/colleagues/", "anna", "demo-anna")
	if !sameMap(before, after) {
		t.Errorf("cards changed after refused writes")
	}
	srv.stop(t)
	if rev := storeRevision(t, config); rev != 1 {
		t.Errorf("store revision after refused writes = %d, want 1", rev)
	}
}

// TestDryRunThenSync edits a copy of the demo LDIF (one person added, one
// phone changed, one person removed) and checks that the dry run reports
// exactly those changes and writes nothing, and that the real sync then
// publishes them.
func TestDryRunThenSync(t *testing.T) {
	config := demoCopy(t)
	srv := startServe(t, config)
	before := etags(t, srv.url+"dav/anna/books/colleagues/", "anna", "demo-anna")
	srv.stop(t)

	ldif := filepath.Join(filepath.Dir(config), "demo.ldif")
	editDemo(t, ldif)

	res := runDirbook(t, "sync", "--config", config, "--dry-run", "--verbose")
	if res.code != codeChanges {
		t.Fatalf("sync --dry-run exit code = %d, want %d\n%s%s", res.code, codeChanges, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"colleagues: 1 added, 1 changed, 1 removed",
		"Neele Neumann",
		"+4930555123",
		"Tim Koch",
		// Neele's mobile number is too short: reported and dropped.
		"\nwarnings:\n",
		"\n  uid=neele.neumann,ou=people,dc=nordlicht,dc=example: mobile: value 1 of mobile is not a valid phone number\n",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "0170 12") || strings.Contains(res.stdout, "+4917012") {
		t.Errorf("dry run output shows the invalid number:\n%s", res.stdout)
	}
	if rev := storeRevision(t, config); rev != 1 {
		t.Errorf("store revision after dry run = %d, want 1 (nothing written)", rev)
	}

	res = runDirbook(t, "sync", "--config", config)
	if res.code != codeChanges {
		t.Fatalf("sync exit code = %d, want %d\n%s%s", res.code, codeChanges, res.stdout, res.stderr)
	}
	if rev := storeRevision(t, config); rev != 2 {
		t.Errorf("store revision after sync = %d, want 2", rev)
	}
	res = runDirbook(t, "sync", "--config", config)
	if res.code != codeOK {
		t.Errorf("second sync exit code = %d, want %d (nothing to do)\n%s", res.code, codeOK, res.stdout)
	}

	srv = startServe(t, config)
	after := etags(t, srv.url+"dav/anna/books/colleagues/", "anna", "demo-anna")
	if len(after) != len(before) {
		t.Errorf("book has %d cards after sync, want %d (one added, one removed)", len(after), len(before))
	}
	var added, removed, changed int
	for href, tag := range after {
		old, ok := before[href]
		switch {
		case !ok:
			added++
		case old != tag:
			changed++
		}
	}
	for href := range before {
		if _, ok := after[href]; !ok {
			removed++
		}
	}
	if added != 1 || removed != 1 || changed != 1 {
		t.Errorf("served changes: %d added, %d changed, %d removed; want 1 each", added, changed, removed)
	}
}

// khardList runs "khard list" on one synced book and returns its lines.
func khardList(t testing.TB, khard, dir, book string) []string {
	t.Helper()
	kcfg := filepath.Join(dir, "khard-"+book+".conf")
	kconf := fmt.Sprintf(`[addressbooks]
[[%s]]
path = %s

[general]
default_action = list
editor = /bin/true
merge_editor = /bin/true

[contact table]
display = formatted_name
`, book, filepath.Join(dir, "contacts", book))
	if err := os.WriteFile(kcfg, []byte(kconf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(khard, "-c", kcfg, "list", "--parsable")
	cmd.Env = append(os.Environ(), "HOME="+dir, "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
	var kout, kerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &kout, &kerr
	if err := cmd.Run(); err != nil {
		t.Fatalf("khard list %s: %v\n%s%s", book, err, kout.String(), kerr.String())
	}
	if kerr.Len() > 0 {
		t.Errorf("khard list %s wrote errors:\n%s", book, kerr.String())
	}
	return strings.Split(strings.TrimSpace(kout.String()), "\n")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

var propfindETags = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`

// etags lists the members of a book with their ETags by PROPFIND Depth 1.
func etags(t testing.TB, url, user, password string) map[string]string {
	t.Helper()
	resp := httpDo(t, "PROPFIND", url, user, password, map[string]string{"Depth": "1", "Content-Type": "application/xml"}, propfindETags)
	if resp.status != http.StatusMultiStatus {
		t.Fatalf("PROPFIND %s = %d, want 207\n%s", url, resp.status, resp.body)
	}
	var ms struct {
		Responses []struct {
			Href     string `xml:"DAV: href"`
			Propstat []struct {
				ETag   string `xml:"DAV: prop>getetag"`
				Status string `xml:"DAV: status"`
			} `xml:"DAV: propstat"`
		} `xml:"DAV: response"`
	}
	if err := xml.Unmarshal([]byte(resp.body), &ms); err != nil {
		t.Fatalf("PROPFIND %s: %v\n%s", url, err, resp.body)
	}
	out := map[string]string{}
	for _, r := range ms.Responses {
		for _, ps := range r.Propstat {
			if strings.Contains(ps.Status, " 200 ") && strings.HasSuffix(r.Href, ".vcf") {
				out[r.Href] = ps.ETag
			}
		}
	}
	return out
}

const (
	// demoColleagues is the number of people in the demo's Colleagues book:
	// 50 employees less the disabled one, plus 6 approved partners.
	demoColleagues = 55
	// demoPartners is the number of approved partners.
	demoPartners = 6
)

// editDemo changes a copy of the demo LDIF: Neele Neumann joins
// engineering, Greta Zimmermann's work phone changes, Tim Koch leaves.
func editDemo(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	replace := func(old, new string) {
		t.Helper()
		if strings.Count(s, old) != 1 {
			t.Fatalf("demo LDIF has %d copies of %q, want 1", strings.Count(s, old), old)
		}
		s = strings.Replace(s, old, new, 1)
	}
	// Added: a new person, member of engineering.
	replace("member: uid=anna.schmidt,ou=people,dc=nordlicht,dc=example\n",
		"member: uid=anna.schmidt,ou=people,dc=nordlicht,dc=example\nmember: uid=neele.neumann,ou=people,dc=nordlicht,dc=example\n")
	s += `
dn: uid=neele.neumann,ou=people,dc=nordlicht,dc=example
objectClass: inetOrgPerson
uid: neele.neumann
cn: Neele Neumann
sn: Neumann
givenName: Neele
o: Nordlicht GmbH
ou: Engineering
mail: neele.neumann@nordlicht.example
mobile: 0170 12
entryUUID: 0b7e6c1a-3f0e-4c7b-9a55-5b1e0a6f0001
`
	// Changed: a work phone.
	replace("telephoneNumber: 040 97081781\n", "telephoneNumber: 030 555123\n")
	// Removed: Tim Koch's entry and membership.
	start := strings.Index(s, "dn: uid=tim.koch,")
	end := strings.Index(s[start:], "\n\n")
	if start < 0 || end < 0 {
		t.Fatal("demo LDIF has no entry for tim.koch")
	}
	s = s[:start] + s[start+end+2:]
	replace("member: uid=tim.koch,ou=people,dc=nordlicht,dc=example\n", "")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
