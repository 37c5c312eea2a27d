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

// WriteJSON writes d, with v encoded as JSON for its value, through write
// (a Tx's Put or Create); what names v in an encoding error, which names
// the document's key too.
func WriteJSON(ctx context.Context, write func(context.Context, Doc) error, d Doc, v any, what string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", what, d.Key, err)
	}
	d.Value = b
	return write(ctx, d)
}

// ListJSON lists the documents of kind that q selects and decodes each
// JSON value into a T, in the list's order; the reader's error as it is,
// what names T in a decode error.
func ListJSON[T any](ctx context.Context, r Reader, kind string, q ListQuery, what string) ([]T, error) {
	docs, err := r.List(ctx, kind, q)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(docs))
	for _, d := range docs {
		v, err := DecodeJSON[T](d, what)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}
