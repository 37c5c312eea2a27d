package authorization_test

import (
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/testserver"
)

// TestConcurrentCustomRolesOfOneName: custom roles of one name PUT at once
// under different GUIDs make one role; every other PUT is 409
// RoleDefinitionWithSameNameExists. The name was checked against the roles
// in memory before the write, outside its transaction, so PUTs that
// overlapped each made a role of that name.
func TestConcurrentCustomRolesOfOneName(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub := "/subscriptions/" + e.Sub
	rd, err := armauthorization.NewRoleDefinitionsClient(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 5; round++ {
		name := "operators " + uuid.NewString()[:8]
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = rd.CreateOrUpdate(ctx, sub, uuid.NewString(), armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
					RoleName: to.Ptr(name), AssignableScopes: []*string{to.Ptr(sub)},
					Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("*/read")}}}}}, nil)
			})
		}
		wg.Wait()
		made := 0
		for _, err := range errs {
			switch {
			case err == nil:
				made++
			case !testserver.HasError(err, 409, "RoleDefinitionWithSameNameExists"):
				t.Fatalf("a PUT of role %q: %v", name, err)
			}
		}
		listed := 0
		for pager := rd.NewListPager(sub, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq '" + name + "'")}); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			listed += len(page.Value)
		}
		if made != 1 || listed != 1 {
			t.Fatalf("%d PUTs at once of custom role %q: %d made, %d listed; want 1", n, name, made, listed)
		}
	}
}
