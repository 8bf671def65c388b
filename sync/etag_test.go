package sync

import (
	"github.com/dirbook/dirbook"
)

// encodeCard returns the canonical JSON of c.
func encodeCard(c *dirbook.Card) []byte {
	return appendCard(nil, c)
}

// cardETag returns the entity tag of a card: the hex form of the first 16
// bytes of the SHA-256 of its canonical JSON. It depends on the card's
// content only, so it is stable across restarts and processes.
func cardETag(c *dirbook.Card) string {
	return etagOf(encodeCard(c))
}

// sameCard reports whether a and b have the same content, that is the same
// ETag, without encoding them.
func sameCard(a, b *dirbook.Card) bool {
	if a.UID != b.UID || len(a.Props) != len(b.Props) {
		return false
	}
	for i := range a.Props {
		if !sameProp(&a.Props[i], &b.Props[i]) {
			return false
		}
	}
	return true
}
