#!/usr/bin/env bash
# Builds the Debian package (debian/) and checks it as a user meets it:
#   1. dpkg-buildpackage -us -uc -b in a copy of the tracked source tree
#      (the checkout stays clean);
#   2. lintian on the .deb, failing on errors and warnings;
#   3. its contents: every command where mount(8), mkfs(8) and fsck(8) look,
#      the manual for each;
#   4. with --install (root, a machine that may be changed: CI): apt-get
#      install ./pmemfs_*.deb, mkfs.pmemfs a pool, mount -t pmemfs it, write
#      and read a file, umount, fsck.pmemfs it; then the package is purged
#      again, so that later test runs use the built programs, not these.
#
#   scripts/test-package.sh [--install] [--keep DIR]
#
# --keep DIR copies the .deb to DIR. Prints the package's path and "package
# ok" at the end; exits non-zero on the first failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install=0
keep=""
while (($#)); do
  case $1 in
    --install) install=1; shift ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "test-package: unknown argument $1" >&2; exit 2 ;;
  esac
done

die() {
  echo "test-package: $*" >&2
  exit 1
}

work=$(mktemp -d /tmp/pmemfs-package.XXXXXX)
mnt=""
cleanup() {
  local rc=$?
  if [[ -n $mnt ]] && mountpoint -q "$mnt"; then umount "$mnt" || umount -l "$mnt" || true; fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# 1. Build, from what git tracks (a clean clone's tree; nothing of build-*/).
version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
src=$work/pmemfs-${version%%-*}
mkdir -p "$src"
git -C "$repo" ls-files -z | (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$src"
echo "building pmemfs $version (dpkg-buildpackage -us -uc -b)"
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=${JOBS:-2}" \
      dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1); then
  tail -40 "$work/build.log" >&2
  die "dpkg-buildpackage failed"
fi
deb=$(ls "$work"/pmemfs_"$version"_*.deb)
[[ -f $deb ]] || die "no .deb was made"
echo "built $(basename "$deb")"
[[ -n $keep ]] && cp "$deb" "$keep"/

# 2. lintian: errors and warnings fail (info and pedantic tags do not).
if ! lintian --fail-on error,warning "$deb" >"$work/lintian.log" 2>&1; then
  cat "$work/lintian.log" >&2
  die "lintian found errors or warnings"
fi
cat "$work/lintian.log"
echo "lintian: no errors or warnings"

# 3. Contents.
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/contents"
for f in /usr/bin/pmemfs /usr/bin/pmemfs-ctl /usr/bin/pmemfs-crashtest /usr/bin/pmemfs-run \
         "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/pmemfs/libpmemfs-dax.so" \
         /sbin/mount.pmemfs /sbin/mount.fuse.pmemfs /sbin/mkfs.pmemfs /sbin/fsck.pmemfs \
         /usr/share/man/man8/pmemfs.8.gz /usr/share/man/man8/mount.pmemfs.8.gz \
         /usr/share/man/man8/mkfs.pmemfs.8.gz /usr/share/man/man8/fsck.pmemfs.8.gz \
         /usr/share/man/man8/pmemfs-ctl.8.gz /usr/share/man/man8/pmemfs-crashtest.8.gz \
         /usr/share/man/man8/pmemfs-run.8.gz \
         /usr/share/doc/pmemfs/copyright; do
  grep -qx "$f" "$work/contents" || die "the package has no $f"
done
echo "contents: every command and its manual"
deps=$(dpkg-deb -f "$deb" Depends)
echo "depends: $deps"
for lib in libfuse3 libpmem2 libpmem1 libspdlog libisal liburing libblkid; do
  [[ $deps == *"$lib"* ]] || die "Depends lacks $lib: $deps"
done

# 4. Installed, as a user would.
if ((install)); then
  ((EUID == 0)) || die "--install needs root"
  if dpkg -s pmemfs >/dev/null 2>&1; then die "pmemfs is installed already; not touching it"; fi
  echo "apt-get install $(basename "$deb")"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; die "apt-get install failed"; }
  purge() { DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq pmemfs >/dev/null 2>&1 || true; }
  trap 'purge; cleanup' EXIT
  pool=$work/pool.img
  mnt=$work/mnt
  mkdir -p "$mnt"
  (cd / && mkfs.pmemfs -s 64M "$pool") >"$work/mkfs.log" 2>&1 ||
    { cat "$work/mkfs.log" >&2; die "mkfs.pmemfs failed"; }
  mount -t pmemfs "$pool" "$mnt" || die "mount -t pmemfs failed"
  echo "hello from the package" >"$mnt/hello"
  [[ $(cat "$mnt/hello") == "hello from the package" ]] || die "read back wrong data"
  # The installed client: a direct mapping, and its store seen by read(2).
  dax_out=$(PMEMFS_DAX_DEBUG=1 pmemfs-run python3 -c 'import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 0)
m[0:5] = b"HELLO"' "$mnt/hello" 2>&1) || die "pmemfs-run failed: $dax_out"
  [[ $dax_out == *"direct mapping of inode"* ]] || die "pmemfs-run mapped nothing directly: $dax_out"
  [[ $(cat "$mnt/hello") == "HELLO from the package" ]] || die "a store through pmemfs-run was not read back"
  findmnt -n -o FSTYPE "$mnt" | grep -qx fuse.pmemfs || die "not mounted as fuse.pmemfs"
  umount "$mnt"
  for _ in $(seq 50); do pgrep -f "pmemfs.*$pool" >/dev/null || break; sleep 0.1; done
  fsck.pmemfs -n "$pool" || die "fsck.pmemfs found problems after the mount"
  man -w pmemfs >/dev/null 2>&1 || [[ -f /usr/share/man/man8/pmemfs.8.gz ]] || die "no manual installed"
  echo "installed: mkfs.pmemfs, mount -t pmemfs, a file written and read, umount, fsck clean"
  purge
  dpkg -s pmemfs >/dev/null 2>&1 && die "pmemfs is still installed after the purge"
  echo "purged again"
fi
echo "$(basename "$deb")"
echo "package ok"
