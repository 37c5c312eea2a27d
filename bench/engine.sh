#!/usr/bin/env bash
# engine.sh - Safehold's snapshot engine beside the peer backup tools, in one
# run, on the same image and the same 1 % mutation.
#
# It runs bench/peers.sh (restic, borg, borg-fixed by default: it
# installs them from Debian if missing, generates the deterministic sparse
# image and times each peer), then reuses that script's image, its Python
# generator/mutation helper and the same timing (GNU time -v) for Safehold's
# steps, appends Safehold's rows to the same results.tsv and prints one
# markdown table in the peers' format plus a ratio table (Safehold vs the
# best peer per step).
#
# Usage:  bash bench/engine.sh                    (2 GiB, as peers-measured.md)
#         SIZE_MIB=256 bash bench/engine.sh       (quick run while developing)
#         PEERS="borg-fixed" bash bench/engine.sh
#         ENGINE_ONLY=1 bash bench/engine.sh      (skip the peers; needs a prior run's image)
#         ENGINE_BASE=main~5 bash bench/engine.sh  (also run the engine built at that git
#                                                  revision, as "safehold@REV", in the same run:
#                                                  before/after figures against the same peers)
#
# Environment: everything peers.sh reads (PEERBENCH_DIR, SIZE_MIB, SEED,
# RAND_PCT, TEXT_PCT, MUTATE_PCT, PEERS, DROP_CACHES, ...) plus
#   PEERS_SH      path of peers.sh (default bench/peers.sh)
#   ENGINE_ONLY   1 = do not run the peers (default 0)
#   ENGINE_BASE   a git revision to measure too, before this tree's engine (default none)
#   ENGINE_RUNS   how many times to repeat each engine's steps (default 1; the table
#                 keeps every run, the ratios use the median)
#   ENGINE_FLAGS  extra flags for every safehold-bench step (e.g. "-compression zstd")
#   DEVICE_DD     1 = measure the scratch directory's device with dd first (O_DIRECT, 4 MiB
#                 blocks: two writers, two readers, one of each at once; ~2.5 GiB written) and
#                 print the floor it puts under a durable restore from packs not in the page
#                 cache (default 1)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS_SH=${PEERS_SH:-$REPO_ROOT/bench/peers.sh}
ENGINE_BASE=${ENGINE_BASE:-}
ENGINE_RUNS=${ENGINE_RUNS:-1}
export PEERBENCH_DIR=${PEERBENCH_DIR:-/tmp/peerbench}
export SIZE_MIB=${SIZE_MIB:-2048}
export SEED=${SEED:-20240601}
export RAND_PCT=${RAND_PCT:-40}
export TEXT_PCT=${TEXT_PCT:-20}
export MUTATE_PCT=${MUTATE_PCT:-1}
export BASELINE=${BASELINE:-0}
export GO_BASELINE=${GO_BASELINE:-0}
ENGINE_ONLY=${ENGINE_ONLY:-0}
ENGINE_FLAGS=${ENGINE_FLAGS:-}
DROP_CACHES=${DROP_CACHES:-0}
W=$PEERBENCH_DIR

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "engine.sh: $*" >&2; exit 1; }

# ------------------------------------------------------------ peers (same run)
if [[ $ENGINE_ONLY != 1 ]]; then
  log "running peers: ${PEERS:-restic borg borg-fixed}"
  bash "$PEERS_SH" >/dev/null
fi
mkdir -p "$W"
W=$(cd "$W" && pwd)
HELPER="$W/peerbench_helper.py"
RES_TSV="$W/results.tsv"
BASE="$W/base-${SIZE_MIB}M-s${SEED}-r${RAND_PCT}-t${TEXT_PCT}.img"
if [[ ! -f $HELPER ]]; then  # ENGINE_ONLY without a prior run: take the helper from peers.sh
  sed -n "/<<'PYEOF'/,/^PYEOF/p" "$PEERS_SH" | sed '1d;$d' >"$HELPER"
fi
if [[ ! -f $BASE || ! -f $BASE.ok ]]; then
  log "generating $BASE with peers.sh's generator"
  python3 "$HELPER" gen "$BASE" "$SIZE_MIB" "$SEED" "$RAND_PCT" "$TEXT_PCT" >"$BASE.ok"
fi
[[ $ENGINE_ONLY == 1 ]] && : >"$RES_TSV"
[[ -f $RES_TSV ]] || : >"$RES_TSV"

# ------------------------------------------------------------ build
BIN="$W/safehold-bench"
log "building cmd/safehold-bench"
(cd "$REPO_ROOT" && go build -o "$BIN" ./cmd/safehold-bench)
BASE_BIN=""
if [[ -n $ENGINE_BASE ]]; then
  rev=$(git -C "$REPO_ROOT" rev-parse --short "$ENGINE_BASE")
  log "building cmd/safehold-bench at $rev"
  rm -rf "$W/base-src"; mkdir -p "$W/base-src"
  git -C "$REPO_ROOT" archive "$rev" | tar -x -C "$W/base-src"
  BASE_BIN="$W/safehold-bench-$rev"
  (cd "$W/base-src" && go build -o "$BASE_BIN" ./cmd/safehold-bench)
  rm -rf "$W/base-src"
fi

# ------------------------------------------------------------ the device
# A restore reads its packs from the disk (they were written with O_DIRECT,
# so they are not in the page cache) and writes the image durably; the peers
# read theirs from the cache and leave their writes in it. What the disk
# does with 4 MiB direct transfers bounds the restore's wall time.
DEVICE_DD=${DEVICE_DD:-1}
DD_W="" DD_R="" DD_MIX_R="" DD_MIX_W=""
dd_mbs() {  # OUT dd ARGS...: writes dd's throughput in MB/s (bytes / seconds it reports) to OUT
  local out=$1; shift
  dd "$@" 2>&1 | awk '/copied/{printf "%.0f\n", $1 / $(NF-3) / 1e6}' >"$out"
}
if [[ $DEVICE_DD == 1 ]]; then
  log "measuring the device under $W with dd (O_DIRECT, 4 MiB blocks)"
  D="$W/dd"; rm -rf "$D"; mkdir -p "$D"
  # two writers at once (a restore's workers write in parallel), 512 MiB each
  dd_mbs "$D/w1" if=/dev/urandom of="$D/a" bs=4M count=128 oflag=direct conv=fsync iflag=fullblock &
  dd_mbs "$D/w2" if=/dev/urandom of="$D/b" bs=4M count=128 oflag=direct conv=fsync iflag=fullblock; wait
  # urandom itself may be the bound: write again from a page-cached copy
  cat "$D/a" >"$D/src"
  dd_mbs "$D/w1" if="$D/src" of="$D/a" bs=4M oflag=direct conv=fsync,notrunc &
  dd_mbs "$D/w2" if="$D/src" of="$D/b" bs=4M oflag=direct conv=fsync,notrunc; wait
  DD_W=$(cat "$D/w1" "$D/w2" | awk '{s += $1} END {print s}')
  dd_mbs "$D/r1" if="$D/a" of=/dev/null bs=4M iflag=direct &
  dd_mbs "$D/r2" if="$D/b" of=/dev/null bs=4M iflag=direct; wait
  DD_R=$(cat "$D/r1" "$D/r2" | awk '{s += $1} END {print s}')
  # one reader and one writer at once, as a restore's reads and writes overlap
  dd_mbs "$D/r1" if="$D/a" of=/dev/null bs=4M iflag=direct &
  dd_mbs "$D/w1" if="$D/src" of="$D/c" bs=4M oflag=direct conv=fsync; wait
  DD_MIX_R=$(cat "$D/r1") DD_MIX_W=$(cat "$D/w1")
  rm -rf "$D"
  log "device: two direct writers $DD_W MB/s, two direct readers $DD_R MB/s, one of each at once $DD_MIX_R + $DD_MIX_W MB/s"
fi

# ------------------------------------------------------------ timing (as peers.sh)
SIZE_BYTES=$(( SIZE_MIB * 1024 * 1024 ))
source "$REPO_ROOT/bench/lib.sh"  # dir_bytes, drop_caches, run_step, results_table
set_note() {  # replace the note of the last TSV row
  local note; note=$(printf '%s' "$1" | sed 's/[\/&]/\\&/g')
  sed -i '$ s/\t[^\t]*$/\t'"$note"'/' "$RES_TSV"
}

# ------------------------------------------------------------ safehold
MUT_INFO="" MUT_BYTES=0
run_safehold() {  # PEER-NAME BINARY
local P=$1 BIN=$2
local D="$W/$P"
rm -rf "$D"; mkdir -p "$D/src"
local R="$D/repo" C="$D/cache" S="$D/src/disk.img"
cp --sparse=always "$BASE" "$S"
sync  # let the copy's writeback finish before timing (peers.sh does not; noted in the header)
local SH="$D/safehold"  # a wrapper, so /usr/bin/time can run it: safehold STEP [flags]
printf '#!/usr/bin/env bash\nstep=$1; shift\nexec %q engine "$step" -repo %q -cache %q %s "$@"\n' "$BIN" "$R" "$C" "$ENGINE_FLAGS" >"$SH"
chmod +x "$SH"

run_step $P full "$R" "$SIZE_BYTES" "" -- "$SH" full -src "$S" -name full
full_b=$(dir_bytes "$R")
set_note "$(json "$W/logs/$P.full.log" '"stored %.0f MiB of %.0f MiB data, %.0f MiB zero/holes skipped" % (stats["bytesStored"]/2**20, stats["bytesScanned"]/2**20, stats["bytesZero"]/2**20)')"

MUT_INFO=$(python3 "$HELPER" mutate "$S" "$SEED" "$MUTATE_PCT")
MUT_BYTES=${MUT_INFO##*mutated_bytes=}
log "mutated: $MUT_INFO"
# The change list a change-tracking volume would hand over: the same blocks
# the helper's mutate() picked (same PRNG, same seed, same draw).
python3 - "$S" "$SEED" "$MUTATE_PCT" >"$D/changed.txt" <<'PY'
import os, random, sys
path, seed, pct = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
BLOCK = 64 * 1024
nblocks = os.path.getsize(path) // BLOCK
k = max(1, round(nblocks * pct / 100))
rng = random.Random(seed * 7919 + 1)
for b in sorted(rng.sample(range(nblocks), k)):
    print(b * BLOCK, BLOCK)
PY
n_changed=$(wc -l <"$D/changed.txt")
[[ $MUT_INFO == "mutated_blocks=$n_changed "* ]] || die "change list ($n_changed blocks) does not match the mutation ($MUT_INFO)"

growth_note() {
  awk -v a="$1" -v b="$2" -v m="$MUT_BYTES" 'BEGIN{printf "repo +%.1f MiB for %.1f MiB changed (%.2fx)", (b-a)/1048576, m/1048576, (b-a)/m}'
}
run_step $P "incremental (change list)" "$R" "$SIZE_BYTES" "" -- "$SH" incr -src "$S" -parent full -name incr -changed "$D/changed.txt"
inc_b=$(dir_bytes "$R")
set_note "$(growth_note "$full_b" "$inc_b"); read $(json "$W/logs/$P.incremental (change list).log" '"%.1f" % (stats["bytesScanned"]/2**20)') MiB"

run_step $P "incremental (scan, no change list)" "$R" "$SIZE_BYTES" "" -- "$SH" incr -src "$S" -parent full -name incr-scan
scan_b=$(dir_bytes "$R")
set_note "$(json "$W/logs/$P.incremental (scan, no change list).log" '"hash-compared %.0f MiB, %.1f MiB changed, %.1f MiB new" % (stats["bytesScanned"]/2**20, stats["bytesChanged"]/2**20, stats["bytesNew"]/2**20)'); repo +$(awk -v a="$inc_b" -v b="$scan_b" 'BEGIN{printf "%.1f", (b-a)/1048576}') MiB (same blocks as the change-list run: deduplicated)"

mkdir -p "$D/restore"
run_step $P restore "$R" "$SIZE_BYTES" "" -- "$SH" restore -name incr -out "$D/restore/disk.img"
cmp "$D/restore/disk.img" "$S" || die "$P: restored image differs from source"
alloc=$(awk -v b="$(dir_bytes "$D/restore/disk.img")" 'BEGIN{printf "%.0f", b/1048576}')
set_note "cmp OK; restored file allocates ${alloc} MiB (source $(awk -v b="$(dir_bytes "$S")" 'BEGIN{printf "%.0f", b/1048576}') MiB); $(dev_note $P restore)"
rm -rf "$D/restore"

run_step $P "unchanged re-run (empty change list)" "$R" "" "" -- "$SH" incr -src "$S" -parent incr -name noop -changed -
set_note "change tracking reports nothing: index copied from the parent, 0 bytes read"
run_step $P "unchanged re-run (scan)" "$R" "$SIZE_BYTES" "" -- "$SH" incr -src "$S" -parent incr -name noop-scan
set_note "$(json "$W/logs/$P.unchanged re-run (scan).log" '"no change information: hash-compared %.0f MiB, %.0f MiB new" % (stats["bytesScanned"]/2**20, stats["bytesNew"]/2**20)')"

run_step $P "verify (read all)" "$R" "$SIZE_BYTES" "reads+CRC+decompresses+re-hashes every chunk" -- "$SH" verify
rb=$(awk -F'\t' 'END{print $7}' "$RES_TSV"); wall=$(awk -F'\t' 'END{print $3}' "$RES_TSV")
set_note "reads+CRC+decompresses+re-hashes every chunk, checks every index; $(awk -v r="$rb" -v w="$wall" 'BEGIN{printf "%.0f MiB/s over repo bytes", r/1048576/w}')"

before_b=$(dir_bytes "$R")
run_step $P "delete full + gc" "$R" "" "" -- bash -c "'$SH' delete -name full && '$SH' gc -repack 0.1"
set_note "repack packs >= 10% garbage: freed $(awk -v a="$before_b" -v b="$(dir_bytes "$R")" 'BEGIN{printf "%.1f", (a-b)/1048576}') MiB"
before_b=$(dir_bytes "$R")
run_step $P "gc (repack all garbage)" "$R" "" "" -- "$SH" gc -repack 0
set_note "rewrites every pack holding garbage: freed $(awk -v a="$before_b" -v b="$(dir_bytes "$R")" 'BEGIN{printf "%.1f", (a-b)/1048576}') MiB; GC frees exactly the unreferenced chunks"
"$SH" verify >/dev/null || die "verify after gc failed"
[[ ${KEEP:-0} == 1 ]] || rm -rf "$D"
}
json() { python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(eval(sys.argv[2], {}, d))' "$@"; }
for ((i = 1; i <= ENGINE_RUNS; i++)); do
  if [[ -n $BASE_BIN ]]; then run_safehold "safehold@$rev" "$BASE_BIN"; fi
  run_safehold safehold "$BIN"
done

# ------------------------------------------------------------ report
OUT="$W/engine-results.md"
{
  echo "## Safehold snapshot engine beside the peers: ${SIZE_MIB} MiB sparse raw image"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); host: nproc=$(nproc), $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
  echo "- image: peers.sh generator, $(cat "$BASE.ok"); mutation: $MUT_INFO (same helper, same seed)"
  echo "- safehold steps run after the peers, same image and mutation; one \`sync\` after copying the image (the peers get none); CPU-time ratio = peer (user+sys) / safehold (user+sys), steadier than wall on this shared host"
  echo "- safehold: 64 KiB fixed blocks, BLAKE3 ids, MinLZ compression (S2 before session 24; raw when incompressible), no encryption, 8 MiB packs, local dir backend (temp file + fsync + link + dir fsync per pack)"
  if [[ -n $DD_W ]]; then
    echo "- device under $W (dd, O_DIRECT, 4 MiB blocks, before the engine's steps): two writers $DD_W MB/s together, two readers $DD_R MB/s, one reader and one writer at once $DD_MIX_R + $DD_MIX_W MB/s. A restore reads its packs from the disk (written with O_DIRECT: not in the page cache) and writes the image durably; the device floor in the table below estimates from these rates the least time those reads and writes take (read at the two readers' rate, then write at the two writers' rate, or both at once at the mixed rates, whichever is less; a restore's several streams may mix better than one dd of each, and dd's buffer is 4 KiB pages, which split each direct transfer into many requests where the restore's huge pages do not, so it is an estimate, not a proof). The peers read their repository from the page cache and leave their writes in it"
  fi
  echo "- command: $(printf '%q ' env SIZE_MIB="$SIZE_MIB" PEERS="${PEERS:-restic borg borg-fixed}" ${ENGINE_BASE:+ENGINE_BASE="$ENGINE_BASE"} ENGINE_RUNS="$ENGINE_RUNS" bash bench/engine.sh); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  results_table
  echo
  echo "### Safehold vs the best peer in this run"
  echo
  echo "Wall ratio = best peer's wall / Safehold's wall; CPU ratio = best peer's CPU (user+sys) / Safehold's CPU; the best peer is chosen per column. With ENGINE_RUNS > 1 each figure is the median over runs."
  echo
  python3 - "$RES_TSV" "$MUT_BYTES" "$DD_W" "$DD_R" "$DD_MIX_R" "$DD_MIX_W" <<'PY'
import re, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
mut = float(sys.argv[2])
dd = [float(x) * 1e6 if x else None for x in sys.argv[3:7]]  # bytes/s: write, read, mixed read, mixed write
def sel(peer, step):
    return [r for r in rows if r[0] == peer and r[1].startswith(step)]
def med(vals):
    return statistics.median(vals) if vals else None
def wall(peer, step):
    return med([float(r[2]) for r in sel(peer, step)])
def cpu(peer, step):
    return med([float(r[3]) + float(r[4]) for r in sel(peer, step)])
def repo(peer, step):
    return med([float(r[6]) for r in sel(peer, step) if r[6]])
engines = []
for r in rows:
    if r[0].startswith("safehold") and r[0] not in engines:
        engines.append(r[0])
peers = sorted({r[0] for r in rows if not r[0].startswith("safehold") and r[0] != "baseline"})
def best(f, steps):
    c = [(f(p, s), p) for p in peers for s in steps if f(p, s)]
    return min(c) if c else (None, None)
def line(eng, metric, ostep, psteps, twall, tcpu):
    ow, oc = wall(eng, ostep), cpu(eng, ostep)
    pw, pwn = best(wall, psteps)
    pc, pcn = best(cpu, psteps)
    if ow is None or pw is None:
        print(f"| {eng} | {metric} | {ow} | {pw} | | | | n/a |")
        return
    wr = pw / ow if ow else float("inf")
    cr = pc / oc if oc else float("inf")
    met = "—"
    if twall or tcpu:
        ok = (not twall or wr >= twall) and (not tcpu or cr >= tcpu)
        met = "yes" if ok else "NO"
    tgt = " / ".join(x for x in (f"wall ≥{twall:g}x" if twall else "", f"CPU ≥{tcpu:g}x" if tcpu else "") if x) or "—"
    print(f"| {eng} | {metric} | {ow:.2f} s ({oc:.2f} s) | {pw:.2f} s {pwn} ({pc:.2f} s {pcn}) | {wr:.1f}x | {cr:.1f}x | {tgt} | {met} |")
def floor(eng):
    # The least time the device needs for the restore's I/O: read the
    # repository's packs (upper bound: the whole repository) and write the
    # restored image's allocated bytes, either one after the other at the
    # parallel rates or overlapped at the mixed rates, whichever is less.
    dw, dr, mr, mw = dd
    rs = sel(eng, "restore")
    if not all(dd) or not rs:
        return
    R = med([float(r[6]) for r in rs])
    W = med([float(m.group(1)) * 2**20 for r in rs for m in [re.search(r"allocates (\d+) MiB", r[8])] if m])
    if not R or not W:
        return
    serial = R / dr + W / dw
    t1 = min(R / mr, W / mw)
    over = t1 + ((W - mw * t1) / dw if R / mr < W / mw else (R - mr * t1) / dr)
    f = min(serial, over)
    pw, pwn = best(wall, ["restore"])
    ow = wall(eng, "restore")
    head = f"| {eng} | restore: device floor (dd), reading {R / 2**20:.0f} MiB of packs and writing {W / 2**20:.0f} MiB | {f:.2f} s (Safehold's restore took {ow / f:.2f}x that) |"
    if pw is None:
        print(f"{head} | | | | |")
        return
    print(f"{head} {pw:.2f} s {pwn} | {pw / f:.1f}x at most | | wall ≥3x | {'reachable' if pw / f >= 3 else 'NOT reachable on this device'} |")
def busy(eng):
    # The restore's device counters (dev_note in bench/lib.sh): the time the
    # disk had requests in flight during the step, against its wall. Close
    # to the wall: the restore waited on the device, not on the CPU.
    rs = sel(eng, "restore")
    b = [(float(m.group(3)), float(r[2]), float(m.group(1)), float(m.group(2))) for r in rs
         for m in [re.search(r"read (\d+) MiB, wrote (\d+) MiB, busy ([\d.]+) s", r[8])] if m]
    if not b:
        return
    bs, ws = med([x[0] for x in b]), med([x[1] for x in b])
    rd, wr = med([x[2] for x in b]), med([x[3] for x in b])
    head = (f"| {eng} | restore: device busy (the disk's own counters, every process's I/O) | {bs:.2f} s of {ws:.2f} s wall "
            f"({100 * bs / ws:.0f} %): {rd:.0f} MiB read + {wr:.0f} MiB written, {(rd + wr) / bs:.0f} MiB/s while busy |")
    pw, pwn = best(wall, ["restore"])
    if pw is None:
        print(f"{head} | | | | |")
        return
    # 3x the best peer's wall moves the same bytes in a third of its time
    need = (rd + wr) / (pw / 3)
    print(f"{head} {pw:.2f} s {pwn} | | | wall ≥3x needs {need:.0f} MiB/s from the disk | {'served' if (rd + wr) / bs >= need else 'NOT served in this run'} |")
print("| engine | metric | Safehold wall (CPU) | best peer wall (best peer CPU) | wall ratio | CPU ratio | target | met |")
print("|---|---|---:|---:|---:|---:|---|---|")
for eng in engines:
    line(eng, "full backup", "full", ["full"], 3, 2)
    line(eng, "restore (holes kept)", "restore", ["restore"], 3, 2)
    floor(eng)
    busy(eng)
    line(eng, "incremental with change list vs best peer's incremental", "incremental (change list)", ["incremental"], 20, 0)
    line(eng, "incremental without change list (hash-compare scan)", "incremental (scan", ["incremental"], 0, 0)
    line(eng, "verify all data", "verify", ["check"], 2, 0)
    line(eng, "unchanged re-run, change tracking", "unchanged re-run (empty", ["unchanged"], 0, 0)
    line(eng, "unchanged re-run, no change information (restic skips by mtime)", "unchanged re-run (scan", ["unchanged"], 0, 0)
    full_b = repo(eng, "full"); inc_b = repo(eng, "incremental (change list)")
    if full_b and inc_b:
        g = (inc_b - full_b) / mut
        print(f"| {eng} | repository growth / changed bytes | {g:.2f}x | | | | ≤1.2x | {'yes' if g <= 1.2 else 'NO'} |")
    rss = max(float(r[5]) for r in rows if r[0] == eng)
    prss = max((float(r[5]) for r in rows if r[0] in peers), default=0)
    print(f"| {eng} | peak RSS, any step | {rss:.0f} MiB | {prss:.0f} MiB (max of peers) | | | ≤128 MiB | {'yes' if rss <= 128 else 'NO'} |")
PY
} >"$OUT"
cat "$OUT"
log "results: $OUT (raw: $RES_TSV, logs: $W/logs)"
