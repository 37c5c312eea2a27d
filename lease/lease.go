// Package lease keeps named leases in the metadata store: rows with a
// holder, a time-to-live and an epoch, shared by every replica of one
// Safehold. They serve three purposes:
//
//   - Leader election for singletons (GC, retention sweeps, scheduled
//     verify): a Leader campaigns for a named lease, renews it every TTL/3
//     while it lives, and is the leader while its renewals succeed. The
//     epoch grows with every change of holder; Check, inside the
//     singleton's own store transaction, fails with ErrLost once another
//     holder took over (fencing: a stale leader commits nothing).
//   - Ownership of one thing (a managed disk's live data): Try and Check
//     with the thing's name; the owner renews, the others read Get to find
//     the owner and whether it is alive.
//   - A gate between garbage collection and writers of one repository
//     (Gate): writers hold shared entries, a collection holds the exclusive
//     entry, so no capture can reference a chunk between a collection's mark
//     and its sweep, in any replica.
//
// The rows are store documents (kind "lease"), read and written inside
// store.Update, which every driver serializes (SQLite's single writer,
// PostgreSQL's advisory lock), so a take is a plain read-modify-write.
// TTLs are real time (processes being alive), never the protection clock
// the admin API moves.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
)

// Kind is the store document kind of lease rows.
const Kind = "lease"

// ErrLost is returned by Check (and by work fenced by a lease) when the
// lease is held by someone else now, under a newer epoch, or is gone.
var ErrLost = errors.New("lease lost (another holder took it over)")

// Row is one lease as stored.
type Row struct {
	Name   string    `json:"name"`
	Holder string    `json:"holder"`
	Epoch  int64     `json:"epoch"`
	Until  time.Time `json:"until"`
	// Data is the holder's payload (a disk owner's address).
	Data string `json:"data,omitempty"`
}

// Alive reports whether the row's holder still holds it at now.
func (r Row) Alive(now time.Time) bool { return r.Holder != "" && now.Before(r.Until) }

func key(name string) string { return strings.ToLower(name) }

// scope groups lease rows by the part of the name before the last ':' so
// List can find a gate's writers.
func scope(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return strings.ToLower(name[:i+1])
	}
	return ""
}

// Get reads a lease row (ErrNotFound wrapped when there is none).
func Get(ctx context.Context, r store.Reader, name string) (Row, error) {
	d, err := r.Get(ctx, Kind, key(name))
	if err != nil {
		return Row{}, err
	}
	var row Row
	if err := json.Unmarshal(d.Value, &row); err != nil {
		return Row{}, fmt.Errorf("lease %s: %w", name, err)
	}
	return row, nil
}

// List returns the rows whose names start with prefix (which must end with
// ':').
func List(ctx context.Context, r store.Reader, prefix string) ([]Row, error) {
	docs, err := r.List(ctx, Kind, store.ListQuery{ScopePrefix: strings.ToLower(prefix)})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(docs))
	for _, d := range docs {
		var row Row
		if json.Unmarshal(d.Value, &row) == nil && strings.HasPrefix(strings.ToLower(row.Name), strings.ToLower(prefix)) {
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// Live lists the rows under prefix (ending with ':') whose holders hold
// them at now. With a lease per process under one prefix, each renewed
// while its process runs (a Leader of the process's own name, as every
// replica's "replica:{node id}"), these are the live processes: one that
// stopped released its row, one that died let it expire.
func Live(ctx context.Context, r store.Reader, prefix string, now time.Time) ([]Row, error) {
	rows, err := List(ctx, r, prefix)
	if err != nil {
		return nil, err
	}
	live := rows[:0]
	for _, row := range rows {
		if row.Alive(now) {
			live = append(live, row)
		}
	}
	return live, nil
}

func put(ctx context.Context, tx store.Tx, row Row) error {
	return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: Kind, Key: key(row.Name), Scope: scope(row.Name)}, row, "lease")
}

// TakeTx takes or renews the named lease for holder inside tx: it succeeds
// when nobody holds it, when its holder's TTL has passed, or when holder
// holds it already (a renewal, keeping the epoch). A new holder gets the
// next epoch. It returns the row as stored and whether holder has it.
func TakeTx(ctx context.Context, tx store.Tx, name, holder, data string, now time.Time, ttl time.Duration) (Row, bool, error) {
	old, err := Get(ctx, tx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Row{}, false, err
	}
	if old.Holder != "" && old.Holder != holder && old.Alive(now) {
		return old, false, nil
	}
	row := Row{Name: name, Holder: holder, Epoch: old.Epoch, Until: now.Add(ttl), Data: data}
	if old.Holder != holder || !old.Alive(now) {
		row.Epoch++ // a new tenure (also for a holder whose own lease lapsed)
	}
	if err := put(ctx, tx, row); err != nil {
		return Row{}, false, err
	}
	return row, true, nil
}

// Try takes or renews the named lease for holder (see TakeTx).
func Try(ctx context.Context, s store.Store, name, holder, data string, now time.Time, ttl time.Duration) (Row, bool, error) {
	var row Row
	var ok bool
	err := s.Update(ctx, func(tx store.Tx) error {
		var err error
		row, ok, err = TakeTx(ctx, tx, name, holder, data, now, ttl)
		return err
	})
	return row, ok, err
}

// Renew extends a lease holder holds under epoch; ErrLost when it does not
// any more (someone else took it, or its TTL passed and it was taken).
func Renew(ctx context.Context, s store.Store, name, holder string, epoch int64, now time.Time, ttl time.Duration) error {
	return s.Update(ctx, func(tx store.Tx) error {
		row, err := Get(ctx, tx, name)
		if errors.Is(err, store.ErrNotFound) || err == nil && (row.Holder != holder || row.Epoch != epoch) {
			return fmt.Errorf("renew %s: %w", name, ErrLost)
		}
		if err != nil {
			return err
		}
		row.Until = now.Add(ttl)
		return put(ctx, tx, row)
	})
}

// Check fails with ErrLost unless holder still holds the named lease under
// epoch and its TTL has not passed at now. Call it inside the transaction
// that commits work done under the lease.
func Check(ctx context.Context, r store.Reader, name, holder string, epoch int64, now time.Time) error {
	row, err := Get(ctx, r, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", name, ErrLost)
	}
	if err != nil {
		return err
	}
	if row.Holder != holder || row.Epoch != epoch || !row.Alive(now) {
		return fmt.Errorf("%s (held by %s, epoch %d): %w", name, row.Holder, row.Epoch, ErrLost)
	}
	return nil
}

// Release gives the lease up if holder still holds it under epoch (no
// error otherwise). The row stays, so the next holder's epoch is higher.
func Release(ctx context.Context, s store.Store, name, holder string, epoch int64) error {
	return s.Update(ctx, func(tx store.Tx) error {
		row, err := Get(ctx, tx, name)
		if err != nil || row.Holder != holder || row.Epoch != epoch {
			return nil
		}
		row.Holder, row.Until, row.Data = "", time.Time{}, ""
		return put(ctx, tx, row)
	})
}

// Delete removes the row of a lease holder holds (no error when it does
// not): for short-lived names (a gate's writers) that should not pile up.
func Delete(ctx context.Context, s store.Store, name, holder string) error {
	return s.Update(ctx, func(tx store.Tx) error {
		row, err := Get(ctx, tx, name)
		if err != nil || row.Holder != holder {
			return nil
		}
		return tx.Delete(ctx, Kind, key(name))
	})
}

func realClock(c clock.Clock) clock.Clock {
	if c == nil {
		return clock.Real{}
	}
	return c
}

// WantKind is the store document kind of singleton requests (Want).
const WantKind = "lease.want"

// Want asks the leader to run the named singleton work (a GC of one
// repository) at its next round: a replica that is not the leader records
// the request instead of running the work itself.
func Want(ctx context.Context, s store.Store, work string, now time.Time) error {
	return s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, wantDoc(work, now))
	})
}

// WantOnce asks for the work as Want does unless it is requested already
// (due at once or later, or failed and waiting for its retry): a request
// made on a state the leader sees for itself (a writer's abandoned gate
// entry) must not reset the backoff or the due time of one standing.
func WantOnce(ctx context.Context, s store.Store, work string, now time.Time) error {
	return s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, WantKind, strings.ToLower(work)); err == nil || !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(ctx, wantDoc(work, now))
	})
}

func wantDoc(work string, now time.Time) store.Doc {
	return store.Doc{Kind: WantKind, Key: strings.ToLower(work), Value: []byte(`"` + now.UTC().Format(time.RFC3339Nano) + `"`)}
}

// Wanted lists the requested singleton work (names as given to Want).
func Wanted(ctx context.Context, r store.Reader) ([]store.Doc, error) {
	return r.List(ctx, WantKind, store.ListQuery{})
}

// Due is when a request is to run, in real time: the time Again or
// Failed gave it, or the zero time (at once) for one Want made.
func Due(d store.Doc) time.Time {
	return wanted(d).Due
}

// Failures is how many runs of a request failed in a row (Failed), and the
// last one's error.
func Failures(d store.Doc) (int, string) {
	v := wanted(d)
	return v.Failures, v.Error
}

// wantValue is a request's value once the leader ran it (Want writes a
// bare time, which decodes to the zero value: due at once, no failure).
type wantValue struct {
	Due      time.Time `json:"due"`
	Failures int       `json:"failures,omitempty"`
	Error    string    `json:"error,omitempty"`
}

func wanted(d store.Doc) wantValue {
	var v wantValue
	if json.Unmarshal(d.Value, &v) != nil {
		return wantValue{}
	}
	return v
}

// RetryFirst and RetryMax bound the backoff of a request whose run failed:
// the first retry RetryFirst after the failure, each next one twice as
// late, never later than RetryMax. A run that fails for good (an object
// store gone, its credentials revoked) is retried a few times a day, not
// every few minutes for ever; a new request for the work (Want: another
// delete's garbage) is due at once and ends the backoff.
const (
	RetryFirst = 5 * time.Second
	RetryMax   = 6 * time.Hour
)

// Persistent is how many failures in a row make a request's failure
// persistent (its backoff past ten minutes): worth an operator's look.
const Persistent = 8

// Failed keeps a request whose run failed (an outage of the object store,
// of the metadata store) and makes it due again after a backoff that grows
// with its failures in a row (RetryFirst doubling up to RetryMax), so the
// work is done once the failure passes, by whichever replica leads then;
// it answers that due time. A request made again since d was read is kept
// as it is: it is due at once.
func Failed(ctx context.Context, s store.Store, d store.Doc, now time.Time, cause error) (time.Time, error) {
	v := wanted(d)
	v.Failures++
	wait := RetryMax
	if v.Failures <= 16 { // RetryFirst<<15 (45 h) is past RetryMax already
		wait = min(RetryFirst<<(v.Failures-1), RetryMax)
	}
	v.Due = now.Add(wait).UTC()
	v.Error = ""
	if cause != nil {
		v.Error = cause.Error()
	}
	return v.Due, putWant(ctx, s, d, v)
}

// Again replaces a request the leader ran by one due at due (real time):
// the work left something it could not do yet (a collection's packs too
// young to touch), and whichever replica leads then runs it, not only the
// one that ran it now, whose timer a stop or a kill would lose. A request
// made again since d was read is kept: it is due at once and covers it.
func Again(ctx context.Context, s store.Store, d store.Doc, due time.Time) error {
	return putWant(ctx, s, d, wantValue{Due: due.UTC()})
}

// putWant replaces a request the leader ran (d as read) by v, unless it was
// made again since.
func putWant(ctx context.Context, s store.Store, d store.Doc, v wantValue) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Get(ctx, WantKind, d.Key)
		if err != nil || cur.Version != d.Version {
			return nil
		}
		return tx.Put(ctx, store.Doc{Kind: WantKind, Key: d.Key, Value: b})
	})
}

// Done removes a request the leader ran, unless it was made again (a newer
// version) since d was read.
func Done(ctx context.Context, s store.Store, d store.Doc) error {
	return s.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Get(ctx, WantKind, d.Key)
		if err != nil || cur.Version != d.Version {
			return nil
		}
		return tx.Delete(ctx, WantKind, d.Key)
	})
}

// ElsewhereError says that what was asked for is owned by another holder
// (a managed disk's live data, by the replica whose data dir holds it).
// Alive tells whether the owner currently holds its lease: forward to URL
// then; otherwise the thing is unavailable until the owner returns.
type ElsewhereError struct {
	Name   string // the lease, e.g. "disk:{uniqueId}"
	What   string // for messages, e.g. "Disk 'd1'"
	Holder string
	URL    string // the owner's endpoint (its --addr), from the lease's Data
	Alive  bool
	Until  time.Time // when the owner's lease ends (or ended, when not Alive)
}

func (e *ElsewhereError) Error() string {
	if e.Alive {
		return fmt.Sprintf("%s is served by replica %s (%s)", e.What, e.Holder, e.URL)
	}
	if e.Holder == "" {
		return fmt.Sprintf("%s has no live owner: its data lives in the data directory of a replica that is not running; restart that replica, or restore the disk elsewhere from a recovery point", e.What)
	}
	return fmt.Sprintf("%s is unavailable: its data lives in the data directory of replica %s (%s), which is not running (its ownership lease expired); restart that replica, or restore the disk elsewhere from a recovery point", e.What, e.Holder, e.URL)
}
