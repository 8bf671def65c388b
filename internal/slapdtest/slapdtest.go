// Package slapdtest starts a private OpenLDAP slapd for tests.
//
// Start runs /usr/sbin/slapd on 127.0.0.1, on free ports for ldap:// (with
// StartTLS) and ldaps://, with its own configuration, database and
// certificates under a temporary directory, and stops it when the test ends.
// The configuration is a slapd.conf file (-f): an mdb database, the core,
// cosine, inetorgperson and nis schemas, a small schema with Active
// Directory's objectGUID, userAccountControl and sAMAccountName, the
// memberof, syncprov and ppolicy modules, and a size limit for unpaged
// searches that is lower than the test directories (paged searches are
// unlimited in total, as on production servers).
//
// Data is loaded in two ways. Options.Load files go in with slapadd before
// slapd first starts: fast, thousands of entries in a fraction of a second,
// but overlays do not run, so memberOf is set only where the file carries it
// (slapadd accepts it and entryUUID like any attribute; entryUUID is
// generated where the file has none). Options.Add files go in with ldapadd
// once slapd runs: the memberof overlay then maintains memberOf, as it does
// on a production server. Directory writes a synthetic directory of any size
// for either way.
//
// Without slapd, slapadd or ldapmodify a test calling Start is skipped, or
// fails when the environment variable DIRBOOK_REQUIRE_TOOLS is set.
package slapdtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/dirbook/dirbook/internal/dirserver"
	"github.com/dirbook/dirbook/internal/testcert"
)

// Programs the harness runs.
const (
	slapdPath   = "/usr/sbin/slapd"
	slapaddPath = "/usr/sbin/slapadd"
	modulePath  = "/usr/lib/ldap"
	schemaDir   = "/etc/ldap/schema"
)

// Options configure a test server.
type Options struct {
	// Suffix is the naming context of the database. If empty,
	// "dc=example,dc=com" is used. The loaded files create its entry.
	Suffix string
	// Load lists LDIF files loaded with slapadd before slapd starts.
	// Anything before a file's first "dn:" line (comments, "version: 1")
	// is left out: slapadd does not read it.
	Load []string
	// Add lists LDIF files added with ldapadd once slapd runs, after
	// the reader account is created.
	Add []string
	// SizeLimit is the most entries an unpaged search returns (slapd's
	// sizelimit) for every account but the admin. If 0, 500 is used.
	SizeLimit int
	// LimitPaged applies SizeLimit to paged searches too, in total: what
	// slapd does when its configuration sets only "sizelimit N". If false,
	// paged searches are unlimited (size.prtotal=unlimited).
	LimitPaged bool
	// SessionLog is the number of operations syncprov's session log keeps
	// (syncprov-sessionlog), from which a content sync learns deletions.
	// If 0, 1000 is used; if negative, there is no session log and
	// deletions are implied by absence from the present phase.
	SessionLog int
	// NoSyncprov leaves the syncprov overlay off the database: the server
	// then refuses content sync. If false, syncprov is on.
	NoSyncprov bool
}

// Server is a running slapd.
type Server struct {
	// URL is the ldap:// URL; the server offers StartTLS on it.
	URL string
	// LDAPSURL is the ldaps:// URL.
	LDAPSURL string
	// CAFile is the PEM file of the certificate authority that signed the
	// server's certificate, which names 127.0.0.1 and localhost.
	CAFile string
	// BaseDN is the suffix.
	BaseDN string
	// AdminDN and AdminPassword are the root account, which no limit
	// applies to.
	AdminDN, AdminPassword string
	// ReaderDN and ReaderPassword are an ordinary account that may read
	// everything but passwords, subject to the size limit.
	ReaderDN, ReaderPassword string

	tb   testing.TB
	dir  string
	args []string
	proc *dirserver.Process // nil when slapd does not run
	log  *os.File

	closers *program // of a server of Launch; nil for one of Start
}

// Start starts a slapd configured by opts (nil for the defaults), loads
// its data, and stops it when tb ends.
func Start(tb testing.TB, opts *Options) *Server {
	tb.Helper()
	if opts == nil {
		opts = &Options{}
	}
	requireTools(tb)
	dir := tb.TempDir()
	s := &Server{
		BaseDN:         opts.Suffix,
		AdminPassword:  "admin-secret",
		ReaderPassword: "reader-secret",
		tb:             tb,
		dir:            dir,
	}
	if s.BaseDN == "" {
		s.BaseDN = "dc=example,dc=com"
	}
	s.AdminDN = "cn=admin," + s.BaseDN
	s.ReaderDN = "cn=reader," + s.BaseDN

	caFile, certFile, keyFile, err := testcert.Write(dir, "slapdtest CA")
	if err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	s.CAFile = caFile
	writeFile(tb, filepath.Join(dir, "ad.schema"), []byte(adSchema))
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	limit := opts.SizeLimit
	if limit <= 0 {
		limit = 500
	}
	sessionLog := opts.SessionLog
	if sessionLog == 0 {
		sessionLog = 1000
	}
	var conf bytes.Buffer
	err = confTemplate.Execute(&conf, map[string]any{
		"Dir":        dir,
		"CAFile":     caFile,
		"CertFile":   certFile,
		"KeyFile":    keyFile,
		"SchemaDir":  schemaDir,
		"ModulePath": modulePath,
		"Suffix":     s.BaseDN,
		"AdminDN":    s.AdminDN,
		"AdminPW":    s.AdminPassword,
		"Limit":      limit,
		"LimitPaged": opts.LimitPaged,
		"SessionLog": sessionLog,
		"NoSyncprov": opts.NoSyncprov,
	})
	if err != nil {
		tb.Fatalf("slapdtest: slapd.conf: %v", err)
	}
	confPath := filepath.Join(dir, "slapd.conf")
	writeFile(tb, confPath, conf.Bytes())

	for i, f := range opts.Load {
		clean := filepath.Join(dir, fmt.Sprintf("load-%d.ldif", i))
		stripHeader(tb, f, clean)
		run(tb, slapaddPath, "-q", "-f", confPath, "-l", clean)
		os.Remove(clean)
	}

	ports := freePorts(tb, 2)
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", ports[0])
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", ports[1])
	s.args = []string{"-f", confPath, "-h", s.URL + "/ " + s.LDAPSURL + "/", "-d", "0"}
	log, err := os.Create(filepath.Join(dir, "slapd.log"))
	if err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	s.log = log
	tb.Cleanup(func() {
		s.Stop()
		s.log.Close()
	})
	s.Start()

	s.Modify(tb, fmt.Sprintf("dn: %s\nchangetype: add\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: %s\n", s.ReaderDN, s.ReaderPassword))
	for _, f := range opts.Add {
		s.ldapmodify(tb, f, "-a")
	}
	return s
}

// Start starts the server again after Stop, on the same ports with the
// same data. It does nothing when the server runs.
func (s *Server) Start() {
	s.tb.Helper()
	if s.proc != nil {
		return
	}
	cmd := exec.Command(slapdPath, s.args...)
	cmd.SysProcAttr = procAttr()
	proc, err := dirserver.Start(cmd, s.log)
	if err != nil {
		s.tb.Fatalf("slapdtest: start slapd: %v", err)
	}
	s.proc = proc

	addr := strings.TrimPrefix(s.URL, "ldap://")
	dial := func() (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
	if err := proc.Await(time.Now().Add(15*time.Second), 20*time.Millisecond, dial); err != nil {
		s.proc = nil
		s.tb.Fatalf("slapdtest: slapd on %s: %v; its log:\n%s", addr, err, s.logTail())
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 seconds) and waits
// until it has exited. Connections to it break. It does nothing when the
// server is stopped.
func (s *Server) Stop() {
	s.proc.Stop()
	s.proc = nil
}

// Modify applies LDIF change records (changetype: add, modify, modrdn,
// delete) as the admin with ldapmodify.
func (s *Server) Modify(tb testing.TB, ldif string) {
	tb.Helper()
	if out, err := s.admin().Records(s.dir, ldif); err != nil {
		tb.Fatalf("slapdtest: %v\n%s", err, out)
	}
}

// ldapmodify applies the LDIF file at path as the admin, with ldapmodify's
// extra flags.
func (s *Server) ldapmodify(tb testing.TB, path string, flags ...string) {
	tb.Helper()
	if out, err := s.admin().File(path, flags...); err != nil {
		tb.Fatalf("slapdtest: %v\n%s", err, out)
	}
}

// admin runs ldapmodify as the admin over ldap://.
func (s *Server) admin() *dirserver.LDAPModify {
	return &dirserver.LDAPModify{URL: s.URL, BindDN: s.AdminDN, Password: s.AdminPassword}
}

// logTail returns the end of slapd's log.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// requireTools skips or fails tb when a program the harness runs is
// missing.
func requireTools(tb testing.TB) {
	tb.Helper()
	var missing []string
	for _, p := range []string{slapdPath, slapaddPath} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := exec.LookPath("ldapmodify"); err != nil {
		missing = append(missing, "ldapmodify")
	}
	if _, err := os.Stat(filepath.Join(modulePath, "back_mdb.so")); err != nil {
		missing = append(missing, filepath.Join(modulePath, "back_mdb.so"))
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("slapdtest: %s missing (Debian packages slapd and ldap-utils)", strings.Join(missing, ", "))
	if os.Getenv("DIRBOOK_REQUIRE_TOOLS") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// run runs a program and fails tb with its output if it fails.
func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("slapdtest: %s: %v\n%s", name, err, out)
	}
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
}

// stripHeader copies the LDIF file src to dst from its first "dn:" line on.
func stripHeader(tb testing.TB, src, dst string) {
	tb.Helper()
	in, err := os.Open(src)
	if err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	br := bufio.NewReader(in)
	for {
		line, err := br.ReadString('\n')
		if strings.HasPrefix(strings.ToLower(line), "dn:") {
			out.WriteString(line)
			break
		}
		if err != nil {
			break
		}
	}
	if _, err := io.Copy(out, br); err != nil {
		tb.Fatalf("slapdtest: copy %s: %v", src, err)
	}
	if err := out.Close(); err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 at the time of
// the call.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("slapdtest: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

var confTemplate = template.Must(template.New("slapd.conf").Parse(`# Written by slapdtest.
include {{.SchemaDir}}/core.schema
include {{.SchemaDir}}/cosine.schema
include {{.SchemaDir}}/inetorgperson.schema
include {{.SchemaDir}}/nis.schema
include {{.Dir}}/ad.schema

modulepath {{.ModulePath}}
moduleload back_mdb
moduleload memberof
moduleload syncprov
moduleload ppolicy

pidfile {{.Dir}}/slapd.pid
argsfile {{.Dir}}/slapd.args

TLSCACertificateFile {{.CAFile}}
TLSCertificateFile {{.CertFile}}
TLSCertificateKeyFile {{.KeyFile}}

{{if .LimitPaged}}sizelimit {{.Limit}}{{else}}sizelimit size.soft={{.Limit}} size.hard={{.Limit}} size.prtotal=unlimited{{end}}

database mdb
maxsize 4294967296
dbnosync
suffix "{{.Suffix}}"
rootdn "{{.AdminDN}}"
rootpw {{.AdminPW}}
directory {{.Dir}}/data
index objectClass eq
index entryUUID eq
index entryCSN eq
index uid eq
index member,uniqueMember eq
index memberOf eq

access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read

overlay memberof
{{if not .NoSyncprov}}overlay syncprov
syncprov-checkpoint 100 10
{{if gt .SessionLog 0}}syncprov-sessionlog {{.SessionLog}}
{{end}}{{end}}`))

// adSchema defines the Active Directory attributes tests use, with
// Active Directory's OIDs, on an auxiliary class.
const adSchema = `attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
	EQUALITY octetStringMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
	EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' AUXILIARY
	MAY ( objectGUID $ userAccountControl $ sAMAccountName ) )
`
