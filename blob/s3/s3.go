// Package s3 is the blob.Backend on S3-compatible object storage (AWS S3,
// versitygw, MinIO, ...): one object per key, in one bucket, under an
// optional key prefix.
//
// How the contract maps:
//   - Put is one PutObject with If-None-Match: * (S3 conditional writes);
//     412 PreconditionFailed → ErrExist. A 409 ConditionalRequestConflict (a
//     concurrent create of the same key in flight) is retried for a second,
//     then is ErrExist too (the callers wait for the object and compare).
//     One cut off or refused for a while is retried (blob.RetryPut); reads,
//     listings and deletes by jobs are too (blob.Retry). The SDK's own
//     tries have no retry quota (ratelimit.None): an outage spent it.
//   - Get is a ranged GetObject; range errors are decided from the object's
//     size (Content-Range, or HeadObject).
//   - Delete checks existence with HeadObject first (S3's DeleteObject
//     succeeds on missing keys); a delete racing another delete of the same
//     key may therefore both succeed, which the layers above tolerate.
//   - Path-style addressing, so endpoints without wildcard DNS work.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/safehold/safehold/blob"
)

// Backend stores objects in one bucket.
type Backend struct {
	c      *awss3.Client
	bucket string
	prefix string // "" or ending in "/"
	name   string // "s3 bucket B at URL", for messages
}

// Config locates a bucket.
type Config struct {
	Endpoint  string // e.g. http://127.0.0.1:7070; empty for AWS
	Region    string
	AccessKey string
	SecretKey string
	Bucket    string
	Prefix    string
}

// ParseURL reads s3://BUCKET?endpoint=URL&region=R&prefix=P (the gocloud.dev
// style) with credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func ParseURL(raw string) (Config, error) {
	bucket, q, creds, err := blob.ParseStoreURL(raw, "s3", "s3://BUCKET?endpoint=URL&region=REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
	if err != nil {
		return Config{}, err
	}
	c := Config{Endpoint: q.Get("endpoint"), Region: q.Get("region"), AccessKey: creds[0], SecretKey: creds[1], Bucket: bucket, Prefix: q.Get("prefix")}
	if c.Region == "" {
		c.Region = os.Getenv("AWS_REGION")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	return c, nil
}

// Open connects to the bucket, creating it when missing (if the credentials
// allow).
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	prefix, err := blob.StorePrefix(cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("s3 prefix: %w", err)
	}
	opts := awss3.Options{
		Region:       cfg.Region,
		UsePathStyle: true,
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey, Source: "safehold"}, nil
		})),
		// Checksums only when the operation requires them: S3-compatible
		// servers differ in their support of the newer trailing checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		// The SDK's retries without its retry quota (a token bucket the
		// whole client shares, refilled only by successes): an outage
		// spent it, and after it a failed try was not retried at all
		// (a job failed seconds after the store was back). blob.Retry
		// and blob.RetryPut pace the retries over an outage.
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None }),
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	at := cfg.Endpoint
	if at == "" {
		at = "AWS " + cfg.Region
	}
	b := &Backend{c: awss3.New(opts), bucket: cfg.Bucket, prefix: prefix, name: "s3 bucket " + cfg.Bucket + " at " + at}
	if _, err := b.c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		if _, cerr := b.c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); cerr != nil {
			var owned *types.BucketAlreadyOwnedByYou
			if !errors.As(cerr, &owned) && code(cerr) != "BucketAlreadyExists" {
				return nil, fmt.Errorf("s3 bucket %s: %w", cfg.Bucket, cerr)
			}
		}
	}
	return b, nil
}

// WithPrefix is a backend for the keys under prefix/ of the same bucket.
func (b *Backend) WithPrefix(prefix string) (*Backend, error) {
	if err := blob.ValidKey(prefix); err != nil {
		return nil, err
	}
	return &Backend{c: b.c, bucket: b.bucket, prefix: b.prefix + prefix + "/", name: b.name}, nil
}

func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// kind is what an answer of the S3 server means in the contract's terms.
func kind(err error) error { return blob.StatusErr(status(err)) }

// Put creates the object; ErrExist if it exists.
func (b *Backend) Put(ctx context.Context, key string, data []byte) error {
	if err := blob.CheckPut(ctx, key); err != nil {
		return err
	}
	body := string(data) // a copy: the transport may read a body after its answer came
	return blob.RetryPut(ctx, b.name, func() error {
		for attempt := 0; ; attempt++ {
			_, err := b.c.PutObject(ctx, &awss3.PutObjectInput{
				Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key), Body: strings.NewReader(body),
				ContentLength: aws.Int64(int64(len(data))), IfNoneMatch: aws.String("*"),
			})
			switch {
			case err == nil:
				return nil
			case kind(err) == blob.ErrExist:
				return fmt.Errorf("put %s: %w", key, blob.ErrExist)
			case status(err) == http.StatusConflict && attempt < 10:
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
				}
				continue
			case status(err) == http.StatusConflict:
				// Still in flight after a second: most often this Put's
				// own earlier try, whose answer was lost and which a busy
				// server commits seconds later. ErrExist, as Azure's 409
				// is: the callers wait for the object and check it holds
				// their contents. (The 409 failed the backup whose
				// manifest it was.)
				return fmt.Errorf("put %s: a create of the key is in flight (%v): %w", key, err, blob.ErrExist)
			}
			return blob.ObjectErr(ctx, "put", key, err, kind)
		}
	}, status)
}

// Get reads a range of the object.
func (b *Backend) Get(ctx context.Context, key string, off, length int64) (data []byte, err error) {
	err = blob.Retry(ctx, b.name, func() (err error) {
		data, err = blob.ReadRange(ctx, b.stat, key, off, length, func(length int64) (io.ReadCloser, *string, error) {
			in := &awss3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)}
			if length > 0 {
				in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
			}
			out, err := b.c.GetObject(ctx, in)
			if err != nil {
				return nil, nil, err
			}
			return out.Body, out.ContentRange, nil
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
	out, err := b.c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	if err != nil {
		return blob.Info{}, blob.ObjectErr(ctx, "stat", key, err, kind)
	}
	return blob.ObjectInfo(key, out.ContentLength, out.LastModified), nil
}

// List calls fn for every object under prefix (each page asked for again
// after a transient failure: the paginator keeps its token).
func (b *Backend) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	p := awss3.NewListObjectsV2Paginator(b.c, &awss3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(b.prefix + prefix)})
	for p.HasMorePages() {
		var page *awss3.ListObjectsV2Output
		err := blob.Retry(ctx, b.name, func() (err error) {
			page, err = p.NextPage(ctx)
			return blob.ObjectErr(ctx, "list", prefix, err, kind)
		}, status)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if o.Key == nil {
				continue
			}
			if err := fn(blob.ObjectInfo(strings.TrimPrefix(*o.Key, b.prefix), o.Size, o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes the object; ErrNotExist if it is missing.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if _, err := b.Stat(ctx, key); err != nil {
		return err
	}
	return blob.Retry(ctx, b.name, func() error {
		_, err := b.c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
		return blob.ObjectErr(ctx, "delete", key, err, kind)
	}, status)
}

// Close releases nothing.
func (b *Backend) Close() error { return nil }
