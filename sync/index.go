package sync

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The people index lets a plan made from change feeds work on the people
// the feeds report without reading the rest: for each person of the
// published revision, the source they were read from (for the precedence
// of sources) and the login values they hold (for Access); and for each
// login value, the person holding it. It lives in the store file only
// (buckets people and logins), so that it costs no memory: a plan looks up
// the few people it needs in a read transaction. Plans keep it up to date
// in the transaction that publishes; meta "index" then names the engine
// configuration it was made with (Engine fingerprint). A publish without
// index changes (Store.Publish) removes that key, and a change plan then
// reads everything again.
//
// Each person's record also holds a digest of their entry (entryDigest):
// a full read of an engine with the index's configuration reuses the
// published cards of a person whose entry has the same digest instead of
// mapping it again, which is what most of a full read of an unchanged
// directory costs. People whose mapping warned (the warnings belong in
// every plan), read the clock, or whose cards were left out are marked to
// be mapped again every time.

// personRecord is the value of a person in the people bucket.
type personRecord struct {
	// Source names the source the person was read from.
	Source string `json:"s"`
	// Logins lists the lower-case login values the person holds (those
	// the logins bucket maps to them), sorted.
	Logins []string `json:"l,omitempty"`
	// Digest is the hex digest of the person's entry as mapped (see
	// entryDigest); empty when unknown. A full read reuses the published
	// cards of a person whose entry has the same digest instead of
	// mapping it again.
	Digest string `json:"d,omitempty"`
	// Remap marks a person to map again at every read: their mapping
	// had warnings or read the clock, or their cards were left out.
	Remap bool `json:"m,omitempty"`
	// Excluded is the mapping's Excluded reason.
	Excluded string `json:"x,omitempty"`
}

// equal reports whether r and o are the same record.
func (r *personRecord) equal(o *personRecord) bool {
	return r.Source == o.Source && slices.Equal(r.Logins, o.Logins) && r.Digest == o.Digest && r.Remap == o.Remap && r.Excluded == o.Excluded
}

// encode returns the JSON of r as encoding/json writes it.
func (r *personRecord) encode() []byte {
	buf := make([]byte, 0, 56+len(r.Source)+len(r.Excluded)+16*len(r.Logins))
	buf = append(buf, `{"s":`...)
	buf = appendString(buf, r.Source)
	if len(r.Logins) > 0 {
		buf = append(buf, `,"l":`...)
		buf = appendStrings(buf, r.Logins)
	}
	if r.Digest != "" {
		buf = append(buf, `,"d":`...)
		buf = appendString(buf, r.Digest)
	}
	if r.Remap {
		buf = append(buf, `,"m":true`...)
	}
	if r.Excluded != "" {
		buf = append(buf, `,"x":`...)
		buf = appendString(buf, r.Excluded)
	}
	return append(buf, '}')
}

func decodePerson(v []byte) (personRecord, error) {
	var r personRecord
	err := json.Unmarshal(v, &r)
	return r, err
}

// indexedPerson is a person of the index with their entry ID.
type indexedPerson struct {
	id  string
	rec personRecord
}

// indexChanges is what a plan changes in the people index.
type indexChanges struct {
	// fingerprint is the engine configuration the index is made with.
	fingerprint string
	// full replaces the whole index with people and logins; otherwise
	// people are written, gone deleted, and logins set (an empty entry
	// ID deletes the login).
	full   bool
	people []indexedPerson
	gone   []string
	logins map[string]string
}

// empty reports whether c writes nothing but the fingerprint.
func (c *indexChanges) empty() bool {
	return !c.full && len(c.people) == 0 && len(c.gone) == 0 && len(c.logins) == 0
}

// writeIndex stores c in tx. A full index is merged with what the
// buckets hold, so that only the records that differ are written.
func writeIndex(tx *bolt.Tx, c *indexChanges) error {
	people, logins := tx.Bucket(bucketPeople), tx.Bucket(bucketLogins)
	if people == nil || logins == nil {
		return errors.New("missing index buckets")
	}
	if c.full {
		slices.SortFunc(c.people, func(a, b indexedPerson) int { return cmp.Compare(a.id, b.id) })
		i := 0
		next := func() (key string, value []byte, ok bool) {
			for i < len(c.people) {
				p := &c.people[i]
				i++
				if i < len(c.people) && c.people[i].id == p.id {
					continue // cannot happen: IDs are unique; the last wins
				}
				return p.id, p.rec.encode(), true
			}
			return "", nil, false
		}
		if err := mergeBucket(people, next); err != nil {
			return fmt.Errorf("people: %w", err)
		}
		keys := slices.Sorted(maps.Keys(c.logins))
		j := 0
		nextLogin := func() (string, []byte, bool) {
			for j < len(keys) {
				k := keys[j]
				j++
				if id := c.logins[k]; id != "" {
					return k, []byte(id), true
				}
			}
			return "", nil, false
		}
		if err := mergeBucket(logins, nextLogin); err != nil {
			return fmt.Errorf("logins: %w", err)
		}
		return nil
	}
	for _, id := range c.gone {
		if err := people.Delete([]byte(id)); err != nil {
			return fmt.Errorf("people %q: %w", id, err)
		}
	}
	for _, p := range c.people {
		if err := people.Put([]byte(p.id), p.rec.encode()); err != nil {
			return fmt.Errorf("people %q: %w", p.id, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.logins)) {
		var err error
		if id := c.logins[k]; id == "" {
			err = logins.Delete([]byte(k))
		} else {
			err = logins.Put([]byte(k), []byte(id))
		}
		if err != nil {
			return fmt.Errorf("login %q: %w", k, err)
		}
	}
	return nil
}

// mergeBucket makes b hold exactly the pairs next yields, in ascending key
// order, writing only the pairs that differ and deleting the others.
func mergeBucket(b *bolt.Bucket, next func() (string, []byte, bool)) error {
	var stale [][]byte
	type pair struct {
		k string
		v []byte
	}
	var puts []pair
	c := b.Cursor()
	k, v := c.First()
	nk, nv, ok := next()
	for k != nil || ok {
		switch {
		case !ok || (k != nil && string(k) < nk):
			stale = append(stale, bytes.Clone(k))
			k, v = c.Next()
		case k == nil || nk < string(k):
			puts = append(puts, pair{nk, nv})
			nk, nv, ok = next()
		default:
			if !bytes.Equal(v, nv) {
				puts = append(puts, pair{nk, nv})
			}
			k, v = c.Next()
			nk, nv, ok = next()
		}
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	b.FillPercent = 0.9
	for _, p := range puts {
		if err := b.Put([]byte(p.k), p.v); err != nil {
			return err
		}
	}
	return nil
}

// indexReader looks people and logins up in the index of one revision.
type indexReader struct {
	people, logins *bolt.Bucket
}

// person returns the record of the entry id, and whether the index has it.
func (r *indexReader) person(id string) (personRecord, bool, error) {
	v := r.people.Get([]byte(id))
	if v == nil {
		return personRecord{}, false, nil
	}
	rec, err := decodePerson(v)
	if err != nil {
		return personRecord{}, false, fmt.Errorf("people %q: %w", id, err)
	}
	return rec, true, nil
}

// holder returns the entry ID holding the lower-case login value, or "".
func (r *indexReader) holder(login string) string {
	return string(r.logins.Get([]byte(login)))
}

// eachOf calls fn with the ID of every person read from source.
func (r *indexReader) eachOf(source string, fn func(id string)) error {
	prefix := appendString([]byte(`{"s":`), source)
	return r.people.ForEach(func(k, v []byte) error {
		if !bytes.HasPrefix(v, prefix) || (len(v) > len(prefix) && v[len(prefix)] != ',' && v[len(prefix)] != '}') {
			return nil
		}
		fn(string(k))
		return nil
	})
}

// errIndexStale reports an index that does not describe the revision a
// plan is made against, or was made with another configuration.
var errIndexStale = errors.New("sync: the people index does not match the published revision")

// viewIndex calls fn with a reader of the index of the revision base,
// made with fingerprint. It fails with errIndexStale when the file holds
// another revision or no index of that fingerprint.
func (s *Store) viewIndex(base uint64, fingerprint string, fn func(*indexReader) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state.Load()
	if st.rev.Number != base || st.index != fingerprint || fingerprint == "" {
		return errIndexStale
	}
	db, err := s.openDBWith(&bolt.Options{Timeout: s.timeout, ReadOnly: true})
	if err != nil {
		return err
	}
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		people, logins := tx.Bucket(bucketPeople), tx.Bucket(bucketLogins)
		if meta == nil || people == nil || logins == nil || getUint(meta, keyRevision) != base || string(meta.Get(keyIndex)) != fingerprint {
			return errIndexStale
		}
		return fn(&indexReader{people: people, logins: logins})
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sync: close %s: %w", s.path, cerr)
	}
	return err
}

// feedChanges is what a plan stores about feeds and reconciles besides
// the cards.
type feedChanges struct {
	// states maps source names to their new feed states.
	states map[string][]byte
	// index is the people index of the new revision; nil invalidates the
	// stored one.
	index *indexChanges
	// reconciled is the time of a plan that read every source whole;
	// zero for other plans.
	reconciled time.Time
}

// saveFeeds writes feed states and index changes without publishing a
// revision: for a plan that changes no card or access but moves the feeds
// forward. base is the revision the changes were made against.
func (s *Store) saveFeeds(ctx context.Context, base uint64, fc *feedChanges) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.writable(ctx, "save feed states", base)
	if err != nil {
		return err
	}
	err = s.releaseReader()
	defer s.unlockReader()
	if err != nil {
		return err
	}
	db, err := s.openDB(0)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return errors.New("missing buckets")
		}
		if err := checkRevision(meta, base); err != nil {
			return err
		}
		return writeFeeds(tx, fc)
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("sync: save feed states to %s: %w", s.path, err)
	}
	next := *cur
	next.applyFeeds(fc)
	s.state.Store(&next)
	if err := db.Close(); err != nil {
		return fmt.Errorf("sync: saved feed states, then closing %s failed: %w", s.path, err)
	}
	return nil
}

// writeFeeds stores the feed states, the index and the meta keys of fc in
// tx. A nil fc invalidates the index and keeps the rest.
func writeFeeds(tx *bolt.Tx, fc *feedChanges) error {
	meta, feeds := tx.Bucket(bucketMeta), tx.Bucket(bucketFeeds)
	if meta == nil || feeds == nil {
		return errors.New("missing buckets")
	}
	if fc == nil || fc.index == nil {
		return meta.Delete(keyIndex)
	}
	for _, name := range slices.Sorted(maps.Keys(fc.states)) {
		if err := feeds.Put([]byte(name), fc.states[name]); err != nil {
			return fmt.Errorf("feed state of %q: %w", name, err)
		}
	}
	if err := writeIndex(tx, fc.index); err != nil {
		return err
	}
	if err := meta.Put(keyIndex, []byte(fc.index.fingerprint)); err != nil {
		return err
	}
	if !fc.reconciled.IsZero() {
		return meta.Put(keyReconciled, []byte(fc.reconciled.UTC().Format(time.RFC3339Nano)))
	}
	return nil
}

// applyFeeds updates the in-memory state st after fc was written.
func (st *state) applyFeeds(fc *feedChanges) {
	if fc == nil || fc.index == nil {
		st.index = ""
		return
	}
	if len(fc.states) > 0 {
		feeds := maps.Clone(st.feeds)
		if feeds == nil {
			feeds = make(map[string][]byte, len(fc.states))
		}
		maps.Copy(feeds, fc.states)
		st.feeds = feeds
	}
	st.index = fc.index.fingerprint
	if !fc.reconciled.IsZero() {
		st.reconciled = fc.reconciled.UTC()
	}
}

// FeedState returns the state of the change feed of the named source
// stored with the current revision, or nil.
func (s *Store) FeedState(source string) []byte {
	return bytes.Clone(s.state.Load().feeds[source])
}

// Reconciled returns the time of the last publish (or save of feed
// states) planned from a whole read of every source by an engine with
// change feeds; the zero time when there was none.
func (s *Store) Reconciled() time.Time {
	return s.state.Load().reconciled
}

// needsFeeds reports whether saving fc would change what the store holds.
func (s *Store) needsFeeds(fc *feedChanges) bool {
	st := s.state.Load()
	if fc.index == nil {
		return st.index != ""
	}
	return len(fc.states) > 0 || !fc.reconciled.IsZero() || st.index != fc.index.fingerprint || !fc.index.empty()
}
