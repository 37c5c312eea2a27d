#!/usr/bin/env bash
# index.sh - the chunk index at scale: a repository that already holds
# CHUNKS chunks (default 16 million: 1 TiB of unique 64 KiB blocks), built
# synthetically (see cmd/safehold-bench/index.go), then
#   build   the first open: every pack header read once, the on-disk index written
#   lookup  start-up from the on-disk index, then lookups of present and absent IDs
#   backup  start-up, then a full backup of a BACKUP_MIB synthetic disk into it
#   live    start-up, then GC's mark of every chunk (chunk.LiveSet, spilled to
#           the cache directory) and lookups in it, as a collection's sweep does
# each phase in its own process under GNU time, so each peak RSS is its own.
#
# Usage:  bash bench/index.sh                  (16 M chunks; the build phase writes
#                                               ~1.7 GiB of header cache + index)
#         CHUNKS=1000000 bash bench/index.sh   (quick)
#         KEEP=1 ...                           (keep DIR for another run: skips build)
#         MEMORY_LIMIT=0 ...                   (no soft memory limit; default 224 MiB
#                                               like safehold serve --memory-limit)
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHUNKS=${CHUNKS:-16000000}
BACKUP_MIB=${BACKUP_MIB:-1024}
LOOKUPS=${LOOKUPS:-1000000}
DIR=${DIR:-/tmp/safehold-index-bench-$CHUNKS}
BIN=$DIR/safehold-bench
mkdir -p "$DIR"
(cd "$REPO_ROOT" && go build -o "$BIN" ./cmd/safehold-bench)
step() {  # phase, extra flags
  local phase=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/$phase.time" "$BIN" index "$phase" -dir "$DIR" -chunks "$CHUNKS" -memory-limit "${MEMORY_LIMIT:-224}" "$@" >"$DIR/$phase.json"
  read -r wall user sys rss <"$DIR/$phase.time"
  printf '| %s | %s | %s | %s | %.0f | %s |\n' "$phase" "$wall" "$user" "$sys" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" "$(cat "$DIR/$phase.json")"
}
echo "## Chunk index: $CHUNKS chunks, $(date -u '+%Y-%m-%d %H:%M UTC'), nproc=$(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| phase | wall s | user s | sys s | peak RSS MiB | figures (JSON) |"
echo "|---|---:|---:|---:|---:|---|"
if [[ ! -f $DIR/cache/index/runs.json ]]; then
  rm -rf "$DIR/cache" "$DIR/objects"
  step build
fi
step lookup -lookups "$LOOKUPS"
step backup -backup-mib "$BACKUP_MIB"
step live -lookups "$LOOKUPS"
[[ ${KEEP:-0} == 1 ]] || rm -rf "$DIR"
