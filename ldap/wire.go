package ldap

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// A wire carries the messages of one LDAP connection. Its pump, the one
// goroutine that reads the connection, reads every message the server
// sends. The answers to the searches sent with send it decodes itself, with
// the lean decoder of ber.go, into go-ldap's types; every other message
// goes to go-ldap, which uses the wire as its net.Conn for the bind,
// content sync, and all other operations.
//
// The two kinds of message are told apart by their message ID: go-ldap
// numbers its requests from 1, the wire from firstWireID, which go-ldap
// would reach after a billion requests on one connection.
//
// The pump stops when the connection fails or is closed (Close), after
// failing every search still waiting for its answer.
type wire struct {
	nc net.Conn
	br *bufio.Reader
	// peeked is the size of the message last read, when it was peeked
	// in br; 0 when it was read into a buffer of its own.
	peeked int
	wmu    sync.Mutex // serialises the writes of whole messages

	mu     sync.Mutex
	cond   sync.Cond // signals changes of queue and err; its L is &mu
	queue  [][]byte  // messages for go-ldap, the first one partly read
	queued int       // bytes in queue
	err    error     // why the pump stopped; nil while it runs
	ops    map[int64]*searchOp
	nextID int64
}

const (
	// firstWireID is the first message ID of the searches the wire sends.
	firstWireID = 1 << 30
	// maxQueued is how many bytes of messages for go-ldap the pump holds
	// before it waits for go-ldap to read them.
	maxQueued = 1 << 20
)

// searchOp is a search sent through a wire.
type searchOp struct {
	id   int64
	req  *goldap.SearchRequest
	res  *goldap.SearchResult // filled by the pump
	err  error
	done chan struct{} // closed when res is complete or err set
}

// result returns the outcome of op once done is closed.
func (op *searchOp) result() (*goldap.SearchResult, error) {
	if op.err != nil {
		return nil, op.err
	}
	return op.res, nil
}

// newWire starts the pump of nc.
func newWire(nc net.Conn) *wire {
	w := &wire{
		nc:     nc,
		br:     bufio.NewReaderSize(nc, 64<<10),
		ops:    map[int64]*searchOp{},
		nextID: firstWireID,
	}
	w.cond.L = &w.mu
	go w.pump()
	return w
}

func (w *wire) pump() {
	for {
		b, err := w.next()
		if err != nil {
			w.stop(err)
			return
		}
		if id, err := messageID(b); err == nil && id >= firstWireID {
			w.answer(id, b)
			w.br.Discard(w.peeked)
			continue
		}
		if w.peeked > 0 {
			b = bytes.Clone(b)
			w.br.Discard(w.peeked)
		}
		// Malformed messages go to go-ldap too, which drops them.
		w.mu.Lock()
		for w.queued >= maxQueued && w.err == nil {
			w.cond.Wait()
		}
		if w.err != nil {
			w.mu.Unlock()
			return
		}
		w.queue = append(w.queue, b)
		w.queued += len(b)
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// next returns the next message. If it fits the reader's buffer, it is
// peeked there: the caller discards peeked bytes once done with them.
func (w *wire) next() ([]byte, error) {
	w.peeked = 0
	hdr, err := w.br.Peek(2)
	if err != nil {
		if len(hdr) > 0 {
			err = unexpectedEOF(err)
		}
		return nil, err
	}
	n, size := int(hdr[1]), 2
	if hdr[1]&0x80 != 0 {
		size += int(hdr[1] & 0x7f)
		if size > 6 {
			return readMessage(w.br) // fails
		}
		if hdr, err = w.br.Peek(size); err != nil {
			return nil, unexpectedEOF(err)
		}
		n = 0
		for _, c := range hdr[2:] {
			n = n<<8 | int(c)
		}
	}
	if hdr[0] != tagSequence || size+n > w.br.Size() {
		return readMessage(w.br)
	}
	b, err := w.br.Peek(size + n)
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	w.peeked = size + n
	return b, nil
}

// messageID returns the ID of the message b.
func messageID(b []byte) (int64, error) {
	s, e, err := expect(b, 0, len(b), tagSequence)
	if err != nil {
		return 0, err
	}
	is, ie, err := expect(b, s, e, tagInteger)
	if err != nil {
		return 0, err
	}
	return integer(b[is:ie])
}

// answer adds the message b to the search with the ID id, if one waits
// for it.
func (w *wire) answer(id int64, b []byte) {
	w.mu.Lock()
	op := w.ops[id]
	w.mu.Unlock()
	if op == nil {
		return // a search given up
	}
	done, err := decodeSearch(b, op.res)
	if errors.Is(err, errMalformed) {
		err = goldap.NewError(goldap.ErrorUnexpectedResponse, err)
	}
	if req := op.req; !done && req.EnforceSizeLimit && req.SizeLimit > 0 && len(op.res.Entries) > req.SizeLimit {
		op.res.Entries = op.res.Entries[:req.SizeLimit]
		done, err = true, goldap.ErrSizeLimitExceeded
	}
	if !done {
		return
	}
	w.mu.Lock()
	_, ok := w.ops[id]
	delete(w.ops, id)
	w.mu.Unlock()
	if ok {
		op.err = err
		close(op.done)
	}
}

// stop ends the wire for the reason err: it fails the searches waiting
// for answers, tells go-ldap once it has read what was queued for it, and
// closes the connection.
func (w *wire) stop(err error) {
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return
	}
	w.err = err
	ops := w.ops
	w.ops = map[int64]*searchOp{}
	w.cond.Broadcast()
	w.mu.Unlock()
	lost := goldap.NewError(goldap.ErrorNetwork, fmt.Errorf("connection lost: %w", err))
	for _, op := range ops {
		op.err = lost
		close(op.done)
	}
	w.nc.Close()
}

// send sends req with a message ID of the wire's. The pump collects the
// answer; wait for it on the searchOp's done.
func (w *wire) send(req *goldap.SearchRequest) (*searchOp, error) {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return nil, goldap.NewError(goldap.ErrorNetwork, fmt.Errorf("connection lost: %w", err))
	}
	for w.ops[w.nextID] != nil {
		w.advance()
	}
	op := &searchOp{
		id:   w.nextID,
		req:  req,
		res:  &goldap.SearchResult{},
		done: make(chan struct{}),
	}
	w.advance()
	w.ops[op.id] = op
	w.mu.Unlock()

	b, err := encodeSearch(op.id, req)
	if err != nil {
		w.forget(op)
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		w.forget(op)
		return nil, goldap.NewError(goldap.ErrorNetwork, fmt.Errorf("unable to send request: %w", err))
	}
	return op, nil
}

func (w *wire) advance() {
	w.nextID++
	if w.nextID > math.MaxInt32 {
		w.nextID = firstWireID
	}
}

// forget gives up the search op: the rest of its answer is dropped as it
// arrives.
func (w *wire) forget(op *searchOp) {
	w.mu.Lock()
	delete(w.ops, op.id)
	w.mu.Unlock()
}

// encodeSearch encodes req as the message id, as go-ldap does.
func encodeSearch(id int64, req *goldap.SearchRequest) ([]byte, error) {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchRequest, nil, "Search Request")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, req.BaseDN, "Base DN"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(req.Scope), "Scope"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(req.DerefAliases), "Deref Aliases"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(req.SizeLimit), "Size Limit"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(req.TimeLimit), "Time Limit"))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, req.TypesOnly, "Types Only"))
	filter, err := goldap.CompileFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	op.AppendChild(filter)
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
	for _, a := range req.Attributes {
		attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, "Attribute"))
	}
	op.AppendChild(attrs)
	msg.AppendChild(op)
	if len(req.Controls) > 0 {
		ctrls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, c := range req.Controls {
			ctrls.AppendChild(c.Encode())
		}
		msg.AppendChild(ctrls)
	}
	return msg.Bytes(), nil
}

// Read implements net.Conn for go-ldap: it returns the messages that are
// not answers to the wire's searches.
func (w *wire) Read(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) == 0 {
		if w.err != nil {
			return 0, w.err
		}
		w.cond.Wait()
	}
	n := copy(p, w.queue[0])
	w.queue[0] = w.queue[0][n:]
	if len(w.queue[0]) == 0 {
		w.queue[0] = nil
		w.queue = w.queue[1:]
	}
	w.queued -= n
	w.cond.Broadcast()
	return n, nil
}

// Write implements net.Conn: go-ldap writes each message with one call.
func (w *wire) Write(p []byte) (int, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.nc.Write(p)
}

// Close implements net.Conn: it closes the connection and stops the pump.
func (w *wire) Close() error {
	w.stop(net.ErrClosed)
	return nil
}

func (w *wire) LocalAddr() net.Addr                { return w.nc.LocalAddr() }
func (w *wire) RemoteAddr() net.Addr               { return w.nc.RemoteAddr() }
func (w *wire) SetDeadline(t time.Time) error      { return w.nc.SetDeadline(t) }
func (w *wire) SetReadDeadline(t time.Time) error  { return w.nc.SetReadDeadline(t) }
func (w *wire) SetWriteDeadline(t time.Time) error { return w.nc.SetWriteDeadline(t) }

// startTLS sends the StartTLS extended request (RFC 4511 section 4.14) on
// the new connection raw, reads the answer and makes the TLS handshake.
// Deadlines on raw bound it. go-ldap's StartTLS cannot serve here: it
// wraps the connection it reads itself, below the wire.
func startTLS(raw net.Conn, conf *tls.Config) (*tls.Conn, error) {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 1, "MessageID"))
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationExtendedRequest, nil, "Start TLS")
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", "TLS Extended Command"))
	msg.AppendChild(req)
	if _, err := raw.Write(msg.Bytes()); err != nil {
		return nil, err
	}
	// Unbuffered: the handshake's bytes follow the answer.
	b, err := readMessage(byteReader{raw})
	if err != nil {
		return nil, err
	}
	id, op, start, stop, err := envelope(b)
	if err != nil {
		return nil, err
	}
	if id != 1 || op != tagExtendedRes {
		return nil, fmt.Errorf("unexpected answer to StartTLS: message %d, operation %#x", id, op)
	}
	r, err := decodeResult(b, start, stop)
	if err != nil {
		return nil, fmt.Errorf("answer to StartTLS: %w", err)
	}
	if r.code != goldap.LDAPResultSuccess {
		return nil, goldap.NewError(r.code, errors.New(r.diag))
	}
	tc := tls.Client(raw, conf)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc, nil
}
