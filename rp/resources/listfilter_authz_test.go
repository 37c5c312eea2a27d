package resources_test

import (
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// A resource list (GET /subscriptions/{s}/resources, az resource list,
// with any $filter and paging) shows a caller the resources it may read,
// each checked with its own type's read: a Reader of one group sees that
// group's resources and nothing of another's; a role that reads all but
// disks (notActions Microsoft.Compute/disks/read), whether held on a group
// or on the subscription, does not see the disks it may not GET.
func TestResourceListShowsOnlyReadableItems(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("mine", "other")
	sub := "/subscriptions/" + e.Sub
	for _, rg := range []string{"mine", "other"} {
		fixture.Disk(t, e, rg, "d-"+rg, 1)
		if resp, m := e.Do("PUT", sub+"/resourceGroups/"+rg+"/providers/Microsoft.Storage/storageAccounts/acct"+rg+"?api-version=2023-05-01",
			map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}, "tags": map[string]string{"team": rg}}); resp.StatusCode >= 300 {
			t.Fatalf("storage account: %d %v", resp.StatusCode, m)
		}
	}
	noDisks := uuid.NewString()
	if resp, m := e.Do("PUT", sub+"/providers/Microsoft.Authorization/roleDefinitions/"+noDisks+"?api-version=2022-04-01", map[string]any{"properties": map[string]any{
		"roleName": "reads all but disks", "type": "CustomRole",
		"permissions":      []any{map[string]any{"actions": []string{"*/read"}, "notActions": []string{"Microsoft.Compute/disks/read"}}},
		"assignableScopes": []string{sub}}}); resp.StatusCode != 201 {
		t.Fatalf("custom role: %d %v", resp.StatusCode, m)
	}
	readerID, reader := fixture.Principal(t, e, "reader")
	fixture.Assign(t, e, sub+"/resourceGroups/mine", rbac.Reader, readerID)
	groupID, group := fixture.Principal(t, e, "nodisks-group")
	fixture.Assign(t, e, sub+"/resourceGroups/mine", noDisks, groupID)
	subID, subWide := fixture.Principal(t, e, "nodisks-sub")
	fixture.Assign(t, e, sub, noDisks, subID)
	lower := func(ids ...string) string {
		for i := range ids {
			ids[i] = strings.ToLower(sub + "/resourceGroups/" + ids[i])
		}
		sort.Strings(ids)
		return strings.Join(ids, " ")
	}
	disk := func(rg string) string { return rg + "/providers/Microsoft.Compute/disks/d-" + rg }
	acct := func(rg string) string { return rg + "/providers/Microsoft.Storage/storageAccounts/acct" + rg }
	for _, c := range []struct {
		who     string
		as      testserver.RequestOption
		visible map[string]bool
	}{
		{"a Reader of group mine", testserver.As(reader), map[string]bool{disk("mine"): true, acct("mine"): true}},
		{"a reader of all but disks in group mine", testserver.As(group), map[string]bool{acct("mine"): true}},
		{"a reader of all but disks in the subscription", testserver.As(subWide), map[string]bool{acct("mine"): true, acct("other"): true}},
	} {
		for _, f := range []struct{ filter, rg, typ, name string }{{filter: ""},
			{"resourceType eq 'Microsoft.Compute/disks'", "", "Microsoft.Compute/disks", ""},
			{"resourceGroup eq 'other'", "other", "", ""},
			{"tagName eq 'team'", "", "Microsoft.Storage/storageAccounts", ""},
			{"name eq 'd-other'", "other", "Microsoft.Compute/disks", ""},
			{"substringof('other', name)", "other", "", ""},
			{"location eq 'westus'", "", "", ""},
			{"resourceType eq 'Microsoft.Storage/storageAccounts' and resourceGroup eq 'other'", "other", "Microsoft.Storage/storageAccounts", ""},
		} {
			var want []string
			for id := range c.visible {
				if (f.rg == "" || strings.HasPrefix(id, f.rg+"/")) && (f.typ == "" || strings.Contains(id, "/"+f.typ+"/")) {
					want = append(want, id)
				}
			}
			for _, extra := range []string{"", "&$top=1"} {
				path := sub + "/resources?api-version=2021-04-01" + extra
				if f.filter != "" {
					path += "&$filter=" + url.QueryEscape(f.filter)
				}
				var got []string
				for path != "" {
					resp, m := e.Do("GET", path, nil, c.as)
					if resp.StatusCode != 200 {
						t.Fatalf("%s lists %s: %d %v", c.who, path, resp.StatusCode, m)
					}
					for _, it := range m["value"].([]any) {
						got = append(got, strings.ToLower(it.(map[string]any)["id"].(string)))
					}
					path, _ = m["nextLink"].(string)
				}
				sort.Strings(got)
				if g, w := strings.Join(got, " "), lower(append([]string(nil), want...)...); g != w {
					t.Errorf("%s, $filter %q%s: lists\n  %s\nwant\n  %s", c.who, f.filter, extra, g, w)
				}
			}
		}
	}
}
