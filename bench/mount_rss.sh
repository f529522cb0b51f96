#!/usr/bin/env bash
# The daemon's DRAM at scale through a real mount (issue 12, item 2): creates
# N empty files (1000 per directory) through the mount, prints the daemon's
# resident set while the kernel holds every inode, then makes the kernel
# forget them (echo 2 > /proc/sys/vm/drop_caches: dentries and inodes) and
# prints it again. Targets for N = 1,000,000: <= 400 MB held, <= 100 MB after
# drop_caches. Needs root and /dev/fuse; a benchmark, not a test.
#
#   bench/mount_rss.sh [N] [BUILD_DIR]     (defaults 1000000, build)
#
# The pool is a file in /dev/shm (its pages are the pool, not the daemon's
# DRAM: RssAnon is the figure, VmRSS is printed beside it).
set -euo pipefail

n=${1:-1000000}
build=${2:-build}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
daemon=$build/fuse/pmemfs
mkfs=$build/tools/mkfs/mkfs.pmemfs
[[ -x $daemon && -x $mkfs ]] || { echo "build $build first (ninja -C $build)" >&2; exit 1; }
((EUID == 0)) || { echo "mount_rss.sh: needs root (drop_caches)" >&2; exit 1; }

work=$(mktemp -d /dev/shm/pmemfs-rss.XXXXXX)
pool=$work/pool
mnt=$work/mnt
mkdir "$mnt"
pid=
cleanup() {
  if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || umount -l "$mnt" || true; fi
  [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# 4 KiB of pool per inode, and room for the directories' blocks.
size_mib=$(( (n * 4096 + n / 15 * 4096) / 1048576 + 512 ))
"$mkfs" -s "${size_mib}M" -i 4096 "$pool" >/dev/null
"$daemon" -f "$pool" "$mnt" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { cat "$work/log" >&2; exit 1; }

rss() {  # "VmRSS MiB / RssAnon MiB" of the daemon
  awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} END {printf "%.0f MB RSS, %.0f MB anonymous", r/1024, a/1024}' \
    "/proc/$pid/status"
}
echo "daemon: $(head -1 "$work/log" | sed 's/.*(libfuse/(libfuse/')"
echo "at mount:            $(rss)"

t0=$SECONDS
python3 - "$mnt" "$n" <<'PY'
import os, sys
mnt, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    if i % 1000 == 0:
        d = os.path.join(mnt, "d%d" % (i // 1000))
        os.mkdir(d)
    os.mknod(os.path.join(d, "file%d" % i))
PY
echo "created $n files in $((SECONDS - t0)) s"
sleep 1
echo "held by the kernel:  $(rss)"
sync
echo 2 >/proc/sys/vm/drop_caches
sleep 3
echo "after drop_caches=2: $(rss)"
