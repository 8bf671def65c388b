package sambatest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// ldapsearch runs ldapsearch as the Administrator with the server's CA and
// returns its output and error.
func ldapsearch(s *Server, args ...string) (string, error) {
	full := append([]string{"-LLL", "-x", "-D", s.AdminDN, "-w", s.AdminPassword}, args...)
	cmd := exec.Command("ldapsearch", full...)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.CAFile, "LDAPTLS_REQCERT=demand")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestStart provisions a domain, adds a user, and checks how the server
// may be reached: over ldaps:// and StartTLS with the test CA, never with
// a simple bind in the clear, and only on loopback.
func TestStart(t *testing.T) {
	start := time.Now()
	s := Start(t, nil)
	t.Logf("Start took %v", time.Since(start))
	if s.BaseDN != "DC=dirbook,DC=test" {
		t.Errorf("BaseDN = %q, want DC=dirbook,DC=test", s.BaseDN)
	}

	s.Modify(t, "dn: CN=Jane Doe,CN=Users,"+s.BaseDN+"\nchangetype: add\nobjectClass: user\nsAMAccountName: jdoe\ngivenName: Jane\n")

	out, err := ldapsearch(s, "-H", s.LDAPSURL, "-b", s.BaseDN, "(sAMAccountName=jdoe)", "givenName", "objectGUID")
	if err != nil || !strings.Contains(out, "givenName: Jane") {
		t.Errorf("ldapsearch over ldaps = %q, %v; want jdoe's givenName", out, err)
	}
	out, err = ldapsearch(s, "-ZZ", "-H", s.URL, "-b", s.BaseDN, "(sAMAccountName=jdoe)", "givenName")
	if err != nil || !strings.Contains(out, "givenName: Jane") {
		t.Errorf("ldapsearch with StartTLS = %q, %v; want jdoe's givenName", out, err)
	}
	out, err = ldapsearch(s, "-H", s.URL, "-b", s.BaseDN, "(sAMAccountName=jdoe)")
	if err == nil || !strings.Contains(out, "Strong(er) authentication required") {
		t.Errorf("ldapsearch with a simple bind in the clear = %q, %v; want Strong(er) authentication required", out, err)
	}

	// samba-tool reads the same database.
	if out := s.Tool(t, "user", "show", "jdoe", "--attributes=givenName"); !strings.Contains(out, "givenName: Jane") {
		t.Errorf("samba-tool user show jdoe = %q, want givenName Jane", out)
	}

	// samba's network namespace has a loopback interface and nothing
	// else, so nothing it sends can leave the machine.
	ifs, err := s.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ifs, []string{"lo"}) {
		t.Errorf("interfaces in samba's namespace = %q, want [lo]", ifs)
	}
	conf, err := os.ReadFile(s.conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"dns forwarder", "nbt", "dnsupdate"} {
		if strings.Contains(string(conf), bad) {
			t.Errorf("smb.conf mentions %q:\n%s", bad, conf)
		}
	}

	s.Stop()
	if _, err := ldapsearch(s, "-H", s.LDAPSURL, "-b", s.BaseDN, "-s", "base"); err == nil {
		t.Errorf("ldapsearch after Stop succeeded, want an error")
	}
}
