#!/usr/bin/env bash
# Fuzzes the targets of a -Dfuzz=true build, each for a bounded time.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]     (default: every target)
#
# Each target starts from the seeds it writes itself (into
# BUILD_DIR/tests/fuzz/corpus/TARGET, which keeps what the fuzzer finds for
# the next run) and from the inputs that once crashed it (tests/fuzz/corpus/
# TARGET); it replays them all, then mutates for SECONDS. A crash, hang or
# broken promise is saved as BUILD_DIR/tests/fuzz/TARGET-crash-* (or -timeout-,
# -oom-) and the log is BUILD_DIR/tests/fuzz/TARGET.log.
#
# Prints one line per target, "TARGET: ok, N runs, N exec/s" or
# "TARGET: FAILED ...", and exits non-zero when any failed. JOBS targets run
# at once (default 1).
set -uo pipefail

if (($# < 2)); then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 16
fi
build=$(cd "$1" && pwd) || exit 16
seconds=$2
shift 2
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$build/tests/fuzz
JOBS=${JOBS:-1}

targets=("$@")
if ((${#targets[@]} == 0)); then
  for exe in "$out"/fuzz_*; do
    [[ -f "$exe" && -x "$exe" ]] && targets+=("$(basename "$exe")")
  done
fi
if ((${#targets[@]} == 0)); then
  echo "$0: no fuzz targets in $out (configure with -Dfuzz=true, then build them)" >&2
  exit 1
fi

# Sanitizer reports end the run with the input saved; leaks too.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

# run_one TARGET: fuzzes it; its result line goes to TARGET.result.
run_one() {
  local t=$1 exe=$out/$1 log=$out/$1.log
  local corpus=$out/corpus/$t
  local args=("--seeds=$corpus" "$corpus")
  [[ -d "$src/corpus/$t" ]] && args+=("$src/corpus/$t")
  # -timeout: one input may take this long (a slow input is a hang);
  # the outer timeout catches a fuzzer that never returns at all.
  timeout $((seconds * 4 + 120)) "$exe" "${args[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$t-" >"$log" 2>&1
  local rc=$?
  local runs speed
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  if ((rc == 0)); then
    echo "$t: ok, ${runs:-?} runs, ${speed:-?} exec/s" >"$out/$t.result"
  else
    local why
    why=$(grep -m1 -E 'ERROR: |broken promise|^fuzz: |ALARM|Test unit written' "$log" | cut -c1-160)
    echo "$t: FAILED (exit $rc) ${why:-} -- see $log" >"$out/$t.result"
  fi
}

running=0
for t in "${targets[@]}"; do
  if [[ ! -x "$out/$t" ]]; then
    echo "$t: FAILED (not built: ninja -C $build tests/fuzz/$t)" >"$out/$t.result"
    continue
  fi
  rm -f "$out/$t.result"
  run_one "$t" &
  running=$((running + 1))
  if ((running >= JOBS)); then
    wait -n
    running=$((running - 1))
  fi
done
wait

failed=0
for t in "${targets[@]}"; do
  line=$(cat "$out/$t.result" 2>/dev/null || echo "$t: FAILED (no result)")
  echo "$line"
  [[ "$line" == "$t: ok"* ]] || failed=$((failed + 1))
done
((failed == 0))
