#!/bin/sh
# fuzz.sh BUILD SECONDS JOBS CORPUS_NAME TARGET... - runs each fuzz target of
# BUILD (make fuzz-build) for SECONDS with JOBS workers on its corpus
# BUILD/CORPUS_NAME/<target>, the seeds BUILD/seeds/<target> and the kept
# crashes tests/fuzz/regress/<target>. Prints each target's executions;
# fails at the first target that crashes, leaks, hangs or runs out of
# memory (libFuzzer's report and the input are in BUILD/).
set -eu
build=$1 seconds=$2 jobs=$3 corpus=$4
shift 4
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1
rm -rf "$build/seeds"
"$build/make_seeds" "$build/seeds" > /dev/null
total=0
for t in "$@"; do
    dirs="$build/$corpus/$t $build/seeds/$t"
    [ -d "tests/fuzz/regress/$t" ] && dirs="$dirs tests/fuzz/regress/$t"
    mkdir -p "$build/$corpus/$t"
    log="$build/fuzz_$t.log"
    rm -f "$build"/fuzz-"$t"-*.log
    status=0
    if [ "$jobs" -gt 1 ]; then
        # -jobs: workers write fuzz-<n>.log in the current directory
        ( cd "$build" && ./"fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -jobs="$jobs" -workers="$jobs" -artifact_prefix=./ -print_final_stats=1 \
            $(for d in $dirs; do case $d in /*) echo "$d";; *) echo "../$d";; esac; done | \
              sed "s|^\.\./$build/|./|") ) > "$log" 2>&1 || status=$?
        cat "$build"/fuzz-*.log >> "$log" 2>/dev/null || true
        rm -f "$build"/fuzz-*.log
    else
        "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$build/" -print_final_stats=1 $dirs > "$log" 2>&1 || status=$?
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s += $1} END {print s + 0}')
    total=$((total + runs))
    if [ "$status" -ne 0 ] || grep -qE '^==[0-9]+==ERROR|^SUMMARY: |fuzz [a-z]+: ' "$log"; then
        echo "fuzz: $t FAILED after $runs executions (exit $status); see $log" >&2
        grep -E '^==[0-9]+==ERROR|^SUMMARY|fuzz [a-z]+: |Test unit written' "$log" | head -20 >&2
        exit 1
    fi
    echo "fuzz: $t clean, $runs executions in ${seconds} s x $jobs"
done
echo "fuzz: all clean, $total executions"
