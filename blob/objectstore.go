package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the backends on object stores (blob/azure, blob/s3) share: their
// URLs, the key prefix they keep their objects under, what the store's
// statuses mean, and how a ranged read maps onto a store that answers
// ranges in its own way.

// ParseStoreURL reads an object store's URL in the gocloud.dev style,
// SCHEME://NAME?key=value&... (want, e.g. "s3://BUCKET?endpoint=URL", shows
// the form in the error), with the credentials in the environment
// variables env, which must all be set. It returns the container's (the
// bucket's) name, the query and the credentials in the order of env.
func ParseStoreURL(raw, scheme, want string, env ...string) (name string, query url.Values, creds []string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != scheme || u.Host == "" {
		return "", nil, nil, fmt.Errorf("blob URL %q: want %s", raw, want)
	}
	for _, k := range env {
		v := os.Getenv(k)
		if v == "" {
			return "", nil, nil, fmt.Errorf("blob URL %s: set %s", u.Redacted(), strings.Join(env, " and "))
		}
		creds = append(creds, v)
	}
	return u.Host, u.Query(), creds, nil
}

// StorePrefix normalises a backend's key prefix ("" or valid key characters,
// "/"-separated, with or without a trailing "/") to "" or "PREFIX/".
func StorePrefix(prefix string) (string, error) {
	if prefix == "" {
		return "", nil
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if err := ValidKey(prefix); err != nil {
		return "", err
	}
	return prefix + "/", nil
}

// SizedRange prepares a Get of [off, off+length) on an object store. A
// zero-length read, a read to the end from off > 0 (which may start exactly
// at the end: Azure answers that 416) and an invalid range need the object's
// size first: SizedRange reads it with stat and checks the range
// (CheckRange). It returns the length to request (< 0: the whole object) and
// whether the answer is empty without a request.
func SizedRange(ctx context.Context, stat func(context.Context, string) (Info, error), key string, off, length int64) (int64, bool, error) {
	if !(off < 0 || length == 0 || off > 0 && length < 0) {
		return length, false, nil
	}
	info, err := stat(ctx, key)
	if err != nil {
		return 0, false, err
	}
	end, err := CheckRange(key, info.Size, off, length)
	if err != nil {
		return 0, false, err
	}
	return end - off, end == off, nil
}

// CheckContentRange checks a ranged read of [off, off+length) against the
// object size in the answer's Content-Range ("bytes a-b/total"), when the
// store gave one (stores that do not reject ranges past the end, like
// Azurite, are caught here).
func CheckContentRange(key string, contentRange *string, off, length int64) error {
	if length <= 0 || contentRange == nil {
		return nil
	}
	i := strings.LastIndexByte(*contentRange, '/')
	if i < 0 {
		return nil
	}
	total, err := strconv.ParseInt((*contentRange)[i+1:], 10, 64)
	if err != nil {
		return nil
	}
	_, err = CheckRange(key, total, off, length)
	return err
}

// CheckLength checks that a ranged read of length > 0 bytes got them all.
func CheckLength(key string, off, length int64, got int) error {
	if length > 0 && int64(got) != length {
		return fmt.Errorf("get %s [%d,+%d): %d bytes: %w", key, off, length, got, ErrRange)
	}
	return nil
}

// StatusErr is what an object store's HTTP status means in the contract's
// terms: 412 (a conditional create of an existing object) ErrExist, 404
// ErrNotExist, 416 ErrRange; nil for any other status (a failure to report
// as the store gave it: another 409 is a lease or a server at its limits,
// not an existing object).
func StatusErr(status int) error {
	switch status {
	case http.StatusPreconditionFailed:
		return ErrExist
	case http.StatusNotFound:
		return ErrNotExist
	case http.StatusRequestedRangeNotSatisfiable:
		return ErrRange
	}
	return nil
}

// ObjectErr is how an object-store backend reports a failed op on key: nil
// for nil, the context's error once it is done (the store's own error then
// only says the request was cut off), the contract's error (ErrNotExist,
// ErrExist, ErrRange) when kind, what the store's answers mean, names one,
// else the store's error with op and key.
//
// A store that could not be reached at all (a refused or broken connection,
// a timeout: no answer) is reported as *Unreachable, so those who answer
// for it (ARM, the disks' data plane) say the object storage is out of
// reach for now, not that the server failed.
func ObjectErr(ctx context.Context, op, key string, err error, kind func(error) error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case kind(err) != nil:
		return fmt.Errorf("%s %s: %w", op, key, kind(err))
	}
	var ne net.Error
	if errors.As(err, &ne) {
		err = &Unreachable{Err: err}
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// Unreachable is an object store's failure to answer at all (a refused or
// broken connection, a timeout), or its failure for now (408, 429, a 5xx)
// that Retry's tries did not outlast. The store is out of reach or
// failing, the object is not at fault; a retry once the store is back may
// succeed.
type Unreachable struct {
	Err error
	// Store names the object store ("s3 bucket B at URL"), when known.
	Store string
	// Status is the store's last answer (0: none came).
	Status int
}

func (u *Unreachable) Error() string {
	store := "object storage"
	if u.Store != "" {
		store += " (" + u.Store + ")"
	}
	if u.Status != 0 {
		return fmt.Sprintf("%s answered %d %s: %v", store, u.Status, http.StatusText(u.Status), u.Err)
	}
	return store + " unreachable: " + u.Err.Error()
}
func (u *Unreachable) Unwrap() error { return u.Err }

// ObjectStoreUnreachable says so to those who do not import blob (arm's
// error mapping matches on this method).
func (u *Unreachable) ObjectStoreUnreachable() bool { return true }

// CheckPut checks a Put of key on an object store before its request: a
// valid key, and a context that is not done.
func CheckPut(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	return ctx.Err()
}

// ObjectInfo is the Info of an object from the optional size and
// modification time an object store lists or heads it with.
func ObjectInfo(key string, size *int64, modTime *time.Time) Info {
	in := Info{Key: key}
	if size != nil {
		in.Size = *size
	}
	if modTime != nil {
		in.ModTime = *modTime
	}
	return in
}

// ReadRange is Get on an object store: it checks the key, sizes the range
// (SizedRange, with stat), asks fetch for [off, off+length) (length < 0:
// to the end) and checks the answer against the range (CheckContentRange,
// CheckLength). fetch returns the body and the answer's Content-Range, or
// the store's error, which kind tells the meaning of (ErrRange,
// ErrNotExist, nil: another failure).
func ReadRange(ctx context.Context, stat func(context.Context, string) (Info, error), key string, off, length int64,
	fetch func(length int64) (io.ReadCloser, *string, error), kind func(error) error) ([]byte, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	length, empty, err := SizedRange(ctx, stat, key, off, length)
	if err != nil {
		return nil, err
	}
	if empty {
		return []byte{}, nil
	}
	body, contentRange, err := fetch(length)
	if err != nil {
		if kind(err) == ErrRange {
			return nil, fmt.Errorf("get %s [%d,+%d): %w", key, off, length, ErrRange)
		}
		return nil, ObjectErr(ctx, "get", key, err, kind)
	}
	defer body.Close()
	if err := CheckContentRange(key, contentRange, off, length); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, ObjectErr(ctx, "get", key, err, kind)
	}
	if err := CheckLength(key, off, length, len(data)); err != nil {
		return nil, err
	}
	return data, nil
}

// Backoff is how long a request to an object store that met a transient
// failure waits before each of its next tries (a quarter more or less, at
// random): half a minute in all, beyond the retries of the store's own
// client (a few seconds), so that an object store out of reach for a
// while (its connections cut, answering 503, restarting) fails neither
// the backup whose pack it was (which would then be taken again from the
// start) nor the restore or verify reading it; a store down for longer
// fails them then, saying so. One policy for every request: uploads,
// reads, listings, deletes (Retry).
var Backoff = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second}

// Transient reports whether a failed request to an object store may
// succeed if made again: the store was out of reach (Unreachable: a
// refused or cut connection, a timeout) or answered status 408, 429 or a
// 5xx (busy, failing for now). A request cut off by its own context is
// not.
func Transient(err error, status int) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var u *Unreachable
	return errors.As(err, &u) || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// QuickTries is how many of Backoff's waits a read, listing or delete
// outside Patient work makes: none (a request a client waits on answers
// 503 after the store client's own tries, for the client to retry, as it
// did before jobs rode out the store's failures).
const QuickTries = 0

type patientKey struct{}

// Patient marks ctx as background work's (the job runner's, the
// leader's upkeep): its reads, listings and deletes ride out the whole of
// Backoff, as every upload does.
func Patient(ctx context.Context) context.Context {
	return context.WithValue(ctx, patientKey{}, true)
}

// Retry makes one read, listing or delete on the object store named store
// (do, which answers ObjectErr's errors) until it succeeds, fails in a way
// another try would not change, or the tries allowed are spent: Backoff's
// for Patient work (jobs: a restore or verify rides out an outage as the
// backup's uploads do), QuickTries' otherwise. status tells an error's
// HTTP status (0: none). A transient failure it gives up on is an
// *Unreachable naming the store and its last answer, so jobs and requests
// say the object storage failed, not the user or the server.
func Retry(ctx context.Context, store string, do func() error, status func(error) int) error {
	tries := QuickTries
	if ctx.Value(patientKey{}) != nil {
		tries = len(Backoff)
	}
	return retry(ctx, store, tries, do, status)
}

// RetryPut is Retry for an upload, which rides out the whole of Backoff
// wherever it comes from (a pack whose upload fails fails its backup). A
// try after one whose answer was lost may find the object there already
// (ErrExist): the callers tell their own object from another (chunk's
// ownPut, PutObject).
func RetryPut(ctx context.Context, store string, put func() error, status func(error) int) error {
	return retry(ctx, store, len(Backoff), put, status)
}

func retry(ctx context.Context, store string, tries int, do func() error, status func(error) int) error {
	for try := 0; ; try++ {
		err := do()
		if !Transient(err, status(err)) {
			return err
		}
		if try == tries {
			return storeFailed(err, store, status(err))
		}
		d := Backoff[try]
		d += time.Duration(rand.Int64N(int64(d/2))) - d/4
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return storeFailed(err, store, status(err))
		case <-t.C:
		}
	}
}

// storeFailed is err, a transient failure of the object store named store
// (its last answer status), as an *Unreachable naming the store.
func storeFailed(err error, store string, status int) error {
	var u *Unreachable
	if errors.As(err, &u) {
		if u.Store == "" {
			u.Store = store
		}
		return err
	}
	return &Unreachable{Err: err, Store: store, Status: status}
}
