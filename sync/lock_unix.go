//go:build unix

package sync

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// errLockTimeout reports that a lock stayed held by another process.
var errLockTimeout = errors.New("sync: lock timeout")

// fileLock is an exclusive advisory lock (flock) on a lock file, held until
// release or process exit.
type fileLock struct{ f *os.File }

// acquireLock takes the lock on the file at path, creating the file, and
// waits up to timeout for another process to release it.
func acquireLock(path string, timeout time.Duration) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sync: lock file: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &fileLock{f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("sync: lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, errLockTimeout
		}
		time.Sleep(min(50*time.Millisecond, timeout))
	}
}

// release unlocks and closes the lock file. The file stays: removing it
// would let two processes lock different files of the same name.
func (l *fileLock) release() error {
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
