package s3_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/s3"
	"github.com/safehold/safehold/internal/testsvc"
)

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }

func open(t *testing.T, bucket, prefix string) *s3.Backend {
	t.Helper()
	ep, access, secret := testsvc.S3Endpoint(t)
	b, err := s3.Open(context.Background(), s3.Config{Endpoint: ep, Region: "us-east-1", AccessKey: access, SecretKey: secret, Bucket: bucket, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Against the S3 server: on buckets that do not exist yet (Open creates
// them), and under two prefixes of one bucket.
func TestS3Conformance(t *testing.T) {
	blobtest.RunStore(t, func() string { return testsvc.RandomName("b") },
		func(t *testing.T, bucket, prefix string) blob.Backend { return open(t, bucket, prefix) })
}

func TestS3ParseURL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "ak")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sk")
	c, err := s3.ParseURL("s3://backups?endpoint=http://127.0.0.1:7070&region=eu-west-1&prefix=a/b")
	if err != nil || c.Bucket != "backups" || c.Endpoint != "http://127.0.0.1:7070" || c.Region != "eu-west-1" || c.Prefix != "a/b" || c.AccessKey != "ak" {
		t.Fatalf("%+v %v", c, err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := s3.ParseURL("s3://backups"); err == nil {
		t.Fatal("missing secret accepted")
	}
}

// TestS3PutRetriesCutUploads: the S3 server behind a proxy that cuts
// uploads halfway, more times than the S3 client retries by itself: the
// Put succeeds once they pass (blobtest.PutThroughCuts). It failed after
// the client's own tries, and the backup whose pack it was failed with it.
func TestS3PutRetriesCutUploads(t *testing.T) {
	ep, access, secret := testsvc.S3Endpoint(t)
	f := testsvc.NewFaultyStore(t, ep)
	b, err := s3.Open(context.Background(), s3.Config{Endpoint: f.URL, Region: "us-east-1", AccessKey: access, SecretKey: secret, Bucket: testsvc.RandomName("b")})
	if err != nil {
		t.Fatal(err)
	}
	blobtest.PutThroughCuts(t, b, func(on bool) {
		if on {
			f.Set(testsvc.StoreCutsPuts)
		} else {
			f.Set(testsvc.StoreUp)
		}
	}, f.Failed)
}

// TestS3RetriesAfterAnOutage: after an outage long enough for many
// requests to fail (here 60 reads that each failed all of the S3
// client's tries), the store comes back flaky (every other request
// answers 503): every read succeeds, the client retrying its failed try
// as before the outage. The AWS SDK's retry quota (a token bucket shared
// by the whole client, refilled only by successes) was spent by the
// outage, so after it a failed try was not retried at all and the read
// failed at once (a job failed 7 s after the store was back): Safehold's
// own retries (blob.Retry) own the pacing, the SDK's retries have no
// quota.
func TestS3RetriesAfterAnOutage(t *testing.T) {
	ep, access, secret := testsvc.S3Endpoint(t)
	f := testsvc.NewFaultyStore(t, ep)
	ctx := context.Background()
	b, err := s3.Open(ctx, s3.Config{Endpoint: f.URL, Region: "us-east-1", AccessKey: access, SecretKey: secret, Bucket: testsvc.RandomName("b")})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "k", []byte("the object")); err != nil {
		t.Fatal(err)
	}
	f.Set(testsvc.Store503)
	var wg sync.WaitGroup
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Get(ctx, "k", 0, -1); err == nil {
				t.Error("a read through the outage succeeded")
			}
		}()
	}
	wg.Wait()
	f.Set(testsvc.StoreFlaky)
	for i := range 20 {
		got, err := b.Get(ctx, "k", 0, -1)
		if err != nil || string(got) != "the object" {
			var u *blob.Unreachable
			t.Fatalf("read %d after the outage, the store flaky: %q, %v (unreachable %v)", i, got, err, errors.As(err, &u))
		}
	}
}
