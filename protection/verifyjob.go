package protection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// OpVerify is the operation of verify jobs; TaskVerify their one task.
const (
	OpVerify   = "Verify"
	TaskVerify = "Verify backup data"
)

const (
	verifyKind = "protection.verify" // verify records
	taskVerify = "protection.verify" // the durable task that runs one
)

// Vault is a vault as verify sees it: the faces list theirs through
// VaultFace.
type Vault struct {
	ID, Name string
	Type     string // ARM type (the job's datasource type)
	Location string
	// Key names the vault's repository (the vault tier); "" when the vault
	// keeps its points in the operational tier only.
	Key string
	// Tags are the vault's tags (per-vault verify settings: TagVerifyEvery,
	// TagVerifySample).
	Tags map[string]string
}

// VaultFace is implemented by the faces whose vaults the engine verifies.
type VaultFace interface {
	// Vaults lists the face's vaults.
	Vaults(ctx context.Context, r store.Reader) ([]*Vault, error)
	// Vault reads one; an error wrapping ErrNotFound or store.ErrNotFound,
	// or a failure of kind NotFound, when there is none.
	Vault(ctx context.Context, r store.Reader, id string) (*Vault, error)
}

// VerifyRequest is what one verify checks.
type VerifyRequest struct {
	// VaultIDs are the vaults whose recovery points it checks (the
	// operational tier and each vault's tier); none: every vault of every
	// face, and the operational tier's snapshots no point uses.
	VaultIDs []string `json:"vaultIds,omitempty"`
	// ReadData reads and re-hashes every chunk; Sample (0 < Sample < 1)
	// a random fraction of the packs; neither: structure only (every pack
	// present with its size, every point's chunks held).
	ReadData bool    `json:"readData,omitempty"`
	Sample   float64 `json:"sample,omitempty"`
	// Scheduled marks a run of the vault's verify schedule (its jobs are
	// not user-triggered).
	Scheduled bool `json:"scheduled,omitempty"`
}

// Mode names the request's mode: read-data, sample or structure.
func (q VerifyRequest) Mode() string {
	switch {
	case q.ReadData:
		return "read-data"
	case q.Sample > 0:
		return "sample"
	}
	return "structure"
}

func (q VerifyRequest) modeText() string {
	if q.ReadData {
		return "read-data (every chunk re-read)"
	}
	if q.Sample > 0 {
		return fmt.Sprintf("sample (%g%% of the packs re-read)", q.Sample*100)
	}
	return "structure (packs present, every point's chunks held)"
}

// Check validates the request's mode.
func (q VerifyRequest) Check() error {
	if q.Sample < 0 || q.Sample >= 1 {
		return failure.Invalidf("InvalidSample", "The sample %g is not a fraction between 0 and 1 (e.g. 0.05).", q.Sample)
	}
	if q.ReadData && q.Sample != 0 {
		return failure.Invalidf("InvalidVerifyMode", "Choose readData (every chunk) or sample (a fraction of packs), not both.")
	}
	return nil
}

// VerifyRun is one verify: its jobs (one per vault, each in its vault's
// job list) and, once it ran, what it found. Stored (kind
// "protection.verify") keyed by ID, so it survives restarts.
type VerifyRun struct {
	ID       string        `json:"id"`
	Request  VerifyRequest `json:"request"`
	Vaults   []VerifyVault `json:"vaults"`
	Status   string        `json:"status"` // InProgress; Succeeded: it ran (Result says what it found); Failed: it could not run
	Progress float64       `json:"percentComplete"`
	Start    time.Time     `json:"startTime"`
	End      *time.Time    `json:"endTime,omitempty"`
	Result   *VerifyResult `json:"result,omitempty"`
	Error    *JobError     `json:"error,omitempty"`
}

// VerifyVault is one vault of a verify and the job that shows it.
type VerifyVault struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Key   string `json:"key,omitempty"`
	JobID string `json:"jobId"`
}

// Verify run states.
const (
	VerifySucceeded = "Succeeded"
	VerifyFailed    = "Failed"
)

// VerifyResult is what a verify found.
type VerifyResult struct {
	OK                    bool                   `json:"ok"`
	Mode                  string                 `json:"mode"` // read-data, sample, structure
	Repositories          []VerifiedRepository   `json:"repositories"`
	DamagedRecoveryPoints []DamagedRecoveryPoint `json:"damagedRecoveryPoints"`
	DamagedPacks          []DamagedPack          `json:"damagedPacks"`
	DamagedSnapshots      []string               `json:"damagedSnapshots"` // engine snapshots no recovery point uses (disk snapshots)
	// The ARM id of each of those that is a disk snapshot resource (its
	// engine snapshot's snapshotId tag): what an operator can find.
	DamagedSnapshotResources map[string]string `json:"damagedSnapshotResources,omitempty"`
	RecoveryPointsChecked    int               `json:"recoveryPointsChecked"`
	Duration                 string            `json:"duration"`

	checked map[string]int // recovery points checked per vault (lower-case id)
}

// VerifiedRepository is one snapshot repository's figures.
type VerifiedRepository struct {
	Name      string `json:"name"` // "operational" or "vault <vault id>"
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

// GetVerify reads a verify by id; store.ErrNotFound if absent.
func GetVerify(ctx context.Context, r store.Reader, id string) (*VerifyRun, error) {
	return store.GetJSON[VerifyRun](ctx, r, verifyKind, id, "verify")
}

func putVerify(ctx context.Context, tx store.Tx, v *VerifyRun) error {
	return tx.Put(ctx, store.Doc{Kind: verifyKind, Key: v.ID, Value: mustJSON(v)})
}

// vaultFaces are the registered faces that list vaults, by name.
func (e *Engine) vaultFaces() []VaultFace {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.faces))
	for n := range e.faces {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []VaultFace
	for _, n := range names {
		if vf, ok := e.faces[n].(VaultFace); ok {
			out = append(out, vf)
		}
	}
	return out
}

// Vaults lists the vaults of every face.
func (e *Engine) Vaults(ctx context.Context, r store.Reader) ([]*Vault, error) {
	var out []*Vault
	for _, f := range e.vaultFaces() {
		vs, err := f.Vaults(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

// FindVault reads a vault of any face; a failure.NotFound error when no
// face has it.
func (e *Engine) FindVault(ctx context.Context, r store.Reader, id string) (*Vault, error) {
	for _, f := range e.vaultFaces() {
		v, err := f.Vault(ctx, r, id)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, store.ErrNotFound) && !failure.Is(err, failure.NotFound) {
			return nil, err
		}
	}
	return nil, failure.NotFoundf("ResourceNotFound", "The vault '%s' could not be found.", id)
}

// StartVerify records verify id ("" : a new id) of req in tx: one Verify
// job per vault, in its vault's job list, and the verify's record. With
// enqueue, the durable task that runs it is enqueued too (call Notify
// after the commit); without, the caller runs it with RunVerify (a face's
// asynchronous operation does). A verify of one vault uses id as its job's
// id.
func (e *Engine) StartVerify(ctx context.Context, tx store.Tx, id string, req VerifyRequest, enqueue bool) (*VerifyRun, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	if id == "" {
		id = newID()
	}
	var vaults []*Vault
	if len(req.VaultIDs) == 0 {
		vs, err := e.Vaults(ctx, tx)
		if err != nil {
			return nil, err
		}
		vaults = vs
	} else {
		for _, vid := range req.VaultIDs {
			v, err := e.FindVault(ctx, tx, vid)
			if err != nil {
				return nil, err
			}
			vaults = append(vaults, v)
		}
	}
	now := e.Now()
	run := &VerifyRun{ID: id, Request: req, Status: JobInProgress, Start: now}
	for i, v := range vaults {
		jobID := id
		if len(req.VaultIDs) != 1 {
			jobID = PointID(id, v.ID, fmt.Sprint(i))
			jobID = jobID[:8] + "-" + jobID[8:12] + "-" + jobID[12:16] + "-" + jobID[16:20] + "-" + jobID[20:32]
		}
		run.Vaults = append(run.Vaults, VerifyVault{ID: v.ID, Name: v.Name, Key: v.Key, JobID: jobID})
		j := &Job{ID: jobID, VaultID: v.ID, ItemName: v.Name, Datasource: v.ID, DatasourceType: v.Type, DatasourceLocation: v.Location,
			Operation: OpVerify, Status: JobInProgress, UserTriggered: !req.Scheduled, StartTime: now,
			Tasks:   []JobTask{{Name: TaskVerify, Status: TaskNotStarted, StartTime: now}},
			Details: map[string]string{"Verify mode": req.modeText()}}
		if err := CreateJob(ctx, tx, j); err != nil {
			return nil, err
		}
	}
	if err := putVerify(ctx, tx, run); err != nil {
		return nil, err
	}
	if enqueue {
		if _, err := tx.Enqueue(ctx, store.Task{Kind: taskVerify, Payload: mustJSON(verifyPayload{ID: id})}); err != nil {
			return nil, err
		}
	}
	return run, nil
}

// verifyPayload is a verify task's payload.
type verifyPayload struct {
	ID string `json:"id"`
}

func (e *Engine) runVerifyTask(ctx context.Context, _ store.Task, p verifyPayload) error {
	_, err := e.RunVerify(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrLeaseLost) {
		return nil
	}
	return err
}

// RunVerify runs verify id to its end: it re-reads the operational tier
// and the vaults' tiers once, maps damage to the recovery points that need
// the damaged data, marks those points damaged (so that restoring them
// fails at once; a read-data verify that finds a marked point intact
// clears the mark) and ends each vault's job: Completed when the vault's
// data is intact, else Failed with UserErrorRecoveryPointCorrupt naming
// the damaged points and packs. A verify already ended is returned as is;
// one cut short by a shutdown stays InProgress and runs again from the
// start when its task resumes.
func (e *Engine) RunVerify(ctx context.Context, id string) (*VerifyRun, error) {
	run, err := GetVerify(ctx, e.Store, id)
	if err != nil {
		return nil, err
	}
	if run.Status != JobInProgress {
		return run, nil
	}
	now := e.Now()
	for _, v := range run.Vaults {
		e.updateJob(ctx, v.JobID, func(x *Job) { SetTask(x, TaskVerify, JobInProgress, now) }) // best effort: the job may have gone with its vault
	}
	e.Logger.Info("verify started", "verify", run.ID, "mode", run.Request.Mode(), "vaults", len(run.Vaults))
	res, outcome, verr := e.verify(ctx, run, everyTenth(func(_ int64, pct float64) {
		e.Store.Update(ctx, func(tx store.Tx) error { // best effort: the final state follows
			x, err := GetVerify(ctx, tx, id)
			if err != nil {
				return err
			}
			x.Progress = pct
			return putVerify(ctx, tx, x)
		})
		for _, v := range run.Vaults {
			e.updateJob(ctx, v.JobID, func(x *Job) { x.Progress = pct })
		}
	}))
	if ctx.Err() != nil {
		e.Logger.Info("verify interrupted; it runs again when the server restarts", "verify", run.ID)
		return nil, ctx.Err()
	}
	for _, v := range run.Vaults {
		jerr := verr
		if jerr == nil {
			jerr = outcome[strings.ToLower(v.ID)]
		}
		if _, err := e.run(ctx, nil, v.JobID, CodeOperationFailed, func(ctx context.Context, j *Job) error {
			if res != nil {
				e.updateJob(ctx, j.ID, func(x *Job) {
					if x.Details == nil {
						x.Details = map[string]string{}
					}
					x.BytesTransferred = res.bytesFor(v)
					x.Details["Recovery points checked"] = fmt.Sprint(res.pointsIn(v.ID))
					if n := res.damagedIn(v.ID); n > 0 {
						x.Details["Damaged recovery points"] = fmt.Sprint(n)
					}
				})
			}
			return jerr
		}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	end := e.Now()
	err = e.Store.Update(ctx, func(tx store.Tx) error {
		x, err := GetVerify(ctx, tx, id)
		if err != nil {
			return err
		}
		x.End = &end
		if verr != nil {
			x.Status, x.Error = VerifyFailed, JobErrorOf(verr, CodeOperationFailed)
		} else {
			x.Status, x.Progress, x.Result = VerifySucceeded, 100, res
		}
		run = x
		return putVerify(ctx, tx, x)
	})
	if err != nil {
		return nil, fmt.Errorf("end verify %s: %w", id, err)
	}
	e.pruneVerifies(ctx, end)
	if verr != nil {
		e.Logger.Warn("verify could not run", "verify", run.ID, "err", verr)
	} else {
		e.Logger.Info("verify ended", "verify", run.ID, "mode", res.Mode, "ok", res.OK, "damaged_points", len(res.DamagedRecoveryPoints),
			"damaged_packs", len(res.DamagedPacks), "duration", res.Duration)
	}
	return run, nil
}

// verifyKeep is how long a verify's record (the result the admin API
// returns) is kept after it ended; its jobs stay with their vaults.
const verifyKeep = 30 * 24 * time.Hour

// pruneVerifies deletes the records of verifies that ended over
// verifyKeep ago (best effort).
func (e *Engine) pruneVerifies(ctx context.Context, now time.Time) {
	docs, err := e.Store.List(ctx, verifyKind, store.ListQuery{})
	if err != nil {
		return
	}
	var old []string
	for _, d := range docs {
		var v VerifyRun
		if json.Unmarshal(d.Value, &v) == nil && v.End != nil && now.Sub(*v.End) > verifyKeep {
			old = append(old, d.Key)
		}
	}
	if len(old) == 0 {
		return
	}
	e.Store.Update(ctx, func(tx store.Tx) error { return store.DeleteKeys(ctx, tx, verifyKind, old...) })
}

// helpers over a result, per vault

func (r *VerifyResult) pointsIn(vaultID string) int { return r.checked[strings.ToLower(vaultID)] }

func (r *VerifyResult) damagedIn(vaultID string) int {
	n := 0
	for _, d := range r.DamagedRecoveryPoints {
		if strings.EqualFold(d.VaultID, vaultID) {
			n++
		}
	}
	return n
}

func (r *VerifyResult) bytesFor(v VerifyVault) int64 {
	var n int64
	for _, rep := range r.Repositories {
		if rep.Name == repoOperational || rep.Name == vaultRepoName(v.ID) {
			n += rep.BytesRead
		}
	}
	return n
}

const repoOperational = "operational"

func vaultRepoName(vaultID string) string { return "vault " + vaultID }

type verifyRepo struct {
	name    string
	repo    *snapshot.Repository
	release func()
	tier    string
	vaultID string // "" for the operational tier
}

type badSnap struct {
	packs map[string]bool
	errs  []string
}

// verify does the reading; outcome holds each vault's error (by lower-case
// vault id; nil when intact). err: the verify could not run.
func (e *Engine) verify(ctx context.Context, run *VerifyRun, progress func(done, total int64)) (*VerifyResult, map[string]error, error) {
	start := time.Now()
	req := run.Request
	all := len(req.VaultIDs) == 0
	res := &VerifyResult{Mode: req.Mode(), Repositories: []VerifiedRepository{}, DamagedRecoveryPoints: []DamagedRecoveryPoint{},
		DamagedPacks: []DamagedPack{}, DamagedSnapshots: []string{}, checked: map[string]int{}}
	opts := snapshot.VerifyOptions{NoData: true}
	switch {
	case req.ReadData:
		opts = snapshot.VerifyOptions{}
	case req.Sample > 0:
		opts = snapshot.VerifyOptions{Sample: req.Sample}
	}
	repos := []verifyRepo{{name: repoOperational, repo: e.Disks.Repository(), release: func() {}, tier: TierOperational}}
	defer func() {
		for _, r := range repos {
			r.release()
		}
	}()
	keyOf := map[string]string{} // lower vault id -> vault tier key
	inRun := map[string]bool{}
	seen := map[string]bool{}
	for _, v := range run.Vaults {
		lv := strings.ToLower(v.ID)
		inRun[lv] = true
		keyOf[lv] = v.Key
		if v.Key == "" || seen[v.Key] {
			continue
		}
		seen[v.Key] = true
		repo, release, err := e.vault(ctx, v.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("open the vault tier of %s: %w", v.ID, err)
		}
		// No collection deletes packs while they are read: here, and in
		// other replicas (the shared tier's gate, entered as a writer).
		m := e.maintLock(v.Key)
		m.RLock()
		unlock := m.RUnlock
		if g := e.gate(v.Key); g != nil {
			h, err := g.Write(ctx)
			if err != nil {
				m.RUnlock()
				release()
				return nil, nil, err
			}
			unlock = func() { h.Release(context.WithoutCancel(ctx)); m.RUnlock() }
		}
		repos = append(repos, verifyRepo{name: vaultRepoName(v.ID), repo: repo, release: func() { unlock(); release() }, tier: TierVault, vaultID: lv})
	}
	var total int64
	if !opts.NoData {
		for _, r := range repos {
			_, b := r.repo.Size()
			if req.Sample > 0 {
				b = int64(float64(b) * req.Sample)
			}
			total += b
		}
	}
	var doneBefore int64
	bad := map[string]map[snapshot.ID]*badSnap{} // repo name -> snapshot -> damage
	packsOf := map[string]map[string]*DamagedPack{}
	listed := map[string]map[snapshot.ID]bool{} // repo name -> the snapshots it holds
	repoNamed := map[string]*snapshot.Repository{}
	for _, r := range repos {
		o := opts
		o.Progress = func(p snapshot.Progress) {
			if progress != nil {
				progress(doneBefore+p.Done, total)
			}
		}
		rep, err := r.repo.Verify(ctx, o)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err() // shutting down: what it read is not a finding
		}
		if err != nil {
			return nil, nil, fmt.Errorf("verify the %s repository: %w", r.name, err)
		}
		doneBefore += rep.BytesRead
		res.Repositories = append(res.Repositories, VerifiedRepository{Name: r.name, Snapshots: rep.Snapshots, Packs: rep.Packs, Chunks: rep.Chunks, BytesRead: rep.BytesRead, Bad: len(rep.Bad)})
		packs := map[string]*DamagedPack{}
		snaps := map[snapshot.ID]*badSnap{}
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
				bs := snaps[sid]
				if bs == nil {
					bs = &badSnap{packs: map[string]bool{}}
					snaps[sid] = bs
				}
				bs.packs[key] = true
				if b.Err != nil && len(bs.errs) < 3 {
					bs.errs = append(bs.errs, b.Err.Error())
				}
			}
		}
		bad[r.name], packsOf[r.name] = snaps, packs
		listed[r.name], repoNamed[r.name] = rep.Listed, r.repo
	}

	points, err := ListAllRecoveryPoints(ctx, e.Store, "")
	if err != nil {
		return nil, nil, err
	}
	used := map[string]map[snapshot.ID]bool{}
	namedPacks := map[string]map[string]bool{} // repo -> packs damaged points name
	for _, p := range points {
		lv := strings.ToLower(p.VaultID)
		if !all && !inRun[lv] {
			continue
		}
		res.checked[lv]++
		res.RecoveryPointsChecked++
		var d *DamagedRecoveryPoint
		var firstErr string
		var tiers []string // damaged
		check := func(repoName, tier string) {
			snaps := bad[repoName]
			if used[repoName] == nil {
				used[repoName] = map[snapshot.ID]bool{}
			}
			for _, ds := range p.Snapshots {
				sid := snapshot.ID(ds.EngineID)
				used[repoName][sid] = true
				bs := snaps[sid]
				if bs == nil && p.HasTier(tier) && sid != "" && !listed[repoName][sid] {
					bs = e.gone(ctx, repoNamed[repoName], p, tier, sid, ds.SnapshotID)
				}
				if bs == nil || !p.HasTier(tier) {
					continue
				}
				if d == nil {
					d = &DamagedRecoveryPoint{VaultID: p.VaultID, ItemID: p.ItemID, RecoveryPointID: p.ID, Time: p.Time, Tier: tier, Packs: []string{}}
				}
				if !slices.Contains(tiers, tier) {
					tiers = append(tiers, tier)
				}
				if namedPacks[repoName] == nil {
					namedPacks[repoName] = map[string]bool{}
				}
				for k := range bs.packs {
					if !contains(d.Packs, k) {
						d.Packs = append(d.Packs, k)
					}
					namedPacks[repoName][k] = true
				}
				if firstErr == "" && len(bs.errs) > 0 {
					firstErr = bs.errs[0]
				}
			}
		}
		check(repoOperational, TierOperational)
		if keyOf[lv] != "" {
			check(vaultRepoName(vaultIDIn(run, lv)), TierVault)
		}
		if d != nil {
			sort.Strings(d.Packs)
			where := d.Tier + " tier"
			if len(tiers) > 1 {
				where = strings.Join(tiers, " and ") + " tiers"
			}
			d.Summary = fmt.Sprintf("%s: damaged pack(s) %s: %s", where, strings.Join(d.Packs, ", "), firstErr)
			if len(d.Packs) == 0 {
				d.Summary = fmt.Sprintf("%s: %s", where, firstErr)
			}
			res.DamagedRecoveryPoints = append(res.DamagedRecoveryPoints, *d)
			if err := MarkDamaged(ctx, e.Store, p.ItemID, p.ID, d.Summary, tiers...); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, nil, err
			}
		} else if req.ReadData && DamageOf(p) != "" {
			if err := MarkDamaged(ctx, e.Store, p.ItemID, p.ID, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, nil, err
			}
		}
	}
	sort.Slice(res.DamagedRecoveryPoints, func(i, j int) bool {
		a, b := res.DamagedRecoveryPoints[i], res.DamagedRecoveryPoints[j]
		return a.ItemID+a.Time.Format(time.RFC3339Nano) < b.ItemID+b.Time.Format(time.RFC3339Nano)
	})
	// Damaged packs: every one found (all vaults), else those of the
	// vaults' own tiers and those the damaged points need.
	for _, r := range repos {
		for k, dp := range packsOf[r.name] {
			if all || r.vaultID != "" || namedPacks[r.name][k] {
				res.DamagedPacks = append(res.DamagedPacks, *dp)
			}
		}
	}
	sort.Slice(res.DamagedPacks, func(i, j int) bool {
		return res.DamagedPacks[i].Repository+res.DamagedPacks[i].Pack < res.DamagedPacks[j].Repository+res.DamagedPacks[j].Pack
	})
	badSnaps := 0
	for name, snaps := range bad {
		badSnaps += len(snaps)
		if !all || name != repoOperational {
			continue
		}
		for sid := range snaps {
			if !used[name][sid] {
				res.DamagedSnapshots = append(res.DamagedSnapshots, string(sid))
				// repos[0] is the operational tier, whose engine snapshots
				// name their disk snapshot resource in a tag.
				if m, err := repos[0].repo.Get(ctx, sid); err == nil && m.Tags["snapshotId"] != "" {
					if res.DamagedSnapshotResources == nil {
						res.DamagedSnapshotResources = map[string]string{}
					}
					res.DamagedSnapshotResources[string(sid)] = m.Tags["snapshotId"]
				}
			}
		}
	}
	sort.Strings(res.DamagedSnapshots)
	if all {
		res.OK = len(res.DamagedPacks) == 0 && badSnaps == 0 && len(res.DamagedRecoveryPoints) == 0
	} else {
		res.OK = len(res.DamagedPacks) == 0 && len(res.DamagedRecoveryPoints) == 0
	}
	res.Duration = time.Since(start).Round(time.Millisecond).String()

	outcome := map[string]error{}
	for _, v := range run.Vaults {
		if err := vaultDamage(res, v); err != nil {
			outcome[strings.ToLower(v.ID)] = err
		}
	}
	return res, outcome, nil
}

// gone is the damage of a point whose snapshot (engine id sid) its tier's
// repository does not hold: deleted under it (its disk snapshot deleted with
// az snapshot delete, or with its resource group; a disk snapshot that is
// still there is not gone). A point made after the
// repository was listed has its snapshot by now, and one past its expiry is
// being deleted by retention (its snapshots go first, its record last):
// neither is damaged. nil when the point is intact after all.
func (e *Engine) gone(ctx context.Context, repo *snapshot.Repository, p *RecoveryPoint, tier string, sid snapshot.ID, resourceID string) *badSnap {
	if repo == nil {
		return nil
	}
	if _, err := repo.Get(ctx, sid); !errors.Is(err, snapshot.ErrNotFound) {
		return nil
	}
	if tier == TierOperational && resourceID != "" {
		// The disk snapshot still there holds the point's data under
		// another engine id (a resize of it rewrites its manifest).
		if _, err := e.Disks.Snapshot(ctx, resourceID); !errors.Is(err, ErrNotFound) {
			return nil
		}
	}
	cur, err := GetRecoveryPoint(ctx, e.Store, p.ItemID, p.ID)
	if err != nil || !cur.HasTier(tier) {
		return nil
	}
	if cur.Expired(e.Now()) {
		// Retention is deleting it: its snapshots go first, then its
		// record (dropPoint), so a verify between the two finds them gone.
		return nil
	}
	if tier == TierOperational && cur.HasTier(TierVault) {
		// A Recovery Services point whose instant snapshot was deleted
		// (the AzureBackupRG_ group cleaned up) restores from its vault
		// copy: it is not damaged, and marking it would refuse that.
		return nil
	}
	what := "its snapshot " + string(sid) + " is gone"
	if tier == TierOperational && resourceID != "" {
		what = "its disk snapshot " + resourceID + " was deleted (its data went with it)"
	}
	return &badSnap{packs: map[string]bool{}, errs: []string{what}}
}

// vaultDamage is the error a vault's verify job ends with: nil when its
// points and its vault tier are intact.
func vaultDamage(res *VerifyResult, v VerifyVault) error {
	var pts []string
	named := map[string]bool{}
	for _, d := range res.DamagedRecoveryPoints {
		if strings.EqualFold(d.VaultID, v.ID) {
			for _, p := range d.Packs {
				named[p] = true
			}
			item := d.ItemID
			if id := strings.LastIndex(item, "/"); id >= 0 {
				item = item[id+1:]
			}
			pts = append(pts, fmt.Sprintf("recovery point %s of item '%s' (%s, %s)", d.RecoveryPointID, item, d.Time.UTC().Format(time.RFC3339), d.Summary))
		}
	}
	var packs []string
	for _, p := range res.DamagedPacks {
		if p.Repository == vaultRepoName(v.ID) && !named[p.Pack] {
			packs = append(packs, p.Pack+" ("+p.Error+")")
		}
	}
	if len(pts) == 0 && len(packs) == 0 {
		return nil
	}
	const most = 5
	var b strings.Builder
	fmt.Fprintf(&b, "Verify found damaged backup data in vault '%s'", v.Name)
	if len(pts) > 0 {
		fmt.Fprintf(&b, ": %d damaged recovery point(s): %s", len(pts), strings.Join(pts[:min(most, len(pts))], "; "))
		if len(pts) > most {
			fmt.Fprintf(&b, "; and %d more", len(pts)-most)
		}
	}
	if len(packs) > 0 {
		fmt.Fprintf(&b, ". Damaged packs in the vault tier no recovery point needs: %s", strings.Join(packs[:min(most, len(packs))], "; "))
		if len(packs) > most {
			fmt.Fprintf(&b, "; and %d more", len(packs)-most)
		}
	}
	b.WriteString(". Restores of the damaged points fail at once.")
	return &JobError{Code: CodeRecoveryPointCorrupt, Message: b.String(),
		RecommendedAction: []string{"Restore another recovery point of the affected items, or take a new backup.",
			"Run safehold verify --read-data to list every damaged recovery point and pack."}}
}

func vaultIDIn(run *VerifyRun, lower string) string {
	for _, v := range run.Vaults {
		if strings.ToLower(v.ID) == lower {
			return v.ID
		}
	}
	return lower
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
