// Package storetest is the conformance suite every store.Store driver must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
)

// Run runs the conformance suite against stores made by open. Each subtest
// gets a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("CreateGetCaseInsensitive", func(t *testing.T) {
		s := open(t)
		d := store.Doc{Kind: "resource", Key: "/Subscriptions/A/RG", Scope: "/subscriptions/a", Type: "X/Y", Value: []byte(`{"name":"RG"}`)}
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.Create(ctx, d) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "resource", "/subscriptions/a/rg")
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Value) != `{"name":"RG"}` || got.Version != 1 || got.Created.IsZero() {
			t.Fatalf("got %+v", got)
		}
		err = s.Update(ctx, func(tx store.Tx) error { return tx.Create(ctx, d) })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second create: %v, want ErrConflict", err)
		}
		if _, err := s.Get(ctx, "resource", "/nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})
	t.Run("PutVersionsAndDelete", func(t *testing.T) {
		s := open(t)
		for i := 0; i < 3; i++ {
			if err := s.Update(ctx, func(tx store.Tx) error {
				return tx.Put(ctx, store.Doc{Kind: "k", Key: "a", Value: []byte(fmt.Sprint(i))})
			}); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.Get(ctx, "k", "A")
		if got.Version != 3 || string(got.Value) != "2" {
			t.Fatalf("got %+v", got)
		}
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "k", "a") }); err != nil {
			t.Fatal(err)
		}
		err := s.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "k", "a") })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete missing: %v", err)
		}
	})
	t.Run("ReadAfterWriteEveryTime", func(t *testing.T) {
		s := open(t)
		put := func(v string) {
			if err := s.Update(ctx, func(tx store.Tx) error {
				return tx.Put(ctx, store.Doc{Kind: "k", Key: "x", Scope: "/s/", Value: []byte(v)})
			}); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 5; i++ {
			put(fmt.Sprint(i))
			for j := 0; j < 2; j++ { // a second read may come from a cache
				d, err := s.Get(ctx, "k", "X")
				if err != nil || string(d.Value) != fmt.Sprint(i) {
					t.Fatalf("read after write %d: %v %q", i, err, d.Value)
				}
			}
		}
		s.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "k", "x") })
		if _, err := s.Get(ctx, "k", "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		put("again")
		s.Get(ctx, "k", "x")
		s.Update(ctx, func(tx store.Tx) error { _, err := tx.DeleteScope(ctx, "k", "/s/"); return err })
		if _, err := s.Get(ctx, "k", "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after DeleteScope: %v", err)
		}
		// A returned value is the caller's to change.
		put("abc")
		d, _ := s.Get(ctx, "k", "x")
		d.Value[0] = 'z'
		if d2, _ := s.Get(ctx, "k", "x"); string(d2.Value) != "abc" {
			t.Fatalf("stored value changed through a returned slice: %q", d2.Value)
		}
	})
	t.Run("ViewAndExistsReadAfterWrite", func(t *testing.T) {
		s := open(t)
		put := func(v string) {
			if err := s.Update(ctx, func(tx store.Tx) error {
				return tx.Put(ctx, store.Doc{Kind: "k", Key: "x", Scope: "/s/", Type: "T", Value: []byte(v)})
			}); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := store.Exists(ctx, s, "k", "x"); ok || err != nil {
			t.Fatalf("Exists before a write: %v %v", ok, err)
		}
		if _, err := store.View(ctx, s, "k", "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("View before a write: %v", err)
		}
		for i := 0; i < 3; i++ {
			put(fmt.Sprint(i))
			for j := 0; j < 2; j++ { // a second read may come from a cache
				v, err := store.View(ctx, s, "k", "X")
				g, _ := s.Get(ctx, "k", "x")
				if err != nil || string(v.Value) != fmt.Sprint(i) || v.Key != g.Key || v.Version != g.Version || v.Scope != "/s/" || v.Type != g.Type || !v.Updated.Equal(g.Updated) {
					t.Fatalf("View after write %d: %v %+v, Get %+v", i, err, v, g)
				}
				if ok, err := store.Exists(ctx, s, "k", "X"); !ok || err != nil {
					t.Fatalf("Exists after write %d: %v %v", i, ok, err)
				}
			}
		}
		// A Get's value is the caller's to change; a View's stays.
		g, _ := s.Get(ctx, "k", "x")
		g.Value[0] = 'z'
		if v, _ := store.View(ctx, s, "k", "x"); string(v.Value) != "2" {
			t.Fatalf("a Get's value changed the viewed one: %q", v.Value)
		}
		s.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "k", "x") })
		if ok, err := store.Exists(ctx, s, "k", "x"); ok || err != nil {
			t.Fatalf("Exists after delete: %v %v", ok, err)
		}
		put("again")
		store.View(ctx, s, "k", "x")
		s.Update(ctx, func(tx store.Tx) error { _, err := tx.DeleteScope(ctx, "k", "/s/"); return err })
		if _, err := store.View(ctx, s, "k", "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("View after DeleteScope: %v", err)
		}
	})
	t.Run("PanicRollsBackAndStoreStaysUsable", func(t *testing.T) {
		s := open(t)
		func() {
			defer func() { recover() }()
			s.Update(ctx, func(tx store.Tx) error {
				tx.Put(ctx, store.Doc{Kind: "k", Key: "p"})
				panic("handler bug")
			})
		}()
		if _, err := s.Get(ctx, "k", "p"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("write of a panicking transaction visible: %v", err)
		}
		done := make(chan error, 1)
		go func() {
			done <- s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "after"}) })
		}()
		testsvc.WaitDone(t, "an Update after a panic inside Update", done)
	})
	t.Run("RollbackOnError", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put(ctx, store.Doc{Kind: "k", Key: "a"}); err != nil {
				return err
			}
			if _, err := tx.Enqueue(ctx, store.Task{Kind: "t"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
		if _, err := s.Get(ctx, "k", "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rolled back doc visible: %v", err)
		}
		if ts, _ := s.ClaimTasks(ctx, "w", time.Now().Add(time.Hour), time.Minute, 10); len(ts) != 0 {
			t.Fatalf("rolled back task visible: %v", ts)
		}
	})
	t.Run("FencesRunInTheUpdatesTransaction", func(t *testing.T) {
		s := open(t)
		// The fence reads the holder row in the Update's own transaction:
		// a write under a lease another holder took commits nothing.
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "holder", Key: "x", Value: []byte(`"me"`)})
		}); err != nil {
			t.Fatal(err)
		}
		lost := errors.New("lost")
		fctx := store.WithFence(ctx, func(ctx context.Context, r store.Reader) error {
			d, err := r.Get(ctx, "holder", "x")
			if err != nil {
				return err
			}
			if string(d.Value) != `"me"` {
				return lost
			}
			return nil
		})
		if err := s.Update(fctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "held"}) }); err != nil {
			t.Fatalf("write under a held fence: %v", err)
		}
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "holder", Key: "x", Value: []byte(`"other"`)})
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(fctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "stale"}) }); !errors.Is(err, lost) {
			t.Fatalf("write under a lost fence = %v, want its fence's error", err)
		}
		if _, err := s.Get(ctx, "k", "stale"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a write under a lost fence was committed: %v", err)
		}
		if err := s.Update(store.WithoutFences(fctx), func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "unfenced"}) }); err != nil {
			t.Fatalf("write without fences: %v", err)
		}
	})
	t.Run("ListScopeTypePaging", func(t *testing.T) {
		s := open(t)
		err := s.Update(ctx, func(tx store.Tx) error {
			for i := 0; i < 25; i++ {
				scope := "/subscriptions/s/resourcegroups/rg1"
				if i%5 == 0 {
					scope = "/subscriptions/s/resourcegroups/rg1_x" // '_' must not act as a wildcard
				}
				typ := "a/b"
				if i%2 == 0 {
					typ = "a/c"
				}
				if err := tx.Put(ctx, store.Doc{Kind: "r", Key: fmt.Sprintf("%s/k%02d", scope, i), Scope: scope, Type: typ}); err != nil {
					return err
				}
			}
			return tx.Put(ctx, store.Doc{Kind: "other", Key: "x", Scope: "/subscriptions/s/resourcegroups/rg1"})
		})
		if err != nil {
			t.Fatal(err)
		}
		all, _ := s.List(ctx, "r", store.ListQuery{ScopePrefix: "/Subscriptions/S/"})
		if len(all) != 25 {
			t.Fatalf("all: %d", len(all))
		}
		rg1, _ := s.List(ctx, "r", store.ListQuery{ScopePrefix: "/subscriptions/s/resourcegroups/rg1_"})
		if len(rg1) != 5 {
			t.Fatalf("rg1_: %d", len(rg1))
		}
		typed, _ := s.List(ctx, "r", store.ListQuery{Type: "A/B"})
		if len(typed) != 12 {
			t.Fatalf("typed: %d", len(typed))
		}
		var seen []string
		after := ""
		for {
			page, err := s.List(ctx, "r", store.ListQuery{After: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, d := range page {
				seen = append(seen, d.Key)
			}
			after = page[len(page)-1].Key
		}
		if len(seen) != 25 {
			t.Fatalf("paged %d", len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i-1] >= seen[i] {
				t.Fatalf("not ordered: %v", seen)
			}
		}
		n := 0
		s.Update(ctx, func(tx store.Tx) error {
			var err error
			n, err = tx.DeleteScope(ctx, "r", "/subscriptions/s/resourcegroups/rg1")
			return err
		})
		if n != 25 {
			t.Fatalf("deleted %d", n)
		}
		if o, _ := s.List(ctx, "other", store.ListQuery{}); len(o) != 1 {
			t.Fatal("DeleteScope crossed kinds")
		}
	})
	t.Run("AnyUnder", func(t *testing.T) {
		s := open(t)
		any := func(r store.Reader, prefix string, kinds ...string) bool {
			t.Helper()
			ok, err := store.AnyUnder(ctx, r, prefix, kinds...)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put(ctx, store.Doc{Kind: "r", Key: "/s/rg1/a", Scope: "/S/RG1/"}); err != nil {
				return err
			}
			return tx.Put(ctx, store.Doc{Kind: "q", Key: "/s/rg1_x/b", Scope: "/s/rg1_x/"})
		}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			prefix string
			kinds  []string
			want   bool
		}{
			{"/s/rg1/", []string{"r"}, true},
			{"/S/Rg1/", []string{"q", "r"}, true}, // case-insensitive, any of the kinds
			{"/s/rg1/", []string{"q"}, false},
			{"/s/rg1_", []string{"q"}, true}, // '_' is no wildcard
			{"/s/rg1_", []string{"r"}, false},
			{"/s/rg2/", []string{"r", "q"}, false},
			{"", []string{"q"}, true},
			{"", []string{"p"}, false},
			{"/s/", nil, false},
		} {
			if got := any(s, c.prefix, c.kinds...); got != c.want {
				t.Errorf("AnyUnder(%q, %v) = %v, want %v", c.prefix, c.kinds, got, c.want)
			}
		}
		// In a transaction: as of its own writes.
		if err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put(ctx, store.Doc{Kind: "q", Key: "/s/rg2/c", Scope: "/s/rg2/"}); err != nil {
				return err
			}
			if !any(tx, "/s/rg2/", "r", "q") {
				t.Error("a transaction's AnyUnder missed its own put")
			}
			if err := tx.Delete(ctx, "r", "/s/rg1/a"); err != nil {
				return err
			}
			if any(tx, "/s/rg1/", "r", "q") {
				t.Error("a transaction's AnyUnder saw a document it deleted")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !any(s, "/s/rg2/", "q") || any(s, "/s/rg1/", "r") {
			t.Error("AnyUnder after the commit does not see it")
		}
	})

	t.Run("TasksLeaseAndReschedule", func(t *testing.T) {
		s := open(t)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var first store.Task
		err := s.Update(ctx, func(tx store.Tx) error {
			var err error
			first, err = tx.Enqueue(ctx, store.Task{Kind: "a", RunAt: now, Payload: []byte("p")})
			if err != nil {
				return err
			}
			_, err = tx.Enqueue(ctx, store.Task{Kind: "b", RunAt: now.Add(time.Hour)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ClaimTasks(ctx, "w1", now, time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].ID != first.ID || string(got[0].Payload) != "p" {
			t.Fatalf("claim: %v %+v", err, got)
		}
		if again, _ := s.ClaimTasks(ctx, "w2", now.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
			t.Fatalf("leased task claimed twice: %+v", again)
		}
		// The lease expires: a crashed worker's task runs again.
		again, _ := s.ClaimTasks(ctx, "w2", now.Add(2*time.Minute), time.Minute, 10)
		if len(again) != 1 || again[0].LeaseOwner != "w2" {
			t.Fatalf("after lease expiry: %+v", again)
		}
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.RescheduleTask(ctx, first.ID, now.Add(10*time.Minute), "transient")
		}); err != nil {
			t.Fatal(err)
		}
		tk, _ := s.GetTask(ctx, first.ID)
		if tk.Attempts != 1 || tk.LastError != "transient" || !tk.RunAt.Equal(now.Add(10*time.Minute)) {
			t.Fatalf("rescheduled: %+v", tk)
		}
		next, _ := s.NextTaskTime(ctx)
		if !next.Equal(now.Add(10 * time.Minute)) {
			t.Fatalf("next %v", next)
		}
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.CompleteTask(ctx, first.ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTask(ctx, first.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("completed task: %v", err)
		}
	})
	t.Run("RunnerClaimsBackItsOwnIdleLease", func(t *testing.T) {
		// A runner's claim (WithReclaimOwn, its running tasks in
		// ClaimExcept) takes back a task leased to its very owner that it
		// does not run (a claim whose answer it never heard); others
		// still find the task leased, and a task it runs stays its own.
		s := open(t)
		now := time.Now().UTC().Truncate(time.Millisecond)
		var task store.Task
		if err := s.Update(ctx, func(tx store.Tx) (err error) {
			task, err = tx.Enqueue(ctx, store.Task{Kind: "a", RunAt: now})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		runner := store.WithReclaimOwn(ctx)
		got, err := s.ClaimTasks(runner, "n/1", now, time.Minute, 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %+v %v", got, err)
		}
		if other, _ := s.ClaimTasks(runner, "n/2", now, time.Minute, 10); len(other) != 0 {
			t.Fatalf("another owner claimed a leased task: %+v", other)
		}
		if plain, _ := s.ClaimTasks(ctx, "n/1", now, time.Minute, 10); len(plain) != 0 {
			t.Fatalf("a claim without WithReclaimOwn took its owner's lease back: %+v", plain)
		}
		running := store.WithClaimExcept(runner, []string{task.ID})
		if again, _ := s.ClaimTasks(running, "n/1", now, time.Minute, 10); len(again) != 0 {
			t.Fatalf("a task the runner runs was claimed again: %+v", again)
		}
		back, err := s.ClaimTasks(runner, "n/1", now, time.Minute, 10)
		if err != nil || len(back) != 1 || back[0].ID != task.ID || back[0].LeaseEpoch <= got[0].LeaseEpoch {
			t.Fatalf("the idle lease taken back: %+v %v, want the task under a new epoch (was %d)", back, err, got[0].LeaseEpoch)
		}
	})
	t.Run("TaskNeverDueBeforeItsTime", func(t *testing.T) {
		// Nanoseconds a store cannot hold make a task due later, never
		// earlier: a handler planning its next run at the moment its work
		// falls due must find the work due when the task runs.
		s := open(t)
		at := time.Now().UTC().Add(time.Hour).Truncate(time.Second).Add(123456789)
		tk := Enqueue(t, s, store.Task{Kind: "a", RunAt: at})
		for _, c := range []struct {
			what string
			run  func() (store.Task, error)
		}{
			{"enqueued", func() (store.Task, error) { return s.GetTask(ctx, tk.ID) }},
			{"rescheduled", func() (store.Task, error) {
				if err := s.Update(ctx, func(tx store.Tx) error { return tx.RescheduleTask(ctx, tk.ID, at, "again") }); err != nil {
					return store.Task{}, err
				}
				return s.GetTask(ctx, tk.ID)
			}},
		} {
			got, err := c.run()
			if err != nil {
				t.Fatal(err)
			}
			if got.RunAt.Before(at) {
				t.Fatalf("%s at %s: stored due at %s, earlier", c.what, at.Format(time.RFC3339Nano), got.RunAt.Format(time.RFC3339Nano))
			}
			if early, _ := s.ClaimTasks(ctx, "w", at.Add(-time.Nanosecond), time.Minute, 10); len(early) != 0 {
				t.Fatalf("%s at %s: claimed a nanosecond before", c.what, at.Format(time.RFC3339Nano))
			}
			if next, _ := s.NextTaskTime(ctx); next.Before(at) {
				t.Fatalf("%s at %s: next task time %s", c.what, at.Format(time.RFC3339Nano), next.Format(time.RFC3339Nano))
			}
		}
		if due, _ := s.ClaimTasks(ctx, "w", at.Add(time.Microsecond), time.Minute, 10); len(due) != 1 {
			t.Fatalf("due a microsecond later: claimed %+v", due)
		}
	})
	t.Run("PullTasksKeepsDueWorkDue", func(t *testing.T) {
		// A clock set back from from to to: the tasks due by from are due
		// at to, those due later stay where they were.
		s := open(t)
		p, ok := s.(store.TaskPuller)
		if !ok {
			t.Fatalf("%T is no TaskPuller", s)
		}
		from := time.Now().UTC().Truncate(time.Second)
		to := from.Add(-time.Hour)
		ids := map[string]string{}
		for name, at := range map[string]time.Time{"before": to.Add(-time.Hour), "between": from.Add(-30 * time.Minute), "at": from, "later": from.Add(time.Hour)} {
			ids[Enqueue(t, s, store.Task{Kind: "a", RunAt: at}).ID] = name
		}
		if n, err := p.PullTasks(ctx, from, to); err != nil || n != 2 {
			t.Fatalf("pull: %d %v, want 2 (between, at)", n, err)
		}
		got, err := s.ClaimTasks(ctx, "w", to, time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tk := range got {
			names = append(names, ids[tk.ID])
		}
		if len(names) != 3 || names[0] != "before" || slices.Contains(names, "later") {
			t.Fatalf("due at the new time: %v, want before, then between and at", names)
		}
	})
	t.Run("PullTasksMovesLeases", func(t *testing.T) {
		// A lease is an instant of the same clock: a clock set back a day
		// keeps what was left of a live one (its holder renews it, or,
		// dead, lets it lapse as it would have) and leaves one that had
		// lapsed lapsed. Unmoved, a dead holder's lease outlived it by the
		// day, and a lapsed one came back to life for the day.
		s := open(t)
		p := s.(store.TaskPuller)
		from := time.Now().UTC().Truncate(time.Second)
		to := from.Add(-24 * time.Hour)
		live := Enqueue(t, s, store.Task{Kind: "a", RunAt: from.Add(-time.Minute)})
		if got, err := s.ClaimTasks(ctx, "dead/1", from.Add(-time.Minute), 2*time.Minute, 10); err != nil || len(got) != 1 {
			t.Fatalf("claim the live one: %d %v", len(got), err)
		}
		lapsed := Enqueue(t, s, store.Task{Kind: "a", RunAt: from.Add(-10 * time.Minute)})
		if got, err := s.ClaimTasks(ctx, "dead/1", from.Add(-10*time.Minute), 5*time.Minute, 10); err != nil || len(got) != 1 {
			t.Fatalf("claim the lapsed one: %d %v", len(got), err)
		}
		if _, err := p.PullTasks(ctx, from, to); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ClaimTasks(ctx, "w/1", to, time.Hour, 10); err != nil || len(got) != 1 || got[0].ID != lapsed.ID {
			t.Fatalf("claimable at the new time: %+v %v, want the one whose lease had lapsed (%s) only", got, err, lapsed.ID)
		}
		if got, err := s.ClaimTasks(ctx, "w/1", to.Add(time.Minute-time.Microsecond), time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("claimable before the live lease's minute left passed: %+v %v", got, err)
		}
		if got, err := s.ClaimTasks(ctx, "w/1", to.Add(time.Minute), time.Minute, 10); err != nil || len(got) != 1 || got[0].ID != live.ID {
			t.Fatalf("claimable once the live lease's minute left passed: %+v %v, want %s", got, err, live.ID)
		}
	})
	t.Run("ClaimOnlyGivenKinds", func(t *testing.T) {
		s := open(t)
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		ids := map[string]string{}
		if err := s.Update(ctx, func(tx store.Tx) error {
			for i, kind := range []string{"long", "light", "long", "other", "light"} {
				tk, err := tx.Enqueue(ctx, store.Task{Kind: kind, RunAt: now.Add(time.Duration(i) * time.Second)})
				if err != nil {
					return err
				}
				ids[tk.ID] = kind
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Minute)
		none, err := s.ClaimTasks(store.WithClaimKinds(ctx, []string{}), "w", at, time.Minute, 10)
		if err != nil || len(none) != 0 {
			t.Fatalf("claim of no kinds: %v %+v", err, none)
		}
		got, err := s.ClaimTasks(store.WithClaimKinds(ctx, []string{"light", "other"}), "w", at, time.Minute, 2)
		if err != nil || len(got) != 2 || got[0].Kind != "light" || got[1].Kind != "other" {
			t.Fatalf("claim of light and other, limit 2: %v %+v", err, got)
		}
		got, err = s.ClaimTasks(store.WithClaimKinds(ctx, []string{"light"}), "w", at, time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].Kind != "light" {
			t.Fatalf("claim of light: %v %+v", err, got)
		}
		got, err = s.ClaimTasks(ctx, "w", at, time.Minute, 10)
		if err != nil || len(got) != 2 || got[0].Kind != "long" || got[1].Kind != "long" {
			t.Fatalf("claim of any kind: %v %+v", err, got)
		}
		for _, tk := range got {
			if ids[tk.ID] != "long" {
				t.Fatalf("claimed %+v", tk)
			}
		}
	})

	t.Run("ClaimNeverTheExceptedTasks", func(t *testing.T) {
		s := open(t)
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		a := Enqueue(t, s, store.Task{Kind: "k", RunAt: now})
		b := Enqueue(t, s, store.Task{Kind: "k", RunAt: now.Add(time.Second)})
		// a runs here, its lease run out (the clock jumped forward).
		if got, err := s.ClaimTasks(ctx, "w", now.Add(time.Minute), time.Minute, 1); err != nil || len(got) != 1 || got[0].ID != a.ID {
			t.Fatalf("first claim: %v %+v", err, got)
		}
		at := now.Add(time.Hour)
		got, err := s.ClaimTasks(store.WithClaimExcept(ctx, []string{a.ID}), "w", at, time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].ID != b.ID {
			t.Fatalf("claim except %s: %v %+v, want only %s", a.ID, err, got, b.ID)
		}
		if got, err := s.ClaimTasks(store.WithClaimExcept(ctx, []string{a.ID, b.ID}), "w", at.Add(time.Hour), time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("claim except both: %v %+v", err, got)
		}
		if got, err := s.ClaimTasks(ctx, "w", at.Add(time.Hour), time.Minute, 10); err != nil || len(got) != 2 {
			t.Fatalf("claim without exceptions: %v %+v, want both", err, got)
		}
	})

	t.Run("LeasedTasksByNode", func(t *testing.T) {
		s := open(t)
		lc, ok := s.(store.LeaseCounter)
		if !ok {
			t.Skip("the store does not count leases")
		}
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		if err := s.Update(ctx, func(tx store.Tx) error {
			for range 3 {
				if _, err := tx.Enqueue(ctx, store.Task{Kind: "k", RunAt: now}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, owner := range []string{"node-a/boot1", "node-b/boot2", "node-ab/boot3"} {
			if got, err := s.ClaimTasks(ctx, owner, now, time.Minute, 1); err != nil || len(got) != 1 {
				t.Fatalf("claim by %s: %v %+v", owner, err, got)
			}
		}
		for _, c := range []struct {
			nodes []string
			want  int
		}{{nil, 3}, {[]string{}, 0}, {[]string{"node-a"}, 1}, {[]string{"node-b", "node-c"}, 1}, {[]string{"node-a", "node-ab"}, 2}, {[]string{"node"}, 0}} {
			if n, err := lc.LeasedTasks(ctx, now, c.nodes); err != nil || n != c.want {
				t.Errorf("leased by %q: %d %v, want %d", c.nodes, n, err, c.want)
			}
		}
		// A lease ends at its time, when NextTaskTime says its task is due
		// again: a claim then takes it (a frozen clock set to that time
		// would otherwise never see it claimable).
		end := now.Add(time.Minute)
		if next, err := s.NextTaskTime(ctx); err != nil || !next.Equal(end) {
			t.Fatalf("next task time %v %v, want the leases' end %v", next, err, end)
		}
		if n, err := lc.LeasedTasks(ctx, end, nil); err != nil || n != 0 {
			t.Errorf("leased when the leases end: %d %v", n, err)
		}
		if got, err := s.ClaimTasks(ctx, "node-c/boot", end, time.Minute, 5); err != nil || len(got) != 3 {
			t.Errorf("claim when the leases end: %v %+v", err, got)
		}
	})

	t.Run("LeasesListed", func(t *testing.T) {
		s := open(t)
		ll, ok := s.(store.LeaseLister)
		if !ok {
			t.Skip("the store does not list leases")
		}
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		a := Enqueue(t, s, store.Task{Kind: "ka", RunAt: now})
		b := Enqueue(t, s, store.Task{Kind: "kb", RunAt: now})
		Enqueue(t, s, store.Task{Kind: "kc", RunAt: now.Add(time.Hour)}) // not due: never leased
		list := func() map[string]store.Task {
			t.Helper()
			ls, err := ll.Leases(ctx)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]store.Task{}
			for _, l := range ls {
				m[l.ID] = l
			}
			return m
		}
		if m := list(); len(m) != 0 {
			t.Fatalf("leases before any claim: %+v", m)
		}
		ca, err := s.ClaimTasks(ctx, "node-a/boot1", now, time.Minute, 1)
		if err != nil || len(ca) != 1 {
			t.Fatalf("claim by node-a: %v %+v", err, ca)
		}
		cb, err := s.ClaimTasks(ctx, "node-b/boot1", now, time.Minute, 1)
		if err != nil || len(cb) != 1 {
			t.Fatalf("claim by node-b: %v %+v", err, cb)
		}
		// A lease listed whatever its end: the one renewed, and the one
		// that ended on the clock (its holder gone) too.
		if err := s.ExtendLease(ctx, cb[0].Lease(), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		m := list()
		la, lb := m[ca[0].ID], m[cb[0].ID]
		if len(m) != 2 || la.LeaseOwner != "node-a/boot1" || !la.LeaseUntil.Equal(now.Add(time.Minute)) || lb.LeaseOwner != "node-b/boot1" || !lb.LeaseUntil.Equal(now.Add(time.Hour)) {
			t.Fatalf("leases: %+v", m)
		}
		if kinds := map[string]string{a.ID: "ka", b.ID: "kb"}; la.Kind != kinds[la.ID] || lb.Kind != kinds[lb.ID] {
			t.Fatalf("the leased tasks' kinds: %+v", m)
		}
		if n, err := s.ReleaseLeases(ctx, "node-a/boot1"); err != nil || n != 1 {
			t.Fatalf("release node-a's leases: %d %v", n, err)
		}
		if m := list(); len(m) != 1 || m[cb[0].ID].LeaseOwner != "node-b/boot1" {
			t.Fatalf("leases after node-a's release: %+v", m)
		}
	})

	t.Run("DueForTellsPins", func(t *testing.T) {
		s := open(t)
		dr, ok := s.(store.DueReader)
		if !ok {
			t.Skip("the store does not tell due tasks' pins")
		}
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		wall := time.Now().UTC().Truncate(time.Millisecond) // as PostgreSQL keeps it
		due := func(node string, wall time.Time) (bool, time.Time) {
			t.Helper()
			c, until, err := dr.DueFor(ctx, node, now, wall)
			if err != nil {
				t.Fatal(err)
			}
			return c, until
		}
		if c, until := due("n1", wall); c || !until.IsZero() {
			t.Fatalf("nothing due: %v %v", c, until)
		}
		later := Enqueue(t, s, store.Task{Kind: "k", RunAt: now.Add(time.Hour)})
		if c, until := due("n1", wall); c || !until.IsZero() {
			t.Fatalf("a task due later: %v %v", c, until)
		}
		held := Enqueue(t, s, store.Task{Kind: "k", RunAt: now})
		other := Enqueue(t, s, store.Task{Kind: "k", RunAt: now})
		pin := func(id, node string, until time.Time) {
			t.Helper()
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.PinTask(ctx, id, now, "pinned", node, until) }); err != nil {
				t.Fatal(err)
			}
		}
		// In a backoff (held from every node) for a minute, and handed to
		// n2 for two: due, claimable by no runner of n1 until the first
		// pin ends, and by n2 at once.
		pin(held.ID, store.HeldNode, wall.Add(time.Minute))
		pin(other.ID, "n2", wall.Add(2*time.Minute))
		if c, until := due("n1", wall); c || !until.Equal(wall.Add(time.Minute)) {
			t.Fatalf("due tasks pinned away from n1: %v %v, want the backoff's end %v", c, until, wall.Add(time.Minute))
		}
		if c, _ := due("n2", wall); !c {
			t.Fatal("a task pinned to n2 is not claimable by n2")
		}
		if c, until := due("n1", wall.Add(90*time.Second)); c != true {
			t.Fatalf("after the backoff's end: %v %v", c, until)
		}
		// Leased until the clock reaches its lease's end: not due before.
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.RescheduleTask(ctx, held.ID, now.Add(time.Hour), "") }); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ClaimTasks(ctx, "n2/boot", now, time.Minute, 5); err != nil || len(got) != 1 || got[0].ID != other.ID {
			t.Fatalf("n2's claim: %v %+v", err, got)
		}
		if c, until := due("n1", wall); c || !until.IsZero() {
			t.Fatalf("no task due at now (one leased, two later): %v %v", c, until)
		}
		_ = later
	})

	t.Run("PinnedTaskGoesToItsNode", func(t *testing.T) {
		s := open(t)
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		task := Enqueue(t, s, store.Task{Kind: "capture", RunAt: now})
		claim := func(owner string) []store.Task {
			t.Helper()
			got, err := s.ClaimTasks(ctx, owner, now, time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		pin := func(node string, until time.Time) {
			t.Helper()
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.PinTask(ctx, task.ID, now, "owned by "+node, node, until) }); err != nil {
				t.Fatal(err)
			}
		}
		if got := claim("nodeA/boot1"); len(got) != 1 {
			t.Fatalf("unpinned claim: %+v", got)
		}
		// Handed to nodeB for an hour of real time: nodeA (any boot) skips
		// it, nodeB (any boot) claims it at once, lease released by the pin.
		pin("nodeB", time.Now().Add(time.Hour))
		if got := claim("nodeA/boot2"); len(got) != 0 {
			t.Fatalf("a task pinned to nodeB was claimed by nodeA: %+v", got)
		}
		if got := claim("nodeBB/boot1"); len(got) != 0 {
			t.Fatalf("a task pinned to nodeB was claimed by nodeBB: %+v", got)
		}
		if n, _ := s.NextTaskTime(ctx); !n.Equal(now) {
			t.Fatalf("a pinned task is still due work: next %v, want %v", n, now)
		}
		got := claim("nodeB/boot7")
		if len(got) != 1 || got[0].LastError != "owned by nodeB" {
			t.Fatalf("pinned node's claim: %+v", got)
		}
		// A pin that ended (its node died) lets anyone claim the task.
		pin("nodeB", time.Now().Add(-time.Second))
		if got := claim("nodeA/boot2"); len(got) != 1 {
			t.Fatalf("claim after the pin ended: %+v", got)
		}
		// RescheduleTask clears a pin.
		pin("nodeB", time.Now().Add(time.Hour))
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.RescheduleTask(ctx, task.ID, now, "") }); err != nil {
			t.Fatal(err)
		}
		if got := claim("nodeA/boot2"); len(got) != 1 {
			t.Fatalf("claim after a reschedule cleared the pin: %+v", got)
		}
	})
	t.Run("LeaseFencing", func(t *testing.T) {
		s := open(t)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		task := Enqueue(t, s, store.Task{Kind: "backup", RunAt: now})
		c1, err := s.ClaimTasks(ctx, "w1", now, time.Minute, 1)
		if err != nil || len(c1) != 1 || c1[0].LeaseEpoch == 0 {
			t.Fatalf("claim 1: %v %+v", err, c1)
		}
		l1 := c1[0].Lease()
		put := func(ctx context.Context, key string) error {
			return s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "rp", Key: key}) })
		}
		if err := put(store.WithLease(ctx, l1), "by-w1"); err != nil {
			t.Fatalf("commit under a held lease: %v", err)
		}
		if err := s.ExtendLease(ctx, l1, now.Add(90*time.Second)); err != nil {
			t.Fatalf("extend held lease: %v", err)
		}
		// w1 stalls past its lease; the same owner name claiming again still gets a new epoch.
		c2, err := s.ClaimTasks(ctx, "w1", now.Add(3*time.Minute), time.Minute, 1)
		if err != nil || len(c2) != 1 || c2[0].LeaseEpoch <= l1.Epoch {
			t.Fatalf("claim 2: %v %+v (first epoch %d)", err, c2, l1.Epoch)
		}
		l2 := c2[0].Lease()
		err = put(store.WithLease(ctx, l1), "zombie")
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("commit under a lost lease = %v, want ErrLeaseLost", err)
		}
		if _, err := s.Get(ctx, "rp", "zombie"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a fenced-off commit is visible: %v", err)
		}
		if err := s.ExtendLease(ctx, l1, now.Add(4*time.Minute)); !errors.Is(err, store.ErrLeaseLost) || !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("extend a lost lease = %v, want ErrLeaseLost (wrapping ErrNotFound)", err)
		}
		// The new owner finishes the task; the old one still cannot commit.
		if err := s.Update(store.WithLease(ctx, l2), func(tx store.Tx) error {
			if err := tx.Put(ctx, store.Doc{Kind: "rp", Key: "by-w2"}); err != nil {
				return err
			}
			return tx.CompleteTask(ctx, task.ID)
		}); err != nil {
			t.Fatalf("commit and complete under the new lease: %v", err)
		}
		if err := put(store.WithLease(ctx, l1), "zombie"); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("commit under a lost lease after completion = %v, want ErrLeaseLost", err)
		}
		if err := put(store.WithLease(ctx, l2), "after-complete"); err != nil {
			t.Fatalf("the latest claim may still commit after completing its task: %v", err)
		}
		if err := s.ExtendLease(ctx, l2, now.Add(5*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("extend the lease of a completed task = %v, want ErrNotFound", err)
		}
		if err := put(store.WithLease(ctx, store.Lease{TaskID: "never-claimed", Owner: "w1", Epoch: 1}), "x"); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("commit under a lease never granted = %v, want ErrLeaseLost", err)
		}
	})
	t.Run("FenceOfATaskRunningHereIsKept", func(t *testing.T) {
		// A task completed by another transaction while its handler runs
		// here (an item's schedule stopped during its backup): a claim
		// made a day of the clock later by the same runner (ClaimExcept:
		// the tasks running here) keeps its fence, under which the handler
		// still writes (its job's end); one made without it collects the
		// fence as that of any task gone for a day.
		s := open(t)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		task := Enqueue(t, s, store.Task{Kind: "schedule", RunAt: now})
		l := claimOne(ctx, t, s, now)
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.CompleteTask(ctx, task.ID) }); err != nil {
			t.Fatal(err)
		}
		put := func(key string) error {
			lctx := store.WithLease(ctx, l)
			return s.Update(lctx, func(tx store.Tx) error { return tx.Put(lctx, store.Doc{Kind: "rp", Key: key}) })
		}
		for i, except := range []bool{true, false} {
			at := now.Add(time.Duration(i+2) * 24 * time.Hour)
			Enqueue(t, s, store.Task{Kind: "other", RunAt: at})
			cctx := ctx
			if except {
				cctx = store.WithClaimExcept(ctx, []string{task.ID})
			}
			claimOne(cctx, t, s, at)
			err := put(fmt.Sprint("after-claim-", i))
			if except && err != nil {
				t.Fatalf("a write under the fence of a task running here, after a claim a day later: %v", err)
			}
			if !except && !errors.Is(err, store.ErrLeaseLost) {
				t.Fatalf("a write under the fence of a task gone for a day = %v, want ErrLeaseLost", err)
			}
		}
	})
	t.Run("ConcurrentClaimsNeverShare", func(t *testing.T) {
		s := open(t)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		const n = 60
		if err := s.Update(ctx, func(tx store.Tx) error {
			for i := 0; i < n; i++ {
				if _, err := tx.Enqueue(ctx, store.Task{Kind: "k", RunAt: now}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("w%d", w)
				for {
					got, err := s.ClaimTasks(ctx, owner, now, time.Hour, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, tk := range got {
						if prev, dup := seen[tk.ID]; dup {
							t.Errorf("task %s claimed by %s and %s", tk.ID, prev, owner)
						}
						seen[tk.ID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d of %d tasks", len(seen), n)
		}
	})
	t.Run("TaskKeyReplaces", func(t *testing.T) {
		s := open(t)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 3; i++ {
			if err := s.Update(ctx, func(tx store.Tx) error {
				_, err := tx.Enqueue(ctx, store.Task{Kind: "sched", Key: "schedule:x", RunAt: now.Add(time.Duration(i) * time.Hour)})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		tk, err := s.GetTaskByKey(ctx, "schedule:x")
		if err != nil || !tk.RunAt.Equal(now.Add(2*time.Hour)) {
			t.Fatalf("%v %+v", err, tk)
		}
		got, _ := s.ClaimTasks(ctx, "w", now.Add(5*time.Hour), time.Minute, 10)
		if len(got) != 1 {
			t.Fatalf("keyed task doubled: %d", len(got))
		}
	})
	// Updates that queue while another one runs may share its store's
	// next commit (both stores group them): each must stay atomic on its
	// own, see the ones before it, and fail alone.
	t.Run("GroupedUpdatesSeeEachOtherAndFailAlone", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		const n = 16
		var mu sync.Mutex // fns may run on another goroutine than their caller's
		seen := make([][]string, n)
		errs := make([]error, n)
		panics := make([]any, n)
		logOf := func(tx store.Tx) ([]string, error) {
			d, err := tx.Get(ctx, "log", "l")
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			if err != nil || len(d.Value) == 0 {
				return nil, err
			}
			return strings.Split(string(d.Value), ","), nil
		}
		Grouped(t, s, n, func(i int) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			defer func() { panics[i] = recover() }()
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				log, err := logOf(tx)
				if err != nil {
					return err
				}
				mu.Lock()
				seen[i] = log
				mu.Unlock()
				if err := tx.Put(ctx, store.Doc{Kind: "log", Key: "l", Value: []byte(strings.Join(append(log, fmt.Sprint(i)), ","))}); err != nil {
					return err
				}
				if err := tx.Put(ctx, store.Doc{Kind: "own", Key: fmt.Sprint(i)}); err != nil {
					return err
				}
				if _, err := tx.Enqueue(ctx, store.Task{Kind: "t", Key: fmt.Sprint("task-", i)}); err != nil {
					return err
				}
				switch i % 4 {
				case 1:
					return boom
				case 2:
					panic(fmt.Sprint("bug ", i))
				case 3:
					cancel() // the caller gives up while its fn runs
					return tx.Put(ctx, store.Doc{Kind: "own", Key: fmt.Sprint(i, "-after-cancel")})
				}
				return nil
			})
		})
		final := ""
		if d, err := s.Get(ctx, "log", "l"); err == nil {
			final = string(d.Value)
		}
		var want []string
		for i := 0; i < n; i++ {
			_, ownErr := s.Get(ctx, "own", fmt.Sprint(i))
			_, taskErr := s.GetTaskByKey(ctx, fmt.Sprint("task-", i))
			switch i % 4 {
			case 0:
				if errs[i] != nil || panics[i] != nil || ownErr != nil || taskErr != nil {
					t.Fatalf("update %d: %v, panic %v; its doc: %v, its task: %v", i, errs[i], panics[i], ownErr, taskErr)
				}
				want = append(want, fmt.Sprint(i))
				continue
			case 1:
				if !errors.Is(errs[i], boom) {
					t.Fatalf("update %d: %v, want its fn's error", i, errs[i])
				}
			case 2:
				if panics[i] != fmt.Sprint("bug ", i) {
					t.Fatalf("update %d: panic %v (err %v), want its fn's panic in its caller", i, panics[i], errs[i])
				}
			case 3:
				if errs[i] == nil {
					t.Fatalf("update %d: its write after its ctx was canceled succeeded", i)
				}
			}
			if !errors.Is(ownErr, store.ErrNotFound) || !errors.Is(taskErr, store.ErrNotFound) {
				t.Fatalf("failed update %d (%v, panic %v) left its doc (%v) or its task (%v)", i, errs[i], panics[i], ownErr, taskErr)
			}
		}
		// The log has exactly the successful Updates, and each saw the ones
		// committed before it in that order.
		got := strings.Split(final, ",")
		if len(got) != len(want) {
			t.Fatalf("log %q, want the %d successful updates %v", final, len(want), want)
		}
		for pos, id := range got {
			var i int
			fmt.Sscan(id, &i)
			if i%4 != 0 || strings.Join(seen[i], ",") != strings.Join(got[:pos], ",") {
				t.Fatalf("update %s at %d of log %q saw %q", id, pos, final, seen[i])
			}
		}
	})
	t.Run("GroupedFencedUpdateFailsAlone", func(t *testing.T) {
		s := open(t)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		task := Enqueue(t, s, store.Task{Kind: "backup", RunAt: now})
		c1, err := s.ClaimTasks(ctx, "w1", now, time.Minute, 1)
		if err != nil || len(c1) != 1 {
			t.Fatalf("claim 1: %v %+v", err, c1)
		}
		c2, err := s.ClaimTasks(ctx, "w2", now.Add(3*time.Minute), time.Minute, 1)
		if err != nil || len(c2) != 1 {
			t.Fatalf("claim 2: %v %+v", err, c2)
		}
		lost, held := store.WithLease(ctx, c1[0].Lease()), store.WithLease(ctx, c2[0].Lease())
		ctxs := []context.Context{ctx, lost, held, lost, ctx}
		errs := make([]error, len(ctxs))
		Grouped(t, s, len(ctxs), func(i int) {
			errs[i] = s.Update(ctxs[i], func(tx store.Tx) error {
				return tx.Put(ctx, store.Doc{Kind: "rp", Key: fmt.Sprint(i)})
			})
		})
		for i, err := range errs {
			_, getErr := s.Get(ctx, "rp", fmt.Sprint(i))
			if ctxs[i] == lost {
				if !errors.Is(err, store.ErrLeaseLost) || !errors.Is(getErr, store.ErrNotFound) {
					t.Fatalf("update %d under the lost lease: %v, its write: %v", i, err, getErr)
				}
			} else if err != nil || getErr != nil {
				t.Fatalf("update %d beside a fenced-off one: %v, its write: %v", i, err, getErr)
			}
		}
		if err := s.Update(held, func(tx store.Tx) error { return tx.CompleteTask(ctx, task.ID) }); err != nil {
			t.Fatalf("complete under the held lease: %v", err)
		}
	})
	t.Run("CanceledWaitingUpdateWritesNothing", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		var err error
		Grouped(t, s, 2, func(i int) {
			if i == 0 {
				err = s.Update(cctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "canceled"}) })
				return
			}
			cancel() // while the first waits behind the running Update
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "after"}) }); err != nil {
				t.Error(err)
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled waiting update: %v", err)
		}
		if _, err := s.Get(ctx, "k", "canceled"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a canceled update's write: %v", err)
		}
		if _, err := s.Get(ctx, "k", "after"); err != nil {
			t.Fatalf("the update after it: %v", err)
		}
	})
	t.Run("TxReadsSeeEveryEarlierWrite", func(t *testing.T) {
		s := open(t)
		get := func() string {
			t.Helper()
			if d, ok := TxGet(t, s, "k", "X"); ok {
				return fmt.Sprintf("%s v%d %s", d.Value, d.Version, d.Scope)
			}
			return "none"
		}
		update := func(fn func(tx store.Tx) error) {
			t.Helper()
			if err := s.Update(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		steps := []struct {
			fn   func(tx store.Tx) error
			want string
		}{
			{func(tx store.Tx) error { return nil }, "none"},
			{func(tx store.Tx) error {
				return tx.Create(ctx, store.Doc{Kind: "k", Key: "x", Scope: "/S/", Value: []byte("a")})
			}, "a v1 /s/"},
			{func(tx store.Tx) error {
				return tx.Put(ctx, store.Doc{Kind: "k", Key: "x", Scope: "/s/", Value: []byte("b")})
			}, "b v2 /s/"},
			{func(tx store.Tx) error { _, err := tx.DeleteScope(ctx, "k", "/s/"); return err }, "none"},
			{func(tx store.Tx) error {
				return tx.Put(ctx, store.Doc{Kind: "k", Key: "X", Scope: "/t/", Value: []byte("c")})
			}, "c v1 /t/"},
			{func(tx store.Tx) error {
				if err := tx.Put(ctx, store.Doc{Kind: "k", Key: "x", Scope: "/t/", Value: []byte("d")}); err != nil {
					return err
				}
				return errors.New("undone")
			}, "c v1 /t/"},
			{func(tx store.Tx) error { return tx.Delete(ctx, "k", "x") }, "none"},
		}
		for i, st := range steps {
			get() // the document as the last step left it, read before this one
			if err := s.Update(ctx, st.fn); err != nil && err.Error() != "undone" {
				t.Fatalf("step %d: %v", i, err)
			}
			if got := get(); got != st.want {
				t.Fatalf("step %d: read in a transaction %q, want %q", i, got, st.want)
			}
		}
		update(func(tx store.Tx) error { return nil })
	})
	t.Run("ConcurrentUpdates", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					err := s.Update(ctx, func(tx store.Tx) error {
						d, err := tx.Get(ctx, "c", "counter")
						n := 0
						if err == nil {
							fmt.Sscan(string(d.Value), &n)
						} else if !errors.Is(err, store.ErrNotFound) {
							return err
						}
						return tx.Put(ctx, store.Doc{Kind: "c", Key: "counter", Value: []byte(fmt.Sprint(n + 1))})
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		d, _ := s.Get(ctx, "c", "counter")
		if string(d.Value) != "160" {
			t.Fatalf("lost updates: counter=%s", d.Value)
		}
	})
}

// claimOne claims the one task due at now for "w1" and returns its lease.
func claimOne(ctx context.Context, t *testing.T, s store.Store, now time.Time) store.Lease {
	t.Helper()
	c, err := s.ClaimTasks(ctx, "w1", now, time.Minute, 1)
	if err != nil || len(c) != 1 {
		t.Fatalf("claim at %v: %v %+v", now, err, c)
	}
	return c[0].Lease()
}

// Grouped calls update(0), …, update(n-1), each on a goroutine of its own
// and in that order, while an Update of s is running (its fn waits), so
// that their Updates queue behind it in order and, on a store that groups
// Updates, run in one group; it returns once all have returned. A store
// that reports QueuedUpdates is watched until each has queued; on another
// the queueing is given a moment.
func Grouped(t *testing.T, s store.Store, n int, update func(i int)) {
	t.Helper()
	release := Hold(t, s)
	queued, counted := s.(interface{ QueuedUpdates() int })
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			update(i)
		}()
		if counted {
			testsvc.WaitFor(t, fmt.Sprintf("update %d to queue", i), func() bool { return queued.QueuedUpdates() > i })
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	release()
	wg.Wait()
}

// Hold starts an Update of s whose fn waits (it writes a document of kind
// "held") and returns once that fn runs: the Updates started meanwhile
// queue behind it. release lets it end and waits until it committed.
func Hold(t *testing.T, s store.Store) (release func()) {
	t.Helper()
	ctx := context.Background()
	running, end := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx store.Tx) error {
			close(running)
			<-end
			return tx.Put(ctx, store.Doc{Kind: "held", Key: "h"})
		})
	}()
	select {
	case <-running:
	case err := <-done: // its fn never ran: no wait for it
		t.Fatalf("the held update ended before its fn ran: %v", err)
	}
	return func() {
		t.Helper()
		close(end)
		testsvc.WaitDone(t, "the held update", done)
	}
}

// TxGet reads a document inside an Update of s (where a store may answer
// from what its writer remembers): the document, or found false; another
// error fails tb.
func TxGet(tb testing.TB, s store.Store, kind, key string) (d store.Doc, found bool) {
	tb.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		var err error
		d, err = tx.Get(ctx, kind, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return d, found
}

// Enqueue enqueues task in a transaction of its own and returns it as
// enqueued (with its id); a failure fails tb.
func Enqueue(tb testing.TB, s store.Store, task store.Task) store.Task {
	tb.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		var err error
		task, err = tx.Enqueue(ctx, task)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return task
}

// SQLite opens a fresh SQLite store in tb's temporary directory, closed
// when tb ends: the store of tests that need a real one.
func SQLite(tb testing.TB) *store.SQLite {
	tb.Helper()
	return SQLiteAt(tb, filepath.Join(tb.TempDir(), "db"))
}

// SQLiteAt opens the SQLite store at path (created when absent), closed
// when tb ends (a test that closes it first, to reopen it as a restarted
// process would, may).
func SQLiteAt(tb testing.TB, path string) *store.SQLite {
	tb.Helper()
	s, err := store.OpenSQLite(context.Background(), path, nil)
	return opened(tb, s, err)
}

// Postgres opens a store on the PostgreSQL database at url, closed when tb
// ends. Stores opened on one url are replicas of one Safehold.
func Postgres(tb testing.TB, url string) *store.Postgres {
	tb.Helper()
	s, err := store.OpenPostgres(context.Background(), url, nil)
	return opened(tb, s, err)
}

// opened returns the store s, closed when tb ends; err, the error of
// opening it, fails tb.
func opened[S store.Store](tb testing.TB, s S, err error) S {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Replicas runs fn with the metadata stores of two replicas: on SQLite one
// store (one process) passed twice, on PostgreSQL two stores on one fresh
// schema (internal/testsvc starts the server).
func Replicas(t *testing.T, fn func(t *testing.T, a, b store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s := SQLite(t)
		fn(t, s, s)
	})
	t.Run("postgres", func(t *testing.T) {
		url := testsvc.PostgresSchema(t)
		fn(t, Postgres(t, url), Postgres(t, url))
	})
}
