package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "a", Value: []byte("v")}) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Get(ctx, "k", "a")
	if err != nil || string(d.Value) != "v" {
		t.Fatalf("%v %+v", err, d)
	}
}
