package compute

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/safehold/safehold/arm"
)

// skuShapeSince is the first api-version whose disks and snapshots carry
// the storage type as sku.name and the VM a disk is attached to as
// managedBy. 2016-04-30-preview, the first with managed disks, has them as
// properties.accountType (Standard_LRS or Premium_LRS) and
// properties.ownerId, and no sku or managedBy; its snapshots share the
// disk's schema.
const skuShapeSince = "2017-03-30"

// accountTypeShape reports whether r's api-version answers disks and
// snapshots in the shape of 2016-04-30-preview.
func accountTypeShape(r *arm.Request) bool {
	return r.APIVersion != "" && r.APIVersion < skuShapeSince
}

// withAccountType serves disks and snapshots in the shape of the request's
// api-version: before 2017-03-30 a request's properties.accountType is the
// sku it names, and the answer (a resource or a page of them) carries the
// sku's name as properties.accountType and managedBy as
// properties.ownerId, without sku and managedBy.
func withAccountType(h arm.Handler) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		if !accountTypeShape(r) {
			return h(r)
		}
		if err := skuFromAccountType(r); err != nil {
			return nil, err
		}
		resp, err := h(r)
		if err != nil || resp == nil || resp.Body == nil {
			return resp, err
		}
		b, err := json.Marshal(resp.Body)
		if err != nil {
			return nil, err
		}
		var v map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return resp, nil // not a resource (no body to shape)
		}
		if page, ok := v["value"].([]any); ok && v["properties"] == nil {
			for _, it := range page {
				if m, ok := it.(map[string]any); ok {
					toAccountType(m)
				}
			}
		} else {
			toAccountType(v)
		}
		out, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		resp.Body = json.RawMessage(out)
		return resp, nil
	}
}

// toAccountType moves a disk's or snapshot's sku.name and managedBy to
// properties.accountType and properties.ownerId.
func toAccountType(m map[string]any) {
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		m["properties"] = props
	}
	if sku, ok := m["sku"].(map[string]any); ok {
		if name, ok := sku["name"].(string); ok && name != "" {
			props["accountType"] = name
		}
	}
	delete(m, "sku")
	if owner, ok := m["managedBy"].(string); ok && owner != "" {
		props["ownerId"] = owner
	}
	delete(m, "managedBy")
}

// skuFromAccountType rewrites a 2016-04-30-preview body's
// properties.accountType as the sku it names (a sku sent as well wins).
func skuFromAccountType(r *arm.Request) error {
	if !r.HasBody() {
		return nil
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(r.Body, &body) != nil {
		return nil // Decode answers the error
	}
	var props map[string]json.RawMessage
	var sku bool
	for k, v := range body {
		switch strings.ToLower(k) {
		case "properties":
			_ = json.Unmarshal(v, &props)
		case "sku":
			sku = string(bytes.TrimSpace(v)) != "null"
		}
	}
	if sku {
		return nil
	}
	for k, v := range props {
		if !strings.EqualFold(k, "accountType") {
			continue
		}
		var name string
		if err := json.Unmarshal(v, &name); err != nil {
			return arm.BadRequest("InvalidParameter", "properties.accountType must be a string: Standard_LRS or Premium_LRS.")
		}
		b, err := json.Marshal(map[string]string{"name": name})
		if err != nil {
			return err
		}
		body["sku"] = b
		if r.Body, err = json.Marshal(body); err != nil {
			return err
		}
		return nil
	}
	return nil
}
