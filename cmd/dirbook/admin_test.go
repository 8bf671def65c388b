package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
)

// adminDemo copies the demo with admin.logins set to logins and at most
// three failed logins per user.
func adminDemo(t testing.TB, logins string) string {
	t.Helper()
	config := demoCopy(t)
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	const files = "  app_passwords_file: app-passwords.yaml\n"
	if strings.Count(s, files) != 1 {
		t.Fatalf("demo config has %d copies of %q, want 1", strings.Count(s, files), files)
	}
	s = strings.Replace(s, files, files+"  rate_limit: {max_user_failures: 3}\n", 1)
	s += "\nadmin:\n  logins: " + logins + "\n"
	if err := os.WriteFile(config, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return config
}

// waitFor polls cond until it holds, failing the test when it does not
// within a generous deadline. It asserts no duration.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// adminReplyOf decodes the JSON body of a 202 answer.
func adminReplyOf(t testing.TB, r httpResponse) adminReply {
	t.Helper()
	if r.status != http.StatusAccepted {
		t.Fatalf("status = %d %q, want 202", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var reply adminReply
	if err := json.Unmarshal([]byte(r.body), &reply); err != nil {
		t.Fatalf("reply %q: %v", r.body, err)
	}
	return reply
}

// TestAdminSync runs serve with anna as admin, changes the directory and
// asks for a sync through the admin endpoint: the change is served long
// before the 5-minute interval. Then a refused plan is approved through
// the endpoint and published.
func TestAdminSync(t *testing.T) {
	config := adminDemo(t, "[anna]")
	srv := startServe(t, config)
	book := srv.url + "dav/anna/books/colleagues/"
	before := etags(t, book, "anna", "demo-anna")

	editDemo(t, filepath.Join(filepath.Dir(config), "demo.ldif"))
	reply := adminReplyOf(t, httpDo(t, "POST", srv.url+"admin/sync", "anna", "demo-anna", nil, ""))
	if want := (adminReply{Action: "sync", Revision: 1}); reply != want {
		t.Errorf("POST /admin/sync = %+v, want %+v", reply, want)
	}
	var after map[string]string
	waitFor(t, "the synced book", func() bool {
		after = etags(t, book, "anna", "demo-anna")
		return !sameMap(before, after)
	})
	if len(after) != len(before) {
		t.Errorf("book has %d cards after the sync, want %d (one added, one removed)", len(after), len(before))
	}

	// Removing engineering from employees is refused by the removal limit.
	dropEngineering(t, config)
	reply = adminReplyOf(t, httpDo(t, "POST", srv.url+"admin/sync?reconcile=1", "anna", "demo-anna", nil, ""))
	if want := (adminReply{Action: "reconcile", Revision: 2}); reply != want {
		t.Errorf("POST /admin/sync?reconcile=1 = %+v, want %+v", reply, want)
	}
	waitFor(t, "the refusal in the log", func() bool { return strings.Contains(srv.output(), "sync refused") })

	res := runDirbook(t, "sync", "--config", config, "--dry-run", "--format", "json")
	if res.code != codeRefused {
		t.Fatalf("dry run beside serve: exit code %d, want %d\n%s", res.code, codeRefused, res.stderr)
	}
	var plan struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &plan); err != nil || plan.ID == "" {
		t.Fatalf("dry run JSON: %v, id %q", err, plan.ID)
	}
	// A form body works as well as the query.
	reply = adminReplyOf(t, httpDo(t, "POST", srv.url+"admin/approve", "anna", "demo-anna",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "plan="+plan.ID))
	if want := (adminReply{Action: "approve", Plan: plan.ID, Revision: 2}); reply != want {
		t.Errorf("POST /admin/approve = %+v, want %+v", reply, want)
	}
	waitFor(t, "the approved plan", func() bool { return storeRevision(t, config) == 3 })
}

// TestAdminRefusals checks the answers of the admin endpoint to everyone
// but an admin with a well-formed request, and that failed logins there
// count in the same rate limit as CardDAV's.
func TestAdminRefusals(t *testing.T) {
	srv := startServe(t, adminDemo(t, "[anna]"))
	big := strings.Repeat("x", 2*maxAdminBody)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name, method, path, user, password string
		header                             map[string]string
		body                               string
		want                               int
		wantHeader                         map[string]string
	}{
		{"no credentials", "POST", "admin/sync", "", "", nil, "", http.StatusUnauthorized,
			map[string]string{"WWW-Authenticate": adminChallenge}},
		{"unknown login", "POST", "admin/sync", "nobody", "demo-anna", nil, "", http.StatusUnauthorized,
			map[string]string{"WWW-Authenticate": adminChallenge}},
		{"not an admin", "POST", "admin/sync", "paul", "demo-paul", nil, "", http.StatusForbidden, nil},
		{"GET", "GET", "admin/sync", "anna", "demo-anna", nil, "", http.StatusMethodNotAllowed,
			map[string]string{"Allow": "POST"}},
		{"GET approve", "GET", "admin/approve?plan=00", "anna", "demo-anna", nil, "", http.StatusMethodNotAllowed,
			map[string]string{"Allow": "POST"}},
		{"unknown path", "POST", "admin/flush", "anna", "demo-anna", nil, "", http.StatusNotFound, nil},
		{"bare prefix", "POST", "admin", "anna", "demo-anna", nil, "", http.StatusNotFound, nil},
		{"unknown parameter", "POST", "admin/sync?reconcil=1", "anna", "demo-anna", nil, "", http.StatusBadRequest, nil},
		{"bad reconcile", "POST", "admin/sync?reconcile=maybe", "anna", "demo-anna", nil, "", http.StatusBadRequest, nil},
		{"parameter twice", "POST", "admin/sync?reconcile=1&reconcile=0", "anna", "demo-anna", nil, "", http.StatusBadRequest, nil},
		{"no plan", "POST", "admin/approve", "anna", "demo-anna", nil, "", http.StatusBadRequest, nil},
		{"bad plan", "POST", "admin/approve?plan=../x", "anna", "demo-anna", nil, "", http.StatusBadRequest, nil},
		{"large body", "POST", "admin/sync", "anna", "demo-anna", nil, big, http.StatusRequestEntityTooLarge, nil},
		{"large form", "POST", "admin/sync", "anna", "demo-anna", form, "reconcile=1&x=" + big, http.StatusRequestEntityTooLarge, nil},
		{"cross-site browser", "POST", "admin/sync", "anna", "demo-anna",
			map[string]string{"Sec-Fetch-Site": "cross-site"}, "", http.StatusForbidden, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := httpDo(t, tc.method, srv.url+tc.path, tc.user, tc.password, tc.header, tc.body)
			if got.status != tc.want {
				t.Errorf("%s /%s = %d %q, want %d", tc.method, tc.path, got.status, got.body, tc.want)
			}
			for k, v := range tc.wantHeader {
				if h := got.header.Get(k); h != v {
					t.Errorf("%s /%s: %s = %q, want %q", tc.method, tc.path, k, h, v)
				}
			}
		})
	}

	// Three failures of ulrike at the admin endpoint lock her out of
	// CardDAV too.
	for range 3 {
		if got := httpDo(t, "POST", srv.url+"admin/sync", "ulrike", "wrong", nil, ""); got.status != http.StatusUnauthorized {
			t.Fatalf("POST /admin/sync with a wrong password = %d, want 401", got.status)
		}
	}
	if got := httpDo(t, "PROPFIND", srv.url+"dav/ulrike/", "ulrike", "demo-ulrike", map[string]string{"Depth": "0"}, ""); got.status != http.StatusUnauthorized {
		t.Errorf("PROPFIND after three failed admin logins = %d, want 401 (rate limited)", got.status)
	}
	if got := httpDo(t, "POST", srv.url+"admin/sync", "ulrike", "demo-ulrike", nil, ""); got.status != http.StatusUnauthorized {
		t.Errorf("POST /admin/sync after three failed logins = %d, want 401 (rate limited)", got.status)
	}
}

// TestAdminDisabled checks that without admin.logins every path under
// /admin answers 404, before any login, and CardDAV is served as ever.
func TestAdminDisabled(t *testing.T) {
	srv := startServe(t, demoCopy(t))
	for _, tc := range []struct{ name, method, path, user, password string }{
		{"admin login", "POST", "admin/sync", "anna", "demo-anna"},
		{"no credentials", "POST", "admin/sync", "", ""},
		{"GET", "GET", "admin/sync", "anna", "demo-anna"},
		{"approve", "POST", "admin/approve?plan=00", "anna", "demo-anna"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpDo(t, tc.method, srv.url+tc.path, tc.user, tc.password, nil, ""); got.status != http.StatusNotFound {
				t.Errorf("%s /%s = %d %q, want 404", tc.method, tc.path, got.status, got.body)
			}
		})
	}
	if n := len(etags(t, srv.url+"dav/anna/books/colleagues/", "anna", "demo-anna")); n != demoColleagues {
		t.Errorf("PROPFIND lists %d cards, want %d", n, demoColleagues)
	}
}

// fakeScheduler records what the admin endpoint asks for.
type fakeScheduler struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeScheduler) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeScheduler) Trigger()              { f.record("trigger") }
func (f *fakeScheduler) TriggerReconcile()     { f.record("reconcile") }
func (f *fakeScheduler) Approve(planID string) { f.record("approve " + planID) }

type fixedStore struct{ rev *dirbook.Revision }

func (s fixedStore) Current() *dirbook.Revision { return s.rev }

// TestAdminHandler checks what each admin request asks of the scheduler
// and that the log names the admin login and nothing else about the
// caller.
func TestAdminHandler(t *testing.T) {
	cfg, err := LoadConfig(adminDemo(t, "[anna]"))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := newLogins(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []string
		wantLog    string
	}{
		{"sync", "/admin/sync", []string{"trigger"}, `msg="admin: sync requested" login=anna reconcile=false`},
		{"sync reconcile=0", "/admin/sync?reconcile=0", []string{"trigger"}, `msg="admin: sync requested" login=anna reconcile=false`},
		{"reconcile", "/admin/sync?reconcile=true", []string{"reconcile"}, `msg="admin: sync requested" login=anna reconcile=true`},
		{"approve", "/admin/approve?plan=3f2a00c0ffee0001", []string{"approve 3f2a00c0ffee0001", "trigger"},
			`msg="admin: plan approved, sync requested" login=anna plan=3f2a00c0ffee0001`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
						return slog.Attr{}
					}
					return a
				},
			}))
			sched := &fakeScheduler{}
			h := newAdminHandler(cfg, auth, sched, fixedStore{&dirbook.Revision{Number: 7}}, log)
			ts := httptest.NewServer(withAdmin(h, http.NotFoundHandler()))
			defer ts.Close()
			reply := adminReplyOf(t, httpDo(t, "POST", ts.URL+tc.path, "anna", "demo-anna", nil, ""))
			if reply.Revision != 7 {
				t.Errorf("reply revision = %d, want 7", reply.Revision)
			}
			if got := strings.Join(sched.calls, ", "); got != strings.Join(tc.want, ", ") {
				t.Errorf("scheduler calls = %q, want %q", got, strings.Join(tc.want, ", "))
			}
			if got := strings.TrimSpace(logs.String()); got != tc.wantLog {
				t.Errorf("log = %q, want %q", got, tc.wantLog)
			}
		})
	}
}

// TestAdminConfig checks the validation of admin.logins.
func TestAdminConfig(t *testing.T) {
	const ldapAuth = `  ldap: {source: dir}
`
	const ldapSource = `  - name: dir
    url: ldap://127.0.0.1:1
    anonymous: true
    allow_insecure_bind: true
    base: dc=nordlicht,dc=example
`
	tests := []struct {
		name   string
		logins string
		ldap   bool
		want   string // "" when the config loads
	}{
		{"app password user", "[anna, paul]", false, ""},
		{"empty list", "[]", false, ""},
		{"unknown user", "[anna, root]", false, `admin.logins[1]: no app password has the user "root", and without auth.ldap there are no directory logins`},
		{"twice", "[anna, anna]", false, `admin.logins[1]: login "anna" is listed twice`},
		{"empty login", `[""]`, false, "admin.logins[0]: required: a login name"},
		{"directory login", "[anna, bob]", true, ""},
		{"directory login in upper case", "[Bob]", true, `admin.logins[0]: no app password has the user "Bob", and directory logins are in lower case: "bob"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			config := adminDemo(t, tc.logins)
			if tc.ldap {
				data, err := os.ReadFile(config)
				if err != nil {
					t.Fatal(err)
				}
				s := strings.Replace(string(data), "  rate_limit:", ldapAuth+"  rate_limit:", 1)
				s = strings.Replace(s, "    id_attribute: entryUUID\n", "    id_attribute: entryUUID\n"+ldapSource, 1)
				if err := os.WriteFile(config, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadConfig(config)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("LoadConfig = %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("LoadConfig = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
