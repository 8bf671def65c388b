package mapping

import (
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// toE164 returns the E.164 form of the phone number s (already cleaned)
// read with the default region, or ok false when s is not a valid number.
// A number containing letters (vanity numbers like 0800-CALL-NOW, or
// extensions written "ext. 12") is not accepted: phonenumbers would turn
// letters into digits or drop the extension, and either would publish a
// number that is not the one in the directory. A number with an extension
// in any other notation is refused for the same reason.
func toE164(s, region string) (string, bool) {
	if s == "" || hasLetter(s) || len(s) > phonenumbers.MAX_INPUT_STRING_LENGTH {
		return "", false
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil || n.GetExtension() != "" || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// phoneCacheSize is the number of numbers one generation of the cache
// holds; the cache keeps up to two generations (about 3 MB). It is kept
// small: a sync maps again only the people whose entries changed (the
// others keep their published cards), so the cache serves those and a
// remapping after a change of the rules, not the whole directory, whose
// numbers a first sync sees once each.
const phoneCacheSize = 1 << 14

// phoneCache remembers toE164 results for one default region. Parsing a
// number costs about 20µs (phonenumbers runs several regular
// expressions), most of a Map; people mapped again (their entry or the
// rules changed) keep their numbers, parsed once. It keeps two generations: when the
// current one is full it becomes the previous one, and hits in the
// previous one move to the current one. Keyed by the number alone, a
// lookup hashes and compares one string.
type phoneCache struct {
	mu     sync.Mutex
	size   int
	region string
	cur    map[string]phoneResult
	prev   map[string]phoneResult
}

type phoneResult struct {
	e164 string
	ok   bool
}

func newPhoneCache(size int, region string) *phoneCache {
	return &phoneCache{size: size, region: region, cur: make(map[string]phoneResult)}
}

// e164 is toE164 with the cache's region, through the cache. A number
// with letters is refused by toE164 and that result cached like any
// other.
func (c *phoneCache) e164(s string) (string, bool) {
	if s == "" || len(s) > phonenumbers.MAX_INPUT_STRING_LENGTH {
		return "", false
	}
	c.mu.Lock()
	r, hit := c.cur[s]
	if !hit {
		r, hit = c.prev[s]
		if hit {
			c.putLocked(s, r)
		}
	}
	c.mu.Unlock()
	if hit {
		return r.e164, r.ok
	}
	r.e164, r.ok = toE164(s, c.region)
	c.mu.Lock()
	c.putLocked(s, r)
	c.mu.Unlock()
	return r.e164, r.ok
}

func (c *phoneCache) putLocked(s string, r phoneResult) {
	if len(c.cur) >= c.size {
		c.prev = c.cur
		c.cur = make(map[string]phoneResult, c.size/4)
	}
	// A copy: s is often part of a source's buffer (an LDIF line, a
	// search response), which the key would keep alive.
	c.cur[strings.Clone(s)] = r
}
