package layers_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/layers"
)

type pkgInfo struct {
	dir     string
	files   []string
	imports []string
}

// modulePackages lists the module's packages (go list -deps), each with its
// directory, non-test Go files and the module packages it imports.
func modulePackages(t *testing.T) map[string]pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f",
		"{{if not .Standard}}{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \",\"}}\t{{join .Imports \",\"}}{{end}}",
		layers.Module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkgInfo{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 || !strings.HasPrefix(f[0], layers.Module+"/") {
			continue
		}
		p := pkgInfo{dir: f[1]}
		if f[2] != "" {
			p.files = strings.Split(f[2], ",")
		}
		for _, imp := range strings.Split(f[3], ",") {
			if rel, ok := strings.CutPrefix(imp, layers.Module+"/"); ok {
				p.imports = append(p.imports, rel)
			}
		}
		pkgs[strings.TrimPrefix(f[0], layers.Module+"/")] = p
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages of the module", len(pkgs))
	}
	return pkgs
}

// The module's import graph keeps the layer rules.
func TestModuleKeepsLayers(t *testing.T) {
	graph := map[string][]string{}
	for name, p := range modulePackages(t) {
		graph[name] = p.imports
	}
	for _, v := range layers.Check(graph, layers.Rules) {
		t.Error(v)
	}
}

// Below the faces, arm is used for resource ids only (and for the caller
// and the correlation id in identity, rbac and ops).
func TestDomainUsesARMForIDsOnly(t *testing.T) {
	n, callers := 0, 0
	for name, p := range modulePackages(t) {
		allowed := map[string]bool(nil)
		for _, d := range layers.DomainPackages {
			if layers.Match(d, name) {
				allowed = layers.AllowedARM
			}
		}
		for _, c := range layers.CallerPackages {
			if layers.Match(c, name) {
				allowed = layers.AllowedARMCaller
				callers++
			}
		}
		if allowed == nil {
			continue
		}
		for _, f := range p.files {
			bad, err := layers.CheckARMUse(filepath.Join(p.dir, f), nil, allowed)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bad {
				t.Error(b)
			}
			n++
		}
	}
	if n < 20 || callers != len(layers.CallerPackages) {
		t.Fatalf("checked only %d files (%d of the %d caller packages)", n, callers, len(layers.CallerPackages))
	}
}

// The check fails when a rule is broken: on a synthetic graph.
func TestCheckFailsWhenARuleIsBroken(t *testing.T) {
	rules := layers.Rules
	for _, c := range []struct {
		name  string
		graph map[string][]string
		want  []string // substrings of the violations, in order; none means clean
	}{
		{"the stack as it must be", map[string][]string{
			"blob": nil, "blob/local": {"blob"}, "chunk": {"blob"}, "snapshot": {"chunk", "blob"}, "volume": nil,
			"compute": {"volume", "snapshot", "arm", "failure"}, "protection": {"job", "snapshot", "store"},
			"rp/dataprotection": {"protection", "compute", "arm"}, "server": {"rp/dataprotection", "arm"},
		}, nil},
		{"blob imports chunk", map[string][]string{"blob": {"chunk"}}, []string{"blob imports chunk"}},
		{"chunk imports snapshot", map[string][]string{"chunk": {"blob", "snapshot"}}, []string{"chunk imports snapshot"}},
		{"volume imports snapshot", map[string][]string{"volume": {"snapshot"}}, []string{"volume imports snapshot"}},
		{"compute imports a face", map[string][]string{"compute": {"rp/compute"}}, []string{"compute imports rp/compute"}},
		{"protection imports compute", map[string][]string{"protection": {"compute"}}, []string{"protection imports compute"}},
		{"a face imports the storage layers", map[string][]string{"rp/dataprotection": {"snapshot", "job"}},
			[]string{"rp/dataprotection imports job", "rp/dataprotection imports snapshot"}},
		{"a face imports server", map[string][]string{"rp/compute": {"server"}}, []string{"rp/compute imports server"}},
		{"a package without a rule", map[string][]string{"util": nil}, []string{"util: no layer rule"}},
	} {
		got := layers.Check(c.graph, rules)
		if len(got) != len(c.want) {
			t.Fatalf("%s: violations %q, want %d", c.name, got, len(c.want))
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Fatalf("%s: violation %q, want one about %q", c.name, got[i], w)
			}
		}
	}
}

// The arm check fails on a wire error below the faces, also under another
// import name, and passes resource ids.
func TestARMCheckFailsOnWireErrors(t *testing.T) {
	for _, c := range []struct {
		src  string
		want int
	}{
		{`package compute
import "github.com/safehold/safehold/arm"
func f(id string) error { _, err := arm.ParseID(id); var r arm.ResourceID; _ = r; return err }`, 0},
		{`package compute
import "github.com/safehold/safehold/arm"
func f() error { return arm.BadRequest("InvalidParameter", "no") }`, 1},
		{`package compute
import wire "github.com/safehold/safehold/arm"
func f() (*wire.Response, error) { return wire.OK(nil), nil }`, 2},
		{`package compute
import "errors"
func f() error { return errors.New("arm.BadRequest") }`, 0},
		{`package compute
import "github.com/safehold/safehold/arm"
func f(c arm.Caller) string { return c.ObjectID }`, 1},
	} {
		got, err := layers.CheckARMUse("x.go", c.src, layers.AllowedARM)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.want {
			t.Fatalf("%d violations %q, want %d in\n%s", len(got), got, c.want, c.src)
		}
	}
	// identity and rbac may name the caller, never a wire error.
	for _, c := range []struct {
		src  string
		want int
	}{
		{`package rbac
import "github.com/safehold/safehold/arm"
func f(c arm.Caller) string { return c.ObjectID }`, 0},
		{`package rbac
import ("net/http"; "github.com/safehold/safehold/arm")
func f() error { return arm.Errorf(http.StatusForbidden, "AuthorizationFailed", "no") }`, 1},
	} {
		got, err := layers.CheckARMUse("x.go", c.src, layers.AllowedARMCaller)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.want {
			t.Fatalf("%d violations %q, want %d in\n%s", len(got), got, c.want, c.src)
		}
	}
}
