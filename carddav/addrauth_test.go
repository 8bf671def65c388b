package carddav_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/carddav"
)

// addrAuth records the client address it is given and accepts one login.
type addrAuth struct{ addrs []string }

func (a *addrAuth) Authenticate(ctx context.Context, user, password string) (string, error) {
	return "", fmt.Errorf("Authenticate called without an address")
}

func (a *addrAuth) AuthenticateFrom(ctx context.Context, user, password, addr string) (string, error) {
	a.addrs = append(a.addrs, addr)
	if user == "anna" && password == "right" {
		return "anna", nil
	}
	return "", fmt.Errorf("test: %w", dirbook.ErrUnauthorized)
}

// TestAuthenticateFrom checks that an authenticator that limits failed
// logins per address gets the client's address, without its port.
func TestAuthenticateFrom(t *testing.T) {
	auth := &addrAuth{}
	store := &memStore{rev: testRevision()}
	h := carddav.NewHandler(store, auth, &carddav.Options{Logger: discardLogger()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		password string
		want     int
	}{{"wrong", http.StatusUnauthorized}, {"right", http.StatusMultiStatus}} {
		req, err := http.NewRequest("PROPFIND", srv.URL+"/dav/anna/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Depth", "0")
		req.SetBasicAuth("anna", tc.password)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("PROPFIND with password %q = %d, want %d", tc.password, resp.StatusCode, tc.want)
		}
	}
	if len(auth.addrs) != 2 || auth.addrs[0] != "127.0.0.1" || auth.addrs[1] != "127.0.0.1" {
		t.Errorf("AuthenticateFrom got addresses %q, want 127.0.0.1 twice", auth.addrs)
	}
}
