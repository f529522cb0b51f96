#!/usr/bin/env bash
# Builds pmemfs four ways and runs its tests, then builds and checks the
# Debian package and the man page.
#
#   build-ci    plain build (debugoptimized)   every test: unit, mount, fsck, and any other suite
#   build-asan  -Db_sanitize=address,undefined suites unit, fsck, crash and mount
#   build-tsan  -Db_sanitize=thread            suite unit only
#   build-fuzz  clang, -Dfuzz=true, ASan+UBSan the libFuzzer targets only, each fuzzed
#                                              for FUZZ_SECONDS (tests/fuzz/run.sh)
#
# The fuzz targets need clang (gcc has no libFuzzer), so they get a build of
# their own holding nothing else: the library and fsck compiled with coverage
# instrumentation, the targets, at -O1 with line tables only (what a crash
# report needs, for less compile time than -O2 -g). Each target replays the
# inputs that once crashed it (tests/fuzz/corpus/), then mutates; each is one
# entry in the totals.
#
# Why mount tests are not run under TSan: the daemon links libfuse3, which is
# not instrumented, so TSan both slows the daemon's request loop several times
# over (mount tests then hit their timeouts on 2 cores) and reports races
# inside libfuse it cannot see the synchronisation of. The library's
# concurrency (the fault path, the allocator, the journal lanes) is exercised
# in-process by the unit tests, which TSan does see whole.
#
# A suite with no tests yet is reported and skipped, not failed.
# A missing /dev/fuse skips the mount suite with a warning, except under CI=true,
# where it is a failure.
#
# Environment:
#   BUILDS="ci asan tsan fuzz"  which builds to run (default all four)
#   JOBS=2                 ninja -j, meson test --num-processes, fuzz targets at once
#   ASAN_MOUNT=1           run the mount suite in the ASan build too (0 = skip)
#   FUZZ_SECONDS=15        how long each fuzz target mutates after its replay
#   PACKAGE=1              build and check the Debian package (0 = skip); under
#                          CI=true as root it is also installed, used, purged
#
# The last line printed is "N passed, N failed": every meson test result of
# every run, plus one entry per other check (each build, each fuzz target,
# the man page check, /dev/fuse under CI, the TSan self-check). The exit
# status is non-zero when anything failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1

BUILDS=${BUILDS:-ci asan tsan fuzz}
JOBS=${JOBS:-2}
ASAN_MOUNT=${ASAN_MOUNT:-1}
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
CI=${CI:-false}
PACKAGE=${PACKAGE:-1}
CI_INSTALL=""
[[ $CI == true && $EUID -eq 0 ]] && CI_INSTALL=1

passed=0
failed=0
skipped=0
failures=()

say() { printf '\n==> %s\n' "$*"; }
ok() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  failures+=("$1")
  echo "FAILED: $1" >&2
}

summary() {
  echo
  if ((${#failures[@]})); then
    echo "Failures:"
    printf '  %s\n' "${failures[@]}"
  fi
  ((skipped)) && echo "($skipped tests skipped)"
  echo "$passed passed, $failed failed"
  ((failed == 0))
  exit $?
}

# --- dependencies ------------------------------------------------------------
say "dependencies"
if ! bash scripts/install-deps.sh; then
  fail "scripts/install-deps.sh"
  summary
fi

# --- /dev/fuse ---------------------------------------------------------------
have_fuse=1
if [[ ! -c /dev/fuse ]]; then
  modprobe fuse >/dev/null 2>&1 || true
fi
if [[ ! -c /dev/fuse ]]; then
  have_fuse=0
  if [[ "$CI" == true ]]; then
    fail "/dev/fuse is missing (CI=true): mount tests cannot run"
  else
    echo "warning: /dev/fuse is missing; the mount suite is skipped" >&2
  fi
fi

# --- TSan self-check ---------------------------------------------------------
# TSan maps its shadow memory at fixed addresses; kernels with high ASLR
# entropy (vm.mmap_rnd_bits > 28, as on some 6.x kernels) can place libraries
# there and every TSan binary then dies with "unexpected memory mapping".
# Check with a tiny threaded program, and if it fails, run the TSan tests under
# `setarch -R` (no randomisation; inherited by every child meson starts), and as
# a last resort lower vm.mmap_rnd_bits to 28 for the duration of the run.
tsan_wrap=()
restore_rnd_bits=""
# shellcheck disable=SC2317  # called by the EXIT trap
restore() {
  if [[ -n "$restore_rnd_bits" ]]; then
    sysctl -q -w vm.mmap_rnd_bits="$restore_rnd_bits" || true
  fi
  [[ -n "${probe_dir:-}" ]] && rm -rf "$probe_dir"
}
trap restore EXIT

tsan_check() {
  probe_dir=$(mktemp -d)
  cat >"$probe_dir/t.cc" <<'EOF'
#include <thread>
int main() {
  int x = 0;
  std::thread t([&] { x = 1; });
  t.join();
  return x == 1 ? 0 : 1;
}
EOF
  if ! "${CXX:-c++}" -std=c++20 -fsanitize=thread -g "$probe_dir/t.cc" -o "$probe_dir/t" -pthread \
      >"$probe_dir/log" 2>&1; then
    cat "$probe_dir/log" >&2
    return 1
  fi
  if "$probe_dir/t" >"$probe_dir/log" 2>&1; then
    echo "TSan binaries run as they are"
    return 0
  fi
  if setarch "$(uname -m)" -R "$probe_dir/t" >/dev/null 2>&1; then
    echo "TSan binaries need ASLR off here: TSan tests run under setarch -R"
    tsan_wrap=(setarch "$(uname -m)" -R)
    return 0
  fi
  local bits
  bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo "")
  if [[ -n "$bits" ]] && ((bits > 28)) && sysctl -q -w vm.mmap_rnd_bits=28 2>/dev/null; then
    restore_rnd_bits=$bits
    if "$probe_dir/t" >/dev/null 2>&1; then
      echo "TSan binaries need vm.mmap_rnd_bits<=28: lowered from $bits for this run"
      return 0
    fi
  fi
  cat "$probe_dir/log" >&2
  return 1
}

tsan_usable=1
if [[ " $BUILDS " == *" tsan "* ]]; then
  say "TSan self-check"
  if ! tsan_check; then
    tsan_usable=0
    fail "TSan binaries cannot run on this machine (see the message above)"
  fi
fi

# --- helpers -----------------------------------------------------------------

# configure DIR OPTIONS...: sets the build up, or reconfigures one that exists.
configure() {
  local dir=$1
  shift
  if [[ -f "$dir/meson-private/coredata.dat" ]]; then
    meson setup --reconfigure "$dir" "$@"
  else
    rm -rf "$dir"
    meson setup "$dir" "$@"
  fi
}

# suite_count DIR SUITE: how many tests the build defines in SUITE.
suite_count() {
  meson introspect --tests "$1" | python3 -c '
import json, sys
suite = sys.argv[1]
tests = json.load(sys.stdin)
print(sum(1 for t in tests if any(s.split(":")[-1] == suite for s in t["suite"])))
' "$2"
}

# suite_targets DIR SUITES...: the ninja targets (paths relative to DIR) that
# the tests of SUITES need: their executables and declared dependencies.
suite_targets() {
  local dir=$1
  shift
  meson introspect --tests --targets "$dir" | python3 -c '
import json, os, sys
dir, suites = os.path.abspath(sys.argv[1]), set(sys.argv[2:])
d = json.load(sys.stdin)
files = {t["id"]: t["filename"] for t in d["targets"]}
out = set()
for t in d["tests"]:
    if not any(s.split(":")[-1] in suites for s in t["suite"]):
        continue
    paths = [t["cmd"][0]] + [f for i in t.get("depends", []) for f in files.get(i, [])]
    for p in paths:
        if p.startswith(dir + "/"):
            out.add(os.path.relpath(p, dir))
print("\n".join(sorted(out)))
' "$dir" "$@"
}

# run_tests DIR LABEL TIMEOUT_MULT WRAP... -- MESON_TEST_ARGS...
# Runs meson test and adds its results (from the JSON test log) to the totals.
run_tests() {
  local dir=$1 label=$2 mult=$3
  shift 3
  local wrap=()
  while [[ "$1" != -- ]]; do
    wrap+=("$1")
    shift
  done
  shift
  local logbase="testlog-${label// /-}"
  rm -f "$dir/meson-logs/$logbase.json"
  say "$dir: meson test $label"
  "${wrap[@]}" meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$JOBS" \
    --timeout-multiplier "$mult" --logbase "$logbase" "$@"
  local rc=$?
  local counts
  counts=$(python3 - "$dir/meson-logs/$logbase.json" <<'EOF'
import json, os, sys
p = f = s = 0
path = sys.argv[1]
if os.path.exists(path):
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            s += 1
        else:  # FAIL, UNEXPECTEDPASS, TIMEOUT, ERROR, ...
            f += 1
print(p, f, s)
EOF
  )
  local p f s
  read -r p f s <<<"$counts"
  passed=$((passed + p))
  skipped=$((skipped + s))
  if ((f > 0)); then
    failed=$((failed + f))
    failures+=("$dir: $f test(s) failed in $label (see the log above)")
  elif ((rc != 0)); then
    fail "$dir: meson test $label exited $rc with no failed test recorded"
  fi
}

# test_build NAME DIR TIMEOUT_MULT "SUITES" PARTIAL WRAP...
# SUITES "*" means every test of the build. PARTIAL=1 builds only what the
# tests of SUITES need (everything when they have none yet).
test_build() {
  local name=$1 dir=$2 mult=$3 suites=$4 partial=$5
  shift 5
  local wrap=("$@")
  local opts=()
  case $name in
    # CI builds compile each target as one unit (-Dunity=on): on 2 cores that
    # halves the build, which is most of the run. Developers' builds (and
    # quickstart) stay file by file, so a missing #include still shows there.
    # The sanitizer builds use -O1 with line tables only: what a report needs.
    ci) opts=(-Db_sanitize=none -Dunity=on -Dunity_size=64) ;;
    asan) opts=("-Db_sanitize=address,undefined" -Dunity=on -Dunity_size=64
      -Doptimization=1 -Ddebug=false -Dcpp_args=-g1) ;;
    tsan) opts=(-Db_sanitize=thread -Dunity=on -Dunity_size=64
      -Doptimization=1 -Ddebug=false -Dcpp_args=-g1) ;;
  esac

  say "$dir: configure and build (${opts[*]})"
  local t0=$SECONDS
  if ! configure "$dir" "${opts[@]}"; then
    fail "$dir: meson setup failed"
    return
  fi
  local targets=()
  if ((partial)); then
    # shellcheck disable=SC2086  # suites is a word list
    mapfile -t targets < <(suite_targets "$dir" $suites)
    ((${#targets[@]})) && echo "building only what suites '$suites' need (${#targets[@]} targets)"
  fi
  if ! ninja -C "$dir" -j"$JOBS" "${targets[@]}"; then
    fail "$dir: build failed"
    return
  fi
  ok
  echo "$dir built in $((SECONDS - t0))s"

  local args=() chosen=() s n
  if [[ "$suites" == "*" ]]; then
    # Everything, but the mount suite only when /dev/fuse is there.
    if ((!have_fuse)); then
      args+=(--no-suite mount)
    fi
    run_tests "$dir" "all" "$mult" "${wrap[@]}" -- "${args[@]}"
    return
  fi
  for s in $suites; do
    n=$(suite_count "$dir" "$s") || n=0
    if ((n == 0)); then
      echo "$dir: suite '$s' has no tests yet"
      continue
    fi
    if [[ "$s" == mount ]] && ((!have_fuse)); then
      echo "$dir: suite 'mount' skipped: no /dev/fuse"
      continue
    fi
    args+=(--suite "$s")
    chosen+=("$s")
  done
  if ((${#chosen[@]})); then
    local label
    label=$(IFS=+; echo "${chosen[*]}")
    run_tests "$dir" "$label" "$mult" "${wrap[@]}" -- "${args[@]}"
  fi
}

# fuzz_build: configures build-fuzz with clang, builds the fuzz targets and
# fuzzes each for FUZZ_SECONDS; one pass or failure per target.
fuzz_build() {
  local dir=build-fuzz
  local opts=(-Dfuzz=true "-Db_sanitize=address,undefined" -Db_lundef=false
    -Dunity=on -Dunity_size=64 -Doptimization=1 -Ddebug=false -Dcpp_args=-gline-tables-only)
  say "$dir: configure and build the fuzz targets (clang, ${opts[*]})"
  local t0=$SECONDS
  if ! command -v clang++ >/dev/null; then
    fail "$dir: clang++ is missing (scripts/install-deps.sh installs clang)"
    return
  fi
  if ! CC=clang CXX=clang++ configure "$dir" "${opts[@]}"; then
    fail "$dir: meson setup failed"
    return
  fi
  local targets=()
  mapfile -t targets < <(suite_targets "$dir" fuzz)
  if ((${#targets[@]} == 0)); then
    fail "$dir: no fuzz targets configured"
    return
  fi
  if ! ninja -C "$dir" -j"$JOBS" "${targets[@]}"; then
    fail "$dir: build failed"
    return
  fi
  ok
  echo "$dir built in $((SECONDS - t0))s"

  say "$dir: fuzz each target for ${FUZZ_SECONDS}s, $JOBS at a time"
  t0=$SECONDS
  local line n=0
  while IFS= read -r line; do
    echo "$line"
    n=$((n + 1))
    if [[ "$line" =~ ^[a-z_]+:\ ok ]]; then
      ok
    else
      fail "$dir: $line"
    fi
  done < <(JOBS=$JOBS bash tests/fuzz/run.sh "$dir" "$FUZZ_SECONDS")
  ((n > 0)) || fail "$dir: tests/fuzz/run.sh fuzzed nothing"
  echo "fuzzed in $((SECONDS - t0))s"
}

# --- the builds --------------------------------------------------------------
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:abort_on_error=1:print_summary=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

start=$SECONDS
for b in $BUILDS; do
  case $b in
    ci) test_build ci build-ci 1 "*" 0 ;;
    asan)
      suites="unit fsck crash"
      ((ASAN_MOUNT)) && suites+=" mount"
      test_build asan build-asan 3 "$suites" 1
      ;;
    tsan)
      if ((tsan_usable)); then
        # Only the unit tests run under TSan, so only they (and the library) are built.
        test_build tsan build-tsan 5 "unit" 1 "${tsan_wrap[@]}"
      fi
      ;;
    fuzz) fuzz_build ;;
    *) fail "unknown build '$b' in BUILDS (use ci, asan, tsan, fuzz)" ;;
  esac
done

# --- the Debian package --------------------------------------------------------
# Built from the tracked tree, lintian-clean, its contents checked; under CI
# (a machine that may be changed) also installed, used (mkfs, mount -t
# pmemfs, fsck) and purged again.
if ((PACKAGE)); then
  say "Debian package: scripts/test-package.sh${CI_INSTALL:+ --install}"
  t0=$SECONDS
  if bash scripts/test-package.sh ${CI_INSTALL:+--install}; then
    ok
  else
    fail "the Debian package (scripts/test-package.sh)"
  fi
  echo "package checked in $((SECONDS - t0))s"
fi

# --- man page ----------------------------------------------------------------
say "man page: groff -man -ww -z pmemfs.8"
if [[ ! -f pmemfs.8 ]]; then
  fail "pmemfs.8 is missing"
else
  warnings=$(groff -man -ww -z pmemfs.8 2>&1)
  if [[ -n "$warnings" ]]; then
    echo "$warnings" >&2
    fail "pmemfs.8: groff printed warnings"
  else
    echo "no warnings"
    ok
  fi
fi

echo
echo "total time $((SECONDS - start))s"
summary
