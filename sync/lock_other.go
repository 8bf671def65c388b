//go:build !unix

package sync

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// errLockTimeout reports that a lock stayed held by another process.
var errLockTimeout = errors.New("sync: lock timeout")

// fileLock is an exclusive lock on a lock file, held until release or
// process exit. Where flock is missing it uses bbolt's own file locking on
// a small bbolt file.
type fileLock struct{ db *bolt.DB }

// acquireLock takes the lock on the file at path, creating the file, and
// waits up to timeout for another process to release it.
func acquireLock(path string, timeout time.Duration) (*fileLock, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, errLockTimeout
	}
	if err != nil {
		return nil, fmt.Errorf("sync: lock %s: %w", path, err)
	}
	return &fileLock{db}, nil
}

// release unlocks the lock file.
func (l *fileLock) release() error { return l.db.Close() }
