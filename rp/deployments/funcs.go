package deployments

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// evalCtx is what an expression is evaluated in.
type evalCtx struct {
	t          *template
	params     map[string]any
	vars       map[string]any // evaluated variables
	varBusy    map[string]bool
	copyIndex  map[string]int64 // loop name -> index of the instance evaluated
	copyLoop   string           // the innermost loop ("" none)
	paramDefs  bool             // evaluating parameter defaults: utcNow allowed
	now        time.Time
	reference  func(id, apiVersion string, full bool) (any, error) // nil: not at validation
	listKeys   func(id, apiVersion string) (any, error)
	noRuntime  bool // validation: reference/listKeys answer a placeholder
	deployName string
}

type function struct {
	min, max int
	fn       func(c *evalCtx, args []any) (any, error)
	lazy     func(c *evalCtx, args []node) (any, error)
}

var functions map[string]function

func init() {
	f := func(min, max int, fn func(c *evalCtx, args []any) (any, error)) function {
		return function{min: min, max: max, fn: fn}
	}
	functions = map[string]function{
		"parameters": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			n, err := str(a[0], "parameters")
			if err != nil {
				return nil, err
			}
			if v, ok := lookupFold(c.params, n); ok {
				return v, nil
			}
			return nil, errf("The template parameter '%s' is not found.", n)
		}),
		"variables": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			n, err := str(a[0], "variables")
			if err != nil {
				return nil, err
			}
			return c.variable(n)
		}),
		"concat": f(0, -1, func(c *evalCtx, a []any) (any, error) {
			if len(a) > 0 {
				if _, ok := a[0].([]any); ok {
					out := []any{}
					for _, x := range a {
						arr, ok := x.([]any)
						if !ok {
							return nil, errf("concat of arrays takes arrays only, not %s", kindOf(x))
						}
						if int64(len(out)+len(arr))*16 > maxValue {
							return nil, tooLong("concat")
						}
						out = append(out, arr...)
					}
					return out, nil
				}
			}
			var b strings.Builder
			for _, x := range a {
				b.WriteString(toString(x))
				if b.Len() > maxValue {
					return nil, tooLong("concat")
				}
			}
			return b.String(), nil
		}),
		"format": f(1, -1, func(c *evalCtx, a []any) (any, error) {
			s, err := str(a[0], "format")
			if err != nil {
				return nil, err
			}
			return dotnetFormat(s, a[1:])
		}),
		"resourceid": f(2, -1, func(c *evalCtx, a []any) (any, error) {
			return c.resourceID(a, true)
		}),
		"subscriptionresourceid": f(2, -1, func(c *evalCtx, a []any) (any, error) {
			return c.resourceID(a, false)
		}),
		"extensionresourceid": f(3, -1, func(c *evalCtx, a []any) (any, error) {
			scope, err := str(a[0], "extensionResourceId")
			if err != nil {
				return nil, err
			}
			typ, err := str(a[1], "extensionResourceId")
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(a)-2)
			for _, x := range a[2:] {
				names = append(names, toString(x))
			}
			return joinID(strings.TrimRight(scope, "/"), typ, names)
		}),
		"resourcegroup": f(0, 0, func(c *evalCtx, a []any) (any, error) {
			return map[string]any{"id": c.t.groupID(), "name": c.t.group, "type": "Microsoft.Resources/resourceGroups",
				"location": c.t.location, "properties": map[string]any{"provisioningState": "Succeeded"}, "tags": map[string]any{}}, nil
		}),
		"subscription": f(0, 0, func(c *evalCtx, a []any) (any, error) {
			return map[string]any{"id": "/subscriptions/" + c.t.sub, "subscriptionId": c.t.sub, "tenantId": c.t.tenant, "displayName": "Safehold subscription"}, nil
		}),
		"tenant": f(0, 0, func(c *evalCtx, a []any) (any, error) {
			return map[string]any{"tenantId": c.t.tenant, "id": "/tenants/" + c.t.tenant}, nil
		}),
		"deployment": f(0, 0, func(c *evalCtx, a []any) (any, error) {
			return map[string]any{"name": c.deployName, "properties": map[string]any{"template": map[string]any{"contentVersion": c.t.contentVersion}, "templateHash": c.t.hash, "mode": "Incremental", "provisioningState": "Accepted"}}, nil
		}),
		"uniquestring": f(1, -1, func(c *evalCtx, a []any) (any, error) {
			return uniqueString(strs(a)), nil
		}),
		"guid": f(1, -1, func(c *evalCtx, a []any) (any, error) {
			return guidOf(strs(a)), nil
		}),
		"newguid": f(0, 0, func(c *evalCtx, a []any) (any, error) {
			if !c.paramDefs {
				return nil, errf("The template function 'newGuid' is only valid in the default value of a parameter.")
			}
			return guidOf([]string{c.now.String(), strconv.FormatInt(c.now.UnixNano(), 10)}), nil
		}),
		"utcnow": f(0, 1, func(c *evalCtx, a []any) (any, error) {
			if !c.paramDefs {
				return nil, errf("The template function 'utcNow' is only valid in the default value of a parameter.")
			}
			if len(a) == 1 {
				layout, err := str(a[0], "utcNow")
				if err != nil {
					return nil, err
				}
				return formatTime(c.now.UTC(), layout), nil
			}
			return c.now.UTC().Format("20060102T150405Z"), nil
		}),
		"reference": f(1, 3, func(c *evalCtx, a []any) (any, error) {
			id, err := str(a[0], "reference")
			if err != nil {
				return nil, err
			}
			ver, full := "", false
			if len(a) > 1 {
				ver = toString(a[1])
			}
			if len(a) > 2 {
				full = strings.EqualFold(toString(a[2]), "Full")
			}
			if c.reference == nil {
				return runtimeValue{}, nil
			}
			return c.reference(c.t.resolveRef(id), ver, full)
		}),
		"listkeys": f(2, 3, func(c *evalCtx, a []any) (any, error) {
			id, err := str(a[0], "listKeys")
			if err != nil {
				return nil, err
			}
			if c.listKeys == nil {
				return runtimeValue{}, nil
			}
			return c.listKeys(c.t.resolveRef(id), toString(a[1]))
		}),
		"tolower": f(1, 1, func(c *evalCtx, a []any) (any, error) { return strings.ToLower(toString(a[0])), nil }),
		"toupper": f(1, 1, func(c *evalCtx, a []any) (any, error) { return strings.ToUpper(toString(a[0])), nil }),
		"trim":    f(1, 1, func(c *evalCtx, a []any) (any, error) { return strings.TrimSpace(toString(a[0])), nil }),
		"if": {min: 3, max: 3, lazy: func(c *evalCtx, n []node) (any, error) {
			if len(n) != 3 {
				return nil, errf("The template function 'if' takes 3 arguments, not %d.", len(n))
			}
			cond, err := c.eval(n[0])
			if err != nil {
				return nil, err
			}
			b, err := toBool(cond, "if")
			if err != nil {
				return nil, err
			}
			if b {
				return c.eval(n[1])
			}
			return c.eval(n[2])
		}},
		"equals": f(2, 2, func(c *evalCtx, a []any) (any, error) { return equalValues(a[0], a[1]), nil }),
		"not": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			b, err := toBool(a[0], "not")
			return !b, err
		}),
		"and": f(2, -1, func(c *evalCtx, a []any) (any, error) {
			for _, x := range a {
				b, err := toBool(x, "and")
				if err != nil || !b {
					return false, err
				}
			}
			return true, nil
		}),
		"or": f(2, -1, func(c *evalCtx, a []any) (any, error) {
			for _, x := range a {
				b, err := toBool(x, "or")
				if err != nil || b {
					return b, err
				}
			}
			return false, nil
		}),
		"true":  f(0, 0, func(c *evalCtx, a []any) (any, error) { return true, nil }),
		"false": f(0, 0, func(c *evalCtx, a []any) (any, error) { return false, nil }),
		"null":  f(0, 0, func(c *evalCtx, a []any) (any, error) { return nil, nil }),
		"string": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			switch a[0].(type) {
			case []any, map[string]any:
				b, _ := json.Marshal(a[0])
				return string(b), nil
			}
			return toString(a[0]), nil
		}),
		"int": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			switch v := a[0].(type) {
			case int64:
				return v, nil
			case string:
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return nil, errf("The template function 'int' cannot convert '%s' to an integer.", v)
				}
				return n, nil
			}
			return nil, errf("The template function 'int' takes a string or an integer, not %s.", kindOf(a[0]))
		}),
		"bool": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			switch v := a[0].(type) {
			case bool:
				return v, nil
			case int64:
				return v != 0, nil
			case string:
				b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(v)))
				if err != nil {
					return nil, errf("The template function 'bool' cannot convert '%s' to a boolean.", v)
				}
				return b, nil
			}
			return nil, errf("The template function 'bool' takes a string, an integer or a boolean, not %s.", kindOf(a[0]))
		}),
		"json": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			s, err := str(a[0], "json")
			if err != nil {
				return nil, err
			}
			v, err := decodeJSON([]byte(s))
			if err != nil {
				return nil, errf("The template function 'json' cannot parse '%s': %v", s, err)
			}
			return v, nil
		}),
		"length": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			switch v := a[0].(type) {
			case string:
				return int64(len([]rune(v))), nil
			case []any:
				return int64(len(v)), nil
			case map[string]any:
				return int64(len(v)), nil
			}
			return nil, errf("The template function 'length' takes a string, an array or an object, not %s.", kindOf(a[0]))
		}),
		"empty": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			switch v := a[0].(type) {
			case nil:
				return true, nil
			case string:
				return v == "", nil
			case []any:
				return len(v) == 0, nil
			case map[string]any:
				return len(v) == 0, nil
			}
			return false, nil
		}),
		"contains": f(2, 2, func(c *evalCtx, a []any) (any, error) {
			switch v := a[0].(type) {
			case string:
				return strings.Contains(strings.ToLower(v), strings.ToLower(toString(a[1]))), nil
			case []any:
				for _, x := range v {
					if equalValues(x, a[1]) {
						return true, nil
					}
				}
				return false, nil
			case map[string]any:
				_, ok := prop(v, toString(a[1]))
				return ok, nil
			}
			return nil, errf("The template function 'contains' takes a string, an array or an object, not %s.", kindOf(a[0]))
		}),
		"union": f(1, -1, func(c *evalCtx, a []any) (any, error) {
			switch a[0].(type) {
			case map[string]any:
				out := map[string]any{}
				for _, x := range a {
					m, ok := x.(map[string]any)
					if !ok {
						return nil, errf("The template function 'union' takes objects or arrays, not a mix (%s).", kindOf(x))
					}
					for k, v := range m {
						out[k] = v
					}
				}
				return out, nil
			case []any:
				out := []any{}
				seen := map[string]bool{} // each value's equalValues key
				for _, x := range a {
					arr, ok := x.([]any)
					if !ok {
						return nil, errf("The template function 'union' takes objects or arrays, not a mix (%s).", kindOf(x))
					}
					for _, v := range arr {
						var k string
						if sv, ok := v.(string); ok {
							k = "s" + strings.ToLower(sv)
						} else {
							j, _ := json.Marshal(v)
							k = "j" + string(j)
						}
						if !seen[k] {
							seen[k] = true
							out = append(out, v)
						}
					}
				}
				return out, nil
			}
			return nil, errf("The template function 'union' takes objects or arrays, not %s.", kindOf(a[0]))
		}),
		"createarray": f(0, -1, func(c *evalCtx, a []any) (any, error) { return append([]any{}, a...), nil }),
		"array": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			if arr, ok := a[0].([]any); ok {
				return arr, nil
			}
			return []any{a[0]}, nil
		}),
		"createobject": f(0, -1, func(c *evalCtx, a []any) (any, error) {
			if len(a)%2 != 0 {
				return nil, errf("The template function 'createObject' takes pairs of a name and a value, not %d arguments.", len(a))
			}
			out := map[string]any{}
			for i := 0; i < len(a); i += 2 {
				k, err := str(a[i], "createObject")
				if err != nil {
					return nil, err
				}
				out[k] = a[i+1]
			}
			return out, nil
		}),
		"split": f(2, 2, func(c *evalCtx, a []any) (any, error) {
			s, err := str(a[0], "split")
			if err != nil {
				return nil, err
			}
			var seps []string
			switch d := a[1].(type) {
			case string:
				seps = []string{d}
			case []any:
				seps = strs(d)
			default:
				return nil, errf("The template function 'split' takes a string or an array of delimiters, not %s.", kindOf(a[1]))
			}
			parts := []string{s}
			for _, sep := range seps {
				if sep == "" {
					continue
				}
				if err := c.spend(int64(len(s))); err != nil {
					return nil, err
				}
				var next []string
				for _, p := range parts {
					next = append(next, strings.Split(p, sep)...)
				}
				parts = next
			}
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		}),
		"replace": f(3, 3, func(c *evalCtx, a []any) (any, error) {
			s, old, new := toString(a[0]), toString(a[1]), toString(a[2])
			if n := strings.Count(s, old); int64(len(s))+int64(n)*int64(len(new)-len(old)) > maxValue {
				return nil, tooLong("replace")
			}
			return strings.ReplaceAll(s, old, new), nil
		}),
		"substring": f(2, 3, func(c *evalCtx, a []any) (any, error) {
			s := []rune(toString(a[0]))
			start, ok := a[1].(int64)
			if !ok || start < 0 || start > int64(len(s)) {
				return nil, errf("The template function 'substring': the start index %v is out of the string's %d characters.", a[1], len(s))
			}
			n := int64(len(s)) - start
			if len(a) == 3 {
				l, ok := a[2].(int64)
				if !ok || l < 0 || l > int64(len(s))-start {
					return nil, errf("The template function 'substring': the length %v runs past the string's %d characters.", a[2], len(s))
				}
				n = l
			}
			return string(s[start : start+n]), nil
		}),
		"startswith": f(2, 2, func(c *evalCtx, a []any) (any, error) {
			return strings.HasPrefix(strings.ToLower(toString(a[0])), strings.ToLower(toString(a[1]))), nil
		}),
		"endswith": f(2, 2, func(c *evalCtx, a []any) (any, error) {
			return strings.HasSuffix(strings.ToLower(toString(a[0])), strings.ToLower(toString(a[1]))), nil
		}),
		"indexof": f(2, 2, func(c *evalCtx, a []any) (any, error) {
			return int64(strings.Index(strings.ToLower(toString(a[0])), strings.ToLower(toString(a[1])))), nil
		}),
		"first": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			switch v := a[0].(type) {
			case string:
				if v == "" {
					return "", nil
				}
				return string([]rune(v)[0]), nil
			case []any:
				if len(v) == 0 {
					return nil, nil
				}
				return v[0], nil
			}
			return nil, errf("The template function 'first' takes a string or an array, not %s.", kindOf(a[0]))
		}),
		"last": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			switch v := a[0].(type) {
			case string:
				if v == "" {
					return "", nil
				}
				r := []rune(v)
				return string(r[len(r)-1]), nil
			case []any:
				if len(v) == 0 {
					return nil, nil
				}
				return v[len(v)-1], nil
			}
			return nil, errf("The template function 'last' takes a string or an array, not %s.", kindOf(a[0]))
		}),
		"take": f(2, 2, func(c *evalCtx, a []any) (any, error) {
			n, _ := a[1].(int64)
			switch v := a[0].(type) {
			case string:
				r := []rune(v)
				return string(r[:clamp(n, len(r))]), nil
			case []any:
				return v[:clamp(n, len(v))], nil
			}
			return nil, errf("The template function 'take' takes a string or an array, not %s.", kindOf(a[0]))
		}),
		"skip": f(2, 2, func(c *evalCtx, a []any) (any, error) {
			n, _ := a[1].(int64)
			switch v := a[0].(type) {
			case string:
				r := []rune(v)
				return string(r[clamp(n, len(r)):]), nil
			case []any:
				return v[clamp(n, len(v)):], nil
			}
			return nil, errf("The template function 'skip' takes a string or an array, not %s.", kindOf(a[0]))
		}),
		"coalesce": f(1, -1, func(c *evalCtx, a []any) (any, error) {
			for _, x := range a {
				if x != nil {
					return x, nil
				}
			}
			return nil, nil
		}),
		"base64": f(1, 1, func(c *evalCtx, a []any) (any, error) {
			return base64.StdEncoding.EncodeToString([]byte(toString(a[0]))), nil
		}),
		"padleft": f(2, 3, func(c *evalCtx, a []any) (any, error) {
			s := toString(a[0])
			n, _ := a[1].(int64)
			pad := " "
			if len(a) == 3 {
				pad = toString(a[2])
			}
			if have := int64(utf8.RuneCountInString(s)); n > have && pad != "" {
				if n > maxValue {
					return nil, tooLong("padLeft")
				}
				s = strings.Repeat(pad[:1], int(n-have)) + s
			}
			return s, nil
		}),
		"add": arith(func(x, y int64) (int64, error) { return x + y, nil }),
		"sub": arith(func(x, y int64) (int64, error) { return x - y, nil }),
		"mul": arith(func(x, y int64) (int64, error) { return x * y, nil }),
		"div": arith(func(x, y int64) (int64, error) {
			if y == 0 {
				return 0, errf("The template function 'div' cannot divide by zero.")
			}
			return x / y, nil
		}),
		"mod": arith(func(x, y int64) (int64, error) {
			if y == 0 {
				return 0, errf("The template function 'mod' cannot divide by zero.")
			}
			return x % y, nil
		}),
		"less":            compare(func(c int) bool { return c < 0 }),
		"lessorequals":    compare(func(c int) bool { return c <= 0 }),
		"greater":         compare(func(c int) bool { return c > 0 }),
		"greaterorequals": compare(func(c int) bool { return c >= 0 }),
		"copyindex": f(0, 2, func(c *evalCtx, a []any) (any, error) {
			loop, offset := c.copyLoop, int64(0)
			for _, x := range a {
				switch v := x.(type) {
				case string:
					loop = v
				case int64:
					offset = v
				default:
					return nil, errf("The template function 'copyIndex' takes a loop name and an offset, not %s.", kindOf(x))
				}
			}
			i, ok := c.copyIndex[strings.ToLower(loop)]
			if !ok {
				if loop == "" {
					return nil, errf("The template function 'copyIndex' is not expected at this location: it is valid only in a resource, property or variable with a copy loop.")
				}
				return nil, errf("The template function 'copyIndex' names the copy loop '%s', which is not in scope here.", loop)
			}
			return i + offset, nil
		}),
	}
}

// runtimeValue stands for what only the deployment knows (reference,
// listKeys) while a template is validated: any property of it is itself.
type runtimeValue struct{}

func arith(op func(x, y int64) (int64, error)) function {
	return function{min: 2, max: 2, fn: func(c *evalCtx, a []any) (any, error) {
		x, ok1 := a[0].(int64)
		y, ok2 := a[1].(int64)
		if !ok1 || !ok2 {
			return nil, errf("arithmetic takes integers, not %s and %s", kindOf(a[0]), kindOf(a[1]))
		}
		return op(x, y)
	}}
}

func compare(ok func(int) bool) function {
	return function{min: 2, max: 2, fn: func(c *evalCtx, a []any) (any, error) {
		switch x := a[0].(type) {
		case int64:
			y, yes := a[1].(int64)
			if !yes {
				return nil, errf("a comparison takes two integers or two strings, not %s and %s", kindOf(a[0]), kindOf(a[1]))
			}
			switch {
			case x < y:
				return ok(-1), nil
			case x > y:
				return ok(1), nil
			}
			return ok(0), nil
		case string:
			y, yes := a[1].(string)
			if !yes {
				return nil, errf("a comparison takes two integers or two strings, not %s and %s", kindOf(a[0]), kindOf(a[1]))
			}
			return ok(strings.Compare(x, y)), nil
		}
		return nil, errf("a comparison takes two integers or two strings, not %s", kindOf(a[0]))
	}}
}

func clamp(n int64, l int) int {
	if n < 0 {
		return 0
	}
	if n > int64(l) {
		return l
	}
	return int(n)
}

func str(v any, fn string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errf("The template function '%s' takes a string here, not %s.", fn, kindOf(v))
	}
	return s, nil
}

func strs(a []any) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = toString(x)
	}
	return out
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case runtimeValue:
		return "(runtime)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func toBool(v any, fn string) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case runtimeValue:
		return true, nil
	case string:
		if b, err := strconv.ParseBool(strings.ToLower(x)); err == nil {
			return b, nil
		}
	}
	return false, errf("The template function '%s' takes booleans, not %s.", fn, kindOf(v))
}

func equalValues(a, b any) bool {
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return strings.EqualFold(sa, sb)
		}
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func lookupFold(m map[string]any, k string) (any, bool) { return prop(m, k) }

// dotnetFormat is .NET's String.Format as ARM's format() uses it: {0},
// {1:D3}, "{{" and "}}".
func dotnetFormat(s string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '{' {
			if i+1 < len(s) && s[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errf("The format string '%s' has a '{' that is not closed.", s)
			}
			spec := s[i+1 : i+end]
			i += end
			idx, fmtSpec, _ := strings.Cut(spec, ":")
			n, err := strconv.Atoi(strings.TrimSpace(idx))
			if err != nil || n < 0 || n >= len(args) {
				return "", errf("The format string '%s' names the argument {%s}, but %d arguments follow it.", s, spec, len(args))
			}
			v := args[n]
			if iv, ok := v.(int64); ok && len(fmtSpec) > 1 && (fmtSpec[0] == 'D' || fmtSpec[0] == 'd') {
				w, _ := strconv.Atoi(fmtSpec[1:])
				b.WriteString(fmt.Sprintf("%0*d", w, iv))
				if b.Len() > maxValue {
					return "", tooLong("format")
				}
				continue
			}
			b.WriteString(toString(v))
			if b.Len() > maxValue {
				return "", tooLong("format")
			}
			continue
		}
		if c == '}' && i+1 < len(s) && s[i+1] == '}' {
			i++
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// uniqueString is a 13-character base-32 hash of its arguments, stable for
// the same arguments (ARM's is deterministic the same way).
func uniqueString(a []string) string {
	sum := sha256.Sum256([]byte(strings.Join(a, "-")))
	v := binary.BigEndian.Uint64(sum[:8])
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	out := make([]byte, 13)
	for i := range out {
		out[i] = alphabet[v>>59]
		v <<= 5
	}
	return string(out)
}

// guidOf is a name-based (version 5) GUID of its arguments.
func guidOf(a []string) string {
	ns := []byte{0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x91, 0x01, 0xf5, 0x79, 0x4a, 0x8a, 0x5e, 0x14}
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte(strings.Join(a, "-")))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// formatTime formats t with a .NET format string's common parts.
func formatTime(t time.Time, layout string) string {
	switch layout {
	case "u":
		return t.Format("2006-01-02 15:04:05Z")
	case "d":
		return t.Format("1/2/2006")
	case "o", "O":
		return t.Format("2006-01-02T15:04:05.0000000Z")
	}
	r := strings.NewReplacer("yyyy", "2006", "yy", "06", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05")
	return t.Format(r.Replace(layout))
}

// decodeJSON decodes b with integers as int64 (as expressions see them).
func decodeJSON(b []byte) (any, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

// normalize turns json.Numbers into int64 (float64 when not integral).
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return x
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
		return x
	}
	return v
}
