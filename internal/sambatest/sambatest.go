// Package sambatest provisions a private Samba Active Directory domain controller on loopback for tests.
//
// Start provisions a new domain with samba-tool in a temporary directory
// (5 seconds on an idle machine with 2 cores, 15 to 30 seconds on a busy
// one) and runs samba on it, serving LDAP only: its DNS
// server, NetBIOS, Kerberos, SMB, dynamic DNS updates, replication and the
// other services are off, and no DNS forwarder is configured. The server
// presents a certificate of a certificate authority made for the test,
// naming 127.0.0.1 and localhost. As on a production domain controller,
// simple binds over unencrypted LDAP are refused ("Strong(er)
// authentication required"): clients use ldaps:// or StartTLS.
//
// # Isolation
//
// samba-tool and samba run in network, mount and UTS namespaces of their
// own (unshare(1)): the network namespace has only a loopback interface,
// so nothing they send can leave the machine, and samba's fixed ports (389
// and 636) never collide with another server, another test's domain
// controller included. In the mount namespace /etc/resolv.conf is replaced
// by a file naming only 127.0.0.1, so provisioning copies no forwarder
// from the machine's resolver; in the UTS namespace the host name is the
// domain controller's. The test process reaches the server through a
// forwarder it runs on 127.0.0.1 of its own network namespace, on free
// ports, that connects to samba's ports inside the namespace (setns(2)).
// This needs root, as samba does.
//
// Without samba, samba-tool, unshare, ip or ldapmodify, or without root, a
// test calling Start is skipped, or fails when the environment variable
// DIRBOOK_REQUIRE_TOOLS is set.
package sambatest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dirbook/dirbook/internal/dirserver"
	"github.com/dirbook/dirbook/internal/testcert"
)

// Programs the harness runs.
const (
	sambaPath     = "/usr/sbin/samba"
	sambaToolPath = "/usr/bin/samba-tool"
)

// hostName is the domain controller's host name inside its namespace.
const hostName = "dc1"

// Options configure a test domain.
type Options struct {
	// Realm is the DNS name of the domain in upper case. If empty,
	// "DIRBOOK.TEST" is used. The base DN follows from it
	// (DC=dirbook,DC=test).
	Realm string
	// Domain is the NetBIOS name of the domain. If empty, the first label
	// of Realm is used.
	Domain string
}

// Server is a running Samba domain controller.
type Server struct {
	// URL is the ldap:// URL; the server offers StartTLS on it and
	// refuses simple binds before it.
	URL string
	// LDAPSURL is the ldaps:// URL.
	LDAPSURL string
	// CAFile is the PEM file of the certificate authority that signed the
	// server's certificate, which names 127.0.0.1 and localhost.
	CAFile string
	// BaseDN is the DN of the domain, e.g. DC=dirbook,DC=test.
	BaseDN string
	// Realm is the DNS name of the domain in upper case.
	Realm string
	// AdminDN and AdminPassword are the domain's Administrator, which
	// holds every right, "Replicating Directory Changes" included.
	AdminDN, AdminPassword string

	tb    testing.TB
	dir   string
	conf  string             // smb.conf
	proc  *dirserver.Process // nil when samba does not run
	log   *os.File
	fwd   []*forwarder
	netns string // /proc/PID/ns/net of samba
}

// Start provisions a domain configured by opts (nil for the defaults),
// starts samba on it, and stops samba when tb ends. Data is added with
// Modify.
func Start(tb testing.TB, opts *Options) *Server {
	tb.Helper()
	if opts == nil {
		opts = &Options{}
	}
	requireTools(tb)
	realm := strings.ToUpper(opts.Realm)
	if realm == "" {
		realm = "DIRBOOK.TEST"
	}
	domain := strings.ToUpper(opts.Domain)
	if domain == "" {
		domain, _, _ = strings.Cut(realm, ".")
	}
	var dcs []string
	for _, l := range strings.Split(strings.ToLower(realm), ".") {
		dcs = append(dcs, "DC="+l)
	}
	dir := tb.TempDir()
	s := &Server{
		BaseDN:        strings.Join(dcs, ","),
		Realm:         realm,
		AdminPassword: "Admin-secret-1",
		tb:            tb,
		dir:           dir,
	}
	s.AdminDN = "CN=Administrator,CN=Users," + s.BaseDN

	resolv := filepath.Join(dir, "resolv.conf")
	writeFile(tb, resolv, []byte("# sambatest: nothing but loopback\nnameserver 127.0.0.1\n"))

	target := filepath.Join(dir, "dc")
	start := time.Now()
	cmd := isolated(resolv, sambaToolPath, "domain", "provision",
		"--targetdir="+target,
		"--realm="+realm,
		"--domain="+domain,
		"--server-role=dc",
		"--dns-backend=NONE",
		"--host-name="+hostName,
		"--host-ip=127.0.0.1",
		"--use-rfc2307",
		"--adminpass="+s.AdminPassword,
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("sambatest: samba-tool domain provision: %v\n%s", err, tail(out))
	}
	tb.Logf("sambatest: provisioned %s in %v", realm, time.Since(start).Round(time.Millisecond))

	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		tb.Fatalf("sambatest: %v", err)
	}
	caFile, certFile, keyFile, err := testcert.Write(tlsDir, "sambatest CA")
	if err != nil {
		tb.Fatalf("sambatest: %v", err)
	}
	s.CAFile = caFile

	s.conf = filepath.Join(target, "etc", "smb.conf")
	rewriteConf(tb, s.conf, map[string]string{
		// LDAP only: no DNS, NetBIOS, Kerberos, SMB, RPC, replication,
		// winbind, dynamic DNS updates.
		"server services":      "ldap",
		"disable netbios":      "yes",
		"interfaces":           "lo",
		"bind interfaces only": "yes",
		"dns forwarder":        "",
		"tls enabled":          "yes",
		"tls keyfile":          keyFile,
		"tls certfile":         certFile,
		"tls cafile":           caFile,
		"log file":             filepath.Join(dir, "samba.log.%m"),
		// Sockets and the pid file of this server only, so that
		// the servers of several tests run side by side.
		"pid directory":              filepath.Join(target, "run"),
		"ncalrpc dir":                filepath.Join(target, "run", "ncalrpc"),
		"winbindd socket directory":  filepath.Join(target, "run", "winbindd"),
		"ntp signd socket directory": filepath.Join(target, "run", "ntp_signd"),
		"log level":                  "1",
		// Tests need no durability: writes without fsync load
		// thousands of users quickly.
		"ldb:nosync": "true",
	})

	log, err := os.Create(filepath.Join(dir, "samba.log"))
	if err != nil {
		tb.Fatalf("sambatest: %v", err)
	}
	s.log = log
	tb.Cleanup(func() {
		s.Stop()
		s.log.Close()
	})
	s.start()

	return s
}

// isolated returns a command running name with args in new network, mount
// and UTS namespaces: only a loopback interface, resolv as
// /etc/resolv.conf, and the domain controller's host name.
func isolated(resolv, name string, args ...string) *exec.Cmd {
	script := `set -e
ip link set lo up
mount --bind "$1" /etc/resolv.conf
hostname "$2"
shift 2
exec "$@"`
	full := append([]string{"--net", "--mount", "--uts", "--propagation", "private",
		"/bin/sh", "-c", script, "sh", resolv, hostName, name}, args...)
	cmd := exec.Command("unshare", full...)
	// The kernel kills the program when the test process dies, so that
	// no server outlives a crashed or killed test run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// start runs samba and waits until it answers on both LDAP ports.
func (s *Server) start() {
	s.tb.Helper()
	start := time.Now()
	cmd := isolated(filepath.Join(s.dir, "resolv.conf"), sambaPath, "--interactive", "--model=single", "--configfile="+s.conf)
	proc, err := dirserver.Start(cmd, s.log)
	if err != nil {
		s.tb.Fatalf("sambatest: start samba: %v", err)
	}
	s.proc = proc
	// unshare and sh exec the next program: the process is samba's, and
	// so is its network namespace once unshare has run.
	s.netns = fmt.Sprintf("/proc/%d/ns/net", proc.Pid())

	deadline := time.Now().Add(60 * time.Second)
	for _, port := range []int{389, 636} {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		dial := func() (net.Conn, error) { return dialNetns(s.netns, addr) }
		if err := proc.Await(deadline, 50*time.Millisecond, dial); err != nil {
			s.proc = nil
			s.tb.Fatalf("sambatest: samba on port %d: %v; its log:\n%s", port, err, s.logTail())
		}
	}
	for _, port := range []int{389, 636} {
		f, err := newForwarder(s.netns, fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			s.Stop()
			s.tb.Fatalf("sambatest: %v", err)
		}
		s.fwd = append(s.fwd, f)
	}
	s.URL = "ldap://" + s.fwd[0].addr()
	s.LDAPSURL = "ldaps://" + s.fwd[1].addr()
	s.tb.Logf("sambatest: samba listens after %v", time.Since(start).Round(time.Millisecond))
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 seconds) and the
// forwarders, and waits until samba has exited. Connections to it break.
// It does nothing when the server is stopped.
func (s *Server) Stop() {
	for _, f := range s.fwd {
		f.close()
	}
	s.fwd = nil
	s.proc.Stop()
	s.proc = nil
}

// Modify applies LDIF change records (changetype: add, modify, modrdn,
// delete) as the Administrator with ldapmodify over ldaps://.
func (s *Server) Modify(tb testing.TB, ldif string) {
	tb.Helper()
	m := &dirserver.LDAPModify{
		URL:      s.LDAPSURL,
		BindDN:   s.AdminDN,
		Password: s.AdminPassword,
		Env:      []string{"LDAPTLS_CACERT=" + s.CAFile, "LDAPTLS_REQCERT=demand"},
	}
	if out, err := m.Records(s.dir, ldif); err != nil {
		tb.Fatalf("sambatest: %v\n%s", err, tail(out))
	}
}

// Tool runs samba-tool with args against the domain's database (not over
// the network) and returns its standard output, e.g.
// Tool(tb, "user", "show", "jdoe", "--attributes=objectGUID").
func (s *Server) Tool(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command(sambaToolPath, append(args, "--configfile="+s.conf)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("sambatest: samba-tool %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.Bytes()))
	}
	return string(out)
}

// Interfaces returns the names of the network interfaces in samba's
// network namespace, from /proc/PID/net/dev.
func (s *Server) Interfaces() ([]string, error) {
	if s.proc == nil {
		return nil, fmt.Errorf("sambatest: samba does not run")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", s.proc.Pid()))
	if err != nil {
		return nil, fmt.Errorf("sambatest: %w", err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, _, ok := strings.Cut(sc.Text(), ":")
		if ok {
			names = append(names, strings.TrimSpace(name))
		}
	}
	return names, nil
}

// logTail returns the end of samba's log.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	return tail(b)
}

// rewriteConf replaces the values of the [global] parameters in set, and
// adds those missing; an empty value removes the parameter.
func rewriteConf(tb testing.TB, path string, set map[string]string) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("sambatest: %v", err)
	}
	var out []string
	global := false
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			if global {
				out = append(out, globalLines(set)...)
			}
			global = strings.EqualFold(t, "[global]")
			out = append(out, line)
			continue
		}
		if global {
			key, _, ok := strings.Cut(t, "=")
			if _, replaced := set[strings.ToLower(strings.TrimSpace(key))]; ok && replaced {
				continue
			}
		}
		out = append(out, line)
	}
	if global {
		out = append(out, globalLines(set)...)
	}
	writeFile(tb, path, []byte(strings.Join(out, "\n")))
}

func globalLines(set map[string]string) []string {
	var lines []string
	for k, v := range set {
		if v != "" {
			lines = append(lines, "\t"+k+" = "+v)
		}
	}
	return lines
}

// requireTools skips or fails tb when a program the harness runs is
// missing, or when the test does not run as root.
func requireTools(tb testing.TB) {
	tb.Helper()
	var missing []string
	for _, p := range []string{sambaPath, sambaToolPath} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, p := range []string{"unshare", "ip", "ldapmodify"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	var msg string
	switch {
	case len(missing) > 0:
		msg = fmt.Sprintf("sambatest: %s missing (Debian packages samba, samba-dsdb-modules, samba-vfs-modules, samba-ad-provision, util-linux, iproute2, ldap-utils)", strings.Join(missing, ", "))
	case !supported:
		msg = "sambatest: needs Linux namespaces"
	case os.Geteuid() != 0:
		msg = "sambatest: samba and its namespaces need root"
	default:
		return
	}
	if os.Getenv("DIRBOOK_REQUIRE_TOOLS") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatalf("sambatest: %v", err)
	}
}

// tail returns the last 4000 bytes of b.
func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// forwarder accepts connections on 127.0.0.1 of the test process's network
// namespace and relays each to a port in samba's.
type forwarder struct {
	l      net.Listener
	netns  string
	target string

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]bool // open connections, both sides
}

func (f *forwarder) addr() string { return f.l.Addr().String() }
