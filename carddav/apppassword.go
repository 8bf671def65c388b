package carddav

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	gohash "hash"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/crypto/bcrypt"

	"github.com/dirbook/dirbook"
)

// AppPassword is one device's password of a user.
type AppPassword struct {
	// User is the login name the password belongs to. A user may have
	// several app passwords, one per device.
	User string
	// Hash is the bcrypt hash of the password.
	Hash string
}

// AppPasswordOptions configures AppPasswords.
type AppPasswordOptions struct {
	// CacheSize is how many successful verifications are remembered. If
	// zero or negative, 1024 is used.
	CacheSize int
	// CacheTTL is how long a successful verification is remembered. If
	// zero or negative, 10 minutes is used.
	CacheTTL time.Duration
}

// AppPasswords is an Authenticator over a fixed list of bcrypt-hashed app
// passwords. Successful verifications are remembered for a while, keyed by
// a keyed hash of the credentials, so a phone's sync does not pay for
// bcrypt on every request; the password itself is never kept.
type AppPasswords struct {
	hashes map[string][][]byte
	// dummy is verified against for unknown users, so that they cost as
	// much time as known ones.
	dummy []byte
	key   []byte
	cache *expirable.LRU[[sha256.Size]byte, string]
	// compare is bcrypt.CompareHashAndPassword; tests count its calls.
	compare func(hash, password []byte) error
	// macs holds HMAC-SHA256 states under key, reused across requests.
	macs sync.Pool
}

var _ Authenticator = (*AppPasswords)(nil)

// NewAppPasswords checks every hash and returns an authenticator over
// list.
//
// The cache of an AppPasswords runs a cleanup goroutine that never ends
// (golang-lru v2.0.7 offers no way to stop it); build one per process.
func NewAppPasswords(list []AppPassword, opts *AppPasswordOptions) (*AppPasswords, error) {
	if opts == nil {
		opts = &AppPasswordOptions{}
	}
	size := opts.CacheSize
	if size <= 0 {
		size = 1024
	}
	ttl := opts.CacheTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}

	hashes := make(map[string][][]byte)
	maxCost := bcrypt.MinCost
	for i, p := range list {
		if p.User == "" {
			return nil, fmt.Errorf("carddav: app password %d: empty user", i)
		}
		cost, err := bcrypt.Cost([]byte(p.Hash))
		if err != nil {
			return nil, fmt.Errorf("carddav: app password %d (user %q): %w", i, p.User, err)
		}
		maxCost = max(maxCost, cost)
		hashes[p.User] = append(hashes[p.User], []byte(p.Hash))
	}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("carddav: cache key: %w", err)
	}
	// The dummy hash has the highest cost of the list, so an unknown user
	// takes no less time than a known one.
	dummy, err := bcrypt.GenerateFromPassword(key, maxCost)
	if err != nil {
		return nil, fmt.Errorf("carddav: dummy hash: %w", err)
	}

	a := &AppPasswords{
		hashes:  hashes,
		dummy:   dummy,
		key:     key,
		cache:   expirable.NewLRU[[sha256.Size]byte, string](size, nil, ttl),
		compare: bcrypt.CompareHashAndPassword,
	}
	a.macs.New = func() any { return hmac.New(sha256.New, key) }
	return a, nil
}

var (
	errEmptyPassword = fmt.Errorf("carddav: empty password: %w", dirbook.ErrUnauthorized)
	errWrongPassword = fmt.Errorf("carddav: wrong user or password: %w", dirbook.ErrUnauthorized)
)

// Authenticate implements Authenticator. The login is the user name.
func (a *AppPasswords) Authenticate(ctx context.Context, user, password string) (string, error) {
	if password == "" {
		return "", errEmptyPassword
	}
	key := a.cacheKey(user, password)
	if login, ok := a.cache.Get(key); ok {
		return login, nil
	}
	hashes, ok := a.hashes[user]
	if !ok {
		_ = a.compare(a.dummy, []byte(password))
		return "", errWrongPassword
	}
	for _, h := range hashes {
		if a.compare(h, []byte(password)) == nil {
			a.cache.Add(key, user)
			return user, nil
		}
	}
	return "", errWrongPassword
}

// cacheKey is HMAC-SHA256 of the length-prefixed user and the password,
// under a per-process random key.
func (a *AppPasswords) cacheKey(user, password string) [sha256.Size]byte {
	m := a.macs.Get().(gohash.Hash)
	defer a.macs.Put(m)
	m.Reset()
	var n [binary.MaxVarintLen64]byte
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(user)))])
	m.Write([]byte(user))
	m.Write([]byte(password))
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}
