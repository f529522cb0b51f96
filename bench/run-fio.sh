#!/usr/bin/env bash
# Runs the fio jobs in bench/fio/ against a fresh pmemfs and a tmpfs, in the
# same run, and prints one table: job | pmemfs | tmpfs | pmemfs/tmpfs.
#
#   bench/run-fio.sh [--pmemfs-bin PATH] [--mkfs PATH] [--runtime SECONDS]
#                    [--pool-size SIZE] [--opts "-o cache=..."] [JOB.fio ...]
#
# Defaults: build/fuse/pmemfs, build/tools/mkfs/mkfs.pmemfs, every bench/fio/*.fio,
# the runtime written in each job (5 s), a 4G pool. The pool lives in /dev/shm
# (memory, like the tmpfs it is compared with) and is deleted at the end.
# Sequential jobs are reported in MB/s (10^6 bytes), the others in IOPS.
# Needs root (it mounts a tmpfs and a FUSE filesystem) and python3.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pmemfs_bin=$repo/build/fuse/pmemfs
mkfs_bin=$repo/build/tools/mkfs/mkfs.pmemfs
[[ -x $mkfs_bin ]] || mkfs_bin=$repo/build/tools/mkfs.pmemfs
runtime=""
pool_size=4G
daemon_opts=""
jobs=()

usage() {
  sed -n '/^#   bench/,/^#  *\[JOB/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,3\}//' >&2
  exit 2
}

while (($#)); do
  case $1 in
    --pmemfs-bin) pmemfs_bin=$2; shift 2 ;;
    --mkfs) mkfs_bin=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --pool-size) pool_size=$2; shift 2 ;;
    --opts) daemon_opts=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "run-fio: unknown option $1" >&2; usage ;;
    *) jobs+=("$1"); shift ;;
  esac
done
((${#jobs[@]})) || jobs=("$repo"/bench/fio/*.fio)

die() {
  echo "run-fio: $*" >&2
  exit 1
}
((EUID == 0)) || die "run as root: it mounts a tmpfs and pmemfs"
for tool in fio python3; do
  command -v $tool >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done
[[ -x $pmemfs_bin ]] || die "no daemon at $pmemfs_bin (build first, or pass --pmemfs-bin)"
[[ -x $mkfs_bin ]] || die "no mkfs at $mkfs_bin (build first, or pass --mkfs)"
[[ -c /dev/fuse ]] || die "/dev/fuse is missing (modprobe fuse)"

work=$(mktemp -d /tmp/pmemfs-fio.XXXXXX)
pool=/dev/shm/pmemfs-fio-$$.pool
pmnt=$work/pmemfs
tmnt=$work/tmpfs
daemon_pid=""
mkdir -p "$pmnt" "$tmnt" "$work/results" "$work/jobs"

cleanup() {
  local rc=$?
  if mountpoint -q "$pmnt"; then
    umount "$pmnt" 2>/dev/null || fusermount3 -u "$pmnt" 2>/dev/null || umount -l "$pmnt" || true
  fi
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    # umount ends the daemon; give it a moment, then insist.
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  mountpoint -q "$tmnt" && umount "$tmnt"
  rm -f "$pool"
  if ((rc != 0)) && [[ -s $work/daemon.log ]]; then
    echo "run-fio: daemon log:" >&2
    tail -20 "$work/daemon.log" >&2
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "pool:   $pool ($pool_size, in /dev/shm)"
"$mkfs_bin" -s "$pool_size" "$pool" >"$work/mkfs.log" 2>&1 || { cat "$work/mkfs.log" >&2; die "mkfs failed"; }

# The daemon stays in the foreground (-f) so this script owns its pid.
# shellcheck disable=SC2086  # daemon_opts is split into words on purpose
"$pmemfs_bin" -f $daemon_opts "$pool" "$pmnt" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  mountpoint -q "$pmnt" && break
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
mountpoint -q "$pmnt" || die "pmemfs did not mount at $pmnt"
mount -t tmpfs -o size=16g,mode=1777 pmemfs-fio-tmpfs "$tmnt"
echo "pmemfs: $pmnt ($pmemfs_bin${daemon_opts:+ $daemon_opts})"
echo "tmpfs:  $tmnt"
echo

for job in "${jobs[@]}"; do
  [[ -f $job ]] || die "no such job file: $job"
  name=$(basename "$job" .fio)
  file=$work/jobs/$name.fio
  if [[ -n $runtime ]]; then
    sed "s/^runtime=.*/runtime=$runtime/" "$job" >"$file"
  else
    cp "$job" "$file"
  fi
  for target in pmemfs tmpfs; do
    dir=$pmnt
    [[ $target == tmpfs ]] && dir=$tmnt
    printf 'running %-20s on %s\n' "$name" "$target"
    if ! FIO_DIR=$dir fio --output-format=json --output="$work/results/$name.$target.json" \
        "$file" >"$work/results/$name.$target.log" 2>&1; then
      cat "$work/results/$name.$target.log" >&2
      echo "run-fio: $name failed on $target" >&2
      rm -f "$work/results/$name.$target.json"
    fi
  done
done

echo
python3 - "$work/results" "${jobs[@]}" <<'EOF'
import json, os, sys

results, jobs = sys.argv[1], sys.argv[2:]

def measure(path):
    """(value, unit) of one fio JSON result, summed over its jobs."""
    try:
        with open(path) as f:
            text = f.read()
        # fio may print notes before the JSON object.
        data = json.loads(text[text.index("{"):])
    except (OSError, ValueError):
        return None, None
    value, unit = 0.0, None
    for j in data["jobs"]:
        rw = j["job options"].get("rw", "")
        bs = j["job options"].get("bs", "4k")
        sequential = rw in ("read", "write") and bs.lower() not in ("4k", "4096")
        for ddir in ("read", "write"):
            d = j[ddir]
            if d["io_bytes"] == 0:
                continue
            if sequential:
                value += d["bw_bytes"] / 1e6
                unit = "MB/s"
            else:
                value += d["iops"]
                unit = "IOPS"
    return value, unit

rows = []
for job in jobs:
    name = os.path.basename(job)[:-len(".fio")]
    p, unit = measure(os.path.join(results, name + ".pmemfs.json"))
    t, unit_t = measure(os.path.join(results, name + ".tmpfs.json"))
    unit = unit or unit_t or ""
    fmt = lambda v: "failed" if v is None else f"{v:,.0f} {unit}"
    ratio = f"{p / t:.2f}" if p is not None and t else "-"
    rows.append((name, fmt(p), fmt(t), ratio))

head = ("job", "pmemfs", "tmpfs", "pmemfs/tmpfs")
w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
line = lambda r: f"{r[0]:<{w[0]}} | {r[1]:>{w[1]}} | {r[2]:>{w[2]}} | {r[3]:>{w[3]}}"
print(line(head))
print("-+-".join("-" * x for x in w))
for r in rows:
    print(line(r))
sys.exit(1 if any("failed" in r for r in rows) else 0)
EOF
