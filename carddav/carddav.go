// Package carddav serves published address books over read-only CardDAV
// (RFC 6352) with collection synchronisation (RFC 6578), so that phones
// polling thousands of cards pay for what changed only.
//
// The tree below the prefix (default "/dav") is
//
//	/dav/                                the root: current-user-principal only
//	/dav/<login>/                        the principal of the logged-in user
//	/dav/<login>/books/                  the user's address book home set
//	/dav/<login>/books/<book>/           an address book the user may read
//	/dav/<login>/books/<book>/<uid>.vcf  a card, as vCard 3.0 or 4.0
//
// Every request but the /.well-known/carddav redirect needs HTTP Basic
// credentials. A user sees only the books the published revision grants
// them (Revision.Access); other books, and other users' paths, answer 404
// and appear in no listing or report. Writes are refused with 403 and a
// DAV:need-privileges error, and DAV:current-user-privilege-set says read
// only; nothing a client sends is stored. Each request reads one revision
// from start to end, so a publish during a request never mixes two states.
//
// Books carry CS:getctag and DAV:sync-token, both derived from the
// store's ID and the revision in which the book last changed, and answer
// REPORT sync-collection, addressbook-multiget and addressbook-query.
// Responses are written as they are made, compressed with gzip when the
// client accepts it, and rendered vCards are cached by ETag and version,
// so an unchanged poll renders nothing.
//
// The handler uses the standard library's XML decoder with its own limits
// and writes every response itself; of go-webdav it keeps the query
// types that matching works on.
package carddav

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dirbook/dirbook"
)

// Store is where the handler reads the published state.
type Store interface {
	// Current returns the revision being served. It must not return nil
	// once serving starts; the handler treats nil as an empty revision.
	Current() *dirbook.Revision
	// Cards calls fn with the content and ETag of the card of each of
	// uids in book as stored now, skipping those it does not hold; an
	// error of fn stops it and is returned. The content may be of a later
	// revision than the one Current returned: then its ETag differs.
	Cards(book string, uids []string, fn func(c *dirbook.Card, etag string) error) error
}

// Authenticator verifies HTTP Basic credentials.
type Authenticator interface {
	// Authenticate returns the login name the credentials belong to. Wrong
	// or unknown credentials give an error wrapping dirbook.ErrUnauthorized;
	// any other error means the credentials could not be checked.
	Authenticate(ctx context.Context, user, password string) (login string, err error)
}

// addrAuthenticator is an Authenticator that also takes the client's
// address, so that failed logins can be limited per address. The handler
// uses it when its Authenticator has the method.
type addrAuthenticator interface {
	AuthenticateFrom(ctx context.Context, user, password, remoteAddr string) (login string, err error)
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
	// MaxRequestBody bounds the body of a PROPFIND or REPORT request, in
	// bytes; a larger one gets 413. If zero or negative, 4 MiB is used,
	// which holds an addressbook-multiget of the default MaxHrefs.
	MaxRequestBody int64
	// MaxXMLDepth bounds how deeply the elements of a request body nest;
	// a deeper one gets 400. If zero or negative, 64 is used.
	MaxXMLDepth int
	// MaxHrefs bounds the hrefs of one addressbook-multiget; more get 403
	// with DAV:number-of-matches-within-limits. If zero or negative,
	// 20,000 is used: clients fetch a whole book in one multiget.
	MaxHrefs int
	// CardCacheBytes bounds the rendered vCards kept in memory, in bytes.
	// If zero, 64 MiB is used; if negative, nothing is cached.
	CardCacheBytes int64
}

// Defaults of Options.
const (
	defaultPrefix         = "/dav"
	defaultRealm          = "dirbook"
	defaultMaxRequestBody = 4 << 20
	defaultMaxXMLDepth    = 64
	defaultMaxHrefs       = 20000
	defaultCardCacheBytes = 64 << 20
)

// Handler serves the read-only CardDAV tree. It is an http.Handler and is
// safe for concurrent use.
type Handler struct {
	store     Store
	auth      Authenticator
	authFrom  addrAuthenticator // auth, if it takes the client's address
	paths     paths
	logger    *slog.Logger
	challenge string
	maxBody   int64
	maxDepth  int
	maxHrefs  int
	cards     *cardCache
	indexes   indexCache
	parsed    *lru.Cache[string, any]
	metrics   *metrics
}

// NewHandler returns a handler serving the revisions of store to the users
// auth accepts.
func NewHandler(store Store, auth Authenticator, opts *Options) *Handler {
	if opts == nil {
		opts = &Options{}
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = defaultPrefix
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
		realm = defaultRealm
	}
	authFrom, _ := auth.(addrAuthenticator)
	h := &Handler{
		store:     store,
		auth:      auth,
		authFrom:  authFrom,
		paths:     paths{prefix: prefix},
		logger:    logger,
		challenge: `Basic realm="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(realm) + `", charset="UTF-8"`,
		maxBody:   positive(opts.MaxRequestBody, defaultMaxRequestBody),
		maxDepth:  int(positive(int64(opts.MaxXMLDepth), defaultMaxXMLDepth)),
		maxHrefs:  int(positive(int64(opts.MaxHrefs), defaultMaxHrefs)),
	}
	budget := opts.CardCacheBytes
	if budget == 0 {
		budget = defaultCardCacheBytes
	}
	h.metrics = newMetrics(func() float64 { return float64(h.cards.bytes()) })
	h.cards = newCardCache(budget, h.metrics)
	h.parsed, _ = lru.New[string, any](parsedEntries)
	return h
}

func positive(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

// Collectors returns the handler's Prometheus collectors, for the caller
// to register: requests by kind and status class, their duration, bytes
// written, and the card cache's lookups and size. Metric names start with
// dirbook_carddav_.
func (h *Handler) Collectors() []prometheus.Collector {
	return h.metrics.collectors()
}

var _ http.Handler = (*Handler)(nil)

// Log attribute keys.
const (
	logKeyMethod   = "method"
	logKeyPath     = "path"
	logKeyKind     = "kind"
	logKeyStatus   = "status"
	logKeyDuration = "duration"
	logKeyBytes    = "bytes"
	logKeyLogin    = "login"
	logKeyError    = "err"
)

const (
	// wellKnownPath is the RFC 6764 bootstrap path.
	wellKnownPath = "/.well-known/carddav"
	// maxDrain bounds how much of a refused request's body is read (and
	// thrown away) so the connection can be reused.
	maxDrain = 64 << 10
	// allowedMethods lists the methods the server answers.
	allowedMethods = "OPTIONS, GET, HEAD, PROPFIND, REPORT"
	// collectionMethods lists the methods collections answer.
	collectionMethods = "OPTIONS, PROPFIND, REPORT"
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

// exchange is one request being answered.
type exchange struct {
	w     http.ResponseWriter
	r     *http.Request
	kind  string
	login string
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	ex := &exchange{w: sw, r: r}
	var gz *gzipWriter
	if acceptsGzip(r) {
		gz = newGzipWriter(sw, r)
		ex.w = gz
	}
	h.serve(ex)
	if gz != nil {
		gz.close()
	}
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	h.metrics.observe(ex.kind, status, elapsed, sw.written)
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	h.logger.LogAttrs(r.Context(), level, "carddav: request",
		slog.String(logKeyMethod, r.Method),
		slog.String(logKeyPath, r.URL.Path),
		slog.String(logKeyKind, ex.kind),
		slog.Int(logKeyStatus, status),
		slog.Duration(logKeyDuration, elapsed),
		slog.Int64(logKeyBytes, sw.written),
		slog.String(logKeyLogin, ex.login))
}

// serve answers the request of ex.
func (h *Handler) serve(ex *exchange) {
	w, r := ex.w, ex.r
	if r.URL.Path == wellKnownPath || r.URL.Path == wellKnownPath+"/" {
		// 301 as RFC 6764 shows it and as Apple's clients, DAVx5 and
		// vdirsyncer follow it, keeping the PROPFIND method. (Go's own
		// client turns a redirected PROPFIND into GET; it is no target.)
		ex.kind = kindWellKnown
		http.Redirect(w, r, h.paths.root(), http.StatusMovedPermanently)
		return
	}
	if hasDotSegment(r.URL.Path) {
		ex.kind = kindBadPath
		http.Error(w, "carddav: path with . or .. segment", http.StatusBadRequest)
		return
	}

	user, password, ok := r.BasicAuth()
	if !ok || user == "" {
		ex.kind = kindUnauthorized
		h.unauthorized(w)
		return
	}
	login, err := h.authenticate(r, user, password)
	switch {
	case errors.Is(err, dirbook.ErrUnauthorized), err == nil && login == "":
		ex.kind = kindUnauthorized
		h.unauthorized(w)
		return
	case err != nil:
		ex.kind = kindUnauthorized
		h.logger.WarnContext(r.Context(), "carddav: cannot check credentials", logKeyError, err)
		http.Error(w, "cannot check credentials", http.StatusServiceUnavailable)
		return
	}
	ex.login = login

	switch r.Method {
	case http.MethodOptions:
		ex.kind = kindOptions
		w.Header().Set("DAV", davClasses)
		w.Header().Set("Allow", allowedMethods)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	case http.MethodGet, http.MethodHead, "PROPFIND", "REPORT":
		h.serveRead(ex)
		return
	}
	if writeMethods[r.Method] {
		ex.kind = kindWriteRefused
		refuseWrite(w, r)
		return
	}
	ex.kind = kindMethodNotAllowed
	w.Header().Set("Allow", allowedMethods)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// authenticate checks the credentials of r, with the client's address
// (without its port) when the Authenticator takes it.
func (h *Handler) authenticate(r *http.Request, user, password string) (string, error) {
	if h.authFrom == nil {
		return h.auth.Authenticate(r.Context(), user, password)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return h.authFrom.AuthenticateFrom(r.Context(), user, password, host)
}

// hasDotSegment reports whether the decoded path p has a "." or ".."
// segment. Nothing dirbook serves has one (a UID ".." is the segment
// "...vcf"); such a path is an attempt to leave the tree.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// Depth header values; depthInfinity is also the default of PROPFIND.
const (
	depthZero     = 0
	depthOne      = 1
	depthInfinity = -1
	depthMissing  = -2
)

// parseDepth reads the Depth header (RFC 4918 section 10.2).
func parseDepth(r *http.Request) (int, bool) {
	v, ok := r.Header["Depth"]
	if !ok {
		return depthMissing, true
	}
	if len(v) != 1 {
		return 0, false
	}
	switch strings.ToLower(strings.TrimSpace(v[0])) {
	case "0":
		return depthZero, true
	case "1":
		return depthOne, true
	case "infinity":
		return depthInfinity, true
	}
	return 0, false
}

// serveRead answers a GET, HEAD, PROPFIND or REPORT request.
func (h *Handler) serveRead(ex *exchange) {
	w, r := ex.w, ex.r
	switch r.Method {
	case "PROPFIND":
		ex.kind = kindPropfind
	case "REPORT":
		ex.kind = kindReport
	default:
		ex.kind = kindGet
	}
	w.Header().Add("Vary", "Accept-Encoding")
	t, ok := h.paths.parse(r.URL.Path)
	if !ok || (t.kind != kindRoot && t.user != ex.login) {
		http.NotFound(w, r)
		return
	}
	rev := h.store.Current()
	if rev == nil {
		rev = &dirbook.Revision{}
	}
	v := &view{h: h, rev: rev, login: ex.login}
	if t.kind == kindBook || t.kind == kindObject {
		if bs := v.book(t.book); bs == nil || t.kind == kindObject && bs.Cards[t.uid] == nil {
			http.NotFound(w, r)
			return
		}
	}

	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if t.kind != kindObject {
			w.Header().Set("Allow", collectionMethods)
			http.Error(w, "carddav: GET on a collection", http.StatusMethodNotAllowed)
			return
		}
		h.get(ex, v, t)
		return
	}

	depth, ok := parseDepth(r)
	if !ok {
		http.Error(w, "carddav: Depth must be 0, 1 or infinity", http.StatusBadRequest)
		return
	}
	if r.ContentLength > h.maxBody {
		http.Error(w, "carddav: request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	if r.Method == "PROPFIND" {
		h.propfind(ex, v, t, depth)
		return
	}
	h.report(ex, v, t, depth)
}

// requestError answers an error of reading a request body.
func (h *Handler) requestError(ex *exchange, err error) {
	w := ex.w
	var tooLarge *http.MaxBytesError
	var bad *badRequestError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, "carddav: request body too large", http.StatusRequestEntityTooLarge)
	case errors.Is(err, errTooManyHrefs):
		writeXMLError(w, http.StatusForbidden, "<D:number-of-matches-within-limits/>"+
			"<D:responsedescription>addressbook-multiget with more than "+strconv.Itoa(h.maxHrefs)+
			" hrefs; ask for fewer cards at once</D:responsedescription>")
	case errors.Is(err, errUnsupportedData):
		writeXMLError(w, http.StatusForbidden, "<C:supported-address-data/>")
	case errors.Is(err, errUnsupportedCollation):
		writeXMLError(w, http.StatusForbidden, "<C:supported-collation/>")
	case errors.Is(err, errTooDeep):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.As(err, &bad):
		http.Error(w, bad.Error(), http.StatusBadRequest)
	default:
		var syntax *xml.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
			http.Error(w, "carddav: malformed request XML", http.StatusBadRequest)
			return
		}
		http.Error(w, "carddav: cannot read request body", http.StatusBadRequest)
	}
}

// unauthorized asks for Basic credentials.
func (h *Handler) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", h.challenge)
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// refuseWrite answers a write request with 403 DAV:need-privileges
// (RFC 3744 section 7.1.1). The body is read up to maxDrain bytes and
// discarded.
func refuseWrite(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	writeXMLError(w, http.StatusForbidden, "<D:need-privileges><D:resource><D:href>"+
		escapeString(r.URL.EscapedPath())+"</D:href><D:privilege><D:write/></D:privilege></D:resource></D:need-privileges>")
}

// view is what one login sees of one revision.
type view struct {
	h     *Handler
	rev   *dirbook.Revision
	login string
}

// book returns the book with the given ID if the login may read it.
func (v *view) book(id string) *dirbook.BookState {
	if !slices.Contains(v.rev.Access[v.login], id) {
		return nil
	}
	return v.rev.Book(id)
}

// books returns the books the login may read, in configuration order.
func (v *view) books() []*dirbook.BookState {
	var out []*dirbook.BookState
	for _, bs := range v.rev.Books {
		if slices.Contains(v.rev.Access[v.login], bs.ID) {
			out = append(out, bs)
		}
	}
	return out
}

// statusWriter records the status code and body size of a response.
type statusWriter struct {
	http.ResponseWriter
	status  int
	written int64
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
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) WriteString(s string) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.WriteString(w.ResponseWriter, s)
	w.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
