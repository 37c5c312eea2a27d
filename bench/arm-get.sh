#!/usr/bin/env bash
# Load benchmark of authenticated ARM GETs over TLS on loopback: starts a
# fresh `safehold serve`, creates a resource group and drives it with wrk
# (64 connections, 2 threads); in the same run it drives a bare net/http TLS
# server (bench/baseline) that answers the same body with the same
# certificate, and prints the ratios. Installs wrk from Debian when missing.
#   bash bench/arm-get.sh [seconds per drive]
# ROUNDS=N (default 5) drives each server N times, alternating: odd rounds
# Safehold then the baseline, even rounds the baseline first. Each round
# prints both servers' req/s, p99 and CPU per request and their ratios; the
# summary gives each ratio's median over the rounds (and its range). One
# drive's ratio swings with what the neighbours do in those seconds; the
# median of rounds taken a few seconds apart is what to compare. Before the
# rounds every server gets WARM seconds (default 2) of the same load, not
# counted (fresh connections, caches, the heap's first growth).
# PIN=1 gives the servers one core (GOMAXPROCS=1, CPU 0) and wrk the other
# (CPU 1), so the load generator does not steal the server's core on a
# 2-core machine; PIN=0 (default) lets both share every core.
# PROFILE=FILE writes Safehold's CPU profile of the run (all rounds) to FILE.
# BASE=REV also runs the server built at git revision REV, in the same run
# (in each round next to this tree's, before it in odd rounds and after it
# in even ones, on a data dir and port of its own),
# and prints it in the summary: before/after figures on a shared machine,
# with the medians of this tree's figures over BASE's, round by round.
# With PAIRED=1 the two are driven at the same time (one wrk thread and 32
# connections each), so both see the same neighbours: their CPU per request
# compares even on a busy host (their ratios to the baseline, driven alone
# with 64, do not).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
rounds=${ROUNDS:-5}
warm=${WARM:-2}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/safehold" ./cmd/safehold
go build -o "$work/token" ./bench/token
go build -o "$work/baseline" ./bench/baseline
if [ -n "${BASE:-}" ]; then
	rev=$(git rev-parse --short "$BASE")
	mkdir -p "$work/base-src"
	git archive "$rev" | tar -x -C "$work/base-src"
	(cd "$work/base-src" && go build -o "$work/safehold-base" ./cmd/safehold)
fi
server_cmd=()
wrk_cmd=(wrk)
if [ "${PIN:-0}" = 1 ]; then
	export GOMAXPROCS=1
	server_cmd=(taskset -c 0)
	wrk_cmd=(taskset -c 1 wrk)
fi
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
idle() { awk '$1=="cpu" {print $5}' /proc/stat; } # the host's idle ticks (all CPUs)
# drive NAME OUT SECS CONNS...: wrk against the server NAME for SECS
# seconds; $work/OUT.out holds wrk's report and $work/OUT.cpu the server's
# CPU ticks (user+system) during it.
drive() {
	local name=$1 out=$2 d=$3 pid c0
	pid=$(cat "$work/$name.pid")
	c0=$(cpu "$pid")
	i0=$(idle)
	# in a subshell whose children's times (user, system) are wrk's own
	("${wrk_cmd[@]}" "${@:4}" -d"${d}s" --latency -H "Authorization: Bearer $(cat "$work/$name.tok")" "$(cat "$work/$name.url")" >"$work/$out.out"
		times >"$work/$out.times") # (not in a pipe: that would be another subshell's)
	awk 'NR==2 {s=0; for (i=1; i<=2; i++) {split($i, a, /[ms]/); s+=60*a[1]+a[2]}; print s}' "$work/$out.times" >"$work/$out.wrk"
	echo "$(($(cpu "$pid") - c0))" >"$work/$out.cpu"
	echo "$(($(idle) - i0))" >"$work/$out.idle"
}
# start NAME BINARY PORT [PROFILE]: serves a fresh data dir and creates the
# group; $work/NAME.{pid,url} say where, $work/{tok,path,server*.pem,body.json}
# what the baseline is driven with (the same certificate, path, token, body).
start() {
	local name=$1 bin=$2 port=$3 prof=(env) pid
	[ -n "${4:-}" ] && prof+=(SAFEHOLD_CPUPROFILE="$(realpath -m "$4")")
	local data="$work/data-$name"
	"${prof[@]}" "${server_cmd[@]}" "$bin" serve --data-dir "$data" --addr 127.0.0.1:$port >"$work/server-$name.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	echo "$pid" >"$work/$name.pid"
	for _ in $(seq 300); do [ -f "$data/connection.json" ] && curl -sk https://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
	[ -f "$data/connection.json" ] || { echo "$name did not start within 60 s:" >&2; tail "$work/server-$name.log" >&2; exit 1; }
	local tok sub path
	tok=$("$work/token" "$data/connection.json")
	sub=$(sed -n 's/.*"subscriptionId": "\(.*\)".*/\1/p' "$data/connection.json")
	path="/subscriptions/$sub/resourcegroups/bench?api-version=2021-04-01"
	curl -s --cacert "$data/tls/ca.pem" -X PUT -H "Authorization: Bearer $tok" -H "Content-Type: application/json" -d '{"location":"westus"}' "https://127.0.0.1:$port$path" >/dev/null
	curl -s --cacert "$data/tls/ca.pem" -H "Authorization: Bearer $tok" "https://127.0.0.1:$port$path" >"$work/body.json"
	cp "$data/tls/server.pem" "$work/server.pem"
	cp "$data/tls/server-key.pem" "$work/server-key.pem"
	echo "$path" >"$work/path"
	echo "$tok" >"$work/tok"
	echo "https://127.0.0.1:$port$path" >"$work/$name.url"
	echo "$tok" >"$work/$name.tok"
}
# freeport: a loopback TCP port nobody listens on now (other benchmarks and
# servers may hold fixed ones).
freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
stop() { kill "$(cat "$work/$1.pid")"; wait "$(cat "$work/$1.pid")" 2>/dev/null || true; }

names=()
if [ -n "${BASE:-}" ]; then
	start "base@$rev" "$work/safehold-base" "$(freeport)"
	names+=("base@$rev")
fi
# This tree's server last: its token, certificate and body are the baseline's.
start safehold "$work/safehold" "$(freeport)" "${PROFILE:-}"
names+=(safehold)
bport=$(freeport)
"${server_cmd[@]}" "$work/baseline" -addr 127.0.0.1:$bport -cert "$work/server.pem" -key "$work/server-key.pem" -body "$work/body.json" 2>"$work/baseline.log" &
echo $! >"$work/baseline.pid"
pids+=("$(cat "$work/baseline.pid")")
for _ in $(seq 50); do curl -sk https://127.0.0.1:$bport/ >/dev/null && break; sleep 0.1; done
echo "https://127.0.0.1:$bport$(cat "$work/path")" >"$work/baseline.url"
cp "$work/tok" "$work/baseline.tok"

# the Safehold servers of a round: one after the other, or together (PAIRED)
drive_safehold() { # round
	if [ "${PAIRED:-0}" = 1 ] && [ "${#names[@]}" = 2 ]; then
		drive "${names[0]}" "${names[0]}.$1" "$secs" -t1 -c32 &
		local bg=$!
		drive "${names[1]}" "${names[1]}.$1" "$secs" -t1 -c32
		wait "$bg"
	else
		local n order=("${names[@]}")
		[ $(($1 % 2)) = 0 ] && order=($(printf '%s\n' "${names[@]}" | tac))
		for n in "${order[@]}"; do drive "$n" "$n.$1" "$secs" -t2 -c64; done
	fi
}
for n in "${names[@]}" baseline; do drive "$n" "$n.warm" "$warm" -t2 -c64; done

rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.out"; }
p99() { awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$work/$1.out"; }
reqs() { awk '/requests in/ {print $1}' "$work/$1.out"; }
# CPU per request: the server process's user+system time over the requests
# wrk counted; it depends less than req/s on how much of the machine others take.
usreq() { awk -v c="$(cat "$work/$1.cpu")" -v n="$(reqs "$1")" -v hz="$hz" 'BEGIN {printf "%.1f", 1e6*c/hz/n}'; }
# wrkus OUT: wrk's own CPU per request (us); idlepct OUT: the share of the
# host's CPU time (all its CPUs) idle during the drive. A server that leaves
# CPUs idle while its clients wait for it waits on something else.
wrkus() { awk -v c="$(cat "$work/$1.wrk")" -v n="$(reqs "$1")" 'BEGIN {printf "%.1f", 1e6*c/n}'; }
idlepct() { awk -v i="$(cat "$work/$1.idle")" -v hz="$hz" -v d="$secs" -v n="$(nproc)" 'BEGIN {printf "%.0f", 100*i/(hz*d*n)}'; }
# figures NAME ROUND: req/s p99(ms) CPU(us/request)
figures() { echo "$(rps "$1.$2") $(p99 "$1.$2") $(usreq "$1.$2")"; }

echo "== $rounds rounds of ${secs}s per server (load average $(loadavg))"
for r in $(seq "$rounds"); do
	if [ $((r % 2)) = 1 ]; then
		drive_safehold "$r"
		drive baseline "baseline.$r" "$secs" -t2 -c64
	else
		drive baseline "baseline.$r" "$secs" -t2 -c64
		drive_safehold "$r"
	fi
	read -r b_rps b_p99 b_cpu < <(figures baseline "$r")
	for n in "${names[@]}"; do
		read -r a_rps a_p99 a_cpu < <(figures "$n" "$r")
		awk -v r="$r" -v n="$n" -v a="$a_rps" -v b="$b_rps" -v pa="$a_p99" -v pb="$b_p99" -v ua="$a_cpu" -v ub="$b_cpu" 'BEGIN {
			printf "%d %s %.0f %.2f %.1f %.0f %.2f %.1f %.3f %.3f %.3f\n", r, n, a, pa, ua, b, pb, ub, a/b, pa/pb, ua/ub }' >>"$work/rounds"
	done
	printf 'round %d (load average %s)\n' "$r" "$(loadavg)"
	awk -v r="$r" '$1==r {printf "  %-14s %7.0f req/s  p99 %7.2f ms  CPU %5.1f us/req | baseline %7.0f req/s  p99 %7.2f ms  CPU %5.1f us/req | ratio %.2f  p99 %.2fx  CPU %.2fx\n", $2, $3, $4, $5, $6, $7, $8, $9, $10, $11}' "$work/rounds"
	for n in "${names[@]}" baseline; do
		printf '  %-14s wrk CPU %5.1f us/req, host idle %s %%\n' "$n" "$(wrkus "$n.$r")" "$(idlepct "$n.$r")"
	done
done
for n in "${names[@]}"; do stop "$n"; done
# A drive whose answers were not all 2xx (or lost sockets) measured something else.
for f in "$work"/*.out; do
	grep -H -E 'Non-2xx|Socket errors' "$f" | sed "s|^$work/|WARNING: |" || true
done

# median COLUMN NAME: the median (and range) of a column of $work/rounds
median() {
	awk -v c="$1" -v n="$2" '$2==n {print $c}' "$work/rounds" | sort -g | awk '
		{v[NR]=$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.2f (%.2f-%.2f)", m, v[1], v[NR]}'
}
echo "== summary: medians (ranges) over $rounds rounds (load average $(loadavg))"
for n in "${names[@]}"; do
	printf '%-14s req/s ratio %s  p99 %sx  CPU %sx the baseline;  CPU us/req %s, baseline %s\n' "$n" \
		"$(median 9 "$n")" "$(median 10 "$n")" "$(median 11 "$n")" "$(median 5 "$n")" "$(median 8 "$n")"
done
if [ "${#names[@]}" = 2 ]; then
	# This tree against BASE's, round by round (the same minute's neighbours).
	awk -v b="${names[0]}" '$2==b {cb[$1]=$5; rb[$1]=$3; pb[$1]=$4} $2=="safehold" {ct[$1]=$5; rt[$1]=$3; pt[$1]=$4}
		END {for (r in ct) if (r in cb) printf "%s %.3f %.3f %.3f\n", r, ct[r]/cb[r], rt[r]/rb[r], pt[r]/pb[r]}' "$work/rounds" >"$work/pairs"
	pm() { awk -v c="$1" '{print $c}' "$work/pairs" | sort -g | awk '
		{v[NR]=$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.2f (%.2f-%.2f)", m, v[1], v[NR]}'; }
	printf 'safehold/%s, round by round: CPU per request %sx, req/s %sx, p99 %sx; CPU lower in %d of %d rounds\n' "${names[0]}" \
		"$(pm 2)" "$(pm 3)" "$(pm 4)" "$(awk '$2 < 1' "$work/pairs" | wc -l)" "$(wc -l <"$work/pairs")"
fi
