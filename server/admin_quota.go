package server

import (
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
)

// The compute quotas of a subscription in a region (vCPUs in total and per
// VM size family, VMs), as GET .../Microsoft.Compute/locations/{l}/usages
// reports them: an operator lowers or raises them here (a developer testing
// how a client handles a reached quota).
//
//	GET  /providers/Safehold.Admin/computeQuotas/{subscriptionId}/{location}
//	POST /providers/Safehold.Admin/computeQuotas/{subscriptionId}/{location}
//	     {"limits": {"cores": 4, "standardDSv3Family": 2, "virtualMachines": 10}}
//
// A negative limit returns that quota to its default.

type quotaLine struct {
	Name          string `json:"name"`
	LocalizedName string `json:"localizedName"`
	CurrentValue  int64  `json:"currentValue"`
	Limit         int64  `json:"limit"`
}

func quotaBody(sub, loc string, us []compute.QuotaUsage) map[string]any {
	out := make([]quotaLine, len(us))
	for i, u := range us {
		out[i] = quotaLine{Name: u.Name, LocalizedName: u.LocalizedName, CurrentValue: u.Current, Limit: u.Limit}
	}
	return map[string]any{"subscriptionId": sub, "location": loc, "value": out}
}

func (s *Server) quotaShow(r *arm.Request) (*arm.Response, error) {
	us, err := s.Compute.Usages(r.HTTP.Context(), r.Param("subscriptionId"), r.Param("location"))
	if err != nil {
		return nil, err
	}
	return arm.OK(quotaBody(r.Param("subscriptionId"), r.Param("location"), us)), nil
}

func (s *Server) quotaSet(r *arm.Request) (*arm.Response, error) {
	var in struct {
		Limits map[string]int64 `json:"limits"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.Limits) == 0 {
		return nil, arm.BadRequest("InvalidParameter", "limits is required: give the quotas to set, e.g. {\"limits\": {\"cores\": 4}}.")
	}
	us, err := s.Compute.SetQuota(r.HTTP.Context(), r.Param("subscriptionId"), r.Param("location"), in.Limits)
	if err != nil {
		return nil, err
	}
	s.logger.Info("compute quota set", "subscription", r.Param("subscriptionId"), "location", r.Param("location"), "limits", in.Limits)
	return arm.OK(quotaBody(r.Param("subscriptionId"), r.Param("location"), us)), nil
}
