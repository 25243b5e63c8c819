#!/bin/sh
# Runs every fuzz target (or the ones named) for SECONDS each, one at a time, at low priority,
# with fuzz/seeds/<target> as a second (read-only) corpus. Logs go to fuzz/logs/<target>.log;
# prints "target seconds executions result" per target.
# Usage: fuzz/run_all.sh [target...]   env: SECONDS_PER_TARGET (75), CARGO_TARGET_DIR.
set -u
cd "$(dirname "$0")"
secs=${SECONDS_PER_TARGET:-75}
export RUSTC_BOOTSTRAP=1
targets=${*:-$(cargo fuzz list)}
mkdir -p logs
for t in $targets; do
    mkdir -p "corpus/$t" "seeds/$t"
    start=$(date +%s)
    nice -n 10 cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"logs/$t.log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "logs/$t.log" | tail -1 | tr -d '#')
    if [ $rc -eq 0 ]; then res=ok
    elif grep -q 'could not compile\|failed to build fuzz script' "logs/$t.log"; then res=BUILD-FAILED
    else res="FAIL($(grep -o 'ERROR: libFuzzer: [a-z-]*\|panicked at [^:]*:[0-9]*' "logs/$t.log" | head -1))"; fi
    echo "$t $took ${runs:-?} $res"
done
