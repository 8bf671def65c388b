package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/slapdtest"
	dirsync "github.com/dirbook/dirbook/sync"
)

// TestSyncFromSlapd loads the demo directory into a real slapd and syncs
// it through an ldap:// source with StartTLS: the published books must be
// the same, card for card, as the ones the LDIF file gives.
func TestSyncFromSlapd(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo", "demo.ldif")
	s := slapdtest.Start(t, &slapdtest.Options{Suffix: "dc=nordlicht,dc=example", Load: []string{demo}, SizeLimit: 20})

	fileConfig := demoCopy(t)
	if res := runDirbook(t, "sync", "--config", fileConfig); res.code != codeChanges {
		t.Fatalf("sync from the LDIF file: exit code %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	data, err := os.ReadFile(fileConfig)
	if err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf(`  - name: demo
    url: %s
    start_tls: true
    ca_file: %s
    bind_dn: %s
    bind_password_env: DIRBOOK_TEST_BIND_PASSWORD
    page_size: 7
`, s.URL, s.CAFile, s.ReaderDN)
	cfg := strings.Replace(string(data), "  - name: demo\n    ldif: demo.ldif\n", server, 1)
	if cfg == string(data) {
		t.Fatal("the demo config has no ldif source to replace")
	}
	serverConfig := filepath.Join(t.TempDir(), "dirbook.yaml")
	cfg = strings.Replace(cfg, "app_passwords_file: app-passwords.yaml", "app_passwords_file: "+filepath.Join(filepath.Dir(fileConfig), "app-passwords.yaml"), 1)
	if err := os.WriteFile(serverConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DIRBOOK_TEST_BIND_PASSWORD", s.ReaderPassword)
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
				t.Errorf("book %s: card %s (%s) differs between slapd and the file", want.ID, uid, w.FN())
			}
		}
	}
	for login, books := range fromFile.Access {
		if got := fromServer.Access[login]; strings.Join(got, ",") != strings.Join(books, ",") {
			t.Errorf("access of %s: %q from slapd, %q from the file", login, got, books)
		}
	}
}

// openStore returns the current revision of a config's store.
func openStore(t testing.TB, config string) *dirbook.Revision {
	t.Helper()
	cfg, err := LoadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	st, err := dirsync.OpenReadOnly(cfg.resolve(cfg.Store.Path), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Current()
}
