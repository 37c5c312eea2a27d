package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// VerifyRequest selects what a verify reads.
type VerifyRequest struct {
	VaultID  string  `json:"vaultId,omitempty"`  // only this vault's recovery points ("" all)
	ReadData bool    `json:"readData,omitempty"` // read and re-hash every chunk
	Sample   float64 `json:"sample,omitempty"`   // read this fraction of packs (0 < sample < 1)
}

// VerifyResult is what a verify found.
type VerifyResult struct {
	OK                    bool                   `json:"ok"`
	Mode                  string                 `json:"mode"` // read-data, sample, structure
	Repositories          []VerifiedRepository   `json:"repositories"`
	DamagedRecoveryPoints []DamagedRecoveryPoint `json:"damagedRecoveryPoints"`
	DamagedPacks          []DamagedPack          `json:"damagedPacks"`
	DamagedSnapshots      []string               `json:"damagedSnapshots"` // engine snapshots no recovery point uses (disk snapshots)
	RecoveryPointsChecked int                    `json:"recoveryPointsChecked"`
	Duration              string                 `json:"duration"`
}

// VerifiedRepository is one snapshot repository's figures.
type VerifiedRepository struct {
	Name      string `json:"name"` // "operational" or "vault <vault id or dir>"
	Snapshots int    `json:"snapshots"`
	Packs     int    `json:"packsRead"`
	Chunks    int    `json:"chunksRead"`
	BytesRead int64  `json:"bytesRead"`
	Bad       int    `json:"badChunks"`
}

// DamagedRecoveryPoint names a recovery point that cannot be restored
// bit-exactly, and why.
type DamagedRecoveryPoint struct {
	VaultID         string    `json:"vaultId"`
	ItemID          string    `json:"itemId"`
	RecoveryPointID string    `json:"recoveryPointId"`
	Time            time.Time `json:"time"`
	Tier            string    `json:"tier"`
	Packs           []string  `json:"packs"`
	Summary         string    `json:"summary"`
}

// DamagedPack is a pack object with damage.
type DamagedPack struct {
	Repository string `json:"repository"`
	Pack       string `json:"pack"`
	Error      string `json:"error"`
	BadChunks  int    `json:"badChunks"`
}

type verifyRun struct {
	mu      sync.Mutex
	ID      string        `json:"id"`
	Status  string        `json:"status"`
	Percent float64       `json:"percentComplete"`
	Start   time.Time     `json:"startTime"`
	End     *time.Time    `json:"endTime,omitempty"`
	Result  *VerifyResult `json:"result,omitempty"`
	Error   *arm.Error    `json:"error,omitempty"`
}

type verifyRuns struct {
	mu   sync.Mutex
	runs map[string]*verifyRun
}

func (s *Server) adminVerify(r *arm.Request) (*arm.Response, error) {
	var req VerifyRequest
	if err := r.DecodeOptional(&req); err != nil {
		return nil, err
	}
	if req.Sample < 0 || req.Sample >= 1 && req.Sample != 0 {
		return nil, arm.BadRequest("InvalidSample", "The sample %g is not a fraction between 0 and 1 (e.g. 0.05).", req.Sample)
	}
	if req.ReadData && req.Sample != 0 {
		return nil, arm.BadRequest("InvalidVerifyMode", "Choose readData (every chunk) or sample (a fraction of packs), not both.")
	}
	if req.VaultID != "" {
		if _, err := arm.ParseID(req.VaultID); err != nil {
			return nil, arm.BadRequest("InvalidVaultId", "The vault id '%s' is not a resource id: %v.", req.VaultID, err)
		}
		if ok, err := resourceExists(r.HTTP.Context(), s.Store, req.VaultID); err != nil {
			return nil, err
		} else if !ok {
			return nil, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The vault '%s' could not be found.", req.VaultID)
		}
	}
	run := &verifyRun{ID: uuid.NewString(), Status: "InProgress", Start: time.Now().UTC()}
	s.verifies.mu.Lock()
	if s.verifies.runs == nil {
		s.verifies.runs = map[string]*verifyRun{}
	}
	s.verifies.runs[run.ID] = run
	s.verifies.mu.Unlock()
	go func() {
		ctx := context.WithoutCancel(r.HTTP.Context())
		res, err := s.Verify(ctx, req, func(done, total int64) {
			run.mu.Lock()
			if total > 0 {
				run.Percent = min(99, float64(done)*100/float64(total))
			}
			run.mu.Unlock()
		})
		run.mu.Lock()
		defer run.mu.Unlock()
		end := time.Now().UTC()
		run.End = &end
		if err != nil {
			var ae *arm.Error
			if !arm.As(err, &ae) {
				ae = arm.Errorf(http.StatusInternalServerError, "VerifyFailed", "The verify could not run: %v", err)
			}
			run.Status, run.Error = "Failed", ae
			return
		}
		run.Status, run.Percent, run.Result = "Succeeded", 100, res
	}()
	resp := arm.Status(http.StatusAccepted, map[string]any{"id": run.ID, "status": run.Status})
	resp.SetHeader("Azure-AsyncOperation", r.URL(adminPath+"/verify/"+run.ID))
	resp.SetHeader("Location", r.URL(adminPath+"/verify/"+run.ID))
	return resp.RetryAfter(r), nil
}

func (s *Server) adminVerifyStatus(r *arm.Request) (*arm.Response, error) {
	s.verifies.mu.Lock()
	run := s.verifies.runs[r.Param("operationId")]
	s.verifies.mu.Unlock()
	if run == nil {
		return nil, arm.Errorf(http.StatusNotFound, "VerifyNotFound", "There is no verify '%s' on this server (runs are kept until it restarts).", r.Param("operationId"))
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	b, _ := json.Marshal(run)
	return arm.OK(json.RawMessage(b)), nil
}

func resourceExists(ctx context.Context, r store.Reader, id string) (bool, error) {
	_, err := r.Get(ctx, "resource", id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

type repoToVerify struct {
	name  string
	repo  *snapshot.Repository
	close func()
	tier  string
}

// Verify checks the operational tier and the vault tiers (of one vault or
// all), maps damaged engine snapshots to the recovery points that hold
// them, and marks those points damaged (clearing the mark of points found
// intact by a full read).
func (s *Server) Verify(ctx context.Context, req VerifyRequest, progress func(done, total int64)) (*VerifyResult, error) {
	start := time.Now()
	res := &VerifyResult{Mode: "structure", DamagedRecoveryPoints: []DamagedRecoveryPoint{}, DamagedPacks: []DamagedPack{}, DamagedSnapshots: []string{}}
	opts := snapshot.VerifyOptions{NoData: true}
	switch {
	case req.ReadData:
		res.Mode, opts = "read-data", snapshot.VerifyOptions{}
	case req.Sample > 0:
		res.Mode, opts = "sample", snapshot.VerifyOptions{Sample: req.Sample}
	}
	repos := []repoToVerify{{name: "operational", repo: s.Compute.Repository(), close: func() {}, tier: protection.TierOperational}}
	vaultDirs, err := s.vaultDirs(ctx, req.VaultID)
	if err != nil {
		return nil, err
	}
	for _, d := range vaultDirs {
		be, err := local.Open(filepath.Join(d.dir, "repo"))
		if err != nil {
			return nil, fmt.Errorf("open vault tier %s: %w", d.name, err)
		}
		repo, err := snapshot.Open(ctx, be, filepath.Join(d.dir, "cache"), snapshot.Options{})
		if err != nil {
			return nil, fmt.Errorf("open vault tier %s: %w", d.name, err)
		}
		repos = append(repos, repoToVerify{name: d.name, repo: repo, close: func() { repo.Close() }, tier: protection.TierVault})
	}
	defer func() {
		for _, r := range repos {
			r.close()
		}
	}()
	var total int64
	for _, r := range repos {
		_, b := r.repo.Size()
		if req.Sample > 0 {
			b = int64(float64(b) * req.Sample)
		}
		if !opts.NoData {
			total += b
		}
	}
	var doneBefore int64
	type badSnap struct {
		tier  string
		packs map[string]bool
		errs  []string
	}
	bad := map[snapshot.ID]*badSnap{}
	for _, r := range repos {
		o := opts
		o.Progress = func(p snapshot.Progress) {
			if progress != nil {
				progress(doneBefore+p.Done, total)
			}
		}
		rep, err := r.repo.Verify(ctx, o)
		if err != nil {
			return nil, err
		}
		doneBefore += rep.BytesRead
		res.Repositories = append(res.Repositories, VerifiedRepository{Name: r.name, Snapshots: rep.Snapshots, Packs: rep.Packs, Chunks: rep.Chunks, BytesRead: rep.BytesRead, Bad: len(rep.Bad)})
		packs := map[string]*DamagedPack{}
		for _, b := range rep.Bad {
			key := b.Pack
			if key == "" {
				key = "(unknown pack)"
			}
			dp := packs[key]
			if dp == nil {
				dp = &DamagedPack{Repository: r.name, Pack: key}
				if b.Err != nil {
					dp.Error = b.Err.Error()
				}
				packs[key] = dp
			}
			if !b.ID.IsZero() {
				dp.BadChunks++
			} else if b.Err != nil {
				dp.Error = b.Err.Error() // the pack-level finding says most
			}
			for _, sid := range b.Snapshots {
				bs := bad[sid]
				if bs == nil {
					bs = &badSnap{tier: r.tier, packs: map[string]bool{}}
					bad[sid] = bs
				}
				bs.packs[key] = true
				if b.Err != nil && len(bs.errs) < 3 {
					bs.errs = append(bs.errs, b.Err.Error())
				}
			}
		}
		for _, dp := range packs {
			res.DamagedPacks = append(res.DamagedPacks, *dp)
		}
	}
	sort.Slice(res.DamagedPacks, func(i, j int) bool {
		return res.DamagedPacks[i].Repository+res.DamagedPacks[i].Pack < res.DamagedPacks[j].Repository+res.DamagedPacks[j].Pack
	})
	points, err := protection.ListAllRecoveryPoints(ctx, s.Store, req.VaultID)
	if err != nil {
		return nil, err
	}
	res.RecoveryPointsChecked = len(points)
	used := map[snapshot.ID]bool{}
	for _, p := range points {
		var d *DamagedRecoveryPoint
		for _, ds := range p.Snapshots {
			sid := snapshot.ID(ds.EngineID)
			used[sid] = true
			bs := bad[sid]
			if bs == nil || !p.HasTier(bs.tier) {
				continue
			}
			if d == nil {
				d = &DamagedRecoveryPoint{VaultID: p.VaultID, ItemID: p.ItemID, RecoveryPointID: p.ID, Time: p.Time, Tier: bs.tier}
			}
			for k := range bs.packs {
				d.Packs = append(d.Packs, k)
			}
			if d.Summary == "" && len(bs.errs) > 0 {
				d.Summary = bs.errs[0]
			}
		}
		if d != nil {
			sort.Strings(d.Packs)
			d.Summary = fmt.Sprintf("%s tier: damaged pack(s) %s: %s", d.Tier, strings.Join(d.Packs, ", "), d.Summary)
			res.DamagedRecoveryPoints = append(res.DamagedRecoveryPoints, *d)
			if err := protection.MarkDamaged(ctx, s.Store, p.ItemID, p.ID, d.Summary); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		} else if req.ReadData && protection.DamageOf(p) != "" {
			if err := protection.MarkDamaged(ctx, s.Store, p.ItemID, p.ID, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
	}
	sort.Slice(res.DamagedRecoveryPoints, func(i, j int) bool {
		a, b := res.DamagedRecoveryPoints[i], res.DamagedRecoveryPoints[j]
		return a.ItemID+a.Time.Format(time.RFC3339Nano) < b.ItemID+b.Time.Format(time.RFC3339Nano)
	})
	for sid := range bad {
		if !used[sid] && req.VaultID == "" {
			res.DamagedSnapshots = append(res.DamagedSnapshots, string(sid))
		}
	}
	sort.Strings(res.DamagedSnapshots)
	res.OK = len(res.DamagedPacks) == 0 && len(bad) == 0
	res.Duration = time.Since(start).Round(time.Millisecond).String()
	s.logger.Info("verify", "mode", res.Mode, "vault", req.VaultID, "ok", res.OK, "damaged_points", len(res.DamagedRecoveryPoints), "damaged_packs", len(res.DamagedPacks), "duration", res.Duration)
	return res, nil
}

type vaultDir struct{ name, dir string }

// vaultDirs lists the vault-tier repositories to verify: every one, or
// the one of vaultID (none for a Backup vault, whose points live in the
// operational tier).
func (s *Server) vaultDirs(ctx context.Context, vaultID string) ([]vaultDir, error) {
	root := filepath.Join(s.Config.DataDir, "vaults")
	if vaultID != "" {
		d, err := s.Store.Get(ctx, "resource", vaultID)
		if err != nil {
			return nil, err
		}
		var v struct {
			UniqueID string `json:"safeholdUniqueId"`
		}
		json.Unmarshal(d.Value, &v)
		if v.UniqueID == "" {
			return nil, nil
		}
		if _, err := os.Stat(filepath.Join(root, v.UniqueID, "repo")); err != nil {
			return nil, nil
		}
		return []vaultDir{{name: "vault " + vaultID, dir: filepath.Join(root, v.UniqueID)}}, nil
	}
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []vaultDir
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(root, e.Name(), "repo")); e.IsDir() && err == nil {
			out = append(out, vaultDir{name: "vault tier " + e.Name(), dir: filepath.Join(root, e.Name())})
		}
	}
	return out, nil
}
