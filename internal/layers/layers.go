// Package layers writes down which of Safehold's packages may import which,
// and checks an import graph against those rules. Its test runs the check
// over the module (go list -deps), so `go test ./...` and .ci/run fail when
// a lower layer imports a higher one. ARCHITECTURE.md draws the same map.
package layers

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
	"strings"
)

// Module is the module path; rules name packages relative to it.
const Module = "github.com/safehold/safehold"

// A Rule lists what the packages matching Pkg may import from the module.
// A pattern is a package path relative to the module ("snapshot"), or a
// folder and everything below it ("rp/..."); "..." alone is any package.
// Anything of the module not listed is forbidden; packages outside the
// module (the standard library, SDKs) are not checked.
type Rule struct {
	Pkg string
	May []string
	Why string
}

// Rules, from the bottom of the stack to the top. Every package of the
// module must match one (the first that matches applies).
var Rules = []Rule{
	{"clock", nil, "the only reader of the wall clock; imports nothing"},
	{"failure", nil, "the domain's error vocabulary; imports nothing"},
	{"fault", nil, "fault-injection rules (admin API); imports nothing"},
	{"version", nil, "the build's version"},
	{"store", []string{"clock", "internal/datafile"}, "metadata behind one contract"},
	{"store/storetest", []string{"store", "clock", "internal/testsvc"}, "the store contract's suite and the real stores tests open (PostgreSQL started by internal/testsvc)"},
	{"store/...", []string{"store", "clock", "internal/datafile"}, "store implementations and their shared suite"},
	{"blob", nil, "blob imports nothing above it"},
	{"blob/...", []string{"blob", "internal/directio", "internal/datafile"}, "backends implement blob.Backend, nothing more (the local backend's device waits through internal/directio)"},
	{"chunk", []string{"blob", "internal/datafile"}, "chunk -> blob"},
	{"snapshot", []string{"chunk", "blob", "sparse", "internal/directio"}, "snapshot -> chunk, blob"},
	{"internal/datafile", nil, "the data files' and directories' modes (the owner's only); imports nothing"},
	{"internal/directio", nil, "aligned O_DIRECT reads and writes (capture sources, the restore writer) and the system calls that wait on the device; imports nothing"},
	{"sparse", nil, "where a sparse file's data is (SEEK_DATA/SEEK_HOLE); imports nothing"},
	{"volume", []string{"sparse", "internal/directio", "internal/datafile"}, "volume imports nothing above it (compute adapts between volume and snapshot)"},
	{"nbd", []string{"volume"}, "the NBD export serves volumes"},
	{"nbd/nbdtest", nil, "a minimal NBD client for tests; imports nothing"},
	{"job", []string{"clock", "store"}, "durable jobs in the store"},
	{"lease", []string{"clock", "store"}, "named leases in the store: the leader, disk owners, the GC gate"},
	{"metrics", []string{"blob", "store", "clock"}, "Prometheus figures; decorators of blob.Backend and store.Store"},
	{"protection", []string{"job", "lease", "snapshot", "store", "clock", "failure", "fault"},
		"protection -> job, snapshot, store and its own interfaces (compute implements them; protection never imports compute or a face)"},
	{"protection/computedisks", []string{"protection", "compute", "snapshot", "failure"},
		"compute as the engine's disk layer: implements protection.Disks over compute.Service (glue for the composition root and engine tests)"},
	{"accountblob", []string{"sparse", "resource", "store", "clock", "failure", "arm", "internal/datafile"},
		"the blobs of Safehold's storage accounts (containers, block and page blobs in sparse files); arm for resource ids only"},
	{"compute", []string{"volume", "snapshot", "nbd", "blob", "blob/local", "resource", "lease", "store", "clock", "failure", "arm", "accountblob"},
		"compute -> volume, snapshot and the shared resource documents; arm for resource ids only (see DomainPackages)"},

	// The ARM layer: wire types, and the platform every face is built on.
	{"arm", []string{"failure"}, "ARM's wire: ids, routing, CloudError (arm.As writes a *failure.Error as one)"},
	{"ops", []string{"arm", "clock", "failure", "job", "store"}, "ARM asynchronous operations: records and runs, no wire (arm for the caller, correlation and ids only, see CallerPackages)"},
	{"arm/armops", []string{"arm", "ops"}, "the wire of ops: CloudErrors of failed operations, status resources, Location results"},
	{"arm/blobwire", nil, "the Azure Storage blob wire both blob data planes share (the disk SAS, storage accounts): XML errors, ranges, page writes, downloads"},
	{"identity", []string{"arm", "clock", "failure", "store"}, "tokens and principals (Unauthenticated failures; arm for the caller and ids only, see CallerPackages)"},
	{"rbac", []string{"arm", "clock", "failure", "store"}, "role checks (Forbidden failures; arm for the caller and ids only, see CallerPackages)"},
	{"resource", []string{"arm", "clock", "failure", "identity", "job", "lease", "ops", "store", "blob"},
		"what every provider shares: the Platform, resource documents, cascading deletes; arm for resource ids only; blob for the Platform's OpenBlob hook (--blob)"},

	// The faces: routes, wire models, validation, translation.
	{"rp/vaultface", []string{"protection", "compute", "arm", "failure", "resource", "ops", "store", "clock"},
		"what the two vault faces serve alike (resource guard proxies, the provider they are built on): a library of the faces, imported by them, importing none"},
	{"rp/...", []string{"protection", "compute", "accountblob", "arm", "arm/armops", "arm/blobwire", "failure", "fault", "resource", "ops", "identity", "rbac", "store", "clock", "rp/vaultface"},
		"faces -> protection, compute's domain, arm (and the platform) and rp/vaultface (what the vault faces share); never the storage layers, job or another face"},

	{"server", []string{"rp/...", "accountblob", "arm", "arm/armops", "arm/blobwire", "connect", "failure", "fault", "resource", "ops", "identity", "rbac", "compute", "protection", "protection/computedisks", "job", "lease",
		"snapshot", "store", "blob", "blob/...", "clock", "metrics", "version", "web", "internal/logtext", "internal/datafile"},
		"server -> faces; it also assembles what the faces run on (the composition root)"},
	{"web", nil, "the dashboard's static files"},
	{"connect", nil, "client side of connection.json"},
	{"cmd/...", []string{"..."}, "the binaries assemble everything"},
	{"bench/...", []string{"..."}, "benchmark tools"},
	{"internal/testserver", []string{"server", "connect", "clock", "internal/testsvc"}, "test support: a real server in a test"},
	{"internal/logtext", nil, "slog's text format with a fast path for flat records (the access log); imports nothing"},
	{"internal/testsvc", nil, "test support: PostgreSQL, Azurite and S3 servers for tests (started by .ci/services.sh or on demand)"},
	{"internal/fixture", []string{"internal/testserver"}, "test support: protected disks and VMs through the SDK"},
	{"clients", nil, "tests only: Safehold driven by the az CLI and the JavaScript SDK"},
	{"internal/examples", nil, "tests only: Azure's published examples replayed through the SDK (a conformance suite)"},
	{"internal/layers", nil, "this check"},
}

// DomainPackages are the packages below the ARM layer: they may use arm for
// resource ids only (AllowedARM), never for wire errors or requests.
var DomainPackages = []string{"accountblob", "compute", "protection", "resource", "snapshot", "chunk", "blob", "blob/...",
	"volume", "sparse", "nbd", "job", "lease", "store", "store/...", "clock", "failure", "fault", "metrics", "version"}

// AllowedARM are the names of package arm a domain package may use.
var AllowedARM = map[string]bool{"ResourceID": true, "ParseID": true, "NewID": true, "EqualIDs": true}

// CallerPackages are the packages of the ARM layer that know who is asking
// but speak no wire: they return *failure.Error (identity Unauthenticated,
// rbac Forbidden, ops NotFound) and leave status codes and CloudError bodies
// to the faces, arm/armops and the server. They may use arm for resource
// ids, the caller and the request's correlation id (AllowedARMCaller).
var CallerPackages = []string{"identity", "rbac", "ops"}

// AllowedARMCaller are the names of package arm a CallerPackages package may use.
var AllowedARMCaller = map[string]bool{"ResourceID": true, "ParseID": true, "NewID": true, "EqualIDs": true,
	"Caller": true, "CorrelationID": true, "WithCorrelationID": true}

// Match reports whether a package path (relative to the module) matches pattern.
func Match(pattern, pkg string) bool {
	switch {
	case pattern == "...":
		return true
	case strings.HasSuffix(pattern, "/..."):
		return strings.HasPrefix(pkg, strings.TrimSuffix(pattern, "..."))
	}
	return pattern == pkg
}

// Check checks graph (each module package, relative to the module, with the
// module packages it imports) against rules, and returns one line per
// violation, sorted; none means the graph keeps the rules.
func Check(graph map[string][]string, rules []Rule) []string {
	var out []string
	for pkg, imports := range graph {
		var rule *Rule
		for i := range rules {
			if Match(rules[i].Pkg, pkg) {
				rule = &rules[i]
				break
			}
		}
		if rule == nil {
			out = append(out, fmt.Sprintf("%s: no layer rule names it; add one to internal/layers (and ARCHITECTURE.md)", pkg))
			continue
		}
		for _, imp := range imports {
			ok := false
			for _, m := range rule.May {
				if Match(m, imp) {
					ok = true
					break
				}
			}
			if ok {
				continue
			}
			out = append(out, fmt.Sprintf("%s imports %s: not allowed (%s may import %s: %s)", pkg, imp, rule.Pkg, orNothing(rule.May), rule.Why))
		}
	}
	sort.Strings(out)
	return out
}

func orNothing(may []string) string {
	if len(may) == 0 {
		return "nothing of the module"
	}
	return strings.Join(may, ", ")
}

// CheckARMUse parses one Go source file and returns a line for each use of
// package arm (imported from the module) beyond the names in allowed.
func CheckARMUse(filename string, src any, allowed map[string]bool) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	name := ""
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		if path != Module+"/arm" {
			continue
		}
		name = "arm"
		if im.Name != nil {
			name = im.Name.Name
		}
	}
	if name == "" {
		return nil, nil
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == name && !allowed[sel.Sel.Name] {
			out = append(out, fmt.Sprintf("%s: uses arm.%s; below the faces arm is for resource ids only (return a *failure.Error instead of a wire error)", fset.Position(sel.Pos()), sel.Sel.Name))
		}
		return true
	})
	return out, nil
}
