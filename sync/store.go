package sync

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dirbook/dirbook"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// formatVersion is the layout of the store file this code reads and writes.
// Version 1 had no store ID, tombstones or revision times; Open upgrades
// such a file in place (its books' history starts at the revision it is at).
// Version 2 had no people index and no feed states; Open adds their empty
// buckets (the index counts as missing until a plan writes it).
const formatVersion = 3

// Bucket and key names of the store file. The layout:
//
//	meta        "revision" → uint64 big-endian; "time" → RFC 3339 UTC text;
//	            "format" → uint64 big-endian (formatVersion);
//	            "store_id" → 32 hex digits, made at random at creation;
//	            "index" → the fingerprint of the engine configuration the
//	            people index was made with (absent: no valid index);
//	            "reconciled" → RFC 3339 UTC text, the last plan from a
//	            whole read by an engine with change feeds
//	books       book ID → {"book":{"id","name","description"},"rev":N,"pos":N,"from":N}
//	            (rev: the book's last change; from: its HistoryFrom)
//	cards       one nested bucket per book ID:
//	            card UID → {"card":<canonical card JSON>,"etag":"…","rev":N,"id":"<entry ID, if not the UID>"}
//	tombstones  one nested bucket per book ID:
//	            UID of a removed card → uint64 big-endian revision that removed it
//	access      login → JSON list of book IDs (logins reading no book are absent)
//	log         revision (uint64 big-endian) →
//	            {"time":"<RFC 3339>","ops":[{"book","uid","op":"put"|"del"},…]}
//	people      entry ID of each person of the revision →
//	            {"s":"<source name>","l":["<lower-case login value>",…],
//	            "d":"<digest of the entry>","m":true (map again),
//	            "x":"<excluded reason>"}
//	logins      lower-case login value → entry ID of the person holding it
//	feeds       source name → the state of its change feed, as the source
//	            returned it with the changes the revision contains
//
// The people, logins and feeds buckets and the meta keys about them are
// written in the transaction that publishes the revision they describe
// (see index.go).
//
// The log and the tombstones cover the history retention
// (StoreOptions.HistoryRetention): each publish drops the log entries and
// the tombstones of revisions published before it, and raises the
// HistoryFrom of each book that lost tombstones to the newest revision
// dropped.
var (
	bucketMeta       = []byte("meta")
	bucketBooks      = []byte("books")
	bucketCards      = []byte("cards")
	bucketTombstones = []byte("tombstones")
	bucketAccess     = []byte("access")
	bucketLog        = []byte("log")
	bucketPeople     = []byte("people")
	bucketLogins     = []byte("logins")
	bucketFeeds      = []byte("feeds")
	bucketStaging    = []byte("staging")

	keyRevision   = []byte("revision")
	keyTime       = []byte("time")
	keyFormat     = []byte("format")
	keyStoreID    = []byte("store_id")
	keyIndex      = []byte("index")
	keyReconciled = []byte("reconciled")
)

// defaultTimeout is how long a lock is waited for when StoreOptions.Timeout
// is zero.
const defaultTimeout = time.Second

// defaultRetention is the history kept when StoreOptions.HistoryRetention
// is zero.
const defaultRetention = 30 * 24 * time.Hour

// StoreOptions configures Open and OpenReadOnly.
type StoreOptions struct {
	// Timeout is how long to wait for a lock held by another process: the
	// writer lock in Open, and the store file's lock while another process
	// publishes or reads it. If zero, one second is used.
	Timeout time.Duration
	// HistoryRetention is how long the removals of cards (tombstones) and
	// the revision log are kept: a client whose sync token is older must
	// download its books again. Each publish drops what older revisions
	// left. If zero, 30 days are kept; if negative, everything is kept.
	HistoryRetention time.Duration
}

// Store keeps published revisions in a bbolt file and the current one in
// memory.
//
// A store opened with Open is the only writer: it holds the lock file
// "<path>.lock" until Close, so a second writer fails with an error wrapping
// dirbook.ErrLocked. It opens the bbolt file for writing only while
// publishing, and otherwise at most for reading (see Cards), so that
// OpenReadOnly (a dry run) can read the file beside a running server.
type Store struct {
	path      string
	timeout   time.Duration
	retention time.Duration // <= 0: keep everything
	readOnly  bool
	now       func() time.Time

	mu     sync.Mutex // serialises Publish and Close
	lock   *fileLock  // nil when read-only or closed
	closed bool

	rmu          sync.Mutex     // guards reader and readerClosed; held while the store writes
	reader       *reader        // see Cards; nil when not open
	retired      sync.WaitGroup // closes readers replaced after readerRecycle bytes
	readerClosed bool           // Close was called

	state atomic.Pointer[state]
}

// state is what a Store keeps in memory: the current revision, and for
// each published card whose UID differs from the ID of the directory entry
// it was made from, that ID (the engine uses it to tell why a card went
// away).
type state struct {
	rev     *dirbook.Revision
	entries map[string]string
	// byEntry is the reverse of entries: entry ID → the UIDs of its cards
	// that differ from it.
	byEntry map[string][]string
	// times lists the revisions the log holds, oldest first.
	times []revTime
	// feeds maps source names to the feed states stored with rev.
	feeds map[string][]byte
	// index is the fingerprint the people index of rev was made with; ""
	// when there is no valid index.
	index string
	// reconciled is the time of the last plan from a whole read by an
	// engine with change feeds.
	reconciled time.Time
}

// revTime is a revision and the time it was published.
type revTime struct {
	num  uint64
	time time.Time
}

// entryID returns the ID of the entry the published card uid was made from.
func (st *state) entryID(uid string) string {
	if id, ok := st.entries[uid]; ok {
		return id
	}
	return uid
}

// lockedError reports a store used by another process: its writer lock
// (another sync or a running serve), or, when file is set, the store file
// itself (another process is publishing or reading it right now).
type lockedError struct {
	path string
	file bool
}

func (e *lockedError) Error() string {
	if e.file {
		return fmt.Sprintf("sync: store %s is busy: another dirbook process kept it locked for longer than the timeout", e.path)
	}
	return fmt.Sprintf("sync: store %s is in use by another dirbook process (a running serve or sync holds %s.lock); only one may sync into a store at a time", e.path, e.path)
}

func (e *lockedError) Unwrap() error { return dirbook.ErrLocked }

// Open opens the store file at path for publishing, creating it when it does
// not exist, and loads the current revision. It fails with an error wrapping
// dirbook.ErrLocked when another process has the store open for publishing.
func Open(path string, opts *StoreOptions) (*Store, error) {
	s := newStore(path, opts, false)
	lk, err := acquireLock(path+".lock", s.timeout)
	if errors.Is(err, errLockTimeout) {
		return nil, &lockedError{path: path}
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
	s := &Store{path: path, timeout: defaultTimeout, retention: defaultRetention, readOnly: readOnly, now: time.Now}
	if opts != nil {
		if opts.Timeout > 0 {
			s.timeout = opts.Timeout
		}
		if opts.HistoryRetention != 0 {
			s.retention = opts.HistoryRetention
		}
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
	return s.openDBWith(opts)
}

// openDBWith opens the bbolt file with opts, mapping a lock timeout to
// lockedError.
func (s *Store) openDBWith(opts *bolt.Options) (*bolt.DB, error) {
	db, err := bolt.Open(s.path, 0o600, opts)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, &lockedError{path: s.path, file: true}
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
// when nothing was published yet. Its StoreID is empty only for a store
// opened read-only whose file does not exist yet (or predates store IDs).
// The revision must not be modified.
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
	rerr := s.releaseReader()
	s.readerClosed = true
	s.unlockReader()
	if s.lock == nil {
		return rerr
	}
	err := s.lock.release()
	s.lock = nil
	if err != nil {
		return fmt.Errorf("sync: release lock of %s: %w", s.path, err)
	}
	return rerr
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

	// accessPatch makes Access list only the logins whose books change
	// (an empty list: the login reads nothing any more); the others keep
	// theirs. Engine plans from change feeds set it.
	accessPatch bool
	// feeds holds the feed states and index changes an engine stores
	// with the revision; nil (Store.Publish) invalidates the index.
	feeds *feedChanges
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

	// enc, set by engines instead of Card, is the card already encoded.
	enc *encoded
}

// encoded is a card in the form a plan keeps it: its canonical JSON (see
// appendCard) and ETag, without the dirbook.Card, which costs several
// times as much memory.
type encoded struct {
	uid, fn string
	json    []byte // nil when spooled, or for a card kept as published
	etag    string
	// sp holds the JSON, at off, n bytes long, when the plan's spool
	// moved it there (see spool).
	sp  *spool
	off int64
	n   int
}

// newEncoded returns the encoded form of c. Its JSON is allocated at its
// exact size: a plan holds one per card.
func newEncoded(c *dirbook.Card) *encoded {
	buf := scratch.Get().(*[]byte)
	canon := appendCard((*buf)[:0], c)
	enc := &encoded{uid: c.UID, fn: strings.Clone(c.FN()), json: bytes.Clone(canon), etag: etagOf(canon)}
	if cap(canon) <= 1<<20 {
		*buf = canon
		scratch.Put(buf)
	}
	return enc
}

// scratch holds buffers for newEncoded.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// encoded returns the card p writes, encoded.
func (p *CardPut) encoded() *encoded {
	if p.enc != nil {
		return p.enc
	}
	return newEncoded(p.Card)
}

// uid returns the UID of the card p writes.
func (p *CardPut) uid() string {
	if p.enc != nil {
		return p.enc.uid
	}
	return p.Card.UID
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
	From     uint64       `json:"from,omitempty"`
}

// cardRecord is the value of a card in a cards bucket.
type cardRecord struct {
	Card     json.RawMessage `json:"card"` // canonical card JSON, see appendCard
	ETag     string          `json:"etag"`
	Revision uint64          `json:"rev"`
	EntryID  string          `json:"id,omitempty"`
}

// bookWrite is a book's part of a prepared publish. A nil record drops the
// book with its cards and tombstones.
type bookWrite struct {
	id      string
	record  []byte
	puts    []cardWrite
	deletes []string
	// tombPut lists the UIDs that get a tombstone of the new revision;
	// tombDel the UIDs whose tombstone goes (the card came back, or the
	// tombstone is older than the retention).
	tombPut, tombDel []string
	// staged lists, sorted by UID, the cards of a book that had none,
	// written in chunks before the publishing transaction (see stage);
	// puts is then empty.
	staged []stagedCard
}

// stagedCard is a card written by stage; stage sets the ETag of stored.
type stagedCard struct {
	uid     string
	put     *CardPut
	entryID string
	stored  *dirbook.StoredCard
}

type cardWrite struct {
	uid   string
	value []byte
}

// publication is a prepared publish: the next in-memory state and what to
// write.
type publication struct {
	next   *state
	writes []bookWrite
	ops    []logOp
	// logCut drops the log entries of the revisions up to it; 0 keeps all.
	logCut uint64
	// accessPut and accessDel are the logins whose books change.
	accessPut map[string][]string
	accessDel []string
	feeds     *feedChanges
}

// Publish writes changes as a new revision in one transaction and then makes
// it current. If anything fails, neither the file nor the current revision
// change. It returns the new revision. (The cards of a book that had none,
// when many, are written in chunks before that transaction, where nothing
// refers to them until it commits; see stage.) A publish through Publish
// keeps no people index: the next Engine.PlanChanges reads everything.
func (s *Store) Publish(ctx context.Context, ch *Changes) (*dirbook.Revision, error) {
	return s.publish(ctx, ch, nil)
}

// publish is Publish; progress, if not nil, is called now and then with the
// number of cards written or deleted so far.
func (s *Store) publish(ctx context.Context, ch *Changes, progress func(int)) (*dirbook.Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.writable(ctx, "publish", ch.Base)
	if err != nil {
		return nil, err
	}
	pub, err := prepare(cur, ch, s.now().UTC(), s.retention)
	if err != nil {
		return nil, err
	}

	grow, staged := 0, false
	for _, bw := range pub.writes {
		staged = staged || len(bw.staged) > 0
		for _, p := range bw.puts {
			grow += len(p.uid) + len(p.value) + 16
		}
		grow += (len(bw.tombPut) + len(bw.deletes)) * 64
	}
	grow += len(pub.ops) * 80
	err = s.releaseReader()
	defer s.unlockReader()
	if err != nil {
		return nil, err
	}
	db, err := s.openDB(grow)
	if err != nil {
		return nil, err
	}
	next := pub.next
	if staged {
		err = stage(ctx, db, pub, progress)
	}
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			return write(ctx, tx, cur.rev.Number, pub, progress)
		})
	}
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

// writable returns the current state when the store may write changes
// made against the revision base; op names the write in errors. s.mu
// must be held.
func (s *Store) writable(ctx context.Context, op string, base uint64) (*state, error) {
	if s.readOnly {
		return nil, fmt.Errorf("sync: store %s is open read-only", s.path)
	}
	if s.closed {
		return nil, fmt.Errorf("sync: store %s is closed", s.path)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sync: %s: %w", op, err)
	}
	cur := s.state.Load()
	if cur.rev.Number != base {
		return nil, fmt.Errorf("sync: plan is stale: made against revision %d, the store is at %d", base, cur.rev.Number)
	}
	return cur, nil
}

// checkRevision fails when the file, whose meta bucket is meta, is not
// at the revision base: another process changed it.
func checkRevision(meta *bolt.Bucket, base uint64) error {
	if got := getUint(meta, keyRevision); got != base {
		return fmt.Errorf("file is at revision %d, expected %d: it was changed by another process", got, base)
	}
	return nil
}

// Staging: a publish that writes stageMin cards or more into a book that
// has none (the first sync of a directory) writes them in transactions of
// stageChunk cards into a bucket of the staging bucket first, which the
// publishing transaction then moves into place. A transaction holds its
// writes in memory until it commits, as encoded records and again as
// pages: staging bounds that to a chunk instead of the whole directory.
// Until the publishing transaction commits, nothing refers to the staged
// cards: a failure or crash leaves the previous revision as it was, and
// the next publish deletes what is left.
var (
	stageMin   = 16384
	stageChunk = 8192
)

// stage writes the staged cards of pub, and sets their ETags.
func stage(ctx context.Context, db *bolt.DB, pub *publication, progress func(int)) error {
	first, n := true, 0
	for _, bw := range pub.writes {
		for start := 0; start < len(bw.staged); start += stageChunk {
			chunk := bw.staged[start:min(start+stageChunk, len(bw.staged))]
			err := db.Update(func(tx *bolt.Tx) error {
				if first && tx.Bucket(bucketStaging) != nil {
					if err := tx.DeleteBucket(bucketStaging); err != nil {
						return err
					}
				}
				parent, err := tx.CreateBucketIfNotExists(bucketStaging)
				if err != nil {
					return err
				}
				b, err := parent.CreateBucketIfNotExists([]byte(bw.id))
				if err != nil {
					return err
				}
				b.FillPercent = 0.9 // puts arrive in key order
				for _, c := range chunk {
					enc := c.put.encoded()
					c.stored.ETag = enc.etag
					canon, err := enc.canonical()
					if err != nil {
						return err
					}
					if err := b.Put([]byte(c.uid), encodeRecord(canon, enc.etag, c.stored.Revision, c.entryID)); err != nil {
						return fmt.Errorf("put card %q: %w", c.uid, err)
					}
				}
				return ctx.Err()
			})
			if err != nil {
				return fmt.Errorf("stage book %q: %w", bw.id, err)
			}
			first = false
			if n += len(chunk); progress != nil {
				progress(n)
			}
		}
	}
	return nil
}

// historyCut returns the newest revision of times published before
// now - retention, whose history a publish at now drops; 0 when there is
// none or retention is not positive.
func historyCut(times []revTime, now time.Time, retention time.Duration) uint64 {
	if retention <= 0 {
		return 0
	}
	limit := now.Add(-retention)
	var cut uint64
	for _, rt := range times {
		if !rt.time.Before(limit) {
			break
		}
		cut = rt.num
	}
	return cut
}

// prepare builds the next in-memory state and the encoded records of a
// publish, without touching the file.
func prepare(cur *state, ch *Changes, now time.Time, retention time.Duration) (*publication, error) {
	num := cur.rev.Number + 1
	cut := historyCut(cur.times, now, retention)
	next := &state{
		rev: &dirbook.Revision{
			Number:  num,
			StoreID: cur.rev.StoreID,
			Time:    now,
			Books:   make([]*dirbook.BookState, 0, len(ch.Books)),
		},
		entries:    maps.Clone(cur.entries),
		byEntry:    maps.Clone(cur.byEntry),
		feeds:      cur.feeds,
		index:      cur.index,
		reconciled: cur.reconciled,
	}
	next.applyFeeds(ch.feeds)
	for _, rt := range cur.times {
		if rt.num > cut {
			next.times = append(next.times, rt)
		}
	}
	next.times = append(next.times, revTime{num: num, time: now})
	pub := &publication{next: next, logCut: cut, feeds: ch.feeds}

	var freed []string // UIDs deleted somewhere; their entries are dropped if no book keeps them
	seen := make(map[string]bool, len(ch.Books))
	for pos, bc := range ch.Books {
		if seen[bc.Book.ID] {
			return nil, fmt.Errorf("sync: book %q listed twice", bc.Book.ID)
		}
		seen[bc.Book.ID] = true
		old := cur.rev.Book(bc.Book.ID)
		bw := bookWrite{id: bc.Book.ID}
		changed := old == nil || old.Book != bc.Book

		staging := len(bc.Put) >= stageMin && (old == nil || len(old.Cards) == 0)
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
		for i := range bc.Put {
			p := &bc.Put[i]
			if p.Card == nil && p.enc == nil {
				return nil, fmt.Errorf("sync: book %q: nil card", bc.Book.ID)
			}
			uid := p.uid()
			if deleted[uid] {
				return nil, fmt.Errorf("sync: book %q: card %q is both written and deleted", bc.Book.ID, uid)
			}
			if put[uid] != nil {
				return nil, fmt.Errorf("sync: book %q: card %q written twice", bc.Book.ID, uid)
			}
			entryID := p.EntryID
			if entryID == uid {
				entryID = "" // the common case: not worth storing twice
			}
			if staging {
				// Encoded and hashed while staged (see stage).
				sc := &dirbook.StoredCard{UID: uid, Revision: num}
				put[uid] = sc
				bw.staged = append(bw.staged, stagedCard{uid: uid, put: p, entryID: entryID, stored: sc})
				next.setEntry(uid, entryID)
				continue
			}
			enc := p.encoded()
			if old != nil {
				if prev := old.Cards[uid]; prev != nil && prev.ETag == enc.etag {
					put[uid] = prev
					continue
				}
			}
			canon, err := enc.canonical()
			if err != nil {
				return nil, err
			}
			sc := &dirbook.StoredCard{UID: uid, ETag: enc.etag, Revision: num}
			put[uid] = sc
			puts = append(puts, cardWrite{uid: uid, value: encodeRecord(canon, enc.etag, num, entryID)})
			next.setEntry(uid, entryID)
		}
		slices.SortFunc(puts, func(a, b cardWrite) int { return cmp.Compare(a.uid, b.uid) })
		slices.SortFunc(bw.staged, func(a, b stagedCard) int { return cmp.Compare(a.uid, b.uid) })
		slices.Sort(bw.deletes)
		bw.puts = puts
		if len(puts) > 0 || len(bw.staged) > 0 || len(bw.deletes) > 0 {
			changed = true
		}

		// History: tombstones for the deleted cards, none for cards that
		// come back, and none older than the retention.
		var oldRemoved map[string]uint64
		from := num // a new book has no history before it
		if old != nil {
			oldRemoved, from = old.Removed, old.HistoryFrom
		}
		for uid, r := range oldRemoved {
			switch {
			case r <= cut:
				from = max(from, r)
			case put[uid] != nil && old.Cards[uid] == nil:
			default:
				continue
			}
			bw.tombDel = append(bw.tombDel, uid)
		}
		slices.Sort(bw.tombDel)
		bw.tombPut = bw.deletes
		removed := oldRemoved
		if len(bw.tombDel) > 0 || len(bw.tombPut) > 0 || removed == nil {
			removed = make(map[string]uint64, len(oldRemoved)+len(bw.tombPut)-len(bw.tombDel))
			maps.Copy(removed, oldRemoved)
			for _, uid := range bw.tombDel {
				delete(removed, uid)
			}
			for _, uid := range bw.tombPut {
				removed[uid] = num
			}
		}

		var bs *dirbook.BookState
		switch {
		case !changed && len(bw.tombDel) == 0:
			bs = old
		case !changed:
			// Only history was dropped: same content, same ctag.
			c := *old
			c.Removed, c.HistoryFrom = removed, from
			bs = &c
		default:
			bs = &dirbook.BookState{Book: bc.Book, Revision: num, Removed: removed, HistoryFrom: from}
			size := len(put)
			if old != nil {
				size += len(old.Cards)
			}
			if old != nil && len(put) < len(old.Cards)/4 {
				// Few changes: cloning copies the map's table as it is,
				// much faster than inserting every card again.
				bs.Cards = maps.Clone(old.Cards)
			} else {
				bs.Cards = make(map[string]*dirbook.StoredCard, size)
				if old != nil {
					maps.Copy(bs.Cards, old.Cards)
				}
			}
			var added []string
			for uid, sc := range put {
				if _, ok := bs.Cards[uid]; !ok {
					added = append(added, uid)
				}
				bs.Cards[uid] = sc
			}
			for _, uid := range bw.deletes {
				delete(bs.Cards, uid)
			}
			switch {
			case old == nil:
				bs.UIDs = slices.Sorted(maps.Keys(bs.Cards))
			case len(added) == 0 && len(bw.deletes) == 0:
				bs.UIDs = old.UIDs
			default:
				bs.UIDs = mergeUIDs(old.UIDs, added, bw.deletes, len(bs.Cards))
			}
		}
		next.rev.Books = append(next.rev.Books, bs)

		rec, err := json.Marshal(bookRecord{Book: bc.Book, Revision: bs.Revision, Position: pos, From: bs.HistoryFrom})
		if err != nil {
			return nil, fmt.Errorf("sync: book %q: %w", bc.Book.ID, err)
		}
		bw.record = rec
		pub.writes = append(pub.writes, bw)
		for _, p := range puts {
			pub.ops = append(pub.ops, logOp{Book: bc.Book.ID, UID: p.uid, Op: "put"})
		}
		for _, c := range bw.staged {
			pub.ops = append(pub.ops, logOp{Book: bc.Book.ID, UID: c.uid, Op: "put"})
		}
		for _, uid := range bw.deletes {
			pub.ops = append(pub.ops, logOp{Book: bc.Book.ID, UID: uid, Op: "del"})
		}
		freed = append(freed, bw.deletes...)
	}
	// Books no longer configured go away with their cards and history.
	for _, old := range cur.rev.Books {
		if seen[old.ID] {
			continue
		}
		pub.writes = append(pub.writes, bookWrite{id: old.ID})
		for _, uid := range old.UIDs {
			pub.ops = append(pub.ops, logOp{Book: old.ID, UID: uid, Op: "del"})
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
			next.setEntry(uid, "")
		}
	}
	prepareAccess(cur.rev.Access, ch, next.rev, pub)
	return pub, nil
}

// mergeUIDs returns the sorted UIDs of old without the sorted deleted,
// with added (not in old) inserted: n in all.
func mergeUIDs(old, added, deleted []string, n int) []string {
	slices.Sort(added)
	out := make([]string, 0, n)
	i, j, k := 0, 0, 0
	for i < len(old) || j < len(added) {
		if i < len(old) && (j == len(added) || old[i] < added[j]) {
			for k < len(deleted) && deleted[k] < old[i] {
				k++
			}
			if k < len(deleted) && deleted[k] == old[i] {
				i++
				continue
			}
			out = append(out, old[i])
			i++
			continue
		}
		out = append(out, added[j])
		j++
	}
	return out
}

// setEntry records that the card uid was made from the entry entryID; ""
// means from the entry of the same ID (or that the card is gone).
func (st *state) setEntry(uid, entryID string) {
	if old, ok := st.entries[uid]; ok {
		if old == entryID {
			return
		}
		delete(st.entries, uid)
		uids := slices.DeleteFunc(slices.Clone(st.byEntry[old]), func(u string) bool { return u == uid })
		if len(uids) == 0 {
			delete(st.byEntry, old)
		} else {
			st.byEntry[old] = uids
		}
	}
	if entryID != "" {
		st.entries[uid] = entryID
		st.byEntry[entryID] = append(slices.Clip(st.byEntry[entryID]), uid)
	}
}

// prepareAccess sets the access map of next from the current one and ch,
// and the logins whose books change in pub.
func prepareAccess(cur map[string][]string, ch *Changes, next *dirbook.Revision, pub *publication) {
	pub.accessPut = map[string][]string{}
	if ch.accessPatch {
		next.Access = maps.Clone(cur)
		if next.Access == nil {
			next.Access = map[string][]string{}
		}
		for _, login := range sortedKeys(ch.Access) {
			ids := ch.Access[login]
			if len(ids) == 0 {
				if _, ok := next.Access[login]; ok {
					delete(next.Access, login)
					pub.accessDel = append(pub.accessDel, login)
				}
				continue
			}
			if !slices.Equal(cur[login], ids) {
				next.Access[login] = slices.Clone(ids)
				pub.accessPut[login] = next.Access[login]
			}
		}
		return
	}
	next.Access = make(map[string][]string, len(ch.Access))
	for login, ids := range ch.Access {
		if len(ids) == 0 {
			continue
		}
		if old, ok := cur[login]; ok && slices.Equal(old, ids) {
			next.Access[login] = old
			continue
		}
		next.Access[login] = slices.Clone(ids)
		pub.accessPut[login] = next.Access[login]
	}
	for login := range cur {
		if _, ok := next.Access[login]; !ok {
			pub.accessDel = append(pub.accessDel, login)
		}
	}
	slices.Sort(pub.accessDel)
}

// write stores a prepared publish in tx. base is the revision the file must
// be at.
func write(ctx context.Context, tx *bolt.Tx, base uint64, pub *publication, progress func(int)) error {
	rev := pub.next.rev
	meta := tx.Bucket(bucketMeta)
	books := tx.Bucket(bucketBooks)
	cards := tx.Bucket(bucketCards)
	tombs := tx.Bucket(bucketTombstones)
	access := tx.Bucket(bucketAccess)
	log := tx.Bucket(bucketLog)
	if meta == nil || books == nil || cards == nil || tombs == nil || access == nil || log == nil {
		return errors.New("missing buckets")
	}
	if err := checkRevision(meta, base); err != nil {
		return err
	}
	n := 0
	step := func() error {
		if n++; n%4096 == 0 {
			if progress != nil {
				progress(n)
			}
			return ctx.Err()
		}
		return nil
	}
	staging := tx.Bucket(bucketStaging)
	for _, bw := range pub.writes {
		id := []byte(bw.id)
		if len(bw.staged) > 0 {
			// The staged cards become the book's cards.
			if staging == nil || staging.Bucket(id) == nil {
				return fmt.Errorf("book %q: staged cards missing", bw.id)
			}
			if cards.Bucket(id) != nil {
				if err := cards.DeleteBucket(id); err != nil {
					return fmt.Errorf("book %q: %w", bw.id, err)
				}
			}
			if err := tx.MoveBucket(id, staging, cards); err != nil {
				return fmt.Errorf("book %q: move staged cards: %w", bw.id, err)
			}
			n += len(bw.staged)
		}
		if bw.record == nil {
			if err := books.Delete(id); err != nil {
				return fmt.Errorf("book %q: %w", bw.id, err)
			}
			for _, parent := range []*bolt.Bucket{cards, tombs} {
				if parent.Bucket(id) != nil {
					if err := parent.DeleteBucket(id); err != nil {
						return fmt.Errorf("book %q: %w", bw.id, err)
					}
				}
			}
			continue
		}
		if err := books.Put(id, bw.record); err != nil {
			return fmt.Errorf("book %q: %w", bw.id, err)
		}
		b, err := cards.CreateBucketIfNotExists(id)
		if err != nil {
			return fmt.Errorf("book %q: %w", bw.id, err)
		}
		b.FillPercent = 0.9 // puts arrive in key order
		for _, uid := range bw.deletes {
			if err := step(); err != nil {
				return err
			}
			if err := b.Delete([]byte(uid)); err != nil {
				return fmt.Errorf("book %q: delete card %q: %w", bw.id, uid, err)
			}
		}
		for _, p := range bw.puts {
			if err := step(); err != nil {
				return err
			}
			if err := b.Put([]byte(p.uid), p.value); err != nil {
				return fmt.Errorf("book %q: put card %q: %w", bw.id, p.uid, err)
			}
		}
		if len(bw.tombDel)+len(bw.tombPut) == 0 {
			continue
		}
		tb, err := tombs.CreateBucketIfNotExists(id)
		if err != nil {
			return fmt.Errorf("book %q: %w", bw.id, err)
		}
		for _, uid := range bw.tombDel {
			if err := tb.Delete([]byte(uid)); err != nil {
				return fmt.Errorf("book %q: tombstone %q: %w", bw.id, uid, err)
			}
		}
		value := uintKey(rev.Number)
		for _, uid := range bw.tombPut {
			if err := tb.Put([]byte(uid), value); err != nil {
				return fmt.Errorf("book %q: tombstone %q: %w", bw.id, uid, err)
			}
		}
	}

	if staging != nil {
		// What is left: staged by a publish that failed.
		if err := tx.DeleteBucket(bucketStaging); err != nil {
			return fmt.Errorf("staging: %w", err)
		}
	}

	// Access: only the logins whose books change.
	for _, login := range pub.accessDel {
		if err := access.Delete([]byte(login)); err != nil {
			return fmt.Errorf("access %q: %w", login, err)
		}
	}
	for _, login := range sortedKeys(pub.accessPut) {
		if err := access.Put([]byte(login), appendStrings(nil, pub.accessPut[login])); err != nil {
			return fmt.Errorf("access %q: %w", login, err)
		}
	}
	if err := writeFeeds(tx, pub.feeds); err != nil {
		return err
	}

	if pub.logCut > 0 {
		c := log.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= pub.logCut; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return fmt.Errorf("log: %w", err)
			}
		}
	}
	if err := log.Put(uintKey(rev.Number), encodeLog(rev.Time, pub.ops)); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if progress != nil {
		progress(n)
	}
	if err := meta.Put(keyTime, []byte(rev.Time.Format(time.RFC3339Nano))); err != nil {
		return err
	}
	return meta.Put(keyRevision, uintKey(rev.Number))
}

// newStoreID returns a new random store ID: 16 bytes in hex.
func newStoreID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("sync: random store ID: %v", err)) // crypto/rand does not fail
	}
	return hex.EncodeToString(b[:])
}

// initAndRead creates missing buckets, the format key and the store ID,
// upgrades a file of an older format, checks the format, and reads the
// file's content. It writes only when something is missing, so opening an
// up-to-date store leaves the file as it is.
func initAndRead(db *bolt.DB) (*snapshot, error) {
	buckets := [][]byte{bucketMeta, bucketBooks, bucketCards, bucketTombstones, bucketAccess, bucketLog, bucketPeople, bucketLogins, bucketFeeds}
	var snap *snapshot
	complete := false
	err := db.View(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if tx.Bucket(name) == nil {
				return nil
			}
		}
		meta := tx.Bucket(bucketMeta)
		if getUint(meta, keyFormat) < formatVersion || len(meta.Get(keyStoreID)) == 0 {
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
			if f := meta.Get(keyFormat); f != nil && getUint(meta, keyFormat) < 2 {
				if err := upgrade(tx); err != nil {
					return fmt.Errorf("upgrade: %w", err)
				}
			}
			if getUint(meta, keyFormat) < formatVersion {
				if err := meta.Put(keyFormat, uintKey(formatVersion)); err != nil {
					return err
				}
			}
			if len(meta.Get(keyStoreID)) == 0 {
				if err := meta.Put(keyStoreID, []byte(newStoreID())); err != nil {
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

// upgrade brings a format 1 file to format 2 (format 3 only adds buckets): its removals were not
// recorded, so each book's history starts at the file's revision.
func upgrade(tx *bolt.Tx) error {
	rev := getUint(tx.Bucket(bucketMeta), keyRevision)
	books := tx.Bucket(bucketBooks)
	type kv struct{ k, v []byte }
	var recs []kv
	err := books.ForEach(func(k, v []byte) error {
		var rec bookRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("book %q: %w", k, err)
		}
		rec.From = max(rec.From, rev)
		nv, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		recs = append(recs, kv{bytes.Clone(k), nv})
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := books.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

// snapshot is the content of a store file, copied out of a transaction.
type snapshot struct {
	revision   uint64
	storeID    string
	time       time.Time
	books      []rawBook
	access     map[string][]byte
	times      []revTime
	feeds      map[string][]byte
	index      string
	reconciled time.Time
}

// rawBook is a book read from the file. Its cards are decoded within the
// transaction (decoding copies what it keeps), so that the file's pages
// need not be copied first.
type rawBook struct {
	record   bookRecord
	keys     []string
	cards    []*dirbook.StoredCard
	entryIDs []string // per card; "" when the entry ID is the UID
	tombs    map[string]uint64
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
		snap.storeID = string(meta.Get(keyStoreID))
		snap.index = string(meta.Get(keyIndex))
		var err error
		if snap.reconciled, err = metaTime(meta, keyReconciled); err != nil {
			return nil, err
		}
		if snap.time, err = metaTime(meta, keyTime); err != nil {
			return nil, err
		}
	}
	cards := tx.Bucket(bucketCards)
	tombs := tx.Bucket(bucketTombstones)
	if books := tx.Bucket(bucketBooks); books != nil {
		err := books.ForEach(func(k, v []byte) error {
			rb := rawBook{tombs: map[string]uint64{}}
			if err := json.Unmarshal(v, &rb.record); err != nil {
				return fmt.Errorf("book %q: %w", k, err)
			}
			if cards != nil {
				if b := cards.Bucket(k); b != nil {
					c := b.Cursor()
					for k, v := c.First(); k != nil; k, v = c.Next() {
						m, err := decodeMeta(v)
						if err != nil {
							return fmt.Errorf("book %q: card %q: %w", rb.record.Book.ID, k, err)
						}
						uid := string(k)
						rb.keys = append(rb.keys, uid)
						rb.cards = append(rb.cards, &dirbook.StoredCard{UID: uid, ETag: m.etag, Revision: m.rev})
						rb.entryIDs = append(rb.entryIDs, m.entryID)
					}
				}
			}
			if tombs != nil {
				if b := tombs.Bucket(k); b != nil {
					if err := b.ForEach(func(uid, rev []byte) error {
						if len(rev) != 8 {
							return fmt.Errorf("book %q: tombstone %q: bad revision", k, uid)
						}
						rb.tombs[string(uid)] = binary.BigEndian.Uint64(rev)
						return nil
					}); err != nil {
						return err
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
	if feeds := tx.Bucket(bucketFeeds); feeds != nil {
		snap.feeds = map[string][]byte{}
		if err := feeds.ForEach(func(k, v []byte) error {
			snap.feeds[string(k)] = bytes.Clone(v)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if log := tx.Bucket(bucketLog); log != nil {
		if err := log.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("log: bad key %q", k)
			}
			snap.times = append(snap.times, revTime{num: binary.BigEndian.Uint64(k), time: logTime(v)})
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// metaTime returns the time stored under key in meta, or the zero time
// when there is none.
func metaTime(meta *bolt.Bucket, key []byte) (time.Time, error) {
	v := meta.Get(key)
	if v == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("meta %s: %w", key, err)
	}
	return t, nil
}

// decode builds the in-memory state from a snapshot.
func (snap *snapshot) decode() (*state, error) {
	st := emptyState()
	st.rev.Number = snap.revision
	st.rev.StoreID = snap.storeID
	st.rev.Time = snap.time
	st.times = snap.times
	st.feeds = snap.feeds
	st.index = snap.index
	st.reconciled = snap.reconciled
	slices.SortStableFunc(snap.books, func(a, b rawBook) int { return cmp.Compare(a.record.Position, b.record.Position) })
	for _, rb := range snap.books {
		bs := &dirbook.BookState{
			Book:        rb.record.Book,
			Cards:       make(map[string]*dirbook.StoredCard, len(rb.keys)),
			UIDs:        rb.keys,
			Revision:    rb.record.Revision,
			Removed:     rb.tombs,
			HistoryFrom: rb.record.From,
		}
		for i, uid := range rb.keys {
			bs.Cards[uid] = rb.cards[i]
			if id := rb.entryIDs[i]; id != "" {
				st.setEntry(uid, id)
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
		byEntry: map[string][]string{},
	}
}

// encodeRecord returns the JSON of the cardRecord of a card, written by
// hand around its canonical JSON.
func encodeRecord(canon []byte, etag string, rev uint64, entryID string) []byte {
	buf := make([]byte, 0, len(canon)+len(etag)+len(entryID)+48)
	buf = append(buf, `{"card":`...)
	buf = append(buf, canon...)
	buf = append(buf, `,"etag":"`...)
	buf = append(buf, etag...) // hex: needs no escaping
	buf = append(buf, `","rev":`...)
	buf = strconv.AppendUint(buf, rev, 10)
	if entryID != "" {
		buf = append(buf, `,"id":`...)
		buf = appendString(buf, entryID)
	}
	return append(buf, '}')
}

// logEntry is the value of a revision in the log bucket.
type logEntry struct {
	Time time.Time `json:"time"`
	Ops  []logOp   `json:"ops"`
}

// logTimePrefix starts every log value, so that logTime finds the time
// without decoding the operations.
const logTimePrefix = `{"time":"`

// encodeLog returns the JSON of a revision's log entry: the logEntry of t
// and ops, as encoding/json writes it.
func encodeLog(t time.Time, ops []logOp) []byte {
	buf := make([]byte, 0, 48+len(ops)*80)
	buf = append(buf, logTimePrefix...)
	buf = t.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","ops":[`...)
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
	return append(buf, "]}"...)
}

// logTime returns the time of a log value, or the zero time when it has
// none (format 1 logs held the operations only): such entries count as
// older than any retention.
func logTime(v []byte) time.Time {
	rest, ok := bytes.CutPrefix(v, []byte(logTimePrefix))
	if !ok {
		return time.Time{}
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	if err != nil {
		return time.Time{}
	}
	return t
}

// decodeRecord parses a card record.
func decodeRecord(v []byte) (*dirbook.Card, cardMeta, error) {
	if c, m, ok := decodeRecordFast(v); ok {
		return c, m, nil
	}
	var rec cardRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, cardMeta{}, err
	}
	c, err := decodeCard(rec.Card)
	if err != nil {
		return nil, cardMeta{}, err
	}
	return c, cardMeta{etag: rec.ETag, rev: rec.Revision, entryID: rec.EntryID}, nil
}

// decodeMeta reads the cardMeta of a record, decoding the card only when
// the record is not one encodeRecord wrote.
func decodeMeta(v []byte) (cardMeta, error) {
	if m, ok := recordMeta(v); ok {
		return m, nil
	}
	_, m, err := decodeRecord(v)
	return m, err
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
