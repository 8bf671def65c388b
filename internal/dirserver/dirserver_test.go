package dirserver

import (
	"bytes"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func start(tb testing.TB, script string) (*Process, *bytes.Buffer) {
	tb.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		tb.Skip("no sh")
	}
	var log bytes.Buffer
	p, err := Start(exec.Command("sh", "-c", script), &log)
	if err != nil {
		tb.Fatalf("Start(sh -c %q) error = %v", script, err)
	}
	return p, &log
}

var errRefused = errors.New("refused")

func refuse() (net.Conn, error) { return nil, errRefused }

// exited reports whether the program has exited.
func exited(p *Process) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func TestAwaitExited(t *testing.T) {
	p, log := start(t, "echo starting; exit 3")
	err := p.Await(time.Now().Add(10*time.Second), time.Millisecond, refuse)
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Await() error = %v, want ErrExited with exit status 3", err)
	}
	if got := log.String(); !strings.Contains(got, "starting") {
		t.Errorf("log = %q, want the program's output", got)
	}
	p.Stop() // does nothing
}

func TestAwaitListens(t *testing.T) {
	p, _ := start(t, "exec sleep 60")
	defer p.Stop()
	calls := 0
	var server net.Conn
	dial := func() (net.Conn, error) {
		calls++
		if calls < 3 {
			return nil, errRefused
		}
		c, s := net.Pipe()
		server = s
		return c, nil
	}
	if err := p.Await(time.Now().Add(10*time.Second), time.Millisecond, dial); err != nil {
		t.Fatalf("Await() error = %v, want nil", err)
	}
	if calls != 3 {
		t.Errorf("Await() dialled %d times, want 3", calls)
	}
	if _, err := server.Read(make([]byte, 1)); err == nil {
		t.Errorf("the connection of Await is open, want it closed")
	}
	if exited(p) {
		t.Fatalf("the program exited, want it running")
	}
	p.Stop()
	if !exited(p) {
		t.Errorf("the program runs after Stop, want it exited")
	}
}

func TestAwaitDeadline(t *testing.T) {
	p, _ := start(t, "exec sleep 60")
	err := p.Await(time.Now(), time.Millisecond, refuse)
	if !errors.Is(err, errRefused) || errors.Is(err, ErrExited) {
		t.Fatalf("Await() past the deadline error = %v, want the last dial error", err)
	}
	if !exited(p) {
		t.Errorf("the program runs after Await timed out, want it stopped")
	}
}

func TestStopNil(t *testing.T) {
	var p *Process
	p.Stop()
}
