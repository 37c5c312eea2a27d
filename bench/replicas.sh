#!/usr/bin/env bash
# Job throughput of one replica against three (real `safehold serve`
# processes on PostgreSQL and Azurite, started by .ci/services.sh): 12
# restores of one recovery point started at once, each through the CLI
# against the next replica; prints jobs per second for 1 and 3 replicas.
#   bash bench/replicas.sh [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/services.sh
trap safehold_stop_services EXIT
echo "cores: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)"
go test ./cmd/safehold -run '^$' -bench 'ReplicaJobs' -benchtime "${1:-2}x" -timeout 30m | grep -E '^(Benchmark|ok|FAIL)'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
