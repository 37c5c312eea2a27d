package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

type wireThing struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		State string `json:"state"`
	} `json:"properties"`
}

// ListWire answers what encoding each item of List would: for documents the
// type wrote itself, for documents of an older shape (a field since dropped,
// a missing one, HTML characters escaped by json.Marshal), after updates
// (the memo is keyed by the stored bytes) and with a filter.
func TestListWireMatchesList(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	const typ = "Microsoft.Test/things"
	scope := "/subscriptions/s/resourceGroups/rg"
	id := func(n string) arm.ResourceID { return arm.NewID("s", "rg", "Microsoft.Test", "things", n) }
	put := func(n, state string, tags map[string]string) {
		t.Helper()
		v := wireThing{ID: id(n).String(), Name: n, Type: typ, Tags: tags}
		v.Properties.State = state
		if err := st.Update(ctx, func(tx store.Tx) error { return Put(ctx, tx, id(n), v) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return EnsureResourceGroup(ctx, tx, "s", "rg", "westus", nil) }); err != nil {
		t.Fatal(err)
	}
	put("a", "Succeeded", map[string]string{"env": "<prod & co>"})
	put("b", "Creating", nil)
	// A document written by an older shape of the type.
	old := `{"id":"` + id("c").String() + `","name":"c","type":"` + typ + `","legacy":{"x":1},"properties":{"state":"Old","gone":true}}`
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: resourceKind, Key: id("c").String(), Scope: scopeOf(id("c")), Type: typ, Value: []byte(old)})
	}); err != nil {
		t.Fatal(err)
	}
	check := func(keep func(store.Doc) bool, wantN int) {
		t.Helper()
		for round := range 3 { // the later rounds answer from the memo (and the store's mirror)
			want, err := List[wireThing](ctx, st, typ, scope)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ListWire[wireThing](ctx, st, typ, scope, keep)
			if err != nil {
				t.Fatal(err)
			}
			var kept []wireThing
			for _, w := range want {
				if keep == nil || keep(store.Doc{Key: strings.ToLower(w.ID)}) {
					kept = append(kept, w)
				}
			}
			if len(got) != wantN || len(kept) != wantN {
				t.Fatalf("round %d: %d wire items, %d listed, want %d", round, len(got), len(kept), wantN)
			}
			// Every page is that part of the whole list.
			for start := range wantN + 2 {
				for _, size := range []int{1, 2, 3, -1} {
					page, more, err := ListWirePage[wireThing](ctx, st, typ, scope, keep, start, size)
					if err != nil {
						t.Fatal(err)
					}
					from, to := min(start, wantN), wantN
					if size >= 0 {
						to = min(start+size, wantN)
					}
					if fmt.Sprint(page) != fmt.Sprint(got[from:to]) || more != (to < wantN) {
						t.Fatalf("round %d: page %d+%d: %s (more %v), want %s", round, start, size, page, more, got[from:to])
					}
				}
			}
			for i := range kept {
				b, err := WireJSON(kept[i])
				if err != nil {
					t.Fatal(err)
				}
				if string(got[i]) != string(b) {
					t.Fatalf("round %d item %d:\n got %s\nwant %s", round, i, got[i], b)
				}
				if !json.Valid(got[i]) {
					t.Fatalf("not JSON: %s", got[i])
				}
			}
		}
	}
	check(nil, 3)
	// The store answers from its list mirror once loaded (after the first
	// list, in the background): the checks below read stable documents,
	// memoized by address.
	for deadline := time.Now().Add(testsvc.WaitLimit); ; time.Sleep(time.Millisecond) {
		stable := false
		store.ListView(ctx, st, resourceKind, store.ListQuery{Type: typ}, func(_ *store.Doc, s bool) bool { stable = s; return false })
		if stable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store's list mirror never loaded")
		}
	}
	getCheck := func(n string) {
		t.Helper()
		var v wireThing
		if err := Get(ctx, st, id(n), &v); err != nil {
			t.Fatal(err)
		}
		want, _ := WireJSON(&v)
		for range 2 {
			got, err := GetWire[wireThing](ctx, st, id(n))
			if err != nil || string(got) != string(want) {
				t.Fatalf("GetWire %s: %v\n got %s\nwant %s", n, err, got, want)
			}
		}
	}
	getCheck("a")
	getCheck("c")
	if _, err := GetWire[wireThing](ctx, st, id("nope")); err == nil || !strings.Contains(err.Error(), "was not found") {
		t.Fatalf("GetWire of a missing resource: %v", err)
	}
	put("b", "Succeeded", map[string]string{"k": "v"}) // changed bytes, new answer
	put("d", "Succeeded", nil)
	check(nil, 4)
	getCheck("b")
	check(func(d store.Doc) bool { return !strings.HasSuffix(d.Key, "/b") }, 3)
	if err := st.Update(ctx, func(tx store.Tx) error { return Delete(ctx, tx, id("a")) }); err != nil {
		t.Fatal(err)
	}
	check(nil, 3)
}

// GetShared answers what Get decodes, shares one value while the document
// is unchanged, follows every write (also one that returns to earlier
// bytes) and answers NotFound for an absent resource or group.
func TestGetSharedFollowsTheDocument(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	id := arm.NewID("s", "rg", "Microsoft.Test", "things", "Thing1")
	if _, err := GetShared[Named](ctx, st, id); !arm.IsNotFound(err) {
		t.Fatalf("absent: %v, want NotFound", err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return EnsureResourceGroup(ctx, tx, "s", "rg", "westus", nil) }); err != nil {
		t.Fatal(err)
	}
	put := func(name, state string) {
		t.Helper()
		v := wireThing{ID: id.String(), Name: name, Type: "Microsoft.Test/things"}
		v.Properties.State = state
		if err := st.Update(ctx, func(tx store.Tx) error { return Put(ctx, tx, id, v) }); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name, state string) *wireThing {
		t.Helper()
		var want wireThing
		if err := Get(ctx, st, id, &want); err != nil {
			t.Fatal(err)
		}
		got, err := GetShared[wireThing](ctx, st, id)
		if err != nil {
			t.Fatal(err)
		}
		n, err := GetShared[Named](ctx, st, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != name || got.Properties.State != state || !reflect.DeepEqual(*got, want) || n.Name != name || n.ID != id.String() {
			t.Fatalf("GetShared = %+v, %+v; want %+v (name %s, state %s)", *got, *n, want, name, state)
		}
		return got
	}
	put("Thing1", "Creating")
	first := check("Thing1", "Creating")
	if again := check("Thing1", "Creating"); again != first {
		t.Error("an unchanged document was decoded again")
	}
	put("THING1", "Succeeded")
	check("THING1", "Succeeded")
	put("Thing1", "Creating") // the first bytes again
	check("Thing1", "Creating")
	if err := st.Update(ctx, func(tx store.Tx) error { return Delete(ctx, tx, id) }); err != nil {
		t.Fatal(err)
	}
	if _, err := GetShared[wireThing](ctx, st, id); !arm.IsNotFound(err) {
		t.Fatalf("deleted: %v, want NotFound", err)
	}
}
