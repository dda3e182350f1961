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
	trace_window gc_collect.py "$N" -- --json "$j" || return 1
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
	gc_probe_hits "$j" "$N"
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

# The text report's overhead line: the same hits, and a share of the
# target's CPU.  With the kernel timing BPF programs the programs' time is
# measured and named; the sysctl is restored whatever happens.
gc_overhead_text() {
	require_tracing
	use_interp "$1"
	local stats=/proc/sys/kernel/bpf_stats_enabled old
	old=$(cat "$stats")
	echo "$2" >"$stats"
	trace_window gc_collect.py "$N"
	local rc=$?
	echo "$old" >"$stats"
	[ "$rc" = 0 ] || return 1
	# the block joined into one line: its wrapping depends on the figures
	local text e r
	text=$(sed -n '/^overhead/,/^$/p' "$TRACER_OUT" | tr -s ' \n' '  ')
	[[ "$text" =~ probe\ hits\ $((2 * N))\ \(entry\ ([0-9]+),\ return\ ([0-9]+)\):\ at\ least\ [0-9.]+\ [mun]?s\ of\ the\ traced\ processes\'\ [0-9.]+\ [mun]?s\ of\ CPU\ \([0-9.]+%\) ]] ||
		{ echo "# overhead: $text" >&3; return 1; }
	e=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]}
	assert_eq "entry + return hits" $((2 * N)) $((e + r))
	# a few collections cost far under a tenth: no slowdown line
	[[ "$text" != *"slower while traced"* ]] || { echo "# overhead: $text" >&3; return 1; }
	if [ "$2" = 1 ]; then
		[[ "$text" == *"BPF programs "*" (kernel.bpf_stats_enabled)"* ]] ||
			{ echo "# overhead: $text" >&3; return 1; }
	else
		[[ "$text" == *"(kernel.bpf_stats_enabled=1 adds it)"* ]] ||
			{ echo "# overhead: $text" >&3; return 1; }
	fi
}

@test "gc: the overhead line counts each collection's two hits, python3.12" { gc_overhead_text py3.12 0; }
@test "gc: the overhead line times the BPF programs when the kernel does, debian python3.11" { gc_overhead_text debian3.11 1; }

@test "gc: exact counts, -- launch, debian python3.11" { gc_launch debian3.11; }
@test "gc: exact counts, -- launch, python3.8" { gc_launch py3.8; }
@test "gc: exact counts, -- launch, python3.9" { gc_launch py3.9; }
@test "gc: exact counts, -- launch, python3.10" { gc_launch py3.10; }
@test "gc: exact counts, -- launch, python3.11" { gc_launch py3.11; }
@test "gc: exact counts, -- launch, python3.12" { gc_launch py3.12; }
@test "gc: exact counts, -- launch, python3.13" { gc_launch py3.13; }

# gc_overlap LABEL: a subinterpreter collects on another thread while the
# main interpreter's collection waits in a finalizer (fixtures/gc_overlap.py).
# Before 3.12 a collection's start waits in the process's one slot (bpf/
# pymemtrace.h, PMT_GC_SERIAL); the second, overlapping start must go to the
# per-thread hash instead of taking the slot, or the outer collection's end
# would find the inner one's start and one collection per round would be
# lost.  2N collections, N pairs nested in time, all timed.  Not on 3.8:
# its collector state is process-wide, so the inner collection never runs.
gc_overlap() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" i
	trace_window gc_overlap.py "$N" -- --json "$j" || return 1
	assert_eq "fixture output" "$N" "$(sed -n 2p "$FIX_CTL/stdout")"
	# each interpreter did collect N times (the rounds did overlap)
	assert_eq "main interpreter's gen-2 count" "$N" "$(jq .main_gen2 "$FIX_CTL/done")"
	assert_eq "subinterpreter's gen-2 count" "$N" "$(jq .sub_gen2 "$FIX_CTL/done")"
	i=$(proc_index "$j" "$FIX_PID")
	assert_eq "gc.collections" "[0,0,$((2 * N))]" \
		"$(json_get "$j" "[.processes[$i].gc.collections[]] | tostring")"
	assert_eq "gc.pause_ns.count" "$((2 * N))" "$(json_get "$j" ".processes[$i].gc.pause_ns.count")"
	assert_eq "lost" 0 "$(json_get "$j" ".processes[$i].lost")"
}

@test "gc: a subinterpreter's collection inside the main one's, debian python3.11" { gc_overlap debian3.11; }
@test "gc: a subinterpreter's collection inside the main one's, python3.9" { gc_overlap py3.9; }
@test "gc: a subinterpreter's collection inside the main one's, python3.11" { gc_overlap py3.11; }
@test "gc: a subinterpreter's collection inside the main one's, python3.12" { gc_overlap py3.12; }
@test "gc: a subinterpreter's collection inside the main one's, python3.13" { gc_overlap py3.13; }
