#!/bin/bash
# Runs each libFuzzer harness for SECONDS: run-fuzz.sh OUTDIR SECONDS HARNESS...
# (make fuzz calls it).  Seeds come from tools/fuzz-seeds.py (the interpreters
# on this machine, plus tests/fuzz/seeds/); what a run finds is kept in
# OUTDIR/corpus/HARNESS for the next run.  One TAP line per harness, then
# "N passed, N failed, N skipped" (also written to OUTDIR/summary).  A crash,
# a sanitizer report, a leak or a timeout is a failure; its input is saved as
# OUTDIR/artifacts/HARNESS-crash-... and the log as OUTDIR/logs/HARNESS.log.
set -u
cd "$(dirname "$0")/.." || exit 1

if [ $# -lt 3 ]; then
	echo "usage: run-fuzz.sh OUTDIR SECONDS HARNESS..." >&2
	exit 2
fi
out=$1 secs=$2
shift 2
case "$secs" in
''|*[!0-9]*) echo "run-fuzz.sh: SECONDS must be a number, not '$secs'" >&2; exit 2 ;;
esac

mkdir -p "$out/seeds" "$out/corpus" "$out/artifacts" "$out/logs"
/usr/bin/python3 tools/fuzz-seeds.py "$out/seeds" >"$out/logs/seeds.log" 2>&1 ||
	{ cat "$out/logs/seeds.log" >&2; echo "run-fuzz.sh: making seeds failed" >&2; }

# Leaks count: every allocation here is the parsers' own.  halt_on_error makes
# UBSan reports fatal as well (the harnesses build with -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

echo "1..$#"
n=0 passed=0 failed=0
for h in "$@"; do
	n=$((n + 1))
	bin=$out/$h log=$out/logs/$h.log
	mkdir -p "$out/corpus/$h" "$out/seeds/$h"
	if [ ! -x "$bin" ]; then
		echo "not ok $n $h # not built: $bin"
		failed=$((failed + 1))
		continue
	fi
	# -max_len: the ELF seeds are ~100 KiB; -timeout: one input, not the run
	"$bin" -max_total_time="$secs" -max_len=262144 -timeout=30 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$h-" \
		"$out/corpus/$h" "$out/seeds/$h" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$rc" -eq 0 ]; then
		echo "ok $n $h (${secs}s, ${runs:-?} runs)"
		passed=$((passed + 1))
	else
		echo "not ok $n $h (status $rc, log $log)"
		grep -m5 -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | sed 's/^/# /'
		failed=$((failed + 1))
	fi
done

summary="$passed passed, $failed failed, 0 skipped"
echo "$summary" >"$out/summary"
echo "$summary"
[ "$failed" -eq 0 ]
