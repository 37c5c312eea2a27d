package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// Two replicas on one PostgreSQL schema, each remembering the documents of
// kinds "p" and "s" under the generation document gen/g: a document
// created, replaced or deleted (by key or by scope) through one is read as
// it now is through the other on its very next prefetch, while one read
// again with no such write between is answered from memory (no statement
// for it in the round trip: its answer stays with the database closed);
// a write of another kind, or one whose Update failed, moves nothing.
func TestPostgresRememberedSeesEachWriteAtOnce(t *testing.T) {
	ctx := context.Background()
	url := testsvc.PostgresSchema(t)
	a, b := storetest.Postgres(t, url), storetest.Postgres(t, url)
	gen := store.Read{Kind: "gen", Key: "g"}
	if store.NewRemembered(a, gen, "p", "s") == nil {
		t.Fatal("PostgreSQL does not remember")
	}
	mb := store.NewRemembered(b, gen, "p", "s")
	put := func(s store.Store, kind, key, value string) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: kind, Key: key, Scope: "/" + key + "/", Value: []byte(value)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	genOf := func() string {
		t.Helper()
		d, err := a.Get(ctx, gen.Kind, gen.Key)
		if err != nil {
			t.Fatalf("the generation: %v", err)
		}
		return string(d.Value)
	}
	// read prefetches p/x and s/y through b and answers both (the value
	// or "none").
	read := func(s store.Reader) (px, sy string) {
		t.Helper()
		p := store.PrefetchRemembering(ctx, s, mb, store.Read{Kind: "p", Key: "X"}, store.Read{Kind: "s", Key: "y"}, gen)
		for _, x := range []struct {
			key string
			to  *string
		}{{"p/x", &px}, {"s/y", &sy}} {
			kind, key := x.key[:1], x.key[2:]
			d, err := store.View(ctx, p, kind, key)
			switch {
			case errors.Is(err, store.ErrNotFound):
				*x.to = "none"
			case err != nil:
				t.Fatalf("%s: %v", x.key, err)
			default:
				*x.to = string(d.Value)
				if g, err := p.Get(ctx, kind, key); err != nil || string(g.Value) != *x.to {
					t.Fatalf("%s: Get %v %q, View %q", x.key, err, g.Value, *x.to)
				}
			}
		}
		return px, sy
	}
	want := func(px, sy string) {
		t.Helper()
		if gx, gy := read(b); gx != px || gy != sy {
			t.Fatalf("through b: p/x %s, s/y %s; want %s, %s", gx, gy, px, sy)
		}
	}

	put(a, "p", "x", "1")
	g := genOf()
	want("1", "none")
	want("1", "none") // (from memory now)
	put(a, "p", "x", "2")
	want("2", "none")
	put(a, "s", "y", "3")
	want("2", "3")
	if err := a.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "p", "x") }); err != nil {
		t.Fatal(err)
	}
	want("none", "3")
	put(a, "p", "x", "4")
	want("4", "3")
	if err := a.Update(ctx, func(tx store.Tx) error {
		_, err := tx.DeleteScope(ctx, "s", "/y/")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want("4", "none")
	put(a, "s", "y", "5")
	want("4", "5")
	if genOf() == g {
		t.Fatal("the writes of p and s moved no generation")
	}

	// Neither a write of another kind nor a failed Update moves it.
	g = genOf()
	put(a, "other", "x", "6")
	if err := a.Update(ctx, func(tx store.Tx) error {
		tx.Put(ctx, store.Doc{Kind: "p", Key: "x", Value: []byte("7")})
		return errors.New("fails")
	}); err == nil {
		t.Fatal("a failing Update succeeded")
	}
	if genOf() != g {
		t.Fatal("a write of another kind or a failed Update moved the generation")
	}
	want("4", "5")

	// Remembered: with the generation read and nothing else, b's
	// answers hold while its database is gone.
	p := store.PrefetchRemembering(ctx, b, mb, store.Read{Kind: "p", Key: "x"}, store.Read{Kind: "s", Key: "y"})
	b.Close()
	if d, err := store.View(ctx, p, "p", "x"); err != nil || string(d.Value) != "4" {
		t.Fatalf("p/x remembered: %v %q", err, d.Value)
	}
	if d, err := p.Get(ctx, "s", "y"); err != nil || string(d.Value) != "5" {
		t.Fatalf("s/y remembered: %v %q", err, d.Value)
	}
	if _, err := store.View(ctx, p, "other", "x"); err == nil {
		t.Fatal("a read of a kind not remembered answered with the database closed")
	}
}
