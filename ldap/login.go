package ldap

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dirbook/dirbook"
	goldap "github.com/go-ldap/ldap/v3"
	"github.com/hashicorp/golang-lru/v2/expirable"
)

// Defaults of LoginOptions.
const (
	DefaultUserFilter     = "(uid={login})"
	DefaultLoginAttribute = "uid"
	DefaultLoginCacheSize = 1024
	DefaultLoginCacheTTL  = 5 * time.Minute
)

// maxLoginLength bounds the login names Authenticate looks up.
const maxLoginLength = 256

// LoginOptions configure a Login. The connection fields mean what the
// fields of the same names in Options mean; the bind account is the one
// that searches for users.
type LoginOptions struct {
	// URL is the server, ldap://host[:port] or ldaps://host[:port];
	// required.
	URL string
	// StartTLS upgrades an ldap:// connection with StartTLS. Passwords
	// are sent in binds, so a Login refuses an unencrypted connection
	// unless AllowInsecureBind is set.
	StartTLS bool
	// CAFile is a PEM file of the certificate authorities that may sign
	// the server's certificate. If empty, the system's roots are used.
	CAFile string
	// CertFile and KeyFile are the PEM files of a client certificate and
	// its key. If empty, none is presented.
	CertFile, KeyFile string
	// AllowInsecureBind permits binds with passwords over unencrypted
	// connections, for tests on loopback. If false, NewLogin refuses
	// ldap:// without StartTLS.
	AllowInsecureBind bool
	// BindDN and BindPassword are the account that searches for users.
	// If BindDN is empty, Anonymous must be set.
	BindDN       string
	BindPassword Secret
	// Anonymous searches for users without binding first.
	Anonymous bool
	// Timeout bounds dialing, TLS, each bind and each search. If 0,
	// DefaultTimeout is used.
	Timeout time.Duration

	// UserBase is the DN below which users are searched; required.
	UserBase string
	// UserScope is the search scope below UserBase: "sub", "one" or
	// "base". If empty, "sub" is used.
	UserScope string
	// UserFilter is the RFC 4515 filter finding a user by login name:
	// every "{login}" in it is replaced by the name, escaped as RFC 4515
	// requires, e.g. "(|(uid={login})(mail={login}))", or
	// "(&(objectClass=user)(sAMAccountName={login}))" in Active
	// Directory. It must contain "{login}". If empty, DefaultUserFilter
	// is used.
	UserFilter string
	// LoginAttribute is the attribute of the user's entry whose value
	// Authenticate returns as the login: the value the sync engine
	// matches people by (EngineOptions.LoginAttribute). If empty,
	// DefaultLoginAttribute is used.
	LoginAttribute string

	// CacheSize is the number of successful logins remembered. If 0,
	// DefaultLoginCacheSize is used; if negative, nothing is remembered
	// and every Authenticate binds.
	CacheSize int
	// CacheTTL is how long a successful login is remembered: for that
	// long a password changed or an account disabled in the directory
	// still logs in. If 0, DefaultLoginCacheTTL is used.
	CacheTTL time.Duration
	// Limiter counts failed logins. If nil, NewRateLimiter(nil) is used.
	// Pass one RateLimiter to several authenticators to count their
	// failures together.
	Limiter *RateLimiter
}

// Login verifies passwords against the directory: it finds the user's
// entry with the search account, then binds as that entry with the
// password on a connection of its own. It implements the Authenticator of
// package carddav. A Login is safe for concurrent use and lives as long as
// the process (its cache has a goroutine that never ends).
type Login struct {
	search    *Source // connects and binds as the search account
	user      *Source // connects without binding, for the users' binds
	filter    string
	loginAttr string
	cache     *expirable.LRU[[sha256.Size]byte, string] // nil when off
	key       [32]byte                                  // of the cache's HMAC
	limiter   *RateLimiter
	// onBind, when set, is called before every bind as a user (tests
	// count binds with it).
	onBind func(dn string)
}

// NewLogin returns a Login checking passwords as opts describe. It checks
// the options but connects only in Authenticate.
func NewLogin(opts *LoginOptions) (*Login, error) {
	if opts == nil {
		opts = &LoginOptions{}
	}
	if opts.UserBase == "" {
		return nil, errors.New("ldap: login: no user base DN")
	}
	filter := cmp.Or(opts.UserFilter, DefaultUserFilter)
	if !strings.Contains(filter, "{login}") {
		return nil, fmt.Errorf("ldap: login: user filter %s does not contain {login}", filter)
	}
	if err := checkFilter(strings.ReplaceAll(filter, "{login}", "x")); err != nil {
		return nil, fmt.Errorf("ldap: login: %w", err)
	}
	loginAttr := cmp.Or(opts.LoginAttribute, DefaultLoginAttribute)
	if strings.ContainsAny(loginAttr, " ,()=*") {
		return nil, fmt.Errorf("ldap: login: login attribute %q is not an attribute name", loginAttr)
	}
	conn := Options{
		Name:              "login",
		URL:               opts.URL,
		StartTLS:          opts.StartTLS,
		CAFile:            opts.CAFile,
		CertFile:          opts.CertFile,
		KeyFile:           opts.KeyFile,
		AllowInsecureBind: opts.AllowInsecureBind,
		BindDN:            opts.BindDN,
		BindPassword:      opts.BindPassword,
		Anonymous:         opts.Anonymous,
		Base:              opts.UserBase,
		Scope:             opts.UserScope,
		Timeout:           opts.Timeout,
		Feed:              FeedNone,
	}
	search, err := New(&conn)
	if err != nil {
		return nil, err
	}
	if !search.ldaps && !search.startTLS && !opts.AllowInsecureBind {
		return nil, fmt.Errorf("ldap: login: %w", search.errInsecure())
	}
	// The users' binds go over connections that bind as nobody else.
	conn.BindDN, conn.BindPassword, conn.Anonymous = "", "", true
	user, err := New(&conn)
	if err != nil {
		return nil, err
	}

	l := &Login{
		search:    search,
		user:      user,
		filter:    filter,
		loginAttr: loginAttr,
		limiter:   opts.Limiter,
	}
	if l.limiter == nil {
		l.limiter = NewRateLimiter(nil)
	}
	if opts.CacheTTL < 0 {
		return nil, fmt.Errorf("ldap: login: cache TTL %v is negative", opts.CacheTTL)
	}
	if opts.CacheSize >= 0 {
		size := cmp.Or(opts.CacheSize, DefaultLoginCacheSize)
		l.cache = expirable.NewLRU[[sha256.Size]byte, string](size, nil, cmp.Or(opts.CacheTTL, DefaultLoginCacheTTL))
	}
	if _, err := rand.Read(l.key[:]); err != nil {
		return nil, fmt.Errorf("ldap: login: cache key: %w", err)
	}
	return l, nil
}

// Authenticate checks user's password and returns the user's login: the
// value of the login attribute of their entry. It counts failures per user
// only; the HTTP side, which knows the client's address, calls
// AuthenticateFrom.
func (l *Login) Authenticate(ctx context.Context, user, password string) (string, error) {
	return l.AuthenticateFrom(ctx, user, password, "")
}

// AuthenticateFrom checks user's password for a request from remoteAddr
// (host:port or host, as http.Request.RemoteAddr; "" when unknown) and
// returns the user's login.
//
// A login remembered from an earlier success within the cache TTL is
// returned without asking the server (even while the user is rate
// limited: only the right password finds it). Otherwise an empty
// password, a user or address with too many recent failures, a user the
// filter finds not exactly once, a user entry without the login
// attribute, and a bind the server refuses give an error wrapping
// dirbook.ErrUnauthorized (and ErrRateLimited for the rate limit). A
// server that cannot be reached or fails gives an error that does not
// wrap dirbook.ErrUnauthorized: answer it with 503, not 401.
func (l *Login) AuthenticateFrom(ctx context.Context, user, password, remoteAddr string) (string, error) {
	switch {
	case password == "":
		// An empty password makes a simple bind unauthenticated,
		// which many servers accept.
		return "", fmt.Errorf("ldap: login: empty password: %w", dirbook.ErrUnauthorized)
	case user == "" || len(user) > maxLoginLength:
		return "", fmt.Errorf("ldap: login: no login name or one longer than %d bytes: %w", maxLoginLength, dirbook.ErrUnauthorized)
	}
	key := l.cacheKey(user, password)
	if l.cache != nil {
		if login, ok := l.cache.Get(key); ok {
			return login, nil
		}
	}
	if err := l.limiter.Allow(user, remoteAddr); err != nil {
		return "", err
	}
	login, err := l.verify(ctx, user, password)
	if err != nil {
		if errors.Is(err, dirbook.ErrUnauthorized) {
			l.limiter.Fail(user, remoteAddr)
		}
		return "", err
	}
	l.limiter.Succeed(user)
	if l.cache != nil {
		l.cache.Add(key, login)
	}
	return login, nil
}

// cacheKey returns the HMAC-SHA256, with the per-process key, of user and
// password, each preceded by its length so that no two pairs collide.
func (l *Login) cacheKey(user, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, l.key[:])
	var n [binary.MaxVarintLen64]byte
	m.Write(binary.AppendUvarint(n[:0], uint64(len(user))))
	m.Write([]byte(user))
	m.Write(binary.AppendUvarint(n[:0], uint64(len(password))))
	m.Write([]byte(password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// verify finds user's entry and binds as it with password.
func (l *Login) verify(ctx context.Context, user, password string) (string, error) {
	dn, login, err := l.find(ctx, user)
	if err != nil {
		return "", err
	}
	c, err := l.user.connect(ctx)
	if err != nil {
		return "", err
	}
	defer c.close()
	if !c.encrypted && !l.user.insecure {
		return "", fmt.Errorf("ldap: login: %w", l.user.errInsecure())
	}
	if l.onBind != nil {
		l.onBind(dn)
	}
	err = c.do(func() error {
		_, err := c.l.SimpleBind(goldap.NewSimpleBindRequest(dn, password, nil))
		return err
	})
	switch {
	case err == nil:
		return login, nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("ldap: login: bind at %s: %w", l.user.url, ctx.Err())
	case goldap.IsErrorAnyOf(err, goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInappropriateAuthentication,
		goldap.LDAPResultUnwillingToPerform, goldap.LDAPResultInsufficientAccessRights, goldap.LDAPResultConstraintViolation):
		// Wrong password, or an account locked, disabled or expired.
		return "", fmt.Errorf("ldap: login: bind refused: %w: %w", describe(err), dirbook.ErrUnauthorized)
	}
	return "", fmt.Errorf("ldap: login: bind at %s: %w", l.user.url, describe(err))
}

// find returns the DN and the login of the one entry the user filter
// selects for user.
func (l *Login) find(ctx context.Context, user string) (dn, login string, err error) {
	c, err := l.search.connect(ctx)
	if err != nil {
		return "", "", err
	}
	defer c.close()
	filter := strings.ReplaceAll(l.filter, "{login}", goldap.EscapeFilter(user))
	// A size limit of 2 is enough to tell one entry from several.
	req := goldap.NewSearchRequest(l.search.base, l.search.scope, goldap.NeverDerefAliases, 2, 0, false, filter, []string{l.loginAttr}, nil)
	res, err := c.Search(req)
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded):
		return "", "", fmt.Errorf("ldap: login: the user filter finds several entries: %w", dirbook.ErrUnauthorized)
	case err != nil && ctx.Err() != nil:
		return "", "", fmt.Errorf("ldap: login: search %s at %s: %w", l.search.base, l.search.url, ctx.Err())
	case err != nil:
		return "", "", fmt.Errorf("ldap: login: search %s at %s: %w", l.search.base, l.search.url, describe(err))
	case len(res.Entries) == 0:
		return "", "", fmt.Errorf("ldap: login: no such user: %w", dirbook.ErrUnauthorized)
	case len(res.Entries) > 1:
		return "", "", fmt.Errorf("ldap: login: the user filter finds several entries: %w", dirbook.ErrUnauthorized)
	}
	e := res.Entries[0]
	login = e.GetEqualFoldAttributeValue(l.loginAttr)
	if login == "" {
		return "", "", fmt.Errorf("ldap: login: the user's entry has no %s: %w", l.loginAttr, dirbook.ErrUnauthorized)
	}
	return e.DN, login, nil
}
