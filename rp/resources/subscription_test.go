package resources_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSubscriptionHasManagedByTenants: a subscription, read or listed,
// answers managedByTenants (an empty list: no tenant manages it through
// Lighthouse), as Azure's does; it was missing, so a script reading
// az account show's managedByTenants (or its length) met null.
func TestSubscriptionHasManagedByTenants(t *testing.T) {
	e := testserver.Start(t)
	e.Do("PUT", "/subscriptions/"+e.Sub+"/providers/Microsoft.Resources/tags/default?api-version=2021-04-01", map[string]any{"properties": map[string]any{"tags": map[string]any{"env": "test"}}})
	_, got := e.Do("GET", "/subscriptions/"+e.Sub+"?api-version=2022-12-01", nil)
	if m, ok := got["managedByTenants"].([]any); !ok || len(m) != 0 {
		t.Errorf("subscription: managedByTenants %#v in %v", got["managedByTenants"], got)
	}
	_, list := e.Do("GET", "/subscriptions?api-version=2022-12-01", nil)
	subs, _ := list["value"].([]any)
	if len(subs) == 0 {
		t.Fatalf("subscriptions: %v", list)
	}
	for _, s := range subs {
		if m, ok := s.(map[string]any)["managedByTenants"].([]any); !ok || len(m) != 0 {
			t.Errorf("listed subscription: managedByTenants %#v in %v", s.(map[string]any)["managedByTenants"], s)
		}
	}
	f, err := armsubscriptions.NewClientFactory(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.NewClient().Get(e.Ctx(), e.Sub, nil)
	if err != nil || s.ManagedByTenants == nil || s.Tags["env"] == nil {
		t.Fatalf("the SDK's subscription: %v %+v", err, s)
	}
}
