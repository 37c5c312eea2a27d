package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
)

// PutThroughCuts checks that an object store backend's Put outlasts a
// while of uploads cut halfway (cutting turns the cuts on and off, cuts
// counts them): its uploads are cut more times than the store's own
// client tries one (four times at most, Azure's), then let through, and
// the Put made meanwhile succeeds, the object whole.
func PutThroughCuts(t *testing.T, b blob.Backend, cutting func(on bool), cuts func() int64) {
	t.Helper()
	const many = 5
	ctx := context.Background()
	data := make([]byte, 256<<10)
	rand.Read(data)
	cutting(true)
	done := make(chan error, 1)
	go func() { done <- b.Put(ctx, "pack/cut-halfway", data) }()
	for cuts() < many {
		select {
		case err := <-done:
			cutting(false)
			t.Fatalf("a Put whose uploads were all cut (%d times) returned %v", cuts(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cutting(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a Put whose uploads were cut halfway %d times, then let through: %v", cuts(), err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("a Put whose uploads were cut halfway %d times, then let through, did not return", cuts())
	}
	got, err := b.Get(ctx, "pack/cut-halfway", 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object put through the cuts: %d bytes of %d, %v", len(got), len(data), err)
	}
}
