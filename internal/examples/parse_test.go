package examples_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// sdkModule is one SDK module whose example files the suite replays.
type sdkModule struct {
	Path  string   // module path
	Pkg   string   // package name
	NS    string   // the namespace reported in the totals
	Files []string // example files; nil means every *_example_test.go
	Dir   string   // module cache directory (go list -m)
}

var modules = []*sdkModule{
	{Path: "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3", Pkg: "armdataprotection", NS: "Microsoft.DataProtection"},
	{Path: "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4", Pkg: "armrecoveryservicesbackup", NS: "Microsoft.RecoveryServices (backup)"},
	{Path: "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices", Pkg: "armrecoveryservices", NS: "Microsoft.RecoveryServices (vaults)"},
	{Path: "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6", Pkg: "armcompute", NS: "Microsoft.Compute (disks, snapshots)",
		Files: []string{"disks_client_example_test.go", "snapshots_client_example_test.go"}},
}

// example is one Example function of an SDK example file.
type example struct {
	Mod      *sdkModule
	Func     string // ExampleBackupVaultsClient_Get
	ID       string // unique Go identifier in the generated program
	URL      string // the example definition in azure-rest-api-specs
	Client   string // BackupVaultsClient
	Method   string // BeginCreateOrUpdate
	Args     map[string]string
	Body     string // the function body, rewritten for the harness
	WantLHS  string // res.BackupVaultResource or page.BackupVaultResourceList
	WantExpr string // the documented response (a Go literal)
	// WantStatus is the status the example documents (0 when it does not
	// say): the harness follows a 202 where it documents 200.
	WantStatus int
	Source     string // the function's original text
	Out        string // out-of-scope reason ("" when in scope)
	Phase      int    // 1 create, 2 read, 3 act, 4 act on a reached quota, 5 operation results, 6 delete, 7 name checks (see phase)
	Depth      int    // number of path arguments (creates run shallow first)

	compileErr string // the compiler's message when the example's code does not build
}

// Name is the example's short name: the spec example file.
func (x *example) Name() string {
	if i := strings.Index(x.URL, "/examples/"); i >= 0 {
		return x.Mod.Pkg + ":" + x.URL[i+len("/examples/"):]
	}
	return x.Mod.Pkg + ":" + x.Func
}

// moduleDirs fills each module's Dir from the module cache.
func moduleDirs(repo string) error {
	for _, m := range modules {
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", m.Path)
		cmd.Dir = repo
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("go list -m %s: %v", m.Path, err)
		}
		m.Dir = strings.TrimSpace(string(out))
		if m.Dir == "" {
			return fmt.Errorf("module %s is not in the module cache (go mod download)", m.Path)
		}
	}
	return nil
}

// methodParams maps "Client.Method" to the names of its parameters after ctx.
func methodParams(m *sdkModule) (map[string][]string, error) {
	files, _ := filepath.Glob(filepath.Join(m.Dir, "*_client.go"))
	if _, err := os.Stat(filepath.Join(m.Dir, "client.go")); err == nil {
		files = append(files, filepath.Join(m.Dir, "client.go")) // the namespace's own Client
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || !fd.Name.IsExported() {
				continue
			}
			star, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			recv, ok := star.X.(*ast.Ident)
			if !ok {
				continue
			}
			var names []string
			for _, p := range fd.Type.Params.List {
				for _, n := range p.Names {
					names = append(names, n.Name)
				}
			}
			if len(names) > 0 && names[0] == "ctx" {
				names = names[1:]
			}
			out[recv.Name+"."+fd.Name.Name] = names
		}
	}
	return out, nil
}

var (
	reGenerated = regexp.MustCompile(`Generated from example definition: (\S+)`)
	reWantStart = regexp.MustCompile(`^\s*// ((?:res|page)\.[A-Za-z0-9_]+) = (.*)$`)
	reSubID     = regexp.MustCompile(`(?i)([/"])subscriptions/[^/"]+`)
	reStatus    = regexp.MustCompile(`If the HTTP response code is (\d+) as defined`)
)

// parseExamples reads the module's example functions.
func parseExamples(m *sdkModule) ([]*example, error) {
	params, err := methodParams(m)
	if err != nil {
		return nil, err
	}
	files := m.Files
	if files == nil {
		all, _ := filepath.Glob(filepath.Join(m.Dir, "*_example_test.go"))
		for _, f := range all {
			files = append(files, filepath.Base(f))
		}
	}
	var out []*example
	for _, name := range files {
		path := filepath.Join(m.Dir, name)
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		fset := token.NewFileSet()
		af, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || !strings.HasPrefix(fd.Name.Name, "Example") || fd.Body == nil {
				continue
			}
			x := &example{Mod: m, Func: fd.Name.Name, Args: map[string]string{}}
			x.ID = m.Pkg + "_" + strings.TrimPrefix(fd.Name.Name, "Example")
			x.Source = string(src[fset.Position(fd.Pos()).Offset:fset.Position(fd.End()).Offset])
			if fd.Doc != nil {
				if mm := reGenerated.FindStringSubmatch(fd.Doc.Text()); mm != nil {
					x.URL = mm[1]
				}
			}
			if err := x.rewrite(fset, src, fd, params); err != nil {
				return nil, fmt.Errorf("%s: %v", x.Func, err)
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// rewrite turns the example's body into a harness function body: the
// credential, context and client factory come from the harness, every
// string argument of the call goes through h.arg (so prerequisites can
// name the real recovery point, job or operation), subscription ids in
// request bodies become the server's, log.Fatalf returns the error, and
// the response (or every page) is handed to the harness.
func (x *example) rewrite(fset *token.FileSet, src []byte, fd *ast.FuncDecl, params map[string][]string) error {
	base := fset.Position(fd.Body.Lbrace).Offset + 1
	end := fset.Position(fd.Body.Rbrace).Offset
	body := src[base:end]
	type edit struct {
		from, to int
		text     string
	}
	var edits []edit
	// The documented response: the comment lines "// res.X = pkg.T{ ... }".
	lines := strings.Split(string(body), "\n")
	if mm := reStatus.FindStringSubmatch(string(body)); mm != nil {
		x.WantStatus, _ = strconv.Atoi(mm[1])
	}
	for i := 0; i < len(lines); i++ {
		mm := reWantStart.FindStringSubmatch(lines[i])
		if mm == nil {
			continue
		}
		x.WantLHS = mm[1]
		expr := []string{mm[2]}
		for j := i + 1; j < len(lines); j++ {
			l := strings.TrimSpace(lines[j])
			if !strings.HasPrefix(l, "//") {
				break
			}
			expr = append(expr, strings.TrimPrefix(strings.TrimPrefix(l, "//"), " "))
		}
		x.WantExpr = strings.Join(expr, "\n")
		break
	}
	// The call on the client: clientFactory.NewXClient().Method(ctx, args...).
	var found bool
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || found {
			return !found
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		inner, ok := sel.X.(*ast.CallExpr)
		if !ok {
			return true
		}
		isel, ok := inner.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasPrefix(isel.Sel.Name, "New") || !strings.HasSuffix(isel.Sel.Name, "Client") {
			return true
		}
		if id, ok := isel.X.(*ast.Ident); !ok || id.Name != "clientFactory" {
			return true
		}
		found = true
		x.Client = strings.TrimPrefix(isel.Sel.Name, "New")
		x.Method = sel.Sel.Name
		names := params[x.Client+"."+x.Method]
		args := call.Args
		if len(args) > 0 {
			if id, ok := args[0].(*ast.Ident); ok && id.Name == "ctx" {
				args = args[1:] // pagers take no ctx
			}
		}
		for i, a := range args {
			lit, ok := a.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || i >= len(names) {
				continue
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				continue
			}
			pn := names[i]
			x.Args[pn] = v
			x.Depth++
			edits = append(edits, edit{fset.Position(lit.Pos()).Offset - base, fset.Position(lit.End()).Offset - base,
				fmt.Sprintf("h.arg(%q, %s)", pn, lit.Value)})
		}
		return false
	})
	if !found {
		return fmt.Errorf("no client call found")
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].from > edits[j].from })
	b := append([]byte(nil), body...)
	for _, e := range edits {
		b = append(b[:e.from:e.from], append([]byte(e.text), b[e.to:]...)...)
	}
	s := string(b)
	// Drop comments (the documented response is kept in WantExpr).
	var kept []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "//") {
			continue
		}
		kept = append(kept, l)
	}
	s = strings.Join(kept, "\n")
	repl := []struct{ from, to string }{
		{"cred, err := azidentity.NewDefaultAzureCredential(nil)", "cred, err := h.cred, error(nil)"},
		{"ctx := context.Background()", "ctx := h.ctx"},
		{`NewClientFactory("<subscription-id>", cred, nil)`, "NewClientFactory(h.sub, cred, h.opts)"},
		{"log.Fatalf(", "return fmt.Errorf("},
		{"PollUntilDone(ctx, nil)", "PollUntilDone(ctx, h.poll)"},
	}
	for _, r := range repl {
		s = strings.ReplaceAll(s, r.from, r.to)
	}
	if x.WantLHS != "" && strings.HasPrefix(x.WantLHS, "res.") {
		s = strings.Replace(s, "_ = res", "h.got = "+x.WantLHS, 1)
	} else {
		s = strings.Replace(s, "_ = res", "h.got = res", 1)
	}
	if strings.HasPrefix(x.WantLHS, "page.") {
		s = strings.Replace(s, "for _, v := range page.Value {", "h.addPage("+x.WantLHS+")\n\t\tfor _, v := range page.Value {", 1)
	} else {
		s = strings.Replace(s, "for _, v := range page.Value {", "h.addPage(page)\n\t\tfor _, v := range page.Value {", 1)
	}
	// Subscription ids inside request bodies name the server's subscription.
	s = reSubID.ReplaceAllString(s, `${1}subscriptions/" + h.sub + "`)
	x.Body = s + "\n\treturn nil\n"
	return nil
}

// generate writes the harness program: one function per example, a table,
// and main (harness_main.go.txt next to this file is the fixed part).
func generate(dir string, xs []*example, mainSrc string) error {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/examples at test time from the Azure SDK's example files. DO NOT EDIT.\n\npackage main\n\nimport (\n")
	b.WriteString("\t\"fmt\"\n\t\"time\"\n\t\"github.com/Azure/azure-sdk-for-go/sdk/azcore/to\"\n")
	for _, m := range modules {
		fmt.Fprintf(&b, "\t%q\n", m.Path)
	}
	b.WriteString(")\n\nvar _ = fmt.Errorf\nvar _ = time.Now\nvar _ = to.Ptr[int]\n")
	for _, m := range modules {
		fmt.Fprintf(&b, "var _ = %s.NewClientFactory\n", m.Pkg)
	}
	for _, x := range xs {
		fmt.Fprintf(&b, "\nfunc %s(h *H) error {\n%s}\n", x.ID, x.Body)
		if x.WantExpr != "" {
			fmt.Fprintf(&b, "\nfunc want_%s() any {\n\treturn %s\n}\n", x.ID, x.WantExpr)
		}
	}
	b.WriteString("\nvar examples = map[string]example{\n")
	for _, x := range xs {
		w := "nil"
		if x.WantExpr != "" {
			w = "want_" + x.ID
		}
		fmt.Fprintf(&b, "\t%q: {%s, %s, %d},\n", x.ID, x.ID, w, x.WantStatus)
	}
	b.WriteString("}\n")
	if err := os.WriteFile(filepath.Join(dir, "examples.go"), b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "main.go"), []byte(mainSrc), 0o644)
}
