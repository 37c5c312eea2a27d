package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// GetJSON reads the document kind/key and decodes its JSON value into a new
// T; the reader's error (ErrNotFound when absent) as it is. what names T in
// a decode error.
func GetJSON[T any](ctx context.Context, r Reader, kind, key, what string) (*T, error) {
	d, err := r.Get(ctx, kind, key)
	if err != nil {
		return nil, err
	}
	return DecodeJSON[T](d, what)
}

// DecodeJSON decodes a document's JSON value into a new T; what names T in
// the error, which names the document's key too.
func DecodeJSON[T any](d Doc, what string) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(d.Value, v); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", what, d.Key, err)
	}
	return v, nil
}
