package slapdtest

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// Launch starts a slapd configured by opts (nil for the defaults) and loads
// its data, like Start, for programs that are not tests: benchmark
// commands. The server's files go in a new directory below dir ("" for the
// system's temporary directory); Close stops the server and removes them.
// Missing programs are an error. The methods that take or use a testing.TB
// (Start after Stop, Modify) panic on failure for a launched server.
func Launch(dir string, opts *Options) (s *Server, err error) {
	root, err := os.MkdirTemp(dir, "slapdtest-")
	if err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}
	p := &program{root: root}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			p.cleanup()
			os.RemoveAll(root)
			s, err = nil, f
		}
	}()
	s = Start(p, opts)
	s.closers = p
	return s, nil
}

// Close stops a server of Launch and removes its files. For a server of
// Start it does nothing: the test's end does that.
func (s *Server) Close() error {
	if s.closers == nil {
		return nil
	}
	s.closers.cleanup()
	return os.RemoveAll(s.closers.root)
}

// failure is an error of a launched server, raised where a test would
// fail.
type failure string

func (f failure) Error() string { return string(f) }

// program stands in for a testing.TB outside tests: failing panics with a
// failure, and cleanups run at Close. The methods of testing.TB that the
// harness does not call are those of the nil interface: they would panic.
type program struct {
	testing.TB
	root     string
	n        int
	cleanups []func()
}

func (p *program) Helper()                           {}
func (p *program) Fatal(args ...any)                 { panic(failure(fmt.Sprint(args...))) }
func (p *program) Fatalf(format string, args ...any) { panic(failure(fmt.Sprintf(format, args...))) }
func (p *program) Skip(args ...any)                  { p.Fatal(args...) }
func (p *program) Cleanup(f func())                  { p.cleanups = append(p.cleanups, f) }

func (p *program) TempDir() string {
	p.n++
	dir, err := os.MkdirTemp(p.root, fmt.Sprintf("%03d-", p.n))
	if err != nil {
		p.Fatalf("slapdtest: %v", err)
	}
	return dir
}

// cleanup runs the cleanups, last registered first, once.
func (p *program) cleanup() {
	for _, f := range slices.Backward(p.cleanups) {
		f()
	}
	p.cleanups = nil
}
