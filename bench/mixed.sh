#!/usr/bin/env bash
# Mixed ARM load: starts a fresh `safehold serve` and drives it with 64
# connections of reads and writes (resource-group PUT/DELETE, disk-policy
# PUT/DELETE, lists of groups, disks, policies and both kinds of jobs; about
# 45 % writes), printing requests/s, p50, p99 and max per operation and overall.
#   bash bench/mixed.sh [seconds] [connections]
# STORE=postgres://… runs it on PostgreSQL (passed as --store) instead of the
# default SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
conns=${2:-64}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/safehold" ./cmd/safehold
go build -o "$work/mixed" ./bench/mixed
store_args=()
[ -n "${STORE:-}" ] && store_args=(--store "$STORE")
"$work/safehold" serve --data-dir "$work/data" --addr 127.0.0.1:18445 "${store_args[@]}" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$work/data/connection.json" ] && curl -sk https://127.0.0.1:18445/healthz >/dev/null && break; sleep 0.2; done
echo "store: ${STORE:-sqlite (default)}"
"$work/mixed" -conn "$work/data/connection.json" -c "$conns" -d "${secs}s"
