#!/usr/bin/env bats
# Coverage: how many allocations --alloc sees on Debian's LTO python3.11,
# against a pyenv 3.11 build (no LTO, every allocation through a probed
# function) running the same workload.  The figure goes to
# tests/out/coverage.txt and into README.md ("Coverage").

load lib/common

WORKLOAD=tests/fixtures/alloc_workload.py

alloc_count() {
	local py=$1 j=$2
	run timeout 120 "$PMT" -q --alloc --json "$j" -- "$py" "$WORKLOAD"
	assert_eq "tracer exit status on $py" 0 "$status" || { echo "# $output" >&3; return 1; }
	json_get "$j" '.processes[0].alloc.count'
}

@test "coverage: Debian python3.11 against pyenv 3.11 on one workload, reported honestly" {
	require_tracing
	local ref deb jd="$BATS_TEST_TMPDIR/deb.json" jr="$BATS_TEST_TMPDIR/ref.json" ratio known
	interp_path py3.11 >/dev/null || skip "no pyenv 3.11 to compare Debian's python3.11 with"
	deb=$(alloc_count /usr/bin/python3.11 "$jd")
	ref=$(alloc_count "$(interp_path py3.11)" "$jr")
	assert_ge "allocations seen on pyenv 3.11" "$ref" 100000
	ratio=$("$HOST_PY" -c "print('%.3f' % ($deb / $ref))")
	mkdir -p tests/out
	printf 'debian-3.11 %s pyenv-3.11 %s coverage %s\n' "$deb" "$ref" "$ratio" | tee tests/out/coverage.txt >&3
	# The non-LTO build sees everything, and says so.
	assert_eq "pyenv coverage" 1 "$(json_get "$jr" '.processes[0].alloc.coverage')"
	# Debian's: the goal is 90% of the reference.  Its report must not
	# claim a coverage it cannot know, and must say why.
	"$HOST_PY" -c "import sys; sys.exit(0 if $ratio >= 0.9 else 1)" ||
		{ echo "# coverage $ratio is below the 90% goal" >&3; return 1; }
	known=$(json_get "$jd" '.processes[0].alloc.coverage')
	if [ "$known" != null ]; then
		"$HOST_PY" -c "import sys; sys.exit(0 if abs($known - $ratio) < 0.1 else 1)" ||
			{ echo "# claimed coverage $known, measured $ratio" >&3; return 1; }
	else
		[[ "$(json_get "$jd" '.processes[0].alloc.coverage_reason')" == *"inlined"* ]]
	fi
}
