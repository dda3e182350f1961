#!/usr/bin/env bats
# The command line's reporting options: -i, --dry-run and -v content, --json -.
# Fixtures that never get "go" are ended by teardown (pmt_cleanup).

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	require_tracing
}

@test "cli: -i prints interval reports, then the final report" {
	local out="$BATS_TEST_TMPDIR/out"
	start_fixture /usr/bin/python3.11 gc_collect.py 6
	start_tracer -q -i 0.4 -d 8 -p "$FIX_PID"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	cp "$TRACER_OUT" "$out"
	# At least 3 interval tables before the final report (8 s / 0.4 s,
	# minus the time to attach), and the final report last.
	assert_ge "interval reports" "$(grep -c '^pymemtrace: interval at' "$out")" 3
	grep -q '^pymemtrace: 1 process' "$out"
	[ "$(grep -n '^pymemtrace: interval at' "$out" | tail -1 | cut -d: -f1)" -lt \
	  "$(grep -n '^pymemtrace: 1 process' "$out" | cut -d: -f1)" ]
	# The last interval row shows the 6 generation-2 collections: the
	# fixture finished its work long before the trace ended.
	grep -E "^ +$FIX_PID .* [0-9]+/[0-9]+/6 " "$out" | tail -1 | grep -q .
	fixture_exit "$FIX_CTL" "$FIX_PID"
}

@test "cli: --dry-run on Debian's python3.11 names the interpreter, version source and USDT probes" {
	start_fixture /usr/bin/python3.11 gc_collect.py 1
	run "$PMT" --dry-run -p "$FIX_PID"
	assert_eq "dry-run status" 0 "$status"
	[[ "$output" == *"pid $FIX_PID: CPython 3.11."*"Py_Version"* ]]
	[[ "$output" == *"interpreter: /usr/bin/python3.11 (statically linked executable)"* ]]
	[[ "$output" == *".symtab no (stripped)"* ]]
	[[ "$output" == *"probe gc_start"*"usdt python:gc__start"* ]]
	[[ "$output" == *"probe arena_alloc"*"decoded PyObject_GetArenaAllocator"* ]]
}

@test "cli: --dry-run on a pyenv build chooses uprobes from .symtab, and says why" {
	local label py
	for label in py3.8 py3.9 py3.10 py3.11 py3.12 py3.13; do
		py=$(interp_path "$label") && break
	done
	[ -n "${py:-}" ] || skip "no pyenv 3.8-3.13 installed"
	start_fixture "$py" gc_collect.py 1
	run "$PMT" --dry-run -p "$FIX_PID"
	assert_eq "dry-run status" 0 "$status"
	[[ "$output" == *"shared libpython"* ]]
	[[ "$output" == *".symtab yes"* ]]
	[[ "$output" == *"probe gc_collect"*"uprobe "*"why: no USDT gc probes;"* ]]
}

@test "cli: -v says which interpreter and probes were chosen, on stderr" {
	start_fixture /usr/bin/python3.11 gc_collect.py 1
	start_tracer -v -d 1 -p "$FIX_PID"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	grep -q "pid $FIX_PID: CPython 3.11" "$TRACER_ERR"
	grep -q "attached gc_start: usdt python:gc__start" "$TRACER_ERR"
	# stdout holds the report only.
	! grep -q "attached gc_start" "$TRACER_OUT"
}

@test "cli: --json - writes only JSON on stdout" {
	start_fixture /usr/bin/python3.11 gc_collect.py 1
	run --separate-stderr "$PMT" -q -d 0.5 --json - -p "$FIX_PID"
	assert_eq "status" 0 "$status"
	"$HOST_PY" -c 'import json,sys; d=json.load(sys.stdin); assert d["processes"][0]["pid"] == int(sys.argv[1])' \
		"$FIX_PID" <<<"$output"
}

@test "cli: the report states the tracer's own attach time, CPU and peak memory" {
	local j="$BATS_TEST_TMPDIR/report.json"
	run timeout 60 "$PMT" -q --json "$j" -- /usr/bin/python3.11 -c pass
	assert_eq "status" 0 "$status"
	"$HOST_PY" - "$j" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["tracer"]
# pymemtrace reads its own numbers; these bounds only say they are real ones.
assert 0 < t["attach_seconds"] < 30, t
assert 0 <= t["cpu_seconds"] < 30, t
assert 1 << 20 < t["peak_rss_bytes"] < 1 << 31, t
PY
	[[ "$output" == *"tracer"*"attach"*"CPU"*"peak RSS"* ]]
}
