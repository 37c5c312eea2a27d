#!/usr/bin/env bash
# Load benchmark of authenticated ARM GETs over TLS on loopback: starts a
# fresh `safehold serve`, creates a resource group and drives it with wrk
# (64 connections, 2 threads); then, in the same run, drives a bare net/http
# TLS server (bench/baseline) that answers the same body with the same
# certificate, and prints the ratio. Installs wrk from Debian when missing.
#   bash bench/arm-get.sh [seconds]
# PIN=1 gives the servers one core (GOMAXPROCS=1, CPU 0) and wrk the other
# (CPU 1), so the load generator does not steal the server's core on a
# 2-core machine; PIN=0 (default) lets both share every core.
# PROFILE=FILE writes Safehold's CPU profile of the run to FILE.
# BASE=REV also runs the server built at git revision REV, in the same run
# (before this tree's, on a data dir and port of its own), and prints it in
# the summary: before/after figures on a shared machine. With PAIRED=1 the
# two are driven at the same time (one wrk thread and 32 connections each),
# so both see the same neighbours: their CPU per request compares even on
# a busy host (their ratios to the baseline, driven alone with 64, do not).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
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
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
conns=(-t2 -c64)
run() { # name pid url [header]
	echo "== $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	local c0; c0=$(cpu "$2")
	"${wrk_cmd[@]}" "${conns[@]}" -d"${secs}s" --latency "${@:4}" "$3" >"$work/$1.out"
	echo "$(( $(cpu "$2") - c0 ))" >"$work/$1.cpu"
	cat "$work/$1.out"
}
# start NAME BINARY PORT [PROFILE]: serves a fresh data dir and creates the
# group; $work/NAME.{pid,url,tok} say where.
start() {
	local name=$1 bin=$2 port=$3 prof=(env) pid
	[ -n "${4:-}" ] && prof+=(SAFEHOLD_CPUPROFILE="$(realpath -m "$4")")
	local data="$work/data-$name"
	"${prof[@]}" "${server_cmd[@]}" "$bin" serve --data-dir "$data" --addr 127.0.0.1:$port >"$work/server-$name.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	echo "$pid" >"$work/$name.pid"
	for _ in $(seq 100); do [ -f "$data/connection.json" ] && curl -sk https://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
	local tok sub url
	tok=$("$work/token" "$data/connection.json")
	sub=$(sed -n 's/.*"subscriptionId": "\(.*\)".*/\1/p' "$data/connection.json")
	url="https://127.0.0.1:$port/subscriptions/$sub/resourcegroups/bench?api-version=2021-04-01"
	curl -s --cacert "$data/tls/ca.pem" -X PUT -H "Authorization: Bearer $tok" -H "Content-Type: application/json" -d '{"location":"westus"}' "$url" >/dev/null
	curl -s --cacert "$data/tls/ca.pem" -H "Authorization: Bearer $tok" "$url" >"$work/body.json"
	# What the baseline is driven with: the same certificate, path and token.
	cp "$data/tls/server.pem" "$work/server.pem"
	cp "$data/tls/server-key.pem" "$work/server-key.pem"
	echo "/subscriptions/$sub/resourcegroups/bench?api-version=2021-04-01" >"$work/path"
	echo "$tok" >"$work/tok"
	echo "$url" >"$work/$name.url"
	echo "$tok" >"$work/$name.tok"
}
drive() { run "$1" "$(cat "$work/$1.pid")" "$(cat "$work/$1.url")" -H "Authorization: Bearer $(cat "$work/$1.tok")"; }
stop() { kill "$(cat "$work/$1.pid")"; wait "$(cat "$work/$1.pid")" 2>/dev/null || true; }
if [ -n "${BASE:-}" ] && [ "${PAIRED:-0}" = 1 ]; then
	start "base@$rev" "$work/safehold-base" 18443
	start safehold "$work/safehold" 18444 "${PROFILE:-}"
	conns=(-t1 -c32)
	drive "base@$rev" >"$work/paired-base.log" &
	drive safehold
	wait $!
	cat "$work/paired-base.log"
	stop "base@$rev"
	stop safehold
	conns=(-t2 -c64)
else
	if [ -n "${BASE:-}" ]; then
		start "base@$rev" "$work/safehold-base" 18443
		drive "base@$rev"
		stop "base@$rev"
	fi
	start safehold "$work/safehold" 18444 "${PROFILE:-}"
	drive safehold
	stop safehold
fi

"${server_cmd[@]}" "$work/baseline" -addr 127.0.0.1:18448 -cert "$work/server.pem" -key "$work/server-key.pem" -body "$work/body.json" 2>"$work/baseline.log" &
bpid=$!
pids+=("$bpid")
for _ in $(seq 50); do curl -sk https://127.0.0.1:18448/ >/dev/null && break; sleep 0.1; done
run baseline "$bpid" "https://127.0.0.1:18448$(cat "$work/path")" -H "Authorization: Bearer $(cat "$work/tok")"

rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.out"; }
p99() { awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$work/$1.out"; }
echo "== summary (load average $(cut -d' ' -f1-3 /proc/loadavg))"
# CPU per request (the server process's user+system time over the requests
# wrk counted) does not depend on how much of the machine others take.
reqs() { awk '/requests in/ {print $1}' "$work/$1.out"; }
summary() { # name
	awk -v n="$1" -v a="$(rps "$1")" -v b="$(rps baseline)" -v pa="$(p99 "$1")" -v pb="$(p99 baseline)" \
		-v ca="$(cat "$work/$1.cpu")" -v cb="$(cat "$work/baseline.cpu")" -v na="$(reqs "$1")" -v nb="$(reqs baseline)" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		ua = 1e6*ca/hz/na; ub = 1e6*cb/hz/nb
		printf "%-14s %10.0f req/s  p99 %7.2f ms  CPU %6.0f us/request   ratio %.2f, p99 %.2fx, CPU %.2fx the baseline\n", n, a, pa, ua, a/b, pa/pb, ua/ub }'
}
[ -n "${BASE:-}" ] && summary "base@$rev"
summary safehold
awk -v b="$(rps baseline)" -v pb="$(p99 baseline)" -v cb="$(cat "$work/baseline.cpu")" -v nb="$(reqs baseline)" -v hz="$(getconf CLK_TCK)" 'BEGIN {
	printf "%-14s %10.0f req/s  p99 %7.2f ms  CPU %6.0f us/request\n", "baseline", b, pb, 1e6*cb/hz/nb }'
