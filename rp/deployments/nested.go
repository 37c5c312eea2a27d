package deployments

import (
	"strings"
)

// Nested deployments: a template resource of type
// Microsoft.Resources/deployments (what Bicep makes of a module) is
// deployed as any other, by a PUT through the router as the caller: it is
// a deployment of its own, in its own resource group (the resource's
// resourceGroup and subscriptionId properties, else the parent's), with
// its own operations and outputs, which reference() reads. Its template
// is inline (properties.template). With expressionEvaluationOptions scope
// inner the template is sent as written, its parameters given by
// properties.parameters (evaluated in the parent); with scope outer (the
// default) its expressions are the parent's: it is sent with the parent's
// parameters and variables.

// nestedDeployment reads nested deployment res (m as written at path) and
// places it: its resource group, its scope.
func (t *template) nestedDeployment(c *evalCtx, m map[string]any, res *tres, path string) error {
	res.nested = true
	pv, _ := prop(m, "properties")
	pm, ok := pv.(map[string]any)
	if !ok {
		return invalid(path+".properties", "A nested deployment needs properties: its mode and its template (inline, in properties.template).")
	}
	for _, k := range []string{"templateLink", "parametersLink"} {
		if v, ok := prop(pm, k); ok && v != nil {
			return invalid(path+".properties."+k, "A nested deployment's %s (at a URL or a relative path) is not supported: Safehold fetches no remote templates. Put the template inline in properties.template and its parameters in properties.parameters (Bicep modules compile so).", k)
		}
	}
	if mv, _ := prop(pm, "mode"); mv != nil {
		if ms, _ := mv.(string); strings.EqualFold(ms, "Complete") {
			return invalid(path+".properties.mode", "Only the root template deploys in Complete mode: a nested deployment's mode must be 'Incremental'.")
		}
	}
	if tv, _ := prop(pm, "template"); tv == nil {
		return invalid(path+".properties.template", "A nested deployment needs its template inline in properties.template.")
	} else if _, ok := tv.(map[string]any); !ok {
		return invalid(path+".properties.template", "A nested deployment's properties.template must be a template (a JSON object).")
	}
	if eo, ok := prop(pm, "expressionEvaluationOptions"); ok && eo != nil {
		em, _ := eo.(map[string]any)
		sv, _ := prop(em, "scope")
		s, _ := sv.(string)
		switch strings.ToLower(s) {
		case "inner":
			res.inner = true
		case "outer", "notspecified", "":
		default:
			return invalid(path+".properties.expressionEvaluationOptions.scope", "The expression evaluation scope '%s' is not valid: use 'inner' or 'outer'.", s)
		}
	}
	if !res.inner {
		if v, ok := prop(pm, "parameters"); ok && v != nil {
			if pp, _ := v.(map[string]any); len(pp) > 0 {
				return invalid(path+".properties.parameters", "A nested deployment whose expressions are evaluated in the outer scope uses the parent's parameters and takes none of its own: set properties.expressionEvaluationOptions.scope to 'inner' to give it parameters.")
			}
		}
	}
	if res.scope != "" {
		return invalid(path+".scope", "A nested deployment is placed by its resourceGroup and subscriptionId properties, not by scope.")
	}
	sub, group := t.sub, t.group
	for _, k := range []string{"subscriptionId", "resourceGroup"} {
		v, ok := prop(m, k)
		if !ok || v == nil {
			continue
		}
		ev, err := c.evalTree(v, path+"."+k)
		if err != nil {
			return err
		}
		s, ok := ev.(string)
		if !ok || s == "" {
			return invalid(path+"."+k, "A nested deployment's %s must be a non-empty string.", k)
		}
		if k == "subscriptionId" {
			sub = s
		} else {
			group = s
		}
	}
	if _, ok := prop(m, "resourceGroup"); !ok && !strings.EqualFold(sub, t.sub) {
		return invalid(path+".subscriptionId", "A nested deployment at the scope of subscription '%s' (no resourceGroup) is not supported: Safehold serves deployments to resource groups. Give the nested deployment a resourceGroup.", sub)
	}
	res.scope = "/subscriptions/" + sub + "/resourceGroups/" + group
	return nil
}

// nestedProperties is nested deployment r's properties (p as written) as
// its PUT sends them.
func (t *template) nestedProperties(c *evalCtx, r *tres, p map[string]any) (map[string]any, error) {
	out := map[string]any{}
	var tmpl map[string]any
	for k, v := range p {
		switch strings.ToLower(k) {
		case "template":
			tmpl = v.(map[string]any)
			continue
		case "expressionevaluationoptions":
			out[k] = v
			continue
		}
		ev, err := c.evalTree(v, r.path+".properties."+k)
		if err != nil {
			return nil, err
		}
		out[k] = ev
	}
	if r.inner {
		out["template"] = tmpl
		return out, nil
	}
	// Outer: the template's expressions are the parent's. It is sent with
	// the parent's parameters (their values as bound) and variables: their
	// values given in one secureObject parameter (outerVariables), each
	// variable reading its own, so that a value made from a secure
	// parameter is as hidden as the parameter (the nested deployment's
	// exported template and parameters show neither), and no value is read
	// as an expression again.
	nt := make(map[string]any, len(tmpl)+2)
	for k, v := range tmpl {
		nt[k] = v
	}
	defs := map[string]any{}
	given := map[string]any{}
	for _, n := range t.paramNames {
		typ, _ := t.paramDefs[n]["type"].(string)
		defs[n] = map[string]any{"type": typ}
		given[n] = map[string]any{"value": t.params[n]}
	}
	vars, values := map[string]any{}, map[string]any{}
	for k := range t.varDefs {
		names := []string{k}
		if strings.EqualFold(k, "copy") {
			names = names[:0]
			if loops, ok := t.varDefs[k].([]any); ok && isPropertyCopy(loops) {
				for _, l := range loops {
					n, _ := l.(map[string]any)["name"].(string)
					names = append(names, n)
				}
			}
		}
		for _, n := range names {
			v, err := c.variable(n)
			if err != nil {
				return nil, at("variables."+n, err)
			}
			values[n] = v
			vars[n] = "[parameters('" + outerVariables + "')['" + strings.ReplaceAll(n, "'", "''") + "']]"
		}
	}
	if len(values) > 0 {
		defs[outerVariables] = map[string]any{"type": "secureObject"}
		given[outerVariables] = map[string]any{"value": values}
	}
	nt["parameters"], nt["variables"] = defs, vars
	out["template"], out["parameters"] = nt, given
	return out, nil
}

// outerVariables is the parameter by which a nested deployment in the
// outer scope is given its parent's variables' values.
const outerVariables = "safeholdOuterVariables"

// ownExprs is what of resource r's expressions are evaluated in its
// template: all but an inner nested deployment's template.
func ownExprs(r *tres) any {
	if !r.inner {
		return r.raw
	}
	m := make(map[string]any, len(r.raw))
	for k, v := range r.raw {
		m[k] = v
	}
	p, _ := prop(r.raw, "properties")
	pm, _ := p.(map[string]any)
	q := make(map[string]any, len(pm))
	for k, v := range pm {
		if !strings.EqualFold(k, "template") {
			q[k] = v
		}
	}
	m["properties"] = q
	return m
}
