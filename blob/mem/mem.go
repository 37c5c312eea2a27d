// Package mem is an in-memory blob.Backend for tests and dry runs.
package mem

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/blob"
)

type object struct {
	data    []byte
	modTime time.Time
}

// Backend keeps objects in a map. The zero value is not usable; call New.
type Backend struct {
	now func() time.Time

	mu      sync.RWMutex
	objects map[string]object
	closed  bool
}

var _ blob.Backend = (*Backend)(nil)

// New returns an empty in-memory backend. now stamps ModTime; nil means
// time.Now.
func New(now func() time.Time) *Backend {
	if now == nil {
		now = time.Now
	}
	return &Backend{now: now, objects: make(map[string]object)}
}

func (b *Backend) check(ctx context.Context, key string) error {
	return b.checkList(ctx, key, false)
}

func (b *Backend) checkList(ctx context.Context, key string, list bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed {
		return fmt.Errorf("mem backend closed")
	}
	if list {
		return nil
	}
	return blob.ValidKey(key)
}

// Put implements blob.Backend.
func (b *Backend) Put(ctx context.Context, key string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(ctx, key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if _, ok := b.objects[key]; ok {
		return fmt.Errorf("put %s: %w", key, blob.ErrExist)
	}
	b.objects[key] = object{data: append([]byte(nil), data...), modTime: b.now()}
	return nil
}

// Get implements blob.Backend.
func (b *Backend) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx, key); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	o, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, blob.ErrNotExist)
	}
	end, err := blob.CheckRange(key, int64(len(o.data)), off, length)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), o.data[off:end]...), nil
}

// Stat implements blob.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (blob.Info, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx, key); err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	o, ok := b.objects[key]
	if !ok {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, blob.ErrNotExist)
	}
	return blob.Info{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

// List implements blob.Backend. fn runs without the lock held, on a snapshot
// of the keys taken when List starts.
func (b *Backend) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	b.mu.RLock()
	if err := b.checkList(ctx, prefix, true); err != nil {
		b.mu.RUnlock()
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	var infos []blob.Info
	for k, o := range b.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, blob.Info{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	b.mu.RUnlock()
	for _, in := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements blob.Backend.
func (b *Backend) Delete(ctx context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if _, ok := b.objects[key]; !ok {
		return fmt.Errorf("delete %s: %w", key, blob.ErrNotExist)
	}
	delete(b.objects, key)
	return nil
}

// Close implements blob.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// Corrupt flips the bits of one byte of a stored object in place, for tests
// of corruption detection. It reports whether the object and offset exist.
func (b *Backend) Corrupt(key string, off int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objects[key]
	if !ok || off < 0 || off >= int64(len(o.data)) {
		return false
	}
	o.data[off] ^= 0xff
	return true
}
