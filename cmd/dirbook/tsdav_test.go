package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"
)

// tsdavDir holds the script that drives the tsdav client and its npm
// packages, which scripts/test installs.
var tsdavDir = filepath.Join("..", "..", "e2e", "tsdav")

// tsdavRun is what one run of e2e/tsdav/sync.mjs printed.
type tsdavRun struct {
	Books []tsdavBook `json:"books"`
	// Requests lists what the client sent; SyncToken is set (possibly to
	// "") only on sync-collection reports.
	Requests []struct {
		Method    string  `json:"method"`
		Path      string  `json:"path"`
		SyncToken *string `json:"syncToken"`
	} `json:"requests"`
}

type tsdavBook struct {
	Path      string   `json:"path"`
	TokenSent string   `json:"tokenSent"`
	Created   []string `json:"created"`
	Updated   []string `json:"updated"`
	Deleted   []string `json:"deleted"`
	Counts    struct {
		Created, Updated, Deleted, Total int
	} `json:"counts"`
}

// tsdav runs the tsdav sync script against a server with the state file.
func tsdav(t testing.TB, node, url, user, password, state string) *tsdavRun {
	t.Helper()
	cmd := exec.Command(node, "sync.mjs", url, user, password, state)
	cmd.Dir = tsdavDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node sync.mjs: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var run tsdavRun
	if err := json.Unmarshal(stdout.Bytes(), &run); err != nil {
		t.Fatalf("node sync.mjs printed no JSON: %v\n%s", err, stdout.String())
	}
	return &run
}

// book returns the result of the book with the given path, failing the
// test if the run did not sync it.
func (r *tsdavRun) book(t testing.TB, path string) tsdavBook {
	t.Helper()
	for _, b := range r.Books {
		if b.Path == path {
			return b
		}
	}
	var paths []string
	for _, b := range r.Books {
		paths = append(paths, b.Path)
	}
	t.Fatalf("tsdav synced books %q, want %s among them", paths, path)
	return tsdavBook{}
}

// diffETags returns the hrefs added, changed and removed between two
// PROPFIND listings, each sorted.
func diffETags(before, after map[string]string) (added, changed, removed []string) {
	for href, tag := range after {
		old, ok := before[href]
		switch {
		case !ok:
			added = append(added, href)
		case old != tag:
			changed = append(changed, href)
		}
	}
	for href := range before {
		if _, ok := after[href]; !ok {
			removed = append(removed, href)
		}
	}
	sort.Strings(added)
	sort.Strings(changed)
	sort.Strings(removed)
	return added, changed, removed
}

// TestTsdavTokenSync drives the JavaScript client tsdav through a
// token-based sync: an initial sync from an empty token gets every card of
// each book the user sees, a second sync with the stored token gets
// nothing, and after one person is added, one changed and one removed in
// the directory, a sync with the stored token gets exactly those three.
func TestTsdavTokenSync(t *testing.T) {
	node := requireTool(t, "node")
	if _, err := os.Stat(filepath.Join(tsdavDir, "node_modules", "tsdav", "package.json")); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if os.Getenv("DIRBOOK_REQUIRE_TOOLS") != "" {
			t.Fatalf("e2e/tsdav/node_modules lacks tsdav; scripts/test installs it")
		}
		t.Skip("e2e/tsdav/node_modules lacks tsdav (scripts/test installs it)")
	}
	const (
		colleagues = "/dav/anna/books/colleagues/"
		partners   = "/dav/anna/books/partners/"
	)
	config := demoCopy(t)
	state := filepath.Join(t.TempDir(), "tsdav-state.json")
	srv := startServe(t, config)
	start := time.Now()

	// Initial sync: every card of both of anna's books, from an empty token.
	first := tsdav(t, node, srv.url, "anna", "demo-anna", state)
	if len(first.Books) != 2 {
		t.Fatalf("tsdav synced %d books, want 2 (colleagues and partners)", len(first.Books))
	}
	before := etags(t, srv.url+colleagues[1:], "anna", "demo-anna")
	for _, tc := range []struct {
		path string
		want int
	}{
		{colleagues, demoColleagues},
		{partners, demoPartners},
	} {
		b := first.book(t, tc.path)
		if b.TokenSent != "" {
			t.Errorf("initial sync of %s sent token %q, want the empty token", tc.path, b.TokenSent)
		}
		if b.Counts.Created != tc.want || b.Counts.Updated != 0 || b.Counts.Deleted != 0 || b.Counts.Total != tc.want {
			t.Errorf("initial sync of %s: %+v, want %d created and nothing else", tc.path, b.Counts, tc.want)
		}
	}
	if got, want := first.book(t, colleagues).Created, keys(before); !slices.Equal(got, want) {
		t.Errorf("initial sync of colleagues created %q,\nwant the PROPFIND listing %q", got, want)
	}

	// Unchanged: the stored token, nothing to fetch.
	second := tsdav(t, node, srv.url, "anna", "demo-anna", state)
	tokens := map[string]string{}
	for _, path := range []string{colleagues, partners} {
		b := second.book(t, path)
		if b.TokenSent == "" {
			t.Errorf("second sync of %s sent the empty token, want the stored one", path)
		}
		if b.Counts.Created+b.Counts.Updated+b.Counts.Deleted != 0 {
			t.Errorf("second sync of %s: %+v, want no change", path, b.Counts)
		}
		tokens[path] = b.TokenSent
	}
	for _, r := range second.Requests {
		if r.Method == "REPORT" && r.SyncToken == nil {
			t.Errorf("unchanged sync sent a REPORT other than sync-collection to %s, want none (nothing to fetch)", r.Path)
		}
	}

	// The directory changes; serve syncs it when it starts again. Its
	// store keeps the revisions, so the stored tokens stay valid.
	srv.stop(t)
	editDemo(t, filepath.Join(filepath.Dir(config), "demo.ldif"))
	srv = startServe(t, config)
	after := etags(t, srv.url+colleagues[1:], "anna", "demo-anna")
	added, changed, removed := diffETags(before, after)
	if len(added) != 1 || len(changed) != 1 || len(removed) != 1 {
		t.Fatalf("after the edit the server lists %d added, %d changed, %d removed cards; want 1 each", len(added), len(changed), len(removed))
	}

	third := tsdav(t, node, srv.url, "anna", "demo-anna", state)
	c := third.book(t, colleagues)
	if c.TokenSent != tokens[colleagues] {
		t.Errorf("sync after the edit sent token %q, want the stored %q", c.TokenSent, tokens[colleagues])
	}
	if !slices.Equal(c.Created, added) || !slices.Equal(c.Updated, changed) || !slices.Equal(c.Deleted, removed) {
		t.Errorf("sync after the edit: created %q, updated %q, deleted %q;\nwant created %q, updated %q, deleted %q",
			c.Created, c.Updated, c.Deleted, added, changed, removed)
	}
	if c.Counts.Total != len(after) {
		t.Errorf("after the sync the client holds %d colleagues, want %d", c.Counts.Total, len(after))
	}
	p := third.book(t, partners)
	if p.TokenSent != tokens[partners] || p.Counts.Created+p.Counts.Updated+p.Counts.Deleted != 0 {
		t.Errorf("sync of partners after the edit sent token %q and got %+v; want the stored %q and no change",
			p.TokenSent, p.Counts, tokens[partners])
	}

	// And once more: nothing.
	fourth := tsdav(t, node, srv.url, "anna", "demo-anna", state)
	for _, b := range fourth.Books {
		if b.TokenSent == "" || b.Counts.Created+b.Counts.Updated+b.Counts.Deleted != 0 {
			t.Errorf("last sync of %s sent token %q and got %+v, want a token and no change", b.Path, b.TokenSent, b.Counts)
		}
	}
	t.Logf("four tsdav syncs in %v", time.Since(start).Round(time.Millisecond))
}
