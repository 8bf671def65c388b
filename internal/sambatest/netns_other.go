//go:build !linux

package sambatest

import (
	"errors"
	"net"
)

// supported reports whether this system has the namespaces the harness
// uses.
const supported = false

func dialNetns(netns, addr string) (net.Conn, error) {
	return nil, errors.New("network namespaces need Linux")
}

func newForwarder(netns, target string) (*forwarder, error) {
	return nil, errors.New("network namespaces need Linux")
}

func (f *forwarder) close() {}
