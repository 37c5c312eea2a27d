package protection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Engine is the one place where protection happens: both vault kinds (the
// faces in rp/dataprotection and rp/recoveryservices) translate their wire
// shapes into its vocabulary and call it to back up, restore, apply
// retention, verify and delete data.
//
// Every job it runs ends by one rule (end): Completed, Failed with a
// user-facing code and a recommended action, or Cancelled, whatever the
// error; only a shutdown (a cancelled context) leaves a job InProgress, for
// the durable task that runs it to resume after the restart.
//
// It holds no locks on items in memory: work on one item is serialized by a
// lease row in the store (lockItem), so several replicas may run engines
// over one store.
type Engine struct {
	Store  store.Store
	Clock  clock.Clock
	Runner *job.Runner // background jobs (the engine registers its task kinds)
	Disks  Disks       // the disk layer (compute)
	Logger *slog.Logger
	// DataDir holds the vault tiers: DataDir/vaults/{vault key}.
	DataDir string
	// OpenVault opens a vault's repository by key (the composition root
	// puts it in a local directory; tests inject faulty backends here).
	OpenVault func(ctx context.Context, key string) (*snapshot.Repository, error)
	// NodeID names this process in item leases (default "node").
	NodeID string
	// VerifyEvery is how often each vault is verified (0: weekly; < 0:
	// never) and VerifySample the fraction of packs such a run re-reads
	// (0: 0.05; >= 1: every chunk; < 0: structure only); a vault's tags
	// override both (see verifyschedule.go).
	VerifyEvery  time.Duration
	VerifySample float64
	// Leader is the singleton lease (GC runs where it is held; a replica
	// that does not lead records the request for the leader); nil: here.
	Leader *lease.Leader
	// SharedVaults says the vault repositories are object storage that
	// other replicas write too: captures and collections then pass the
	// repository's gate (lease.Gate).
	SharedVaults bool
	// RemoveVaultData deletes a vault's repository (object storage); nil
	// removes VaultDir below DataDir.
	RemoveVaultData func(ctx context.Context, key string) error
	// JobRetention is how long ended jobs are kept (0: DefaultJobRetention,
	// six months as in Azure; < 0: forever); see jobprune.go.
	JobRetention time.Duration
	// Faults are the fault-injection rules the engine's own steps apply
	// (the vault transfer: fault.OpTransfer); nil: none.
	Faults *fault.Set
	// ItemLease is the TTL of item leases (default a minute): how long a
	// dead replica's item blocks the job's resumption elsewhere.
	ItemLease time.Duration
	// TransientRetries bounds the runs of one job that met the metadata
	// database out of reach, after which it ends Failed (0:
	// DefaultTransientRetries); see run.go.
	TransientRetries int

	mu     sync.Mutex
	faces  map[string]Face
	scheds map[string]*Scheduler // by face
	vaults map[string]*openVault // open (and opening, closing) vault tiers by key
	boot   string

	verifySched *Scheduler
	pruneSched  *Scheduler
	maint       map[string]*sync.RWMutex // per vault tier: GC (write) against verify (read)
	cancels     map[string]*cancelWatch  // running jobs by id (cancel.go)
	gcLater     map[string]*time.Timer   // vault tiers whose young packs' garbage is due (GCVault)
	closed      bool

	jobLists jobLists // the order of job lists being paged through (joblist.go)

	// held is the owners of the item leases held in this process, from
	// lockItem's take to its release (lockItem).
	held sync.Map
}

// Face is a vault kind as the engine sees it: it keeps its protected items
// as its own resources and tells the engine what they are.
type Face interface {
	// Item loads a protected item with its policy; an error wrapping
	// ErrNotFound when it is gone.
	Item(ctx context.Context, r store.Reader, id string) (*Item, error)
	// Capture plans a backup of it: the disks to freeze at one instant and
	// the snapshots to create. It checks the vault identity's permissions
	// (an error with a *JobError fails the job with that code).
	Capture(ctx context.Context, it *Item, pointID string) (*Capture, error)
	// Recorded is called in the transaction that records a new recovery
	// point of it (returning ErrNotFound when it is gone drops the point).
	// The face may add to the job j (details it shows) in the same write.
	Recorded(ctx context.Context, tx store.Tx, it *Item, p *RecoveryPoint, j *Job) error
	// Ended is called in the transaction that ends a job of one of its items.
	Ended(ctx context.Context, tx store.Tx, j *Job) error
	// ScheduledJob is a new job (InProgress, not stored) for a scheduled
	// backup of it starting at now; the engine sets its id.
	ScheduledJob(ctx context.Context, it *Item, now time.Time) (*Job, error)
}

// ItemState is a protected item's protection state.
type ItemState string

// Item states.
const (
	ItemConfiguring ItemState = "Configuring"
	ItemProtected   ItemState = "Protected"
	ItemSuspended   ItemState = "BackupsSuspended"
	ItemStopped     ItemState = "ProtectionStopped" // data kept, never expires
	ItemSoftDeleted ItemState = "SoftDeleted"
)

// Item is a protected item: a datasource (one disk, or a VM's disks
// captured at one instant), its policy and state.
type Item struct {
	ID, VaultID, Name string
	Datasource        string // ARM id of what is protected
	// VaultKey names the vault's repository (the vault tier); "" when the
	// vault has none.
	VaultKey string
	Policy   *Policy // nil: none
	State    ItemState
}

// Capture is what one backup freezes at one instant.
type Capture struct {
	Disks []SnapshotSpec
	Type  string            // the point's type (Incremental, CrashConsistent)
	Group string            // the snapshot resource group
	Info  map[string]string // the point's details (VM name, size, ...)
}

// Keep is how long a new recovery point is kept.
type Keep struct {
	Tag    string
	Expiry *time.Time // nil: until deleted
	// Operational is when the operational tier (snapshots) goes while the
	// vault tier stays; zero: with the point.
	Operational time.Time
}

// Well-known job details.
const (
	DetailCancelRequested = "cancelRequested"
	DetailRetentionTag    = "RetentionTag"
	// DetailWaiting says what a running job waits for (a replica that
	// holds its disk's data and is not running), while it waits; both
	// vault kinds show it with the job's details.
	DetailWaiting = "Waiting"
)

// ErrCancelled ends a job Cancelled.
var ErrCancelled = errors.New("cancelled")

// New builds an engine and registers its task kinds with runner.
func New(e *Engine) *Engine {
	if e.Logger == nil {
		e.Logger = slog.Default()
	}
	if e.Clock == nil {
		e.Clock = clock.Real{}
	}
	if e.NodeID == "" {
		e.NodeID = "node"
	}
	e.faces, e.scheds = map[string]Face{}, map[string]*Scheduler{}
	e.vaults = map[string]*openVault{}
	e.boot = newID()
	if e.Runner != nil {
		e.Runner.Register(taskBackup, taskOf("backup", e.runBackupTask))
		e.Runner.Register(taskRetention, taskOf("retention", e.runRetentionTask))
		e.Runner.Register(taskVerify, taskOf("verify", e.runVerifyTask))
		e.Runner.Register(taskOrphans, taskOf("orphans", e.runOrphansTask))
		e.Runner.Register(taskRemoveVault, taskOf("remove vault", e.runRemoveVaultTask))
		e.verifySched = NewScheduler(e.Store, e.Clock, e.Runner, "verify", e.scheduledVerify)
		e.pruneSched = NewScheduler(e.Store, e.Clock, e.Runner, pruneJobsItem, e.pruneJobs)
	}
	return e
}

// RegisterFace makes a vault kind's items known under name, and their
// schedules run (task kind "schedule/"+name).
func (e *Engine) RegisterFace(name string, f Face) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faces[name] = f
	if e.Runner != nil && e.scheds[name] == nil {
		e.scheds[name] = NewScheduler(e.Store, e.Clock, e.Runner, name, func(ctx context.Context, run Run) (time.Time, error) {
			return e.runScheduled(ctx, name, run)
		})
	}
}

func (e *Engine) face(name string) (Face, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.faces[name]
	if f == nil {
		return nil, fmt.Errorf("no vault kind %q", name)
	}
	return f, nil
}

// Start releases item leases a previous run of this node left, and gives
// running jobs an earlier version stored their store type (typeRunningJobs).
func (e *Engine) Start(ctx context.Context) error {
	if err := e.typeRunningJobs(ctx); err != nil {
		// Not fatal (a store full to the last byte still serves reads):
		// the next start tries again.
		e.Logger.Warn("type the running jobs of an earlier version", "err", err)
	}
	docs, err := e.Store.List(ctx, leaseKind, store.ListQuery{})
	if err != nil {
		return fmt.Errorf("start protection engine: %w", err)
	}
	return e.Store.Update(ctx, func(tx store.Tx) error {
		for _, d := range docs {
			if strings.HasPrefix(string(d.Value), `{"owner":"`+e.NodeID+"/") {
				if err := store.DeleteKeys(ctx, tx, leaseKind, d.Key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Close closes the open vault tiers no operation uses, and refuses new
// users. It does not wait for one being opened (a stuck object store):
// that one is closed once its open ends; nor does it close one in use (a
// backup copying into it, a restore or verify reading it, still running
// as the server stops): its last user's release closes it (releaseVault).
// Closed under them, their next write failed on a closed store.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	for k, t := range e.gcLater {
		t.Stop()
		delete(e.gcLater, k)
	}
	var open []*openVault
	for k, v := range e.vaults {
		select {
		case <-v.opened:
			if v.repo != nil && !v.closing && v.refs <= 0 {
				v.closing = true
				open = append(open, v)
			}
		default: // its opener closes it (vault)
		}
		delete(e.vaults, k)
	}
	e.mu.Unlock()
	var err error
	for _, v := range open {
		if cerr := v.repo.Close(); err == nil {
			err = cerr
		}
		close(v.closed)
	}
	return err
}

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.Clock.Now() }

// --- the vault tier ---

// openVault is a vault tier open (or being opened, or closed) in this
// process, shared by the operations that use it at the same time.
type openVault struct {
	opened  chan struct{} // closed once the open ended (repo or err set)
	repo    *snapshot.Repository
	err     error
	refs    int
	closing bool          // its last user left (or the engine closed): repo is being closed
	closed  chan struct{} // closed once it is
}

// vault opens a vault's repository, shared by every operation that uses
// it at the same time (one writer per backend); release closes it when the
// last user is done, so nothing stays open between jobs. The engine's lock
// is not held over the store's answers (opening reads the object store,
// closing waits for the uploads): a stuck object store held every vault's
// operations and the engine's Close behind it.
func (e *Engine) vault(ctx context.Context, key string) (*snapshot.Repository, func(), error) {
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return nil, nil, fmt.Errorf("open vault tier %s: the engine is closed", key)
		}
		v := e.vaults[key]
		if v != nil && v.closing { // one repository per backend: wait until the last one is closed
			e.mu.Unlock()
			select {
			case <-v.closed:
				continue
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("open vault tier %s: %w", key, ctx.Err())
			}
		}
		if v != nil {
			v.refs++
			e.mu.Unlock()
			select {
			case <-v.opened:
			case <-ctx.Done():
				e.releaseVault(key, v)
				return nil, nil, fmt.Errorf("open vault tier %s: %w", key, ctx.Err())
			}
			if v.err != nil {
				e.releaseVault(key, v)
				if ctx.Err() == nil && (errors.Is(v.err, context.Canceled) || errors.Is(v.err, context.DeadlineExceeded)) {
					continue // the opener's request went away, not this one
				}
				return nil, nil, v.err
			}
			return v.repo, func() { e.releaseVault(key, v) }, nil
		}
		v = &openVault{opened: make(chan struct{}), closed: make(chan struct{}), refs: 1}
		e.vaults[key] = v
		e.mu.Unlock()
		v.repo, v.err = e.openVaultTier(ctx, key)
		e.mu.Lock()
		closed := e.closed
		if v.err != nil && e.vaults[key] == v {
			delete(e.vaults, key) // the next user opens it again
		}
		e.mu.Unlock()
		close(v.opened)
		err := v.err
		if err == nil && closed {
			err = fmt.Errorf("open vault tier %s: the engine is closed", key)
		}
		if err != nil {
			e.releaseVault(key, v) // (the last user closes what was opened after the engine closed)
			return nil, nil, err
		}
		return v.repo, func() { e.releaseVault(key, v) }, nil
	}
}

// openVaultTier opens a vault's repository (vault).
func (e *Engine) openVaultTier(ctx context.Context, key string) (*snapshot.Repository, error) {
	if e.OpenVault == nil {
		return nil, fmt.Errorf("open vault tier %s: no OpenVault configured", key)
	}
	// Opening creates the repository: a vault removed (RemoveVault) is
	// never opened again, or its store would come back for nothing ever
	// to remove.
	if gone, err := e.vaultGone(ctx, key); err != nil {
		return nil, fmt.Errorf("open vault tier %s: %w", key, err)
	} else if gone {
		return nil, fmt.Errorf("open vault tier %s: %w", key, ErrVaultGone)
	}
	return e.OpenVault(ctx, key)
}

// releaseVault is a user of v leaving; the last closes its repository
// (outside the engine's lock), as does one whose open ended after the
// engine closed.
func (e *Engine) releaseVault(key string, v *openVault) {
	e.mu.Lock()
	v.refs--
	last := v.refs <= 0 && !v.closing
	if last {
		v.closing = true
		if v.repo == nil && e.vaults[key] == v { // the open failed: nothing to close
			delete(e.vaults, key)
		}
	}
	e.mu.Unlock()
	if !last {
		return
	}
	if v.repo != nil {
		if err := v.repo.Close(); err != nil {
			e.Logger.Warn("close vault tier", "vault", key, "err", err)
		}
	}
	e.mu.Lock()
	if e.vaults[key] == v {
		delete(e.vaults, key)
	}
	e.mu.Unlock()
	close(v.closed)
}

// maintLock orders a vault tier's collection against its verifies in
// this process (across replicas, a verify enters the tier's gate as a
// writer does).
func (e *Engine) maintLock(key string) *sync.RWMutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.maint == nil {
		e.maint = map[string]*sync.RWMutex{}
	}
	m := e.maint[key]
	if m == nil {
		m = &sync.RWMutex{}
		e.maint[key] = m
	}
	return m
}

// VaultDir is where a vault's repository lives below a data dir.
func VaultDir(dataDir, key string) string { return filepath.Join(dataDir, "vaults", key) }

// GCWorkPrefix names vault collections in lease.Want ("gc:vault:" + key).
const GCWorkPrefix = "gc:vault:"

// gcWantKey is the key of the lease.Want document that requests a
// collection of the vault of key.
func gcWantKey(key string) string { return strings.ToLower(GCWorkPrefix + key) }

// GatePrefix names a vault's repository in its collection gate
// (lease.Gate.Repo: GatePrefix + key).
const GatePrefix = "vaults/"

// GCVault frees the vault-tier chunks no recovery point references any
// more. With replicas it is a singleton: on a replica that does not lead,
// and on any replica when vaults are in shared object storage, it records
// the request in the store for the leader (which runs it with GCVaultNow
// and removes it once done, so a leader killed during a collection leaves
// it to the next), and the collection holds the vault's gate, so no
// transfer into the vault in any replica runs between its mark and its
// sweep.
func (e *Engine) GCVault(ctx context.Context, key string) {
	if key == "" {
		return
	}
	if e.Leader != nil {
		if _, leading := e.Leader.Leading(); !leading || e.SharedVaults {
			if err := lease.Want(ctx, e.Store, GCWorkPrefix+key, e.Now()); err != nil {
				e.Logger.Warn("request vault tier GC", "vault", key, "err", err)
			}
			return
		}
	}
	if young, _ := e.collectVault(ctx, key); young > 0 {
		e.gcVaultLater(key, young+time.Second)
	}
}

// GCVaultNow runs a collection of a vault's repository the replicas
// requested (the leader's round) and answers how long until the garbage
// it kept in packs too young to touch is due (0: none), for the request to
// be made again then, or why it failed (for the request to be retried).
func (e *Engine) GCVaultNow(ctx context.Context, key string) (time.Duration, error) {
	if key == "" {
		return 0, nil
	}
	return e.collectVault(ctx, key)
}

// collectVault collects a vault's repository once (see GCVault). A vault
// removed meanwhile (RemoveVault) has nothing left to collect: that is
// done, and its store is not opened (which would make it again).
func (e *Engine) collectVault(ctx context.Context, key string) (time.Duration, error) {
	m := e.maintLock(key) // no verify reads the packs this collection deletes, no RemoveVault runs
	m.Lock()
	defer m.Unlock()
	opts := snapshot.GCOptions{Repack: 0.5, Grace: e.gcGrace()}
	if g := e.gate(key); g != nil {
		h, err := g.Collect(ctx)
		if err != nil {
			e.Logger.Warn("vault tier GC", "vault", key, "err", err)
			return 0, err
		}
		defer h.Release(ctx)
		opts.Fence = h.Fence // a collector stalled past its entry deletes nothing more
	}
	repo, release, err := e.vault(ctx, key)
	if errors.Is(err, ErrVaultGone) {
		e.Logger.Info("vault tier GC: the vault was deleted, nothing to collect", "vault", key)
		return 0, nil
	}
	if err != nil {
		e.Logger.Warn("vault tier GC", "vault", key, "err", err)
		return 0, err
	}
	defer release()
	st, err := repo.GC(ctx, opts)
	if err != nil {
		e.Logger.Warn("vault tier GC", "vault", key, "err", err)
	}
	snapshot.WarnDamaged(e.Logger, st.Damaged, "vault", key)
	return st.YoungDueIn, err
}

// gcVaultLater runs GCVault(key) again after d: a collection kept garbage
// in packs younger than its grace, and no delete may come to free it. The
// last collection saw every pack, so its due time replaces an earlier one.
func (e *Engine) gcVaultLater(key string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if e.gcLater == nil {
		e.gcLater = map[string]*time.Timer{}
	}
	if t := e.gcLater[key]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		e.mu.Lock()
		run := !e.closed && e.gcLater[key] == t
		if run {
			delete(e.gcLater, key)
		}
		e.mu.Unlock()
		if run {
			e.GCVault(context.Background(), key)
		}
	})
	e.gcLater[key] = t
}

func (e *Engine) gcGrace() time.Duration {
	if e.SharedVaults {
		return 10 * time.Minute // packs other replicas are writing
	}
	return 0
}

// gate is a shared vault's gate between its collection and its writers.
func (e *Engine) gate(key string) *lease.Gate {
	if !e.SharedVaults {
		return nil
	}
	return &lease.Gate{Store: e.Store, Repo: GatePrefix + key, Holder: e.NodeID + "/" + e.boot}
}

// ErrVaultGone is wrapped when a vault's repository is asked for after
// the vault was removed (RemoveVault, VaultGoneTx).
var ErrVaultGone = errors.New("the vault was deleted")

// VaultGoneKind marks the keys of removed vaults (a document each, kept
// until no collection can reach the vault: PruneGoneVaults): no collection
// or other use of the vault tier opens (and so creates) a removed vault's
// store again, in any replica.
const VaultGoneKind = "protection.vaultgone"

// goneMarker is a VaultGoneKind document's value (one of session 23 is
// the bare time on the engine's clock).
type goneMarker struct {
	At      time.Time `json:"at"`      // on the engine's clock
	Removed time.Time `json:"removed"` // real time, which PruneGoneVaults counts in
}

// VaultGoneTx records in tx, with the vault's own removal, that the vault
// of key is gone: from its commit on, its store is never opened again
// (RemoveVault then deletes it).
func (e *Engine) VaultGoneTx(ctx context.Context, tx store.Tx, key string) error {
	if key == "" {
		return nil
	}
	return tx.Put(ctx, store.Doc{Kind: VaultGoneKind, Key: strings.ToLower(key), Value: mustJSON(goneMarker{At: e.Now().UTC(), Removed: time.Now().UTC()})})
}

// GoneVaultKeep is how long (real time) a removed vault's marker is kept
// at least: past any collection asked for before the removal. A
// replica's collection of young packs is due within the shared tier's
// grace (10 minutes) of its last one, and then asks the leader through
// the store, where PruneGoneVaults sees the request; a day leaves room for
// a replica paused meanwhile.
const GoneVaultKeep = 24 * time.Hour

// PruneGoneVaults deletes the markers of the vaults removed GoneVaultKeep
// or more before now (real time) that no collection can reach any more
// (none is requested in the store, no writer or collector holds the
// vault's gate, whose lapsed writer would have one requested) and whose
// store is gone: it removes the store again first, so a removal that
// failed is retried here, and a marker stays while that fails. It answers
// how many markers it deleted. The leader runs it (server's maintain):
// the markers were kept for ever, one per vault ever deleted.
func (e *Engine) PruneGoneVaults(ctx context.Context, now time.Time) (int, error) {
	docs, err := e.Store.List(ctx, VaultGoneKind, store.ListQuery{})
	if err != nil {
		return 0, err
	}
	pruned := 0
	var errs []error
	for _, d := range docs {
		var m goneMarker
		if jsonUnmarshal(d.Value, &m) != nil {
			if jsonUnmarshal(d.Value, &m.Removed) != nil {
				continue
			}
		}
		if m.Removed.IsZero() || now.Sub(m.Removed) < GoneVaultKeep {
			continue
		}
		key := d.Key
		if busy, err := e.collectionCanReach(ctx, key); err != nil || busy {
			errs = append(errs, err)
			continue
		}
		if err := e.removeVaultStore(ctx, key); err != nil {
			errs = append(errs, fmt.Errorf("remove the store of deleted vault %s: %w", key, err))
			continue
		}
		err := e.Store.Update(ctx, func(tx store.Tx) error {
			// A request made meanwhile runs while the marker stands.
			if _, err := tx.Get(ctx, lease.WantKind, gcWantKey(key)); !errors.Is(err, store.ErrNotFound) {
				if err == nil {
					err = errCollectionWanted
				}
				return err
			}
			// The gate's collector row, kept for its epoch, goes too.
			if err := e.anyGate(key).ForgetTx(ctx, tx, time.Now()); err != nil {
				return err
			}
			return tx.Delete(ctx, VaultGoneKind, key)
		})
		switch {
		case errors.Is(err, errCollectionWanted) || errors.Is(err, store.ErrNotFound):
		case err != nil:
			errs = append(errs, err)
		default:
			pruned++
		}
	}
	return pruned, errors.Join(errs...)
}

var errCollectionWanted = errors.New("a collection of the vault is requested")

// collectionCanReach reports whether a collection of the vault of key is
// requested in the store or may be (a writer's gate entry, live or
// lapsed) or runs (a collector holds the gate).
func (e *Engine) collectionCanReach(ctx context.Context, key string) (bool, error) {
	if _, err := e.Store.Get(ctx, lease.WantKind, gcWantKey(key)); !errors.Is(err, store.ErrNotFound) {
		return err == nil, err
	}
	return e.anyGate(key).InUse(ctx, time.Now())
}

// anyGate is the vault's gate whether or not its tier is shared (a
// replica may have been started with other options), to read and clean.
func (e *Engine) anyGate(key string) *lease.Gate {
	return &lease.Gate{Store: e.Store, Repo: GatePrefix + key}
}

func (e *Engine) vaultGone(ctx context.Context, key string) (bool, error) {
	_, err := e.Store.Get(ctx, VaultGoneKind, strings.ToLower(key))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// removeVaultWait bounds how long RemoveVault waits for a collection of
// the vault running in another replica to end before deleting its store.
const removeVaultWait = 2 * time.Minute

// RemoveVault deletes a vault's repository with everything in it, for
// good: the vault is marked gone (VaultGoneTx, if its removal did not),
// so no collection requested before (here or in another replica, or due
// later for young packs) opens the store again; one running waits until
// it ends, and the requests left for it are dropped.
func (e *Engine) RemoveVault(key string) {
	if err := e.removeVault(context.Background(), key); err != nil {
		e.Logger.Warn("remove vault tier", "vault", key, "err", err)
	}
}

// taskRemoveVault is RemoveVault as a durable task (RemoveVaultTx).
const taskRemoveVault = "protection.removevault"

// RemoveVaultKey is the key of the task removing the tier of the vault of
// key (RemoveVaultTx).
func RemoveVaultKey(key string) string { return "removevault:" + strings.ToLower(key) }

type removeVaultPayload struct {
	Key string `json:"key"`
}

// RemoveVaultTx marks the vault of key gone (VaultGoneTx) in tx and plans
// RemoveVault as a durable task, which waits for a collection of the
// vault and deletes its store once tx commits, on any replica: a vault's
// DELETE answers without waiting for either (a big vault's objects took
// minutes to delete, a collection running as long). The task runs again
// until the store is deleted; PruneGoneVaults deletes it again later. The
// returned func, to call after the commit, wakes the runner (without one,
// it runs RemoveVault itself).
func (e *Engine) RemoveVaultTx(ctx context.Context, tx store.Tx, key string) (func(), error) {
	if key == "" {
		return func() {}, nil
	}
	if err := e.VaultGoneTx(ctx, tx, key); err != nil {
		return nil, err
	}
	if e.Runner == nil {
		return func() { e.RemoveVault(key) }, nil
	}
	if _, err := tx.Enqueue(ctx, store.Task{Kind: taskRemoveVault, Key: RemoveVaultKey(key), Payload: mustJSON(removeVaultPayload{Key: key})}); err != nil {
		return nil, err
	}
	return e.Notify, nil
}

func (e *Engine) runRemoveVaultTask(ctx context.Context, _ store.Task, p removeVaultPayload) error {
	if err := e.removeVault(ctx, p.Key); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return job.Retry(err, time.Minute)
	}
	return nil
}

// removeVault is RemoveVault, answering the store's deletion's error.
func (e *Engine) removeVault(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	if err := e.Store.Update(ctx, func(tx store.Tx) error { return e.VaultGoneTx(ctx, tx, key) }); err != nil {
		e.Logger.Warn("remove vault tier: mark the vault gone", "vault", key, "err", err)
	}
	e.mu.Lock()
	if t := e.gcLater[key]; t != nil {
		t.Stop()
		delete(e.gcLater, key)
	}
	e.mu.Unlock()
	m := e.maintLock(key) // a collection or verify running here ends first
	m.Lock()
	defer m.Unlock()
	if g := e.gate(key); g != nil { // and one running in another replica
		wctx, cancel := context.WithTimeout(ctx, removeVaultWait)
		if h, err := g.Collect(wctx); err != nil {
			e.Logger.Warn("remove vault tier: wait for its collection", "vault", key, "err", err)
		} else {
			defer h.Release(context.WithoutCancel(ctx))
		}
		cancel()
	}
	if err := e.Store.Update(ctx, func(tx store.Tx) error {
		err := tx.Delete(ctx, lease.WantKind, gcWantKey(key))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}); err != nil {
		e.Logger.Warn("remove vault tier: drop its collection's request", "vault", key, "err", err)
	}
	return e.deleteVaultStore(ctx, key)
}

// removeVaultStore deletes the store of a removed vault again, after any
// collection or verify of it running here (PruneGoneVaults).
func (e *Engine) removeVaultStore(ctx context.Context, key string) error {
	m := e.maintLock(key)
	m.Lock()
	defer m.Unlock()
	return e.deleteVaultStore(ctx, key)
}

// deleteVaultStore deletes a vault's store: RemoveVaultData's, else its
// dir below DataDir.
func (e *Engine) deleteVaultStore(ctx context.Context, key string) error {
	if e.RemoveVaultData != nil {
		return e.RemoveVaultData(ctx, key)
	}
	if e.DataDir == "" {
		return nil
	}
	return os.RemoveAll(VaultDir(e.DataDir, key))
}

// --- item leases ---

const leaseKind = "protection.lease"

// leaseTTL bounds how long a dead holder blocks an item (real time: leases
// are about processes being alive, not about the protection clock).
const leaseTTL = time.Minute

func (e *Engine) itemLease() time.Duration {
	if e.ItemLease > 0 {
		return e.ItemLease
	}
	return leaseTTL
}

type itemLease struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// lockItem takes the item's lease in the store, waiting while another
// holder has it; the returned func releases it. The lease is renewed while
// held. The returned context fences the work done under the lease: each
// store Update made with it (or a context derived from it) checks in its
// own transaction that this call still holds the lease, and fails with
// ErrItemLeaseLost (a job.Retry: the task runs again, and waits for the
// item) once another holder took it over. A holder stalled longer than
// the lease (its process paused, its host frozen) therefore commits
// nothing after another replica took the item (a backup's point, its
// job's progress, a retention sweep's deletes, an item's deletion): its
// lease is lost for good, as a renewal extends only a lease still its own
// and never takes one back.
//
// A lease's until is on the wall clock, which a VM paused or restored from
// a snapshot steps forward when it resumes (by the pause), while the
// holder's renewal ticks on the monotonic clock: every lease then looks
// lapsed until its holder's next renewal. A holder in this process is
// known to be alive (e.held) and is never taken over here; the TTL is for
// holders that died, which only another process's can be. (A waiter here
// took such a lease at once, so a purge removed a soft-deleted item while
// an undelete held its lease: TestUndeleteRacingThePurge, after the CI's
// VM was restored from a snapshot mid-test.)
func (e *Engine) lockItem(ctx context.Context, itemID string) (context.Context, func(), error) {
	key := strings.ToLower(itemID)
	owner := e.NodeID + "/" + e.boot + "/" + newID()
	// put writes the lease as this call's, for itemLease from now.
	put := func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: leaseKind, Key: key, Value: mustJSON(itemLease{Owner: owner, Until: time.Now().Add(e.itemLease())})})
	}
	// current reads the item's lease in r; mine: it is this call's.
	current := func(ctx context.Context, r store.Reader) (l itemLease, mine bool, err error) {
		d, err := r.Get(ctx, leaseKind, key)
		if err != nil {
			return l, false, err
		}
		mine = jsonUnmarshal(d.Value, &l) == nil && l.Owner == owner
		return l, mine, nil
	}
	take := func() (bool, error) {
		got := false
		err := e.Store.Update(ctx, func(tx store.Tx) error {
			if d, err := tx.Get(ctx, leaseKind, key); err == nil {
				var l itemLease
				if jsonUnmarshal(d.Value, &l) == nil && l.Owner != owner && (time.Now().Before(l.Until) || e.holdsHere(l.Owner)) {
					return nil
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			got = true
			return put(tx)
		})
		return got, err
	}
	// renew extends the lease while it is this call's; one another holder
	// took (or took and released) stays lost.
	renew := func() {
		e.Store.Update(ctx, func(tx store.Tx) error {
			if _, mine, _ := current(ctx, tx); !mine {
				return nil
			}
			return put(tx)
		})
	}
	e.held.Store(owner, struct{}{}) // before the take: no moment when its lease is in the store and unknown here
	for {
		ok, err := take()
		if err != nil {
			e.held.Delete(owner)
			return nil, nil, fmt.Errorf("lock item %s: %w", itemID, err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			e.held.Delete(owner)
			return nil, nil, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(e.itemLease() / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				renew()
			}
		}
	}()
	fctx := store.WithFence(ctx, func(ctx context.Context, r store.Reader) error {
		l, mine, err := current(ctx, r)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if mine {
			return nil
		}
		holder := "nobody"
		if l.Owner != "" {
			holder, _, _ = strings.Cut(l.Owner, "/")
		}
		return job.Backoff(fmt.Errorf("item %s (now held by %s): %w", itemID, holder, ErrItemLeaseLost), time.Second)
	})
	return fctx, func() {
		close(stop)
		<-done
		// Releasing is not fenced by the task's lease: the lock is this
		// call's own (owner carries a fresh id), and a task that lost its
		// lease must still let go of it rather than hold the item for a TTL.
		rctx := store.WithLease(store.WithoutFences(context.WithoutCancel(ctx)), store.Lease{})
		e.Store.Update(rctx, func(tx store.Tx) error {
			if _, mine, _ := current(rctx, tx); mine {
				return tx.Delete(rctx, leaseKind, key)
			}
			return nil
		})
		// After the delete: a release that could not be written leaves
		// the lease to its TTL, as a dead holder's.
		e.held.Delete(owner)
	}, nil
}

// ErrItemLeaseLost is the error (wrapped in a job.Retry) of a store write
// made under an item's lease that another holder took over meanwhile: this
// holder stalled past the lease's TTL (lockItem). A task meeting it runs
// again (wrapped in a failure.Error or a job's error it would end the job
// Failed instead: keep it plain).
var ErrItemLeaseLost = errors.New("ItemLeaseLost: the item's lease was taken over by another holder while this one was stalled (paused past its lease), so this work's writes were refused; it runs again under the lease")

// holdsHere reports whether owner is an item lease's holder in this
// process, alive whatever its until says (lockItem).
func (e *Engine) holdsHere(owner string) bool {
	_, ok := e.held.Load(owner)
	return ok
}
