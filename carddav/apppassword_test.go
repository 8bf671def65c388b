package carddav

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dirbook/dirbook"
)

func hash(tb testing.TB, password string) string {
	tb.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	return string(h)
}

// countingAppPasswords returns app passwords whose bcrypt comparisons are
// counted in calls.
func countingAppPasswords(tb testing.TB, list []AppPassword, opts *AppPasswordOptions) (*AppPasswords, *atomic.Int64) {
	tb.Helper()
	a, err := NewAppPasswords(list, opts)
	if err != nil {
		tb.Fatal(err)
	}
	var calls atomic.Int64
	compare := a.compare
	a.compare = func(hash, password []byte) error {
		calls.Add(1)
		return compare(hash, password)
	}
	return a, &calls
}

func TestAppPasswords(t *testing.T) {
	list := []AppPassword{
		{User: "anna", Hash: hash(t, "anna-phone")},
		{User: "bob", Hash: hash(t, "bob-phone")},
		{User: "anna", Hash: hash(t, "anna-tablet")},
	}
	tests := []struct {
		name      string
		user, pw  string
		wantLogin string // "" for unauthorized
		compares  int64  // bcrypt comparisons on a cold cache
	}{
		{"first device", "anna", "anna-phone", "anna", 1},
		{"second device", "anna", "anna-tablet", "anna", 2},
		{"other user", "bob", "bob-phone", "bob", 1},
		{"wrong password", "anna", "bob-phone", "", 2},
		{"unknown user", "eve", "anna-phone", "", 1},
		{"empty password", "anna", "", "", 0},
		{"user with other's password", "bob", "anna-phone", "", 1},
		{"case matters", "Anna", "anna-phone", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, calls := countingAppPasswords(t, list, nil)
			login, err := a.Authenticate(context.Background(), tt.user, tt.pw)
			if tt.wantLogin == "" {
				if !errors.Is(err, dirbook.ErrUnauthorized) {
					t.Errorf("Authenticate(%q, %q) = %q, %v, want ErrUnauthorized", tt.user, tt.pw, login, err)
				}
			} else if login != tt.wantLogin || err != nil {
				t.Errorf("Authenticate(%q, %q) = %q, %v, want %q", tt.user, tt.pw, login, err, tt.wantLogin)
			}
			if got := calls.Load(); got != tt.compares {
				t.Errorf("Authenticate(%q, %q) ran bcrypt %d times, want %d", tt.user, tt.pw, got, tt.compares)
			}
		})
	}
}

func TestAppPasswordsCache(t *testing.T) {
	list := []AppPassword{{User: "anna", Hash: hash(t, "anna-phone")}}
	a, calls := countingAppPasswords(t, list, &AppPasswordOptions{CacheSize: 2})
	ctx := context.Background()
	auth := func(user, pw string) error {
		t.Helper()
		_, err := a.Authenticate(ctx, user, pw)
		return err
	}

	if err := auth("anna", "anna-phone"); err != nil {
		t.Fatalf("Authenticate() = %v", err)
	}
	if err := auth("anna", "anna-phone"); err != nil {
		t.Fatalf("Authenticate() again = %v", err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("two successful logins ran bcrypt %d times, want 1", got)
	}

	// Failures are never cached.
	for range 2 {
		if err := auth("anna", "wrong"); !errors.Is(err, dirbook.ErrUnauthorized) {
			t.Fatalf("Authenticate(wrong) = %v, want ErrUnauthorized", err)
		}
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("after two failures bcrypt ran %d times, want 3", got)
	}

	// The cached entry is for that exact password: a split of the same
	// bytes between user and password is another key.
	if err := auth("annaanna", "-phone"); !errors.Is(err, dirbook.ErrUnauthorized) {
		t.Errorf("Authenticate(annaanna, -phone) = %v, want ErrUnauthorized", err)
	}
	if a.cacheKey("a", "bc") == a.cacheKey("ab", "c") {
		t.Errorf("cacheKey(a, bc) == cacheKey(ab, c)")
	}
}

func TestAppPasswordsCacheExpires(t *testing.T) {
	list := []AppPassword{{User: "anna", Hash: hash(t, "anna-phone")}}
	a, calls := countingAppPasswords(t, list, &AppPasswordOptions{CacheTTL: time.Millisecond})
	for range 2 {
		if _, err := a.Authenticate(context.Background(), "anna", "anna-phone"); err != nil {
			t.Fatalf("Authenticate() = %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("logins after expiry ran bcrypt %d times, want 2", got)
	}
}

func TestNewAppPasswordsErrors(t *testing.T) {
	good := hash(t, "x")
	tests := []struct {
		name string
		list []AppPassword
		want string
	}{
		{"not a hash", []AppPassword{{User: "anna", Hash: good}, {User: "bob", Hash: "plaintext"}}, `app password 1 (user "bob")`},
		{"empty hash", []AppPassword{{User: "anna", Hash: ""}}, `app password 0 (user "anna")`},
		{"empty user", []AppPassword{{User: "", Hash: good}}, "app password 0: empty user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAppPasswords(tt.list, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewAppPasswords(%s) = %v, %v, want error containing %q", tt.name, a, err, tt.want)
			}
		})
	}
}

func TestAppPasswordsEmptyList(t *testing.T) {
	a, err := NewAppPasswords(nil, nil)
	if err != nil {
		t.Fatalf("NewAppPasswords(nil) = %v", err)
	}
	if _, err := a.Authenticate(context.Background(), "anna", "x"); !errors.Is(err, dirbook.ErrUnauthorized) {
		t.Errorf("Authenticate() with no app passwords = %v, want ErrUnauthorized", err)
	}
}
