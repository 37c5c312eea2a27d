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

type azureRoot struct{ b *azure.Backend }

func (r azureRoot) Sub(prefix string) (blob.Backend, error) { return r.b.WithPrefix(prefix) }

type s3Root struct{ b *s3.Backend }

func (r s3Root) Sub(prefix string) (blob.Backend, error) { return r.b.WithPrefix(prefix) }

// openBlobURL opens the object storage raw names.
func openBlobURL(ctx context.Context, raw string) (blobRoot, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--blob: %w", err)
	}
	switch u.Scheme {
	case "azblob":
		cfg, err := azure.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		b, err := azure.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return azureRoot{b}, nil
	case "s3":
		cfg, err := s3.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		b, err := s3.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return s3Root{b}, nil
	}
	return nil, fmt.Errorf("--blob: unsupported URL scheme %q (want azblob:// or s3://)", u.Scheme)
}
