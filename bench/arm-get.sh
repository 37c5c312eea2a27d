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
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
work=$(mktemp -d)
pid= bpid=
trap 'kill $pid $bpid 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/safehold" ./cmd/safehold
go build -o "$work/token" ./bench/token
go build -o "$work/baseline" ./bench/baseline
server_cmd=()
wrk_cmd=(wrk)
if [ "${PIN:-0}" = 1 ]; then
	export GOMAXPROCS=1
	server_cmd=(taskset -c 0)
	wrk_cmd=(taskset -c 1 wrk)
fi
prof=()
[ -n "${PROFILE:-}" ] && prof=(env SAFEHOLD_CPUPROFILE="$(realpath -m "$PROFILE")")
"${prof[@]}" "${server_cmd[@]}" "$work/safehold" serve --data-dir "$work/data" --addr 127.0.0.1:18444 >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$work/data/connection.json" ] && curl -sk https://127.0.0.1:18444/healthz >/dev/null && break; sleep 0.2; done
tok=$("$work/token" "$work/data/connection.json")
sub=$(sed -n 's/.*"subscriptionId": "\(.*\)".*/\1/p' "$work/data/connection.json")
url="https://127.0.0.1:18444/subscriptions/$sub/resourcegroups/bench?api-version=2021-04-01"
curl -s --cacert "$work/data/tls/ca.pem" -X PUT -H "Authorization: Bearer $tok" -H "Content-Type: application/json" -d '{"location":"westus"}' "$url" >/dev/null
curl -s --cacert "$work/data/tls/ca.pem" -H "Authorization: Bearer $tok" "$url" >"$work/body.json"
"${server_cmd[@]}" "$work/baseline" -addr 127.0.0.1:18448 -cert "$work/data/tls/server.pem" -key "$work/data/tls/server-key.pem" -body "$work/body.json" 2>"$work/baseline.log" &
bpid=$!
for _ in $(seq 50); do curl -sk https://127.0.0.1:18448/ >/dev/null && break; sleep 0.1; done

cpu() { awk '{print $14+$15}' /proc/$1/stat; }
run() { # name pid url [header]
	echo "== $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	local c0; c0=$(cpu "$2")
	"${wrk_cmd[@]}" -t2 -c64 -d"${secs}s" --latency "${@:4}" "$3" | tee "$work/$1.out"
	echo "$(( $(cpu "$2") - c0 ))" >"$work/$1.cpu"
}
run safehold "$pid" "$url" -H "Authorization: Bearer $tok"
run baseline "$bpid" "https://127.0.0.1:18448/subscriptions/$sub/resourcegroups/bench?api-version=2021-04-01" -H "Authorization: Bearer $tok"

if [ -n "${PROFILE:-}" ]; then kill $pid; wait $pid 2>/dev/null || true; fi
rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.out"; }
p99() { awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$work/$1.out"; }
echo "== summary (load average $(cut -d' ' -f1-3 /proc/loadavg))"
# CPU per request (the server process's user+system time over the requests
# wrk counted) does not depend on how much of the machine others take.
reqs() { awk '/requests in/ {print $1}' "$work/$1.out"; }
awk -v a="$(rps safehold)" -v b="$(rps baseline)" -v pa="$(p99 safehold)" -v pb="$(p99 baseline)" \
	-v ca="$(cat "$work/safehold.cpu")" -v cb="$(cat "$work/baseline.cpu")" -v na="$(reqs safehold)" -v nb="$(reqs baseline)" -v hz="$(getconf CLK_TCK)" 'BEGIN {
	ua = 1e6*ca/hz/na; ub = 1e6*cb/hz/nb
	printf "safehold  %10.0f req/s  p99 %7.2f ms  CPU %6.0f us/request\n", a, pa, ua
	printf "baseline  %10.0f req/s  p99 %7.2f ms  CPU %6.0f us/request\n", b, pb, ub
	printf "ratio     %10.2f        p99 %7.2fx the baseline, CPU per request %.2fx the baseline\n", a/b, pa/pb, ua/ub }'
