package dataprotection

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// --- recovery points ---

// pointResource is the wire view of p. Its times are in UTC, as Azure's:
// a point of a schedule with a time zone is made at a time in that zone,
// whose offset the wire carried (2021-01-01T00:00:00-08:00). Its name and
// friendlyName are its id, as Azure's disk points are. A list answers
// each data store's metaData null, as Azure's does for disks; one point's
// GET (detail) answers the operational store's metaData as Azure does,
// its snapshots as a JSON array (diskName, sizeBytes, ..., snapshotRGName,
// snapshotName). metaData was the snapshot's id in the list and the
// friendlyName its name.
func pointResource(bi *instanceResource, p *protection.RecoveryPoint, detail bool) *rpResource {
	at, expiry := p.Time.UTC(), p.Expiry
	if expiry != nil {
		e := expiry.UTC()
		expiry = &e
	}
	details := make([]rpStoreDetails, 0, len(p.Tiers))
	for _, t := range p.Tiers {
		var meta *string
		if detail && t == protection.TierOperational && len(p.Snapshots) > 0 {
			meta = snapshotsMetaData(bi, p)
		}
		details = append(details, rpStoreDetails{ID: protection.PointID(p.ID, t)[:8] + "-" + p.ID[:4] + "-" + p.ID[4:8] + "-" + p.ID[8:12] + "-" + p.ID[12:24],
			Type: t, CreationTime: at, ExpiryTime: expiry, MetaData: meta, State: "COMMITTED", Visible: true})
	}
	// A point a verify found damaged cannot be restored whole: Azure's
	// completeness state for a point not all of whose data is there.
	state := "Completed"
	if protection.DamageOf(p) != "" {
		state = "Partial"
	}
	return &rpResource{ProxyResource: arm.ProxyResource{ID: bi.ID + "/recoveryPoints/" + p.ID, Name: p.ID, Type: typeRP}, Properties: &discreteRP{
		ObjectType: "AzureBackupDiscreteRecoveryPoint", RecoveryPointID: p.ID, RecoveryPointTime: at,
		RecoveryPointType: p.Type, FriendlyName: p.ID, RecoveryPointDataStoresDetails: details,
		RetentionTagName: p.RetentionTag, RetentionTagVersion: strconv.FormatInt(p.Created.UnixNano()/100, 10),
		PolicyName: p.PolicyName, RecoveryPointState: state, ExpiryTime: expiry}}
}

// snapshotMeta is one snapshot of a point as Azure describes it in a disk
// point's operational store metaData (in this order).
type snapshotMeta struct {
	DiskName                string  `json:"diskName"`
	SizeBytes               int64   `json:"sizeBytes"`
	DiskSnapshotConsistency string  `json:"diskSnapshotConsistency"`
	SubscriptionID          string  `json:"subscriptionId"`
	Location                string  `json:"location"`
	ResourceGroupName       string  `json:"resourceGroupName"`
	SkuName                 string  `json:"skuName"`
	OSType                  string  `json:"osType"`
	ManagedBy               *string `json:"managedBy"`
	SnapshotSubscriptionID  string  `json:"snapshotSubscriptionId"`
	SnapshotRGName          string  `json:"snapshotRGName"`
	SnapshotName            string  `json:"snapshotName"`
}

func snapshotsMetaData(bi *instanceResource, p *protection.RecoveryPoint) *string {
	loc := ""
	if bi.Properties != nil && bi.Properties.DataSourceInfo != nil {
		loc = bi.Properties.DataSourceInfo.ResourceLocation
	}
	out := make([]snapshotMeta, 0, len(p.Snapshots))
	for _, s := range p.Snapshots {
		d, _ := arm.ParseID(s.DiskID)
		sn, _ := arm.ParseID(s.SnapshotID)
		out = append(out, snapshotMeta{DiskName: d.Name(), SizeBytes: s.SizeBytes, DiskSnapshotConsistency: "CrashConsistent",
			SubscriptionID: d.SubscriptionID, Location: loc, ResourceGroupName: d.ResourceGroup, SkuName: s.SKU,
			SnapshotSubscriptionID: sn.SubscriptionID, SnapshotRGName: sn.ResourceGroup, SnapshotName: sn.Name()})
	}
	b, _ := json.Marshal(out)
	meta := string(b)
	return &meta
}

// parsePointFilter reads $filter: "startDate eq '<time>' and endDate eq
// '<time>'" (the Azure CLI's form); ge/gt/le/lt on startDate, endDate and
// recoveryPointTime work too. An end before the start is 400, as a job
// list's is.
func parsePointFilter(f string) (from, to time.Time, err error) {
	if strings.TrimSpace(f) == "" {
		return
	}
	for _, clause := range splitAnd(f) {
		parts := strings.Fields(clause)
		if len(parts) < 3 {
			return from, to, arm.BadRequest("InvalidFilter", "$filter clause '%s' is not of the form \"<startDate|endDate> eq '<date-time>'\".", clause)
		}
		key, opr := strings.ToLower(parts[0]), strings.ToLower(parts[1])
		val := strings.Trim(strings.Join(parts[2:], " "), "'\"")
		t, perr := protection.ParseDateTime(val, time.UTC)
		if perr != nil {
			return from, to, arm.BadRequest("InvalidFilter", "$filter: the value '%s' of '%s' is not an ISO 8601 date-time (example: 2021-08-30T10:00:00Z).", val, parts[0])
		}
		switch {
		case key == "startdate" || (key == "recoverypointtime" && (opr == "ge" || opr == "gt")):
			from = t
		case key == "enddate" || (key == "recoverypointtime" && (opr == "le" || opr == "lt")):
			to = t
		default:
			return from, to, arm.BadRequest("InvalidFilter", "$filter: '%s %s' is not supported; allowed: startDate eq '<date-time>', endDate eq '<date-time>'.", parts[0], parts[1])
		}
		if opr != "eq" && opr != "ge" && opr != "gt" && opr != "le" && opr != "lt" {
			return from, to, arm.BadRequest("InvalidFilter", "$filter: operator '%s' is not supported; allowed: eq, ge, gt, le, lt.", parts[1])
		}
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return from, to, arm.BadRequest("InvalidFilter", "$filter: the end %s is before the start %s: the end must be after the start.", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	return
}

func splitAnd(s string) []string {
	var out []string
	low := strings.ToLower(s)
	for {
		i := strings.Index(low, " and ")
		if i < 0 {
			out = append(out, strings.TrimSpace(s))
			return out
		}
		out = append(out, strings.TrimSpace(s[:i]))
		s, low = s[i+5:], low[i+5:]
	}
}

func (pr *Provider) listRecoveryPoints(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	_, bi, err := pr.instanceFor(r)
	if err != nil {
		return nil, err
	}
	from, to, err := parsePointFilter(r.Query("$filter"))
	if err != nil {
		return nil, err
	}
	pts, err := protection.ListRecoveryPoints(ctx, pr.p.Store, bi.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*protection.RecoveryPoint, 0, len(pts))
	now := pr.p.Now()
	for i, p := range pts {
		if !pointVisible(bi, p, now, func() bool { return i == 0 }) { // newest first
			continue
		}
		if !from.IsZero() && p.Time.Before(from) || !to.IsZero() && p.Time.After(to) {
			continue
		}
		out = append(out, p)
	}
	return arm.PageKeyedOK(r, out, 200, protection.PointKey, func(p *protection.RecoveryPoint) any { return pointResource(bi, p, false) })
}

func (pr *Provider) getRecoveryPoint(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	_, bi, err := pr.instanceFor(r)
	if err != nil {
		return nil, err
	}
	p, err := protection.GetRecoveryPoint(ctx, pr.p.Store, bi.ID, r.Param("recoveryPointId"))
	if err == nil && !pointVisible(bi, p, pr.p.Now(), pr.isLatestPoint(ctx, bi.ID, p)) {
		err = store.ErrNotFound
	}
	if isNotFound(err) {
		return nil, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The recovery point '%s' of backup instance '%s' was not found; it may have expired.", r.Param("recoveryPointId"), bi.Name)
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(pointResource(bi, p, true)), nil
}

// --- jobs ---

// operationCategories are the jobs' operationCategory by operation; any
// other operation is "Management".
var operationCategories = map[string]string{protection.OpBackup: "Backup", protection.OpConfigureBackup: "Backup",
	protection.OpRestore: "Restore", protection.OpVerify: "Verify"}

func operationCategory(op string) string {
	if c, ok := operationCategories[op]; ok {
		return c
	}
	return "Management"
}

func jobView(vault *vaultResource, j *protection.Job, now time.Time) *jobResource {
	vid, _ := arm.ParseID(vault.ID)
	src, _ := arm.ParseID(j.Datasource)
	p := &backupJob{ActivityID: j.ID, BackupInstanceFriendlyName: j.ItemName, BackupInstanceID: j.ItemID,
		DataSourceID: j.Datasource, DataSourceLocation: j.DatasourceLocation, DataSourceName: src.Name(), DataSourceType: j.DatasourceType,
		StartTime: j.StartTime, EndTime: j.EndTime, IsUserTriggered: j.UserTriggered, Operation: j.Operation,
		OperationCategory: operationCategory(j.Operation), PolicyID: j.PolicyID, PolicyName: j.PolicyName,
		ProgressEnabled:     j.Operation == protection.OpBackup || j.Operation == protection.OpRestore || j.Operation == protection.OpVerify,
		SourceResourceGroup: src.ResourceGroup, SourceSubscriptionID: src.SubscriptionID, Status: j.Status,
		SubscriptionID: vid.SubscriptionID, SupportedActions: []string{""}, VaultName: vault.Name,
		Duration: protection.FormatElapsed(j.Duration(now)), SourceDataStoreName: "OperationalStore"}
	if j.Operation == protection.OpRestore {
		p.RestoreType = "AlternateLocationRestore"
		p.DestinationDataStoreName = ""
	}
	// A disk is its own datasource set.
	p.DataSourceSetName = src.Name()
	details := map[string]string{}
	for k, v := range j.Details {
		details[k] = v
	}
	if j.Operation == protection.OpBackup {
		details["TaskId"] = j.ID // the task is the job (activityID)
	}
	if len(details) == 0 {
		details = nil
	}
	bytes := float64(j.BytesTransferred)
	ext := &jobExtendedInfo{AdditionalDetails: details, DataTransferredInBytes: &bytes}
	if j.RecoveryPointID != "" {
		ref := &rpRef{RecoveryPointID: j.RecoveryPointID, RecoveryPointTime: j.RecoveryPointTime}
		if t := j.RecoveryPointTime; t != nil {
			u := t.UTC()
			ref.RecoveryPointTime = &u
		}
		if j.Operation == protection.OpRestore {
			ext.SourceRecoverPoint = ref
		} else {
			ext.TargetRecoverPoint = ref
		}
	}
	ext.RecoveryDestination = j.Target
	progress := strconv.Itoa(int(j.Progress)) + "%"
	for i, t := range j.Tasks {
		ext.SubTasks = append(ext.SubTasks, jobSubTask{TaskID: int32(i + 1), TaskName: t.Name, TaskStatus: t.Status, TaskProgress: progress})
	}
	if len(ext.SubTasks) == 0 {
		name := map[string]string{protection.OpBackup: "Trigger Backup", protection.OpRestore: "Trigger Restore", protection.OpConfigureBackup: "Configure Backup"}[j.Operation]
		if name == "" {
			name = j.Operation
		}
		ext.SubTasks = []jobSubTask{{TaskID: 1, TaskName: name, TaskStatus: j.Status, TaskProgress: progress}}
	}
	p.ExtendedInfo = ext
	if j.Error != nil {
		p.ErrorDetails = []userFacingError{{Code: j.Error.Code, Message: j.Error.Message, RecommendedAction: j.Error.RecommendedAction, IsUserError: strings.HasPrefix(j.Error.Code, "UserError"),
			IsRetryable: strings.Contains(j.Error.Code, "Transient")}}
	}
	return &jobResource{ProxyResource: arm.ProxyResource{ID: vault.ID + "/backupJobs/" + j.ID, Name: j.ID, Type: typeJob}, Properties: p}
}

func (pr *Provider) listJobs(r *arm.Request) (*arm.Response, error) {
	vault, err := pr.vaultNamed(r)
	if err != nil {
		return nil, err
	}
	ctx := r.HTTP.Context()
	now := pr.p.Now()
	return arm.PageKeyedFunc(r, 100, func(after string, skip, size int) ([]any, string, bool, error) {
		js, last, more, err := pr.Engine.JobPage(ctx, store.Prefetched(ctx, pr.p.Store), vault.ID, "dp:"+strings.ToLower(vault.ID), protection.JobFilter{}, nil, after, skip, size)
		views := make([]any, len(js))
		for i, j := range js {
			views[i] = jobView(vault, j, now)
		}
		return views, last, more, err
	})
}

// jobViewsOf are the wire views of every job of vault as of now, newest
// first (the list, and what an export writes).
func (pr *Provider) jobViewsOf(ctx context.Context, vault *vaultResource, now time.Time) ([]*jobResource, error) {
	js, err := protection.ListJobs(ctx, pr.p.Store, vault.ID, protection.JobFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]*jobResource, 0, len(js))
	for _, j := range js {
		out = append(out, jobView(vault, j, now))
	}
	return out, nil
}

func (pr *Provider) getJob(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, err := pr.vaultNamed(r)
	if err != nil {
		return nil, err
	}
	id := lastSegment(r.Param("jobId")) // a full job id (as in the seed) works too
	j, err := protection.GetJob(ctx, pr.p.Store, vault.ID, id)
	if isNotFound(err) {
		return nil, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The backup job '%s' was not found in vault '%s'.", id, vault.Name)
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(jobView(vault, j, pr.p.Now())), nil
}
