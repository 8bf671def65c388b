package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/dirbook/dirbook"
)

// Card contents are not kept in memory: a revision holds each card's UID,
// ETag and revision, and Cards reads the contents from the file when
// they are asked for (the CardDAV side caches what it renders). Reads go
// through a read-only handle of the file that stays open between
// publishes; bbolt maps the file, so the pages a read touches count
// towards the process's resident memory until the mapping goes. The
// handle is therefore replaced after it has read readerRecycle bytes:
// serving a whole book of 100,000 cards with photos then keeps a few tens
// of megabytes of the file resident, not all of it. The pages stay in the
// page cache.
var readerRecycle int64 = 32 << 20

// reader is a read-only handle of the store file.
type reader struct {
	db    *bolt.DB
	read  atomic.Int64   // bytes of records read through db
	users sync.WaitGroup // reads in progress
}

// close closes r once its reads are done.
func (r *reader) close() error {
	r.users.Wait()
	return r.db.Close()
}

// Cards calls fn with the content and ETag of the card of each UID of uids
// in book, as the file holds it now, in one read transaction; a UID the
// book does not hold (any more) is skipped. The content can be of a later
// revision than the one a caller got from Current: a card that changed
// since then comes with its new ETag. An error of fn stops the reading and
// is returned.
func (s *Store) Cards(book string, uids []string, fn func(c *dirbook.Card, etag string) error) error {
	return s.view(func(tx *bolt.Tx, read *atomic.Int64) error {
		return eachCard(tx, read, book, uids, nil, fn)
	})
}

// eachCard calls fn with the content and ETag of the card of each of uids
// in book in tx, adding the bytes read to read. For a UID the book does
// not hold it calls missing, if not nil, and stops at its error.
func eachCard(tx *bolt.Tx, read *atomic.Int64, book string, uids []string, missing func(uid string) error, fn func(c *dirbook.Card, etag string) error) error {
	b := cardsBucket(tx, book)
	for _, uid := range uids {
		var v []byte
		if b != nil {
			v = b.Get([]byte(uid))
		}
		if v == nil {
			if missing != nil {
				if err := missing(uid); err != nil {
					return err
				}
			}
			continue
		}
		read.Add(int64(len(v)))
		c, m, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("sync: book %q: card %q: %w", book, uid, err)
		}
		if err := fn(c, m.etag); err != nil {
			return err
		}
	}
	return nil
}

// Card returns the content and ETag of the card uid of book as the file
// holds it now (see Cards). It fails with an error wrapping
// dirbook.ErrNotFound when the book holds no such card.
func (s *Store) Card(book, uid string) (*dirbook.Card, string, error) {
	var card *dirbook.Card
	var etag string
	err := s.Cards(book, []string{uid}, func(c *dirbook.Card, e string) error {
		card, etag = c, e
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if card == nil {
		return nil, "", fmt.Errorf("sync: book %q: card %q: %w", book, uid, dirbook.ErrNotFound)
	}
	return card, etag, nil
}

// publishedCards calls fn with each published card of uids in book, for
// a plan made against the revision base: changed cards are compared field
// by field, removed ones named. It fails when the file holds another
// revision (a dry run beside a server that published meanwhile).
func (s *Store) publishedCards(base uint64, book string, uids []string, fn func(*dirbook.Card) error) error {
	if len(uids) == 0 {
		return nil
	}
	return s.view(func(tx *bolt.Tx, read *atomic.Int64) error {
		if meta := tx.Bucket(bucketMeta); meta == nil || getUint(meta, keyRevision) != base {
			return fmt.Errorf("sync: %s was published again while planning against revision %d; plan again", s.path, base)
		}
		missing := func(uid string) error {
			return fmt.Errorf("sync: book %q: published card %q missing from %s", book, uid, s.path)
		}
		return eachCard(tx, read, book, uids, missing, func(c *dirbook.Card, _ string) error { return fn(c) })
	})
}

// cardsBucket returns the bucket of the cards of book in tx, or nil.
func cardsBucket(tx *bolt.Tx, book string) *bolt.Bucket {
	cards := tx.Bucket(bucketCards)
	if cards == nil {
		return nil
	}
	return cards.Bucket([]byte(book))
}

// view runs fn in a read transaction of the reader, opening one if
// needed; fn adds the bytes of the records it reads to read. A read-only
// store (a dry run) closes its reader after each call, so that it never
// holds up the publishes of a running server.
func (s *Store) view(fn func(tx *bolt.Tx, read *atomic.Int64) error) error {
	r, err := s.acquireReader()
	if r == nil || err != nil {
		return err
	}
	err = r.db.View(func(tx *bolt.Tx) error {
		return fn(tx, &r.read)
	})
	r.users.Done()
	if s.readOnly {
		s.rmu.Lock()
		if s.reader == r {
			s.reader = nil
		}
		s.rmu.Unlock()
		if cerr := r.close(); err == nil && cerr != nil {
			err = fmt.Errorf("sync: close %s: %w", s.path, cerr)
		}
	}
	return err
}

// acquireReader returns the reader with a use registered, opening or
// replacing it as needed; nil without error when the file does not exist
// (a read-only store of nothing).
func (s *Store) acquireReader() (*reader, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.readerClosed {
		return nil, fmt.Errorf("sync: store %s is closed", s.path)
	}
	if r := s.reader; r != nil && r.read.Load() > readerRecycle {
		s.reader = nil
		s.retired.Go(func() { r.close() }) // once its reads are done; a read-only handle has nothing to report
	}
	if s.reader == nil {
		if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) && s.readOnly {
			return nil, nil
		}
		db, err := s.openDBWith(&bolt.Options{Timeout: s.timeout, ReadOnly: true})
		if err != nil {
			return nil, err
		}
		s.reader = &reader{db: db}
	}
	s.reader.users.Add(1)
	return s.reader, nil
}

// releaseReader closes the reader, waiting for its reads: the file's
// lock must be free before the store opens it for writing. It returns
// with s.rmu held, so that no read starts until unlockReader.
func (s *Store) releaseReader() error {
	s.rmu.Lock()
	r := s.reader
	s.reader = nil
	s.retired.Wait() // replaced readers hold the file's lock until closed
	if r == nil {
		return nil
	}
	if err := r.close(); err != nil {
		return fmt.Errorf("sync: close %s: %w", s.path, err)
	}
	return nil
}

// unlockReader lets reads start again after releaseReader.
func (s *Store) unlockReader() { s.rmu.Unlock() }
