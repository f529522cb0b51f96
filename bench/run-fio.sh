#!/usr/bin/env bash
# Runs the fio jobs in bench/fio/ against a fresh pmemfs, the project's null
# FUSE filesystem (bench/null_fs.cc: answers at once, discards writes, reads
# zeros -- the ceiling of a FUSE filesystem on this machine) and a tmpfs, in
# the same run, and prints one table:
#   job | tmpfs | null | pmemfs | pmemfs/null | pmemfs requests per I/O
# with the null and pmemfs columns once per transport asked for: the null
# fs runs on the daemon's transport layer, so it negotiates what pmemfs does
# on the same transport (and io_uring rows are also divided by the null fs
# over /dev/fuse, the ceiling io_uring is to beat).
#
#   bench/run-fio.sh [--build DIR] [--runtime SECONDS] [--pool-size SIZE]
#                    [--cache MODE] [--transports "fuse io_uring"]
#                    [--rounds N] [--opts "-o ..."] [JOB.fio ...]
#   bench/run-fio.sh --dax [--build DIR] [--runtime SECONDS]   (run-dax.sh)
#
# Defaults: the programs of build/, every bench/fio/*.fio, the runtime written
# in each job (5 s), a 4G pool, cache=writethrough for pmemfs and the null fs
# alike, transport /dev/fuse ("fuse"; "io_uring" mounts both with -o
# io_uring=on, and switches the fuse module's enable_uring on for the run,
# putting it back at the end), one round. The pool lives in /dev/shm
# (memory, like the tmpfs it is compared with) and is deleted at the end.
# Each job's files are laid out first (fio --create_only; not for a job of
# fio's filecreate engine, which times the creating itself) and the job runs
# without ramp time, so that the
# requests pmemfs counted (pmemfs-ctl stats) over the job divided by the I/Os
# fio did are the requests per I/O. Sequential jobs are reported in MB/s
# (10^6 bytes), the others in IOPS.
#
# The null fs and pmemfs on one transport are mounted side by side and each
# job runs on one, then at once on the other (null first in odd rounds,
# pmemfs first in even ones), so that the machine's drift over minutes does
# not land between the two figures a ratio divides. With --rounds N every
# job runs N times on each: the table shows the median figure and the median
# ratio of the N same-round pairs, with their range. Needs root (it mounts a tmpfs and two
# FUSE filesystems) and python3.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$repo/build
runtime=""
pool_size=4G
cache=writethrough
transports=fuse
rounds=1
daemon_opts=""
jobs=()

usage() {
  sed -n '/^#   bench/,/^#  *\[--opts/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,3\}//' >&2
  exit 2
}

while (($#)); do
  case $1 in
    # Direct access: the mmap jobs under pmemfs-run (run-dax.sh).
    --dax) shift; exec "$repo/bench/run-dax.sh" "$@" ;;
    --build) build=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --pool-size) pool_size=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --opts) daemon_opts=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "run-fio: unknown option $1" >&2; usage ;;
    *) jobs+=("$1"); shift ;;
  esac
done
((${#jobs[@]})) || jobs=("$repo"/bench/fio/*.fio)
pmemfs_bin=$build/fuse/pmemfs
mkfs_bin=$build/tools/mkfs/mkfs.pmemfs
ctl_bin=$build/tools/ctl/pmemfs-ctl
null_bin=$build/bench/null_fs

die() {
  echo "run-fio: $*" >&2
  exit 1
}
((EUID == 0)) || die "run as root: it mounts a tmpfs and two FUSE filesystems"
for tool in fio python3; do
  command -v $tool >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds: a count of 1 or more, not $rounds"
case $cache in writeback | writethrough | none) ;; *) die "--cache: writeback, writethrough or none" ;; esac
for t in $transports; do
  case $t in fuse | io_uring) ;; *) die "--transports: fuse and/or io_uring, not $t" ;; esac
done
for b in "$pmemfs_bin" "$mkfs_bin" "$ctl_bin" "$null_bin"; do
  [[ -x $b ]] || die "no $b (build first, or pass --build DIR)"
done
[[ -c /dev/fuse ]] || die "/dev/fuse is missing (modprobe fuse)"

work=$(mktemp -d /tmp/pmemfs-fio.XXXXXX)
pool=/dev/shm/pmemfs-fio-$$.pool
tmnt=$work/tmpfs
nmnt=$work/null
pids=()
uring_param=/sys/module/fuse/parameters/enable_uring
uring_was=""
mkdir -p "$tmnt" "$nmnt" "$work/results" "$work/jobs"

cleanup() {
  local rc=$? m pid log
  for m in "$work"/pmemfs-* "$nmnt"; do
    [[ -d $m ]] && mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m" || true; }
  done
  for pid in "${pids[@]}"; do
    # umount ends a daemon; give it a moment, then insist.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  mountpoint -q "$tmnt" && umount "$tmnt"
  [[ -n $uring_was ]] && echo "$uring_was" >"$uring_param"
  rm -f "$pool"
  if ((rc != 0)); then
    for log in "$work"/*.log; do
      [[ -s $log ]] && { echo "run-fio: $log:" >&2; tail -20 "$log" >&2; }
    done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_mounted DIR PID NAME
wait_mounted() {
  for _ in $(seq 100); do
    mountpoint -q "$1" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  die "$3 did not mount at $1"
}

# run_job NAME TARGET DIR ROUND: lays the job's files out, then runs it; on
# pmemfs, with the daemon's stats read before and after.
run_job() {
  local name=$1 target=$2 dir=$3 out=$work/results/$1.$2.r$4
  printf 'round %s/%s: running %-26s on %s\n' "$4" "$rounds" "$name" "$target"
  [[ -f $work/jobs/$name.layout.fio ]] &&
    { FIO_DIR=$dir fio "$work/jobs/$name.layout.fio" >"$out.layout.log" 2>&1 || true; }
  [[ $target == pmemfs-* ]] && "$ctl_bin" stats "$dir" >"$out.before"
  if ! FIO_DIR=$dir fio --output-format=json --output="$out.json" "$work/jobs/$name.fio" \
      >"$out.log" 2>&1; then
    cat "$out.log" >&2
    echo "run-fio: $name failed on $target" >&2
    rm -f "$out.json"
  fi
  [[ $target == pmemfs-* ]] && "$ctl_bin" stats "$dir" >"$out.after"
  find "$dir" -mindepth 1 -delete 2>/dev/null || true
}

names=()
for job in "${jobs[@]}"; do
  [[ -f $job ]] || die "no such job file: $job"
  name=$(basename "$job" .fio)
  names+=("$name")
  sed -e "s/^ramp_time=.*/ramp_time=0/" ${runtime:+-e "s/^runtime=.*/runtime=$runtime/"} \
    "$job" >"$work/jobs/$name.fio"
  # A job that creates its files (fio's filecreate engine) is timed on the
  # creating: laid out first, it would time opening files that exist on
  # pmemfs and never existed on the null fs.
  grep -q '^ioengine=filecreate' "$job" ||
    sed -e "s/^unlink=.*/unlink=0/" -e '/^\[global\]/a create_only=1' "$job" >"$work/jobs/$name.layout.fio"
done

echo "pool:   $pool ($pool_size, in /dev/shm)"
"$mkfs_bin" -s "$pool_size" "$pool" >"$work/mkfs.log" 2>&1 || { cat "$work/mkfs.log" >&2; die "mkfs failed"; }
mount -t tmpfs -o size=16g,mode=1777 pmemfs-fio-tmpfs "$tmnt"
echo "tmpfs:  $tmnt"
targets=(tmpfs)
for name in "${names[@]}"; do run_job "$name" tmpfs "$tmnt" 1; done

# FUSE over io_uring needs the fuse module's enable_uring: switched on for
# the run (pmemfs's io_uring_enable_module would do the same) and put back
# as it was at the end (cleanup).
if [[ " $transports " == *" io_uring "* ]]; then
  [[ -w $uring_param ]] || die "--transports io_uring: this kernel has no $uring_param"
  uring_was=$(cat "$uring_param")
  echo Y >"$uring_param"
fi

# Per transport: the null filesystem and pmemfs on it, mounted side by side
# (each pmemfs mount in turn on the same pool: a pool is locked while it is
# mounted), every job on both in every round, then both unmounted.
# stop_last TARGET DIR: unmounts DIR and waits for its daemon (the last pid).
stop_last() {
  umount "$2"
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
}

for transport in $transports; do
  nopts=(-o "cache=$cache")
  [[ $transport == io_uring ]] && nopts+=(-o io_uring=on)
  "$null_bin" "${nopts[@]}" "$nmnt" >"$work/null-$transport.log" 2>&1 &
  pids+=($!)
  echo "null:   $nmnt (${nopts[*]})"
  wait_mounted "$nmnt" "${pids[-1]}" "null-$transport"

  pm=$work/pmemfs-$transport
  mkdir -p "$pm"
  opts="cache=$cache"
  [[ $transport == io_uring ]] && opts+=",io_uring=on"
  [[ $transport == fuse ]] && opts+=",io_uring=off"
  # The daemon stays in the foreground (-f) so this script owns its pid.
  # shellcheck disable=SC2086  # daemon_opts is split into words on purpose
  "$pmemfs_bin" -f -o "$opts" $daemon_opts "$pool" "$pm" >"$work/pmemfs-$transport.log" 2>&1 &
  pids+=($!)
  echo "pmemfs: $pm (-o $opts${daemon_opts:+ $daemon_opts})"
  wait_mounted "$pm" "${pids[-1]}" "pmemfs-$transport"
  targets+=("null-$transport" "pmemfs-$transport")

  for ((round = 1; round <= rounds; round++)); do
    for name in "${names[@]}"; do
      if ((round % 2)); then
        run_job "$name" "null-$transport" "$nmnt" "$round"
        run_job "$name" "pmemfs-$transport" "$pm" "$round"
      else
        run_job "$name" "pmemfs-$transport" "$pm" "$round"
        run_job "$name" "null-$transport" "$nmnt" "$round"
      fi
    done
  done
  stop_last "pmemfs-$transport" "$pm"
  # The null fs's pid is now the last.
  stop_last "null-$transport" "$nmnt"
done

echo
python3 "$repo/bench/fio_table.py" --rounds "$rounds" "$work/results" "${targets[*]}" "${names[@]}"
