// Package azure is the blob.Backend on Azure Blob Storage (and Azurite):
// one block blob per key, in one container, under an optional key prefix.
//
// How the contract maps:
//   - Put is a single Put Blob with If-None-Match: * (atomic: a block blob
//     becomes visible only whole); 409 BlobAlreadyExists or 412 → ErrExist.
//     One cut off or refused for a while is tried again (blob.RetryPut); reads,
//     listings and deletes by jobs are too (blob.Retry).
//   - Get is a ranged Get Blob. Range errors are decided on the client from
//     the object's size (Content-Range, or Get Blob Properties), because
//     Azurite does not reject ranges past the end the way Azure does.
//   - Delete of a missing blob answers 404 BlobNotFound → ErrNotExist.
package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azb "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/safehold/safehold/blob"
)

// Backend stores objects in one container.
type Backend struct {
	c      *container.Client
	prefix string // "" or ending in "/"
	name   string // "azblob container C at URL", for messages
}

// Config locates a container.
type Config struct {
	Endpoint  string // service URL, e.g. https://ACCOUNT.blob.core.windows.net/ or http://127.0.0.1:10000/devstoreaccount1
	Account   string
	Key       string // shared key (base64)
	Container string
	Prefix    string // optional key prefix inside the container (valid key characters, "/"-separated)
}

// ParseURL reads azblob://CONTAINER?endpoint=URL&prefix=P (the gocloud.dev
// style) with the account and key from AZURE_STORAGE_ACCOUNT and
// AZURE_STORAGE_KEY. Without endpoint, the account's public endpoint is used.
func ParseURL(raw string) (Config, error) {
	container, q, creds, err := blob.ParseStoreURL(raw, "azblob", "azblob://CONTAINER?endpoint=URL", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY")
	if err != nil {
		return Config{}, err
	}
	c := Config{Endpoint: q.Get("endpoint"), Account: creds[0], Key: creds[1], Container: container, Prefix: q.Get("prefix")}
	if c.Endpoint == "" {
		c.Endpoint = "https://" + c.Account + ".blob.core.windows.net/"
	}
	return c, nil
}

// Open connects to the container, creating it when missing (if the
// credentials allow).
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	prefix, err := blob.StorePrefix(cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("azure blob prefix: %w", err)
	}
	cred, err := azblob.NewSharedKeyCredential(cfg.Account, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("azure blob credentials: %w", err)
	}
	svc, err := azblob.NewClientWithSharedKeyCredential(strings.TrimSuffix(cfg.Endpoint, "/")+"/", cred, nil)
	if err != nil {
		return nil, fmt.Errorf("azure blob client: %w", err)
	}
	b := &Backend{c: svc.ServiceClient().NewContainerClient(cfg.Container), prefix: prefix,
		name: "azblob container " + cfg.Container + " at " + strings.TrimSuffix(cfg.Endpoint, "/")}
	if _, err := b.c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		if _, gerr := b.c.GetProperties(ctx, nil); gerr != nil {
			return nil, fmt.Errorf("azure blob container %s: %w", cfg.Container, err)
		}
	}
	return b, nil
}

// WithPrefix is a backend for the keys under prefix/ of the same container.
func (b *Backend) WithPrefix(prefix string) (*Backend, error) {
	if err := blob.ValidKey(prefix); err != nil {
		return nil, err
	}
	return &Backend{c: b.c, prefix: b.prefix + prefix + "/", name: b.name}, nil
}

func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// kind is what an answer of Azure Blob Storage means in the contract's
// terms: its error code, else its status (blob.StatusErr). Of the 409s
// only BlobAlreadyExists is an existing object.
func kind(err error) error {
	switch {
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists):
		return blob.ErrExist
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound):
		return blob.ErrNotExist
	case bloberror.HasCode(err, bloberror.InvalidRange):
		return blob.ErrRange
	}
	return blob.StatusErr(status(err))
}

// Put creates the object; ErrExist if it exists.
func (b *Backend) Put(ctx context.Context, key string, data []byte) error {
	if err := blob.CheckPut(ctx, key); err != nil {
		return err
	}
	bb := b.c.NewBlockBlobClient(b.prefix + key)
	return blob.RetryPut(ctx, b.name, func() error {
		_, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{
			AccessConditions: &azb.AccessConditions{ModifiedAccessConditions: &azb.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
		})
		if kind(err) == blob.ErrExist {
			return fmt.Errorf("put %s: %w", key, blob.ErrExist)
		}
		return blob.ObjectErr(ctx, "put", key, err, kind)
	}, status)
}

// Get reads a range of the object.
func (b *Backend) Get(ctx context.Context, key string, off, length int64) (data []byte, err error) {
	err = blob.Retry(ctx, b.name, func() (err error) {
		data, err = blob.ReadRange(ctx, b.stat, key, off, length, func(length int64) (io.ReadCloser, *string, error) {
			opts := &azb.DownloadStreamOptions{}
			if length > 0 {
				opts.Range = azb.HTTPRange{Offset: off, Count: length}
			}
			resp, err := b.c.NewBlobClient(b.prefix+key).DownloadStream(ctx, opts)
			return resp.Body, resp.ContentRange, err
		}, kind)
		return err
	}, status)
	return data, err
}

// Stat returns the object's size and modification time.
func (b *Backend) Stat(ctx context.Context, key string) (in blob.Info, err error) {
	err = blob.Retry(ctx, b.name, func() (err error) {
		in, err = b.stat(ctx, key)
		return err
	}, status)
	return in, err
}

// stat is one try of Stat.
func (b *Backend) stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	p, err := b.c.NewBlobClient(b.prefix+key).GetProperties(ctx, nil)
	if err != nil {
		return blob.Info{}, blob.ObjectErr(ctx, "stat", key, err, kind)
	}
	return blob.ObjectInfo(key, p.ContentLength, p.LastModified), nil
}

// noKind leaves a listing's failures as the store gave them.
func noKind(error) error { return nil }

// List calls fn for every object under prefix. Each page is asked for
// again after a transient failure (from its marker: the SDK's pager stays
// failed).
func (b *Backend) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	var marker *string
	for {
		var page container.ListBlobsFlatResponse
		err := blob.Retry(ctx, b.name, func() (err error) {
			pager := b.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr(b.prefix + prefix), Marker: marker})
			page, err = pager.NextPage(ctx)
			return blob.ObjectErr(ctx, "list", prefix, err, noKind)
		}, status)
		if err != nil {
			return err
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil {
				continue
			}
			in := blob.Info{Key: strings.TrimPrefix(*it.Name, b.prefix)}
			if it.Properties != nil {
				in = blob.ObjectInfo(in.Key, it.Properties.ContentLength, it.Properties.LastModified)
			}
			if err := fn(in); err != nil {
				return err
			}
		}
		if page.NextMarker == nil || *page.NextMarker == "" {
			return nil
		}
		marker = page.NextMarker
	}
}

// Delete removes the object.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	return blob.Retry(ctx, b.name, func() error {
		_, err := b.c.NewBlobClient(b.prefix+key).Delete(ctx, nil)
		return blob.ObjectErr(ctx, "delete", key, err, kind)
	}, status)
}

// Close releases nothing (the HTTP client is shared).
func (b *Backend) Close() error { return nil }
