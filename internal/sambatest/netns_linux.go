package sambatest

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// supported reports whether this system has the namespaces the harness
// uses.
const supported = true

// setns moves the calling thread into the network namespace of the file
// f (a /proc/.../ns/net file).
func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// dialNetns connects to addr in the network namespace netns (a
// /proc/PID/ns/net path). The socket is made on a thread of its own that
// enters the namespace and leaves it again; a socket stays in the
// namespace it was made in.
func dialNetns(netns, addr string) (net.Conn, error) {
	target, err := os.Open(netns)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("open own network namespace: %w", err)}
			return
		}
		defer own.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter network namespace: %w", err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err := setns(own); err != nil {
			// The thread stays locked and ends with the goroutine,
			// so no other goroutine runs in the wrong namespace.
			if c != nil {
				c.Close()
			}
			ch <- result{nil, fmt.Errorf("leave network namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// newForwarder listens on a free port of 127.0.0.1 and relays every
// connection to target in the network namespace netns.
func newForwarder(netns, target string) (*forwarder, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("forwarder: %w", err)
	}
	f := &forwarder{l: l, netns: netns, target: target, conns: map[net.Conn]bool{}}
	go f.serve()
	return f, nil
}

func (f *forwarder) serve() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		go f.relay(c)
	}
}

// relay copies between the client connection c and a new connection to
// the target until either side closes.
func (f *forwarder) relay(c net.Conn) {
	if !f.track(c, true) {
		c.Close()
		return
	}
	defer f.track(c, false)
	defer c.Close()
	u, err := dialNetns(f.netns, f.target)
	if err != nil {
		return
	}
	if !f.track(u, true) {
		u.Close()
		return
	}
	defer f.track(u, false)
	defer u.Close()
	// LDAP does not half-close: when either side ends, both end.
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
}

// track adds or removes an open connection; it reports false when the
// forwarder is closed.
func (f *forwarder) track(c net.Conn, open bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	if open {
		f.conns[c] = true
	} else {
		delete(f.conns, c)
	}
	return true
}

// close stops accepting and breaks the open connections.
func (f *forwarder) close() {
	f.l.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
}
