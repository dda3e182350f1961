#!/bin/bash
# Runs every tests/*.bats in name order with TAP output, keeps a copy in
# tests/out/, and ends with the summary line "N passed, N failed, N skipped".
# Exit status: 0 only if nothing failed.
set -u
cd "$(dirname "$0")/.." || exit 1

out=tests/out
mkdir -p "$out"
tap="$out/results.tap"

files=(tests/*.bats)
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
