package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// searcher sends one search request and returns its whole result. *conn
// implements it; tests of the ranged retrieval fake it.
type searcher interface {
	Search(req *goldap.SearchRequest) (*goldap.SearchResult, error)
}

// conn is a connection to the server with a deadline on every request.
// Its searches go through the wire, which decodes their answers; go-ldap
// serves the bind, content sync and everything else on the same wire.
//
// go-ldap's own request timeout (Conn.SetTimeout) is not used: it runs
// from the moment a request is sent, however long its answer streams, and
// when a result waits longer than the timeout for a reader, go-ldap drops
// that result silently. conn instead closes the connection when the server
// has not completed a request within the timeout, which fails the request.
type conn struct {
	l         *goldap.Conn
	w         *wire
	raw       net.Conn // the TCP connection under w
	encrypted bool     // by ldaps:// or StartTLS
	timeout   time.Duration
	timedOut  atomic.Bool
	stop      func() bool // stops closing the connection when ctx ends
}

// do runs the request op, closing the connection if it takes longer than
// the timeout.
func (c *conn) do(op func() error) error {
	t := time.AfterFunc(c.timeout, func() {
		c.timedOut.Store(true)
		c.abort()
	})
	err := op()
	t.Stop()
	if err != nil && c.timedOut.Load() {
		return fmt.Errorf("no answer within %v: %w", c.timeout, os.ErrDeadlineExceeded)
	}
	return err
}

// Search implements searcher.
func (c *conn) Search(req *goldap.SearchRequest) (*goldap.SearchResult, error) {
	op, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return c.wait(op)
}

// send sends the search req; wait collects its answer. The server works
// on it meanwhile, and other requests may be sent.
func (c *conn) send(req *goldap.SearchRequest) (*searchOp, error) {
	var op *searchOp
	err := c.do(func() error {
		var err error
		op, err = c.w.send(req)
		return err
	})
	return op, err
}

// wait returns the answer to the search op. The timeout counts from the
// call: an answer that arrived before is returned at once.
func (c *conn) wait(op *searchOp) (*goldap.SearchResult, error) {
	select {
	case <-op.done:
		return op.result()
	default:
	}
	err := c.do(func() error {
		<-op.done
		return op.err
	})
	if err != nil {
		return nil, err
	}
	return op.res, nil
}

// forget gives up the search op, if not nil, without waiting for the rest
// of its answer.
func (c *conn) forget(op *searchOp) {
	if op != nil {
		c.w.forget(op)
	}
}

// abort breaks the connection, failing what waits on it. The TCP
// connection is closed first: go-ldap's Close waits for its writer, which
// a server that stopped reading may block.
func (c *conn) abort() {
	c.raw.Close()
	c.l.Close()
}

func (c *conn) close() {
	c.stop()
	c.l.Unbind() // closes the connection, politely if it still works
	c.l.Close()
}

// connect dials the server, starts TLS as configured and binds.
func (s *Source) connect(ctx context.Context) (*conn, error) {
	tlsConf, err := s.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("ldap: connect %s: %w", s.url, err)
	}
	dctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(dctx, "tcp", s.hostport)
	if err != nil {
		return nil, s.connectError(ctx, dctx, err)
	}
	nc := raw
	if s.ldaps {
		tc := tls.Client(raw, tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, s.connectError(ctx, dctx, err)
		}
		nc = tc
	}
	if s.startTLS {
		tc, err := s.upgrade(ctx, raw, tlsConf)
		if err != nil {
			raw.Close()
			return nil, err
		}
		nc = tc
	}
	encrypted := s.ldaps || s.startTLS
	w := newWire(nc)
	l := goldap.NewConn(w, encrypted)
	l.Start()
	c := &conn{l: l, w: w, raw: raw, encrypted: encrypted, timeout: s.timeout}
	c.stop = context.AfterFunc(ctx, c.abort)

	if s.bindDN != "" {
		if err := s.bind(ctx, c); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// upgrade upgrades the connection raw with StartTLS within the timeout.
func (s *Source) upgrade(ctx context.Context, raw net.Conn, conf *tls.Config) (*tls.Conn, error) {
	deadline := time.Now().Add(s.timeout)
	raw.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	tc, err := startTLS(raw, conf)
	stop()
	raw.SetDeadline(time.Time{})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("ldap: starttls %s: %w", s.url, cerr)
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("ldap: starttls %s: no answer within %v: %w", s.url, s.timeout, os.ErrDeadlineExceeded)
		}
		return nil, fmt.Errorf("ldap: starttls %s: %w", s.url, describe(err))
	}
	return tc, nil
}

// connectError describes a failure to dial or to complete the TLS
// handshake within dctx, the context of ctx bounded by the timeout.
func (s *Source) connectError(ctx, dctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(dctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("ldap: connect %s: no answer within %v: %w", s.url, s.timeout, os.ErrDeadlineExceeded)
	}
	return fmt.Errorf("ldap: connect %s: %w", s.url, err)
}

// bind binds as the configured account, never over an unencrypted
// connection unless that is allowed.
func (s *Source) bind(ctx context.Context, c *conn) error {
	if !c.encrypted && !s.insecure {
		return fmt.Errorf("ldap: bind as %s: %w", s.bindDN, s.errInsecure())
	}
	err := c.do(func() error {
		_, err := c.l.SimpleBind(goldap.NewSimpleBindRequest(s.bindDN, string(s.password), nil))
		return err
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("ldap: bind as %s at %s: %w", s.bindDN, s.url, cerr)
		}
		return fmt.Errorf("ldap: bind as %s at %s: %w", s.bindDN, s.url, describe(err))
	}
	return nil
}

// tlsConfig reads the configured certificate files.
func (s *Source) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{ServerName: s.serverName, MinVersion: tls.VersionTLS12}
	if !s.ldaps && !s.startTLS {
		return conf, nil
	}
	if s.caFile != "" {
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", s.caFile)
		}
		conf.RootCAs = pool
	}
	if s.certFile != "" {
		cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// resultError is a result code other than success that the server
// returned, with its diagnostic message.
type resultError struct {
	code uint16
	diag string
}

func (e *resultError) Error() string {
	name := goldap.LDAPResultCodeMap[e.code]
	if name == "" {
		name = fmt.Sprintf("result code %d", e.code)
	}
	if e.diag == "" {
		return name
	}
	return name + ": " + e.diag
}

// describe returns an error of go-ldap in a form for messages: a result
// the server sent as its name and diagnostic ("Invalid Credentials"), a
// failure on the client's side (the connection broke) as its cause.
func describe(err error) error {
	var lerr *goldap.Error
	if !errors.As(err, &lerr) || lerr.Err == nil {
		return err
	}
	if lerr.ResultCode < goldap.ErrorNetwork {
		return &resultError{code: lerr.ResultCode, diag: strings.TrimSpace(lerr.Err.Error())}
	}
	msg := lerr.Err.Error()
	clean := strings.TrimPrefix(msg, "ldap: ")
	if inner, ok := strings.CutPrefix(clean, "TLS handshake failed ("); ok {
		clean = strings.TrimSuffix(inner, ")")
	}
	if clean == msg {
		return lerr.Err
	}
	return errors.New(clean)
}
