#!/bin/bash
# Runs every tests/*.bats in name order (or the files given) with TAP output,
# keeps a copy in $PMT_TEST_OUT (tests/out/), and ends with the summary line
# "N passed, N failed, N skipped".  Exit status: 0 only if nothing failed.
#
# PMT_BUILD=build-asan runs the suite against the sanitizer build (make asan
# sets it, and PMT_ASAN=1, which tests check with skip_under_asan).
set -u
cd "$(dirname "$0")/.." || exit 1

export PMT_BUILD=${PMT_BUILD:-build}
export PMT_TEST_TOOL=${PMT_TEST_TOOL:-$PWD/$PMT_BUILD/pmt-test-tool}
export PYMEMTRACE=${PYMEMTRACE:-$PWD/$PMT_BUILD/pymemtrace}   # tools/bench
if [ "${PMT_ASAN:-0}" = 1 ]; then
	# Any report ends the process with status 86 (not a signal, not a
	# status a test expects), and the test that ran it fails.  Leaks count,
	# except in the libraries named in tests/asan/lsan.supp.
	export PMT_ASAN
	export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:exitcode=86:detect_leaks=1:abort_on_error=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:exitcode=86:print_stacktrace=1}
	export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/asan/lsan.supp:print_suppressions=0}
fi

out=${PMT_TEST_OUT:-tests/out}
mkdir -p "$out"
tap="$out/results.tap"

if [ $# -gt 0 ]; then
	files=("$@")
else
	files=(tests/*.bats)
fi
if [ ! -e "${files[0]}" ]; then
	echo "run-tests.sh: no tests/*.bats found" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

# bats runs the files in the order given; the glob is sorted.
bats --formatter tap "${files[@]}" 2>&1 | tee "$tap"
rc=${PIPESTATUS[0]}

# TAP: "ok N desc", "ok N desc # skip reason", "not ok N desc"; the plan "1..N".
passed=$(grep -cE '^ok [0-9]+' "$tap" | tr -d ' ')
skipped=$(grep -cE '^ok [0-9]+.*# [Ss][Kk][Ii][Pp]' "$tap" | tr -d ' ')
failed=$(grep -cE '^not ok [0-9]+' "$tap" | tr -d ' ')
passed=$((passed - skipped))
planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$tap" | head -1)

# Tests that never reported (bats crashed, a file did not parse) are failures.
if [ -n "$planned" ] && [ $((passed + skipped + failed)) -lt "$planned" ]; then
	echo "run-tests.sh: $((planned - passed - skipped - failed)) planned tests did not report" >&2
	failed=$((planned - passed - skipped))
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "run-tests.sh: bats exited with status $rc" >&2
	failed=1
fi

summary="$passed passed, $failed failed, $skipped skipped"
echo "$summary" >"$out/summary"
echo "$summary"
[ "$failed" -eq 0 ]
