// Package dirserver runs the directory server programs of the test
// harnesses slapdtest and sambatest. A Process is started with its output
// going to a log, awaited until it listens, and stopped with SIGTERM, then
// SIGKILL; LDAPModify applies LDIF to a running server with ldapmodify.
package dirserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ErrExited is returned by Await when the program exits before it listens.
var ErrExited = errors.New("dirserver: exited at start")

// Process is a started server program.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts cmd with its standard output and standard error going to
// log. A goroutine waits for the program and ends when it exits.
func Start(cmd *exec.Cmd, log io.Writer) (*Process, error) {
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the program's process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Await connects with dial until a connection succeeds, waiting interval
// after each failure, and closes the connection. When the program exits
// first, Await returns an error that wraps ErrExited and tells the exit
// status. When deadline passes first, it stops the program and returns an
// error that wraps dial's last one.
func (p *Process) Await(deadline time.Time, interval time.Duration, dial func() (net.Conn, error)) error {
	start := time.Now()
	for {
		c, err := dial()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v)", ErrExited, p.cmd.ProcessState)
		case <-time.After(interval):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("dirserver: does not listen after %v: %w", time.Since(start).Round(time.Second), err)
		}
	}
}

// Stop sends the program SIGTERM, then SIGKILL if it still runs 10 seconds
// later, and returns once it has exited. It does nothing when the program
// has exited, or when p is nil.
func (p *Process) Stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// LDAPModify runs ldapmodify -x against a server, bound as one account.
type LDAPModify struct {
	URL      string // ldap:// or ldaps://
	BindDN   string
	Password string
	// Env is added to the environment ldapmodify runs in. If nil,
	// ldapmodify runs in this process's environment.
	Env []string
}

// File applies the LDIF file at path, passing ldapmodify the extra flags
// (e.g. -a), and returns ldapmodify's output, standard output and standard
// error together.
func (m *LDAPModify) File(path string, flags ...string) ([]byte, error) {
	args := append([]string{"-x", "-H", m.URL, "-D", m.BindDN, "-w", m.Password, "-f", path}, flags...)
	cmd := exec.Command("ldapmodify", args...)
	if m.Env != nil {
		cmd.Env = append(os.Environ(), m.Env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ldapmodify: %w", err)
	}
	return out, nil
}

// Records applies LDIF change records (changetype: add, modify, modrdn,
// delete) like File, through a temporary file in dir that it removes
// afterwards.
func (m *LDAPModify) Records(dir, ldif string) ([]byte, error) {
	f, err := os.CreateTemp(dir, "modify-*.ldif")
	if err != nil {
		return nil, fmt.Errorf("ldapmodify: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(ldif)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("ldapmodify: %w", err)
	}
	return m.File(f.Name())
}
