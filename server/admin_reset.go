package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/safehold/safehold/blob"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Document kinds a reset keeps whole: server configuration (bootstrap,
// signing and SAS keys, the clock), subscriptions and what replicas
// advertise (their ARM endpoints, whose audiences every replica accepts:
// replicaKind; their NBD listeners: compute.ReplicaKind), without which
// a token obtained for another running replica would stop working here
// after a reset on PostgreSQL; the marks of disk volumes the reset
// removed on other replicas (compute.RemovedVolumeKind), which those
// replicas act on. Principals, role
// assignments and role definitions are kept only for the admin and
// built-in roles; every other kind is cleared.
var resetKeepKinds = map[string]bool{"config": true, resource.SubscriptionKind: true, compute.ReplicaKind: true, replicaKind: true, compute.RemovedVolumeKind: true}

// resetKnownKinds are cleared when the store cannot list its kinds.
var resetKnownKinds = []string{"resource", "operation", "operation.pending", "protection.job", "protection.rp", "compute.creating", "compute.sas",
	"compute.state", "dataprotection.datasource", "dataprotection.userAssignedIdentity", resource.LockKind,
	"resources.tagname"}

type kindLister interface {
	Kinds(ctx context.Context) ([]string, error)
}

// ResetStats reports what a reset removed.
type ResetStats struct {
	ResourceGroups int    `json:"resourceGroups"`
	Documents      int    `json:"documents"`
	Tasks          int    `json:"tasks"`
	Principals     int    `json:"principals"`
	RoleAssigns    int    `json:"roleAssignments"`
	CustomRoles    int    `json:"customRoles"`
	Snapshots      int    `json:"engineSnapshots"`
	Duration       string `json:"duration"`
}

func (s *Server) adminReset(r *arm.Request) (*arm.Response, error) {
	st, err := s.Reset(r.HTTP.Context())
	if err != nil {
		return nil, err
	}
	return arm.OK(st), nil
}

// Reset deletes every resource and all backup data (resource groups and
// everything in them, jobs, recovery points, operations, tasks, principals
// other than the admin, role assignments other than the admin's Owner,
// custom roles, disk images, snapshots and vault repositories) and keeps
// the tenant, subscriptions, the admin principal and its secret, the CA,
// the token-signing key and connection.json, so clients keep working.
func (s *Server) Reset(ctx context.Context) (ResetStats, error) {
	start := time.Now()
	var st ResetStats
	s.advanceMu.Lock()
	defer s.advanceMu.Unlock()
	s.Jobs.StopFor(job.ErrReset) // cancels running work (deleted below, never resumed); restarted below
	defer func() {
		if err := s.Jobs.Start(blob.Patient(context.Background())); err != nil {
			s.logger.Error("restart job runner after reset", "err", err)
		}
	}()
	var errs []error
	// Resource groups with their contents, through each provider's
	// cascading delete (it removes files: disk images, vault repositories).
	subs, err := s.Store.List(ctx, resource.SubscriptionKind, store.ListQuery{})
	if err != nil {
		return st, err
	}
	for _, d := range subs {
		groups, err := s.Store.List(ctx, "resource", store.ListQuery{ScopePrefix: "/subscriptions/" + d.Key + "/", Type: "Microsoft.Resources/resourceGroups"})
		if err != nil {
			return st, err
		}
		for _, g := range groups {
			var h struct {
				ID string `json:"id"`
			}
			json.Unmarshal(g.Value, &h)
			if h.ID == "" {
				h.ID = g.Key
			}
			if err := s.Platform.DeleteUnder(ctx, h.ID); err != nil {
				errs = append(errs, err)
			}
			st.ResourceGroups++
		}
	}
	// Each subscription is kept, without the tags a client gave it (the
	// Tags API at the subscription).
	if err := s.Store.Update(ctx, func(tx store.Tx) error {
		for _, d := range subs {
			var m map[string]json.RawMessage
			if json.Unmarshal(d.Value, &m) != nil {
				continue
			}
			if _, ok := m["tags"]; !ok {
				continue
			}
			delete(m, "tags")
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if err := tx.Put(ctx, store.Doc{Kind: d.Kind, Key: d.Key, Scope: d.Scope, Value: b}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return st, err
	}
	// Role assignments (but the admin's Owner) and custom roles.
	adminOwner := "/subscriptions/" + s.Bootstrap.SubscriptionID + "/providers/Microsoft.Authorization/roleAssignments/" + adminOwnerName
	for _, x := range s.Authz.Assignments() {
		if !strings.EqualFold(x.ID, adminOwner) {
			if _, err := s.Authz.DeleteAssignment(ctx, x.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, err)
			}
			st.RoleAssigns++
		}
	}
	for _, role := range s.Authz.Roles() {
		if role.RoleType != "BuiltInRole" {
			if err := s.Authz.DeleteRole(ctx, role.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, err)
			}
			st.CustomRoles++
		}
	}
	// Principals but the admin.
	ps, err := s.Platform.Dir.List(ctx, "")
	if err != nil {
		return st, err
	}
	if err := s.Store.Update(ctx, func(tx store.Tx) error {
		for _, p := range ps {
			if strings.EqualFold(p.ObjectID, s.Bootstrap.AdminObjectID) {
				continue
			}
			if err := s.Platform.Dir.Delete(ctx, tx, p.ObjectID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			st.Principals++
		}
		return nil
	}); err != nil {
		return st, err
	}
	s.Issuer.Forget()
	// Every other document kind.
	kinds, err := s.DocumentKinds(ctx)
	if err != nil {
		return st, err
	}
	if err := s.Store.Update(ctx, func(tx store.Tx) error {
		for _, k := range kinds {
			if resetKeepKinds[k] || k == "principal" || k == "principal-appid" || k == "roleassignment" || k == "roledefinition" || k == rbac.GenerationKind {
				continue
			}
			n, err := tx.DeleteScope(ctx, k, "")
			if err != nil {
				return err
			}
			st.Documents += n
		}
		return nil
	}); err != nil {
		return st, err
	}
	// Every task (claimed by the reset itself, then completed).
	for {
		ts, err := s.Store.ClaimTasks(ctx, "safehold-reset", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour, 500)
		if err != nil {
			return st, err
		}
		if len(ts) == 0 {
			break
		}
		if err := s.Store.Update(ctx, func(tx store.Tx) error {
			for _, t := range ts {
				if err := tx.CompleteTask(ctx, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		}); err != nil {
			return st, err
		}
		st.Tasks += len(ts)
	}
	// Backup data: every engine snapshot and chunk of the operational tier,
	// disk images no disk uses, vault repositories.
	if s.Compute != nil {
		n, err := wipeRepository(ctx, s.Compute.Repository())
		st.Snapshots += n
		if err != nil {
			errs = append(errs, err)
		}
		vols := s.Compute.Volumes()
		if ents, err := os.ReadDir(vols.Dir()); err == nil {
			for _, e := range ents {
				if uid, ok := strings.CutSuffix(e.Name(), ".raw"); ok {
					if err := vols.Remove(uid); err != nil {
						errs = append(errs, fmt.Errorf("remove disk image %s: %w", uid, err))
					}
				}
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(s.Config.DataDir, "vaults")); err == nil {
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(s.Config.DataDir, "vaults", e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	st.Duration = time.Since(start).Round(time.Millisecond).String()
	s.logger.Info("reset", "resource_groups", st.ResourceGroups, "documents", st.Documents, "tasks", st.Tasks, "principals", st.Principals, "duration", st.Duration)
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("reset: %w", err)
	}
	return st, nil
}

// wipeRepository deletes every snapshot of repo and collects all chunks.
func wipeRepository(ctx context.Context, repo *snapshot.Repository) (int, error) {
	ms, damaged, err := repo.ListReadable(ctx)
	if err != nil {
		return 0, err
	}
	ids := make([]snapshot.ID, 0, len(ms)+len(damaged))
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	for id := range damaged { // (damaged manifests go too: List stopped the reset at one)
		ids = append(ids, id)
	}
	n := 0
	for _, id := range ids {
		if err := repo.Delete(ctx, id); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
			return n, err
		}
		n++
	}
	st, err := repo.GC(ctx, snapshot.GCOptions{})
	if err != nil {
		return n, err
	}
	if len(st.Damaged) > 0 { // one written meanwhile: the collection deleted nothing
		return n, fmt.Errorf("collect the chunks: %d snapshots' manifests damaged", len(st.Damaged))
	}
	return n, nil
}

// DocumentKinds lists the store's document kinds (a fixed list of the
// known ones when the store cannot list them).
func (s *Server) DocumentKinds(ctx context.Context) ([]string, error) {
	if s.kinds == nil {
		return resetKnownKinds, nil
	}
	return s.kinds.Kinds(ctx)
}
