#!/usr/bin/env bats
# GC: exact collection counts against the interpreter's own gc.get_stats().
# The fixture disables automatic GC, so the traced window holds exactly the N
# explicit gc.collect(2) calls (gc.collect(2) collects generation 2).

load lib/common

N=7

# gc_attach LABEL: -p attach, N collections in the window, SIGINT to stop.
gc_attach() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" i expect
	start_fixture "$PY" gc_collect.py "$N"
	start_tracer -q -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	assert_eq "fixture output" "$N" "$(sed -n 2p "$FIX_CTL/stdout")"
	i=$(proc_index "$j" "$FIX_PID")
	assert_eq "python.version" "$PYVER_FULL" "$(json_get "$j" ".processes[$i].python.version")"
	# What the interpreter itself counted in the window, per generation.
	for g in 0 1 2; do
		expect=$(jq ".after[$g] - .before[$g]" "$FIX_CTL/done")
		assert_eq "gc.collections[$g]" "$expect" \
			"$(json_get "$j" ".processes[$i].gc.collections[$g]")"
	done
	assert_eq "gc.collections[2]" "$N" "$(json_get "$j" ".processes[$i].gc.collections[2]")"
	assert_eq "gc.pause_ns.count" "$N" "$(json_get "$j" ".processes[$i].gc.pause_ns.count")"
	assert_ge "gc.pause_ns.total" "$(json_get "$j" ".processes[$i].gc.pause_ns.total")" 1
	assert_ge "gc.pause_ns.max" "$(json_get "$j" ".processes[$i].gc.pause_ns.max")" 1
	assert_eq "sum of gc.pause_ns.hist" "$N" \
		"$(json_get "$j" "[.processes[$i].gc.pause_ns.hist[]] | add")"
	assert_eq "gc.collected" "$(jq .found "$FIX_CTL/done")" \
		"$(json_get "$j" ".processes[$i].gc.collected")"
	assert_eq "lost" 0 "$(json_get "$j" ".processes[$i].lost")"
}

# gc_launch LABEL: `-- CMD`; traced from the first instruction, so every
# collection the interpreter counted (gc.get_stats at exit) must be seen.
gc_launch() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" ctl i pid
	ctl=$(mktemp -d "$BATS_TEST_TMPDIR/fix.XXXXXX")
	start_tracer -q --json "$j" -- "$PY" "$FIXTURES/gc_collect.py" "$N" --ctl "$ctl"
	# The child is held until the probes are attached: ready means traced.
	wait_file "$ctl/ready" 30 "$TRACER_PID" || { show_tracer; return 1; }
	pid=$(cat "$ctl/ready")
	fixture_go "$ctl"
	touch "$ctl/exit"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	assert_eq "fixture output" "READY $pid" "$(sed -n 1p "$TRACER_OUT")"
	i=$(proc_index "$j" "$pid")
	for g in 0 1 2; do
		assert_eq "gc.collections[$g]" "$(jq ".collections[$g]" "$ctl/final")" \
			"$(json_get "$j" ".processes[$i].gc.collections[$g]")"
	done
	assert_ge "gc.pause_ns.total" "$(json_get "$j" ".processes[$i].gc.pause_ns.total")" 1
	assert_eq "lost" 0 "$(json_get "$j" ".processes[$i].lost")"
}

@test "gc: exact counts, -p attach, debian python3.11" { gc_attach debian3.11; }
@test "gc: exact counts, -p attach, python3.8" { gc_attach py3.8; }
@test "gc: exact counts, -p attach, python3.9" { gc_attach py3.9; }
@test "gc: exact counts, -p attach, python3.10" { gc_attach py3.10; }
@test "gc: exact counts, -p attach, python3.11" { gc_attach py3.11; }
@test "gc: exact counts, -p attach, python3.12" { gc_attach py3.12; }
@test "gc: exact counts, -p attach, python3.13" { gc_attach py3.13; }

@test "gc: exact counts, -- launch, debian python3.11" { gc_launch debian3.11; }
@test "gc: exact counts, -- launch, python3.8" { gc_launch py3.8; }
@test "gc: exact counts, -- launch, python3.9" { gc_launch py3.9; }
@test "gc: exact counts, -- launch, python3.10" { gc_launch py3.10; }
@test "gc: exact counts, -- launch, python3.11" { gc_launch py3.11; }
@test "gc: exact counts, -- launch, python3.12" { gc_launch py3.12; }
@test "gc: exact counts, -- launch, python3.13" { gc_launch py3.13; }
