package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	dirsync "github.com/dirbook/dirbook/sync"
)

// requireTool returns the path of an external program the test drives. The
// README test command sets DIRBOOK_REQUIRE_TOOLS, under which a missing
// program fails the test instead of skipping it.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("DIRBOOK_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is not installed; scripts/test installs it", name)
		}
		t.Skipf("%s is not installed (scripts/test installs it)", name)
	}
	return p
}

// demoCopy copies the demo directory into a temporary folder, so a test can
// edit the LDIF and keep the store to itself, and returns the config path.
func demoCopy(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"dirbook.yaml", "demo.ldif", "app-passwords.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "dirbook.yaml")
}

// cmdResult is the outcome of one dirbook command run in process.
type cmdResult struct {
	code   int
	stdout string
	stderr string
}

// runDirbook runs one dirbook command in process and returns its exit code
// and output.
func runDirbook(t testing.TB, args ...string) cmdResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return cmdResult{code: exitCode(err, &stderr), stdout: stdout.String(), stderr: stderr.String()}
}

func exitCode(err error, stderr io.Writer) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		io.WriteString(stderr, "dirbook: "+err.Error()+"\n")
		return 1
	}
}

// server is a "dirbook serve" running in process.
type server struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	out    bytes.Buffer
}

// startServe starts "dirbook serve" for the config on a free loopback port
// and waits until it listens. The server stops at the end of the test.
func startServe(t testing.TB, config string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	env := &cmdEnv{
		stdin:  strings.NewReader(""),
		stdout: lockedWriter{&s.mu, &s.out},
		stderr: lockedWriter{&s.mu, &s.out},
		ready:  func(url string) { ready <- url },
	}
	go func() {
		s.done <- runEnv(ctx, env, []string{"serve", "--config", config, "--listen", "127.0.0.1:0", "--log-level", "warn"})
	}()
	select {
	case s.url = <-ready:
	case err := <-s.done:
		cancel()
		t.Fatalf("dirbook serve ended before listening: %v\n%s", err, s.output())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("dirbook serve did not listen within 60s\n%s", s.output())
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// stop ends the server and checks that it stopped cleanly. It may be
// called more than once.
func (s *server) stop(t testing.TB) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("dirbook serve: %v\n%s", err, s.output())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("dirbook serve did not stop within 30s")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
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

// storeRevision returns the number of the published revision of a
// config's store.
func storeRevision(t testing.TB, config string) uint64 {
	t.Helper()
	return openStore(t, config).Number
}

// dropEngineering edits the demo directory of the config copy config so
// that the engineering department stops being part of employees: a
// removal of more people than the default limit allows.
func dropEngineering(t testing.TB, config string) {
	t.Helper()
	ldif := filepath.Join(filepath.Dir(config), "demo.ldif")
	data, err := os.ReadFile(ldif)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "member: cn=engineering,ou=groups,dc=nordlicht,dc=example\n", "", 1)
	if edited == string(data) {
		t.Fatal("the demo has no engineering membership to remove")
	}
	if err := os.WriteFile(ldif, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
}

// httpResponse is what a request to a server got.
type httpResponse struct {
	status int
	header http.Header
	body   string
}

// httpDo sends method to url with Basic credentials (none when user is
// empty), extra headers and body.
func httpDo(t testing.TB, method, url, user, password string, header map[string]string, body string) httpResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
