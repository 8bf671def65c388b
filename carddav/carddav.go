// Package carddav serves published address books over read-only CardDAV
// (RFC 6352), built on go-webdav's CardDAV server.
//
// The tree below the prefix (default "/dav") is
//
//	/dav/                                the root: current-user-principal only
//	/dav/<login>/                        the principal of the logged-in user
//	/dav/<login>/books/                  the user's address book home set
//	/dav/<login>/books/<book>/           an address book the user may read
//	/dav/<login>/books/<book>/<uid>.vcf  a card, rendered as vCard 3.0
//
// Every request but the /.well-known/carddav redirect needs HTTP Basic
// credentials. A user sees only the books the published revision grants
// them (Revision.Access); other books, and other users' paths, answer 404.
// Writes are refused with 403 and a DAV:need-privileges error; nothing a
// client sends is stored. Each request reads one revision from start to
// end, so a publish during a request never mixes two states.
package carddav

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-webdav/carddav"

	"github.com/dirbook/dirbook"
)

// Store is where the handler reads the published state.
type Store interface {
	// Current returns the revision being served. It must not return nil
	// once serving starts; the handler treats nil as an empty revision.
	Current() *dirbook.Revision
}

// Authenticator verifies HTTP Basic credentials.
type Authenticator interface {
	// Authenticate returns the login name the credentials belong to. Wrong
	// or unknown credentials give an error wrapping dirbook.ErrUnauthorized;
	// any other error means the credentials could not be checked.
	Authenticate(ctx context.Context, user, password string) (login string, err error)
}

// Options configures a Handler.
type Options struct {
	// Prefix is the URL path of the CardDAV root, e.g. "/dav". A trailing
	// slash is ignored, so "/" serves the tree at the server root. If
	// empty, "/dav" is used.
	Prefix string
	// Logger receives one line per request (Debug, or Warn for server
	// errors) and authentication backend failures. If nil, slog.Default()
	// is used.
	Logger *slog.Logger
	// Realm is the realm of the Basic authentication challenge. If empty,
	// "dirbook" is used.
	Realm string
}

// Handler serves the read-only CardDAV tree. It is an http.Handler and is
// safe for concurrent use.
type Handler struct {
	store     Store
	auth      Authenticator
	paths     paths
	logger    *slog.Logger
	challenge string
}

// NewHandler returns a handler serving the revisions of store to the users
// auth accepts.
func NewHandler(store Store, auth Authenticator, opts *Options) *Handler {
	if opts == nil {
		opts = &Options{}
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "/dav"
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	realm := opts.Realm
	if realm == "" {
		realm = "dirbook"
	}
	quote := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return &Handler{
		store:     store,
		auth:      auth,
		paths:     paths{prefix: prefix},
		logger:    logger,
		challenge: `Basic realm="` + quote.Replace(realm) + `", charset="UTF-8"`,
	}
}

// Log attribute keys.
const (
	logKeyMethod   = "method"
	logKeyPath     = "path"
	logKeyStatus   = "status"
	logKeyDuration = "duration"
	logKeyLogin    = "login"
	logKeyError    = "err"
)

const (
	// wellKnownPath is the RFC 6764 bootstrap path.
	wellKnownPath = "/.well-known/carddav"
	// maxRequestBody bounds the XML body of PROPFIND and REPORT requests;
	// an addressbook-multiget of a few thousand hrefs fits well.
	maxRequestBody = 4 << 20
	// maxDrain bounds how much of a refused request's body is read (and
	// thrown away) so the connection can be reused.
	maxDrain = 64 << 10
	// allowedMethods lists the methods the server answers.
	allowedMethods = "OPTIONS, GET, HEAD, PROPFIND, REPORT"
	// davClasses is the DAV header of OPTIONS responses.
	davClasses = "1, 3, addressbook"
)

// writeMethods are refused with 403 DAV:need-privileges on every path.
var writeMethods = map[string]bool{
	http.MethodPut:      true,
	http.MethodDelete:   true,
	http.MethodPost:     true,
	http.MethodPatch:    true,
	"MKCOL":             true,
	"PROPPATCH":         true,
	"MOVE":              true,
	"COPY":              true,
	"LOCK":              true,
	"UNLOCK":            true,
	"ACL":               true,
	"MKCALENDAR":        true,
	"BIND":              true,
	"UNBIND":            true,
	"REBIND":            true,
	"MKREDIRECTREF":     true,
	"UPDATEREDIRECTREF": true,
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	login := h.serve(sw, r)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	h.logger.LogAttrs(r.Context(), level, "carddav: request",
		slog.String(logKeyMethod, r.Method),
		slog.String(logKeyPath, r.URL.Path),
		slog.Int(logKeyStatus, status),
		slog.Duration(logKeyDuration, time.Since(start)),
		slog.String(logKeyLogin, login))
}

// serve answers r and returns the login it was served to ("" before
// authentication).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (login string) {
	if r.URL.Path == wellKnownPath || r.URL.Path == wellKnownPath+"/" {
		// 301 as RFC 6764 shows it and as Apple's clients, DAVx5 and
		// vdirsyncer follow it, keeping the PROPFIND method. (Go's own
		// client turns a redirected PROPFIND into GET; it is no target.)
		http.Redirect(w, r, h.paths.root(), http.StatusMovedPermanently)
		return ""
	}

	user, password, ok := r.BasicAuth()
	if !ok || user == "" {
		h.unauthorized(w)
		return ""
	}
	login, err := h.auth.Authenticate(r.Context(), user, password)
	switch {
	case errors.Is(err, dirbook.ErrUnauthorized), err == nil && login == "":
		h.unauthorized(w)
		return ""
	case err != nil:
		h.logger.WarnContext(r.Context(), "carddav: cannot check credentials", logKeyError, err)
		http.Error(w, "cannot check credentials", http.StatusServiceUnavailable)
		return ""
	}

	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("DAV", davClasses)
		w.Header().Set("Allow", allowedMethods)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return login
	case http.MethodGet, http.MethodHead, "PROPFIND", "REPORT":
		h.serveRead(w, r, login)
		return login
	}
	if writeMethods[r.Method] {
		refuseWrite(w, r)
		return login
	}
	w.Header().Set("Allow", allowedMethods)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return login
}

// serveRead answers a GET, HEAD, PROPFIND or REPORT request of login.
func (h *Handler) serveRead(w http.ResponseWriter, r *http.Request, login string) {
	t, ok := h.paths.parse(r.URL.Path)
	if !ok || (t.kind != kindRoot && t.user != login) {
		http.NotFound(w, r)
		return
	}
	rev := h.store.Current()
	if rev == nil {
		rev = &dirbook.Revision{}
	}
	b := newBackend(h.paths, rev, login)
	if (t.kind == kindBook || t.kind == kindObject) && !b.visible(t.book) {
		http.NotFound(w, r)
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	if t.kind == kindRoot && r.Method == "PROPFIND" {
		h.propfindRoot(w, r, login)
		return
	}
	if r.Method == "PROPFIND" && t.kind != kindObject {
		b.noData = !wantsAddressData(r)
	}
	if t.kind == kindObject && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if err := b.serveObject(w, r, t); err != nil {
			h.logger.WarnContext(r.Context(), "carddav: cannot serve card", logKeyError, err)
		}
		return
	}

	// go-webdav compares collection paths with the ones the backend
	// returns, so hand it the canonical form (trailing slash on
	// collections).
	if p := h.paths.canonical(t); p != r.URL.Path {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = p, ""
		r = r2
	}
	dav := carddav.Handler{Backend: b, Prefix: h.paths.prefix}
	dav.ServeHTTP(w, r)
}

// unauthorized asks for Basic credentials.
func (h *Handler) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", h.challenge)
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// needPrivileges is the RFC 3744 error body of a refused write; %s is the
// XML-escaped href of the request.
const (
	needPrivilegesStart = `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<D:error xmlns:D="DAV:"><D:need-privileges><D:resource><D:href>`
	needPrivilegesEnd = `</D:href><D:privilege><D:write/></D:privilege>` +
		`</D:resource></D:need-privileges></D:error>` + "\n"
)

// refuseWrite answers a write request with 403 DAV:need-privileges. The
// body is read up to maxDrain bytes and discarded.
func refuseWrite(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	var b strings.Builder
	b.WriteString(needPrivilegesStart)
	writeEscaped(&b, r.URL.EscapedPath())
	b.WriteString(needPrivilegesEnd)
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(w, b.String())
}

// statusWriter records the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
