package ldap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dirbook/dirbook"
	goldap "github.com/go-ldap/ldap/v3"
)

// Defaults of Options.
const (
	DefaultPageSize    = 500
	DefaultTimeout     = 30 * time.Second
	DefaultGroupFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)(objectClass=group))"
)

// Options configure a Source reading an LDAP or Active Directory server.
type Options struct {
	// Name is the source name copied into Entry.Source. If empty, "ldap"
	// is used.
	Name string
	// URL is the server, ldap://host[:port] or ldaps://host[:port];
	// required. The port defaults to 389 and 636. It must carry neither
	// credentials nor a DN or query.
	URL string
	// StartTLS upgrades an ldap:// connection with StartTLS before the
	// bind. If false, ldap:// connections stay unencrypted.
	StartTLS bool
	// CAFile is a PEM file of the certificate authorities that may sign
	// the server's certificate, read at every connection. If empty, the
	// system's roots are used.
	CAFile string
	// CertFile and KeyFile are the PEM files of a client certificate and
	// its key, presented when the server asks for one. If empty, none is
	// presented. Both are set, or neither.
	CertFile, KeyFile string
	// AllowInsecureBind permits a bind with a password over an
	// unencrypted connection (ldap:// without StartTLS), for tests on
	// loopback. If false, New refuses such a configuration, so no
	// password is ever sent in the clear.
	AllowInsecureBind bool
	// BindDN is the account the source binds as. If empty, Anonymous
	// must be set.
	BindDN string
	// BindPassword is BindDN's password, required with BindDN (an empty
	// password would make an unauthenticated bind).
	BindPassword Secret
	// Anonymous reads without binding. It excludes BindDN.
	Anonymous bool
	// Base is the DN below which people are searched; required.
	Base string
	// Scope is the search scope below Base: "sub" (Base and all below
	// it), "one" (the entries directly below it) or "base" (Base only).
	// If empty, "sub" is used.
	Scope string
	// Filter is the RFC 4515 filter selecting the people; the server
	// evaluates it. Values in it are escaped as RFC 4515 says (\2a for a
	// literal *). If empty, "(objectClass=*)" is used.
	Filter string
	// Attributes lists the attributes read of each person. If nil, all
	// user attributes ("*") are read. Either way the identity attribute,
	// memberOf, uid (for posixGroup's memberUid) and, with
	// ActiveDirectory, userAccountControl are read too.
	Attributes []string
	// IDAttribute names the attribute holding each person's immutable
	// identity. If empty, "entryUUID" is used, or "objectGUID" with
	// ActiveDirectory. An objectGUID of 16 bytes becomes its canonical
	// string form.
	IDAttribute string
	// PageSize is the number of entries the server returns per page; all
	// searches are paged (RFC 2696). If 0, DefaultPageSize is used.
	PageSize int
	// Timeout bounds dialing with the TLS handshake, StartTLS, the bind,
	// and the wait for each answer (a page of a search); a server silent
	// for longer is given up. If 0, DefaultTimeout is used.
	Timeout time.Duration
	// GroupBase is the DN below which group entries are read, once per
	// Read, to resolve nested memberships, and memberships of people
	// without memberOf. Nested groups outside it are not followed. If
	// empty, Base is used.
	GroupBase string
	// GroupFilter selects the group entries below GroupBase. If empty,
	// DefaultGroupFilter is used.
	GroupFilter string
	// ActiveDirectory reads the server as Active Directory: the identity
	// defaults to objectGUID, disabled accounts (userAccountControl bit
	// 0x2) are marked invalid, and memberships come from memberOf, of the
	// people and of the groups (nesting), without reading the groups'
	// member lists. Attributes the server returns in ranges
	// ("member;range=0-1499") are read whole in every mode.
	ActiveDirectory bool
	// IncludeDisabled keeps disabled Active Directory accounts usable.
	// If false, they are emitted with Invalid "disabled account".
	IncludeDisabled bool
	// Feed selects how Poll and Watch learn changes (see feed.go):
	// FeedSyncrepl (RFC 4533 content sync, OpenLDAP), the Active
	// Directory modes, or FeedNone (Poll and Watch return an error
	// wrapping ErrNoFeed, so the caller reads the whole directory). If
	// empty, FeedSyncrepl is used, or the Active Directory default with
	// ActiveDirectory.
	Feed string
	// ADPollInterval is how often Watch polls an Active Directory server,
	// which pushes no changes. If 0, DefaultADPollInterval is used.
	ADPollInterval time.Duration
	// ADReconcileInterval is the longest an Active Directory feed goes
	// without a full read: a Poll later than this after the last full read
	// reads every person and reports full. Full reads find what the feed
	// cannot see: people moved out of the base, and deletions when the
	// account may not list the Deleted Objects container (see ad.go for
	// the rights each feed needs). If 0, DefaultADReconcileInterval is
	// used.
	ADReconcileInterval time.Duration
}

// Source reads people from an LDAP or Active Directory server. Every Read
// opens a connection of its own, so one Source may Read concurrently.
type Source struct {
	name        string
	url         string // scheme://host:port, for dialing and messages
	hostport    string
	serverName  string
	ldaps       bool
	startTLS    bool
	caFile      string
	certFile    string
	keyFile     string
	insecure    bool
	bindDN      string
	password    Secret
	base        string
	baseDN      *goldap.DN // base, parsed
	scope       int
	filter      string
	attrs       []string
	idAttr      string
	pageSize    uint32
	timeout     time.Duration
	groupBase   string
	groupFilter string
	ad          bool
	disabledOK  bool
	feed        string // one of the Feed constants, never ""

	// The Active Directory feeds (ad.go).
	adPollInterval time.Duration
	adReconcile    time.Duration
	adMem          adMemory
}

// New returns a source reading the server opts describe. It checks the
// options (URL, DNs, filters, the bind) but connects only in Read.
func New(opts *Options) (*Source, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Source{
		name:        cmp.Or(opts.Name, "ldap"),
		startTLS:    opts.StartTLS,
		caFile:      opts.CAFile,
		certFile:    opts.CertFile,
		keyFile:     opts.KeyFile,
		insecure:    opts.AllowInsecureBind,
		bindDN:      opts.BindDN,
		password:    opts.BindPassword,
		base:        opts.Base,
		filter:      cmp.Or(opts.Filter, "(objectClass=*)"),
		idAttr:      opts.IDAttribute,
		timeout:     opts.Timeout,
		groupBase:   cmp.Or(opts.GroupBase, opts.Base),
		groupFilter: cmp.Or(opts.GroupFilter, DefaultGroupFilter),
		ad:          opts.ActiveDirectory,
		disabledOK:  opts.IncludeDisabled,
	}
	if err := s.parseURL(opts.URL); err != nil {
		return nil, err
	}
	if s.startTLS && s.ldaps {
		return nil, fmt.Errorf("ldap: %s: StartTLS is for ldap:// URLs; ldaps:// is encrypted already", s.url)
	}
	if (s.certFile == "") != (s.keyFile == "") {
		return nil, errors.New("ldap: a client certificate needs both a certificate file and a key file")
	}

	switch {
	case opts.Anonymous && s.bindDN != "":
		return nil, errors.New("ldap: a bind DN and anonymous reading exclude each other")
	case opts.Anonymous && s.password != "":
		return nil, errors.New("ldap: a bind password and anonymous reading exclude each other")
	case !opts.Anonymous && s.bindDN == "":
		return nil, errors.New("ldap: no bind DN: set one, or allow anonymous reading")
	case s.bindDN != "" && s.password == "":
		return nil, fmt.Errorf("ldap: bind DN %s has no password", s.bindDN)
	case s.bindDN != "" && !s.ldaps && !s.startTLS && !s.insecure:
		return nil, fmt.Errorf("ldap: bind as %s: %w", s.bindDN, s.errInsecure())
	}
	if s.bindDN != "" {
		if _, err := goldap.ParseDN(s.bindDN); err != nil {
			return nil, fmt.Errorf("ldap: bind DN %q: %w", s.bindDN, err)
		}
	}

	if s.base == "" {
		return nil, errors.New("ldap: no base DN")
	}
	baseDN, err := goldap.ParseDN(s.base)
	if err != nil {
		return nil, fmt.Errorf("ldap: base %q: %w", s.base, err)
	}
	s.baseDN = baseDN
	if _, err := goldap.ParseDN(s.groupBase); err != nil {
		return nil, fmt.Errorf("ldap: group base %q: %w", s.groupBase, err)
	}
	switch opts.Scope {
	case "", "sub":
		s.scope = goldap.ScopeWholeSubtree
	case "one":
		s.scope = goldap.ScopeSingleLevel
	case "base":
		s.scope = goldap.ScopeBaseObject
	default:
		return nil, fmt.Errorf("ldap: scope %q: want sub, one or base", opts.Scope)
	}
	if err := checkFilter(s.filter); err != nil {
		return nil, err
	}
	if err := checkFilter(s.groupFilter); err != nil {
		return nil, err
	}

	if s.idAttr == "" {
		s.idAttr = "entryUUID"
		if s.ad {
			s.idAttr = "objectGUID"
		}
	}
	for _, a := range opts.Attributes {
		if strings.TrimSpace(a) == "" {
			return nil, errors.New("ldap: an empty attribute name in the attribute list")
		}
	}
	s.attrs = s.personAttributes(opts.Attributes)
	if err := s.setFeed(opts.Feed); err != nil {
		return nil, err
	}
	if opts.ADPollInterval < 0 || opts.ADReconcileInterval < 0 {
		return nil, errors.New("ldap: the Active Directory poll and reconcile intervals must not be negative")
	}
	s.adPollInterval = cmp.Or(opts.ADPollInterval, DefaultADPollInterval)
	s.adReconcile = cmp.Or(opts.ADReconcileInterval, DefaultADReconcileInterval)

	switch {
	case opts.PageSize < 0:
		return nil, fmt.Errorf("ldap: page size %d is negative", opts.PageSize)
	case opts.PageSize == 0:
		s.pageSize = DefaultPageSize
	default:
		s.pageSize = uint32(min(opts.PageSize, 1<<31-1))
	}
	switch {
	case s.timeout < 0:
		return nil, fmt.Errorf("ldap: timeout %v is negative", s.timeout)
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	}
	return s, nil
}

// parseURL sets the connection fields from the configured URL. Errors
// quote only what cannot hold a password.
func (s *Source) parseURL(raw string) error {
	if raw == "" {
		return errors.New("ldap: no URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("ldap: URL does not parse; want ldap://host:port or ldaps://host:port")
	}
	if u.User != nil {
		return errors.New("ldap: URL carries user information; set the bind DN and password instead")
	}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		port = "389"
	case "ldaps":
		port = "636"
		s.ldaps = true
	default:
		return fmt.Errorf("ldap: URL %q: scheme must be ldap or ldaps", raw)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("ldap: URL %q: no host", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("ldap: URL %q: has a DN or query; set base and filter instead", raw)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.serverName = u.Hostname()
	s.hostport = net.JoinHostPort(u.Hostname(), port)
	s.url = strings.ToLower(u.Scheme) + "://" + s.hostport
	return nil
}

func (s *Source) errInsecure() error {
	return fmt.Errorf("refusing to send a password unencrypted to %s: use ldaps:// or StartTLS (insecure binds are for tests on loopback)", s.url)
}

// checkFilter reports a filter the client cannot encode.
func checkFilter(text string) error {
	if _, err := goldap.CompileFilter(text); err != nil {
		var lerr *goldap.Error
		if errors.As(err, &lerr) && lerr.Err != nil {
			err = lerr.Err
		}
		return fmt.Errorf("ldap: filter %s: %w", text, err)
	}
	return nil
}

// personAttributes returns the attributes requested of people: the
// configured ones, or all user attributes, plus those Read needs.
func (s *Source) personAttributes(configured []string) []string {
	out := slices.Clone(configured)
	if configured == nil {
		out = []string{"*"}
	}
	need := []string{s.idAttr, "memberOf", "uid"}
	if s.ad {
		need = append(need, "userAccountControl")
	}
	for _, n := range need {
		if !slices.ContainsFunc(out, func(a string) bool { return strings.EqualFold(a, n) }) {
			out = append(out, n)
		}
	}
	return out
}

// groupAttributes returns the attributes read of groups: in Active
// Directory the back-links suffice, elsewhere the member lists are needed
// for people without memberOf.
func (s *Source) groupAttributes() []string {
	if s.ad {
		return []string{"objectClass", "memberOf"}
	}
	return []string{"objectClass", "member", "uniqueMember", "memberUid", "memberOf"}
}

// Read connects, binds, reads the group entries below the group base,
// then reads the people page by page and calls emit for each, in the
// order the server returns them, with their group memberships resolved
// (nested ones included). At most two pages of people are held at a time:
// the one being emitted, and the next, which the server sends meanwhile.
//
// An entry without a value of the identity attribute is emitted with ID ""
// and Invalid set; so is a disabled Active Directory account, with its ID.
// Read returns an error if the server fails or goes away at any point:
// then the entries emitted so far are not the whole directory. It stops at
// the first error emit returns and returns it wrapped.
func (s *Source) Read(ctx context.Context, emit func(*dirbook.Entry) error) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.close()

	groups := newGroupIndex()
	req := goldap.NewSearchRequest(s.groupBase, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, s.groupFilter, s.groupAttributes(), nil)
	err = s.search(ctx, c, req, func(e *goldap.Entry) error {
		if err := completeRanges(c, e); err != nil {
			return fmt.Errorf("ldap: read group %s at %s: %w", e.DN, s.url, err)
		}
		groups.add(e.DN, entryAttrs(e))
		return nil
	})
	if err != nil {
		return err
	}

	req = goldap.NewSearchRequest(s.base, s.scope, goldap.NeverDerefAliases,
		0, 0, false, s.filter, s.attrs, nil)
	return s.search(ctx, c, req, func(e *goldap.Entry) error {
		if err := completeRanges(c, e); err != nil {
			return fmt.Errorf("ldap: read %s at %s: %w", e.DN, s.url, err)
		}
		if err := emit(s.makeEntry(e, groups)); err != nil {
			return fmt.Errorf("ldap: read %s: %w", s.url, err)
		}
		return nil
	})
}

// makeEntry returns the person e, with the memberships groups resolves.
func (s *Source) makeEntry(e *goldap.Entry, groups *groupIndex) *dirbook.Entry {
	attrs := entryAttrs(e)
	ent := &dirbook.Entry{
		ID:     identity(s.idAttr, attrs[strings.ToLower(s.idAttr)]),
		DN:     readableDN(e.DN),
		Source: s.name,
		Attrs:  attrs,
		Groups: groups.groups(e.DN, attrs["uid"], attrs["memberof"]),
	}
	switch {
	case ent.ID == "":
		ent.Invalid = "no " + s.idAttr
	case s.ad && !s.disabledOK && disabled(attrs):
		ent.Invalid = "disabled account"
	}
	return ent
}

// search runs req as a paged search and calls fn for every entry of each
// page once the whole page has arrived, so that fn may send requests of
// its own on c. While fn handles a page, the server already sends the
// next: at most two pages are held at a time. Errors of fn are returned as
// they are.
func (s *Source) search(ctx context.Context, c *conn, req *goldap.SearchRequest, fn func(*goldap.Entry) error) error {
	paging := goldap.NewControlPaging(s.pageSize)
	req.Controls = append(req.Controls, paging)
	n := 0
	fail := func(err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("ldap: read %s: %w", s.url, cerr)
		}
		return s.searchError(req.BaseDN, n, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ldap: read %s: %w", s.url, err)
	}
	op, err := c.send(req)
	if err != nil {
		return fail(err)
	}
	for {
		res, err := c.wait(op)
		if err != nil {
			return fail(err)
		}
		var next *searchOp
		ctrl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if ctrl != nil && len(ctrl.Cookie) > 0 {
			paging.SetCookie(ctrl.Cookie)
			if next, err = c.send(req); err != nil {
				return fail(err)
			}
		}
		for i, e := range res.Entries {
			n++
			if err := fn(e); err != nil {
				c.forget(next)
				return err
			}
			res.Entries[i] = nil
		}
		if next == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			c.forget(next)
			return fmt.Errorf("ldap: read %s: %w", s.url, err)
		}
		op = next
	}
}

// searchError describes a failed search of base after n entries.
func (s *Source) searchError(base string, n int, err error) error {
	if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		return fmt.Errorf("ldap: search %s at %s: %w after %d entries: the server caps the entries one search returns to this account, paged ones too; "+
			"set a page size below the cap, or raise the account's limit (OpenLDAP: size.prtotal=unlimited in sizelimit or limits; 389-DS: nsslapd-pagedsizelimit)",
			base, s.url, describe(err), n)
	}
	return fmt.Errorf("ldap: search %s at %s: %w", base, s.url, describe(err))
}

// entryAttrs returns the attributes of e keyed like dirbook.Entry.Attrs.
func entryAttrs(e *goldap.Entry) map[string][]string {
	m := make(map[string][]string, len(e.Attributes))
	for _, a := range e.Attributes {
		addAttr(m, a.Name, a.Values)
	}
	return m
}

// disabled reports whether Active Directory's userAccountControl marks
// the account disabled (ACCOUNTDISABLE, 0x2).
func disabled(attrs map[string][]string) bool {
	v := attrs["useraccountcontrol"]
	if len(v) == 0 {
		return false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64)
	return err == nil && n&0x2 != 0
}
