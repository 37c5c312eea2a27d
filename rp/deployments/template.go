package deployments

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// template is a deployment's template bound to its parameters and scope,
// its resources expanded (copy loops, nested children) in order.
type template struct {
	sub, group, location, tenant string
	contentVersion, hash         string
	raw                          map[string]any
	paramDefs                    map[string]map[string]any
	paramNames                   []string
	params                       map[string]any
	secure                       map[string]bool
	varDefs                      map[string]any
	resources                    []*tres
	outputs                      map[string]any
	deployName                   string
	now                          time.Time
	work                         atomic.Int64 // what its expressions made (see maxWork)
	keepFalse                    bool         // Complete mode keeps false conditions' resources (keepsFalseConditions)
}

// tres is one resource (one instance of a copy loop) of a template.
type tres struct {
	path       string         // JSON path in the template ("resources[1].resources[0]")
	raw        map[string]any // the resource as written
	loops      map[string]int64
	loop       string // its own copy loop ("" none)
	copyName   string
	typ, name  string
	apiVersion string
	scope      string
	id         string
	deps       []int
	condition  bool
	// nested: a nested deployment (Microsoft.Resources/deployments) with
	// an inline template, inner when its template's expressions are its
	// own (expressionEvaluationOptions scope inner), else the parent's.
	nested, inner bool
	// del: not the template's, a deletion of Complete mode.
	del bool
}

// templateKeys are the template-only properties of a resource: not sent in
// its PUT.
var bodyKeys = []string{"location", "tags", "sku", "kind", "identity", "properties", "zones", "plan", "extendedLocation", "managedBy", "etag"}

func (t *template) groupID() string { return "/subscriptions/" + t.sub + "/resourceGroups/" + t.group }

// invalid is a template error at path.
func invalid(path, format string, args ...any) error {
	return &templateError{path: path, msg: fmt.Sprintf(format, args...)}
}

func at(path string, err error) error {
	if te, ok := err.(*templateError); ok && te.path == "" {
		return &templateError{path: path, msg: te.msg}
	}
	return err
}

// compile reads a template and its parameters.
func compile(raw map[string]any, given map[string]any, sub, group, location, tenant, name string, now time.Time) (*template, error) {
	normalize(raw) // a template read back from the store has float64 numbers
	normalize(given)
	t := &template{sub: sub, group: group, location: location, tenant: tenant, raw: raw, deployName: name, now: now,
		params: map[string]any{}, secure: map[string]bool{}, paramDefs: map[string]map[string]any{}}
	b, _ := json.Marshal(raw)
	sum := sha256.Sum256(b)
	t.hash = new(big10).of(sum[:8])
	if lv, ok := raw["languageVersion"]; ok {
		return nil, invalid("languageVersion", "The template's languageVersion '%v' (symbolic resource names) is not supported: write the template's resources as an array (languageVersion omitted).", lv)
	}
	t.contentVersion, _ = raw["contentVersion"].(string)
	// Every expression is parsed first: an unknown function or a syntax
	// error is named with where it is before anything is evaluated.
	for _, k := range []string{"parameters", "variables", "resources", "outputs", "functions"} {
		if k == "functions" {
			if fs, ok := raw[k].([]any); ok && len(fs) > 0 {
				return nil, invalid("functions", "User-defined template functions are not supported: write the expression where it is used.")
			}
			continue
		}
		if err := checkExprs(raw[k], k); err != nil {
			return nil, err
		}
	}
	if pd, ok := raw["parameters"]; ok && pd != nil {
		m, ok := pd.(map[string]any)
		if !ok {
			return nil, invalid("parameters", "The template's parameters must be an object.")
		}
		if len(m) > maxParameters {
			return nil, invalid("parameters", "The template has %d parameters: ARM's limit is %d. Combine some into an object parameter.", len(m), maxParameters)
		}
		for n, d := range m {
			dm, ok := d.(map[string]any)
			if !ok {
				return nil, invalid("parameters."+n, "The template parameter '%s' must be an object with a type.", n)
			}
			t.paramDefs[n] = dm
			t.paramNames = append(t.paramNames, n)
		}
		sort.Strings(t.paramNames)
	}
	var unknown []string
	for n := range given {
		if _, ok := lookupParamDef(t.paramDefs, n); !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, invalid("", "The template parameters '%s' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '%s'.", strings.Join(unknown, ", "), strings.Join(t.paramNames, ", "))
	}
	if vd, ok := raw["variables"]; ok && vd != nil {
		m, ok := vd.(map[string]any)
		if !ok {
			return nil, invalid("variables", "The template's variables must be an object.")
		}
		if len(m) > maxVariables {
			return nil, invalid("variables", "The template has %d variables: ARM's limit is %d. Combine some into an object variable.", len(m), maxVariables)
		}
		t.varDefs = m
	}
	// Parameters: given values, else defaults (evaluated, in order of
	// need: a default may use another parameter).
	c := t.ctx()
	c.paramDefs = true
	for _, n := range t.paramNames {
		if err := t.bindParam(c, n, given, map[string]bool{}); err != nil {
			return nil, err
		}
	}
	rs, ok := raw["resources"]
	if !ok || rs == nil {
		rs = []any{}
	}
	list, ok := rs.([]any)
	if !ok {
		return nil, invalid("resources", "The template's resources must be an array.")
	}
	for i, r := range list {
		if err := t.expand(r, fmt.Sprintf("resources[%d]", i), nil, map[string]int64{}, ""); err != nil {
			return nil, err
		}
	}
	if err := t.dependencies(); err != nil {
		return nil, err
	}
	if o, ok := raw["outputs"].(map[string]any); ok {
		if len(o) > maxOutputs {
			return nil, invalid("outputs", "The template has %d outputs: ARM's limit is %d. Combine some into an object output.", len(o), maxOutputs)
		}
		t.outputs = o
	}
	return t, nil
}

func lookupParamDef(defs map[string]map[string]any, n string) (map[string]any, bool) {
	if d, ok := defs[n]; ok {
		return d, true
	}
	for k, d := range defs {
		if strings.EqualFold(k, n) {
			return d, true
		}
	}
	return nil, false
}

// big10 writes a hash as ARM's templateHash: decimal digits.
type big10 struct{}

func (big10) of(b []byte) string {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return strconv.FormatUint(v, 10)
}

func (t *template) ctx() *evalCtx {
	return &evalCtx{t: t, params: t.params, vars: map[string]any{}, varBusy: map[string]bool{}, copyIndex: map[string]int64{}, now: t.now, deployName: t.deployName}
}

// bindParam sets parameter n from given or its default, checking its type
// and constraints.
func (t *template) bindParam(c *evalCtx, n string, given map[string]any, busy map[string]bool) error {
	if _, ok := t.params[n]; ok {
		return nil
	}
	def := t.paramDefs[n]
	path := "parameters." + n
	typ, _ := def["type"].(string)
	lt := strings.ToLower(typ)
	switch lt {
	case "string", "securestring", "int", "bool", "object", "secureobject", "array":
	default:
		return invalid(path, "The template parameter '%s' has the type '%s', which is not valid: use string, securestring, int, bool, object, secureobject or array.", n, typ)
	}
	t.secure[n] = strings.HasPrefix(lt, "secure")
	var v any
	var have bool
	for k, gv := range given {
		if strings.EqualFold(k, n) {
			gm, ok := gv.(map[string]any)
			if !ok {
				return invalid("", "The value of the deployment parameter '%s' must be an object with a 'value' (as {\"%s\": {\"value\": ...}}).", n, n)
			}
			if _, ref := gm["reference"]; ref {
				return invalid("", "The deployment parameter '%s' is a Key Vault reference, which is not supported: pass its value.", n)
			}
			v, have = gm["value"]
			if !have {
				return invalid("", "The value of the deployment parameter '%s' must be an object with a 'value'.", n)
			}
		}
	}
	if !have {
		d, ok := def["defaultValue"]
		if !ok {
			return invalid(path, "The value for the template parameter '%s' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details.", n)
		}
		if busy[n] {
			return invalid(path, "The default value of the template parameter '%s' refers to itself.", n)
		}
		busy[n] = true
		// A default may use other parameters: bind those first.
		var err error
		c.params = t.params
		var needs []string
		walkStrings(d, func(s string) {
			if e, ok := isExpr(s); ok {
				if nd, err := parseExpr(e); err == nil {
					walk(nd, func(x node) {
						if cl, ok := x.(call); ok && cl.name == "parameters" && len(cl.args) == 1 {
							if sl, ok := cl.args[0].(strLit); ok {
								needs = append(needs, sl.v)
							}
						}
					})
				}
			}
		})
		for _, other := range needs {
			on := other
			for k := range t.paramDefs {
				if strings.EqualFold(k, other) {
					on = k
				}
			}
			if _, ok := t.paramDefs[on]; ok {
				if err := t.bindParam(c, on, given, busy); err != nil {
					return err
				}
			}
		}
		v, err = c.evalTree(d, path+".defaultValue")
		if err != nil {
			return err
		}
	}
	v, err := coerce(n, lt, v)
	if err != nil {
		return err
	}
	if av, ok := def["allowedValues"].([]any); ok {
		found := false
		for _, a := range av {
			if equalValues(a, v) {
				found = true
			}
		}
		if !found {
			if t.secure[n] { // its value is answered nowhere
				return invalid(path, "The provided value for the template parameter '%s' is not valid. The parameter value is not part of the allowed value(s).", n)
			}
			return invalid(path, "The provided value '%s' for the template parameter '%s' is not valid. The parameter value is not part of the allowed value(s): '%s'.", toString(v), n, strings.Join(strs(av), ","))
		}
	}
	if iv, ok := v.(int64); ok {
		if mn, ok := def["minValue"].(int64); ok && iv < mn {
			return invalid(path, "The provided value '%d' for the template parameter '%s' is not valid. The value is less than the minimum value of %d.", iv, n, mn)
		}
		if mx, ok := def["maxValue"].(int64); ok && iv > mx {
			return invalid(path, "The provided value '%d' for the template parameter '%s' is not valid. The value is greater than the maximum value of %d.", iv, n, mx)
		}
	}
	var l int64 = -1
	switch x := v.(type) {
	case string:
		l = int64(len([]rune(x)))
	case []any:
		l = int64(len(x))
	}
	if l >= 0 {
		if mn, ok := def["minLength"].(int64); ok && l < mn {
			return invalid(path, "The provided value for the template parameter '%s' is not valid. Length of the value should be greater than or equal to '%d'.", n, mn)
		}
		if mx, ok := def["maxLength"].(int64); ok && l > mx {
			return invalid(path, "The provided value for the template parameter '%s' is not valid. Length of the value should be less than or equal to '%d'.", n, mx)
		}
	}
	t.params[n] = v
	return nil
}

// coerce checks v against a parameter's type (lenient as ARM is with a
// number or boolean written as a string).
func coerce(n, lt string, v any) (any, error) {
	bad := func() error {
		return invalid("parameters."+n, "Template parameter JToken type is not valid for the parameter '%s': expected '%s', got %s.", n, lt, kindOf(v))
	}
	switch lt {
	case "string", "securestring":
		if s, ok := v.(string); ok {
			return s, nil
		}
		if _, ok := v.(runtimeValue); ok {
			return v, nil
		}
		return nil, bad()
	case "int":
		switch x := v.(type) {
		case int64:
			return x, nil
		case string:
			if i, err := strconv.ParseInt(x, 10, 64); err == nil {
				return i, nil
			}
		}
		return nil, bad()
	case "bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(strings.ToLower(x)); err == nil {
				return b, nil
			}
		}
		return nil, bad()
	case "object", "secureobject":
		if _, ok := v.(map[string]any); ok {
			return v, nil
		}
		return nil, bad()
	case "array":
		if _, ok := v.([]any); ok {
			return v, nil
		}
		return nil, bad()
	}
	return v, nil
}

// variable evaluates variable n (once; a cycle is an error).
func (c *evalCtx) variable(n string) (any, error) {
	key := n
	raw, ok := c.t.varDefs[n]
	if !ok {
		for k, v := range c.t.varDefs {
			if strings.EqualFold(k, n) {
				key, raw, ok = k, v, true
			}
		}
	}
	if !ok {
		// A variable copy loop: "copy": [{name, count, input}] makes the
		// variable of each loop's name.
		if loops, isList := c.t.varDefs["copy"].([]any); isList && isPropertyCopy(loops) && !strings.EqualFold(n, "copy") {
			for _, l := range loops {
				if ln, _ := l.(map[string]any)["name"].(string); strings.EqualFold(ln, n) {
					if v, ok := c.vars[ln]; ok {
						return v, nil
					}
					if c.varBusy[ln] {
						return nil, errf("The template variable '%s' refers to itself (a circular reference).", n)
					}
					c.varBusy[ln] = true
					defer delete(c.varBusy, ln)
					saved, savedLoop := c.copyIndex, c.copyLoop
					c.copyIndex, c.copyLoop = map[string]int64{}, ""
					out := map[string]any{}
					err := c.propertyCopy([]any{l}, "variables.copy", out)
					c.copyIndex, c.copyLoop = saved, savedLoop
					if err != nil {
						return nil, err
					}
					c.vars[ln] = out[ln]
					return out[ln], nil
				}
			}
		}
		return nil, errf("The template variable '%s' is not found. Please see https://aka.ms/arm-template/#variables for usage details.", n)
	}
	if v, ok := c.vars[key]; ok {
		return v, nil
	}
	if c.varBusy[key] {
		return nil, errf("The template variable '%s' refers to itself (a circular reference).", n)
	}
	c.varBusy[key] = true
	defer delete(c.varBusy, key)
	// Variables are evaluated outside any resource's copy loop.
	saved, savedLoop := c.copyIndex, c.copyLoop
	c.copyIndex, c.copyLoop = map[string]int64{}, ""
	v, err := c.evalTree(raw, "variables."+key)
	c.copyIndex, c.copyLoop = saved, savedLoop
	if err != nil {
		return nil, err
	}
	c.vars[key] = v
	return v, nil
}

// evalTree evaluates every expression of a JSON value, with property copy
// loops ("copy": [{name, count, input}]) expanded.
func (c *evalCtx) evalTree(v any, path string) (any, error) {
	switch x := v.(type) {
	case string:
		e, ok := isExpr(x)
		if !ok {
			return literal(x), nil
		}
		n, err := parseExpr(e)
		if err != nil {
			return nil, at(path, err)
		}
		r, err := c.eval(n)
		if err != nil {
			return nil, at(path, err)
		}
		return r, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			r, err := c.evalTree(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if strings.EqualFold(k, "copy") {
				if loops, ok := e.([]any); ok && isPropertyCopy(loops) {
					if err := c.propertyCopy(loops, path+".copy", out); err != nil {
						return nil, err
					}
					continue
				}
			}
			r, err := c.evalTree(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func isPropertyCopy(loops []any) bool {
	for _, l := range loops {
		m, ok := l.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m["input"]; !ok {
			return false
		}
	}
	return len(loops) > 0
}

// propertyCopy sets out[name] to the array each loop builds.
func (c *evalCtx) propertyCopy(loops []any, path string, out map[string]any) error {
	for i, l := range loops {
		m := l.(map[string]any)
		p := fmt.Sprintf("%s[%d]", path, i)
		name, _ := m["name"].(string)
		if name == "" {
			return invalid(p, "A property copy loop needs a name: the property it makes.")
		}
		cnt, err := c.evalTree(m["count"], p+".count")
		if err != nil {
			return err
		}
		n, ok := cnt.(int64)
		if !ok || n < 0 || n > 800 {
			return invalid(p+".count", "The copy count of '%s' must be an integer from 0 to 800, not %s.", name, toString(cnt))
		}
		arr := make([]any, 0, n)
		savedLoop := c.copyLoop
		for j := int64(0); j < n; j++ {
			c.copyIndex[strings.ToLower(name)] = j
			c.copyLoop = name
			v, err := c.evalTree(m["input"], p+".input")
			if err != nil {
				return err
			}
			arr = append(arr, v)
		}
		if err := c.account("copy", arr); err != nil {
			return at(p, err)
		}
		delete(c.copyIndex, strings.ToLower(name))
		c.copyLoop = savedLoop
		out[name] = arr
	}
	return nil
}

// walkStrings calls fn on every string in v.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

// checkExprs parses every expression under v, naming the first that is
// not valid and where it is.
func checkExprs(v any, path string) error {
	switch x := v.(type) {
	case string:
		if e, ok := isExpr(x); ok {
			if _, err := parseExpr(e); err != nil {
				return at(path, err)
			}
		}
	case []any:
		for i, e := range x {
			if err := checkExprs(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		keys := keysOf(x)
		for _, k := range keys {
			if err := checkExprs(x[k], path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

// expand adds resource r (its copies, then its nested children) to t.
func (t *template) expand(r any, path string, parent *tres, loops map[string]int64, loopName string) error {
	m, ok := r.(map[string]any)
	if !ok {
		return invalid(path, "A template resource must be an object.")
	}
	count := int64(1)
	own := ""
	c := t.ctx()
	for k, v := range loops {
		c.copyIndex[k] = v
	}
	c.copyLoop = loopName
	if cp, ok := m["copy"]; ok {
		cm, ok := cp.(map[string]any)
		if !ok {
			return invalid(path+".copy", "A resource's copy must be an object with a name and a count.")
		}
		own, _ = cm["name"].(string)
		if own == "" {
			return invalid(path+".copy", "A resource's copy loop needs a name.")
		}
		cv, err := c.evalTree(cm["count"], path+".copy.count")
		if err != nil {
			return err
		}
		n, ok := cv.(int64)
		if !ok || n < 0 || n > 800 {
			return invalid(path+".copy.count", "The copy count of '%s' must be an integer from 0 to 800, not %s.", own, toString(cv))
		}
		count = n
	}
	for i := int64(0); i < count; i++ {
		lp := map[string]int64{}
		for k, v := range loops {
			lp[k] = v
		}
		cl := loopName
		if own != "" {
			lp[strings.ToLower(own)] = i
			cl = own
		}
		c.copyIndex, c.copyLoop = lp, cl
		if len(t.resources) >= maxResources {
			return invalid(path, "The template has more than %d resources, copies counted: ARM's limit is %d. Deploy the rest in another deployment.", maxResources, maxResources)
		}
		res := &tres{path: path, raw: m, loops: lp, loop: cl, copyName: own, condition: true}
		if own != "" {
			res.path = fmt.Sprintf("%s(copy %d)", path, i)
		}
		if cond, ok := m["condition"]; ok {
			cv, err := c.evalTree(cond, path+".condition")
			if err != nil {
				return err
			}
			b, err := toBool(cv, "condition")
			if err != nil {
				return at(path+".condition", err)
			}
			res.condition = b
		}
		get := func(k string) (string, error) {
			v, err := c.evalTree(m[k], path+"."+k)
			if err != nil {
				return "", err
			}
			s, ok := v.(string)
			if !ok || s == "" {
				return "", invalid(path+"."+k, "The template resource's '%s' must be a non-empty string.", k)
			}
			return s, nil
		}
		var err error
		if res.typ, err = get("type"); err != nil {
			return err
		}
		if res.name, err = get("name"); err != nil {
			return err
		}
		if res.apiVersion, err = get("apiVersion"); err != nil {
			return err
		}
		if parent != nil && !strings.Contains(res.typ, "/") {
			res.typ = parent.typ + "/" + res.typ
			res.name = parent.name + "/" + res.name
		} else if parent != nil && strings.Count(res.typ, "/") >= 1 && strings.Count(res.name, "/") == 0 {
			res.name = parent.name + "/" + res.name
		}
		if sc, ok := m["scope"]; ok {
			sv, err := c.evalTree(sc, path+".scope")
			if err != nil {
				return err
			}
			res.scope, _ = sv.(string)
		}
		if strings.EqualFold(res.typ, "Microsoft.Resources/deployments") {
			if err := t.nestedDeployment(c, m, res, path); err != nil {
				return err
			}
		}
		if res.id, err = t.resourceIDOf(res); err != nil {
			return at(path, err)
		}
		t.resources = append(t.resources, res)
		if kids, ok := m["resources"].([]any); ok {
			for j, k := range kids {
				if err := t.expand(k, fmt.Sprintf("%s.resources[%d]", path, j), res, lp, cl); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// resourceIDOf is the id a template resource is deployed at.
func (t *template) resourceIDOf(r *tres) (string, error) {
	types := strings.Split(r.typ, "/")
	names := strings.Split(r.name, "/")
	if len(types) < 2 || len(types)-1 != len(names) {
		return "", errf("The template resource '%s' for type '%s' has incorrect segment lengths. A nested resource type must have identical number of segments as its resource name. A root resource type must have segment length one greater than its resource name.", r.name, r.typ)
	}
	scope := t.groupID()
	if r.scope != "" {
		scope = strings.TrimRight(r.scope, "/")
		if !strings.HasPrefix(scope, "/") {
			// A scope written as a template resource's name.
			for _, o := range t.resources {
				if strings.EqualFold(o.name, scope) {
					scope = o.id
				}
			}
		}
	}
	return joinID(scope, r.typ, names)
}

func joinID(scope, typ string, names []string) (string, error) {
	types := strings.Split(typ, "/")
	if len(types)-1 != len(names) || len(types) < 2 {
		return "", errf("The resource type '%s' and names '%s' do not match: give one name for each type segment after the namespace.", typ, strings.Join(names, "/"))
	}
	var b strings.Builder
	b.WriteString(scope)
	b.WriteString("/providers/")
	b.WriteString(types[0])
	for i, n := range names {
		if n == "" {
			return "", errf("The resource name for type '%s' is empty.", typ)
		}
		b.WriteString("/" + types[i+1] + "/" + n)
	}
	return b.String(), nil
}

// resourceID is resourceId() (group scope) or subscriptionResourceId().
func (c *evalCtx) resourceID(a []any, inGroup bool) (any, error) {
	args := strs(a)
	ti := -1
	for i, s := range args {
		if strings.Contains(s, "/") && strings.Contains(strings.SplitN(s, "/", 2)[0], ".") {
			ti = i
			break
		}
	}
	if ti < 0 {
		return nil, errf("The template function 'resourceId' needs a resource type (such as 'Microsoft.Compute/disks') among its arguments.")
	}
	sub, group := c.t.sub, c.t.group
	pre := args[:ti]
	switch {
	case !inGroup && len(pre) == 1:
		sub = pre[0]
	case inGroup && len(pre) == 1:
		group = pre[0]
	case inGroup && len(pre) == 2:
		sub, group = pre[0], pre[1]
	case len(pre) > 0:
		return nil, errf("The template function 'resourceId' takes at most a subscription and a resource group before the type, not %d arguments.", len(pre))
	}
	scope := "/subscriptions/" + sub
	if inGroup {
		scope += "/resourceGroups/" + group
	}
	names := args[ti+1:]
	var flat []string
	for _, n := range names {
		flat = append(flat, strings.Split(n, "/")...)
	}
	id, err := joinID(scope, args[ti], flat)
	if err != nil {
		return nil, errf("Unable to evaluate template language function 'resourceId': %s", err.(*templateError).msg)
	}
	return id, nil
}

// resolveRef is the id a reference() or listKeys() argument names: an id,
// or the name (or type/name) of a resource of the template.
func (t *template) resolveRef(s string) string {
	if strings.HasPrefix(s, "/") {
		return s
	}
	if r := t.findByName(s); r != nil {
		return r.id
	}
	// "Microsoft.X/type/name" of a resource outside the template.
	parts := strings.Split(s, "/")
	if len(parts) >= 3 && len(parts)%2 == 1 {
		typ := []string{parts[0]}
		var names []string
		for i := 1; i < len(parts); i += 2 {
			typ = append(typ, parts[i])
			names = append(names, parts[i+1])
		}
		if id, err := joinID(t.groupID(), strings.Join(typ, "/"), names); err == nil {
			return id
		}
	}
	return s
}

// findByName is the template's resource named s ("name", "parent/child",
// or "Microsoft.X/type/name"), nil if none or several.
func (t *template) findByName(s string) *tres {
	var found *tres
	n := 0
	for _, r := range t.resources {
		if strings.EqualFold(r.name, s) || strings.EqualFold(r.typ+"/"+r.name, s) || strings.EqualFold(r.id, s) {
			found = r
			n++
		}
	}
	if n == 1 {
		return found
	}
	// Type/name written as "Microsoft.X/a/b/n1/n2": the id's suffix.
	for _, r := range t.resources {
		typs := strings.Split(r.typ, "/")
		names := strings.Split(r.name, "/")
		alt := typs[0]
		for i, nm := range names {
			alt += "/" + typs[i+1] + "/" + nm
		}
		if strings.EqualFold(alt, s) {
			return r
		}
	}
	return nil
}

// dependencies resolves each resource's dependsOn (and the implicit ones:
// its parent in the template, what its reference() calls name) and
// refuses a cycle.
func (t *template) dependencies() error {
	index := map[*tres]int{}
	for i, r := range t.resources {
		index[r] = i
	}
	for i, r := range t.resources {
		deps := map[int]bool{}
		c := t.ctx()
		c.copyIndex, c.copyLoop = r.loops, r.loop
		if d, ok := r.raw["dependsOn"]; ok && d != nil {
			dv, err := c.evalTree(d, r.path+".dependsOn")
			if err != nil {
				return err
			}
			list, ok := dv.([]any)
			if !ok {
				return invalid(r.path+".dependsOn", "dependsOn must be an array of resource names or ids.")
			}
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return invalid(r.path+".dependsOn", "dependsOn must be an array of resource names or ids, not %s.", kindOf(e))
				}
				matched := false
				for j, o := range t.resources {
					if j == i {
						continue
					}
					if strings.EqualFold(o.copyName, s) || strings.EqualFold(o.id, s) || strings.EqualFold(o.name, s) ||
						strings.EqualFold(o.typ+"/"+o.name, s) || idSuffix(o, s) {
						deps[j] = true
						matched = true
					}
				}
				if !matched {
					return invalid(r.path+".dependsOn", "The resource '%s' is not defined in the template.", s)
				}
			}
		}
		// The parent of a child resource, when the template deploys it.
		if k := strings.LastIndexByte(r.name, '/'); k > 0 {
			pn, pt := r.name[:k], r.typ[:strings.LastIndexByte(r.typ, '/')]
			for j, o := range t.resources {
				if j != i && strings.EqualFold(o.name, pn) && strings.EqualFold(o.typ, pt) {
					deps[j] = true
				}
			}
		}
		// reference('x') and listKeys('x') of a resource of the template.
		var refErr error
		walkStrings(ownExprs(r), func(s string) {
			e, ok := isExpr(s)
			if !ok {
				return
			}
			nd, err := parseExpr(e)
			if err != nil {
				return
			}
			walk(nd, func(x node) {
				cl, ok := x.(call)
				if !ok || (cl.name != "reference" && cl.name != "listkeys") || len(cl.args) == 0 {
					return
				}
				v, err := c.eval(cl.args[0])
				if err != nil {
					return
				}
				if s, ok := v.(string); ok {
					for j, o := range t.resources {
						if j != i && (strings.EqualFold(o.id, s) || strings.EqualFold(o.name, s) || strings.EqualFold(o.typ+"/"+o.name, s) || idSuffix(o, s)) {
							deps[j] = true
						}
					}
				}
			})
		})
		if refErr != nil {
			return refErr
		}
		for j := range deps {
			r.deps = append(r.deps, j)
		}
		sort.Ints(r.deps)
	}
	// A cycle is the template's error, as ARM's.
	state := make([]int, len(t.resources))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return invalid(t.resources[i].path, "Circular dependency detected on resource: '%s'. Please see https://aka.ms/arm-template/#resources for usage details.", t.resources[i].id)
		case 2:
			return nil
		}
		state[i] = 1
		for _, j := range t.resources[i].deps {
			if err := visit(j); err != nil {
				return err
			}
		}
		state[i] = 2
		return nil
	}
	for i := range t.resources {
		if err := visit(i); err != nil {
			return err
		}
	}
	return nil
}

// idSuffix reports whether s is "Microsoft.X/a/b/n1/n2" written for o.
func idSuffix(o *tres, s string) bool {
	typs := strings.Split(o.typ, "/")
	names := strings.Split(o.name, "/")
	alt := typs[0]
	for i, nm := range names {
		if i+1 < len(typs) {
			alt += "/" + typs[i+1] + "/" + nm
		}
	}
	return strings.EqualFold(alt, s)
}

// body is the PUT body of resource r, its expressions evaluated in c.
func (t *template) body(c *evalCtx, r *tres) (map[string]any, error) {
	c.copyIndex, c.copyLoop = r.loops, r.loop
	out := map[string]any{}
	for _, k := range bodyKeys {
		v, ok := prop(r.raw, k)
		if !ok {
			continue
		}
		if r.nested && k == "properties" {
			p, err := t.nestedProperties(c, r, v.(map[string]any))
			if err != nil {
				return nil, err
			}
			out[k] = p
			continue
		}
		ev, err := c.evalTree(v, r.path+"."+k)
		if err != nil {
			return nil, err
		}
		out[k] = ev
	}
	return out, nil
}

// outputs evaluates the template's outputs.
func (t *template) evalOutputs(c *evalCtx) (map[string]any, error) {
	out := map[string]any{}
	for _, k := range keysOf(t.outputs) {
		o, ok := t.outputs[k].(map[string]any)
		if !ok {
			return nil, invalid("outputs."+k, "An output must be an object with a type and a value.")
		}
		typ, _ := o["type"].(string)
		if cond, ok := o["condition"]; ok {
			cv, err := c.evalTree(cond, "outputs."+k+".condition")
			if err != nil {
				return nil, err
			}
			if b, _ := toBool(cv, "condition"); !b {
				continue
			}
		}
		v, err := c.evalTree(o["value"], "outputs."+k+".value")
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(strings.ToLower(typ), "secure") {
			// A secure output's value is answered nowhere (as Azure's
			// deployment history keeps none): its type only.
			out[k] = map[string]any{"type": wireType(typ)}
			continue
		}
		out[k] = map[string]any{"type": wireType(typ), "value": v}
	}
	return out, nil
}

// wireType is a parameter or output type as ARM writes it back.
func wireType(t string) string {
	switch strings.ToLower(t) {
	case "string":
		return "String"
	case "securestring":
		return "SecureString"
	case "int":
		return "Int"
	case "bool":
		return "Bool"
	case "object":
		return "Object"
	case "secureobject":
		return "SecureObject"
	case "array":
		return "Array"
	}
	return t
}
