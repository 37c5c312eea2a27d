package deployments

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestExpressions evaluates expressions as ARM does, in a template bound
// to a group (resourceId's optional scope arguments, format's widths and
// braces, string's JSON of arrays, a property of reference() while a
// template is validated, which only the deployment knows).
func TestExpressions(t *testing.T) {
	tm := &template{sub: "s1", group: "g1", location: "westus", params: map[string]any{"n": int64(7)}, varDefs: map[string]any{"v": "[concat('a', 'b')]"}}
	c := tm.ctx()
	for expr, want := range map[string]string{
		"[resourceId('Microsoft.Compute/disks', 'd1')]":                            `"/subscriptions/s1/resourceGroups/g1/providers/Microsoft.Compute/disks/d1"`,
		"[resourceId('g2', 'Microsoft.Compute/disks', 'd1')]":                      `"/subscriptions/s1/resourceGroups/g2/providers/Microsoft.Compute/disks/d1"`,
		"[resourceId('s2', 'g2', 'Microsoft.A/b/c', 'x', 'y')]":                    `"/subscriptions/s2/resourceGroups/g2/providers/Microsoft.A/b/x/c/y"`,
		"[resourceId('Microsoft.A/b/c', 'x/y')]":                                   `"/subscriptions/s1/resourceGroups/g1/providers/Microsoft.A/b/x/c/y"`,
		"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r')]": `"/subscriptions/s1/providers/Microsoft.Authorization/roleDefinitions/r"`,
		"[format('{0}-{1:D3}-{{x}}', 'a', parameters('n'))]":                       `"a-007-{x}"`,
		"[string(createArray(1, 'two'))]":                                          `"[1,\"two\"]"`,
		"[variables('v')]":                                                         `"ab"`,
		"[reference('elsewhere').some.deep[0]]":                                    `{}`,
		"[if(true(), 'a', parameters('missing'))]":                                 `"a"`,
		"[contains(createObject('Key', 1), 'key')]":                                `true`,
		"[length(uniqueString('a', 'b'))]":                                         `13`,
		"[equals(guid('a'), guid('a'))]":                                           `true`,
		"[toUpper(resourceGroup().name)]":                                          `"G1"`,
		"[[literal]":                                                               `"[literal]"`,
	} {
		v, err := c.evalTree(expr, "x")
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		b, _ := json.Marshal(v)
		if string(b) != want {
			t.Errorf("%s = %s, want %s", expr, b, want)
		}
	}
	for expr, want := range map[string]string{
		"[nosuch(1)]":              "The template function 'nosuch' is not valid",
		"[concat('a']":             "not closed",
		"[parameters('zz')]":       "'zz' is not found",
		"[utcNow()]":               "only valid in the default value of a parameter",
		"[copyIndex()]":            "copy loop",
		"[substring('abc', 2, 5)]": "runs past",
	} {
		_, err := c.evalTree(expr, "here")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "'here'") {
			t.Errorf("%s: %v, want an error saying %q at 'here'", expr, err, want)
		}
	}
}

// TestTemplateValidatesWithReferences: a template whose condition and
// copy count are plain, and whose resources read each other with
// reference(), compiles (the references are known when deployed) and
// depends on what it references.
func TestTemplateValidatesWithReferences(t *testing.T) {
	raw := map[string]any{"resources": []any{
		map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "a"},
		map[string]any{"type": "Microsoft.Compute/snapshots", "apiVersion": "2023-04-02", "name": "b",
			"condition":  "[not(empty(string(reference('a').diskState)))]",
			"properties": map[string]any{"x": "[reference('a').diskSizeGB]"}},
	}}
	tm, err := compile(raw, nil, "s", "g", "westus", "t", "d", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.resources) != 2 || len(tm.resources[1].deps) != 1 || tm.resources[1].deps[0] != 0 {
		t.Fatalf("b's dependencies: %+v", tm.resources[1].deps)
	}
}

// TestLenientJSON: the body az sends (a template file with comments
// after a bare "template:" key) reads as JSON.
func TestLenientJSON(t *testing.T) {
	in := `{"properties": {"mode": "Incremental"}, template:{
  // a comment
  "a": "http://x//y", /* another */ "b": [true, null]}}`
	var v map[string]any
	if err := json.Unmarshal(lenientJSON([]byte(in)), &v); err != nil {
		t.Fatalf("%v: %s", err, lenientJSON([]byte(in)))
	}
	if b, _ := json.Marshal(v["template"]); string(b) != `{"a":"http://x//y","b":[true,null]}` {
		t.Fatalf("template: %s", b)
	}
}
