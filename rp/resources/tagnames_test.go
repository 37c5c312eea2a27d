package resources_test

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// The Tags API through the Go SDK's TagsClient: a subscription's own tags
// (CreateOrUpdateAtScope, UpdateAtScope, GetAtScope, DeleteAtScope at
// /subscriptions/{s}, which GET /subscriptions/{s} answers too), and the
// subscription's tag names (NewListPager: predefined names and values and
// those carried by the subscription, its groups and resources, with their
// counts; CreateOrUpdate, CreateOrUpdateValue, DeleteValue, Delete, which
// refuse a name or value still carried with 409). A Reader of the
// subscription reads them and changes none (403). The provider
// Microsoft.Resources lists the types tags and subscriptions/tagNames.
func TestTagsAtSubscriptionAndTagNames(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	f := testserver.Factory(e, armresources.NewClientFactory)
	tc := f.NewTagsClient()
	subScope := "subscriptions/" + e.Sub
	ptrs := func(m map[string]string) map[string]*string {
		out := map[string]*string{}
		for k, v := range m {
			out[k] = to.Ptr(v)
		}
		return out
	}
	flat := func(m map[string]*string) string {
		var kv []string
		for k, v := range m {
			kv = append(kv, k+"="+*v)
		}
		sort.Strings(kv)
		return strings.Join(kv, ",")
	}

	// Microsoft.Resources lists the types the Tags API serves.
	prov, err := f.NewProvidersClient().Get(ctx, "Microsoft.Resources", nil)
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, rt := range prov.ResourceTypes {
		served[*rt.ResourceType] = true
	}
	if !served["tags"] || !served["subscriptions/tagNames"] {
		t.Fatalf("Microsoft.Resources' resource types lack tags or subscriptions/tagNames: %v", served)
	}

	// The subscription's own tags.
	put, err := tc.CreateOrUpdateAtScope(ctx, subScope, armresources.TagsResource{Properties: &armresources.Tags{Tags: ptrs(map[string]string{"env": "prod", "cost": "cc1"})}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := flat(put.Properties.Tags); got != "cost=cc1,env=prod" || *put.ID != "/subscriptions/"+e.Sub+"/providers/Microsoft.Resources/tags/default" {
		t.Fatalf("PUT subscription tags: %s %s", *put.ID, got)
	}
	upd, err := tc.UpdateAtScope(ctx, subScope, armresources.TagsPatchResource{Operation: to.Ptr(armresources.TagsPatchOperationMerge), Properties: &armresources.Tags{Tags: ptrs(map[string]string{"ENV": "dev"})}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := flat(upd.Properties.Tags); got != "ENV=dev,cost=cc1" {
		t.Fatalf("PATCH Merge subscription tags: %s", got)
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"?api-version=2022-12-01", nil); resp.StatusCode != 200 || testserver.Field(m, "tags.ENV") != "dev" || testserver.Field(m, "tags.cost") != "cc1" {
		t.Fatalf("GET subscription: %d %v", resp.StatusCode, m)
	}

	// Groups and resources carry tags too; the list counts each carrier.
	e.ResourceGroups("ga", "gb")
	gc := f.NewResourceGroupsClient()
	if _, err := gc.CreateOrUpdate(ctx, "ga", armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: ptrs(map[string]string{"env": "dev", "team": "x"})}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.CreateOrUpdateAtScope(ctx, subScope+"/resourceGroups/gb", armresources.TagsResource{Properties: &armresources.Tags{Tags: ptrs(map[string]string{"Env": "prod"})}}, nil); err != nil {
		t.Fatal(err)
	}
	disk, _ := fixture.Disk(t, e, "ga", "d1", 1)
	if _, err := tc.CreateOrUpdateAtScope(ctx, disk, armresources.TagsResource{Properties: &armresources.Tags{Tags: ptrs(map[string]string{"team": "y"})}}, nil); err != nil {
		t.Fatal(err)
	}
	// Predefined names and values.
	created, err := tc.CreateOrUpdate(ctx, "owner", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *created.TagName != "owner" || *created.Count.Value != 0 || *created.ID != "/subscriptions/"+e.Sub+"/tagNames/owner" {
		t.Fatalf("CreateOrUpdate owner: %+v", created.TagDetails)
	}
	if _, err := tc.CreateOrUpdateValue(ctx, "owner", "alice", nil); err != nil {
		t.Fatal(err)
	}
	v, err := tc.CreateOrUpdateValue(ctx, "team", "z", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *v.TagValue.TagValue != "z" || *v.Count.Value != 0 || *v.ID != "/subscriptions/"+e.Sub+"/tagNames/team/tagValues/z" {
		t.Fatalf("CreateOrUpdateValue team=z: %+v", v.TagValue)
	}
	resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/tagNames/owner?api-version=2021-04-01", nil)
	if resp.StatusCode != http.StatusOK || m["tagName"] != "owner" {
		t.Fatalf("PUT of an existing predefined name: %d %v, want 200", resp.StatusCode, m)
	}
	if _, err := tc.CreateOrUpdate(ctx, "microsoftThing", nil); err == nil {
		t.Fatal("CreateOrUpdate of a reserved name succeeded")
	} else if st, _ := testserver.ErrorOf(err); st != http.StatusBadRequest {
		t.Fatalf("CreateOrUpdate of a reserved name: %v", err)
	}

	list := func() string {
		var out []string
		for page := range fixture.Pages(t, tc.NewListPager(nil)) {
			for _, d := range page.Value {
				s := *d.TagName + ":" + strconv.Itoa(int(*d.Count.Value))
				var vs []string
				for _, v := range d.Values {
					vs = append(vs, *v.TagValue+"="+strconv.Itoa(int(*v.Count.Value)))
				}
				out = append(out, s+"["+strings.Join(vs, ",")+"]")
			}
		}
		return strings.Join(out, " ")
	}
	// env: the subscription (ENV=dev), ga (env=dev), gb (Env=prod); cost:
	// the subscription; owner: predefined with alice; team: ga (x), the
	// disk (y), predefined z.
	want := "cost:1[cc1=1] ENV:3[dev=2,prod=1] owner:0[alice=0] team:2[x=1,y=1,z=0]"
	if got := list(); !strings.EqualFold(got, want) {
		t.Fatalf("tag names:\n  %s\nwant\n  %s", got, want)
	}

	// A name or value still carried cannot be deleted.
	_, err = tc.Delete(ctx, "team", nil)
	testserver.WantError(t, "Delete of a carried name", err, http.StatusConflict, "TagNameInUse")
	_, err = tc.DeleteValue(ctx, "team", "x", nil)
	testserver.WantError(t, "DeleteValue of a carried value", err, http.StatusConflict, "TagValueInUse")

	// A Reader reads them and changes nothing.
	readerID, reader := fixture.Principal(t, e, "reader")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub, rbac.Reader, readerID)
	rf, err := armresources.NewClientFactory(e.Sub, reader, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	rtc := rf.NewTagsClient()
	if got, err := rtc.GetAtScope(ctx, subScope, nil); err != nil || flat(got.Properties.Tags) != "ENV=dev,cost=cc1" {
		t.Fatalf("a Reader's GetAtScope: %v", err)
	}
	if pg := rtc.NewListPager(nil); testserver.Count(t, ctx, pg) != 4 {
		t.Fatal("a Reader does not list the 4 tag names")
	}
	for what, call := range map[string]func() error{
		"CreateOrUpdateAtScope": func() error {
			_, err := rtc.CreateOrUpdateAtScope(ctx, subScope, armresources.TagsResource{Properties: &armresources.Tags{Tags: ptrs(map[string]string{"a": "b"})}}, nil)
			return err
		},
		"DeleteAtScope":       func() error { _, err := rtc.DeleteAtScope(ctx, subScope, nil); return err },
		"CreateOrUpdate":      func() error { _, err := rtc.CreateOrUpdate(ctx, "n2", nil); return err },
		"CreateOrUpdateValue": func() error { _, err := rtc.CreateOrUpdateValue(ctx, "owner", "bob", nil); return err },
		"DeleteValue":         func() error { _, err := rtc.DeleteValue(ctx, "owner", "alice", nil); return err },
		"Delete":              func() error { _, err := rtc.Delete(ctx, "owner", nil); return err },
	} {
		testserver.WantError(t, "a Reader's "+what, call(), http.StatusForbidden, "AuthorizationFailed")
	}

	// Deleting: unused values and names go; the subscription's tags clear.
	if _, err := tc.DeleteValue(ctx, "owner", "alice", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.DeleteValue(ctx, "team", "z", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Delete(ctx, "owner", nil); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.Do("DELETE", "/subscriptions/"+e.Sub+"/tagNames/owner?api-version=2021-04-01", nil, testserver.AnyStatus()); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE of a name no longer defined: %d, want 204", resp.StatusCode)
	}
	if _, err := tc.DeleteAtScope(ctx, subScope, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := tc.GetAtScope(ctx, subScope, nil); err != nil || len(got.Properties.Tags) != 0 {
		t.Fatalf("GetAtScope after DeleteAtScope: %v %v", got, err)
	}
	want = "ENV:2[dev=1,prod=1] team:2[x=1,y=1]"
	if got := list(); !strings.EqualFold(got, want) {
		t.Fatalf("tag names after the deletes:\n  %s\nwant\n  %s", got, want)
	}
}

// The Tags API applies ARM's tag limits as a resource's PUT does: an empty
// name (az tag create --tags =x sent one and it was stored), reserved
// characters or a value of 257 characters are 400 with the code saying
// which, on Replace and Merge, and leave the tags as they were; a Delete
// naming such a tag is not refused. Two names that differ only in case are
// 400 DuplicateTagName.
func TestTagsAPIRefusesBadTags(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	ctx := e.Ctx()
	tc := testserver.Factory(e, armresources.NewClientFactory).NewTagsClient()
	scope := "subscriptions/" + e.Sub + "/resourceGroups/rg"
	if _, err := tc.CreateOrUpdateAtScope(ctx, scope, armresources.TagsResource{Properties: &armresources.Tags{Tags: map[string]*string{"keep": to.Ptr("1")}}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, value, code string }{
		{"", "x", "InvalidTagNameLength"},
		{"a%b", "x", "InvalidTagNameCharacters"},
		{"a\tb", "x", "InvalidTagNameCharacters"},
		{strings.Repeat("n", 513), "x", "InvalidTagNameLength"},
		{"long", strings.Repeat("v", 257), "InvalidTagValueLength"},
	} {
		tags := map[string]*string{c.name: to.Ptr(c.value)}
		_, err := tc.CreateOrUpdateAtScope(ctx, scope, armresources.TagsResource{Properties: &armresources.Tags{Tags: tags}}, nil)
		testserver.WantError(t, "tags "+c.code, err, http.StatusBadRequest, c.code)
		_, err = tc.UpdateAtScope(ctx, scope, armresources.TagsPatchResource{Operation: to.Ptr(armresources.TagsPatchOperationMerge), Properties: &armresources.Tags{Tags: tags}}, nil)
		testserver.WantError(t, "tags "+c.code, err, http.StatusBadRequest, c.code)
		if _, err := tc.UpdateAtScope(ctx, scope, armresources.TagsPatchResource{Operation: to.Ptr(armresources.TagsPatchOperationDelete), Properties: &armresources.Tags{Tags: tags}}, nil); err != nil {
			t.Fatalf("Delete %q: %v", c.name, err)
		}
	}
	// Tag names are case-insensitive: two that differ only in case are one
	// tag given twice (both were stored).
	twice := map[string]*string{"env": to.Ptr("a"), "ENV": to.Ptr("b")}
	_, err := tc.CreateOrUpdateAtScope(ctx, scope, armresources.TagsResource{Properties: &armresources.Tags{Tags: twice}}, nil)
	testserver.WantError(t, "tags env and ENV", err, http.StatusBadRequest, "DuplicateTagName")
	_, err = tc.UpdateAtScope(ctx, scope, armresources.TagsPatchResource{Operation: to.Ptr(armresources.TagsPatchOperationMerge), Properties: &armresources.Tags{Tags: twice}}, nil)
	testserver.WantError(t, "a merge of env and ENV", err, http.StatusBadRequest, "DuplicateTagName")
	got, err := tc.GetAtScope(ctx, scope, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Properties.Tags) != 1 || got.Properties.Tags["keep"] == nil || *got.Properties.Tags["keep"] != "1" {
		t.Fatalf("tags after refused changes: %v", got.Properties.Tags)
	}
}
