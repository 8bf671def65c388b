package ldap

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/slapdtest"
)

// loginServer starts slapd with a few people, of whom 1, 2 and 3 have
// passwords ("pw-1" …) and 2 and 3 share a mail address.
func loginServer(tb testing.TB) (*slapdtest.Server, *slapdtest.Directory) {
	tb.Helper()
	d := &slapdtest.Directory{People: 6, Departments: 2}
	people, groups := generate(tb, d, true)
	s := slapdtest.Start(tb, &slapdtest.Options{Load: []string{people, groups}})
	var b strings.Builder
	for i := 1; i <= 3; i++ {
		b.WriteString("dn: " + d.DN(i) + "\nchangetype: modify\nreplace: userPassword\nuserPassword: pw-" + string(rune('0'+i)) + "\n\n")
	}
	for _, i := range []int{2, 3} {
		b.WriteString("dn: " + d.DN(i) + "\nchangetype: modify\nadd: mail\nmail: shared@example.com\n\n")
	}
	s.Modify(tb, b.String())
	return s, d
}

// loginOptions returns options logging in to s over plain ldap:// with
// the reader as the search account.
func loginOptions(s *slapdtest.Server) *LoginOptions {
	return &LoginOptions{
		URL:               s.URL,
		AllowInsecureBind: true,
		BindDN:            s.ReaderDN,
		BindPassword:      Secret(s.ReaderPassword),
		UserBase:          "ou=people," + s.BaseDN,
		UserFilter:        "(|(uid={login})(mail={login}))",
	}
}

// countBinds makes l count its binds as a user.
func countBinds(l *Login) *atomic.Int32 {
	var n atomic.Int32
	l.onBind = func(string) { n.Add(1) }
	return &n
}

func newLogin(tb testing.TB, opts *LoginOptions) *Login {
	tb.Helper()
	l, err := NewLogin(opts)
	if err != nil {
		tb.Fatalf("NewLogin error: %v", err)
	}
	return l
}

func TestLogin(t *testing.T) {
	s, d := loginServer(t)
	tests := []struct {
		name      string
		user, pw  string
		attr      string // login attribute; "" for the default
		want      string // the login; "" when refused
		wantBinds int32
	}{
		{name: "uid", user: d.UID(1), pw: "pw-1", want: d.UID(1), wantBinds: 1},
		{name: "uid in other case", user: strings.ToUpper(d.UID(1)), pw: "pw-1", want: d.UID(1), wantBinds: 1},
		{name: "mail", user: d.UID(1) + "@example.com", pw: "pw-1", want: d.UID(1), wantBinds: 1},
		{name: "login attribute", user: d.UID(1), pw: "pw-1", attr: "employeeNumber", want: "1", wantBinds: 1},
		{name: "wrong password", user: d.UID(1), pw: "pw-2", wantBinds: 1},
		{name: "empty password", user: d.UID(1), pw: "", wantBinds: 0},
		{name: "no password set", user: d.UID(4), pw: "pw-4", wantBinds: 1},
		{name: "unknown user", user: "nobody", pw: "pw-1", wantBinds: 0},
		{name: "empty user", user: "", pw: "pw-1", wantBinds: 0},
		// Unescaped, each of these would select person 1 alone, and
		// the password would log in.
		{name: "filter injection", user: d.UID(1) + ")(cn=nomatch", pw: "pw-1", wantBinds: 0},
		{name: "injection of an or", user: "x)(uid=" + d.UID(1), pw: "pw-1", wantBinds: 0},
		{name: "wildcard", user: "p00000*1", pw: "pw-1", wantBinds: 0},
		{name: "match everything", user: "*)(uid=*", pw: "pw-1", wantBinds: 0},
		{name: "two matches", user: "shared@example.com", pw: "pw-2", wantBinds: 0},
		{name: "no login attribute", user: d.UID(1), pw: "pw-1", attr: "pager", wantBinds: 0},
		{name: "too long", user: strings.Repeat("a", 300), pw: "pw-1", wantBinds: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := loginOptions(s)
			opts.LoginAttribute = tt.attr
			l := newLogin(t, opts)
			binds := countBinds(l)
			got, err := l.Authenticate(context.Background(), tt.user, tt.pw)
			switch {
			case tt.want != "" && (err != nil || got != tt.want):
				t.Errorf("Authenticate(%q) = %q, %v; want %q", tt.user, got, err, tt.want)
			case tt.want == "" && !errors.Is(err, dirbook.ErrUnauthorized):
				t.Errorf("Authenticate(%q) = %q, %v; want ErrUnauthorized", tt.user, got, err)
			}
			if n := binds.Load(); n != tt.wantBinds {
				t.Errorf("Authenticate(%q) bound %d times, want %d", tt.user, n, tt.wantBinds)
			}
			if err != nil && strings.Contains(err.Error(), tt.pw) && tt.pw != "" {
				t.Errorf("Authenticate(%q) error %q shows the password", tt.user, err)
			}
		})
	}
}

func TestLoginStartTLS(t *testing.T) {
	s, d := loginServer(t)
	opts := loginOptions(s)
	opts.AllowInsecureBind = false
	opts.StartTLS = true
	opts.CAFile = s.CAFile
	if got, err := newLogin(t, opts).Authenticate(context.Background(), d.UID(3), "pw-3"); err != nil || got != d.UID(3) {
		t.Errorf("Authenticate over StartTLS = %q, %v; want %q", got, err, d.UID(3))
	}
}

func TestLoginCache(t *testing.T) {
	s, d := loginServer(t)
	opts := loginOptions(s)
	opts.CacheTTL = 300 * time.Millisecond
	l := newLogin(t, opts)
	binds := countBinds(l)
	ctx := context.Background()
	auth := func(user, pw string) error {
		_, err := l.Authenticate(ctx, user, pw)
		return err
	}

	if err := auth(d.UID(1), "pw-1"); err != nil {
		t.Fatal(err)
	}
	if err := auth(d.UID(1), "pw-1"); err != nil || binds.Load() != 1 {
		t.Errorf("second Authenticate = %v after %d binds; want success from the cache after 1", err, binds.Load())
	}
	if err := auth(d.UID(1), "pw-1x"); !errors.Is(err, dirbook.ErrUnauthorized) || binds.Load() != 2 {
		t.Errorf("Authenticate with another password = %v after %d binds; want ErrUnauthorized after 2", err, binds.Load())
	}
	// The same user with a password the cache does not know, under
	// another spelling, binds.
	if err := auth(strings.ToUpper(d.UID(1)), "pw-1"); err != nil || binds.Load() != 3 {
		t.Errorf("Authenticate as %q = %v after %d binds; want success after 3", strings.ToUpper(d.UID(1)), err, binds.Load())
	}
	time.Sleep(400 * time.Millisecond)
	if err := auth(d.UID(1), "pw-1"); err != nil || binds.Load() != 4 {
		t.Errorf("Authenticate after the TTL = %v after %d binds; want success after 4", err, binds.Load())
	}

	opts.CacheSize = -1
	off := newLogin(t, opts)
	offBinds := countBinds(off)
	for range 2 {
		if _, err := off.Authenticate(ctx, d.UID(1), "pw-1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := offBinds.Load(); n != 2 {
		t.Errorf("without cache: %d binds for two logins, want 2", n)
	}
}

func TestLoginCacheKey(t *testing.T) {
	l := newLogin(t, &LoginOptions{URL: "ldap://127.0.0.1:1", Anonymous: true, AllowInsecureBind: true, UserBase: "dc=example,dc=com"})
	other := newLogin(t, &LoginOptions{URL: "ldap://127.0.0.1:1", Anonymous: true, AllowInsecureBind: true, UserBase: "dc=example,dc=com"})
	if l.cacheKey("ab", "c") == l.cacheKey("a", "bc") {
		t.Errorf("cacheKey(ab, c) = cacheKey(a, bc), want them different")
	}
	if l.cacheKey("a", "b") != l.cacheKey("a", "b") {
		t.Errorf("cacheKey(a, b) differs between calls")
	}
	if l.cacheKey("a", "b") == other.cacheKey("a", "b") {
		t.Errorf("cacheKey(a, b) is the same in two Logins, want a key of each")
	}
}

func TestLoginRateLimit(t *testing.T) {
	s, d := loginServer(t)
	opts := loginOptions(s)
	opts.Limiter = NewRateLimiter(&RateLimitOptions{MaxUserFailures: 3, MaxAddressFailures: 4, Window: time.Minute})
	now := time.Now()
	opts.Limiter.now = func() time.Time { return now }
	l := newLogin(t, opts)
	binds := countBinds(l)
	ctx := context.Background()
	from := func(user, pw, addr string) error {
		_, err := l.AuthenticateFrom(ctx, user, pw, addr)
		return err
	}

	for range 3 {
		if err := from(d.UID(1), "wrong", "192.0.2.1:1234"); !errors.Is(err, dirbook.ErrUnauthorized) || errors.Is(err, ErrRateLimited) {
			t.Fatalf("wrong password = %v, want ErrUnauthorized without ErrRateLimited", err)
		}
	}
	// The user is limited now, from any address, even with the right
	// password, and no bind is tried.
	before := binds.Load()
	err := from(d.UID(1), "pw-1", "198.51.100.7:1")
	if !errors.Is(err, ErrRateLimited) || !errors.Is(err, dirbook.ErrUnauthorized) {
		t.Errorf("fourth login = %v, want ErrRateLimited and ErrUnauthorized", err)
	}
	if binds.Load() != before {
		t.Errorf("a rate-limited login bound")
	}
	// The address has 3 failures; one more from it, for another user,
	// reaches its limit of 4.
	if err := from(d.UID(2), "wrong", "192.0.2.1:999"); errors.Is(err, ErrRateLimited) {
		t.Errorf("fourth failure from the address = %v, want no rate limit yet", err)
	}
	if err := from(d.UID(3), "pw-3", "192.0.2.1:5"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("login from the limited address = %v, want ErrRateLimited", err)
	}
	if err := from(d.UID(3), "pw-3", "192.0.2.2:5"); err != nil {
		t.Errorf("login from another address = %v, want success", err)
	}
	// Authenticate knows no address: only the user counts.
	if _, err := l.Authenticate(ctx, d.UID(3), "pw-3"); err != nil {
		t.Errorf("Authenticate = %v, want success", err)
	}
	// After the window, the user may try again.
	now = now.Add(time.Minute)
	if err := from(d.UID(1), "pw-1", "192.0.2.1:1"); err != nil {
		t.Errorf("login after the window = %v, want success", err)
	}
}

// TestLoginServerErrors checks that failures of the server, or of the
// configuration, are not reported as wrong credentials.
func TestLoginServerErrors(t *testing.T) {
	s, d := loginServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "ldap://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name   string
		modify func(o *LoginOptions)
	}{
		{"unreachable", func(o *LoginOptions) { o.URL = closed }},
		{"search account refused", func(o *LoginOptions) { o.BindPassword = "wrong" }},
		{"wrong CA", func(o *LoginOptions) {
			o.URL, o.CAFile = s.LDAPSURL, slapdtest.OtherCAFile(t)
		}},
		{"no such base", func(o *LoginOptions) { o.UserBase = "ou=nowhere," + s.BaseDN }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := loginOptions(s)
			opts.Timeout = 2 * time.Second
			tt.modify(opts)
			lg := newLogin(t, opts)
			_, err := lg.Authenticate(context.Background(), d.UID(1), "pw-1")
			if err == nil || errors.Is(err, dirbook.ErrUnauthorized) {
				t.Errorf("Authenticate = %v, want an error other than ErrUnauthorized", err)
			}
			// Server failures are not counted as failed logins.
			if err := lg.limiter.Allow(d.UID(1), ""); err != nil {
				t.Errorf("after a server failure, Allow = %v, want nil", err)
			}
		})
	}
}

func TestNewLoginErrors(t *testing.T) {
	base := func() *LoginOptions {
		return &LoginOptions{URL: "ldaps://127.0.0.1", Anonymous: true, UserBase: "dc=example,dc=com"}
	}
	tests := []struct {
		name    string
		modify  func(o *LoginOptions)
		wantErr string
	}{
		{"no base", func(o *LoginOptions) { o.UserBase = "" }, "no user base"},
		{"no placeholder", func(o *LoginOptions) { o.UserFilter = "(uid=x)" }, "does not contain {login}"},
		{"bad filter", func(o *LoginOptions) { o.UserFilter = "(uid={login}" }, "filter"},
		{"bad attribute", func(o *LoginOptions) { o.LoginAttribute = "uid)(x" }, "not an attribute name"},
		{"plain ldap", func(o *LoginOptions) { o.URL = "ldap://127.0.0.1" }, "unencrypted"},
		{"negative TTL", func(o *LoginOptions) { o.CacheTTL = -time.Second }, "negative"},
		{"bad URL", func(o *LoginOptions) { o.URL = "http://x" }, "scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.modify(o)
			_, err := NewLogin(o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewLogin error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := NewLogin(base()); err != nil {
		t.Errorf("NewLogin(valid) error = %v", err)
	}
}

func TestAddressKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"", ""},
		{"example.com:80", ""},
	}
	for _, tt := range tests {
		if got := addressKey(tt.addr); got != tt.want {
			t.Errorf("addressKey(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Now()
	r := NewRateLimiter(&RateLimitOptions{MaxUserFailures: 2, MaxAddressFailures: -1, Window: time.Minute, MaxTracked: 3})
	r.now = func() time.Time { return now }

	r.Fail("Anna", "192.0.2.1:1")
	r.Fail("anna", "192.0.2.1:2")
	if err := r.Allow("ANNA", ""); !errors.Is(err, ErrRateLimited) {
		t.Errorf("Allow after two failures = %v, want ErrRateLimited", err)
	}
	if err := r.Allow("ben", "192.0.2.1:3"); err != nil {
		t.Errorf("Allow(ben) = %v, want nil: no limit per address", err)
	}
	r.Succeed("anna")
	if err := r.Allow("anna", ""); err != nil {
		t.Errorf("Allow after Succeed = %v, want nil", err)
	}

	// Counts beyond MaxTracked drop the oldest.
	for i, u := range []string{"u1", "u2", "u3", "u4"} {
		now = now.Add(time.Second)
		r.Fail(u, "")
		r.Fail(u, "")
		if i == 0 {
			if err := r.Allow("u1", ""); err == nil {
				t.Errorf("Allow(u1) = nil, want ErrRateLimited")
			}
		}
	}
	if len(r.counts) > 3 {
		t.Errorf("%d counts kept, want at most 3", len(r.counts))
	}
	if err := r.Allow("u1", ""); err != nil {
		t.Errorf("Allow(u1) after it was dropped = %v, want nil", err)
	}
	if err := r.Allow("u4", ""); !errors.Is(err, ErrRateLimited) {
		t.Errorf("Allow(u4) = %v, want ErrRateLimited", err)
	}
	now = now.Add(time.Minute)
	if err := r.Allow("u4", ""); err != nil {
		t.Errorf("Allow(u4) after the window = %v, want nil", err)
	}
}
