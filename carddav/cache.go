package carddav

import (
	"fmt"
	"strings"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// cardKey identifies a rendered vCard. An ETag is derived from a card's
// content, so the rendering of an unchanged card is found again after
// any number of publishes; the UID is part of the key so that a store
// whose ETags did not cover the UID could still not mix up two cards.
type cardKey struct {
	etag, uid string
	v4        bool
}

// cardCache keeps rendered vCards, bounded by their total size.
type cardCache struct {
	lru    *lru.Cache[cardKey, string]
	budget int64
	size   atomic.Int64
	m      *metrics
}

// maxEntries bounds the entries of the cache; the byte budget is the
// real bound.
const maxEntries = 1 << 22

// newCardCache returns a cache of at most budget bytes of vCards; a
// budget of zero or less keeps nothing.
func newCardCache(budget int64, m *metrics) *cardCache {
	c := &cardCache{budget: budget, m: m}
	if budget <= 0 {
		return c
	}
	cache, err := lru.NewWithEvict(maxEntries, func(_ cardKey, v string) {
		c.size.Add(-int64(len(v)))
	})
	if err != nil {
		panic(err) // only for a size <= 0
	}
	c.lru = cache
	return c
}

// get returns the cached rendering of k.
func (cc *cardCache) get(k cardKey) (string, bool) {
	if cc.lru == nil {
		return "", false
	}
	s, ok := cc.lru.Get(k)
	if ok {
		cc.m.cacheHits.Inc()
	} else {
		cc.m.cacheMisses.Inc()
	}
	return s, ok
}

// add keeps s as the rendering of k, evicting the least recently used
// renderings beyond the budget.
func (cc *cardCache) add(k cardKey, s string) {
	if cc.lru == nil || k.etag == "" || int64(len(s)) > cc.budget/16 {
		return // a giant: caching it would flush everything else
	}
	if present, _ := cc.lru.ContainsOrAdd(k, s); present {
		return // rendered meanwhile by another request
	}
	if cc.size.Add(int64(len(s))) > cc.budget {
		for cc.size.Load() > cc.budget {
			if _, _, ok := cc.lru.RemoveOldest(); !ok {
				break
			}
		}
	}
}

// bytes returns the size of the rendered vCards held.
func (cc *cardCache) bytes() int64 { return cc.size.Load() }

// errGone reports a card that the store no longer holds: it was removed
// after the revision a request is answered from.
var errGone = fmt.Errorf("carddav: card removed meanwhile: %w", dirbook.ErrNotFound)

// load returns the content of the card uid of book and its ETag from the
// store; errGone when the store holds it no more.
func (h *Handler) load(book, uid string) (*dirbook.Card, string, error) {
	var card *dirbook.Card
	var etag string
	err := h.store.Cards(book, []string{uid}, func(c *dirbook.Card, e string) error {
		card, etag = c, e
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("carddav: read card %s: %w", uid, err)
	}
	if card == nil {
		return nil, "", errGone
	}
	return card, etag, nil
}

// render returns the card c of book as a vCard of the given version ("3.0"
// or "4.0"), from the cache or rendered from the store's content, and the
// ETag of what it returns: a later one than c's when the card changed
// after the revision c is from.
func (h *Handler) render(book string, c *dirbook.StoredCard, version string) (data, etag string, err error) {
	cc := h.cards
	k := cardKey{etag: c.ETag, uid: c.UID, v4: version == "4.0"}
	if s, ok := cc.get(k); ok {
		return s, c.ETag, nil
	}
	card, etag, err := h.load(book, c.UID)
	if err != nil {
		return "", "", err
	}
	if etag != c.ETag {
		k.etag = etag
		if s, ok := cc.get(k); ok {
			return s, etag, nil
		}
	}
	s, err := encode(card, version)
	if err != nil {
		return "", "", err
	}
	cc.add(k, s)
	return s, etag, nil
}

// selectProps renders the card c of book with only the named vCard
// properties (VERSION and UID always), for an address-data element that
// lists C:prop children. Such renderings are not cached. It returns the
// ETag of what it rendered, as render does.
func (h *Handler) selectProps(book string, c *dirbook.StoredCard, version string, names []string) (string, string, error) {
	card, etag, err := h.load(book, c.UID)
	if err != nil {
		return "", "", err
	}
	sel := dirbook.Card{UID: card.UID}
	for _, p := range card.Props {
		for _, n := range names {
			if strings.EqualFold(p.Name, n) {
				sel.Props = append(sel.Props, p)
				break
			}
		}
	}
	s, err := encode(&sel, version)
	return s, etag, err
}

// encode renders c through mapping.Encode.
func encode(c *dirbook.Card, version string) (string, error) {
	b, err := mapping.Encode(c, version)
	if err != nil {
		return "", fmt.Errorf("carddav: render card %s: %w", c.UID, err)
	}
	return string(b), nil
}
