package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/internal/sambatest"
	goldap "github.com/go-ldap/ldap/v3"
)

// adPeople is the number of people in the Active Directory test domain,
// all members of one group: more than the 1,500 values Active Directory
// returns of an attribute at once.
const adPeople = 2000

// adPassword is the password of the one person who has one.
const adPassword = "Person-secret-3"

// adPhoto is a thumbnailPhoto: bytes that are not UTF-8.
var adPhoto = []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x80, 0xfe, 0xff, 0xd9}

// adDomain describes the test domain.
type adDomain struct{ base string }

func (d adDomain) people() string      { return "OU=people," + d.base }
func (d adDomain) groups() string      { return "OU=groups," + d.base }
func (d adDomain) sam(i int) string    { return fmt.Sprintf("u%04d", i) }
func (d adDomain) dn(i int) string     { return fmt.Sprintf("CN=Person %04d,%s", i, d.people()) }
func (d adDomain) dept(k int) string   { return fmt.Sprintf("CN=dept-%d,%s", k, d.groups()) }
func (d adDomain) employees() string   { return "CN=employees," + d.groups() }
func (d adDomain) all() string         { return "CN=all," + d.groups() }
func (d adDomain) disabled(i int) bool { return i%97 == 5 }

// ldif returns the change records that create the domain's people and
// groups: person i is in department i%4, every department group is a
// member of cn=employees, every person a member of cn=all. Person 2 has
// a photo, person 3 a password.
func (d adDomain) ldif() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nchangetype: add\nobjectClass: organizationalUnit\n\n", d.people())
	fmt.Fprintf(&b, "dn: %s\nchangetype: add\nobjectClass: organizationalUnit\n\n", d.groups())
	for i := range adPeople {
		uac := 512
		if d.disabled(i) {
			uac = 514
		}
		fmt.Fprintf(&b, "dn: %s\nchangetype: add\nobjectClass: user\nsAMAccountName: %s\n", d.dn(i), d.sam(i))
		fmt.Fprintf(&b, "givenName: Person\nsn: %04d\ndisplayName: Person %04d\nmail: %s@dirbook.test\ntelephoneNumber: +49 30 %08d\n", i, i, d.sam(i), i)
		switch i {
		case 2:
			fmt.Fprintf(&b, "thumbnailPhoto:: %s\n", base64.StdEncoding.EncodeToString(adPhoto))
		case 3:
			fmt.Fprintf(&b, "unicodePwd:: %s\n", unicodePwd(adPassword))
		}
		fmt.Fprintf(&b, "userAccountControl: %d\n\n", uac)
	}
	for k := range 4 {
		fmt.Fprintf(&b, "dn: %s\nchangetype: add\nobjectClass: group\n", d.dept(k))
		for i := k; i < adPeople; i += 4 {
			fmt.Fprintf(&b, "member: %s\n", d.dn(i))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "dn: %s\nchangetype: add\nobjectClass: group\n", d.employees())
	for k := range 4 {
		fmt.Fprintf(&b, "member: %s\n", d.dept(k))
	}
	fmt.Fprintf(&b, "\ndn: %s\nchangetype: add\nobjectClass: group\n", d.all())
	for i := range adPeople {
		fmt.Fprintf(&b, "member: %s\n", d.dn(i))
	}
	return b.String()
}

// unicodePwd returns the base64 form of the value of Active Directory's
// unicodePwd that sets password: the quoted password in UTF-16LE.
func unicodePwd(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// adOptions returns options reading the people below base in s as its
// Administrator over ldaps://.
func adOptions(s *sambatest.Server, base string) *Options {
	return &Options{
		Name:            "ad",
		URL:             s.LDAPSURL,
		CAFile:          s.CAFile,
		BindDN:          s.AdminDN,
		BindPassword:    Secret(s.AdminPassword),
		Base:            base,
		Filter:          "(objectClass=user)",
		GroupBase:       s.BaseDN,
		ActiveDirectory: true,
	}
}

// dial returns a connection to s bound as its Administrator over ldaps://.
func dialAD(tb testing.TB, s *sambatest.Server) *goldap.Conn {
	tb.Helper()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	l, err := goldap.DialURL(s.LDAPSURL, goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	if err := l.Bind(s.AdminDN, s.AdminPassword); err != nil {
		tb.Fatal(err)
	}
	return l
}

// TestActiveDirectory reads a Samba domain of 2,000 people. One domain
// serves all subtests: provisioning one takes seconds.
func TestActiveDirectory(t *testing.T) {
	start := time.Now()
	s := sambatest.Start(t, nil)
	d := adDomain{base: s.BaseDN}
	loaded := time.Now()
	s.Modify(t, d.ldif())
	t.Logf("domain up in %v, %d people loaded in %v", loaded.Sub(start).Round(time.Millisecond), adPeople, time.Since(loaded).Round(time.Millisecond))

	readStart := time.Now()
	entries := mustReadServer(t, adOptions(s, d.people()))
	t.Logf("read %d people in %v", len(entries), time.Since(readStart).Round(time.Millisecond))
	if len(entries) != adPeople {
		t.Fatalf("read %d people, want %d", len(entries), adPeople)
	}
	byName := map[string]*dirbook.Entry{}
	for _, e := range entries {
		byName[e.First("sAMAccountName")] = e
	}

	t.Run("identity", func(t *testing.T) {
		seen := map[string]bool{}
		for _, e := range entries {
			if _, ok := parseGUID(e.ID); !ok || e.ID != strings.ToLower(e.ID) {
				t.Fatalf("%s: ID %q is not a GUID in canonical form", e.DN, e.ID)
			}
			if seen[e.ID] {
				t.Fatalf("ID %s read twice", e.ID)
			}
			seen[e.ID] = true
		}
		for _, i := range []int{0, 7, 1999} {
			out := s.Tool(t, "user", "show", d.sam(i), "--attributes=objectGUID")
			want := ""
			for _, line := range strings.Split(out, "\n") {
				if v, ok := strings.CutPrefix(line, "objectGUID: "); ok {
					want = strings.ToLower(strings.TrimSpace(v))
				}
			}
			e := byName[d.sam(i)]
			if e == nil || e.ID != want {
				t.Errorf("ID of %s = %v, want %q (samba-tool user show)", d.sam(i), e, want)
			}
			if e != nil && e.DN != d.dn(i) {
				t.Errorf("DN of %s = %q, want %q", d.sam(i), e.DN, d.dn(i))
			}
		}
	})

	t.Run("disabled", func(t *testing.T) {
		n := 0
		for i := range adPeople {
			e := byName[d.sam(i)]
			want := ""
			if d.disabled(i) {
				want = "disabled account"
				n++
			}
			if e.Invalid != want {
				t.Errorf("%s: Invalid = %q, want %q", d.sam(i), e.Invalid, want)
			}
		}
		if n == 0 {
			t.Fatal("no disabled account in the test domain")
		}
		opts := adOptions(s, d.people())
		opts.IncludeDisabled = true
		for _, e := range mustReadServer(t, opts) {
			if e.Invalid != "" {
				t.Errorf("with IncludeDisabled %s: Invalid = %q, want \"\"", e.DN, e.Invalid)
			}
		}
	})

	t.Run("nested groups", func(t *testing.T) {
		for _, i := range []int{0, 5, 1998} {
			want := []string{dirbook.NormalizeDN(d.all()), dirbook.NormalizeDN(d.dept(i % 4)), dirbook.NormalizeDN(d.employees())}
			slices.Sort(want)
			if got := byName[d.sam(i)].Groups; !slices.Equal(got, want) {
				t.Errorf("Groups of %s = %q, want %q", d.sam(i), got, want)
			}
		}
	})

	t.Run("photo", func(t *testing.T) {
		if got := byName[d.sam(2)].First("thumbnailPhoto"); got != string(adPhoto) {
			t.Errorf("thumbnailPhoto of %s = %x, want %x", d.sam(2), got, adPhoto)
		}
	})

	t.Run("ranged retrieval", func(t *testing.T) {
		// Samba returns an attribute in ranges only when asked for
		// one: the server then answers "member;range=0-999", and the
		// source reads the rest as it does from Active Directory.
		l := dialAD(t, s)
		res, err := l.Search(goldap.NewSearchRequest(d.all(), goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"member;range=0-999"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if a := res.Entries[0].Attributes; len(a) != 1 || a[0].Name != "member;range=0-999" || len(a[0].Values) != 1000 {
			t.Fatalf("search for member;range=0-999 = %d attributes, want member;range=0-999 with 1000 values", len(a))
		}

		opts := adOptions(s, d.groups())
		opts.Filter = "(cn=all)"
		opts.Attributes = []string{"cn", "member;range=0-999"}
		got := mustReadServer(t, opts)
		if len(got) != 1 {
			t.Fatalf("read %d groups, want 1", len(got))
		}
		members := got[0].Values("member")
		if len(members) != adPeople {
			t.Errorf("member of cn=all: %d values, want %d", len(members), adPeople)
		}
		slices.Sort(members)
		if len(slices.Compact(members)) != adPeople {
			t.Errorf("member of cn=all has duplicates")
		}
		for k := range got[0].Attrs {
			if strings.Contains(k, "range") {
				t.Errorf("attribute %q kept its range option", k)
			}
		}
	})

	t.Run("transport", func(t *testing.T) {
		opts := adOptions(s, d.people())
		opts.URL, opts.StartTLS = s.URL, true
		opts.Filter = "(sAMAccountName=u0001)"
		if got := mustReadServer(t, opts); len(got) != 1 {
			t.Errorf("read with StartTLS: %d entries, want 1", len(got))
		}
		opts.StartTLS, opts.AllowInsecureBind = false, true
		if _, err := readServer(t, opts); err == nil || !strings.Contains(err.Error(), "Strong Auth Required") {
			t.Errorf("read with a simple bind in the clear: error %v, want Strong Auth Required", err)
		}
	})

	t.Run("password", func(t *testing.T) {
		l := dialAD(t, s)
		if err := l.Bind(d.dn(3), adPassword); err != nil {
			t.Errorf("bind as %s: %v", d.dn(3), err)
		}
		if err := l.Bind(d.dn(3), "wrong"); !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			t.Errorf("bind as %s with a wrong password: %v, want Invalid Credentials", d.dn(3), err)
		}
	})

	for _, feed := range []string{FeedUSN, FeedDirSync} {
		t.Run("feed "+feed, func(t *testing.T) { testADFeed(t, s, feed) })
	}
	t.Run("watch", func(t *testing.T) { testADWatch(t, s) })
	t.Logf("TestActiveDirectory took %v", time.Since(start).Round(time.Millisecond))
}
