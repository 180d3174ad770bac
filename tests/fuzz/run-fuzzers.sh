#!/bin/sh
# run-fuzzers.sh - run libFuzzer targets for a while each, report, fail on a crash
#
# Usage: run-fuzzers.sh CORPUS_DIR SECONDS TARGET...
#
# Run in the build directory that holds the targets. Each target reads
# CORPUS_DIR/TARGET (the seeds kept in the repository) and writes what it
# finds to fuzz-work/TARGET; a crash, leak or timeout leaves its input in
# fuzz-artifacts/ and makes the run fail. Prints one line per target,
#     PASS: fuzz_x 412345 executions in 20 s (corpus 57)
#     FAIL: fuzz_x crashed; reproducer fuzz-artifacts/fuzz_x-crash-...
# and a total "fuzzing: N executions, K targets, F failed".
set -u
corpus=$1
seconds=$2
shift 2
mkdir -p fuzz-work fuzz-artifacts
total=0
failed=0
for t in "$@"; do
    mkdir -p "fuzz-work/$t"
    log=fuzz-work/$t.log
    ./"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz-artifacts/$t-" "fuzz-work/$t" "$corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    execs=${execs:-0}
    total=$((total + execs))
    n=$(ls "fuzz-work/$t" | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "PASS: $t $execs executions in $seconds s (corpus $(ls "$corpus/$t" | wc -l) seeds + $n new)"
    else
        failed=$((failed + 1))
        echo "FAIL: $t exit $rc after $execs executions; reproducer: $(ls fuzz-artifacts/"$t"-* 2>/dev/null | head -n 1)"
        grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 5 | sed 's/^/    /'
    fi
done
echo "fuzzing: $total executions, $# targets, $failed failed"
[ "$failed" -eq 0 ]
