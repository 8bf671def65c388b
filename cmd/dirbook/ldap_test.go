package main

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook/internal/slapdtest"
)

// TestSyncFromSlapd loads the demo directory into a real slapd and syncs
// it through an ldap:// source with StartTLS: the published books must be
// the same, card for card, as the ones the LDIF file gives.
func TestSyncFromSlapd(t *testing.T) {
	s := slapdDemo(t, 20)
	fileConfig := demoCopy(t)
	if res := runDirbook(t, "sync", "--config", fileConfig); res.code != codeChanges {
		t.Fatalf("sync from the LDIF file: exit code %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	serverConfig := slapdConfig(t, s, func(cfg string) string {
		return strings.Replace(cfg, "    bind_password_env:", "    page_size: 7\n    bind_password_env:", 1)
	})
	if res := runDirbook(t, "check", "--config", serverConfig); res.code != codeOK {
		t.Fatalf("check of the slapd config: exit code %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := runDirbook(t, "sync", "--config", serverConfig); res.code != codeChanges {
		t.Fatalf("sync from slapd: exit code %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	fromFile := openStore(t, fileConfig)
	fromServer := openStore(t, serverConfig)
	for _, want := range fromFile.Books {
		got := fromServer.Book(want.ID)
		if got == nil {
			t.Errorf("book %s missing after the sync from slapd", want.ID)
			continue
		}
		if len(got.Cards) != len(want.Cards) {
			t.Errorf("book %s: %d cards from slapd, %d from the file", want.ID, len(got.Cards), len(want.Cards))
		}
		for uid, w := range want.Cards {
			if g := got.Cards[uid]; g == nil || g.ETag != w.ETag {
				t.Errorf("book %s: card %s differs between slapd and the file", want.ID, uid)
			}
		}
	}
	for login, books := range fromFile.Access {
		if got := fromServer.Access[login]; strings.Join(got, ",") != strings.Join(books, ",") {
			t.Errorf("access of %s: %q from slapd, %q from the file", login, got, books)
		}
	}
}

// TestLDAPLogin serves the demo directory from slapd and logs in with
// directory passwords (auth.ldap): the login's groups decide its books,
// and a wrong password gets 401.
func TestLDAPLogin(t *testing.T) {
	s := slapdDemo(t, 0)
	s.Modify(t, `dn: uid=anna.schmidt,ou=people,dc=nordlicht,dc=example
changetype: modify
replace: userPassword
userPassword: anna-directory-pw

dn: uid=paul.partner,ou=partners,dc=nordlicht,dc=example
changetype: modify
replace: userPassword
userPassword: paul-directory-pw
`)
	fileConfig := slapdConfig(t, s, func(cfg string) string {
		return strings.Replace(cfg, "  app_passwords_file: app-passwords.yaml\n", `  app_passwords_file: app-passwords.yaml
  ldap:
    source: demo
    user_filter: (|(uid={login})(mail={login}))
`, 1)
	})
	srv := startServe(t, fileConfig)

	for _, tc := range []struct {
		user, password string
		status         int
		books          []string
	}{
		{"anna.schmidt", "anna-directory-pw", 207, []string{"colleagues", "partners"}},
		{"anna.schmidt@nordlicht.example", "anna-directory-pw", 207, []string{"colleagues", "partners"}},
		{"paul.partner", "paul-directory-pw", 207, []string{"partners"}},
		{"anna.schmidt", "wrong", 401, nil},
		{"anna.schmidt", "", 401, nil},
		{"*", "anna-directory-pw", 401, nil},
		{"anna", "demo-anna", 207, []string{"colleagues", "partners"}}, // app passwords still work
	} {
		status, books := listBooks(t, srv.url, tc.user, tc.password)
		if status != tc.status || strings.Join(books, ",") != strings.Join(tc.books, ",") {
			t.Errorf("login %q/%q: status %d, books %q; want %d, %q", tc.user, tc.password, status, books, tc.status, tc.books)
		}
	}
}

// listBooks discovers the books a login sees, as a client does: the
// principal from the root, the home set, then the home's members.
func listBooks(t testing.TB, base, user, password string) (int, []string) {
	t.Helper()
	body := `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/><d:resourcetype/></d:prop></d:propfind>`
	resp := httpDo(t, "PROPFIND", base+"dav/", user, password, map[string]string{"Depth": "0"}, body)
	if resp.status != http.StatusMultiStatus {
		return resp.status, nil
	}
	m := regexp.MustCompile(`<D:current-user-principal><D:href>([^<]+)</D:href>`).FindStringSubmatch(resp.body)
	if m == nil {
		t.Fatalf("no current-user-principal in %s", resp.body)
	}
	hrefs := etagsOrMembers(t, base+strings.TrimPrefix(m[1], "/")+"books/", user, password)
	var books []string
	for _, h := range hrefs {
		parts := strings.Split(strings.Trim(h, "/"), "/")
		if len(parts) == 4 {
			books = append(books, parts[3])
		}
	}
	sort.Strings(books)
	return http.StatusMultiStatus, books
}

// etagsOrMembers lists the hrefs of a collection's members (Depth 1).
func etagsOrMembers(t testing.TB, url, user, password string) []string {
	t.Helper()
	resp := httpDo(t, "PROPFIND", url, user, password, map[string]string{"Depth": "1"},
		`<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>`)
	var ms struct {
		Responses []struct {
			Href string `xml:"DAV: href"`
		} `xml:"DAV: response"`
	}
	if err := xml.Unmarshal([]byte(resp.body), &ms); err != nil {
		t.Fatalf("PROPFIND %s: %v", url, err)
	}
	var out []string
	for _, r := range ms.Responses {
		out = append(out, r.Href)
	}
	return out
}

// TestWatchFromSlapd serves the demo directory from slapd in watch mode:
// an HR edit in slapd reaches the served book without a sync being asked
// for.
func TestWatchFromSlapd(t *testing.T) {
	s := slapdDemo(t, 0)
	config := slapdConfig(t, s, nil)
	srv := startServe(t, config)
	book := srv.url + "dav/anna/books/colleagues/"
	before := etags(t, book, "anna", "demo-anna")
	if len(before) != demoColleagues {
		t.Fatalf("colleagues has %d cards, want %d", len(before), demoColleagues)
	}
	s.Modify(t, `dn: uid=greta.zimmermann,ou=people,dc=nordlicht,dc=example
changetype: modify
replace: telephoneNumber
telephoneNumber: 030 555123
`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		after := etags(t, book, "anna", "demo-anna")
		changed := 0
		for href, tag := range after {
			if before[href] != tag {
				changed++
			}
		}
		if changed == 1 && len(after) == len(before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the edit in slapd, %d cards changed (want 1)\n%s", changed, srv.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// slapdDemo starts a slapd holding the demo directory; sizeLimit caps
// unpaged searches (0: the harness's default).
func slapdDemo(t testing.TB, sizeLimit int) *slapdtest.Server {
	t.Helper()
	demo := filepath.Join("..", "..", "testdata", "demo", "demo.ldif")
	return slapdtest.Start(t, &slapdtest.Options{Suffix: "dc=nordlicht,dc=example", Load: []string{demo}, SizeLimit: sizeLimit})
}

// slapdConfig writes a copy of the demo configuration whose source reads
// s over StartTLS as its reader account, changed further by edit (if not
// nil), and returns its path.
func slapdConfig(t testing.TB, s *slapdtest.Server, edit func(string) string) string {
	t.Helper()
	config := demoCopy(t)
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), "  - name: demo\n    ldif: demo.ldif\n", fmt.Sprintf(`  - name: demo
    url: %s
    start_tls: true
    ca_file: %s
    bind_dn: %s
    bind_password_env: DIRBOOK_TEST_BIND_PASSWORD
`, s.URL, s.CAFile, s.ReaderDN), 1)
	if cfg == string(data) {
		t.Fatal("the demo config has no ldif source to replace")
	}
	if edit != nil {
		cfg = edit(cfg)
	}
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DIRBOOK_TEST_BIND_PASSWORD", s.ReaderPassword)
	return config
}
