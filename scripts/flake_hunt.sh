#!/usr/bin/env bash
# Hunt for tests that fail only sometimes: run the suite RUNS times in a row (default 5) beside
# BURNERS processes that only burn CPU (default 1: on 2 cores, every test then competes for its
# time), and list every test that failed in any run. The tier is JOBQ_TEST_TIER's (fast unless
# set to full). Logs: test-artifacts/flakes/run-N.log; the summary: test-artifacts/flakes/summary.
# Run it from a checkout nobody edits meanwhile: the suite's subprocesses import src/.
#
#   make flake-hunt                       # 5 fast-tier runs, one CPU burner
#   RUNS=2 JOBQ_TEST_TIER=full make flake-hunt
set -u
cd "$(dirname "$0")/.."
runs="${RUNS:-5}"
burners="${BURNERS:-1}"
out=test-artifacts/flakes
# as in .ci/run: the PostgreSQL and browser tests run, never skip
export JOBQ_TEST_POSTGRES_DSN="${JOBQ_TEST_POSTGRES_DSN:-postgresql://postgres@127.0.0.1:5432/test}"
export JOBQ_TEST_REQUIRE_POSTGRES=1 JOBQ_TEST_REQUIRE_BROWSER=1
mkdir -p "$out"
: > "$out/summary"

pids=()
stop_burners() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done  # only the burners we started
}
trap stop_burners EXIT
for _ in $(seq 1 "$burners"); do
    .venv/bin/python -c 'while True: pass' &
    pids+=("$!")
done

failed_runs=0
for run in $(seq 1 "$runs"); do
    began=$(date +%s)
    .venv/bin/pytest -q -p no:cacheprovider > "$out/run-$run.log" 2>&1
    status=$?
    took=$(( $(date +%s) - began ))
    echo "run $run: exit $status in ${took} s ($(tail -n 1 "$out/run-$run.log"))" | tee -a "$out/summary"
    if [ "$status" -ne 0 ]; then
        failed_runs=$((failed_runs + 1))
        grep -E '^(FAILED|ERROR) ' "$out/run-$run.log" | sed "s/^/  run $run: /" | tee -a "$out/summary"
    fi
done
echo "$failed_runs of $runs runs failed (tier ${JOBQ_TEST_TIER:-fast}, $burners CPU burner(s))" | tee -a "$out/summary"
[ "$failed_runs" -eq 0 ]
