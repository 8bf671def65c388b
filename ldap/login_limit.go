package ldap

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/dirbook/dirbook"
)

// Defaults of RateLimitOptions.
const (
	DefaultMaxUserFailures    = 5
	DefaultMaxAddressFailures = 20
	DefaultFailureWindow      = 15 * time.Minute
	DefaultMaxTracked         = 100000
)

// ErrRateLimited reports a login refused without checking the password,
// because of too many recent failures for the user or from the client's
// address. Errors wrapping it wrap dirbook.ErrUnauthorized too.
var ErrRateLimited = errors.New("too many failed logins")

// RateLimitOptions configure a RateLimiter.
type RateLimitOptions struct {
	// MaxUserFailures is the number of failed logins of one user name
	// (compared without regard to case) within Window after which the
	// name is refused until the window ends. If 0,
	// DefaultMaxUserFailures is used; if negative, there is no limit per
	// user.
	MaxUserFailures int
	// MaxAddressFailures is the same for one client address: an IPv4
	// address, or the /64 network of an IPv6 address. If 0,
	// DefaultMaxAddressFailures is used; if negative, there is no limit
	// per address.
	MaxAddressFailures int
	// Window is how long failures count, from the first failure of a
	// user or address. If 0, DefaultFailureWindow is used.
	Window time.Duration
	// MaxTracked bounds the users and addresses counted at once, and so
	// the memory used; beyond it the oldest counts are dropped. If 0,
	// DefaultMaxTracked is used.
	MaxTracked int
}

// RateLimiter counts failed logins per user name and per client address,
// and refuses a name or address with too many failures in the window. It
// is safe for concurrent use.
//
// An authenticator calls Allow before checking a password, Fail after a
// wrong one, and Succeed after a right one (which clears the user's count,
// not the address's).
type RateLimiter struct {
	maxUser, maxAddr int
	window           time.Duration
	maxTracked       int
	now              func() time.Time // tests set a clock

	mu     sync.Mutex
	counts map[string]*failures
}

// failures counts failures since start.
type failures struct {
	n     int
	start time.Time
}

// NewRateLimiter returns a RateLimiter configured by opts (nil for the
// defaults).
func NewRateLimiter(opts *RateLimitOptions) *RateLimiter {
	if opts == nil {
		opts = &RateLimitOptions{}
	}
	return &RateLimiter{
		maxUser:    cmp.Or(opts.MaxUserFailures, DefaultMaxUserFailures),
		maxAddr:    cmp.Or(opts.MaxAddressFailures, DefaultMaxAddressFailures),
		window:     cmp.Or(max(opts.Window, 0), DefaultFailureWindow),
		maxTracked: cmp.Or(max(opts.MaxTracked, 0), DefaultMaxTracked),
		now:        time.Now,
		counts:     map[string]*failures{},
	}
}

// keys returns the keys failures of user from remoteAddr count under.
func (r *RateLimiter) keys(user, remoteAddr string) (userKey, addrKey string) {
	if r.maxUser > 0 && user != "" {
		userKey = "u:" + strings.ToLower(user)
	}
	if r.maxAddr > 0 {
		if a := addressKey(remoteAddr); a != "" {
			addrKey = "a:" + a
		}
	}
	return userKey, addrKey
}

// addressKey returns the address a failure from remoteAddr (host:port or
// host) counts for: the IPv4 address, or the /64 network of an IPv6
// address, which one client usually has whole. "" when remoteAddr is not
// an IP address.
func addressKey(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64) // valid for every IPv6 address
		return p.String()
	}
	return ip.String()
}

// count returns the failures counted under key now, nil when none.
func (r *RateLimiter) count(key string, now time.Time) *failures {
	f := r.counts[key]
	if f != nil && now.Sub(f.start) >= r.window {
		delete(r.counts, key)
		return nil
	}
	return f
}

// Allow returns an error wrapping ErrRateLimited and
// dirbook.ErrUnauthorized when user or remoteAddr ("" when unknown) has
// reached its limit of failures in the window.
func (r *RateLimiter) Allow(user, remoteAddr string) error {
	userKey, addrKey := r.keys(user, remoteAddr)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if userKey != "" {
		if f := r.count(userKey, now); f != nil && f.n >= r.maxUser {
			return fmt.Errorf("ldap: login: %d failures of this user within %v: %w: %w", f.n, r.window, ErrRateLimited, dirbook.ErrUnauthorized)
		}
	}
	if addrKey != "" {
		if f := r.count(addrKey, now); f != nil && f.n >= r.maxAddr {
			return fmt.Errorf("ldap: login: %d failures from this address within %v: %w: %w", f.n, r.window, ErrRateLimited, dirbook.ErrUnauthorized)
		}
	}
	return nil
}

// Fail counts a failed login of user from remoteAddr.
func (r *RateLimiter) Fail(user, remoteAddr string) {
	userKey, addrKey := r.keys(user, remoteAddr)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range []string{userKey, addrKey} {
		if k == "" {
			continue
		}
		f := r.count(k, now)
		if f == nil {
			r.makeRoom(now)
			f = &failures{start: now}
			r.counts[k] = f
		}
		f.n++
	}
}

// Succeed clears the failures of user.
func (r *RateLimiter) Succeed(user string) {
	userKey, _ := r.keys(user, "")
	if userKey == "" {
		return
	}
	r.mu.Lock()
	delete(r.counts, userKey)
	r.mu.Unlock()
}

// makeRoom drops counts so that one more fits: the expired ones, and if
// that is not enough, the oldest.
func (r *RateLimiter) makeRoom(now time.Time) {
	if len(r.counts) < r.maxTracked {
		return
	}
	var oldestKey string
	var oldest time.Time
	for k, f := range r.counts {
		if now.Sub(f.start) >= r.window {
			delete(r.counts, k)
			continue
		}
		if oldestKey == "" || f.start.Before(oldest) {
			oldestKey, oldest = k, f.start
		}
	}
	if len(r.counts) >= r.maxTracked {
		delete(r.counts, oldestKey)
	}
}
