package carddav

import (
	"context"

	"github.com/dirbook/dirbook"
)

// warmShare is the share of the card cache's budget Warm fills at most,
// so that warming never evicts what requests put there.
const warmShare = 0.9

// Warm renders the vCard 3.0 of the cards of rev that are not in the card
// cache yet, book by book, until the cache holds warmShare of its budget
// or ctx ends. Run after a publish, it spares the first phones that sync
// the rendering of every changed card. It returns the number of cards it
// rendered.
func (h *Handler) Warm(ctx context.Context, rev *dirbook.Revision) int {
	cc := h.cards
	if cc.lru == nil || rev == nil {
		return 0
	}
	limit := int64(float64(cc.budget) * warmShare)
	n := 0
	for _, b := range rev.Books {
		for _, uid := range b.UIDs {
			if ctx.Err() != nil || cc.bytes() >= limit {
				return n
			}
			c := b.Cards[uid]
			if c == nil || c.ETag == "" || cc.lru.Contains(cardKey{etag: c.ETag, uid: c.UID}) {
				continue
			}
			if _, err := cc.render(c, "3.0"); err == nil {
				n++
			}
		}
	}
	return n
}
