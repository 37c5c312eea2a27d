// openBlobURL opens object storage named by a URL in the style Go users
// know from gocloud.dev, for --blob / SAFEHOLD_BLOB:
//
//	azblob://CONTAINER?endpoint=URL&prefix=P   (AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY)
//	s3://BUCKET?endpoint=URL&region=R&prefix=P (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
//
// The container or bucket is created when missing (if the credentials allow).
// Safehold keeps several repositories in one container, each under its own
// key prefix (blobRoot.Sub).

package server

import (
	"context"
	"fmt"
	"net/url"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/azure"
	"github.com/safehold/safehold/blob/s3"
)

// blobRoot is an opened container or bucket.
type blobRoot interface {
	// Sub is a backend for the keys under prefix/ (prefix must be a valid blob key).
	Sub(prefix string) (blob.Backend, error)
}

// prefixed is a backend that serves the keys under a prefix as a backend
// of its own kind (azure.Backend, s3.Backend).
type prefixed[B any] interface {
	blob.Backend
	WithPrefix(prefix string) (B, error)
}

// root is an opened container or bucket of a prefixed backend.
type root[B prefixed[B]] struct{ b B }

func (r root[B]) Sub(prefix string) (blob.Backend, error) { return r.b.WithPrefix(prefix) }

// openBlobURL opens the object storage raw names.
func openBlobURL(ctx context.Context, raw string) (blobRoot, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--blob: %w", err)
	}
	switch u.Scheme {
	case "azblob":
		return openRoot(ctx, raw, azure.ParseURL, azure.Open)
	case "s3":
		return openRoot(ctx, raw, s3.ParseURL, s3.Open)
	}
	return nil, fmt.Errorf("--blob: unsupported URL scheme %q (want azblob:// or s3://)", u.Scheme)
}

// openRoot parses raw with parse and opens the container or bucket it
// names with open.
func openRoot[C any, B prefixed[B]](ctx context.Context, raw string, parse func(string) (C, error), open func(context.Context, C) (B, error)) (blobRoot, error) {
	cfg, err := parse(raw)
	if err != nil {
		return nil, err
	}
	b, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return root[B]{b}, nil
}
