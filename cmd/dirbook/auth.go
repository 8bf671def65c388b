package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/carddav"
	"github.com/dirbook/dirbook/ldap"
)

// checkLDAPLogin validates auth.ldap.
func (c *Config) checkLDAPLogin(f *configFile) {
	l := c.Auth.LDAP
	if l == nil {
		return
	}
	if l.Source == "" {
		f.add("auth.ldap.source", "required: the name of the source whose server verifies passwords")
		return
	}
	src := c.source(l.Source)
	switch {
	case src == nil:
		f.add("auth.ldap.source", "no source is named %q", l.Source)
		return
	case src.URL == "":
		f.add("auth.ldap.source", "source %q reads a file; passwords need a directory server (url)", l.Source)
		return
	}
	if l.UserFilter != "" && !strings.Contains(l.UserFilter, "{login}") {
		f.add("auth.ldap.user_filter", "must contain {login}, e.g. (|(uid={login})(mail={login}))")
	}
	if _, err := c.ldapLogin(nil); err != nil {
		f.add("auth.ldap", "%s", strings.TrimPrefix(err.Error(), "ldap: "))
	}
}

func (c *Config) source(name string) *SourceConfig {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i]
		}
	}
	return nil
}

// ldapLogin builds the directory-password login of auth.ldap.
func (c *Config) ldapLogin(limit *ldap.RateLimiter) (*ldap.Login, error) {
	l := c.Auth.LDAP
	src := c.source(l.Source)
	base := l.UserBase
	if base == "" {
		base = src.Base
	}
	pw := src.bindPassword
	if src.BindDN != "" && pw == "" {
		pw = "placeholder" // reported by the source's own check
	}
	return ldap.NewLogin(&ldap.LoginOptions{
		URL:               src.URL,
		StartTLS:          src.StartTLS,
		CAFile:            c.resolve(src.CAFile),
		CertFile:          c.resolve(src.CertFile),
		KeyFile:           c.resolve(src.KeyFile),
		AllowInsecureBind: src.AllowInsecureBind,
		BindDN:            src.BindDN,
		BindPassword:      pw,
		Anonymous:         src.Anonymous,
		Timeout:           src.Timeout,
		UserBase:          base,
		UserScope:         l.UserScope,
		UserFilter:        l.UserFilter,
		LoginAttribute:    c.Auth.LoginAttribute,
		CacheSize:         l.CacheSize,
		CacheTTL:          l.CacheTTL,
		Limiter:           limit,
	})
}

// logins checks HTTP Basic credentials: app passwords first, then the
// directory password when auth.ldap is configured. Failed logins are
// limited per user and per client address.
type logins struct {
	apps  *carddav.AppPasswords
	ldap  *ldap.Login // nil without auth.ldap
	limit *ldap.RateLimiter
}

var _ carddav.Authenticator = (*logins)(nil)

func newLogins(cfg *Config) (*logins, error) {
	aps := make([]carddav.AppPassword, len(cfg.Auth.AppPasswords))
	for i, ap := range cfg.Auth.AppPasswords {
		aps[i] = carddav.AppPassword{User: ap.User, Hash: ap.Hash}
	}
	apps, err := carddav.NewAppPasswords(aps, nil)
	if err != nil {
		return nil, err
	}
	rl := cfg.Auth.RateLimit
	l := &logins{apps: apps, limit: ldap.NewRateLimiter(&ldap.RateLimitOptions{
		MaxUserFailures:    rl.MaxUserFailures,
		MaxAddressFailures: rl.MaxAddressFailures,
		Window:             rl.Window,
	})}
	if cfg.Auth.LDAP != nil {
		if l.ldap, err = cfg.ldapLogin(l.limit); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *logins) Authenticate(ctx context.Context, user, password string) (string, error) {
	return l.AuthenticateFrom(ctx, user, password, "")
}

// AuthenticateFrom checks the credentials of a client at remoteAddr.
func (l *logins) AuthenticateFrom(ctx context.Context, user, password, remoteAddr string) (string, error) {
	if err := l.limit.Allow(user, remoteAddr); err != nil {
		return "", err
	}
	login, err := l.apps.Authenticate(ctx, user, password)
	if err == nil {
		l.limit.Succeed(user)
		return login, nil
	}
	if !errors.Is(err, dirbook.ErrUnauthorized) {
		return "", err
	}
	if l.ldap != nil {
		// The directory login counts its own failures in the same limiter.
		// Its login is the person's login attribute value; the published
		// access map keys those in lower case.
		login, err := l.ldap.AuthenticateFrom(ctx, user, password, remoteAddr)
		return strings.ToLower(login), err
	}
	l.limit.Fail(user, remoteAddr)
	return "", fmt.Errorf("login: %w", dirbook.ErrUnauthorized)
}
