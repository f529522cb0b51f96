#!/usr/bin/env bash
# From a fresh clone to a mounted pmemfs in one command:
#   installs the build dependencies, builds into build/, formats an emulated
#   pmem pool file if there is none, and mounts it.
#
# Environment:
#   POOL=/var/lib/pmemfs/pool.img  the pool: a regular file (created, allocated in full) or /dev/daxX.Y
#   SIZE=4G                        size of a pool file created here
#   MNT=/mnt/pmemfs                where to mount it
#   PMEMFS_OPTS=                   extra daemon options, e.g. "-o cache=writethrough"
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

POOL=${POOL:-/var/lib/pmemfs/pool.img}
SIZE=${SIZE:-4G}
MNT=${MNT:-/mnt/pmemfs}
PMEMFS_OPTS=${PMEMFS_OPTS:-}

die() {
  echo "quickstart: $*" >&2
  exit 1
}

bash scripts/install-deps.sh || die "installing dependencies failed"

if [[ ! -f build/meson-private/coredata.dat ]]; then
  rm -rf build
  meson setup build >/dev/null || die "meson setup failed (run 'meson setup build' to see why)"
fi
echo "building into build/ ..."
ninja -C build >/dev/null || die "the build failed (run 'ninja -C build' to see why)"

# mkfs lives in its own folder of tools/; the flat path is accepted too.
mkfs=build/tools/mkfs/mkfs.pmemfs
[[ -x $mkfs ]] || mkfs=build/tools/mkfs.pmemfs
daemon=build/fuse/pmemfs
[[ -x $mkfs ]] || die "mkfs.pmemfs was not built (build/tools/mkfs/mkfs.pmemfs)"
[[ -x $daemon ]] || die "$daemon was not built"

if mountpoint -q "$MNT" 2>/dev/null; then
  what=$(findmnt -n -o SOURCE,FSTYPE "$MNT" | tr -s ' ')
  # A FUSE mount shows as fuse.pmemfs (or the pool as its source).
  if [[ "$what" == *pmemfs* || "$what" == *"$POOL"* ]]; then
    echo "pmemfs is already mounted at $MNT ($what)"
    echo "  unmount:    umount $MNT"
    exit 0
  fi
  die "$MNT is already in use ($what); pick another mount point with MNT=/some/dir"
fi

[[ -c /dev/fuse ]] || modprobe fuse 2>/dev/null || true
[[ -c /dev/fuse ]] || die "/dev/fuse is missing: load the fuse module (modprobe fuse)"

if [[ ! -e "$POOL" ]]; then
  mkdir -p "$(dirname "$POOL")"
  echo "formatting a new $SIZE emulated pmem pool at $POOL"
  "$mkfs" -s "$SIZE" "$POOL" || die "mkfs.pmemfs failed"
fi

mkdir -p "$MNT"
# The daemon detaches once the mount is up (no -f), so $MNT is usable when it returns.
# shellcheck disable=SC2086  # PMEMFS_OPTS is split into words on purpose
"$daemon" $PMEMFS_OPTS "$POOL" "$MNT" || die "the daemon failed to mount $POOL at $MNT"

for _ in $(seq 50); do
  mountpoint -q "$MNT" && break
  sleep 0.1
done
mountpoint -q "$MNT" || die "$MNT did not become a mount point"

echo
echo "pmemfs: $POOL is mounted at $MNT"
echo "  try:        fio --directory=$MNT --name=t --rw=randwrite --bs=4k --size=256M"
echo "  unmount:    umount $MNT"
