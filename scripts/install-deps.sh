#!/usr/bin/env bash
# Installs the Debian 12 packages pmemfs needs to build, test, benchmark and
# read its man page. Idempotent: asks dpkg first and runs apt-get (update once,
# then install) only when something is missing, so a second run takes well
# under a second. Every other script calls this first.
set -euo pipefail

# What each group is for, so nobody has to guess whether a line can go.
packages=(
  # build
  g++ meson ninja-build pkg-config
  # libraries: FUSE daemon, PMDK pool mapping, logging, FUSE over io_uring
  libfuse3-dev libpmem2-dev libpmem-dev libspdlog-dev liburing-dev
  # CRC-32C of metadata records with the CPU's crc32 instruction (ISA-L);
  # JSON in pmemfs-ctl
  libisal-dev nlohmann-json3-dev
  # optional allocator of the daemon and bench_metadata (-Dmimalloc=enabled;
  # off by default, see meson_options.txt)
  libmimalloc-dev
  # mkfs.pmemfs: finds existing filesystem signatures (like mkfs.ext4 does)
  libblkid-dev
  # tests and benchmarks (Google Test, Google Benchmark, fio; mkfs.xfs for
  # bench/mount_cost.sh's sparse multi-TiB pools)
  libgtest-dev libbenchmark-dev fio xfsprogs
  # tests: mkfs.ext4 makes the foreign filesystem mkfs.pmemfs must not overwrite
  e2fsprogs
  # tests: setfacl/getfacl for the POSIX ACL mount tests
  acl
  # clang and its sanitizer/libFuzzer runtimes (fuzz targets, TSan/ASan)
  clang libclang-rt-14-dev
  # the Debian package (debian/, scripts/test-package.sh): build and lintian
  debhelper dpkg-dev fakeroot lintian
  # runtime: fusermount3 and /etc/fuse.conf for the daemon and mount tests
  fuse3
  # man page check (groff -man) and `man ./pmemfs.8`
  groff-base man-db
  # used by the scripts: mountpoint/setarch/findmnt (util-linux), cmp/diff,
  # python3 (test summary, fio JSON parsing), kmod (modprobe fuse)
  util-linux diffutils python3 kmod
  # real programs under power cuts in the mount tests: SQLite (python3's own
  # sqlite3 module) and LMDB
  python3-lmdb
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# apt's chatter goes to a log that is shown only when something fails.
if ! { "${sudo[@]}" apt-get update -qq &&
       "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps: apt-get failed" >&2
  exit 1
fi
