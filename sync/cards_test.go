package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"testing"

	"github.com/dirbook/dirbook"
)

// TestCardsWhilePublishing reads cards from several goroutines while
// revisions are published, with readers replaced after every few reads:
// every publish gets the file, and every card read is one that was
// published, with the ETag of its content.
func TestCardsWhilePublishing(t *testing.T) {
	old := readerRecycle
	readerRecycle = 64 // bytes: a new reader every read or two
	defer func() { readerRecycle = old }()
	ctx := context.Background()
	s, _ := openStore(t)
	if _, err := s.Publish(ctx, firstChanges()); err != nil {
		t.Fatal(err)
	}
	const publishes = 30
	stop := make(chan struct{})
	var wg gosync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Cards("colleagues", []string{"u-1", "u-2"}, func(c *dirbook.Card, etag string) error {
					if want := cardETag(c); etag != want {
						return fmt.Errorf("card %s has ETag %s, its content %s", c.UID, etag, want)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range publishes {
		ch := &Changes{
			Base: s.Current().Number,
			Books: []BookChanges{
				{Book: colleagues, Put: []CardPut{{Card: card("u-2", fmt.Sprintf("Bernd Meier %d", i)), EntryID: "2"}}},
				{Book: partners},
			},
			Access: map[string][]string{"anna": {"colleagues", "partners"}},
		}
		if _, err := s.Publish(ctx, ch); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("publish %d while reading = %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c, _, err := s.Card("colleagues", "u-2")
	if err != nil || c.FN() != fmt.Sprintf("Bernd Meier %d", publishes-1) {
		t.Errorf("Card(colleagues, u-2) after the publishes = %+v, %v", c, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Card("colleagues", "u-2"); err == nil || errors.Is(err, dirbook.ErrNotFound) {
		t.Errorf("Card on a closed store = %v, want an error saying it is closed", err)
	}
}
