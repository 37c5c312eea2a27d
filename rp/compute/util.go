package compute

import (
	"context"
	"encoding/json"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/rp"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func checkRG(ctx context.Context, pr *Provider, r *arm.Request) error {
	return rp.CheckResourceGroup(ctx, pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName"))
}
