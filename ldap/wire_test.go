package ldap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dirbook/dirbook/internal/slapdtest"
	goldap "github.com/go-ldap/ldap/v3"
)

// TestEncodeSearch compares the search requests of the wire with those
// go-ldap writes.
func TestEncodeSearch(t *testing.T) {
	paging := goldap.NewControlPaging(500)
	paging.SetCookie([]byte{0, 1, 2})
	req := goldap.NewSearchRequest("ou=people,dc=example,dc=com", goldap.ScopeSingleLevel, goldap.DerefAlways, 7, 30, true,
		"(&(objectClass=inetOrgPerson)(cn=M\\c3\\bcller*))", []string{"*", "entryUUID", "memberOf"}, []goldap.Control{paging, goldap.NewControlManageDsaIT(true)})

	client, server := net.Pipe()
	defer server.Close()
	l := goldap.NewConn(client, false)
	l.Start()
	defer l.Close()
	go l.Search(req)
	want, err := readMessage(bufio.NewReader(server))
	if err != nil {
		t.Fatal(err)
	}
	got, err := encodeSearch(1, req) // go-ldap's first message ID
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encodeSearch = %x, want go-ldap's %x", got, want)
	}

	req.Filter = "(cn=unbalanced"
	if _, err := encodeSearch(2, req); !goldap.IsErrorWithCode(err, goldap.ErrorFilterCompile) {
		t.Errorf("encodeSearch with a broken filter: error = %v, want a filter compile error", err)
	}
}

// fakeServer is the far end of a wire: it reads requests and writes the
// answers a test gives it.
type fakeServer struct {
	t    *testing.T
	conn net.Conn
	reqs chan []byte
}

func newFakeServer(t *testing.T) (*wire, *fakeServer) {
	client, server := net.Pipe()
	f := &fakeServer{t: t, conn: server, reqs: make(chan []byte, 16)}
	go func() {
		r := bufio.NewReader(server)
		for {
			b, err := readMessage(r)
			if err != nil {
				close(f.reqs)
				return
			}
			f.reqs <- b
		}
	}()
	w := newWire(client)
	t.Cleanup(func() {
		w.Close()
		server.Close()
	})
	return w, f
}

// request returns the next request and its message ID.
func (f *fakeServer) request() (int64, []byte) {
	f.t.Helper()
	select {
	case b, ok := <-f.reqs:
		if !ok {
			f.t.Fatal("the client closed the connection")
		}
		id, err := messageID(b)
		if err != nil {
			f.t.Fatal(err)
		}
		return id, b
	case <-time.After(5 * time.Second):
		f.t.Fatal("no request within 5s")
	}
	return 0, nil
}

func (f *fakeServer) send(msgs ...[]byte) {
	f.t.Helper()
	for _, m := range msgs {
		if _, err := f.conn.Write(m); err != nil {
			f.t.Fatal(err)
		}
	}
}

func waitOp(t *testing.T, op *searchOp) (*goldap.SearchResult, error) {
	t.Helper()
	select {
	case <-op.done:
		return op.result()
	case <-time.After(5 * time.Second):
		t.Fatal("search not done within 5s")
	}
	return nil, nil
}

var anyReq = goldap.NewSearchRequest("dc=example", goldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, nil)

func TestWire(t *testing.T) {
	w, f := newFakeServer(t)

	// A search of the wire, answered while go-ldap binds on the same
	// connection.
	l := goldap.NewConn(w, false)
	l.Start()
	defer l.Close()
	op, err := w.send(anyReq)
	if err != nil {
		t.Fatal(err)
	}
	id, req := f.request()
	if want, _ := encodeSearch(id, anyReq); id < firstWireID || !bytes.Equal(req, want) {
		t.Fatalf("the wire sent message %d %x, want an ID from %d and %x", id, req, firstWireID, want)
	}
	bound := make(chan error, 1)
	go func() { bound <- l.Bind("cn=reader,dc=example", "secret") }()
	bindID, _ := f.request()
	f.send(
		encodeMessage(id, entryOp("cn=a,dc=example", attr{"cn", []string{"a"}})),
		encodeMessage(bindID, resultOp(goldap.ApplicationBindResponse, 0, "", "")),
		encodeMessage(id, entryOp("cn=b,dc=example", attr{"cn", []string{"b"}})),
		encodeMessage(id, doneOp(0, "", "")),
	)
	if err := <-bound; err != nil {
		t.Errorf("go-ldap's bind on the wire: %v", err)
	}
	res, err := waitOp(t, op)
	if err != nil {
		t.Fatalf("search error = %v", err)
	}
	want := []*goldap.Entry{entry("cn=a,dc=example", attr{"cn", []string{"a"}}), entry("cn=b,dc=example", attr{"cn", []string{"b"}})}
	if !reflect.DeepEqual(res.Entries, want) {
		t.Errorf("search entries = %s, want %s", dumpEntries(res.Entries), dumpEntries(want))
	}

	// The answer to a search given up is dropped.
	gone, err := w.send(anyReq)
	if err != nil {
		t.Fatal(err)
	}
	goneID, _ := f.request()
	w.forget(gone)
	op, err = w.send(anyReq)
	if err != nil {
		t.Fatal(err)
	}
	id, _ = f.request()
	if id == goneID {
		t.Fatalf("two searches have message ID %d", id)
	}
	f.send(
		encodeMessage(goneID, entryOp("cn=gone,dc=example")),
		encodeMessage(goneID, doneOp(0, "", "")),
		encodeMessage(id, entryOp("cn=c,dc=example")),
		encodeMessage(id, doneOp(0, "", "")),
	)
	res, err = waitOp(t, op)
	if err != nil || len(res.Entries) != 1 || res.Entries[0].DN != "cn=c,dc=example" {
		t.Errorf("search after one given up = %v, %v, want cn=c,dc=example only", res, err)
	}

	// A malformed answer fails its search, and only that.
	op, err = w.send(anyReq)
	if err != nil {
		t.Fatal(err)
	}
	id, _ = f.request()
	f.send(
		[]byte{0x30, 0x08, 0x02, 0x04, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id), 0x64, 0x00},
		encodeMessage(id, entryOp("cn=after,dc=example")),
		encodeMessage(id, doneOp(0, "", "")),
	)
	if _, err := waitOp(t, op); !errors.Is(err, errMalformed) || !goldap.IsErrorWithCode(err, goldap.ErrorUnexpectedResponse) {
		t.Errorf("search answered by a malformed entry: error = %v, want malformed", err)
	}
	op, err = w.send(anyReq)
	if err != nil {
		t.Fatal(err)
	}
	id, _ = f.request()
	f.send(encodeMessage(id, doneOp(32, "dc=example", "no such object")))
	if _, err := waitOp(t, op); !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		t.Errorf("search after a malformed answer: error = %v, want No Such Object", err)
	}

	// The server goes away: the search waiting fails, and so does go-ldap.
	op, err = w.send(anyReq)
	if err != nil {
		t.Fatal(err)
	}
	f.request()
	f.conn.Close()
	if _, err := waitOp(t, op); !goldap.IsErrorWithCode(err, goldap.ErrorNetwork) {
		t.Errorf("search when the server went away: error = %v, want a network error", err)
	}
	if err := l.Bind("cn=reader,dc=example", "secret"); err == nil {
		t.Error("go-ldap's bind after the server went away: no error")
	}
	if _, err := w.send(anyReq); !goldap.IsErrorWithCode(err, goldap.ErrorNetwork) {
		t.Errorf("send after the server went away: error = %v, want a network error", err)
	}
}

// TestWireQueue fills the queue of messages for go-ldap beyond its bound
// while go-ldap does not read: the pump waits, and goes on once go-ldap
// reads.
func TestWireQueue(t *testing.T) {
	w, f := newFakeServer(t)
	big := encodeMessage(1, entryOp("cn=x", attr{"description", []string{string(make([]byte, 64<<10))}}))
	n := 2 * maxQueued / len(big)
	go func() {
		for range n {
			f.conn.Write(big)
		}
	}()
	r := bufio.NewReader(w)
	for i := range n {
		got, err := readMessage(r)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("message %d for go-ldap = %d bytes, %v, want %d bytes", i, len(got), err, len(big))
		}
	}
	w.mu.Lock()
	queued := w.queued
	w.mu.Unlock()
	if queued != 0 {
		t.Errorf("%d bytes still queued, want 0", queued)
	}
}

// TestWireSlapd reads a directory through the wire, paged, while go-ldap
// reads it on the same connection, and while each page's handler sends
// searches of its own: both see the same entries.
func TestWireSlapd(t *testing.T) {
	d := &slapdtest.Directory{People: 700, Departments: 5}
	people, groups := generate(t, d, true)
	s := slapdtest.Start(t, &slapdtest.Options{Load: []string{people, groups}})
	opts := readerOptions(s)
	opts.PageSize = 64
	src := newSource(t, opts)
	c, err := src.connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	attrs := []string{"*", "entryUUID", "memberOf"}
	newReq := func() *goldap.SearchRequest {
		return goldap.NewSearchRequest(s.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
			"(|(objectClass=inetOrgPerson)(objectClass=groupOfNames))", attrs, nil)
	}

	// go-ldap reads the same entries in parts below the size limit:
	// slapd keeps one paged search per connection.
	var wg sync.WaitGroup
	viaLDAP := &goldap.SearchResult{}
	var ldapErr error
	wg.Go(func() {
		for _, f := range []string{"(objectClass=groupOfNames)", "(uid=p0000*)", "(uid=p0001*)", "(uid=p0002*)", "(uid=p0003*)", "(uid=p0004*)", "(uid=p0005*)", "(uid=p0006*)"} {
			req := newReq()
			req.Filter = f
			res, err := c.l.Search(req)
			if err != nil {
				ldapErr = err
				return
			}
			viaLDAP.Entries = append(viaLDAP.Entries, res.Entries...)
		}
	})
	var viaWire []*goldap.Entry
	err = src.search(context.Background(), c, newReq(), func(e *goldap.Entry) error {
		viaWire = append(viaWire, e)
		if len(viaWire)%50 == 0 {
			// A request of the handler, while the next page streams.
			res, err := c.Search(goldap.NewSearchRequest(e.DN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", attrs, nil))
			if err != nil {
				return err
			}
			if len(res.Entries) != 1 || dumpEntries(res.Entries) != dumpEntries([]*goldap.Entry{e}) {
				t.Errorf("base search of %s = %s, want %s", e.DN, dumpEntries(res.Entries), dumpEntries([]*goldap.Entry{e}))
			}
		}
		return nil
	})
	wg.Wait()
	if err != nil {
		t.Fatalf("search through the wire: %v", err)
	}
	if ldapErr != nil {
		t.Fatalf("go-ldap's search on the wire: %v", ldapErr)
	}
	if want := d.People + d.Departments + 1; len(viaWire) != want {
		t.Errorf("search through the wire read %d entries, want %d", len(viaWire), want)
	}
	sortEntries := func(es []*goldap.Entry) []string {
		var out []string
		for _, e := range es {
			// go-ldap fills ByteValues, the wire does not.
			for _, a := range e.Attributes {
				a.ByteValues = nil
			}
			out = append(out, dumpEntries([]*goldap.Entry{e}))
		}
		slices.Sort(out)
		return out
	}
	if got, want := sortEntries(viaWire), sortEntries(viaLDAP.Entries); !reflect.DeepEqual(got, want) {
		t.Errorf("the wire and go-ldap read different entries: %d and %d", len(got), len(want))
	}
}
