#!/usr/bin/env bash
# Load benchmark of authenticated ARM GETs over TLS on loopback: starts a
# fresh `safehold serve`, creates a resource group and drives it with wrk
# (64 connections, 2 threads). Installs wrk from Debian when missing.
#   bash bench/arm-get.sh [seconds]
# PIN=1 gives the server one core (GOMAXPROCS=1, CPU 0) and wrk the other
# (CPU 1), so the load generator does not steal the server's core on a
# 2-core machine; PIN=0 (default) lets both share every core.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/safehold" ./cmd/safehold
go build -o "$work/token" ./bench/token
server_cmd=("$work/safehold")
wrk_cmd=(wrk)
if [ "${PIN:-0}" = 1 ]; then
	export GOMAXPROCS=1
	server_cmd=(taskset -c 0 "$work/safehold")
	wrk_cmd=(taskset -c 1 wrk)
fi
"${server_cmd[@]}" serve --data-dir "$work/data" --addr 127.0.0.1:18444 >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -f "$work/data/connection.json" ] && curl -sk https://127.0.0.1:18444/healthz >/dev/null && break; sleep 0.2; done
tok=$("$work/token" "$work/data/connection.json")
sub=$(sed -n 's/.*"subscriptionId": "\(.*\)".*/\1/p' "$work/data/connection.json")
url="https://127.0.0.1:18444/subscriptions/$sub/resourcegroups/bench?api-version=2021-04-01"
curl -s --cacert "$work/data/tls/ca.pem" -X PUT -H "Authorization: Bearer $tok" -H "Content-Type: application/json" -d '{"location":"westus"}' "$url" >/dev/null
"${wrk_cmd[@]}" -t2 -c64 -d"${secs}s" --latency -H "Authorization: Bearer $tok" "$url"
