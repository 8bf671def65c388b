package ldap

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/slapdtest"
	goldap "github.com/go-ldap/ldap/v3"
)

// suffixLDIF is the top of the small test directories.
const suffixLDIF = `dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

`

// readerOptions returns options reading s as its reader account over
// plain ldap://.
func readerOptions(s *slapdtest.Server) *Options {
	return &Options{
		Name:              "test",
		URL:               s.URL,
		AllowInsecureBind: true,
		BindDN:            s.ReaderDN,
		BindPassword:      Secret(s.ReaderPassword),
		Base:              s.BaseDN,
		Filter:            "(objectClass=inetOrgPerson)",
	}
}

// newSource returns the source opts describe.
func newSource(tb testing.TB, opts *Options) *Source {
	tb.Helper()
	src, err := New(opts)
	if err != nil {
		tb.Fatalf("New error: %v", err)
	}
	return src
}

// readServer reads every entry the source opts describes.
func readServer(tb testing.TB, opts *Options) ([]*dirbook.Entry, error) {
	tb.Helper()
	s := newSource(tb, opts)
	var out []*dirbook.Entry
	err := s.Read(context.Background(), func(e *dirbook.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

func mustReadServer(tb testing.TB, opts *Options) []*dirbook.Entry {
	tb.Helper()
	entries, err := readServer(tb, opts)
	if err != nil {
		tb.Fatalf("Read error: %v", err)
	}
	return entries
}

// generate writes the people and the groups of d to files and returns
// their paths.
func generate(tb testing.TB, d *slapdtest.Directory, memberOf bool) (people, groups string) {
	tb.Helper()
	dir := tb.TempDir()
	people = filepath.Join(dir, "people.ldif")
	groups = filepath.Join(dir, "groups.ldif")
	for path, write := range map[string]func(f *os.File) error{
		people: func(f *os.File) error { return d.WritePeople(f, memberOf) },
		groups: func(f *os.File) error { return d.WriteGroups(f, memberOf) },
	} {
		f, err := os.Create(path)
		if err != nil {
			tb.Fatal(err)
		}
		if err := write(f); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return people, groups
}

// dialSlapd returns a connection to s over plain ldap://, bound as dn
// with password unless dn is empty. It is closed when the test ends.
func dialSlapd(tb testing.TB, s *slapdtest.Server, dn, password string) *goldap.Conn {
	tb.Helper()
	l, err := goldap.DialURL(s.URL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	if dn != "" {
		if err := l.Bind(dn, password); err != nil {
			tb.Fatal(err)
		}
	}
	return l
}

// TestServerPaging reads a directory six times larger than the server's
// size limit: only paging gets all of it.
func TestServerPaging(t *testing.T) {
	d := &slapdtest.Directory{People: 3000, Departments: 12}
	people, groups := generate(t, d, false)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people}, Add: []string{groups}, SizeLimit: 500})

	// The server caps an unpaged search.
	l := dialSlapd(t, s, s.ReaderDN, s.ReaderPassword)
	_, err := l.Search(goldap.NewSearchRequest(s.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=inetOrgPerson)", []string{"1.1"}, nil))
	if !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("unpaged search error = %v, want Size Limit Exceeded", err)
	}

	start := time.Now()
	entries := mustReadServer(t, readerOptions(s))
	t.Logf("read %d entries in %v", len(entries), time.Since(start))
	if len(entries) != d.People {
		t.Fatalf("read %d entries, want %d", len(entries), d.People)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		var i int
		if _, err := fmt.Sscanf(e.First("uid"), "p%d", &i); err != nil {
			t.Fatalf("entry %s: uid %q: %v", e.DN, e.First("uid"), err)
		}
		if seen[e.ID] {
			t.Errorf("ID %s read twice", e.ID)
		}
		seen[e.ID] = true
		if e.ID != d.EntryUUID(i) || e.DN != d.DN(i) || e.Source != "test" || e.Invalid != "" {
			t.Errorf("entry %d = ID %q, DN %q, Source %q, Invalid %q; want %q, %q, %q, \"\"", i, e.ID, e.DN, e.Source, e.Invalid, d.EntryUUID(i), d.DN(i), "test")
		}
		// memberOf, set by the overlay, names the department; the
		// nesting in cn=employees comes from the group entries.
		if got := e.Values("memberOf"); len(got) != 1 {
			t.Errorf("entry %d: memberOf = %q, want the department only", i, got)
		}
		if got, want := e.Groups, d.Groups(i); !slices.Equal(got, want) {
			t.Errorf("entry %d: Groups = %q, want %q", i, got, want)
		}
		if e.First("mail") == "" || e.First("cn") == "" {
			t.Errorf("entry %d: no mail or cn among %q", i, keys(e.Attrs))
		}
	}

	// A small page size works the same.
	opts := readerOptions(s)
	opts.PageSize = 70
	opts.Attributes = []string{"cn"}
	entries = mustReadServer(t, opts)
	if len(entries) != d.People {
		t.Errorf("with page size 70: read %d entries, want %d", len(entries), d.People)
	}
	if e := entries[0]; e.First("mail") != "" || e.First("cn") == "" || e.ID == "" {
		t.Errorf("with attributes [cn]: read %q, want cn, the ID attribute and memberOf", keys(e.Attrs))
	}
}

func TestServerSizeLimit(t *testing.T) {
	d := &slapdtest.Directory{People: 120}
	people, groups := generate(t, d, true)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people, groups}, SizeLimit: 50, LimitPaged: true})
	opts := readerOptions(s)
	opts.PageSize = 20
	_, err := readServer(t, opts)
	// Two pages of 20 arrive whole; the third would pass the limit.
	want := fmt.Sprintf("ldap: search dc=example,dc=com at %s: Size Limit Exceeded after 40 entries: ", s.URL)
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "page size") {
		t.Errorf("Read error = %v, want one starting %q and suggesting a page size", err, want)
	}
}

// tlsDirectory starts a server with two people.
func tlsDirectory(t *testing.T) *slapdtest.Server {
	d := &slapdtest.Directory{People: 2}
	people, groups := generate(t, d, true)
	return slapdtest.Start(t, &slapdtest.Options{Load: []string{people, groups}})
}

func TestServerTLS(t *testing.T) {
	s := tlsDirectory(t)
	otherCA := slapdtest.OtherCAFile(t)
	tests := []struct {
		name     string
		url      string
		startTLS bool
		caFile   string
		wantErr  string // prefix; "" for success
	}{
		{"ldaps", s.LDAPSURL, false, s.CAFile, ""},
		{"starttls", s.URL, true, s.CAFile, ""},
		{"ldaps wrong CA", s.LDAPSURL, false, otherCA, "ldap: connect " + s.LDAPSURL + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"starttls wrong CA", s.URL, true, otherCA, "ldap: starttls " + s.URL + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"ldaps system roots", s.LDAPSURL, false, "", "ldap: connect " + s.LDAPSURL + ": tls: failed to verify certificate"},
		{"missing CA file", s.LDAPSURL, false, filepath.Join(t.TempDir(), "none.pem"), "ldap: connect " + s.LDAPSURL + ": CA file: open "},
		{"CA file without certificate", s.LDAPSURL, false, writeLDIF(t, "not a PEM file"), "ldap: connect " + s.LDAPSURL + ": CA file "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := readServer(t, &Options{
				URL:          tt.url,
				StartTLS:     tt.startTLS,
				CAFile:       tt.caFile,
				BindDN:       s.ReaderDN,
				BindPassword: Secret(s.ReaderPassword),
				Base:         s.BaseDN,
				Filter:       "(objectClass=inetOrgPerson)",
			})
			if tt.wantErr == "" {
				if err != nil || len(entries) != 2 {
					t.Errorf("Read = %d entries, error %v; want 2 entries", len(entries), err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("Read error = %v, want one starting %q", err, tt.wantErr)
			}
		})
	}
}

func TestServerBindErrors(t *testing.T) {
	s := tlsDirectory(t)
	opts := readerOptions(s)
	opts.URL, opts.CAFile = s.LDAPSURL, s.CAFile
	opts.BindPassword = "wrong-password"
	_, err := readServer(t, opts)
	if want := "ldap: bind as " + s.ReaderDN + " at " + s.LDAPSURL + ": Invalid Credentials"; err == nil || err.Error() != want {
		t.Errorf("Read with a wrong password: error = %v, want %q", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("error %q shows the password", err)
	}

	opts = readerOptions(s)
	opts.BindDN = "cn=nobody," + s.BaseDN
	if _, err := readServer(t, opts); err == nil || !strings.Contains(err.Error(), ": Invalid Credentials") {
		t.Errorf("Read as an unknown account: error = %v, want Invalid Credentials", err)
	}

	// Anonymous reading works where the server allows it.
	entries := mustReadServer(t, &Options{URL: s.URL, Anonymous: true, Base: s.BaseDN, Filter: "(uid=*)"})
	if len(entries) != 2 {
		t.Errorf("anonymous Read = %d entries, want 2", len(entries))
	}

	// Nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = readServer(t, &Options{URL: "ldap://" + addr, Anonymous: true, Base: "dc=x"})
	if want := "ldap: connect ldap://" + addr + ": dial tcp " + addr + ": connect: connection refused"; err == nil || err.Error() != want {
		t.Errorf("Read without a server: error = %v, want %q", err, want)
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestServerTimeout(t *testing.T) {
	addr := silentServer(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"search", Options{URL: "ldap://" + addr, Anonymous: true}, "ldap: search dc=x at ldap://" + addr + ": no answer within 200ms"},
		{"bind", Options{URL: "ldap://" + addr, BindDN: "cn=a,dc=x", BindPassword: "pw", AllowInsecureBind: true}, "ldap: bind as cn=a,dc=x at ldap://" + addr + ": no answer within 200ms"},
		{"starttls", Options{URL: "ldap://" + addr, StartTLS: true, Anonymous: true}, "ldap: starttls ldap://" + addr + ": no answer within 200ms"},
		{"ldaps handshake", Options{URL: "ldaps://" + addr, Anonymous: true}, "ldap: connect ldaps://" + addr + ": no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Base, opts.Timeout = "dc=x", 200*time.Millisecond
			start := time.Now()
			_, err := readServer(t, &opts)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Read error = %v, want one starting %q", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Read took %v with a timeout of 200ms", d)
			}
		})
	}
}

func TestServerContextCanceled(t *testing.T) {
	d := &slapdtest.Directory{People: 300}
	people, groups := generate(t, d, true)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people, groups}})
	opts := readerOptions(s)
	opts.PageSize = 50
	src := newSource(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err := src.Read(ctx, func(e *dirbook.Entry) error {
		n++
		if n == 60 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read error = %v, want context.Canceled", err)
	}
	if n >= d.People {
		t.Errorf("Read emitted all %d entries after the cancel", n)
	}

	// An error of emit ends Read and comes back wrapped.
	errStop := errors.New("stop here")
	err = src.Read(context.Background(), func(e *dirbook.Entry) error { return errStop })
	if !errors.Is(err, errStop) {
		t.Errorf("Read error = %v, want it to wrap %v", err, errStop)
	}
}

// TestServerStopped stops slapd in the middle of a paged read.
func TestServerStopped(t *testing.T) {
	d := &slapdtest.Directory{People: 1000}
	people, groups := generate(t, d, true)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people, groups}})
	opts := readerOptions(s)
	opts.PageSize = 100
	n := 0
	src := newSource(t, opts)
	err := src.Read(context.Background(), func(e *dirbook.Entry) error {
		n++
		if n == 150 {
			s.Stop()
		}
		return nil
	})
	if err == nil {
		t.Fatalf("Read with the server stopped after %d entries returned no error", n)
	}
	if want := "ldap: search dc=example,dc=com at " + s.URL + ": "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Read error = %v, want one starting %q", err, want)
	}
	if n >= d.People {
		t.Errorf("Read emitted %d entries, more than the server sent", n)
	}

	_, err = readServer(t, opts)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Read with the server down: error = %v, want connection refused", err)
	}
	s.Start()
	if entries := mustReadServer(t, opts); len(entries) != d.People {
		t.Errorf("Read after restart = %d entries, want %d", len(entries), d.People)
	}
}

// groupsServerLDIF holds people and groups of every kind: groupOfNames,
// groupOfUniqueNames, posixGroup, nesting and a cycle.
const groupsServerLDIF = `dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: C

dn: uid=dave,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: dave
cn: Dave
sn: D

dn: uid=erin,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: erin
cn: Erin
sn: E

dn: cn=Meier\, Hans+uid=hmeier,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: hmeier
cn: Meier, Hans
sn: Meier

`

const groupsServerGroupsLDIF = `dn: cn=qa,ou=groups,dc=example,dc=com
objectClass: groupOfUniqueNames
cn: qa
uniqueMember: uid=bob,ou=people,dc=example,dc=com#'0101'B

dn: cn=dev,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: dev
member: uid=alice,ou=people,dc=example,dc=com
member: uid=bob,ou=people,dc=example,dc=com
member: cn=qa,ou=groups,dc=example,dc=com

dn: cn=posix,ou=groups,dc=example,dc=com
objectClass: posixGroup
cn: posix
gidNumber: 100
memberUid: dave

dn: cn=eng,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: eng
member: cn=dev,ou=groups,dc=example,dc=com
member: cn=posix,ou=groups,dc=example,dc=com

dn: cn=ring1,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: ring1
member: uid=erin,ou=people,dc=example,dc=com
member: cn=Meier\, Hans+uid=hmeier,ou=people,dc=example,dc=com

dn: cn=ring2,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: ring2
member: cn=ring1,ou=groups,dc=example,dc=com

dn: cn=ring1-back,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: ring1-back
member: cn=ring2,ou=groups,dc=example,dc=com

`

func TestServerGroups(t *testing.T) {
	const g = ",ou=groups,dc=example,dc=com"
	want := map[string][]string{
		"alice":  {"cn=dev" + g, "cn=eng" + g},
		"bob":    {"cn=dev" + g, "cn=eng" + g, "cn=qa" + g},
		"carol":  nil,
		"dave":   {"cn=eng" + g, "cn=posix" + g},
		"erin":   {"cn=ring1" + g, "cn=ring1-back" + g, "cn=ring2" + g},
		"hmeier": {"cn=ring1" + g, "cn=ring1-back" + g, "cn=ring2" + g},
	}
	// A cycle: ring1-back lists ring2, which lists ring1; make ring1 list
	// ring1-back as well.
	cycle := "dn: cn=ring1,ou=groups,dc=example,dc=com\nchangetype: modify\nadd: member\nmember: cn=ring1-back,ou=groups,dc=example,dc=com\n"
	people := writeLDIF(t, suffixLDIF+groupsServerLDIF)
	groups := writeLDIF(t, groupsServerGroupsLDIF)
	tests := []struct {
		name     string
		opts     slapdtest.Options
		memberOf bool
	}{
		// slapadd does not run the memberof overlay: no memberOf, the
		// member lists alone tell.
		{"member lists", slapdtest.Options{Load: []string{people, groups}}, false},
		// Added online, the overlay sets memberOf for groupOfNames.
		{"memberOf", slapdtest.Options{Load: []string{people}, Add: []string{groups}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := slapdtest.Start(t, &tt.opts)
			s.Modify(t, cycle)
			opts := readerOptions(s)
			opts.GroupBase = "ou=groups," + s.BaseDN
			entries := mustReadServer(t, opts)
			if len(entries) != len(want) {
				t.Fatalf("read %d entries (%q), want %d", len(entries), uids(entries), len(want))
			}
			for _, e := range entries {
				uid := e.First("uid")
				if got := e.Groups; !slices.Equal(got, want[uid]) {
					t.Errorf("Groups of %s = %q, want %q", uid, got, want[uid])
				}
				if hasMemberOf := len(e.Values("memberOf")) > 0; uid == "alice" && hasMemberOf != tt.memberOf {
					t.Errorf("alice has memberOf %q, want memberOf %v", e.Values("memberOf"), tt.memberOf)
				}
			}
			if e := byUID(entries, "hmeier"); e == nil || e.DN != `cn=Meier\, Hans+uid=hmeier,ou=people,dc=example,dc=com` || e.First("cn") != "Meier, Hans" {
				t.Errorf("hmeier = %+v, want DN with an escaped comma and a two-part RDN", e)
			}
		})
	}
}

// TestServerMatchesLDIF loads the demo directory into slapd and reads it
// with both sources: the same people, IDs, groups and attributes.
func TestServerMatchesLDIF(t *testing.T) {
	s := slapdtest.Start(t, &slapdtest.Options{Suffix: demoBase, Load: []string{demoLDIF}})
	fromFile := readAll(t, demoLDIF, &LDIFOptions{Name: "demo", Base: demoBase, Filter: demoFilter})
	opts := readerOptions(s)
	opts.Name, opts.Filter = "demo", demoFilter
	opts.Attributes = []string{"*", "pwdAccountLockedTime"}
	fromServer := mustReadServer(t, opts)
	if len(fromServer) != len(fromFile) {
		t.Fatalf("read %d people from slapd, %d from the file", len(fromServer), len(fromFile))
	}
	byID := map[string]*dirbook.Entry{}
	for _, e := range fromServer {
		byID[e.ID] = e
	}
	for _, want := range fromFile {
		got := byID[want.ID]
		if got == nil {
			t.Errorf("%s (%s) not read from slapd", want.ID, want.DN)
			continue
		}
		if dirbook.NormalizeDN(got.DN) != dirbook.NormalizeDN(want.DN) || got.Source != want.Source || !slices.Equal(got.Groups, want.Groups) {
			t.Errorf("%s: DN %q, Source %q, Groups %q; want %q, %q, %q", want.ID, got.DN, got.Source, got.Groups, want.DN, want.Source, want.Groups)
		}
		for name, vals := range want.Attrs {
			if gotVals := got.Attrs[name]; !slices.Equal(sorted(gotVals), sorted(vals)) {
				t.Errorf("%s: %s = %q, want %q", want.First("uid"), name, abbreviate(gotVals), abbreviate(vals))
			}
		}
	}
}

func sorted(v []string) []string {
	v = slices.Clone(v)
	slices.Sort(v)
	return v
}

func abbreviate(v []string) []string {
	var out []string
	for _, s := range v {
		if len(s) > 40 {
			s = fmt.Sprintf("%.40s... (%d bytes)", s, len(s))
		}
		out = append(out, s)
	}
	return out
}

func TestServerFilterEscaping(t *testing.T) {
	people := writeLDIF(t, suffixLDIF+`dn: ou=a\,b,dc=example,dc=com
objectClass: organizationalUnit
ou: a,b

dn: uid=star,ou=a\,b,dc=example,dc=com
objectClass: inetOrgPerson
uid: star
cn: Star*Paren (x) back\slash
sn: Müller

dn: uid=notstar,ou=a\,b,dc=example,dc=com
objectClass: inetOrgPerson
uid: notstar
cn: StarXParen (x) back\slash
sn: Mueller

dn: uid=outside,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: outside
cn: Star*Paren (x) back\slash
sn: Müller

`)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people}})
	cn := `Star*Paren (x) back\slash`
	tests := []struct {
		name   string
		base   string
		filter string
		want   []string
	}{
		{"escaped value", s.BaseDN, "(cn=" + goldap.EscapeFilter(cn) + ")", []string{"star", "outside"}},
		{"wildcard", s.BaseDN, `(cn=Star*Paren*)`, []string{"star", "notstar", "outside"}},
		{"escaped UTF-8", s.BaseDN, "(sn=" + goldap.EscapeFilter("Müller") + ")", []string{"star", "outside"}},
		{"base with escaped comma", `ou=a\,b,dc=example,dc=com`, "(objectClass=inetOrgPerson)", []string{"star", "notstar"}},
		{"base with hex escape", `ou=a\2cb,dc=example,dc=com`, "(cn=" + goldap.EscapeFilter(cn) + ")", []string{"star"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := readerOptions(s)
			opts.Base, opts.Filter = tt.base, tt.filter
			got := uids(mustReadServer(t, opts))
			slices.Sort(got)
			want := sorted(tt.want)
			if !slices.Equal(got, want) {
				t.Errorf("uids with base %q, filter %q = %q, want %q", tt.base, tt.filter, got, want)
			}
		})
	}
}

// TestServerRename moves a person to another OU under another RDN: the
// ID stays.
func TestServerRename(t *testing.T) {
	d := &slapdtest.Directory{People: 5}
	people, groups := generate(t, d, false)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people}, Add: []string{groups}})
	s.Modify(t, "dn: ou=alumni,"+s.BaseDN+"\nchangetype: add\nobjectClass: organizationalUnit\nou: alumni\n")
	opts := readerOptions(s)
	before := mustReadServer(t, opts)
	s.Modify(t, fmt.Sprintf("dn: %s\nchangetype: modrdn\nnewrdn: cn=Renamed Person\ndeleteoldrdn: 0\nnewsuperior: ou=alumni,%s\n", d.DN(2), s.BaseDN))
	after := mustReadServer(t, opts)
	if len(after) != len(before) {
		t.Fatalf("read %d entries after the rename, %d before", len(after), len(before))
	}
	var moved *dirbook.Entry
	for _, e := range after {
		if e.First("uid") == d.UID(2) {
			moved = e
		}
	}
	wantDN := "cn=Renamed Person,ou=alumni," + s.BaseDN
	if moved == nil || moved.ID != d.EntryUUID(2) || moved.DN != wantDN {
		t.Fatalf("moved person = %+v, want ID %s and DN %s", moved, d.EntryUUID(2), wantDN)
	}
	// refint is not loaded: the group still lists the old DN, but the
	// overlay-maintained memberOf moved with the entry.
	if !moved.MemberOf(d.DepartmentDN(d.Department(2))) {
		t.Errorf("moved person: Groups = %q, want %s", moved.Groups, d.DepartmentDN(d.Department(2)))
	}
}

func TestServerActiveDirectory(t *testing.T) {
	guid := func(b byte) string {
		return base64.StdEncoding.EncodeToString([]byte{0x33, 0x22, 0x11, b, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff})
	}
	person := func(name string, g byte, uac int) string {
		s := fmt.Sprintf("dn: cn=%s,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nobjectClass: user\ncn: %s\nsn: %s\nsAMAccountName: %s\n", name, name, name, name)
		if g != 0 {
			s += "objectGUID:: " + guid(g) + "\n"
		}
		if uac != 0 {
			s += fmt.Sprintf("userAccountControl: %d\n", uac)
		}
		return s + "\n"
	}
	people := writeLDIF(t, suffixLDIF+
		person("enabled", 1, 512)+
		person("disabled", 2, 514)+
		person("disabled-noexpire", 3, 66050)+
		person("no-uac", 4, 0)+
		person("no-guid", 0, 512))
	groups := writeLDIF(t, `dn: cn=team,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: team
member: cn=enabled,ou=people,dc=example,dc=com
member: cn=disabled,ou=people,dc=example,dc=com

dn: cn=staff,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: staff
member: cn=team,ou=groups,dc=example,dc=com

`)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people}, Add: []string{groups}})
	type result struct{ id, invalid string }
	tests := []struct {
		name            string
		includeDisabled bool
		want            map[string]result
	}{
		{"default", false, map[string]result{
			"enabled":           {"01112233-4455-6677-8899-aabbccddeeff", ""},
			"disabled":          {"02112233-4455-6677-8899-aabbccddeeff", "disabled account"},
			"disabled-noexpire": {"03112233-4455-6677-8899-aabbccddeeff", "disabled account"},
			"no-uac":            {"04112233-4455-6677-8899-aabbccddeeff", ""},
			"no-guid":           {"", "no objectGUID"},
		}},
		{"include disabled", true, map[string]result{
			"enabled":           {"01112233-4455-6677-8899-aabbccddeeff", ""},
			"disabled":          {"02112233-4455-6677-8899-aabbccddeeff", ""},
			"disabled-noexpire": {"03112233-4455-6677-8899-aabbccddeeff", ""},
			"no-uac":            {"04112233-4455-6677-8899-aabbccddeeff", ""},
			"no-guid":           {"", "no objectGUID"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := readerOptions(s)
			opts.Filter = "(objectClass=user)"
			opts.ActiveDirectory = true
			opts.IncludeDisabled = tt.includeDisabled
			entries := mustReadServer(t, opts)
			if len(entries) != len(tt.want) {
				t.Fatalf("read %d entries, want %d", len(entries), len(tt.want))
			}
			for _, e := range entries {
				name := e.First("cn")
				if got := (result{e.ID, e.Invalid}); got != tt.want[name] {
					t.Errorf("%s: ID, Invalid = %q, want %q", name, got, tt.want[name])
				}
				if len(e.First("objectGUID")) != 16 && name != "no-guid" {
					t.Errorf("%s: objectGUID attribute is %d bytes, want the 16 raw bytes", name, len(e.First("objectGUID")))
				}
			}
			// Memberships come from memberOf alone, nesting included.
			enabled := entries[slices.IndexFunc(entries, func(e *dirbook.Entry) bool { return e.First("cn") == "enabled" })]
			if want := []string{"cn=staff,ou=groups,dc=example,dc=com", "cn=team,ou=groups,dc=example,dc=com"}; !slices.Equal(enabled.Groups, want) {
				t.Errorf("enabled: Groups = %q, want %q", enabled.Groups, want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	valid := func(change func(o *Options)) *Options {
		o := &Options{URL: "ldaps://ldap.example.com", BindDN: "cn=reader,dc=example", BindPassword: "pw", Base: "dc=example"}
		change(o)
		return o
	}
	tests := []struct {
		name string
		opts *Options
		want string // error; "" for none
	}{
		{"valid", valid(func(o *Options) {}), ""},
		{"starttls", valid(func(o *Options) { o.URL, o.StartTLS = "ldap://ldap.example.com:10389", true }), ""},
		{"insecure allowed", valid(func(o *Options) { o.URL, o.AllowInsecureBind = "ldap://127.0.0.1:10389", true }), ""},
		{"anonymous over ldap", valid(func(o *Options) { o.URL, o.BindDN, o.BindPassword, o.Anonymous = "ldap://h", "", "", true }), ""},
		{"nil options", nil, "ldap: no URL"},
		{"insecure bind", valid(func(o *Options) { o.URL = "ldap://ldap.example.com" }),
			"ldap: bind as cn=reader,dc=example: refusing to send a password unencrypted to ldap://ldap.example.com:389: use ldaps:// or StartTLS (insecure binds are for tests on loopback)"},
		{"scheme", valid(func(o *Options) { o.URL = "http://h" }), `ldap: URL "http://h": scheme must be ldap or ldaps`},
		{"no host", valid(func(o *Options) { o.URL = "ldaps://" }), `ldap: URL "ldaps://": no host`},
		{"credentials in URL", valid(func(o *Options) { o.URL = "ldaps://u:secret@h" }), "ldap: URL carries user information; set the bind DN and password instead"},
		{"DN in URL", valid(func(o *Options) { o.URL = "ldaps://h/dc=x??sub" }), `ldap: URL "ldaps://h/dc=x??sub": has a DN or query; set base and filter instead`},
		{"starttls on ldaps", valid(func(o *Options) { o.StartTLS = true }), "ldap: ldaps://ldap.example.com:636: StartTLS is for ldap:// URLs; ldaps:// is encrypted already"},
		{"cert without key", valid(func(o *Options) { o.CertFile = "c.pem" }), "ldap: a client certificate needs both a certificate file and a key file"},
		{"no bind DN", valid(func(o *Options) { o.BindDN, o.BindPassword = "", "" }), "ldap: no bind DN: set one, or allow anonymous reading"},
		{"no password", valid(func(o *Options) { o.BindPassword = "" }), "ldap: bind DN cn=reader,dc=example has no password"},
		{"bind DN and anonymous", valid(func(o *Options) { o.Anonymous = true }), "ldap: a bind DN and anonymous reading exclude each other"},
		{"password and anonymous", valid(func(o *Options) { o.BindDN, o.Anonymous = "", true }), "ldap: a bind password and anonymous reading exclude each other"},
		{"bad bind DN", valid(func(o *Options) { o.BindDN = "reader" }), `ldap: bind DN "reader": `},
		{"no base", valid(func(o *Options) { o.Base = "" }), "ldap: no base DN"},
		{"bad base", valid(func(o *Options) { o.Base = "dc=example,ou" }), `ldap: base "dc=example,ou": `},
		{"bad group base", valid(func(o *Options) { o.GroupBase = "x" }), `ldap: group base "x": `},
		{"scope", valid(func(o *Options) { o.Scope = "subtree" }), `ldap: scope "subtree": want sub, one or base`},
		{"filter", valid(func(o *Options) { o.Filter = "(uid=a" }), "ldap: filter (uid=a: "},
		{"group filter", valid(func(o *Options) { o.GroupFilter = "cn=x" }), "ldap: filter cn=x: "},
		{"extensible filter", valid(func(o *Options) { o.Filter = "(memberOf:1.2.840.113556.1.4.1941:=cn=x\\2cdc=y)" }), ""},
		{"empty attribute", valid(func(o *Options) { o.Attributes = []string{"cn", " "} }), "ldap: an empty attribute name in the attribute list"},
		{"negative page size", valid(func(o *Options) { o.PageSize = -1 }), "ldap: page size -1 is negative"},
		{"negative timeout", valid(func(o *Options) { o.Timeout = -time.Second }), "ldap: timeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New error = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("New error = %v, want one starting %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Errorf("New error = %v shows the password", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	s := newSource(t, &Options{URL: "LDAPS://[::1]", BindDN: "cn=r,dc=x", BindPassword: "pw", Base: "dc=x", Attributes: []string{"cn", "MEMBEROF"}})
	if s.url != "ldaps://[::1]:636" || s.serverName != "::1" || s.name != "ldap" || s.idAttr != "entryUUID" ||
		s.pageSize != DefaultPageSize || s.timeout != DefaultTimeout || s.groupBase != "dc=x" ||
		s.groupFilter != DefaultGroupFilter || s.filter != "(objectClass=*)" || s.scope != goldap.ScopeWholeSubtree {
		t.Errorf("New = %+v, want the defaults", s)
	}
	if want := []string{"cn", "MEMBEROF", "entryUUID", "uid"}; !slices.Equal(s.attrs, want) {
		t.Errorf("attributes = %q, want %q", s.attrs, want)
	}
	ad := newSource(t, &Options{URL: "ldaps://dc1", BindDN: "cn=r,dc=x", BindPassword: "pw", Base: "dc=x", ActiveDirectory: true})
	if want := []string{"*", "objectGUID", "memberOf", "uid", "userAccountControl"}; ad.idAttr != "objectGUID" || !slices.Equal(ad.attrs, want) {
		t.Errorf("Active Directory: ID attribute %q, attributes %q; want objectGUID, %q", ad.idAttr, ad.attrs, want)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"result", &goldap.Error{ResultCode: goldap.LDAPResultInvalidCredentials, Err: errors.New("")}, "Invalid Credentials"},
		{"result with diagnostic", &goldap.Error{ResultCode: goldap.LDAPResultUnwillingToPerform, Err: errors.New("unauthenticated bind (DN with no password) disallowed")}, "Unwilling To Perform: unauthenticated bind (DN with no password) disallowed"},
		{"unknown code", &goldap.Error{ResultCode: 99, Err: errors.New("")}, "result code 99"},
		{"network", goldap.NewError(goldap.ErrorNetwork, errors.New("ldap: connection closed")), "connection closed"},
		{"handshake", goldap.NewError(goldap.ErrorNetwork, errors.New("TLS handshake failed (tls: bad certificate)")), "tls: bad certificate"},
		{"other", errors.New("plain"), "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(tt.err).Error(); got != tt.want {
				t.Errorf("describe(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	raw := string([]byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff})
	tests := []struct {
		attr string
		vals []string
		want string
	}{
		{"objectGUID", []string{raw}, "00112233-4455-6677-8899-aabbccddeeff"},
		{"objectguid", []string{raw}, "00112233-4455-6677-8899-aabbccddeeff"},
		{"entryUUID", []string{"0befa5f4-7e3c-1041-8718-49ed880eb463"}, "0befa5f4-7e3c-1041-8718-49ed880eb463"},
		{"employeeNumber", []string{raw}, raw},
		{"objectGUID", nil, ""},
	}
	for _, tt := range tests {
		if got := identity(tt.attr, tt.vals); got != tt.want {
			t.Errorf("identity(%q, %q) = %q, want %q", tt.attr, tt.vals, got, tt.want)
		}
	}
}
