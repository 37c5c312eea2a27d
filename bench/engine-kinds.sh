#!/usr/bin/env bash
# engine-kinds.sh - what a full backup costs per kind of data: the peers'
# image (bench/peers.sh's generator: 4 MiB regions of random bytes, text-like
# data and holes) and two copies of it, one with only its text regions and one
# with only its random ones (the others punched into holes), each backed up
# into a fresh repository, alternately, RUNS times. A region is text when its
# first 256 bytes hold fewer than 128 distinct values (as chunk's
# incompressibility guess); an all-zero region is a hole either way.
#
# Usage:  bash bench/engine-kinds.sh               (needs a prior bench/engine.sh or
#                                                    peers.sh run's image, or makes it)
#         RUNS=5 ENGINE_FLAGS="-workers 1" bash bench/engine-kinds.sh
#
# Environment: PEERBENCH_DIR, SIZE_MIB, SEED, RAND_PCT, TEXT_PCT (as engine.sh),
#   RUNS          full backups per image (default 3)
#   ENGINE_FLAGS  extra flags for safehold-bench engine full
# Prints per run: image, wall s, user s, sys s, peak RSS MiB, repository MiB, load.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${PEERBENCH_DIR:-/tmp/peerbench}
SIZE_MIB=${SIZE_MIB:-2048} SEED=${SEED:-20240601} RAND_PCT=${RAND_PCT:-40} TEXT_PCT=${TEXT_PCT:-20}
RUNS=${RUNS:-3}
ENGINE_FLAGS=${ENGINE_FLAGS:-}
BASE="$W/base-${SIZE_MIB}M-s${SEED}-r${RAND_PCT}-t${TEXT_PCT}.img"
K="$W/kinds"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

mkdir -p "$W" "$K"
if [[ ! -f $BASE || ! -f $BASE.ok ]]; then
  log "generating $BASE with peers.sh's generator"
  sed -n "/<<'PYEOF'/,/^PYEOF/p" "$REPO_ROOT/bench/peers.sh" | sed '1d;$d' >"$K/helper.py"
  python3 "$K/helper.py" gen "$BASE" "$SIZE_MIB" "$SEED" "$RAND_PCT" "$TEXT_PCT" >"$BASE.ok"
fi
log "building cmd/safehold-bench"
(cd "$REPO_ROOT" && go build -o "$K/safehold-bench" ./cmd/safehold-bench)

log "splitting $BASE into text-only and random-only copies"
for img in all text random; do cp --sparse=always "$BASE" "$K/$img.img"; done
python3 - "$K" <<'EOF'
import ctypes, os, sys
k = sys.argv[1]
libc = ctypes.CDLL("libc.so.6", use_errno=True)
PUNCH = 3  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
R = 4 << 20
fds = {n: os.open(os.path.join(k, n + ".img"), os.O_RDWR) for n in ("text", "random")}
count = {}
with open(os.path.join(k, "all.img"), "rb") as f:
    for i in range(os.fstat(f.fileno()).st_size // R):
        f.seek(i * R)
        b = f.read(R)
        kind = "hole" if not any(b) else ("text" if len(set(b[:256])) < 128 else "random")
        count[kind] = count.get(kind, 0) + 1
        for n, fd in fds.items():
            if kind != "hole" and kind != n and libc.fallocate(fd, PUNCH, ctypes.c_long(i * R), ctypes.c_long(R)) != 0:
                sys.exit("fallocate: errno %d" % ctypes.get_errno())
for fd in fds.values():
    os.fsync(fd)
print("regions:", count, file=sys.stderr)
EOF
sync  # the copies' data stays in the page cache, as engine.sh's copy does

printf '%-7s %7s %7s %7s %8s %9s  %s\n' image wall_s user_s sys_s rss_MiB repo_MiB load
for ((i = 0; i < RUNS; i++)); do
  imgs=(all text random)
  for ((j = 0; j < 3; j++)); do
    img=${imgs[$(( (i + j) % 3 ))]}
    rm -rf "$K/repo" "$K/cache"
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    # shellcheck disable=SC2086
    t=$(/usr/bin/time -f '%e %U %S %M' "$K/safehold-bench" engine full -repo "$K/repo" -cache "$K/cache" \
      -src "$K/$img.img" -name full $ENGINE_FLAGS 2>&1 >/dev/null | tail -n 1)
    read -r wall user sys rss <<<"$t"
    printf '%-7s %7s %7s %7s %8d %9d  %s\n' "$img" "$wall" "$user" "$sys" $((rss / 1024)) \
      "$(du -sm "$K/repo" | cut -f1)" "$load"
  done
done
rm -rf "$K/repo" "$K/cache" "$K"/*.img
