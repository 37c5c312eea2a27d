package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/store"
)

// The object storage a Safehold keeps its repositories in (--blob) carries
// a marker, safehold/owner: a random id of that storage and the tenant of
// the Safehold that uses it. With a shared store (replicas) the document
// config/object-storage records where the replicas keep their backup data
// (the --blob URL, none for each replica's data dir) and the marker's id.
// A replica whose --blob is another container or bucket than the one the
// others share (or none, or one where they use none) refuses to start:
// it would record recovery points whose data the others cannot read,
// deduplicate against chunks they do not hold, and its collections would
// take the others' packs for garbage. A Safehold started afresh (a store
// of its own) on a container an earlier Safehold used starts, with a
// warning: its vaults' repositories are its own (each under its vault's
// key), so the earlier one's data is only left as it was, and a test
// harness that starts a fresh Safehold per run on one container keeps
// working; it takes the marker as it is, so its own replicas agree.

const objectStorageKey = "object-storage"

// objectStorage is the document config/object-storage and the marker's body.
type objectStorage struct {
	Blob   string `json:"blob"`             // the --blob URL (credentials hidden); "" for the data dirs
	ID     string `json:"id,omitempty"`     // the marker's id
	Tenant string `json:"tenant,omitempty"` // in the marker: the Safehold using it
}

// checkObjectStorage checks (and on first use records) that raw, the
// --blob URL opened as root (nil without --blob), is where this Safehold
// keeps its backup data.
func checkObjectStorage(ctx context.Context, logger *slog.Logger, st store.Store, shared bool, tenant, raw string, root blobRoot) error {
	var mark *objectStorage
	if root != nil {
		var err error
		if mark, err = markObjectStorage(ctx, logger, root, tenant, raw); err != nil {
			return err
		}
	}
	if !shared {
		return nil
	}
	mine := objectStorage{Blob: redactURL(raw)}
	if mark != nil {
		mine.ID = mark.ID
	}
	rec, err := store.GetJSON[objectStorage](ctx, st, "config", objectStorageKey, "object storage")
	if errors.Is(err, store.ErrNotFound) {
		err = st.Update(ctx, func(tx store.Tx) error {
			return store.WriteJSON(ctx, tx.Create, store.Doc{Kind: "config", Key: objectStorageKey}, mine, "object storage")
		})
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("record the object storage: %w", err)
		}
		// Another replica recorded it at the same moment.
		rec, err = store.GetJSON[objectStorage](ctx, st, "config", objectStorageKey, "object storage")
	}
	if err != nil {
		return fmt.Errorf("read the object storage the replicas share: %w", err)
	}
	switch {
	case rec.ID == "" && mine.ID == "":
		return nil
	case rec.ID == "":
		return fmt.Errorf("--blob %s: the replicas sharing this store keep their backup data in their data directories (they run without --blob); start this replica without --blob as well (with object storage of its own it would record recovery points the others cannot read)", mine.Blob)
	case mine.ID == "":
		return fmt.Errorf("the replicas sharing this store keep their backup data in object storage (--blob %s); start this replica with that --blob too (without it, it would record recovery points the others cannot read)", rec.Blob)
	case rec.ID != mine.ID:
		return fmt.Errorf("--blob %s is not the object storage the replicas sharing this store keep their backup data in (--blob %s: its marker safehold/owner has id %s, this one %s); start this replica with the others' --blob (another container, bucket or prefix would hold recovery points the others cannot read, and their collections would delete its data)", mine.Blob, rec.Blob, rec.ID, mine.ID)
	}
	return nil
}

// markObjectStorage reads the marker of the object storage root, writing
// it first if there is none; the marker of another Safehold is warned of.
func markObjectStorage(ctx context.Context, logger *slog.Logger, root blobRoot, tenant, raw string) (*objectStorage, error) {
	be, err := root.Sub("safehold")
	if err != nil {
		return nil, fmt.Errorf("--blob: %w", err)
	}
	defer be.Close()
	mark := objectStorage{Blob: redactURL(raw), ID: uuid.NewString(), Tenant: tenant}
	b, _ := json.Marshal(mark)
	err = be.Put(ctx, "owner", b)
	if err == nil {
		return &mark, nil
	}
	if !errors.Is(err, blob.ErrExist) {
		return nil, fmt.Errorf("--blob %s: write its marker safehold/owner: %w", mark.Blob, err)
	}
	if b, err = be.Get(ctx, "owner", 0, -1); err != nil {
		return nil, fmt.Errorf("--blob %s: read its marker safehold/owner: %w", mark.Blob, err)
	}
	var got objectStorage
	if err := json.Unmarshal(b, &got); err != nil || got.ID == "" {
		return nil, fmt.Errorf("--blob %s: its marker safehold/owner is not Safehold's (%q); give Safehold a container or bucket (or prefix) of its own", mark.Blob, b)
	}
	if got.Tenant != tenant {
		logger.Warn("object storage: --blob was first used by another Safehold (its marker safehold/owner names another tenant); its data stays as it is, this Safehold's vaults keep repositories of their own there", "blob", mark.Blob, "marker_tenant", got.Tenant, "tenant", tenant)
	}
	return &got, nil
}
