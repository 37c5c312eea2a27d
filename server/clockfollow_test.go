package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// TestClockFollowedIsNotWrittenOverANewerChange: two replicas on one
// PostgreSQL; the clock set (frozen) through replica 0, which replica 1
// follows, then resumed through replica 0, and the database loses both
// commits before replica 1 saw the resume (the stored state goes back to
// the one before the set, under the version before it), as after
// PostgreSQL crashed just after a clock resume with synchronous_commit off.
// Replica 0, which made the change, writes its running clock again; replica
// 1, whose frozen state it only restored, takes the stored one and then
// the resume, and both run. Before, replica 1 wrote its frozen state over
// the resume written again (a version it had not seen holding another
// state: 'the store lost my change'), replica 0 restored that newer
// version, and both clocks stayed frozen for good, the work due after the
// set never claimed (found by TestReplicasOutages, SAFEHOLD_OUTAGES=scheduled:
// a scheduled backup's retry in 2 s stayed InProgress past 4 minutes).
func TestClockFollowedIsNotWrittenOverANewerChange(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	e0 := testserver.Start(t, testserver.WithStore(url))
	e1 := testserver.Start(t, testserver.WithStore(url))
	ctx := context.Background()
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	frozen := func(e *testserver.Env) (bool, time.Time) {
		t.Helper()
		resp, m := call(t, e, "GET", adminURL("/clock"), nil)
		mustStatus(t, 200, resp, m)
		at, err := time.Parse(time.RFC3339Nano, m["now"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return m["frozen"].(bool), at
	}
	var before []byte
	if err := db.QueryRow(ctx, `SELECT value FROM docs WHERE kind = 'config' AND key = 'clock'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	setClock(t, e0, at)
	testsvc.WaitFor(t, "replica 1 to follow the clock set", func() bool {
		f, now := frozen(e1)
		return f && now.Equal(at)
	})
	// The database loses the resume's commit and the set's before it
	// (replica 1 never sees the resume), and, while replica 0 writes its
	// resume again, does not take replica 1's writes of a frozen clock
	// (replica 1 writes after replica 0).
	for _, q := range []string{
		`CREATE SEQUENCE lose_resume`,
		`CREATE FUNCTION lose_resume() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'config' AND NEW.key = 'clock' AND NOT (convert_from(NEW.value, 'UTF8')::jsonb->>'frozen')::boolean
				AND nextval('lose_resume') = 1 THEN
				UPDATE docs SET value = decode('` + fmt.Sprintf("%x", before) + `', 'hex'), version = OLD.version - 1
					WHERE kind = 'config' AND key = 'clock';
			END IF;
			RETURN NULL;
		END $$`,
		`CREATE TRIGGER lose_resume AFTER UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION lose_resume()`,
		`CREATE FUNCTION refuse_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'config' AND NEW.key = 'clock' AND (convert_from(NEW.value, 'UTF8')::jsonb->>'frozen')::boolean THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_frozen BEFORE UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION refuse_frozen()`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	resp, m := call(t, e0, "POST", adminURL("/clock/resume"), nil)
	mustStatus(t, 200, resp, m)
	// A write by hand, which every replica's store sees (writer_gen): the
	// loss happened in replica 0's own commit, which its store remembers.
	if _, err := db.Exec(ctx, `UPDATE docs SET version = version WHERE kind = 'config' AND key = 'clock'`); err != nil {
		t.Fatal(err)
	}
	testsvc.WaitFor(t, "replica 0 to write its resume again", func() bool {
		var v []byte
		if err := db.QueryRow(ctx, `SELECT value FROM docs WHERE kind = 'config' AND key = 'clock'`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		var st struct{ Frozen bool }
		json.Unmarshal(v, &st)
		var lost int64
		db.QueryRow(ctx, `SELECT last_value FROM lose_resume`).Scan(&lost)
		return lost >= 1 && !st.Frozen && !bytes.Equal(v, before)
	})
	if _, err := db.Exec(ctx, `DROP TRIGGER refuse_frozen ON docs`); err != nil {
		t.Fatal(err)
	}
	testsvc.WaitFor(t, "both replicas' clocks to run from the resume", func() bool {
		f0, now0 := frozen(e0)
		f1, now1 := frozen(e1)
		return !f0 && !f1 && now0.Sub(at) < time.Hour && now1.Sub(now0).Abs() < 30*time.Second
	})
}
