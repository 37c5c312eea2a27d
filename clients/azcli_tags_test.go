package clients_test

import (
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestAzCLITags drives az tag at the subscription: its own tags (create,
// update and list with --resource-id /subscriptions/{id}, which GET
// /subscriptions/{id} answers too) and its tag names (create --name,
// add-value, list, remove-value, delete --name; a name a group carries
// cannot be deleted). A Reader of the subscription lists them and changes
// none (AuthorizationFailed).
func TestAzCLITags(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := "/subscriptions/" + e.Conn.SubscriptionID

	// The subscription's own tags.
	if out := az.tsv("tag", "create", "--resource-id", sub, "--tags", "env=prod", "cost=cc1", "--query", "[properties.tags.env,properties.tags.cost]"); out != "prod\tcc1" && out != "prod\ncc1" {
		t.Fatalf("tag create --resource-id %s: %q", sub, out)
	}
	if out := az.tsv("tag", "update", "--resource-id", sub, "--operation", "Delete", "--tags", "cost", "--query", "keys(properties.tags)"); out != "env" {
		t.Fatalf("tag update --operation Delete at the subscription: %q", out)
	}
	if out := az.tsv("tag", "list", "--resource-id", sub, "--query", "properties.tags.env"); out != "prod" {
		t.Fatalf("tag list --resource-id %s: %q", sub, out)
	}
	if out := az.tsv("rest", "--method", "get", "--url", sub+"?api-version=2022-12-01", "--query", "tags.env"); out != "prod" {
		t.Fatalf("GET %s: tags.env %q", sub, out)
	}

	// Predefined tag names and values, beside those carried.
	az.run("group", "create", "-n", "tg", "-l", "westus", "--tags", "team=x", "-o", "none")
	if out := az.tsv("tag", "create", "--name", "owner", "--query", "[tagName,count.value]"); out != "owner\t0" && out != "owner\n0" {
		t.Fatalf("tag create --name owner: %q", out)
	}
	if out := az.tsv("tag", "add-value", "--name", "owner", "--value", "alice", "--query", "[tagValue,count.value]"); out != "alice\t0" && out != "alice\n0" {
		t.Fatalf("tag add-value: %q", out)
	}
	list := func() string {
		return az.tsv("tag", "list", "--query", "sort_by(@, &tagName)[].join(':', [tagName, to_string(count.value), join(',', values[].join('=', [tagValue, to_string(count.value)]))])")
	}
	if out, want := list(), "env:1:prod=1\nowner:0:alice=0\nteam:1:x=1"; out != want {
		t.Fatalf("tag list:\n%s\nwant\n%s", out, want)
	}
	az.fails("TagNameInUse", "tag", "delete", "--name", "team", "--yes")

	// A Reader lists and changes nothing.
	resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": "tag-reader"})
	if resp.StatusCode != 201 {
		t.Fatalf("create service principal: %d %v", resp.StatusCode, m)
	}
	fixture.Assign(t, e, sub, rbac.Reader, str(m, "objectId"))
	reader := loggedInAs(t, e, str(m, "appId"), str(m, "clientSecret"))
	if out := reader.tsv("tag", "list", "--query", "length(@)"); out != "3" {
		t.Fatalf("a Reader's tag list: %q", out)
	}
	reader.fails("AuthorizationFailed", "tag", "create", "--name", "n2")
	reader.fails("AuthorizationFailed", "tag", "remove-value", "--name", "owner", "--value", "alice")
	reader.fails("AuthorizationFailed", "tag", "update", "--resource-id", sub, "--operation", "Merge", "--tags", "a=b")

	az.run("tag", "remove-value", "--name", "owner", "--value", "alice")
	az.run("tag", "delete", "--name", "owner", "--yes")
	az.run("tag", "delete", "--resource-id", sub, "--yes")
	if out, want := list(), "team:1:x=1"; out != want {
		t.Fatalf("tag list after the deletes:\n%s\nwant\n%s", out, want)
	}
}
