package protection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/safehold/safehold/store"
)

const rpKind = "protection.rp"

// Tiers a recovery point's data can live in.
const (
	TierOperational = "OperationalStore" // snapshots next to the disks (Azure's "snapshot tier", RS InstantRP)
	TierVault       = "VaultStore"       // chunks copied to the vault (RS HardenedRP)
)

// DiskSnapshot is one disk's part of a recovery point.
type DiskSnapshot struct {
	DiskID     string `json:"diskId"`             // ARM id of the source disk
	SnapshotID string `json:"snapshotId"`         // ARM id of the Microsoft.Compute/snapshots resource
	EngineID   string `json:"engineId,omitempty"` // snapshot engine manifest id, when known
	Lun        int    `json:"lun,omitempty"`      // data disk LUN (-1 for an OS disk), VM backups only
	SizeBytes  int64  `json:"sizeBytes,omitempty"`
	OSDisk     bool   `json:"osDisk,omitempty"`
	// SKU and Tier are the source disk's sku and performance tier at the
	// backup: a disk restored from the point keeps them (points recorded
	// before they were kept restore as Standard_LRS).
	SKU  string `json:"sku,omitempty"`
	Tier string `json:"tier,omitempty"`
}

// RecoveryPoint is one restorable point in time of a protected item. It is
// stored (kind "protection.rp") keyed by ItemID+"/recoveryPoints/"+ID and
// scoped by ItemID, so an item's points list cheaply.
type RecoveryPoint struct {
	ID           string            `json:"id"` // 32 hex characters (Azure's shape for both vault kinds)
	VaultID      string            `json:"vaultId"`
	ItemID       string            `json:"itemId"` // ARM id of the backup instance / protected item
	Time         time.Time         `json:"time"`
	Type         string            `json:"type"`  // e.g. Incremental, CrashConsistent, AppConsistent
	Tiers        []string          `json:"tiers"` // TierOperational and/or TierVault
	Snapshots    []DiskSnapshot    `json:"snapshots"`
	RetentionTag string            `json:"retentionTag,omitempty"` // Default, Daily, Weekly, Monthly, Yearly
	Expiry       *time.Time        `json:"expiry,omitempty"`       // nil = kept until deleted
	PolicyID     string            `json:"policyId,omitempty"`
	PolicyName   string            `json:"policyName,omitempty"`
	JobID        string            `json:"jobId,omitempty"`
	Created      time.Time         `json:"created"`
	Details      map[string]string `json:"details,omitempty"`
	// Archive is set once the point moved to the archive tier (archive.go).
	Archive *ArchiveState `json:"archive,omitempty"`
}

// Expired reports whether p's expiry is at or before now.
func (p *RecoveryPoint) Expired(now time.Time) bool { return p.Expiry != nil && !p.Expiry.After(now) }

// PointID derives a stable 32-hex recovery point id from parts (for
// example the item id and the scheduled time), so a retried backup writes
// the same point instead of a second one.
func PointID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.Join(parts, "|"))))
	return hex.EncodeToString(h[:16])
}

// BackupPointID is the id of the recovery point a backup job of an item
// records: PointID(itemID, jobID) with the version and variant bits of a
// version-4 GUID, written as Azure names a disk's or a VM's points (32
// hex digits, a GUID without its dashes: 13ccde7abc2a4a2380179ca5ada99038).
// Points recorded before it took this shape keep their ids (PointID's,
// without those bits): they are stored under them, so every path that
// takes a point id finds them as before.
func BackupPointID(itemID, jobID string) string {
	b, _ := hex.DecodeString(PointID(itemID, jobID))
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	return hex.EncodeToString(b)
}

func rpKey(itemID, id string) string {
	return strings.ToLower(itemID) + "/recoverypoints/" + strings.ToLower(id)
}

// PutRecoveryPoint stores a recovery point (create or replace).
func PutRecoveryPoint(ctx context.Context, tx store.Tx, p *RecoveryPoint) error {
	return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: rpKind, Key: rpKey(p.ItemID, p.ID), Scope: strings.ToLower(p.ItemID) + "/"}, p, "recovery point")
}

// GetRecoveryPoint reads one point; store.ErrNotFound if absent.
func GetRecoveryPoint(ctx context.Context, r store.Reader, itemID, id string) (*RecoveryPoint, error) {
	return store.GetJSON[RecoveryPoint](ctx, r, rpKind, rpKey(itemID, id), "recovery point")
}

// decodeDocs decodes documents of T (what names T in errors) and keeps
// those keep accepts.
func decodeDocs[T any](docs []store.Doc, what string, keep func(*T) bool) ([]*T, error) {
	out := make([]*T, 0, len(docs))
	for _, d := range docs {
		v, err := store.DecodeJSON[T](d, what)
		if err != nil {
			return nil, err
		}
		if keep(v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// newestFirst sorts xs by their time, newest first, and equal times by id
// (key gives both).
func newestFirst[T any](xs []T, key func(T) (time.Time, string)) {
	sort.SliceStable(xs, func(a, b int) bool {
		ta, ia := key(xs[a])
		tb, ib := key(xs[b])
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
		return ia < ib
	})
}

// ListRecoveryPoints lists an item's points, newest first.
func ListRecoveryPoints(ctx context.Context, r store.Reader, itemID string) ([]*RecoveryPoint, error) {
	docs, err := r.List(ctx, rpKind, store.ListQuery{ScopePrefix: strings.ToLower(itemID) + "/"})
	if err != nil {
		return nil, fmt.Errorf("list recovery points: %w", err)
	}
	out, err := decodeDocs(docs, "recovery point", func(*RecoveryPoint) bool { return true })
	if err != nil {
		return nil, err
	}
	newestFirst(out, func(p *RecoveryPoint) (time.Time, string) { return p.Time, p.ID })
	return out, nil
}

// PointsSummary is what an item's list shows of its recovery points.
type PointsSummary struct {
	Count       int
	Oldest      time.Time // zero: none
	OldestVault time.Time // the oldest point with data in TierVault (zero: none)
}

// SummarizeRecoveryPoints summarizes in one read of the store the
// recovery points of every item whose id is scope or lies under it (a
// vault's id: all its items'), by the item's id lower-cased; an item with
// no point has none. Reading each item's points (ListRecoveryPoints) made
// a list of items a read per item.
func SummarizeRecoveryPoints(ctx context.Context, r store.Reader, scope string) (map[string]PointsSummary, error) {
	out := map[string]PointsSummary{}
	var bad error
	err := store.ListView(ctx, r, rpKind, store.ListQuery{ScopePrefix: strings.ToLower(scope) + "/"}, func(d *store.Doc, _ bool) bool {
		var p struct {
			ItemID string    `json:"itemId"`
			Time   time.Time `json:"time"`
			Tiers  []string  `json:"tiers"`
		}
		if err := json.Unmarshal(d.Value, &p); err != nil {
			bad = fmt.Errorf("decode recovery point %s: %w", d.Key, err)
			return false
		}
		k := strings.ToLower(p.ItemID)
		s := out[k]
		s.Count++
		if s.Oldest.IsZero() || p.Time.Before(s.Oldest) {
			s.Oldest = p.Time
		}
		if slices.Contains(p.Tiers, TierVault) && (s.OldestVault.IsZero() || p.Time.Before(s.OldestVault)) {
			s.OldestVault = p.Time
		}
		out[k] = s
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("list recovery points: %w", err)
	}
	return out, nil
}

// DeleteRecoveryPoint removes one point's record (the caller deletes its
// snapshots first); store.ErrNotFound if absent.
func DeleteRecoveryPoint(ctx context.Context, tx store.Tx, itemID, id string) error {
	return tx.Delete(ctx, rpKind, rpKey(itemID, id))
}
