package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestClockChangeTheDatabaseLostIsWrittenAgain: two replicas on one
// PostgreSQL; the clock set (frozen) through replica 0, then resumed there,
// and both follow. Then the database loses the resume's commit, as a crash
// with synchronous_commit off or a failover to a standby behind the primary
// does: the stored state goes back to the frozen one, under its older
// version, or under the same version (a replica restarted since wrote the
// state it found). Replica 0, which made the change, writes it again, and
// a replica restarted afterwards runs on the same clock as replica 0. The
// replicas kept their clocks apart for good (each restores only newer
// versions): after a PostgreSQL crash right after a clock resume, one
// replica's clock ran and the others' stayed frozen, and the work handed
// to one of them was never claimed (found by TestReplicasOutages,
// SAFEHOLD_OUTAGES=scheduled).
func TestClockChangeTheDatabaseLostIsWrittenAgain(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	e0 := testserver.Start(t, testserver.WithStore(url))
	e1 := testserver.Start(t, testserver.WithStore(url))
	ctx := context.Background()
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	type clockState struct {
		Now    time.Time
		Frozen bool
	}
	clockOf := func(e *testserver.Env) clockState {
		t.Helper()
		resp, m := call(t, e, "GET", adminURL("/clock"), nil)
		mustStatus(t, 200, resp, m)
		at, err := time.Parse(time.RFC3339Nano, m["now"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return clockState{at, m["frozen"].(bool)}
	}
	stored := func() (clockState, []byte, int64) {
		t.Helper()
		var v []byte
		var version int64
		if err := db.QueryRow(ctx, `SELECT value, version FROM docs WHERE kind = 'config' AND key = 'clock'`).Scan(&v, &version); err != nil {
			t.Fatal(err)
		}
		var st clockState
		if err := json.Unmarshal(v, &st); err != nil {
			t.Fatalf("the stored clock state %s: %v", v, err)
		}
		return st, v, version
	}

	for _, sameVersion := range []bool{false, true} {
		at := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
		setClock(t, e0, at)
		testsvc.WaitFor(t, "replica 1 to follow the clock set", func() bool {
			c := clockOf(e1)
			return c.Frozen && c.Now.Equal(at)
		})
		_, frozenValue, frozenVersion := stored()
		resp, m := call(t, e0, "POST", adminURL("/clock/resume"), nil)
		mustStatus(t, 200, resp, m)
		testsvc.WaitFor(t, "replica 1 to follow the clock resumed", func() bool { return !clockOf(e1).Frozen })
		_, _, resumedVersion := stored()

		// The database loses the resume.
		lostTo := frozenVersion
		if sameVersion {
			lostTo = resumedVersion
		}
		if _, err := db.Exec(ctx, `UPDATE docs SET value = $1, version = $2 WHERE kind = 'config' AND key = 'clock'`, frozenValue, lostTo); err != nil {
			t.Fatal(err)
		}
		testsvc.WaitFor(t, "the resume to be stored again", func() bool {
			st, _, _ := stored()
			return !st.Frozen
		})
		e1.Restart()
		c0, c1 := clockOf(e0), clockOf(e1)
		if c0.Frozen || c1.Frozen || c1.Now.Sub(c0.Now).Abs() > 30*time.Second || c0.Now.Sub(at) > time.Hour {
			t.Fatalf("the database lost the resume (to version %d): replica 0's clock %+v, replica 1's after a restart %+v; want both running from %s", lostTo, c0, c1, at)
		}
	}
}
