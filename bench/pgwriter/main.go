// Command pgwriter measures what the PostgreSQL writer's statements cost the
// database's backend (its own user+system CPU ticks from /proc, so the
// database must run on this host), in variants of the schema or of the
// statements side by side, alternating their order round by round: each
// variant gets a schema of its own (the store's migrations, then its DDL)
// and one connection, on which it runs -n fns per round as bench/mixed's
// writes make them (groups of -group fns in one transaction as the writer
// sends them: BEGIN, its settings, the advisory lock, writer_gen; a SAVEPOINT
// per fn; per five fns two resource-group inserts, a policy insert, an
// operation insert and the deletes of the oldest group and policy past 65
// of each; writer_gen's bump and COMMIT), and prints each variant's ticks
// per round, their median in us per fn and the WAL each round wrote.
//
//	go run ./bench/pgwriter -db 'postgres://…' -n 5000 -rounds 14 [-v base,plain]
//
// Variants: base (the store's upsert), plain (a plain INSERT for the new
// documents), notype (docs_type dropped), noscope (docs_scope dropped),
// nosp (no SAVEPOINTs), ff70 (docs at fillfactor 70). Use a cluster no test
// or other benchmark uses: each variant's schema is dropped and made again.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
)

const (
	putSQL    = `INSERT INTO docs(kind, key, scope, type, value, version, created, updated) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) ON CONFLICT (kind, key) DO UPDATE SET scope = excluded.scope, type = excluded.type, value = excluded.value, version = docs.version + 1, updated = excluded.updated`
	createSQL = `INSERT INTO docs(kind, key, scope, type, value, version, created, updated) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)`
	delSQL    = `DELETE FROM docs WHERE kind = $1 AND key = $2`
)

type variant struct {
	name   string
	ddl    string
	insert string
	nosp   bool
}

func ticks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		panic(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func main() {
	db := flag.String("db", "", "the database's URL (postgres://…)")
	n := flag.Int("n", 3000, "fns per round (each: 3 inserts, 2 deletes in steady state)")
	rounds := flag.Int("rounds", 4, "")
	group := flag.Int("group", 16, "fns per transaction")
	only := flag.String("v", "", "comma list of variants")
	flag.Parse()
	ctx := context.Background()
	sub := "/subscriptions/5ecb0a4a-6d3c-4fa7-9a0a-000000000001"
	vault := sub + "/resourcegroups/rg-bench/providers/microsoft.dataprotection/backupvaults/vault1"
	val := func(n int) []byte { return []byte(strings.Repeat("x", n)) }
	all := []variant{
		{name: "base", insert: putSQL},
		{name: "plain", insert: createSQL},
		{name: "notype", ddl: `DROP INDEX docs_type`, insert: putSQL},
		{name: "noscope", ddl: `DROP INDEX docs_scope`, insert: putSQL},
		{name: "nosp", insert: putSQL, nosp: true},
		{name: "ff70", ddl: `ALTER TABLE docs SET (fillfactor = 70)`, insert: putSQL},
	}
	var vs []variant
	for _, v := range all {
		if *only == "" || strings.Contains(","+*only+",", ","+v.name+",") {
			vs = append(vs, v)
		}
	}
	type state struct {
		v      variant
		conn   *pgx.Conn
		pid    int
		seq    int
		groups []string
		pols   []string
		ticks  []int64
		wal    []int64
		wall   []time.Duration
	}
	var ss []*state
	for _, v := range vs {
		schema := "pgu_" + v.name
		c0, err := pgx.Connect(ctx, *db)
		if err != nil {
			panic(err)
		}
		if _, err := c0.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE; CREATE SCHEMA "+schema); err != nil {
			panic(err)
		}
		c0.Close(ctx)
		sep := "?"
		if strings.Contains(*db, "?") {
			sep = "&"
		}
		url := *db + sep + "search_path=" + schema
		st, err := store.OpenPostgres(ctx, url, clock.Real{})
		if err != nil {
			panic(err)
		}
		st.Close()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			panic(err)
		}
		if v.ddl != "" {
			if _, err := conn.Exec(ctx, v.ddl); err != nil {
				panic(err)
			}
		}
		var pid int
		conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid)
		ss = append(ss, &state{v: v, conn: conn, pid: pid})
	}
	now := time.Now()
	runRound := func(s *state) {
		var lsn0, lsn1 int64
		s.conn.QueryRow(ctx, "SELECT pg_current_wal_lsn() - '0/0'").Scan(&lsn0)
		t0 := ticks(s.pid)
		w0 := time.Now()
		for done := 0; done < *n; {
			var b pgx.Batch
			b.Queue(`BEGIN`)
			b.Queue(`SELECT set_config('statement_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true), set_config('safehold.writer', 'on', true)`, "0", "0")
			b.Queue(`SELECT pg_advisory_xact_lock($1)`, int64(42))
			b.Queue(`SELECT gen, txid_current() FROM writer_gen`)
			for i := 0; i < *group && done < *n; i, done = i+1, done+1 {
				if !s.v.nosp {
					b.Queue(`SAVEPOINT u`)
				}
				s.seq++
				switch s.seq % 5 {
				case 0, 1: // rg-put
					k := fmt.Sprintf("%s/resourcegroups/mix-%d-%d", sub, s.seq%64, s.seq)
					b.Queue(s.v.insert, "resource", k, sub+"/", "microsoft.resources/resourcegroups", val(241), now)
					s.groups = append(s.groups, k)
				case 2: // policy-put
					k := fmt.Sprintf("%s/backuppolicies/p-%d-%d", vault, s.seq%64, s.seq)
					b.Queue(s.v.insert, "resource", k, vault+"/", "microsoft.dataprotection/backupvaults/backuppolicies", val(1379), now)
					s.pols = append(s.pols, k)
				case 3: // rg-delete: an operation and the group's delete
					b.Queue(s.v.insert, "operation", fmt.Sprintf("01a245c6-%04x-7b42-b9bb-%012d", s.seq%65536, s.seq), "", "", val(500), now)
					if len(s.groups) > 65 {
						b.Queue(delSQL, "resource", s.groups[0])
						s.groups = s.groups[1:]
					}
				case 4: // policy-delete
					if len(s.pols) > 65 {
						b.Queue(delSQL, "resource", s.pols[0])
						s.pols = s.pols[1:]
					}
				}
			}
			b.Queue(`UPDATE writer_gen SET gen = gen + 1 RETURNING gen`)
			b.Queue(`COMMIT`)
			if err := s.conn.SendBatch(ctx, &b).Close(); err != nil {
				panic(err)
			}
		}
		s.wall = append(s.wall, time.Since(w0))
		s.ticks = append(s.ticks, ticks(s.pid)-t0)
		s.conn.QueryRow(ctx, "SELECT pg_current_wal_lsn() - '0/0'").Scan(&lsn1)
		s.wal = append(s.wal, lsn1-lsn0)
	}
	for r := 0; r < *rounds; r++ {
		order := make([]*state, len(ss))
		copy(order, ss)
		if r%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, s := range order {
			runRound(s)
		}
		fmt.Fprintf(os.Stderr, "round %d done\n", r+1)
	}
	med := func(x []int64) int64 {
		y := append([]int64(nil), x...)
		sort.Slice(y, func(i, j int) bool { return y[i] < y[j] })
		return y[len(y)/2]
	}
	for _, s := range ss {
		fmt.Printf("%-8s ticks %v median %d (%.1f us/fn)  WAL/round %d KB  wall %v\n", s.v.name, s.ticks, med(s.ticks),
			float64(med(s.ticks))*10000/float64(*n), med(s.wal)/1024, s.wall)
	}
}
