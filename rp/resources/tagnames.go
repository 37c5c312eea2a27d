package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// A subscription's tag names (/subscriptions/{s}/tagNames): what az tag
// list (without --resource-id), create --name, add-value, remove-value
// and delete --name send. The list is the union of the predefined names
// and values (stored here) and those the subscription, its resource
// groups and its resources carry, each with how many of them carry it. A
// name or value still carried cannot be deleted.

// tagNameKind is the document kind of predefined tag names: one document
// per subscription and name (case-insensitive), holding its predefined
// values.
const tagNameKind = "resources.tagname"

// predefinedTag is a predefined tag name's document.
type predefinedTag struct {
	TagName string   `json:"tagName"`
	Values  []string `json:"values,omitempty"`
}

// tagCount is ARM's TagCount.
type tagCount struct {
	Type  string `json:"type"`
	Value int    `json:"value"`
}

// tagValue is ARM's TagValue.
type tagValue struct {
	ID       string   `json:"id"`
	TagValue string   `json:"tagValue"`
	Count    tagCount `json:"count"`
}

// tagDetails is ARM's TagDetails.
type tagDetails struct {
	ID      string     `json:"id"`
	TagName string     `json:"tagName"`
	Count   tagCount   `json:"count"`
	Values  []tagValue `json:"values"`
}

func (pr *Provider) registerTagNames(rt *arm.Router) {
	const names = "/subscriptions/{subscriptionId}/tagNames"
	const action = "Microsoft.Resources/subscriptions/tagNames/"
	rt.Handle("GET", names, pr.listTagNames, arm.Action(action+"read"))
	rt.Handle("PUT", names+"/{tagName}", pr.putTagName, arm.Action(action+"write"))
	rt.Handle("DELETE", names+"/{tagName}", pr.deleteTagName, arm.Action(action+"delete"))
	rt.Handle("PUT", names+"/{tagName}/tagValues/{tagValue}", pr.putTagValue, arm.Action(action+"tagValues/write"))
	rt.Handle("DELETE", names+"/{tagName}/tagValues/{tagValue}", pr.deleteTagValue, arm.Action(action+"tagValues/delete"))
}

func tagNameKey(sub, name string) string { return strings.ToLower(sub + "/" + name) }

func tagNameScope(sub string) string { return strings.ToLower("/subscriptions/" + sub + "/") }

// tagNames is every tag name of subscription sub, predefined or carried,
// sorted by name, with its counts.
func tagNames(ctx context.Context, rd store.Reader, sub string) ([]tagDetails, error) {
	if err := resource.CheckSubscription(ctx, rd, sub); err != nil {
		return nil, err
	}
	type entry struct {
		name   string
		count  int
		values map[string]int
		order  []string // the values, in the order first seen
	}
	byName := map[string]*entry{}
	add := func(name, value string, carried bool) {
		e := byName[strings.ToLower(name)]
		if e == nil {
			e = &entry{name: name, values: map[string]int{}}
			byName[strings.ToLower(name)] = e
		}
		if carried {
			e.count++
		}
		if value == "" && !carried {
			return
		}
		if _, ok := e.values[value]; !ok {
			e.order = append(e.order, value)
		}
		if carried {
			e.values[value]++
		} else {
			e.values[value] += 0
		}
	}
	defined, err := rd.List(ctx, tagNameKind, store.ListQuery{ScopePrefix: tagNameScope(sub)})
	if err != nil {
		return nil, err
	}
	for _, d := range defined {
		var p predefinedTag
		if err := json.Unmarshal(d.Value, &p); err != nil {
			return nil, fmt.Errorf("decode tag name %s: %w", d.Key, err)
		}
		add(p.TagName, "", false)
		for _, v := range p.Values {
			add(p.TagName, v, false)
		}
	}
	carriers, err := rd.List(ctx, resourceKind, store.ListQuery{ScopePrefix: tagNameScope(sub)})
	if err != nil {
		return nil, err
	}
	s, err := rd.Get(ctx, resource.SubscriptionKind, sub)
	if err != nil {
		return nil, err
	}
	for _, d := range append(carriers, s) {
		var doc struct {
			Tags map[string]string `json:"tags"`
		}
		if json.Unmarshal(d.Value, &doc) != nil {
			continue // no tags map: tags of another shape are none ARM counts
		}
		for k, v := range doc.Tags {
			add(k, v, true)
		}
	}
	out := make([]tagDetails, 0, len(byName))
	for _, e := range byName {
		t := tagDetails{ID: "/subscriptions/" + sub + "/tagNames/" + e.name, TagName: e.name, Count: tagCount{"Total", e.count}, Values: []tagValue{}}
		sort.Strings(e.order)
		for _, v := range e.order {
			t.Values = append(t.Values, tagValue{ID: t.ID + "/tagValues/" + v, TagValue: v, Count: tagCount{"Total", e.values[v]}})
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].TagName) < strings.ToLower(out[j].TagName) })
	return out, nil
}

// resourceKind is the store kind of resources and groups (package resource's).
const resourceKind = "resource"

// tagDetailsOf is the details of name among tags (ok false: no such name).
func tagDetailsOf(tags []tagDetails, name string) (tagDetails, bool) {
	for _, t := range tags {
		if strings.EqualFold(t.TagName, name) {
			return t, true
		}
	}
	return tagDetails{}, false
}

func (pr *Provider) listTagNames(r *arm.Request) (*arm.Response, error) {
	tags, err := tagNames(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"))
	if err != nil {
		return nil, err
	}
	return pageOf(r, tags)
}

// checkTagName refuses a name ARM does not take as a predefined one.
func checkTagName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 512 || strings.ContainsAny(name, "<>%&\\?/") {
		return arm.BadRequest("InvalidTagNameCharacters", "The tag name '%s' is not valid: give 1 to 512 characters, none of <>%%&\\?/.", name)
	}
	for _, p := range []string{"microsoft", "azure", "windows"} {
		if strings.HasPrefix(strings.ToLower(name), p) {
			return arm.BadRequest("ReservedTagName", "The tag name '%s' is not valid: the prefixes 'microsoft', 'azure' and 'windows' are reserved for Azure's use.", name)
		}
	}
	return nil
}

// definePredefined adds name, and value when not "", to the subscription's
// predefined tags, and reports whether it added anything.
func (pr *Provider) definePredefined(ctx context.Context, sub, name, value string) (bool, error) {
	if err := checkTagName(name); err != nil {
		return false, err
	}
	if len(value) > 256 {
		return false, arm.BadRequest("InvalidTagValueLength", "The tag value '%s' is too long: give at most 256 characters.", value)
	}
	added := false
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		added = false
		if err := resource.CheckSubscription(ctx, tx, sub); err != nil {
			return err
		}
		p := predefinedTag{TagName: name}
		d, err := tx.Get(ctx, tagNameKind, tagNameKey(sub, name))
		switch {
		case errors.Is(err, store.ErrNotFound):
			added = true
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(d.Value, &p); err != nil {
				return fmt.Errorf("decode tag name %s: %w", d.Key, err)
			}
		}
		if value != "" && !slices.Contains(p.Values, value) {
			p.Values, added = append(p.Values, value), true
		}
		if !added {
			return nil
		}
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: tagNameKind, Key: tagNameKey(sub, name), Scope: tagNameScope(sub), Value: b})
	})
	return added, err
}

func (pr *Provider) putTagName(r *arm.Request) (*arm.Response, error) {
	return pr.putPredefined(r, "")
}

func (pr *Provider) putTagValue(r *arm.Request) (*arm.Response, error) {
	return pr.putPredefined(r, r.Param("tagValue"))
}

// putPredefined defines a predefined tag name (value "") or one of its
// values and answers its TagDetails (or TagValue): 201 when it is new.
func (pr *Provider) putPredefined(r *arm.Request, value string) (*arm.Response, error) {
	ctx, sub, name := r.HTTP.Context(), r.Param("subscriptionId"), r.Param("tagName")
	added, err := pr.definePredefined(ctx, sub, name, value)
	if err != nil {
		return nil, err
	}
	tags, err := tagNames(ctx, pr.p.Store, sub)
	if err != nil {
		return nil, err
	}
	t, _ := tagDetailsOf(tags, name)
	if value == "" {
		return arm.CreatedOrOK(added, t), nil
	}
	for _, v := range t.Values {
		if v.TagValue == value {
			return arm.CreatedOrOK(added, v), nil
		}
	}
	return nil, fmt.Errorf("tag value %s=%s missing after its PUT", name, value)
}

// deletePredefined removes the predefined name (value "": with its
// values) or one of its values, refusing while a subscription, group or
// resource carries it: 200 when it removed something, 204 when there was
// nothing to remove.
func (pr *Provider) deletePredefined(r *arm.Request, value string) (*arm.Response, error) {
	ctx, sub, name := r.HTTP.Context(), r.Param("subscriptionId"), r.Param("tagName")
	removed := false
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		removed = false
		tags, err := tagNames(ctx, tx, sub)
		if err != nil {
			return err
		}
		if t, ok := tagDetailsOf(tags, name); ok {
			if value == "" && t.Count.Value > 0 {
				return arm.Conflict("TagNameInUse", "The tag name '%s' cannot be deleted. It is associated to one or more resources (%d): remove it from them first.", name, t.Count.Value)
			}
			for _, v := range t.Values {
				if value != "" && v.TagValue == value && v.Count.Value > 0 {
					return arm.Conflict("TagValueInUse", "The tag cannot be deleted. It is associated to one or more resources (%d). Tag name '%s' and tag value '%s'.", v.Count.Value, name, value)
				}
			}
		}
		d, err := tx.Get(ctx, tagNameKind, tagNameKey(sub, name))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if value == "" {
			removed = true
			return tx.Delete(ctx, tagNameKind, d.Key)
		}
		var p predefinedTag
		if err := json.Unmarshal(d.Value, &p); err != nil {
			return fmt.Errorf("decode tag name %s: %w", d.Key, err)
		}
		kept := p.Values[:0]
		for _, v := range p.Values {
			if v != value {
				kept = append(kept, v)
			}
		}
		if len(kept) == len(p.Values) {
			return nil
		}
		p.Values, removed = kept, true
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: tagNameKind, Key: d.Key, Scope: d.Scope, Value: b})
	})
	if err != nil {
		return nil, err
	}
	if !removed {
		return arm.NoContent(), nil
	}
	return arm.Status(http.StatusOK, nil), nil
}

func (pr *Provider) deleteTagName(r *arm.Request) (*arm.Response, error) {
	return pr.deletePredefined(r, "")
}

func (pr *Provider) deleteTagValue(r *arm.Request) (*arm.Response, error) {
	if r.Param("tagValue") == "" {
		return nil, arm.BadRequest("InvalidTagValue", "Give the tag value to delete.")
	}
	return pr.deletePredefined(r, r.Param("tagValue"))
}
