#!/bin/bash
# The whole test run (`make test`, the README's test command, CI):
#   1. the suite against build/            (tests/run-tests.sh)
#   2. the suite against build-asan/       (ASan+UBSan+LSan, PMT_ASAN=1)
#   3. a short fuzz pass, FUZZ_SECONDS (10) per harness (tools/run-fuzz.sh)
# Each pass keeps its own TAP and summary (tests/out/normal, tests/out/asan,
# build-fuzz/summary); this script adds them up and ends with ONE line,
# "N passed, N failed, N skipped", also written to tests/out/summary.  A pass
# that does not build or never reports counts as one failure.  Exit status 0
# only if nothing failed.  Expects build/ and build-asan/ built (make test
# builds them first; a failed build is reported here as that pass failing).
set -u
cd "$(dirname "$0")/.." || exit 1

MAKE=${MAKE:-make}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
mkdir -p tests/out
rm -f tests/out/summary tests/out/normal/summary tests/out/asan/summary build-fuzz/summary

tp=0 tf=0 ts=0
# add NAME SUMMARY-FILE: adds a pass's counts, or one failure if it has none.
add() {
	local p f s
	if [ -s "$2" ] && read -r p _ f _ s _ <"$2"; then
		echo "run-all.sh: $1: $(cat "$2")" >&2
	else
		echo "run-all.sh: $1: no summary (the pass failed before reporting)" >&2
		p=0 f=1 s=0
	fi
	tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s))
}

echo "# ---- pass 1/3: the suite (build/)"
PMT_BUILD=build PMT_TEST_OUT=tests/out/normal tests/run-tests.sh
add "suite" tests/out/normal/summary

echo "# ---- pass 2/3: the suite under ASan+UBSan (build-asan/)"
if [ -x build-asan/pymemtrace ] && [ -x build-asan/pmt-test-tool ]; then
	# The soak runs 30 s there (its RSS bound is not checked under ASan,
	# whose quarantine grows RSS): memory errors of a long run, not 3 minutes twice.
	PMT_SOAK_SECONDS=${PMT_SOAK_SECONDS_ASAN:-30} \
	PMT_ASAN=1 PMT_BUILD=build-asan PMT_TEST_OUT=tests/out/asan tests/run-tests.sh
fi
add "asan suite" tests/out/asan/summary

echo "# ---- pass 3/3: fuzzing, ${FUZZ_SECONDS}s per harness (build-fuzz/)"
$MAKE --no-print-directory fuzz FUZZ_SECONDS="$FUZZ_SECONDS"
add "fuzz" build-fuzz/summary

summary="$tp passed, $tf failed, $ts skipped"
echo "$summary" >tests/out/summary
echo "$summary"
[ "$tf" -eq 0 ]
