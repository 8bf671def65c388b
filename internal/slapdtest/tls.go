package slapdtest

import (
	"path/filepath"
	"testing"

	"github.com/dirbook/dirbook/internal/testcert"
)

// OtherCAFile writes the certificate of a new certificate authority, one
// that signed none of the servers' certificates, to a file in a temporary
// directory and returns its path: a wrong CA for tests of certificate
// verification.
func OtherCAFile(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "other-ca.pem")
	if err := testcert.WriteCA(path, "slapdtest other CA"); err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	return path
}
