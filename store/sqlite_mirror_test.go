package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
)

// The in-memory lists answer exactly what SQLite answers, through random
// creates, puts (some changing a document's type or scope), deletes, scope
// deletes and failing Updates, committed in concurrent groups.
func TestSQLiteMirrorListsMatchSQLite(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	types := []string{"T/a", "t/B", "t/c"}
	scopes := []string{"/s/1/", "/S/1/rg/", "/s/2/", "/s/10/"}
	kinds := []string{"resource", "other"}
	queries := func(kind string) []ListQuery {
		var qs []ListQuery
		for _, typ := range append([]string{""}, types...) { // "": the whole kind
			qs = append(qs, ListQuery{Type: typ}, ListQuery{Type: typ, ScopePrefix: "/S/1/"}, ListQuery{Type: typ, ScopePrefix: "/s/1/rg/", Limit: 3},
				ListQuery{Type: typ, After: "K-3", Limit: 2}, ListQuery{Type: typ, ScopePrefix: "/s/2/", After: "k-1"})
		}
		return qs
	}
	compare := func(step int) {
		t.Helper()
		for _, kind := range kinds {
			for _, q := range queries(kind) {
				got, err := s.List(ctx, kind, q)
				if err != nil {
					t.Fatal(err)
				}
				want, err := sqliteReader{q: s.r}.List(ctx, kind, q)
				if err != nil {
					t.Fatal(err)
				}
				// ListView hands the same documents, from the mirror once
				// it is loaded (stable), and stops when told.
				var viewed []Doc
				stable := true
				if err := s.ListView(ctx, kind, q, func(d *Doc, st bool) bool {
					viewed = append(viewed, *d)
					stable = stable && st
					return len(viewed) < 2
				}); err != nil {
					t.Fatal(err)
				}
				if step > 0 && !stable {
					t.Fatalf("step %d: %s %+v: ListView not from the mirror", step, kind, q)
				}
				if len(got) == 0 && len(want) == 0 && len(viewed) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d: %s %+v:\n mirror %v\n sqlite %v", step, kind, q, got, want)
				}
				if n := min(len(want), 2); !reflect.DeepEqual(viewed, want[:n]) {
					t.Fatalf("step %d: %s %+v:\n ListView %v\n sqlite %v", step, kind, q, viewed, want[:n])
				}
			}
		}
	}
	// A list inside an Update's fn (on the writer goroutine) must not wait
	// for the mirror it starts loading.
	if err := s.Update(ctx, func(tx Tx) error {
		_, err := s.List(ctx, "resource", ListQuery{Type: types[0]})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, kind := range kinds {
		for _, typ := range append([]string{""}, types...) {
			if err := s.loadMirror(ctx, kind, typ); err != nil {
				t.Fatal(err)
			}
		}
	}
	errBoom := errors.New("boom")
	var fromMemory atomic.Int64                // transactions' lists the mirrors answered
	docTypes := append([]string{""}, types...) // some documents have no type
	r := rand.New(rand.NewPCG(1, 2))
	for step := range 60 {
		compare(step) // also loads the mirrors on the first step
		var wg sync.WaitGroup
		for w := range 8 {
			seed := r.Uint64()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				err := s.Update(ctx, func(tx Tx) error {
					for range 1 + r.IntN(4) {
						kind := kinds[r.IntN(len(kinds))]
						// The transaction lists what SQLite lists in it: its own
						// writes and those of the group's savepoints before it.
						stx := tx.(*sqliteTx)
						qs := queries(kind)
						q := qs[r.IntN(len(qs))]
						got, err := stx.List(ctx, kind, q)
						if err != nil {
							return err
						}
						want, err := stx.sqliteReader.List(ctx, kind, q)
						if err != nil {
							return err
						}
						if (len(got) > 0 || len(want) > 0) && !reflect.DeepEqual(got, want) {
							t.Errorf("step %d: in a transaction, %s %+v:\n List %v\n sqlite %v", step, kind, q, got, want)
						}
						anyGot, err := stx.AnyUnder(ctx, q.ScopePrefix, []string{kind, "none"})
						if err != nil {
							return err
						}
						if anyWant := len(stx.sqliteReader.mustList(t, kind, ListQuery{ScopePrefix: q.ScopePrefix})) > 0; anyGot != anyWant {
							t.Errorf("step %d: in a transaction, AnyUnder %s %q = %v, SQLite lists %v", step, kind, q.ScopePrefix, anyGot, anyWant)
						}
						if !stx.wroteKind(kind) {
							fromMemory.Add(1)
						}
						key := fmt.Sprintf("K-%d", r.IntN(12))
						d := Doc{Kind: kind, Key: key, Scope: scopes[r.IntN(len(scopes))], Type: docTypes[r.IntN(len(docTypes))], Value: fmt.Appendf(nil, `{"v":%d}`, r.IntN(1000))}
						switch r.IntN(10) {
						case 0, 1, 2, 3:
							if err := tx.Put(ctx, d); err != nil {
								return err
							}
						case 4, 5:
							if err := tx.Create(ctx, d); err != nil && !errors.Is(err, ErrConflict) {
								return err
							}
						case 6, 7:
							if err := tx.Delete(ctx, kind, key); err != nil && !errors.Is(err, ErrNotFound) {
								return err
							}
						case 8:
							if _, err := tx.DeleteScope(ctx, kind, scopes[r.IntN(len(scopes))]); err != nil {
								return err
							}
						case 9:
							return errBoom // nothing of this Update commits
						}
					}
					return nil
				})
				if err != nil && !errors.Is(err, errBoom) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	compare(60)
	if len(s.mirrors.m) == 0 {
		t.Fatal("no list was answered from memory")
	}
	if fromMemory.Load() == 0 {
		t.Fatal("no transaction's list was answered from memory")
	}
}

func (r sqliteReader) mustList(t *testing.T, kind string, q ListQuery) []Doc {
	docs, err := r.List(context.Background(), kind, q)
	if err != nil {
		t.Error(err)
	}
	return docs
}
