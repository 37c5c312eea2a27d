package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// The Tags API at a subscription, a resource group or a top-level
// resource ({scope}/providers/Microsoft.Resources/tags/default): what az
// tag create, update (--operation Merge, Replace, Delete), list and delete
// send with --resource-id. The tags are the scope's own (what its GET
// answers; a subscription's are in its document).

const tagsPath = "/{*scope}/providers/Microsoft.Resources/tags/default"

func (pr *Provider) registerTags(rt *arm.Router) {
	rt.Handle("GET", tagsPath, pr.tagsHandler(""))
	rt.Handle("PUT", tagsPath, pr.tagsHandler("Replace"))
	rt.Handle("PATCH", tagsPath, pr.tagsHandler("patch"))
	rt.Handle("DELETE", tagsPath, pr.tagsHandler("Clear"))
	pr.registerTagNames(rt)
}

// tagsResource is the Tags API's answer.
type tagsResource struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		Tags map[string]string `json:"tags"`
	} `json:"properties"`
}

// tagsScope is the resource group or top-level resource a Tags API
// request names.
func tagsScope(r *arm.Request) (arm.ResourceID, error) {
	scope := "/" + strings.Trim(r.Param("scope"), "/")
	id, err := arm.ParseID(scope)
	if err != nil || id.SubscriptionID == "" || id.Scope != "" || (id.ResourceGroup == "" && id.Namespace != "") || (id.Namespace != "" && len(id.Types) != 1) {
		return arm.ResourceID{}, arm.BadRequest("InvalidTagsScope", "Tags at '%s' are not supported: give a subscription's id, a resource group's or a resource's (/subscriptions/{id}[/resourceGroups/{group}[/providers/{namespace}/{type}/{name}]]).", scope)
	}
	return id, nil
}

// tagsHandler serves the Tags API: op "" reads, Replace (PUT) sets the
// tags, Clear (DELETE) removes them all, patch applies the body's
// operation.
func (pr *Provider) tagsHandler(method string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		ctx, op := r.HTTP.Context(), method
		id, err := tagsScope(r)
		if err != nil {
			return nil, err
		}
		var in struct {
			Operation  string `json:"operation"`
			Properties *struct {
				Tags map[string]string `json:"tags"`
			} `json:"properties"`
		}
		if op == "Replace" || op == "patch" {
			if err := r.Decode(&in); err != nil {
				return nil, err
			}
			var sent struct {
				Properties struct {
					Tags map[string]any `json:"tags"`
				} `json:"properties"`
			}
			// (A Delete's null value is "": the tag whatever its value.)
			if json.Unmarshal(r.Body, &sent) == nil && !strings.EqualFold(in.Operation, "Delete") {
				for k, v := range sent.Properties.Tags {
					if _, ok := v.(string); !ok {
						return nil, arm.TagValueNotString(k, v)
					}
				}
			}
			if in.Properties == nil || in.Properties.Tags == nil {
				return nil, arm.BadRequest("InvalidRequestContent", "properties.tags is required, e.g. {\"properties\":{\"tags\":{\"env\":\"test\"}}}.")
			}
			if !strings.EqualFold(in.Operation, "Delete") {
				for k, v := range in.Properties.Tags {
					if err := arm.CheckTag(k, v); err != nil {
						return nil, err
					}
				}
				if err := arm.CheckTagNamesDistinct(in.Properties.Tags); err != nil {
					return nil, err
				}
			}
		}
		if op == "patch" {
			for _, o := range []string{"Merge", "Replace", "Delete"} {
				if strings.EqualFold(o, in.Operation) {
					op = o
				}
			}
			if op == "patch" {
				return nil, arm.BadRequest("InvalidRequestContent", "operation '%s' is not supported: use Merge, Replace or Delete.", in.Operation)
			}
		}
		var out tagsResource
		out.ID, out.Name, out.Type = id.String()+"/providers/Microsoft.Resources/tags/default", "default", "Microsoft.Resources/tags"
		change := func(ctx context.Context, rd store.Reader, tx store.Tx) error {
			doc, err := getTagged(ctx, rd, id)
			if err != nil {
				return err
			}
			tags := map[string]string{}
			if len(doc["tags"]) > 0 && json.Unmarshal(doc["tags"], &tags) != nil {
				return arm.BadRequest("InvalidTagsScope", "The resource '%s' has no tags.", id)
			}
			if tags == nil {
				tags = map[string]string{}
			}
			switch op {
			case "":
			case "Replace":
				tags = in.Properties.Tags
			case "Clear":
				tags = map[string]string{}
			case "Merge":
				for k, v := range in.Properties.Tags {
					if old, ok := lookupTagName(tags, k); ok {
						delete(tags, old)
					}
					tags[k] = v
				}
			case "Delete":
				for k, v := range in.Properties.Tags {
					if old, ok := lookupTagName(tags, k); ok && (v == "" || tags[old] == v) {
						delete(tags, old)
					}
				}
			}
			if len(tags) > 50 {
				return arm.BadRequest("InvalidTag", "A resource takes at most 50 tags; this change would give '%s' %d.", id, len(tags))
			}
			out.Properties.Tags = tags
			if tx == nil {
				return nil
			}
			b, err := json.Marshal(tags)
			if err != nil {
				return err
			}
			doc["tags"] = b
			return putTagged(ctx, tx, id, doc)
		}
		if op == "" {
			err = change(ctx, pr.p.Store, nil)
		} else {
			err = pr.p.Store.Update(ctx, func(tx store.Tx) error { return change(ctx, tx, tx) })
		}
		if err != nil {
			return nil, err
		}
		return arm.OK(out), nil
	}
}

// getTagged reads the document of the subscription, resource group or
// resource id whose tags the Tags API serves.
func getTagged(ctx context.Context, rd store.Reader, id arm.ResourceID) (map[string]json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if id.ResourceGroup == "" {
		d, err := rd.Get(ctx, resource.SubscriptionKind, id.SubscriptionID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, arm.Errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", id.SubscriptionID)
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(d.Value, &doc); err != nil {
			return nil, fmt.Errorf("decode subscription %s: %w", id.SubscriptionID, err)
		}
		return doc, nil
	}
	if err := resource.Get(ctx, rd, id, &doc); err != nil {
		if arm.IsNotFound(err) && id.Namespace == "" {
			return nil, arm.Errorf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", id.ResourceGroup)
		}
		return nil, err
	}
	return doc, nil
}

// putTagged writes what getTagged read.
func putTagged(ctx context.Context, tx store.Tx, id arm.ResourceID, doc map[string]json.RawMessage) error {
	if id.ResourceGroup == "" {
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: resource.SubscriptionKind, Key: id.SubscriptionID, Value: b})
	}
	return resource.Put(ctx, tx, id, doc)
}

// lookupTagName is the name under which tags holds name (tag names are
// case-insensitive).
func lookupTagName(tags map[string]string, name string) (string, bool) {
	for k := range tags {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}
