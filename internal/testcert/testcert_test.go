package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, err := Write(dir, "testcert CA")
	if err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	for _, f := range []string{caFile, certFile, keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("mode of %s = %v, want 0600", filepath.Base(f), got)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadX509KeyPair(cert.pem, key.pem) error = %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := pool(t, caFile)
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("Verify(%s) error = %v, want nil", name, err)
		}
	}

	other := filepath.Join(dir, "other-ca.pem")
	if err := WriteCA(other, "testcert other CA"); err != nil {
		t.Fatalf("WriteCA() error = %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: pool(t, other)}); err == nil {
		t.Errorf("Verify against another CA error = nil, want an error")
	}
}

func pool(tb testing.TB, caFile string) *x509.CertPool {
	tb.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		tb.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		tb.Fatalf("%s holds no certificate", caFile)
	}
	return p
}
