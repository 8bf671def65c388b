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

// render returns c as a vCard of the given version ("3.0" or "4.0"),
// from the cache if it is there.
func (cc *cardCache) render(c *dirbook.StoredCard, version string) (string, error) {
	if cc.lru == nil || c.ETag == "" {
		return encode(&c.Card, version)
	}
	k := cardKey{etag: c.ETag, uid: c.UID, v4: version == "4.0"}
	if s, ok := cc.lru.Get(k); ok {
		cc.m.cacheHits.Inc()
		return s, nil
	}
	cc.m.cacheMisses.Inc()
	s, err := encode(&c.Card, version)
	if err != nil {
		return "", err
	}
	if int64(len(s)) > cc.budget/16 {
		return s, nil // a giant: caching it would flush everything else
	}
	if present, _ := cc.lru.ContainsOrAdd(k, s); present {
		return s, nil // rendered meanwhile by another request
	}
	if cc.size.Add(int64(len(s))) > cc.budget {
		for cc.size.Load() > cc.budget {
			if _, _, ok := cc.lru.RemoveOldest(); !ok {
				break
			}
		}
	}
	return s, nil
}

// bytes returns the size of the rendered vCards held.
func (cc *cardCache) bytes() int64 { return cc.size.Load() }

// selectProps renders c with only the named vCard properties (VERSION
// and UID are always there), as an address-data element with prop
// children asks. Such renderings are not cached.
func selectProps(c *dirbook.StoredCard, version string, names []string) (string, error) {
	sel := dirbook.Card{UID: c.UID}
	for _, p := range c.Props {
		for _, n := range names {
			if strings.EqualFold(p.Name, n) {
				sel.Props = append(sel.Props, p)
				break
			}
		}
	}
	return encode(&sel, version)
}

func encode(c *dirbook.Card, version string) (string, error) {
	b, err := mapping.Encode(c, version)
	if err != nil {
		return "", fmt.Errorf("carddav: render card %s: %w", c.UID, err)
	}
	return string(b), nil
}
