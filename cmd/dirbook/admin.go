package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/dirbook/dirbook"
	dirsync "github.com/dirbook/dirbook/sync"
)

// The admin endpoint of serve: POST /admin/sync asks the scheduler for a
// sync now (reconcile=1: one that reads every source whole), POST
// /admin/approve?plan=ID lets a refused plan through once and syncs now.
// It shares the listener, the Basic logins and their rate limit with
// CardDAV; the logins of admin.logins may use it. Without admins every
// path under /admin answers 404.
const (
	adminPrefix      = "/admin"
	adminSyncPath    = adminPrefix + "/sync"
	adminApprovePath = adminPrefix + "/approve"

	// maxAdminBody bounds a request body: the parameters fit in a query
	// or a small form, nothing else is read.
	maxAdminBody = 1 << 10
	// maxPlanID bounds a plan ID; Plan.ID is 16 hex digits today.
	maxPlanID = 64
	// adminChallenge is the challenge of the CardDAV handler (its default
	// realm), so clients reuse the same credentials.
	adminChallenge = `Basic realm="dirbook", charset="UTF-8"`
)

// Log attribute keys of the admin endpoint. login is the HTTP login name,
// which is no contact data; nothing else about the caller is logged.
const (
	logKeyLogin     = "login"
	logKeyReconcile = "reconcile"
	logKeyPlan      = "plan"
	logKeyErr       = "err"
)

// adminAuthenticator checks Basic credentials of a client at an address,
// counting failures in the rate limit (logins).
type adminAuthenticator interface {
	AuthenticateFrom(ctx context.Context, user, password, remoteAddr string) (login string, err error)
}

var _ adminAuthenticator = (*logins)(nil)

// adminScheduler is what the admin endpoint asks of the scheduler.
type adminScheduler interface {
	Trigger()
	TriggerReconcile()
	Approve(planID string)
}

var _ adminScheduler = (*dirsync.Scheduler)(nil)

// adminHandler serves the paths under /admin.
type adminHandler struct {
	admins map[string]bool // empty: the endpoint is off
	auth   adminAuthenticator
	sched  adminScheduler
	store  revisionSource
	log    *slog.Logger
	csrf   *http.CrossOriginProtection
}

// revisionSource tells which revision is serving.
type revisionSource interface{ Current() *dirbook.Revision }

// newAdminHandler returns the admin endpoint for the logins of
// cfg.Admin.Logins, checked by auth.
func newAdminHandler(cfg *Config, auth adminAuthenticator, sched adminScheduler, store revisionSource, log *slog.Logger) *adminHandler {
	h := &adminHandler{
		admins: map[string]bool{},
		auth:   auth,
		sched:  sched,
		store:  store,
		log:    log,
		csrf:   http.NewCrossOriginProtection(),
	}
	for _, l := range cfg.Admin.Logins {
		h.admins[l] = true
	}
	return h
}

// withAdmin routes the paths under /admin to admin and all others to
// next. It is no http.ServeMux, which would clean and redirect paths the
// CardDAV handler answers itself.
func withAdmin(admin, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == adminPrefix || strings.HasPrefix(r.URL.Path, adminPrefix+"/") {
			admin.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// adminReply is the body of a 202 answer.
type adminReply struct {
	// Action is sync, reconcile or approve.
	Action string `json:"action"`
	// Plan is the approved plan ID.
	Plan string `json:"plan,omitempty"`
	// Revision is the revision serving when the request came; a
	// successful sync publishes a higher one.
	Revision uint64 `json:"revision"`
}

func (h *adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if len(h.admins) == 0 {
		http.NotFound(w, r)
		return
	}
	var params []string
	switch r.URL.Path {
	case adminSyncPath:
		params = []string{"reconcile"}
	case adminApprovePath:
		params = []string{"plan"}
	default:
		http.NotFound(w, r)
		return
	}

	login, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if !h.admins[login] {
		http.Error(w, "admin: not an admin login", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "admin: use POST", http.StatusMethodNotAllowed)
		return
	}
	// A browser that holds the credentials must not be made to post here
	// by another site.
	if err := h.csrf.Check(r); err != nil {
		http.Error(w, "admin: cross-origin request refused", http.StatusForbidden)
		return
	}
	form, err := readAdminForm(w, r, params)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("admin: request body over %d bytes", maxAdminBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	reply := adminReply{Revision: h.revision()}
	switch r.URL.Path {
	case adminSyncPath:
		reconcile := false
		if v := form["reconcile"]; v != "" {
			if reconcile, err = strconv.ParseBool(v); err != nil {
				http.Error(w, fmt.Sprintf("admin: reconcile: want 1 or 0, got %q", v), http.StatusBadRequest)
				return
			}
		}
		reply.Action = "sync"
		if reconcile {
			reply.Action = "reconcile"
			h.sched.TriggerReconcile()
		} else {
			h.sched.Trigger()
		}
		h.log.Info("admin: sync requested", logKeyLogin, login, logKeyReconcile, reconcile)
	case adminApprovePath:
		id := form["plan"]
		if !validPlanID(id) {
			http.Error(w, "admin: plan: want the plan ID of the refusal or of sync --dry-run", http.StatusBadRequest)
			return
		}
		h.sched.Approve(id)
		h.sched.Trigger()
		reply.Action, reply.Plan = "approve", id
		h.log.Info("admin: plan approved, sync requested", logKeyLogin, login, logKeyPlan, id)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(reply)
}

// authenticate checks the request's Basic credentials as the CardDAV
// handler does, with the client's address for the rate limit. It returns
// the login, or answers the request and returns false.
func (h *adminHandler) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	user, password, ok := r.BasicAuth()
	if !ok || user == "" {
		unauthorizedAdmin(w)
		return "", false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	login, err := h.auth.AuthenticateFrom(r.Context(), user, password, host)
	switch {
	case errors.Is(err, dirbook.ErrUnauthorized), err == nil && login == "":
		unauthorizedAdmin(w)
		return "", false
	case err != nil:
		h.log.WarnContext(r.Context(), "admin: cannot check credentials", logKeyErr, err)
		http.Error(w, "admin: cannot check credentials", http.StatusServiceUnavailable)
		return "", false
	}
	return login, true
}

func unauthorizedAdmin(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", adminChallenge)
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// readAdminForm reads the parameters of a request from its query and a
// form body, which is bounded by maxAdminBody like any other body. Every
// parameter must be one of known, given once.
func readAdminForm(w http.ResponseWriter, r *http.Request, known []string) (map[string]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
	if err := r.ParseForm(); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, err
		}
		return nil, fmt.Errorf("admin: malformed parameters: %w", err)
	}
	// A body that is no form is read to its end, so its size is checked.
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return nil, err
	}
	form := map[string]string{}
	for k, vs := range r.Form {
		found := false
		for _, name := range known {
			found = found || k == name
		}
		switch {
		case !found:
			return nil, fmt.Errorf("admin: unknown parameter %q (this path takes %s)", k, strings.Join(known, ", "))
		case len(vs) > 1:
			return nil, fmt.Errorf("admin: parameter %q given %d times", k, len(vs))
		}
		form[k] = vs[0]
	}
	return form, nil
}

// validPlanID reports whether id looks like a plan ID: hex digits.
func validPlanID(id string) bool {
	if id == "" || len(id) > maxPlanID {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// revision returns the number of the revision serving.
func (h *adminHandler) revision() uint64 {
	if rev := h.store.Current(); rev != nil {
		return rev.Number
	}
	return 0
}

// checkAdmin validates admin.logins against the logins the config has:
// each must be an app password's user or, with auth.ldap, a directory
// login, which is in lower case.
func (c *Config) checkAdmin(f *configFile) {
	users := map[string]bool{}
	for _, ap := range c.Auth.AppPasswords {
		users[ap.User] = true
	}
	seen := map[string]bool{}
	for i, l := range c.Admin.Logins {
		k := fmt.Sprintf("admin.logins[%d]", i)
		switch {
		case l == "":
			f.add(k, "required: a login name")
		case seen[l]:
			f.add(k, "login %q is listed twice", l)
		case users[l]:
		case c.Auth.LDAP == nil:
			f.add(k, "no app password has the user %q, and without auth.ldap there are no directory logins", l)
		case l != strings.ToLower(l):
			f.add(k, "no app password has the user %q, and directory logins are in lower case: %q", l, strings.ToLower(l))
		}
		seen[l] = true
	}
}
