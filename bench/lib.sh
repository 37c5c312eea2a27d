# lib.sh - what bench/peers.sh and bench/engine.sh share: the timing of one
# step (GNU time -v) into results.tsv, and the markdown table of its rows.
# Source it after setting W (the scratch dir), RES_TSV and DROP_CACHES and
# after defining log and die.

dir_bytes() {  # allocated bytes of a path (0 if missing)
  [[ -e $1 ]] || { echo 0; return; }
  du -s -B1 "$1" | awk '{print $1}'
}

drop_caches() {
  if [[ $DROP_CACHES == 1 ]]; then
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || log "warning: cannot drop caches"
  fi
}

# dev_stat: the /sys stat file of the block device holding $W (empty when
# there is none: tmpfs, overlay without a device, no /sys).
dev_stat() {
  local src
  src=$(findmnt -no SOURCE -T "$W" 2>/dev/null | head -n1) || return 0
  src=$(readlink -f "$src" 2>/dev/null) || return 0
  [[ -r /sys/class/block/${src##*/}/stat ]] && echo "/sys/class/block/${src##*/}/stat"
  return 0
}

# dev_note PEER STEP: what the device did during the step (from the block
# device's counters around it: every process's I/O, not the step's alone):
# MiB read and written, and the time it had requests in flight (io_ticks).
# A step whose busy time is close to its wall waited on the device.
dev_note() {
  local f="$W/logs/$1.$2.dev"
  [[ -s $f ]] || return 0
  awk '{printf "device: read %.0f MiB, wrote %.0f MiB, busy %.2f s (%.0f %% of the wall)", $1, $2, $3, ($4 > 0 ? 100 * $3 / $4 : 0)}' "$f"
}

# run_step PEER STEP REPO_PATH_OR_- LOGICAL_BYTES NOTE -- cmd...
# Times cmd (its output goes to logs/PEER.STEP.log) and appends one row to
# RES_TSV: peer, step, wall s, user s, sys s, peak RSS MiB, repo bytes after,
# logical bytes, note.
run_step() {
  local peer=$1 step=$2 repo=$3 logical=$4 note=$5; shift 6
  local tf="$W/logs/$peer.$step.time" lf="$W/logs/$peer.$step.log"
  mkdir -p "$W/logs"
  drop_caches
  log "$peer: $step: $*"
  local t0 t1 rc=0 ds s0="" s1=""
  ds=$(dev_stat)
  [[ -n $ds ]] && s0=$(<"$ds")
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$tf" "$@" >"$lf" 2>&1 || rc=$?
  t1=$(date +%s%N)
  [[ -n $ds ]] && s1=$(<"$ds")
  if (( rc != 0 )); then
    tail -n 20 "$lf" >&2
    die "$peer $step failed (rc=$rc), log: $lf"
  fi
  local wall user sys rss repo_b
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/1e9}')
  user=$(awk -F': ' '/User time \(seconds\)/{print $2}' "$tf")
  sys=$(awk -F': ' '/System time \(seconds\)/{print $2}' "$tf")
  rss=$(awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$tf")
  if [[ $repo == - ]]; then repo_b=""; else repo_b=$(dir_bytes "$repo"); fi
  # /sys/block/*/stat: sectors read is field 3, written 7, io_ticks (ms) 10
  rm -f "$W/logs/$peer.$step.dev"
  if [[ -n $s0 && -n $s1 ]]; then
    echo $s0 $s1 | awk -v n="$(echo $s0 | wc -w)" -v w="$wall" \
      '{printf "%.1f %.1f %.3f %s\n", ($(n+3)-$3)/2048, ($(n+7)-$7)/2048, ($(n+10)-$10)/1000, w}' >"$W/logs/$peer.$step.dev"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$peer" "$step" "$wall" "$user" "$sys" "$rss" "$repo_b" "$logical" "$note" >>"$RES_TSV"
}

results_table() {  # the rows of RES_TSV as a markdown table
  echo "| peer | step | wall s | user s | sys s | CPU % | peak RSS MiB | repo MiB after | MiB/s (logical) | notes |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
  awk -F'\t' -v OFS=' | ' '{
    cpu = $4 + $5; pct = ($3 > 0) ? 100 * cpu / $3 : 0
    repo = ($7 == "") ? "" : sprintf("%.1f", $7 / 1048576)
    tput = ($8 == "" || $3 <= 0) ? "" : sprintf("%.0f", $8 / 1048576 / $3)
    print "| " $1, $2, $3, $4, $5, sprintf("%.0f", pct), $6, repo, tput, $9 " |"
  }' "$RES_TSV"
}
