#!/usr/bin/env bash
# Direct access against the kernel's mappings (pmemfs.8, DIRECT ACCESS): the
# mmap jobs of bench/fio/ on a tmpfs, through an ordinary pmemfs mount, and
# through the same mount under pmemfs-run, in one run; then first-touch write
# faults into holes per second and the PMD share of a sequentially written
# 1 GiB file (bench/dax_probe under pmemfs-run). The pool lives in a tmpfs
# mounted huge=always, where a 2 MiB extent can be one PMD in a process.
#
#   bench/run-dax.sh [--build DIR] [--runtime SECONDS]   (also: run-fio.sh --dax)
#
# Needs root (it mounts two tmpfs and pmemfs), fio and python3.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$repo/build
runtime=5
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    *) sed -n '/^#   bench/p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2 ;;
  esac
done
die() { echo "run-dax: $*" >&2; exit 1; }
((EUID == 0)) || die "run as root: it mounts two tmpfs and pmemfs"
for b in fuse/pmemfs tools/mkfs/mkfs.pmemfs tools/ctl/pmemfs-ctl dax/pmemfs-run dax/client/libpmemfs-dax.so bench/dax_probe; do
  [[ -e $build/$b ]] || die "no $build/$b (build first, or pass --build DIR)"
done
export PMEMFS_DAX_LIB=$build/dax/client/libpmemfs-dax.so
run_dax=(sh "$build/dax/pmemfs-run")

work=$(mktemp -d /tmp/pmemfs-dax.XXXXXX)
huge=$work/huge tmnt=$work/tmpfs pmnt=$work/pmemfs
mkdir -p "$huge" "$tmnt" "$pmnt" "$work/jobs" "$work/results"
daemon=""
cleanup() {
  mountpoint -q "$pmnt" && umount "$pmnt"
  [[ -n $daemon ]] && wait "$daemon" 2>/dev/null || true
  mountpoint -q "$tmnt" && umount "$tmnt"
  mountpoint -q "$huge" && umount "$huge"
  rm -rf "$work"
}
trap cleanup EXIT

mount -t tmpfs -o huge=always,size=6g pmemfs-dax-pool "$huge"
mount -t tmpfs -o size=6g pmemfs-dax-tmpfs "$tmnt"
"$build/tools/mkfs/mkfs.pmemfs" -s 4G "$huge/pool" >/dev/null
"$build/fuse/pmemfs" -f -o cache=writethrough "$huge/pool" "$pmnt" >"$work/pmemfs.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do mountpoint -q "$pmnt" && break; sleep 0.1; done
mountpoint -q "$pmnt" || die "pmemfs did not mount: $(cat "$work/pmemfs.log")"

names=(mmap-randwrite-4k mmap-randread-4k)
for n in "${names[@]}"; do
  sed -e "s/^ramp_time=.*/ramp_time=0/" -e "s/^runtime=.*/runtime=$runtime/" "$repo/bench/fio/$n.fio" >"$work/jobs/$n.fio"
done
run() {  # run TARGET DIR [PREFIX...]
  local target=$1 dir=$2 n
  shift 2
  for n in "${names[@]}"; do
    printf 'running %-20s on %s\n' "$n" "$target"
    FIO_DIR=$dir "$@" fio --output-format=json --output="$work/results/$n.$target.json" "$work/jobs/$n.fio" >/dev/null
    find "$dir" -mindepth 1 -delete
  done
}
run tmpfs "$tmnt"
run kernel "$pmnt"
run dax "$pmnt" "${run_dax[@]}"

faults=$("${run_dax[@]}" "$build/bench/dax_probe" faults "$pmnt" 256)
find "$pmnt" -mindepth 1 -delete
pmd=$("${run_dax[@]}" "$build/bench/dax_probe" pmd "$pmnt/seq" $((1 << 30)))
"$build/tools/ctl/pmemfs-ctl" stats "$pmnt" >"$work/stats.json"

python3 - "$work/results" "${names[@]}" <<'PY'
import json, os, sys
d, names = sys.argv[1], sys.argv[2:]
def iops(n, t):
    j = json.load(open(os.path.join(d, f"{n}.{t}.json")))["jobs"][0]
    return j["read"]["iops"] + j["write"]["iops"]
print()
print(f"{'job':20} | {'tmpfs':>12} | {'pmemfs kernel':>13} | {'pmemfs dax':>12} | {'kernel/tmpfs':>12} | {'dax/tmpfs':>9}")
print("-" * 92)
for n in names:
    t, k, x = iops(n, "tmpfs"), iops(n, "kernel"), iops(n, "dax")
    print(f"{n:20} | {t:12,.0f} | {k:13,.0f} | {x:12,.0f} | {k/t:12.2f} | {x/t:9.2f}")
PY
echo
echo "first-touch write faults into holes (4 KiB, through the upgrade path): ${faults#faults_per_second }/s"
echo "sequentially written 1 GiB file, share PMD-mapped in the client: ${pmd#pmd_share }"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('daemon:', {k: v for k, v in d.get('dax', {}).items()})" "$work/stats.json"
