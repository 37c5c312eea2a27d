package arm

import (
	"slices"
	"strings"
)

// LinkTo is the link (see Request.CheckLinked) of action to id when id
// names what the action is on: a resource of the action's type (the
// resource an assign or join action assigns or joins), or a resource group for one of
// groupActions (actions on what a group holds, such as creating disks in
// it). Anything else links nothing: an id of another kind is left to the
// provider's validation (400), never checked as a link.
func LinkTo(action, id string, groupActions ...string) Link {
	rid, err := ParseID(id)
	if id == "" || err != nil || rid.SubscriptionID == "" {
		return Link{}
	}
	typ := action[:strings.LastIndex(action, "/")]
	if strings.HasSuffix(action, "/action") { // an action's verb (assign, join...) follows the type
		typ = typ[:max(strings.LastIndex(typ, "/"), 0)]
	}
	switch {
	case rid.Namespace == "" && rid.ResourceGroup != "" && slices.Contains(groupActions, action):
	case rid.Namespace != "" && strings.EqualFold(rid.Type(), typ):
	default:
		return Link{}
	}
	return Link{Action: action, Scope: id}
}

// AssignLinks are the links of the identities a request gives a resource:
// action (an assign action) on each of ids.
func AssignLinks(action string, ids []string) []Link {
	var links []Link
	for _, id := range ids {
		links = append(links, LinkTo(action, id))
	}
	return links
}
