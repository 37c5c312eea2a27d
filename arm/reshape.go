package arm

import (
	"bytes"
	"encoding/json"
	"strings"
)

// ReshapeResources rewrites the body of an answer that carries a resource,
// or a page of them (value), for an api-version whose wire shape differs
// from the one the handler answers: fn gets each resource as a JSON object
// (numbers kept as written) and changes it in place. A body that is not a
// JSON object is left as it is.
func (resp *Response) ReshapeResources(fn func(map[string]any)) error {
	if resp == nil || resp.Body == nil {
		return nil
	}
	b, err := json.Marshal(resp.Body)
	if err != nil {
		return err
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&v) != nil || v == nil {
		return nil
	}
	if page, ok := v["value"].([]any); ok && v["properties"] == nil {
		for _, it := range page {
			if m, ok := it.(map[string]any); ok {
				fn(m)
			}
		}
	} else {
		fn(v)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	resp.Body = json.RawMessage(out)
	return nil
}

// ShapedBefore serves h in an older wire shape to api-versions before
// since: in (when not nil) rewrites the request first, and out rewrites
// each resource of the answer (ReshapeResources).
func ShapedBefore(since string, in func(*Request) error, out func(map[string]any), h Handler) Handler {
	return func(r *Request) (*Response, error) {
		if r.APIVersion == "" || r.APIVersion >= since {
			return h(r)
		}
		if in != nil {
			if err := in(r); err != nil {
				return nil, err
			}
		}
		resp, err := h(r)
		if err != nil {
			return nil, err
		}
		if err := resp.ReshapeResources(out); err != nil {
			return nil, err
		}
		return resp, nil
	}
}

// The first api-versions of Microsoft.Compute disks (2016-04-30-preview)
// and Microsoft.Storage accounts (2015-06-15) name the sku
// properties.accountType.

// SKUAsAccountType moves a resource's sku.name to properties.accountType
// and drops sku; it returns the resource's properties.
func SKUAsAccountType(m map[string]any) map[string]any {
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
	return props
}

// AccountTypeAsSKU rewrites r's body in that shape: its
// properties.accountType becomes the sku it names unless a sku is sent.
// It reports whether the body names a sku either way (false too for a
// body that is not a JSON object, which Decode refuses).
func AccountTypeAsSKU(r *Request) (bool, error) {
	if !r.HasBody() {
		return false, nil
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(r.Body, &body) != nil {
		return false, nil
	}
	var props map[string]json.RawMessage
	sent := map[string]bool{}
	for k, v := range body {
		k = strings.ToLower(k)
		sent[k] = string(bytes.TrimSpace(v)) != "null"
		if k == "properties" {
			_ = json.Unmarshal(v, &props)
		}
	}
	sku := sent["sku"]
	for k, v := range props {
		if sku || !strings.EqualFold(k, "accountType") {
			continue
		}
		var name string
		if err := json.Unmarshal(v, &name); err != nil {
			return false, BadRequest("InvalidParameter", "properties.accountType must be a string, e.g. Standard_LRS.")
		}
		b, err := json.Marshal(map[string]string{"name": name})
		if err != nil {
			return false, err
		}
		body["sku"], sku = b, true
	}
	var err error
	r.Body, err = json.Marshal(body)
	return sku, err
}
