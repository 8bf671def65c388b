package sync

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dirbook/dirbook"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// formatVersion is the layout of the store file this code reads and writes.
const formatVersion = 1

// Bucket and key names of the store file. The layout:
//
//	meta    "revision" → uint64 big-endian; "time" → RFC 3339 UTC text;
//	        "format" → uint64 big-endian (formatVersion)
//	books   book ID → {"book":{"id","name","description"},"rev":N,"pos":N}
//	cards   one nested bucket per book ID:
//	        card UID → {"card":<canonical card JSON>,"etag":"…","rev":N,"id":"<entry ID, if not the UID>"}
//	access  login → JSON list of book IDs (logins reading no book are absent)
//	log     revision (uint64 big-endian) → [{"book","uid","op":"put"|"del"},…]
var (
	bucketMeta   = []byte("meta")
	bucketBooks  = []byte("books")
	bucketCards  = []byte("cards")
	bucketAccess = []byte("access")
	bucketLog    = []byte("log")

	keyRevision = []byte("revision")
	keyTime     = []byte("time")
	keyFormat   = []byte("format")
)

// defaultTimeout is how long a lock is waited for when StoreOptions.Timeout
// is zero.
const defaultTimeout = time.Second

// StoreOptions configures Open and OpenReadOnly.
type StoreOptions struct {
	// Timeout is how long to wait for a lock held by another process: the
	// writer lock in Open, and the store file's lock while another process
	// publishes or reads it. If zero, one second is used.
	Timeout time.Duration
}

// Store keeps published revisions in a bbolt file and the current one in
// memory.
//
// A store opened with Open is the only writer: it holds the lock file
// "<path>.lock" until Close, so a second writer fails with an error wrapping
// dirbook.ErrLocked. It opens the bbolt file itself only while loading and
// while publishing, so that OpenReadOnly (a dry run) can read the file beside
// a running server.
type Store struct {
	path     string
	timeout  time.Duration
	readOnly bool

	mu     sync.Mutex // serialises Publish and Close
	lock   *fileLock  // nil when read-only or closed
	closed bool

	state atomic.Pointer[state]
}

// state is what a Store keeps in memory: the current revision, and for
// each published card whose UID differs from the ID of the directory entry
// it was made from, that ID (the engine uses it to tell why a card went
// away).
type state struct {
	rev     *dirbook.Revision
	entries map[string]string
}

// entryID returns the ID of the entry the published card uid was made from.
func (st *state) entryID(uid string) string {
	if id, ok := st.entries[uid]; ok {
		return id
	}
	return uid
}

// lockedError reports a store used by another process.
type lockedError struct{ path string }

func (e *lockedError) Error() string {
	return fmt.Sprintf("sync: store %s is in use by another dirbook process", e.path)
}

func (e *lockedError) Unwrap() error { return dirbook.ErrLocked }

// Open opens the store file at path for publishing, creating it when it does
// not exist, and loads the current revision. It fails with an error wrapping
// dirbook.ErrLocked when another process has the store open for publishing.
func Open(path string, opts *StoreOptions) (*Store, error) {
	s := newStore(path, opts, false)
	lk, err := acquireLock(path+".lock", s.timeout)
	if errors.Is(err, errLockTimeout) {
		return nil, &lockedError{path}
	}
	if err != nil {
		return nil, err
	}
	db, err := s.openDB(0)
	if err != nil {
		lk.release()
		return nil, err
	}
	snap, err := initAndRead(db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sync: close %s: %w", path, cerr)
	}
	if err != nil {
		lk.release()
		return nil, err
	}
	st, err := snap.decode()
	if err != nil {
		lk.release()
		return nil, fmt.Errorf("sync: load %s: %w", path, err)
	}
	s.lock = lk
	s.state.Store(st)
	return s, nil
}

// OpenReadOnly loads the current revision of the store file at path without
// taking the writer lock, for dry runs beside a running server. It reads the
// file under bbolt's shared lock and releases it before returning. A missing
// file reads as an empty store (revision 0) and is not created. Publish on
// the returned store fails.
func OpenReadOnly(path string, opts *StoreOptions) (*Store, error) {
	s := newStore(path, opts, true)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		s.state.Store(emptyState())
		return s, nil
	}
	db, err := s.openDB(0)
	if err != nil {
		return nil, err
	}
	var snap *snapshot
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		snap, err = readSnapshot(tx)
		return err
	})
	if err != nil {
		err = fmt.Errorf("sync: read %s: %w", path, err)
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sync: close %s: %w", path, cerr)
	}
	if err != nil {
		return nil, err
	}
	st, err := snap.decode()
	if err != nil {
		return nil, fmt.Errorf("sync: load %s: %w", path, err)
	}
	s.state.Store(st)
	return s, nil
}

func newStore(path string, opts *StoreOptions, readOnly bool) *Store {
	s := &Store{path: path, timeout: defaultTimeout, readOnly: readOnly}
	if opts != nil && opts.Timeout > 0 {
		s.timeout = opts.Timeout
	}
	return s
}

// openDB opens the bbolt file, mapping a lock timeout to lockedError. A
// transaction about to write grow bytes passes that estimate: mapping
// enough of the file up front spares bbolt remapping it, and copying every
// node it holds, each time the file outgrows the mapping.
func (s *Store) openDB(grow int) (*bolt.DB, error) {
	opts := &bolt.Options{Timeout: s.timeout, ReadOnly: s.readOnly}
	if grow > 0 {
		if fi, err := os.Stat(s.path); err == nil {
			opts.InitialMmapSize = int(fi.Size()) + 2*grow
		}
	}
	db, err := bolt.Open(s.path, 0o600, opts)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &lockedError{s.path}
	}
	if err != nil {
		return nil, fmt.Errorf("sync: open %s: %w", s.path, err)
	}
	return db, nil
}

// Path returns the store file's path.
func (s *Store) Path() string { return s.path }

// ReadOnly reports whether the store was opened with OpenReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Current returns the current revision. It is never nil; its Number is 0
// when nothing was published yet. The revision must not be modified.
func (s *Store) Current() *dirbook.Revision {
	return s.state.Load().rev
}

// Close releases the writer lock. The current revision stays readable;
// Publish fails afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.lock == nil {
		return nil
	}
	err := s.lock.release()
	s.lock = nil
	if err != nil {
		return fmt.Errorf("sync: release lock of %s: %w", s.path, err)
	}
	return nil
}

// Changes is the content of one publish.
type Changes struct {
	// Base is the number of the revision the changes were computed
	// against; Publish refuses changes made against another revision.
	Base uint64
	// Books lists every configured book in configuration order. Published
	// books not listed are dropped with all their cards.
	Books []BookChanges
	// Access is the complete new access map: login → IDs of the books the
	// login may read. Logins not listed read nothing.
	Access map[string][]string
}

// BookChanges is what changes in one book.
type BookChanges struct {
	// Book is the book as configured now; its name and description
	// replace the published ones.
	Book dirbook.Book
	// Put lists cards to add or replace. A card identical to the
	// published one is left as it is.
	Put []CardPut
	// Delete lists the UIDs of cards to remove; unknown UIDs are ignored.
	Delete []string
}

// CardPut is one card to write.
type CardPut struct {
	Card *dirbook.Card
	// EntryID is the ID of the directory entry the card was made from.
	// If empty, the card's UID is taken to be that ID.
	EntryID string
}

// logOp is one card operation in the revision log.
type logOp struct {
	Book string `json:"book"`
	UID  string `json:"uid"`
	Op   string `json:"op"` // "put" or "del"
}

// bookRecord is the value of a book in the books bucket.
type bookRecord struct {
	Book     dirbook.Book `json:"book"`
	Revision uint64       `json:"rev"`
	Position int          `json:"pos"`
}

// cardRecord is the value of a card in a cards bucket.
type cardRecord struct {
	Card     json.RawMessage `json:"card"` // canonical card JSON, see encodeCard
	ETag     string          `json:"etag"`
	Revision uint64          `json:"rev"`
	EntryID  string          `json:"id,omitempty"`
}

// bookWrite is a book's part of a prepared publish.
type bookWrite struct {
	id      string
	record  []byte
	puts    []cardWrite
	deletes []string
}

type cardWrite struct {
	uid   string
	value []byte
}

// Publish writes changes as a new revision in one transaction and then makes
// it current. If anything fails, neither the file nor the current revision
// change. It returns the new revision.
func (s *Store) Publish(ctx context.Context, ch *Changes) (*dirbook.Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readOnly {
		return nil, fmt.Errorf("sync: store %s is open read-only", s.path)
	}
	if s.closed {
		return nil, fmt.Errorf("sync: store %s is closed", s.path)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sync: publish: %w", err)
	}
	cur := s.state.Load()
	if ch.Base != cur.rev.Number {
		return nil, fmt.Errorf("sync: plan is stale: made against revision %d, the store is at %d", ch.Base, cur.rev.Number)
	}
	next, writes, ops, err := prepare(cur, ch, time.Now().UTC())
	if err != nil {
		return nil, err
	}

	grow := 0
	for _, bw := range writes {
		for _, p := range bw.puts {
			grow += len(p.uid) + len(p.value) + 16
		}
	}
	grow += len(ops) * 80
	db, err := s.openDB(grow)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return write(ctx, tx, cur.rev.Number, next.rev, writes, ops)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sync: publish revision %d to %s: %w", next.rev.Number, s.path, err)
	}
	s.state.Store(next)
	if err := db.Close(); err != nil {
		// The transaction is committed: the revision is published.
		return next.rev, fmt.Errorf("sync: published revision %d, then closing %s failed: %w", next.rev.Number, s.path, err)
	}
	return next.rev, nil
}

// prepare builds the next in-memory state and the encoded records of a
// publish, without touching the file.
func prepare(cur *state, ch *Changes, now time.Time) (*state, []bookWrite, []logOp, error) {
	num := cur.rev.Number + 1
	next := &state{
		rev: &dirbook.Revision{
			Number: num,
			Time:   now,
			Books:  make([]*dirbook.BookState, 0, len(ch.Books)),
			Access: make(map[string][]string, len(ch.Access)),
		},
		entries: maps.Clone(cur.entries),
	}
	var writes []bookWrite
	var ops []logOp
	var freed []string // UIDs deleted somewhere; their entries are dropped if no book keeps them
	seen := make(map[string]bool, len(ch.Books))
	for pos, bc := range ch.Books {
		if seen[bc.Book.ID] {
			return nil, nil, nil, fmt.Errorf("sync: book %q listed twice", bc.Book.ID)
		}
		seen[bc.Book.ID] = true
		old := cur.rev.Book(bc.Book.ID)
		bw := bookWrite{id: bc.Book.ID}
		changed := old == nil || old.Book != bc.Book

		deleted := make(map[string]bool, len(bc.Delete))
		for _, uid := range bc.Delete {
			if old == nil || old.Cards[uid] == nil || deleted[uid] {
				continue
			}
			deleted[uid] = true
			bw.deletes = append(bw.deletes, uid)
		}
		put := make(map[string]*dirbook.StoredCard, len(bc.Put))
		var puts []cardWrite
		for _, p := range bc.Put {
			if p.Card == nil {
				return nil, nil, nil, fmt.Errorf("sync: book %q: nil card", bc.Book.ID)
			}
			uid := p.Card.UID
			if deleted[uid] {
				return nil, nil, nil, fmt.Errorf("sync: book %q: card %q is both written and deleted", bc.Book.ID, uid)
			}
			if put[uid] != nil {
				return nil, nil, nil, fmt.Errorf("sync: book %q: card %q written twice", bc.Book.ID, uid)
			}
			entryID := p.EntryID
			if entryID == uid {
				entryID = "" // the common case: not worth storing twice
			}
			record, etag := encodeRecord(p.Card, num, entryID)
			if old != nil {
				if prev := old.Cards[uid]; prev != nil && prev.ETag == etag {
					put[uid] = prev
					continue
				}
			}
			sc := &dirbook.StoredCard{Card: *p.Card, ETag: etag, Revision: num}
			put[uid] = sc
			puts = append(puts, cardWrite{uid: uid, value: record})
			if entryID != "" {
				next.entries[uid] = entryID
			} else {
				delete(next.entries, uid)
			}
		}
		slices.SortFunc(puts, func(a, b cardWrite) int { return cmp.Compare(a.uid, b.uid) })
		slices.Sort(bw.deletes)
		bw.puts = puts
		if len(puts) > 0 || len(bw.deletes) > 0 {
			changed = true
		}

		var bs *dirbook.BookState
		if !changed {
			bs = old
		} else {
			bs = &dirbook.BookState{Book: bc.Book, Revision: num}
			size := len(put)
			if old != nil {
				size += len(old.Cards)
			}
			bs.Cards = make(map[string]*dirbook.StoredCard, size)
			if old != nil {
				maps.Copy(bs.Cards, old.Cards)
			}
			added := false
			for uid, sc := range put {
				if _, ok := bs.Cards[uid]; !ok {
					added = true
				}
				bs.Cards[uid] = sc
			}
			for _, uid := range bw.deletes {
				delete(bs.Cards, uid)
			}
			if old != nil && !added && len(bw.deletes) == 0 {
				bs.UIDs = old.UIDs
			} else {
				bs.UIDs = slices.Sorted(maps.Keys(bs.Cards))
			}
		}
		next.rev.Books = append(next.rev.Books, bs)

		rec, err := json.Marshal(bookRecord{Book: bc.Book, Revision: bs.Revision, Position: pos})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sync: book %q: %w", bc.Book.ID, err)
		}
		bw.record = rec
		writes = append(writes, bw)
		for _, p := range puts {
			ops = append(ops, logOp{Book: bc.Book.ID, UID: p.uid, Op: "put"})
		}
		for _, uid := range bw.deletes {
			ops = append(ops, logOp{Book: bc.Book.ID, UID: uid, Op: "del"})
		}
		freed = append(freed, bw.deletes...)
	}
	// Books no longer configured go away with their cards.
	for _, old := range cur.rev.Books {
		if seen[old.ID] {
			continue
		}
		writes = append(writes, bookWrite{id: old.ID, deletes: old.UIDs, record: nil})
		for _, uid := range old.UIDs {
			ops = append(ops, logOp{Book: old.ID, UID: uid, Op: "del"})
		}
		freed = append(freed, old.UIDs...)
	}
	for _, uid := range freed {
		kept := false
		for _, b := range next.rev.Books {
			if b.Cards[uid] != nil {
				kept = true
				break
			}
		}
		if !kept {
			delete(next.entries, uid)
		}
	}
	for login, ids := range ch.Access {
		if len(ids) > 0 {
			next.rev.Access[login] = slices.Clone(ids)
		}
	}
	return next, writes, ops, nil
}

// write stores a prepared publish in tx. base is the revision the file must
// be at.
func write(ctx context.Context, tx *bolt.Tx, base uint64, rev *dirbook.Revision, writes []bookWrite, ops []logOp) error {
	meta := tx.Bucket(bucketMeta)
	books := tx.Bucket(bucketBooks)
	cards := tx.Bucket(bucketCards)
	access := tx.Bucket(bucketAccess)
	log := tx.Bucket(bucketLog)
	if meta == nil || books == nil || cards == nil || access == nil || log == nil {
		return errors.New("missing buckets")
	}
	if got := getUint(meta, keyRevision); got != base {
		return fmt.Errorf("file is at revision %d, expected %d: it was changed by another process", got, base)
	}
	n := 0
	for _, bw := range writes {
		if bw.record == nil {
			if err := books.Delete([]byte(bw.id)); err != nil {
				return fmt.Errorf("book %q: %w", bw.id, err)
			}
			if cards.Bucket([]byte(bw.id)) != nil {
				if err := cards.DeleteBucket([]byte(bw.id)); err != nil {
					return fmt.Errorf("book %q: %w", bw.id, err)
				}
			}
			continue
		}
		if err := books.Put([]byte(bw.id), bw.record); err != nil {
			return fmt.Errorf("book %q: %w", bw.id, err)
		}
		b, err := cards.CreateBucketIfNotExists([]byte(bw.id))
		if err != nil {
			return fmt.Errorf("book %q: %w", bw.id, err)
		}
		b.FillPercent = 0.9 // puts arrive in key order
		for _, uid := range bw.deletes {
			if err := b.Delete([]byte(uid)); err != nil {
				return fmt.Errorf("book %q: delete card %q: %w", bw.id, uid, err)
			}
		}
		for _, p := range bw.puts {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := b.Put([]byte(p.uid), p.value); err != nil {
				return fmt.Errorf("book %q: put card %q: %w", bw.id, p.uid, err)
			}
		}
	}

	// Access is small: rewrite it whole.
	var stale [][]byte
	if err := access.ForEach(func(k, _ []byte) error {
		if _, ok := rev.Access[string(k)]; !ok {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range stale {
		if err := access.Delete(k); err != nil {
			return fmt.Errorf("access %q: %w", k, err)
		}
	}
	for login, ids := range rev.Access {
		v, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		if err := access.Put([]byte(login), v); err != nil {
			return fmt.Errorf("access %q: %w", login, err)
		}
	}

	if err := log.Put(uintKey(rev.Number), encodeLog(ops)); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := meta.Put(keyTime, []byte(rev.Time.Format(time.RFC3339Nano))); err != nil {
		return err
	}
	return meta.Put(keyRevision, uintKey(rev.Number))
}

// initAndRead creates missing buckets and the format key, checks the
// format, and reads the file's content. It writes only when something is
// missing, so opening an existing store leaves the file as it is.
func initAndRead(db *bolt.DB) (*snapshot, error) {
	buckets := [][]byte{bucketMeta, bucketBooks, bucketCards, bucketAccess, bucketLog}
	var snap *snapshot
	complete := false
	err := db.View(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if tx.Bucket(name) == nil {
				return nil
			}
		}
		if tx.Bucket(bucketMeta).Get(keyFormat) == nil {
			return nil
		}
		complete = true
		var err error
		snap, err = readSnapshot(tx)
		return err
	})
	if err == nil && !complete {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, name := range buckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
			}
			meta := tx.Bucket(bucketMeta)
			if meta.Get(keyFormat) == nil {
				if err := meta.Put(keyFormat, uintKey(formatVersion)); err != nil {
					return err
				}
			}
			var err error
			snap, err = readSnapshot(tx)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("sync: read %s: %w", db.Path(), err)
	}
	return snap, nil
}

// snapshot is the raw content of a store file, copied out of a transaction
// so that the file can be closed before decoding.
type snapshot struct {
	revision uint64
	time     time.Time
	books    []rawBook
	access   map[string][]byte
}

type rawBook struct {
	record bookRecord
	keys   []string
	values [][]byte
}

// readSnapshot copies the content of tx. A file without buckets reads as
// empty.
func readSnapshot(tx *bolt.Tx) (*snapshot, error) {
	snap := &snapshot{access: map[string][]byte{}}
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if f := getUint(meta, keyFormat); f > formatVersion {
			return nil, fmt.Errorf("store format %d is newer than this dirbook supports (%d)", f, formatVersion)
		}
		snap.revision = getUint(meta, keyRevision)
		if v := meta.Get(keyTime); v != nil {
			t, err := time.Parse(time.RFC3339Nano, string(v))
			if err != nil {
				return nil, fmt.Errorf("meta time: %w", err)
			}
			snap.time = t
		}
	}
	cards := tx.Bucket(bucketCards)
	if books := tx.Bucket(bucketBooks); books != nil {
		err := books.ForEach(func(k, v []byte) error {
			var rb rawBook
			if err := json.Unmarshal(v, &rb.record); err != nil {
				return fmt.Errorf("book %q: %w", k, err)
			}
			if cards != nil {
				if b := cards.Bucket(k); b != nil {
					c := b.Cursor()
					for k, v := c.First(); k != nil; k, v = c.Next() {
						rb.keys = append(rb.keys, string(k))
						rb.values = append(rb.values, bytes.Clone(v))
					}
				}
			}
			snap.books = append(snap.books, rb)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if access := tx.Bucket(bucketAccess); access != nil {
		if err := access.ForEach(func(k, v []byte) error {
			snap.access[string(k)] = bytes.Clone(v)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// decode builds the in-memory state from a snapshot.
func (snap *snapshot) decode() (*state, error) {
	st := emptyState()
	st.rev.Number = snap.revision
	st.rev.Time = snap.time
	slices.SortStableFunc(snap.books, func(a, b rawBook) int { return cmp.Compare(a.record.Position, b.record.Position) })
	for _, rb := range snap.books {
		bs := &dirbook.BookState{
			Book:     rb.record.Book,
			Cards:    make(map[string]*dirbook.StoredCard, len(rb.keys)),
			UIDs:     rb.keys,
			Revision: rb.record.Revision,
		}
		for i, uid := range rb.keys {
			sc, entryID, err := decodeRecord(rb.values[i])
			if err != nil {
				return nil, fmt.Errorf("book %q: card %q: %w", bs.ID, uid, err)
			}
			bs.Cards[uid] = sc
			if entryID != "" {
				st.entries[uid] = entryID
			}
		}
		st.rev.Books = append(st.rev.Books, bs)
	}
	for login, v := range snap.access {
		var ids []string
		if err := json.Unmarshal(v, &ids); err != nil {
			return nil, fmt.Errorf("access %q: %w", login, err)
		}
		if len(ids) > 0 {
			st.rev.Access[login] = ids
		}
	}
	return st, nil
}

func emptyState() *state {
	return &state{
		rev:     &dirbook.Revision{Access: map[string][]string{}},
		entries: map[string]string{},
	}
}

// encodeRecord returns the JSON of the cardRecord of c, written by hand
// around its canonical JSON, and its ETag.
func encodeRecord(c *dirbook.Card, rev uint64, entryID string) (record []byte, etag string) {
	size := 96 + len(c.UID) + len(entryID)
	for _, p := range c.Props {
		size += 32 + len(p.Field) + len(p.Name) + len(p.MediaType)
		for _, v := range p.Values {
			size += 4 + len(v)*4/3
		}
		for _, t := range p.Types {
			size += 4 + len(t)
		}
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"card":`...)
	start := len(buf)
	buf = appendCard(buf, c)
	etag = etagOf(buf[start:])
	buf = append(buf, `,"etag":"`...)
	buf = append(buf, etag...) // hex: needs no escaping
	buf = append(buf, `","rev":`...)
	buf = strconv.AppendUint(buf, rev, 10)
	if entryID != "" {
		buf = append(buf, `,"id":`...)
		buf = appendString(buf, entryID)
	}
	return append(buf, '}'), etag
}

// encodeLog returns the JSON of a revision's log entry.
func encodeLog(ops []logOp) []byte {
	buf := make([]byte, 0, 2+len(ops)*80)
	buf = append(buf, '[')
	for i, op := range ops {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"book":`...)
		buf = appendString(buf, op.Book)
		buf = append(buf, `,"uid":`...)
		buf = appendString(buf, op.UID)
		buf = append(buf, `,"op":`...)
		buf = appendString(buf, op.Op)
		buf = append(buf, '}')
	}
	return append(buf, ']')
}

func decodeRecord(v []byte) (*dirbook.StoredCard, string, error) {
	var rec cardRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, "", err
	}
	c, err := decodeCard(rec.Card)
	if err != nil {
		return nil, "", err
	}
	return &dirbook.StoredCard{Card: *c, ETag: rec.ETag, Revision: rec.Revision}, rec.EntryID, nil
}

func uintKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, n)
}

func getUint(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
