package vaultface

import (
	"net/url"
	"strings"

	"github.com/safehold/safehold/arm"
)

// MergePatch applies patch to a deep copy of dst as a JSON merge patch
// (RFC 7396, as ARM's PATCH works) and returns it: nested objects merge
// field by field, null removes a field, anything else replaces it. Field
// names match in any case (Azure's do); a field dst has keeps its spelling.
func MergePatch(dst, patch map[string]any) map[string]any {
	out := deepCopy(dst)
	for k, v := range patch {
		key := keyOf(out, k)
		switch pv := v.(type) {
		case nil:
			delete(out, key)
		case map[string]any:
			d, _ := out[key].(map[string]any)
			out[key] = MergePatch(d, pv)
		default:
			out[key] = v
		}
	}
	return out
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if mv, ok := v.(map[string]any); ok {
			v = deepCopy(mv)
		}
		out[k] = v
	}
	return out
}

// keyOf is the field of m named k in any case, or k when m has none.
func keyOf(m map[string]any, k string) string {
	if _, ok := m[k]; ok {
		return k
	}
	for x := range m {
		if strings.EqualFold(x, k) {
			return x
		}
	}
	return k
}

// KeepFinal holds a one-way setting of a vault's properties: the string at
// path (field names in any case) that old holds as final stays final in
// cur, the properties a write would store. A write that leaves it out
// (or sends null) keeps it, so it is put back into cur; one that changes
// it is 400 code naming the field (prefix and path), as Azure refuses to
// undo such a setting.
func KeepFinal(code, prefix string, old, cur map[string]any, final string, path ...string) error {
	from, _ := stringAt(old, path)
	if !strings.EqualFold(from, final) {
		return nil
	}
	field := prefix + "." + strings.Join(path, ".")
	to, ok := stringAt(cur, path)
	if !ok {
		m := cur
		for _, k := range path[:len(path)-1] {
			key := keyOf(m, k)
			next, isMap := m[key].(map[string]any)
			if !isMap {
				next = map[string]any{}
				m[key] = next
			}
			m = next
		}
		m[keyOf(m, path[len(path)-1])] = from
		return nil
	}
	if !strings.EqualFold(to, final) {
		return arm.BadRequestAt(field, code, "%s is %s, which cannot be changed to '%s': once %s it stays so. Leave it %s (or out of the request).",
			field, from, to, final, final)
	}
	return nil
}

// stringAt is the value at path in m (field names in any case) and
// whether there is one (not null); a value that is not a string reads as
// its absence's "".
func stringAt(m map[string]any, path []string) (string, bool) {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = o[keyOf(o, k)]; !ok || v == nil {
			return "", false
		}
	}
	s, _ := v.(string)
	return s, true
}

// CodeCrossSubscriptionRestoreDisabled is the error of a restore into
// another subscription than its vault's while the vault's cross-subscription
// restore is off (Safehold's code: Azure's is not documented).
const CodeCrossSubscriptionRestoreDisabled = "UserErrorCrossSubscriptionRestoreDisabled"

// CheckCrossSubscriptionRestore refuses a restore that would create
// resources in subscription targetSub, named by the request's field, when
// it is not vaultSub and the vault's cross-subscription restore state (the
// string at path in props, the vault's properties) is Disabled or
// PermanentlyDisabled: as in Azure, such a vault restores within its own
// subscription only (a state left out is Enabled, Azure's default). It is
// 400 CodeCrossSubscriptionRestoreDisabled naming the field and the setting.
func CheckCrossSubscriptionRestore(props map[string]any, path []string, vaultSub, targetSub, field string) error {
	if targetSub == "" || strings.EqualFold(targetSub, vaultSub) {
		return nil
	}
	state, _ := stringAt(props, path)
	if !strings.EqualFold(state, "Disabled") && !strings.EqualFold(state, "PermanentlyDisabled") {
		return nil
	}
	or := ", or set that setting to Enabled"
	if strings.EqualFold(state, "PermanentlyDisabled") {
		or = " (a PermanentlyDisabled setting cannot be enabled again)"
	}
	return arm.BadRequestAt(field, CodeCrossSubscriptionRestoreDisabled,
		"%s is in subscription '%s', not the vault's '%s', and the vault's Cross Subscription Restore is %s (properties.%s): restore into subscription '%s'%s.",
		field, targetSub, vaultSub, state, strings.Join(path, "."), vaultSub, or)
}

// IsKeyURI says whether s is a Key Vault (or managed HSM) key's
// identifier, as a vault's customer-managed key names it:
// https://{host}/keys/{name}[/{version}].
func IsKeyURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	return (len(parts) == 2 || len(parts) == 3) && strings.EqualFold(parts[0], "keys") && parts[1] != "" && parts[len(parts)-1] != ""
}
