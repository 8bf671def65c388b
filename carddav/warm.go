package carddav

import (
	"context"
	"errors"

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
		for start := 0; start < len(b.UIDs); start += warmBatch {
			if ctx.Err() != nil || cc.bytes() >= limit {
				return n
			}
			var uids []string
			for _, uid := range b.UIDs[start:min(start+warmBatch, len(b.UIDs))] {
				if c := b.Cards[uid]; c != nil && c.ETag != "" && !cc.lru.Contains(cardKey{etag: c.ETag, uid: uid}) {
					uids = append(uids, uid)
				}
			}
			err := h.store.Cards(b.ID, uids, func(c *dirbook.Card, etag string) error {
				if cc.bytes() >= limit {
					return errWarmFull
				}
				s, err := encode(c, defaultVersion)
				if err != nil {
					return nil // served as an error when asked for
				}
				cc.add(cardKey{etag: etag, uid: c.UID}, s)
				n++
				return ctx.Err()
			})
			if err != nil {
				return n
			}
		}
	}
	return n
}

// warmBatch is how many cards Warm reads from the store at a time.
const warmBatch = 256

// errWarmFull stops Warm's reading when the cache holds its share.
var errWarmFull = errors.New("carddav: cache warm")
