#!/usr/bin/env bash
# Mount cost against pool size (issue 12 item 3): for each pool size, the
# daemon's anonymous RSS once mounted, the pool pages it has touched, the time
# to mount and the time of an idle unmount, each printed against its target.
#
#   bench/mount_cost.sh [SIZE...]        (default: 1T 16T)
#
# Environment: BUILD=build (where the binaries are), KEEP=1 keeps the work
# directory. Needs root, /dev/fuse and mkfs.xfs (apt-get install xfsprogs).
#
# Where the pools live: pool files are allocated in full (fallocate(2)) by
# mkfs.pmemfs, and no disk here has 16 TiB. XFS allocates a file as unwritten
# extents, which cost a few MiB of its metadata and read as zeros without any
# data being written, so each pool is a file on an XFS that itself lives in a
# sparse file on a private tmpfs: only pages someone writes cost memory. The
# pool's pages the daemon has touched are the Rss of its mapping of the pool
# file in /proc/PID/smaps (pages mapped into the daemon, read or written).
#
# Targets: RssAnon <= 8 MiB; pool pages touched: the metadata of an empty
# pool (superblocks, state, the orphan table, the journal lane headers, the
# root inode, the first page of each bitmap), the same at every size; the
# kernel's fault-around maps up to 64 KiB of page cache around each page
# read, so the figure is up to 16 times the pages read: <= 2 MiB; idle
# unmount <= 0.3 s. Unmount is timed to the daemon's exit (it runs in the
# foreground here, so it is reaped at once; a daemon in the background is
# reaped by init, whenever init gets to it).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-$repo/build}
[[ $build = /* ]] || build=$repo/$build
sizes=("$@")
((${#sizes[@]})) || sizes=(1T 16T)

daemon=$build/fuse/pmemfs
mkfs=$build/tools/mkfs/mkfs.pmemfs
for b in "$daemon" "$mkfs"; do
  [[ -x $b ]] || { echo "mount_cost: $b is missing (ninja -C $build)" >&2; exit 2; }
done
command -v mkfs.xfs >/dev/null || { echo "mount_cost: needs mkfs.xfs (apt-get install xfsprogs)" >&2; exit 2; }
((EUID == 0)) || { echo "mount_cost: needs root (loop and FUSE mounts)" >&2; exit 2; }

work=$(mktemp -d /var/tmp/pmemfs-mountcost.XXXXXX)
mkdir -p "$work/tmpfs" "$work/xfs" "$work/mnt"
cleanup() {
  mountpoint -q "$work/mnt" && umount -l "$work/mnt"
  mountpoint -q "$work/xfs" && umount "$work/xfs"
  mountpoint -q "$work/tmpfs" && umount "$work/tmpfs"
  [[ ${KEEP:-0} = 1 ]] || rm -rf "$work"
}
trap cleanup EXIT

mount -t tmpfs -o size=4G tmpfs "$work/tmpfs"
truncate -s 40T "$work/tmpfs/xfs.img"
mkfs.xfs -q -l size=64m "$work/tmpfs/xfs.img"
mount -o loop "$work/tmpfs/xfs.img" "$work/xfs"

now() { date +%s.%N; }
kib_field() { awk -v k="$1:" '$1 == k { print $2 }' "$2"; }
# Rss (KiB) of the mappings of file $2 in process $1.
mapped_kib() {
  awk -v f="$2" '
    /^[0-9a-f]+-[0-9a-f]+ / { in_pool = ($6 == f) }
    in_pool && $1 == "Rss:" { sum += $2 }
    END { print sum + 0 }' "/proc/$1/smaps"
}
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "ok" : "MISSED" }'; }

printf '%-6s %-28s %12s %12s  %s\n' size figure value target verdict
for size in "${sizes[@]}"; do
  pool=$work/xfs/pool-$size
  "$mkfs" -s "$size" "$pool" >/dev/null
  t0=$(now)
  "$daemon" -f "$pool" "$work/mnt" 2>"$work/daemon-$size.log" &
  pid=$!
  for _ in $(seq 1 3000); do
    mountpoint -q "$work/mnt" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/daemon-$size.log" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(now)
  stat "$work/mnt" >/dev/null
  sleep 0.5  # let the daemon settle: what it holds at rest
  rss=$(kib_field RssAnon "/proc/$pid/status")
  touched=$(mapped_kib "$pid" "$pool")
  t2=$(now)
  umount "$work/mnt"
  wait "$pid" || { echo "mount_cost: the daemon exited $?" >&2; cat "$work/daemon-$size.log" >&2; }
  t3=$(now)
  mount_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  umount_s=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.3f", b - a }')
  printf '%-6s %-28s %9s KiB %9s KiB  %s\n' "$size" "daemon RssAnon" "$rss" 8192 "$(verdict "$rss" 8192)"
  printf '%-6s %-28s %9s KiB %9s KiB  %s\n' "$size" "pool pages touched" "$touched" 2048 "$(verdict "$touched" 2048)"
  printf '%-6s %-28s %11s s %11s  %s\n' "$size" "mount (exec to mounted)" "$mount_s" "-" "-"
  printf '%-6s %-28s %11s s %11s s  %s\n' "$size" "idle unmount (to exit)" "$umount_s" 0.3 "$(verdict "$umount_s" 0.3)"
  rm -f "$pool"
done
