package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/ldap"
	dirsync "github.com/dirbook/dirbook/sync"
)

// checkSource validates one source of the configuration at key path k and
// reads its bind password.
func (c *Config) checkSource(f *configFile, k string, s *SourceConfig) {
	switch {
	case s.LDIF != "" && s.URL != "":
		f.add(k, "give ldif (a file) or url (a server), not both")
		return
	case s.LDIF == "" && s.URL == "":
		f.add(k+".url", "required: the directory server (ldap:// or ldaps://), or ldif for a file")
		return
	case s.LDIF != "":
		if _, err := os.Stat(c.resolve(s.LDIF)); err != nil {
			f.add(k+".ldif", "cannot read %q: %v", s.LDIF, errors.Unwrap(err))
		}
		for key, set := range map[string]bool{
			"start_tls": s.StartTLS, "ca_file": s.CAFile != "", "cert_file": s.CertFile != "",
			"key_file": s.KeyFile != "", "allow_insecure_bind": s.AllowInsecureBind, "bind_dn": s.BindDN != "",
			"bind_password_file": s.BindPasswordFile != "", "bind_password_env": s.BindPasswordEnv != "",
			"anonymous": s.Anonymous, "scope": s.Scope != "", "attributes": len(s.Attributes) > 0,
			"page_size": s.PageSize != 0, "timeout": s.Timeout != 0, "group_base": s.GroupBase != "",
			"group_filter": s.GroupFilter != "", "active_directory": s.ActiveDirectory, "include_disabled": s.IncludeDisabled,
			"feed": s.Feed != "",
		} {
			if set {
				f.add(k+"."+key, "applies to directory servers (url), not to an ldif file")
			}
		}
		if _, err := s.ldif(c); err != nil {
			f.add(k+".filter", "%s", strings.TrimPrefix(err.Error(), "ldap: "))
		}
		return
	}
	switch {
	case s.BindPasswordFile != "" && s.BindPasswordEnv != "":
		f.add(k, "give bind_password_file or bind_password_env, not both")
	case s.BindPasswordFile != "":
		data, err := os.ReadFile(c.resolve(s.BindPasswordFile))
		if err != nil {
			f.add(k+".bind_password_file", "cannot read %q: %v", s.BindPasswordFile, errors.Unwrap(err))
		}
		s.bindPassword = ldap.Secret(strings.TrimRight(string(data), "\r\n"))
	case s.BindPasswordEnv != "":
		v, ok := os.LookupEnv(s.BindPasswordEnv)
		if !ok {
			f.add(k+".bind_password_env", "environment variable %s is not set", s.BindPasswordEnv)
		}
		s.bindPassword = ldap.Secret(v)
	}
	switch s.Scope {
	case "", "sub", "one", "base":
	default:
		f.add(k+".scope", "want sub, one or base, got %q", s.Scope)
	}
	check := *s
	check.Scope = ""
	if s.BindDN != "" && s.bindPassword == "" {
		if s.BindPasswordFile == "" && s.BindPasswordEnv == "" {
			f.add(k+".bind_dn", "a bind DN needs bind_password_file or bind_password_env (passwords never stand in the file itself)")
		}
		check.bindPassword = "placeholder" // check the other settings
	}
	if _, err := check.server(c, nil); err != nil {
		f.add(k, "%s", strings.TrimPrefix(err.Error(), "ldap: "))
	}
}

func (s *SourceConfig) ldif(c *Config) (*ldap.LDIF, error) {
	return ldap.NewLDIF(c.resolve(s.LDIF), &ldap.LDIFOptions{
		Name:        s.Name,
		Base:        s.Base,
		Filter:      s.Filter,
		IDAttribute: s.IDAttribute,
	})
}

// server builds an LDAP source. attrs are the attributes the rules read;
// when the config lists none, the source asks for every user attribute
// and these (operational ones, such as pwdAccountLockedTime, are only
// returned when named).
func (s *SourceConfig) server(c *Config, attrs []string) (*ldap.Source, error) {
	attributes := s.Attributes
	if len(attributes) == 0 && len(attrs) > 0 {
		attributes = append([]string{"*"}, attrs...)
	}
	return ldap.New(&ldap.Options{
		Name:              s.Name,
		URL:               s.URL,
		StartTLS:          s.StartTLS,
		CAFile:            c.resolve(s.CAFile),
		CertFile:          c.resolve(s.CertFile),
		KeyFile:           c.resolve(s.KeyFile),
		AllowInsecureBind: s.AllowInsecureBind,
		BindDN:            s.BindDN,
		BindPassword:      s.bindPassword,
		Anonymous:         s.Anonymous,
		Base:              s.Base,
		Scope:             s.Scope,
		Filter:            s.Filter,
		Attributes:        attributes,
		IDAttribute:       s.IDAttribute,
		PageSize:          s.PageSize,
		Timeout:           s.Timeout,
		GroupBase:         s.GroupBase,
		GroupFilter:       s.GroupFilter,
		ActiveDirectory:   s.ActiveDirectory,
		IncludeDisabled:   s.IncludeDisabled,
		Feed:              s.Feed,
	})
}

// sources builds the configured sources. Directory servers are asked for
// the attributes the rules read and the login attribute.
func (c *Config) sources() ([]dirsync.Source, error) {
	attrs := append(c.mapper.Attributes(), c.Auth.LoginAttribute)
	out := make([]dirsync.Source, len(c.Sources))
	for i := range c.Sources {
		s := &c.Sources[i]
		src, err := s.source(c, attrs)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		out[i] = src
	}
	return out, nil
}

// source builds one source. Its entries get the configured kind: a
// change feed sets it itself, any other source is wrapped in kindSource.
func (s *SourceConfig) source(c *Config, attrs []string) (dirsync.Source, error) {
	var src dirsync.Source
	if s.LDIF != "" {
		ldif, err := s.ldif(c)
		if err != nil {
			return nil, err
		}
		src = ldif
	} else {
		server, err := s.server(c, attrs)
		if err != nil {
			return nil, err
		}
		if s.Feed != ldap.FeedNone {
			return &feedSource{Source: server, name: s.Name, kind: s.Kind}, nil
		}
		src = server
	}
	if s.Kind != "" {
		src = &kindSource{Source: src, kind: s.Kind, name: s.Name}
	}
	return src, nil
}

// kindSource sets the configured kind on every entry a source reads.
type kindSource struct {
	dirsync.Source
	kind string
	name string
}

func (k *kindSource) Read(ctx context.Context, emit func(*dirbook.Entry) error) error {
	return k.Source.Read(ctx, func(e *dirbook.Entry) error {
		e.Kind = k.kind
		return emit(e)
	})
}

// Name names the source in sync errors.
func (k *kindSource) Name() string { return k.name }

// feedSource is an LDAP source with a change feed, as sync consumes it. It
// sets the configured kind on every entry, as kindSource does.
type feedSource struct {
	*ldap.Source
	name string
	kind string
}

var _ dirsync.Feed = (*feedSource)(nil)

// Name names the source; sync stores the feed's state under it.
func (f *feedSource) Name() string { return f.name }

func (f *feedSource) Read(ctx context.Context, emit func(*dirbook.Entry) error) error {
	return f.Source.Read(ctx, func(e *dirbook.Entry) error {
		f.setKind(e)
		return emit(e)
	})
}

func (f *feedSource) Poll(ctx context.Context, state []byte, emit func(dirsync.Change) error) ([]byte, bool, error) {
	return f.Source.Poll(ctx, state, func(c ldap.Change) error {
		f.setKind(c.Entry)
		return emit(dirsync.Change(c))
	})
}

func (f *feedSource) Watch(ctx context.Context, state []byte, fn func([]dirsync.Change, bool, []byte) error) error {
	return f.Source.Watch(ctx, state, func(cs []ldap.Change, full bool, next []byte) error {
		out := make([]dirsync.Change, len(cs))
		for i, c := range cs {
			f.setKind(c.Entry)
			out[i] = dirsync.Change(c)
		}
		return fn(out, full, next)
	})
}

func (f *feedSource) setKind(e *dirbook.Entry) {
	if e != nil && f.kind != "" {
		e.Kind = f.kind
	}
}
