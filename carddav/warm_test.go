package carddav_test

import (
	"context"
	"testing"

	"github.com/dirbook/dirbook/carddav"
)

// TestWarm checks that Warm renders every card once and that requests
// then find them in the cache.
func TestWarm(t *testing.T) {
	store := &memStore{rev: testRevision()}
	h := carddav.NewHandler(store, newAppPasswords(t), &carddav.Options{Logger: discardLogger()})
	want := 0
	for _, b := range store.rev.Books {
		want += len(b.UIDs)
	}
	if got := h.Warm(context.Background(), store.rev); got != want {
		t.Errorf("Warm rendered %d cards, want %d", got, want)
	}
	if got := h.Warm(context.Background(), store.rev); got != 0 {
		t.Errorf("second Warm rendered %d cards, want 0 (all cached)", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	off := carddav.NewHandler(store, newAppPasswords(t), &carddav.Options{Logger: discardLogger()})
	if got := off.Warm(ctx, store.rev); got != 0 {
		t.Errorf("Warm with a cancelled context rendered %d cards, want 0", got)
	}
}
