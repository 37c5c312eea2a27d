package recoveryservices

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

const policyType = "Microsoft.RecoveryServices/vaults/backupPolicies"

// policyRecord is a backup policy resource (ProtectionPolicyResource).
type policyRecord struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties json.RawMessage   `json:"properties"`
}

// iaas decodes an IaaS VM policy; nil for other kinds.
func (p *policyRecord) iaas() *iaasPolicy {
	ip, _, err := decodePolicyProperties(p.Properties)
	if err != nil {
		return nil
	}
	return ip
}

func (p *policyRecord) managementType() string {
	var h struct {
		BackupManagementType string `json:"backupManagementType"`
	}
	json.Unmarshal(p.Properties, &h)
	return h.BackupManagementType
}

// workloadType is VM for IaaS VM policies, else the policy's workLoadType.
func (p *policyRecord) workloadType() string {
	if strings.EqualFold(p.managementType(), "AzureIaasVM") {
		return "VM"
	}
	var h struct {
		WorkLoadType string `json:"workLoadType"`
	}
	json.Unmarshal(p.Properties, &h)
	return h.WorkLoadType
}

// jobStatus is the properties of an operation's status that name the job
// it started (OperationStatusJobExtendedInfo).
func jobStatus(jobID string) json.RawMessage {
	return mustJSON(map[string]any{"objectType": "OperationStatusJobExtendedInfo", "jobId": jobID})
}

// decodeJobInput reads the input of an operation that runs a job into in
// (jobID points at in's job id): the operation's status names the job and
// its result, once done, is a 204.
func decodeJobInput(op *ops.Operation, in any, jobID *string) error {
	if err := op.DecodeInput(in); err != nil {
		return err
	}
	namesJob(op, *jobID)
	return nil
}

// namesJob makes op an operation that runs the job jobID: its status names
// the job and its result, once done, is a 204.
func namesJob(op *ops.Operation, jobID string) {
	op.Properties = jobStatus(jobID)
	op.ResultStatus = http.StatusNoContent
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func intp(n int) *int { return &n }

// createDefaultPolicies adds the policies every new vault has.
func (pr *Provider) createDefaultPolicies(ctx context.Context, tx store.Tx, vid arm.ResourceID, now time.Time) error {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	at := func(h int) wireTime { return wireTime{day.Add(time.Duration(h) * time.Hour)} }
	def := iaasPolicy{BackupManagementType: "AzureIaasVM", PolicyType: "V1", InstantRpRetentionRangeInDays: intp(2), TimeZone: "UTC",
		SchedulePolicy: &schedulePolicy{SchedulePolicyType: "SimpleSchedulePolicy", ScheduleRunFrequency: "Daily", runSchedule: runSchedule{ScheduleRunTimes: []wireTime{at(2)}}, ScheduleWeeklyFrequency: intp(0)},
		RetentionPolicy: &retention{RetentionPolicyType: "LongTermRetentionPolicy", DailySchedule: &retentionRule{RetentionTimes: []wireTime{at(2)},
			RetentionDuration: &retentionDuration{Count: intp(30), DurationType: "Days"}}}}
	enh := iaasPolicy{BackupManagementType: "AzureIaasVM", PolicyType: "V2", InstantRpRetentionRangeInDays: intp(7), TimeZone: "UTC", SnapshotConsistencyType: "OnlyCrashConsistent",
		SchedulePolicy: &schedulePolicy{SchedulePolicyType: "SimpleSchedulePolicyV2", ScheduleRunFrequency: "Hourly",
			HourlySchedule: &hourlySchedule{Interval: intp(4), ScheduleWindowStartTime: &wireTime{day.Add(8 * time.Hour)}, ScheduleWindowDuration: intp(12)}},
		RetentionPolicy: &retention{RetentionPolicyType: "LongTermRetentionPolicy", DailySchedule: &retentionRule{RetentionTimes: []wireTime{at(8)},
			RetentionDuration: &retentionDuration{Count: intp(30), DurationType: "Days"}}}}
	t2 := at(2).UTC().Format(time.RFC3339)
	hourly := map[string]any{"backupManagementType": "AzureWorkload", "workLoadType": "SQLDataBase",
		"settings": map[string]any{"timeZone": "UTC", "issqlcompression": false, "isCompression": false},
		"subProtectionPolicy": []any{
			map[string]any{"policyType": "Full",
				"schedulePolicy":  map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{t2}, "scheduleWeeklyFrequency": 0},
				"retentionPolicy": map[string]any{"retentionPolicyType": "LongTermRetentionPolicy", "dailySchedule": map[string]any{"retentionTimes": []string{t2}, "retentionDuration": map[string]any{"count": 30, "durationType": "Days"}}}},
			map[string]any{"policyType": "Log",
				"schedulePolicy":  map[string]any{"schedulePolicyType": "LogSchedulePolicy", "scheduleFrequencyInMins": 60},
				"retentionPolicy": map[string]any{"retentionPolicyType": "SimpleRetentionPolicy", "retentionDuration": map[string]any{"count": 30, "durationType": "Days"}}},
		},
		"protectedItemsCount": 0}
	for _, x := range []struct {
		name  string
		props any
	}{{"DefaultPolicy", def}, {"EnhancedPolicy", enh}, {"HourlyLogBackup", hourly}} {
		id := vid.Child("backupPolicies", x.name)
		rec := policyRecord{ID: id.String(), Name: x.name, Type: policyType, Properties: mustJSON(x.props)}
		if err := resource.Put(ctx, tx, id, &rec); err != nil {
			return err
		}
	}
	return nil
}

// policyIDOf is the id of the policy a request names, in the vault it
// addresses (404 when the vault does not exist).
func (pr *Provider) policyIDOf(r *arm.Request) (arm.ResourceID, error) {
	v, _, err := pr.vaultOf(r)
	if err != nil {
		return arm.ResourceID{}, err
	}
	vid, _ := arm.ParseID(v.ID)
	return vid.Child("backupPolicies", r.Param("policyName")), nil
}

// withCount sets protectedItemsCount on an IaaS policy body.
func (pr *Provider) withCount(ctx context.Context, rd store.Reader, p policyRecord) policyRecord {
	var m map[string]any
	if json.Unmarshal(p.Properties, &m) != nil {
		return p
	}
	vid, err := arm.ParseID(p.ID)
	if err != nil {
		return p
	}
	items, _ := resource.List[itemRecord](ctx, rd, itemType, vid.Parent().String())
	n := 0
	for _, it := range items {
		if arm.EqualIDs(it.PolicyID, p.ID) && it.State.active() {
			n++
		}
	}
	m["protectedItemsCount"] = n
	p.Properties = mustJSON(m)
	return p
}

func (pr *Provider) putPolicy(r *arm.Request, id arm.ResourceID) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	name := r.Param("policyName")
	if !policyNameRE.MatchString(name) {
		return nil, arm.BadRequest("BMSUserErrorInvalidPolicyName", "The policy name '%s' is invalid: use 3 to 150 letters, digits, '-' or '_', starting with a letter.", name)
	}
	var in struct {
		Location   string            `json:"location"`
		Tags       map[string]string `json:"tags"`
		Properties json.RawMessage   `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	ip, other, err := decodePolicyProperties(in.Properties)
	if err != nil {
		return nil, err
	}
	var props json.RawMessage
	if ip != nil {
		if err := ip.validate(); err != nil {
			return nil, err
		}
		if err := ip.checkTimeZone(); err != nil {
			return nil, err
		}
		if err := ip.checkRetentionTimes(); err != nil {
			return nil, err
		}
		if sp := ip.SchedulePolicy; sp != nil && strings.EqualFold(sp.SchedulePolicyType, "SimpleSchedulePolicy") && sp.ScheduleWeeklyFrequency == nil {
			sp.ScheduleWeeklyFrequency = intp(0) // Azure answers 0 for a V1 schedule
		}
		props = mustJSON(ip)
	} else {
		props = mustJSON(other)
	}
	if err := pr.guardUpdate(r, id.Parent(), id, opGuardPolicy); err != nil {
		return nil, err
	}
	var out policyRecord
	var op *ops.Operation
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var old policyRecord
		err := resource.Get(ctx, tx, id, &old)
		if err == nil {
			name = old.Name
			if !strings.EqualFold(old.managementType(), mtOf(ip, other)) {
				return badField("properties.backupManagementType", "cannot change from '%s' to '%s'; create a new policy instead.", old.managementType(), mtOf(ip, other))
			}
			// Its items would move between Standard and Enhanced.
			if was := old.iaas(); was != nil && ip != nil && was.kind() != ip.kind() {
				return badField("properties.policyType", "cannot change from '%s' to '%s' (Standard is V1, Enhanced V2); create a new policy instead.", was.kind(), ip.kind())
			}
		} else if !arm.IsNotFound(err) {
			return err
		}
		out = policyRecord{ID: id.String(), Name: name, Type: policyType, Location: in.Location, Tags: in.Tags, Properties: props}
		out.ID = id.Parent().Child("backupPolicies", name).String()
		if err := resource.Put(ctx, tx, id, &out); err != nil {
			return err
		}
		if ip == nil {
			return nil
		}
		// An IaaS policy that protects items is applied to each of them,
		// a job an item, as an operation the client polls (202); one that
		// protects nothing is written at once (200).
		jobs, err := pr.applyPolicy(ctx, tx, out.ID)
		if err != nil || len(jobs) == 0 {
			return err
		}
		ids := make([]string, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		op = &ops.Operation{Kind: opKindPolicy, ResourceID: out.ID, Caller: r.Caller(), ResultStatus: http.StatusNoContent,
			Properties: mustJSON(map[string]any{"objectType": "OperationStatusJobsExtendedInfo", "jobIds": ids, "failedJobsError": map[string]string{}})}
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	pr.p.Jobs.Notify()
	if op != nil {
		return arm.Accepted().Async(r, out.ID+"/operations/"+op.ID, out.ID+"/operationResults/"+op.ID), nil
	}
	return arm.OK(pr.withCount(ctx, pr.p.Store, out)), nil
}

func mtOf(ip *iaasPolicy, other map[string]any) string {
	if ip != nil {
		return "AzureIaasVM"
	}
	s, _ := other["backupManagementType"].(string)
	return s
}

var policyNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{2,149}$`)

func (pr *Provider) getPolicy(r *arm.Request, id arm.ResourceID) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var p policyRecord
	if err := resource.Get(ctx, pr.p.Store, id, &p); err != nil {
		return nil, policyNotFound(r.Param("policyName"), err)
	}
	return arm.OK(pr.withCount(ctx, pr.p.Store, p)), nil
}

func policyNotFound(name string, err error) error {
	if arm.IsNotFound(err) {
		return arm.Errorf(http.StatusNotFound, "BMSUserErrorPolicyNotFound", "The backup policy '%s' was not found in the vault. List the vault's backupPolicies to see the names.", name)
	}
	return err
}

func (pr *Provider) listPolicies(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vid, f, err := pr.vaultFilter(r, "backupManagementType", "workloadType")
	if err != nil {
		return nil, err
	}
	ps, err := resource.List[policyRecord](ctx, pr.p.Store, policyType, vid.String())
	if err != nil {
		return nil, err
	}
	out := make([]policyRecord, 0, len(ps))
	for _, p := range ps {
		if !selects(f, "backupmanagementtype", p.managementType(), "workloadtype", p.workloadType()) {
			continue
		}
		out = append(out, p)
	}
	return arm.PageKeyedOK(r, out, 200, func(p policyRecord) string { return strings.ToLower(p.ID) }, func(p policyRecord) any { return pr.withCount(ctx, pr.p.Store, p) })
}

func (pr *Provider) deletePolicy(r *arm.Request, id arm.ResourceID) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	op := &ops.Operation{Kind: opKindPolicy, ResourceID: id.String(), Caller: r.Caller(), ResultStatus: http.StatusNoContent}
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var p policyRecord
		if err := resource.Get(ctx, tx, id, &p); err != nil {
			return err
		}
		items, err := resource.List[itemRecord](ctx, tx, itemType, id.Parent().String())
		if err != nil {
			return err
		}
		n := 0
		for _, it := range items {
			if arm.EqualIDs(it.PolicyID, p.ID) {
				n++
			}
		}
		if n > 0 {
			return arm.BadRequest("BMSUserErrorObjectLocked", "The policy '%s' is used by %d protected item(s): move them to another policy or stop their protection before deleting it.", p.Name, n)
		}
		if err := resource.Delete(ctx, tx, id); err != nil {
			return err
		}
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if arm.IsNotFound(err) {
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	// Azure deletes a policy as an operation the client polls: the spec
	// allows 200 and 204 only, so the polling headers come with a 200.
	return arm.OK(nil).Async(r, id.String()+"/operations/"+op.ID, id.String()+"/operationResults/"+op.ID), nil
}

// policyOperation answers the policy operation routes; policy writes are
// synchronous, so any id that exists is reported done.
func (pr *Provider) policyOperationStatus(r *arm.Request) (*arm.Response, error) {
	return armops.StatusResponse(pr.p.Ops, r, r.Param("operationId"))
}

func (pr *Provider) policyOperationResult(r *arm.Request) (*arm.Response, error) {
	resp, err := armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNoContent { // the SDK accepts 200 only here
		got, err := on(pr.policyIDOf, pr.getPolicy)(r)
		if isNotFound(err) {
			return resp, nil // the operation deleted it
		}
		return got, err
	}
	return resp, nil
}

// filterClauseRE matches one "name op 'value'" clause of an OData $filter.
var filterClauseRE = regexp.MustCompile(`(?i)^\s*([A-Za-z_.]+)\s+(eq|ge|le|gt|lt)\s+'([^']*)'\s*`)

// selects reports whether the filter f (parsed by parseFilter) selects
// what has these values: kv is pairs of a field (lowercase) and the value
// it has, compared case-insensitively with the filter's where it names one.
func selects(f map[string]string, kv ...string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if v := f[kv[i]]; v != "" && !strings.EqualFold(v, kv[i+1]) {
			return false
		}
	}
	return true
}

// parseFilter parses "a eq 'x' and b eq 'y'" into lower-case names mapped to
// values, refusing names outside allowed.
func parseFilter(s string, allowed ...string) (map[string]string, error) {
	out := map[string]string{}
	rest := strings.TrimSpace(s)
	for rest != "" {
		m := filterClauseRE.FindStringSubmatch(rest)
		if m == nil {
			return nil, arm.BadRequest("InvalidFilter", "The $filter '%s' is invalid: write clauses like backupManagementType eq 'AzureIaasVM' joined by 'and'.", s)
		}
		name := strings.ToLower(m[1])
		ok := false
		for _, a := range allowed {
			if strings.EqualFold(a, name) {
				ok = true
			}
		}
		if !ok {
			return nil, arm.BadRequest("InvalidFilter", "The $filter field '%s' is not supported here: use %s.", m[1], strings.Join(allowed, ", "))
		}
		out[name] = m[3]
		rest = strings.TrimSpace(rest[len(m[0]):])
		if rest == "" {
			break
		}
		if len(rest) < 4 || !strings.EqualFold(rest[:4], "and ") {
			return nil, arm.BadRequest("InvalidFilter", "The $filter '%s' is invalid: join clauses with 'and'.", s)
		}
		rest = rest[4:]
	}
	return out, nil
}
