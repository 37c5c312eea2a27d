package snapshot_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayers enforces the engine's import rules (a depguard stand-in):
// blob knows nothing of chunk or snapshot, chunk nothing of snapshot, and
// the engine nothing of the layers above it.
func TestLayers(t *testing.T) {
	const mod = "github.com/safehold/safehold/"
	allowed := map[string][]string{
		"blob":     {"blob"},
		"chunk":    {"blob", "chunk"},
		"snapshot": {"blob", "chunk", "snapshot"},
	}
	for dir, ok := range allowed {
		err := filepath.WalkDir(filepath.Join("..", dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(p, mod) {
					continue
				}
				top := strings.SplitN(strings.TrimPrefix(p, mod), "/", 2)[0]
				good := false
				for _, a := range ok {
					good = good || top == a
				}
				if !good {
					t.Errorf("%s imports %s: %s may only import %v", path, p, dir, ok)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
