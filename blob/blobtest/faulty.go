package blobtest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/safehold/safehold/blob"
)

// ErrInjected is returned by Faulty for injected failures.
var ErrInjected = errors.New("injected fault")

// Op names a blob.Backend method for fault rules.
type Op string

// Operations Faulty can fail.
const (
	OpPut    Op = "put"
	OpGet    Op = "get"
	OpStat   Op = "stat"
	OpList   Op = "list"
	OpDelete Op = "delete"
)

// Faulty wraps a backend and fails operations on demand. Its Fail function
// is consulted before each operation; a non-nil error is returned instead of
// calling the inner backend. Crash simulates a process that dies: once set,
// every operation fails, as if nothing after that point happened.
type Faulty struct {
	Inner blob.Backend

	mu     sync.Mutex
	counts map[Op]int
	fail   func(op Op, key string, n int) error
}

var _ blob.Backend = (*Faulty)(nil)

// NewFaulty wraps inner with no faults.
func NewFaulty(inner blob.Backend) *Faulty {
	return &Faulty{Inner: inner, counts: make(map[Op]int)}
}

// SetFail installs the fault rule: fn gets the operation, the key (prefix
// for List) and how many operations of that kind came before (0-based).
func (f *Faulty) SetFail(fn func(op Op, key string, n int) error) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

// CrashAfter makes the backend fail every operation after n successful puts
// (a process killed in the middle of a backup).
func (f *Faulty) CrashAfter(n int) {
	crashed := false
	f.SetFail(func(op Op, key string, i int) error {
		if op == OpPut && i >= n {
			crashed = true
		}
		if crashed {
			return fmt.Errorf("%s %s: crashed: %w", op, key, ErrInjected)
		}
		return nil
	})
}

// Count returns how many operations of a kind were attempted.
func (f *Faulty) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

func (f *Faulty) check(op Op, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.counts[op]
	f.counts[op]++
	if f.fail == nil {
		return nil
	}
	return f.fail(op, key, n)
}

// Put implements blob.Backend.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	if err := f.check(OpPut, key); err != nil {
		return err
	}
	return f.Inner.Put(ctx, key, data)
}

// Get implements blob.Backend.
func (f *Faulty) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if err := f.check(OpGet, key); err != nil {
		return nil, err
	}
	return f.Inner.Get(ctx, key, off, length)
}

// Stat implements blob.Backend.
func (f *Faulty) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := f.check(OpStat, key); err != nil {
		return blob.Info{}, err
	}
	return f.Inner.Stat(ctx, key)
}

// List implements blob.Backend.
func (f *Faulty) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := f.check(OpList, prefix); err != nil {
		return err
	}
	return f.Inner.List(ctx, prefix, fn)
}

// Delete implements blob.Backend.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	if err := f.check(OpDelete, key); err != nil {
		return err
	}
	return f.Inner.Delete(ctx, key)
}

// Close implements blob.Backend; it closes the inner backend.
func (f *Faulty) Close() error { return f.Inner.Close() }
