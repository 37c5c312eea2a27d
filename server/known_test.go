package server_test

import (
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rp/resources"
	"github.com/safehold/safehold/store"
)

// The caller's principal and the subscription a request names are checked
// on every request from memory while neither kind of document changes
// (store.KnownKeys): a subscription or principal deleted through the
// store, with no cache told (as the admin reset or another code path
// would), is refused by the very next request.
func TestDeletedSubscriptionAndPrincipalRefusedAtOnce(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	const sub2 = "22222222-2222-2222-2222-222222222222"
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		return resources.PutSubscription(ctx, tx, resources.NewSubscription(sub2, e.Server.Bootstrap.TenantID, "second"))
	}); err != nil {
		t.Fatal(err)
	}
	groups := "/resourcegroups/g?api-version=2021-04-01"
	for range 3 { // the admin is Owner of the default subscription only: the second exists, and is forbidden
		if resp, m := raw(t, e, "GET", "/subscriptions/"+sub2+groups, "", nil); resp.StatusCode != 403 {
			t.Fatalf("GET in the second subscription: %d %v", resp.StatusCode, m)
		}
	}
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		return tx.Delete(ctx, "subscription", sub2)
	}); err != nil {
		t.Fatal(err)
	}
	if resp, m := raw(t, e, "GET", "/subscriptions/"+sub2+groups, "", nil); resp.StatusCode != 404 || testserver.ErrorCode(m) != "SubscriptionNotFound" {
		t.Fatalf("GET in the deleted subscription: %d %v", resp.StatusCode, m)
	}

	e.ResourceGroups("g")
	for range 3 {
		if resp, m := raw(t, e, "GET", "/subscriptions/"+e.Sub+groups, "", nil); resp.StatusCode != 200 {
			t.Fatalf("GET: %d %v", resp.StatusCode, m)
		}
	}
	admin := e.Server.Bootstrap.AdminObjectID
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error { return e.Server.Platform.Dir.Delete(ctx, tx, admin) }); err != nil {
		t.Fatal(err)
	}
	if resp, m := raw(t, e, "GET", "/subscriptions/"+e.Sub+groups, "", nil); resp.StatusCode != 401 || testserver.ErrorCode(m) != "InvalidAuthenticationToken" {
		t.Fatalf("GET by a deleted principal: %d %v", resp.StatusCode, m)
	}
}
