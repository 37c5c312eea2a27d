#!/usr/bin/env bash
# Mixed ARM load: starts a fresh `safehold serve` and drives it with 64
# connections of reads and writes (resource-group PUT/DELETE, disk-policy
# PUT/DELETE, lists of groups, disks, policies and both kinds of jobs; about
# 45 % writes), printing requests/s, p50, p99 and max per operation and overall,
# the server's CPU time per request and the load average; on PostgreSQL
# (STORE) started on this host, also the database's CPU time per request
# (its processes': the server's statements cost it as much as the server).
#   bash bench/mixed.sh [seconds] [connections]
# STORE=postgres://… runs it on PostgreSQL (passed as --store) instead of the
# default SQLite file (each run starts on an empty schema of its own).
# BASE=REV also runs the server built at git revision REV first, in the same
# run, and prints both side by side with the ratios (before/after figures on
# a shared machine). ROUNDS=N (with BASE; default 1) runs N such pairs,
# alternating which server goes first (the first of a pair tends to win on a
# loaded machine), and prints each pair's ratios and their medians.
# PROFILE=FILE writes the server's CPU profile of the
# (last) run to FILE (go tool pprof FILE); TRACE=FILE its execution trace
# (go tool trace FILE); WAITPROFILE=PREFIX its block and mutex profiles
# (PREFIX.block, PREFIX.mutex). MIXED_FLAGS are passed to the load generator
# (e.g. -nethttp, its former net/http client; -cpuprofile FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
conns=${2:-64}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/safehold" ./cmd/safehold
go build -o "$work/mixed" ./bench/mixed
if [ -n "${BASE:-}" ]; then
	rev=$(git rev-parse --short "$BASE")
	mkdir -p "$work/base-src"
	git archive "$rev" | tar -x -C "$work/base-src"
	(cd "$work/base-src" && go build -o "$work/safehold-base" ./cmd/safehold)
fi

pgcpu() { # CPU ticks of STORE's PostgreSQL cluster's processes, if it runs here
	local port=${STORE#*@*:} pm
	port=${port%%/*}
	pm=$(pgrep -f -- "postgres .*-p $port( |$)" | head -1)
	[ -n "$pm" ] || { echo 0; return; }
	for p in $pm $(pgrep -P "$pm"); do awk '{print $14+$15}' /proc/$p/stat 2>/dev/null; done | awk '{s+=$1} END {print s+0}'
}

run() { # name binary
	local name=$1 bin=$2 store_args=() prof=() port=18445
	if [ -n "${STORE:-}" ]; then
		# A schema of its own per run, so each server starts empty.
		local schema="mixed_$$_$name"
		schema=${schema//[^a-zA-Z0-9_]/_}
		local sep='?'; [[ $STORE == *\?* ]] && sep='&'
		store_args=(--store "${STORE}${sep}search_path=$schema")
		psql "$STORE" -qc "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null
	fi
	prof=(env)
	[ -n "${PROFILE:-}" ] && prof+=(SAFEHOLD_CPUPROFILE="$(realpath -m "$PROFILE")")
	[ -n "${TRACE:-}" ] && prof+=(SAFEHOLD_TRACE="$(realpath -m "$TRACE")")
	[ -n "${WAITPROFILE:-}" ] && prof+=(SAFEHOLD_WAITPROFILE="$(realpath -m "$WAITPROFILE")")
	rm -rf "$work/data"
	"${prof[@]}" "$bin" serve --data-dir "$work/data" --addr 127.0.0.1:$port "${store_args[@]}" >"$work/server-$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -f "$work/data/connection.json" ] && curl -sk https://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
	local cpu0 load0 pg0=0
	[ -n "${STORE:-}" ] && pg0=$(pgcpu)
	cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "== $name ($bin); store: ${STORE:-sqlite (default)}; load average before: $load0"
	# shellcheck disable=SC2086 # MIXED_FLAGS are words
	"$work/mixed" -conn "$work/data/connection.json" -c "$conns" -d "${secs}s" ${MIXED_FLAGS:-} | tee "$work/$name.out"
	local cpu1 n
	cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
	n=$(awk '$1=="overall" {print $2}' "$work/$name.out")
	if [ -n "${STORE:-}" ] && [ "$pg0" != 0 ]; then
		awk -v c="$(($(pgcpu) - pg0))" -v hz="$(getconf CLK_TCK)" -v n="$n" -v s="$secs" 'BEGIN {
			printf "PostgreSQL CPU %.1f s over the run: %.2f ms per request, %.2f cores\n", c/hz, 1000*c/hz/n, c/hz/s }' | tee -a "$work/$name.out"
	fi
	awk -v c="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" -v n="$n" -v s="$secs" 'BEGIN {
		printf "server CPU %.1f s over the run: %.2f ms per request, %.2f cores\n", c/hz, 1000*c/hz/n, c/hz/s }' | tee -a "$work/$name.out"
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	kill $pid; wait $pid 2>/dev/null || true
	pid=
	if [ -n "${STORE:-}" ]; then psql "$STORE" -qc "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null; fi
}

rounds=${ROUNDS:-1}
[ -n "${BASE:-}" ] || rounds=1
for r in $(seq "$rounds"); do
	if [ -z "${BASE:-}" ]; then
		run safehold "$work/safehold"
	elif [ $((r % 2)) = 1 ]; then
		run "base@$rev.$r" "$work/safehold-base"
		run "safehold.$r" "$work/safehold"
	else
		run "safehold.$r" "$work/safehold"
		run "base@$rev.$r" "$work/safehold-base"
	fi
done

if [ -n "${BASE:-}" ]; then
	echo "== summary (same run, $rounds pair(s) alternating which goes first, $secs s, $conns connections; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
	# CPU ms/req: the server's; PG ms/req: PostgreSQL's (0 when not measured)
	summary() { awk '$1=="overall" {o = $3 " " $4 " " $5} /^server CPU/ {c = $8} /^PostgreSQL CPU/ {g = $8} END {print o, c, g + 0}' "$work/$1.out"; }
	printf "%-18s %9s %9s %9s %12s %10s\n" "" "req/s" "p50" "p99" "CPU ms/req" "PG ms/req"
	: >"$work/ratios"
	for r in $(seq "$rounds"); do
		read -r br bp50 bp99 bcpu bpg <<<"$(summary "base@$rev.$r")"
		read -r ar ap50 ap99 acpu apg <<<"$(summary "safehold.$r")"
		printf "%-18s %9s %9s %9s %12s %10s\n" "base@$rev.$r" "$br" "$bp50" "$bp99" "$bcpu" "$bpg" "safehold.$r" "$ar" "$ap50" "$ap99" "$acpu" "$apg"
		awk -v a="$ar" -v b="$br" -v pa="${ap99%ms}" -v pb="${bp99%ms}" -v ca="$acpu" -v cb="$bcpu" -v ga="$apg" -v gb="$bpg" -v r="$r" 'BEGIN {
			g = gb > 0 ? ga / gb : 0
			printf "ratio %d (this/base): req/s %.2fx, p99 %.2fx, CPU per request %.2fx", r, a/b, pa/pb, ca/cb
			if (gb > 0) printf ", PostgreSQL CPU per request %.2fx", g
			printf "\n"
			printf "%f %f %f %f\n", a/b, pa/pb, ca/cb, g >>"'"$work/ratios"'" }'
	done
	if [ "$rounds" -gt 1 ]; then
		med() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
		pgmed=""
		[ -n "${STORE:-}" ] && pgmed=", PostgreSQL CPU per request $(cut -d' ' -f4 "$work/ratios" | med)x"
		echo "median ratio (this/base) of $rounds pairs: req/s $(cut -d' ' -f1 "$work/ratios" | med)x, p99 $(cut -d' ' -f2 "$work/ratios" | med)x, CPU per request $(cut -d' ' -f3 "$work/ratios" | med)x$pgmed"
	fi
fi
