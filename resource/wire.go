package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/store"
)

// ListWire lists the resources of typ under scope as their wire JSON: for
// each stored document, what a handler answering the document decoded into
// a T would write (encoding/json, HTML left unescaped, as the router
// writes). The router writes a list of json.RawMessage without encoding it
// again, so a list costs a copy of the stored bytes instead of a decode and
// an encode of every document on every request.
//
// The conversion is memoized by the stored bytes themselves (a document
// changes its bytes when it changes), so it is exact: a stored value is
// decoded and encoded once, and documents written by an older shape of T
// still answer in T's shape. keep, when not nil, selects documents by their
// store record (e.g. by key, which is the resource id in lower case).
func ListWire[T any](ctx context.Context, r store.Reader, typ, scope string, keep func(d store.Doc) bool) ([]json.RawMessage, error) {
	out, _, err := ListWirePage[T](ctx, r, typ, scope, keep, 0, -1)
	return out, err
}

// ListWirePage is the part of ListWire from item start (counting the items
// keep selects), at most size items (size < 0: all), and whether more
// follow. It converts only those documents, reads none past the first
// that follows, and copies none (store.ListView).
func ListWirePage[T any](ctx context.Context, r store.Reader, typ, scope string, keep func(d store.Doc) bool, start, size int) (page []json.RawMessage, more bool, err error) {
	page, _, more, err = ListWirePageAfter[T](ctx, r, typ, scope, keep, "", start, size)
	return page, more, err
}

// ListWirePageAfter is ListWirePage of the resources whose key (their id
// in lower case, the order they are listed in) is after after, and the
// key of the page's last resource: the page arm.PageKeyedFunc asks for.
func ListWirePageAfter[T any](ctx context.Context, r store.Reader, typ, scope string, keep func(d store.Doc) bool, after string, start, size int) (page []json.RawMessage, last string, more bool, err error) {
	c := wireCacheFor(reflect.TypeFor[T]())
	i := 0 // the items kept so far
	var werr error
	err = store.ListView(ctx, r, resourceKind, store.ListQuery{ScopePrefix: strings.TrimRight(scope, "/") + "/", Type: typ, After: after}, func(d *store.Doc, stable bool) bool {
		if keep != nil && !keep(*d) {
			return true
		}
		if size >= 0 && i >= start+size {
			more = true
			return false
		}
		if i >= start {
			w, err := wireOf[T](c, d, stable)
			if err != nil {
				werr = err
				return false
			}
			page, last = append(page, w), d.Key
		}
		i++
		return true
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, "", false, err
	}
	return page, last, more, nil
}

// wireOf is d's wire JSON as a T, from the memo when it holds it.
func wireOf[T any](c *wireCache, d *store.Doc, stable bool) (json.RawMessage, error) {
	c.mu.RLock()
	w, ok := c.docs[d]
	if !ok {
		w, ok = c.m[string(d.Value)]
	}
	c.mu.RUnlock()
	if ok && !stable {
		return w, nil
	}
	if !ok {
		var v T
		if err := json.Unmarshal(d.Value, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", d.Key, err)
		}
		b, err := WireJSON(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", d.Key, err)
		}
		w = b
	}
	if stable {
		return c.addDoc(d, w), nil
	}
	return c.add(d.Value, w), nil
}

// GetWire reads a resource as its wire JSON: what a handler answering the
// document decoded into a *T would write, memoized by the stored bytes as in
// ListWire. When absent it returns NotFound(id).
func GetWire[T any](ctx context.Context, r store.Reader, id arm.ResourceID) (json.RawMessage, error) {
	d, err := store.View(ctx, r, resourceKind, id.Key()) // lower-case: the store's cache key needs no copy; only read here
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound(id)
	}
	if err != nil {
		return nil, err
	}
	c := wireCacheFor(reflect.TypeFor[*T]())
	c.mu.RLock()
	w, ok := c.m[string(d.Value)]
	c.mu.RUnlock()
	if ok {
		return w, nil
	}
	v := new(T)
	if err := json.Unmarshal(d.Value, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", id, err)
	}
	b, err := WireJSON(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", id, err)
	}
	return c.add(d.Value, b), nil
}

// WireJSON encodes v as the router writes a response value: encoding/json
// without HTML escaping, without the trailing newline.
func WireJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// wireCache maps stored document bytes to their wire JSON for one Go type,
// and the stable documents of store.ListView (which a store never modifies)
// by their address: a lookup that neither hashes nor compares the bytes.
// An address is not reused while the map holds it. It is bounded: past
// wireCacheMax bytes it starts again empty.
type wireCache struct {
	mu    sync.RWMutex
	m     map[string]json.RawMessage // never modified once added
	docs  map[*store.Doc]json.RawMessage
	bytes int
}

const wireCacheMax = 16 << 20

var wireCaches sync.Map // reflect.Type → *wireCache

func wireCacheFor(t reflect.Type) *wireCache {
	if c, ok := wireCaches.Load(t); ok {
		return c.(*wireCache)
	}
	c, _ := wireCaches.LoadOrStore(t, &wireCache{m: map[string]json.RawMessage{}, docs: map[*store.Doc]json.RawMessage{}})
	return c.(*wireCache)
}

// add remembers stored → wire and returns wire. The lists ListWire returns
// share these bytes: nobody may modify them.
func (c *wireCache) add(stored []byte, wire json.RawMessage) json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.room(len(stored) + len(wire))
	if w, ok := c.m[string(stored)]; ok {
		return w
	}
	c.m[string(stored)] = wire
	c.bytes += len(stored) + len(wire)
	return wire
}

// addDoc remembers the stable document d → wire (and its bytes → wire) and
// returns wire.
func (c *wireCache) addDoc(d *store.Doc, wire json.RawMessage) json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.docs[d]; ok {
		return w
	}
	c.room(2*len(d.Value) + len(wire))
	if w, ok := c.m[string(d.Value)]; ok {
		wire = w
	} else {
		c.m[string(d.Value)] = wire
	}
	c.docs[d] = wire
	c.bytes += 2*len(d.Value) + len(wire)
	return wire
}

// room empties the cache when n more bytes would pass its bound (c.mu held).
func (c *wireCache) room(n int) {
	if c.bytes+n > wireCacheMax {
		c.m, c.docs, c.bytes = map[string]json.RawMessage{}, map[*store.Doc]json.RawMessage{}, 0
	}
}

// GetShared reads a resource decoded into a T that its callers share: a
// caller must not modify it (or anything it points to). Memoized by the
// stored bytes as GetWire is, so a document read on every request (a vault
// whose id and name a job list shows) is decoded once per version instead
// of on every read. When absent it returns NotFound(id).
func GetShared[T any](ctx context.Context, r store.Reader, id arm.ResourceID) (*T, error) {
	d, err := store.View(ctx, r, resourceKind, id.Key())
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound(id)
	}
	if err != nil {
		return nil, err
	}
	c := sharedCacheFor[T]()
	c.mu.RLock()
	v, ok := c.m[string(d.Value)]
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	v = new(T)
	if err := json.Unmarshal(d.Value, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bytes+len(d.Value) > sharedCacheMax {
		c.m, c.bytes = map[string]*T{}, 0
	}
	c.m[string(d.Value)] = v
	c.bytes += len(d.Value)
	return v, nil
}

// Named is a resource's id and name as its stored document spells them
// (GetShared[Named]: a handler that only shows them decodes nothing else).
type Named struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// sharedCache is GetShared's memo for one T, bounded as wireCache is.
type sharedCache[T any] struct {
	mu    sync.RWMutex
	m     map[string]*T // never modified once added
	bytes int
}

const sharedCacheMax = 4 << 20

var sharedCaches sync.Map // reflect.Type → *sharedCache[T]

func sharedCacheFor[T any]() *sharedCache[T] {
	t := reflect.TypeFor[T]()
	if c, ok := sharedCaches.Load(t); ok {
		return c.(*sharedCache[T])
	}
	c, _ := sharedCaches.LoadOrStore(t, &sharedCache[T]{m: map[string]*T{}})
	return c.(*sharedCache[T])
}
