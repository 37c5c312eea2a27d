package store_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// Every way the PostgreSQL store reads documents (Get, List, a batch's gets
// and remembered lists, an Update's reads, a Put's RETURNING) gives what
// pgx's own Scan of the same rows gives, field for field, decoding the
// columns' bytes itself for the documents it writes and for those written
// by hand (a NULL value, an empty one, a time before PostgreSQL's epoch of
// 2000, text beyond ASCII); a timestamp at infinity, which Scan refuses,
// still goes through Scan and is refused.
func TestPostgresDocsReadAsPgxScansThem(t *testing.T) {
	s := storetest.Postgres(t, testsvc.PostgresSchema(t))
	ctx := context.Background()
	docs := []store.Doc{
		{Kind: "resource", Key: "/s/rg/a", Scope: "/s/rg/", Type: "t/one", Value: []byte(`{"a":1}`)},
		{Kind: "resource", Key: "/s/rg/b", Scope: "/s/rg/", Type: "t/one", Value: []byte(strings.Repeat("v", 5000))},
		{Kind: "resource", Key: "/s/rg/é-ü", Scope: "/s/rg/", Type: "t/one", Value: []byte("ünïcode")},
		{Kind: "other", Key: "x", Value: []byte("x")},
	}
	long := "/s/rg/" + strings.Repeat("l", 2100) // (not plain text: a Put reads it back, RETURNING)
	if err := s.Update(ctx, func(tx store.Tx) error {
		for _, d := range docs {
			if err := tx.Put(ctx, d); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Written by hand: a NULL value, an empty one, times before 2000 and
	// with microseconds, a version of many bytes.
	if _, err := s.Pool().Exec(ctx, `INSERT INTO docs(kind, key, scope, type, value, version, created, updated) VALUES
		('resource', '/s/rg/c', '/s/rg/', 't/one', NULL, 1, '1969-07-20 20:17:40.123456+00', '1999-12-31 23:59:59.999999+00'),
		('resource', '/s/rg/d', '/s/rg/', 't/one', '', 72057594037927936, '2000-01-01 00:00:00+00', '2262-04-11 23:47:16.854775+00')`); err != nil {
		t.Fatal(err)
	}
	// What pgx's Scan reads, as the store read it before.
	want := map[string]store.Doc{}
	rows, err := s.Pool().Query(ctx, `SELECT kind, key, scope, type, value, version, created, updated FROM docs WHERE kind IN ('resource', 'other')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d store.Doc
		if err := rows.Scan(&d.Kind, &d.Key, &d.Scope, &d.Type, &d.Value, &d.Version, &d.Created, &d.Updated); err != nil {
			t.Fatal(err)
		}
		d.Created, d.Updated = d.Created.UTC(), d.Updated.UTC()
		want[d.Kind+" "+d.Key] = d
	}
	if rows.Err() != nil || len(want) != 6 {
		t.Fatalf("%d rows, %v", len(want), rows.Err())
	}
	if want["resource /s/rg/c"].Value != nil || want["resource /s/rg/d"].Value == nil || want["resource /s/rg/c"].Created.Year() != 1969 {
		t.Fatalf("the rows by hand read as %+v, %+v", want["resource /s/rg/c"], want["resource /s/rg/d"])
	}
	slow := store.DocRowsScannedSlowly()
	check := func(how string, got store.Doc) {
		t.Helper()
		w, ok := want[got.Kind+" "+got.Key]
		if !ok || !reflect.DeepEqual(got, w) {
			t.Errorf("%s: read %+v, pgx's Scan %+v", how, got, w)
		}
	}
	for _, w := range want {
		d, err := s.Get(ctx, w.Kind, w.Key)
		if err != nil {
			t.Fatal(err)
		}
		check("Get", d)
		d, _ = storetest.TxGet(t, s, w.Kind, w.Key)
		if d.Value == nil && w.Value != nil && len(w.Value) == 0 {
			d.Value = []byte{} // (an Update's Get copies the value it holds: an empty one is nil)
		}
		check("an Update's Get", d)
	}
	q := store.ListQuery{ScopePrefix: "/s/rg/", Type: "t/one"}
	listed, err := s.List(ctx, "resource", q)
	if err != nil || len(listed) != 5 {
		t.Fatalf("List: %d, %v", len(listed), err)
	}
	for _, d := range listed {
		check("List", d)
	}
	var reads []store.Read
	for _, w := range want {
		reads = append(reads, store.Read{Kind: w.Kind, Key: w.Key})
	}
	reads = append(reads, store.Read{Kind: "resource", List: true, Q: q})
	for round := 0; round < 2; round++ { // read, then remembered
		for i, r := range s.ReadBatch(ctx, reads) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if !reads[i].List {
				check("a batch's get", r.Doc)
				continue
			}
			if len(r.Docs) != 5 {
				t.Fatalf("a batch's list: %d documents", len(r.Docs))
			}
			for _, d := range r.Docs {
				check("a batch's list", d)
			}
		}
	}
	if n := store.DocRowsScannedSlowly() - slow; n != 0 {
		t.Errorf("%d rows read through pgx's Scan", n)
	}
	// A Put the database reads back (RETURNING), over a version by hand.
	if _, err := s.Pool().Exec(ctx, `INSERT INTO docs(kind, key, scope, type, value, version, created, updated) VALUES
		('other', $1, '/s/rg/', '', 'v', 7, '1999-01-01 00:00:00+00', '1999-01-01 00:00:00+00')`, long); err != nil {
		t.Fatal(err)
	}
	var returned store.Doc
	before := time.Now().Add(-time.Second)
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(ctx, store.Doc{Kind: "other", Key: long, Scope: "/s/rg/", Value: []byte("y")}); err != nil {
			return err
		}
		var err error
		returned, err = tx.Get(ctx, "other", long)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if returned.Version != 8 || string(returned.Value) != "y" || returned.Created.Year() != 1999 || returned.Updated.Before(before) || returned.Updated.Location() != time.UTC {
		t.Fatalf("a Put over a version by hand read back version %d, value %q, created %v, updated %v", returned.Version, returned.Value, returned.Created, returned.Updated)
	}
	var byScan store.Doc
	if err := s.Pool().QueryRow(ctx, `SELECT kind, key, scope, type, value, version, created, updated FROM docs WHERE kind = 'other' AND key = $1`, long).Scan(
		&byScan.Kind, &byScan.Key, &byScan.Scope, &byScan.Type, &byScan.Value, &byScan.Version, &byScan.Created, &byScan.Updated); err != nil {
		t.Fatal(err)
	}
	byScan.Created, byScan.Updated = byScan.Created.UTC(), byScan.Updated.UTC()
	if !reflect.DeepEqual(returned, byScan) {
		returned.Key, byScan.Key = returned.Key[:20]+"...", byScan.Key[:20]+"..."
		t.Fatalf("a Put read back %+v, pgx's Scan %+v", returned, byScan)
	}
	if n := store.DocRowsScannedSlowly() - slow; n != 0 {
		t.Errorf("%d rows read through pgx's Scan", n)
	}
	// A time at infinity is what pgx's Scan refuses, as it did.
	if _, err := s.Pool().Exec(ctx, `UPDATE docs SET updated = 'infinity' WHERE kind = 'other'`); err != nil {
		t.Fatal(err)
	}
	slow = store.DocRowsScannedSlowly()
	if d, err := s.Get(ctx, "other", "x"); err == nil {
		t.Fatalf("a document updated at infinity read as %+v", d)
	}
	if store.DocRowsScannedSlowly() != slow+1 {
		t.Fatal("a time at infinity was not left to pgx's Scan")
	}
}
