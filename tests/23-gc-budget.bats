#!/usr/bin/env bats
# --gc-budget (README "GC timing under a budget"): while timing every
# collection costs the traced processes more than the budget, collections
# are timed in windows, and counted by the interpreter's own counters.  The
# fixture (gc_storm.py) runs a storm of young collections, a calm, then N
# gen-2 collections, with automatic GC off: the interpreter's gc.get_stats
# before and after is the exact count to compare with.

load lib/common

STORM_S=3
N=5

# storm_checks JSON I COUNTS: what every --gc-budget trace of gc_storm.py
# must show; COUNTS, a file in FIX_CTL, holds the exact collections per
# generation the trace should report.
storm_checks() {
	local j="$1" i="$2" g want
	local p=".processes[$i].gc"
	assert_eq "gc_budget.on" true "$(json_get "$j" .gc_budget.on)"
	assert_ge "switches to windows" "$(json_get "$j" .gc_budget.switches)" 1
	assert_ge "windows" "$(json_get "$j" .gc_budget.windows)" 1
	# the calm made a window see no collection: every one timed again
	assert_eq "mode at the end" all "$(json_get "$j" .gc_budget.mode)"
	assert_eq "sampled" true "$(json_get "$j" "$p.sampled")"
	assert_eq "counted_by" interpreter "$(json_get "$j" "$p.counted_by")"
	for g in 0 1 2; do
		want=$(jq ".[$g]" "$FIX_CTL/$3")
		assert_eq "collections[$g] (the interpreter's own count)" "$want" \
			"$(json_get "$j" "$p.collections[$g]")" || return 1
	done
	# the storm was not all timed; the N gen-2 ones after the calm were
	assert_eq "gen-2 collections timed" "$N" "$(json_get "$j" "$p.generations[2].pause_ns.count")"
	assert_ge "timed" "$(json_get "$j" "$p.timed")" "$N"
	assert_eq "timed < counted" true \
		"$(json_get "$j" "$p.timed < ($p.collections | add)")"
	assert_eq "pause count = timed" "$(json_get "$j" "$p.timed")" \
		"$(json_get "$j" "$p.pause_ns.count")"
	# cut collections are not losses
	assert_eq "lost" 0 "$(json_get "$j" ".processes[$i].lost")"
	assert_eq "arm failures" 0 "$(json_get "$j" "$p.arm_failures")"
	# the windows kept the whole trace's share under what timing all cost,
	# both as measured (the budget charges twice that: GC_BUDGET_CHARGE)
	assert_eq "gc_budget.charge" 2 "$(json_get "$j" .gc_budget.charge)"
	assert_eq "overall share < the share that triggered" true "$(json_get "$j" \
		'.overhead.estimate_seconds / .overhead.target_cpu_seconds <
		 .gc_budget.trigger_share / .gc_budget.charge')"
	tr -s ' \n' ' ' <"$TRACER_OUT" | grep -q "GC timing timing every collection cost at least [0-9.]*% of the traced processes' CPU, charged 2 x that ([0-9.]*%) for the traps' cache effects, over --gc-budget" ||
		{ show_tracer; return 1; }
	grep -q "^timed         [0-9]* collections, in --gc-budget windows" "$TRACER_OUT" ||
		{ show_tracer; return 1; }
}

# -p attach: the counters' base is read at attach, before the fixture's go.
budget_attach() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json"
	trace_window gc_storm.py "$STORM_S" "$N" -- --gc-budget 10 --json "$j" || return 1
	# before/after are the fixture's own gc.get_stats around the work
	local g
	for g in 0 1 2; do
		jq -e ".after[$g] - .before[$g]" "$FIX_CTL/done" >/dev/null || return 1
	done
	jq '[.after, .before] | transpose | map(.[0] - .[1])' "$FIX_CTL/done" >"$FIX_CTL/delta"
	storm_checks "$j" 0 delta
}

@test "gc budget: timed in windows past it, every collection counted, -p attach, debian python3.11" { budget_attach debian3.11; }
@test "gc budget: timed in windows past it, every collection counted, -p attach, python3.8" { budget_attach py3.8; }
@test "gc budget: timed in windows past it, every collection counted, -p attach, python3.9" { budget_attach py3.9; }
@test "gc budget: timed in windows past it, every collection counted, -p attach, python3.10" { budget_attach py3.10; }
@test "gc budget: timed in windows past it, every collection counted, -p attach, python3.11" { budget_attach py3.11; }
@test "gc budget: timed in windows past it, every collection counted, -p attach, python3.12" { budget_attach py3.12; }
@test "gc budget: timed in windows past it, every collection counted, -p attach, python3.13" { budget_attach py3.13; }

# `-- CMD`: the interpreter is held before its first instruction, so its
# counters are found once it has initialised, and count from zero; the
# process exits on its own, counted to its last read.
budget_launch() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" pid
	FIX_CTL=$(mktemp -d "$BATS_TEST_TMPDIR/fix.XXXXXX")
	start_tracer -q --gc-budget 10 --json "$j" -- "$PY" "$FIXTURES/gc_storm.py" \
		"$STORM_S" "$N" --ctl "$FIX_CTL"
	wait_file "$FIX_CTL/ready" 30 "$TRACER_PID" || { show_tracer; return 1; }
	pid=$(cat "$FIX_CTL/ready")
	fixture_go "$FIX_CTL"
	sleep 0.3  # a counter read or more after the last collection
	touch "$FIX_CTL/exit"
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	assert_eq "state" exited "$(json_get "$j" '.processes[0].state')"
	assert_le "counts read before the end (ms)" \
		"$(json_get "$j" '.processes[0].gc.counts_age_seconds * 1000 | floor')" 250
	jq '.collections' "$FIX_CTL/final" >"$FIX_CTL/from_zero"
	storm_checks "$j" 0 from_zero
}

@test "gc budget: counted from zero for a launched interpreter that exits, debian python3.11" { budget_launch debian3.11; }
@test "gc budget: counted from zero for a launched interpreter that exits, python3.13" { budget_launch py3.13; }

# budget_end_burst LABEL exit|exec: the fixture's last collections (a
# burst of END_BURST young ones) come right before it leaves or execs
# /bin/sleep: no periodic read can see them, the BPF side's read at the end
# does (at the exit on kernels that fire sched_process_exit before the
# address space goes, as 6.18 does; at the execve's syscall entry
# anywhere).  The fixture leaves with os._exit: its interpreter is never
# finalised, so on 3.10 too (whose main interpreter is freed by
# finalisation) the read holds.
END_BURST=3000
budget_end_burst() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" pid p=".processes[0].gc" state
	state=$([ "$2" = exec ] && echo exec || echo exited)
	FIX_CTL=$(mktemp -d "$BATS_TEST_TMPDIR/fix.XXXXXX")
	start_tracer -q --gc-budget 10 --json "$j" -- "$PY" "$FIXTURES/gc_storm.py" \
		"$STORM_S" "$N" "--$2-burst" "$END_BURST" --ctl "$FIX_CTL"
	wait_file "$FIX_CTL/ready" 30 "$TRACER_PID" || { show_tracer; return 1; }
	pid=$(cat "$FIX_CTL/ready")
	fixture_go "$FIX_CTL"
	wait_file "$FIX_CTL/done" 60 "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/exit"
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	assert_eq "state" "$state" "$(json_get "$j" '.processes[0].state')"
	assert_eq "the burst ran" "$END_BURST" "$(jq .burst "$FIX_CTL/final")"
	assert_eq "counts read at the end" true "$(json_get "$j" "$p.counts_read_at_end")"
	assert_eq "counts age" 0 "$(json_get "$j" "$p.counts_age_seconds")"
	jq '.collections' "$FIX_CTL/final" >"$FIX_CTL/from_zero"
	storm_checks "$j" 0 from_zero
	grep -q "collections counted by the interpreter, read at its ${2/exec/execve}" \
		"$TRACER_OUT" || { show_tracer; return 1; }
}

@test "gc budget: the collections right before an exit are counted, by a read at the exit, debian python3.11" { budget_end_burst debian3.11 exit; }
@test "gc budget: the collections right before an exit are counted, by a read at the exit, python3.10" { budget_end_burst py3.10 exit; }
@test "gc budget: the collections right before an exit are counted, by a read at the exit, python3.12" { budget_end_burst py3.12 exit; }
@test "gc budget: the collections right before an exec are counted, by a read at the execve, debian python3.11" { budget_end_burst debian3.11 exec; }
@test "gc budget: the collections right before an exec are counted, by a read at the execve, python3.13" { budget_end_burst py3.13 exec; }

# A process that runs subinterpreters (3.9+: a collector each) cannot be
# counted from the main interpreter's counters alone.
# budget_subinterp_early LABEL: the subinterpreter exists before the trace,
# so the process's GC probes never come out, and every collection of both
# interpreters is timed and counted by them.
budget_subinterp_early() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" p=".processes[0].gc" g want
	trace_window gc_storm.py "$STORM_S" "$N" --subinterp early -- --gc-budget 10 \
		--json "$j" || return 1
	assert_ge "switches to windows (for the others)" "$(json_get "$j" .gc_budget.switches)" 1
	assert_eq "sampled" false "$(json_get "$j" "$p.sampled")"
	[[ "$(json_get "$j" "$p.kept_timed_why")" == "it runs subinterpreters"* ]] ||
		{ jq "$p" "$j" >&3; return 1; }
	assert_eq "counted_by" probes "$(json_get "$j" "$p.counted_by")"
	for g in 0 1 2; do
		want=$(jq ".after[$g] - .before[$g] + .sub[$g]" "$FIX_CTL/done")
		assert_eq "collections[$g] (main + subinterpreter)" "$want" \
			"$(json_get "$j" "$p.collections[$g]")" || return 1
	done
	assert_eq "the subinterpreter's gen-1 collections" 4 "$(jq '.sub[1]' "$FIX_CTL/done")"
	assert_eq "every collection timed" "$(json_get "$j" "$p.collections | add")" \
		"$(json_get "$j" "$p.pause_ns.count")"
	assert_eq "lost" 0 "$(json_get "$j" '.processes[0].lost')"
	grep -q "^timed         every collection, out of the --gc-budget windows: it runs" \
		"$TRACER_OUT" || { show_tracer; return 1; }
}

@test "gc budget: a process with a subinterpreter keeps every collection timed, debian python3.11" { budget_subinterp_early debian3.11; }
@test "gc budget: a process with a subinterpreter keeps every collection timed, python3.9" { budget_subinterp_early py3.9; }
@test "gc budget: a process with a subinterpreter keeps every collection timed, python3.12" { budget_subinterp_early py3.12; }
@test "gc budget: a process with a subinterpreter keeps every collection timed, python3.13" { budget_subinterp_early py3.13; }

# budget_subinterp_late LABEL: the subinterpreter starts while the windows
# run: the main interpreter's collections are still counted exactly, and the
# report says the subinterpreter's are not in the counts.
budget_subinterp_late() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" p=".processes[0].gc" g
	trace_window gc_storm.py "$STORM_S" "$N" --subinterp late -- --gc-budget 10 \
		--json "$j" || return 1
	assert_eq "sampled" true "$(json_get "$j" "$p.sampled")"
	assert_eq "counted_by" interpreter "$(json_get "$j" "$p.counted_by")"
	assert_eq "counts_complete" false "$(json_get "$j" "$p.counts_complete")"
	[[ "$(json_get "$j" "$p.counts_why")" == *"started a subinterpreter"*"not in these counts" ]] ||
		{ jq "$p" "$j" >&3; return 1; }
	for g in 0 1 2; do
		assert_eq "collections[$g] (the main interpreter's)" \
			"$(jq ".after[$g] - .before[$g]" "$FIX_CTL/done")" \
			"$(json_get "$j" "$p.collections[$g]")" || return 1
	done
	grep -q "collections counted by the main interpreter only: pid" "$TRACER_OUT" ||
		{ show_tracer; return 1; }
}

@test "gc budget: a subinterpreter started between windows is reported as not counted, debian python3.11" { budget_subinterp_late debian3.11; }
@test "gc budget: a subinterpreter started between windows is reported as not counted, python3.13" { budget_subinterp_late py3.13; }

# budget_fork LABEL: a child forked while the windows run is followed and
# attached between two edges: it is counted by its interpreter from the
# start (a window's edge may cut any of its collections), exactly.
budget_fork() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" g cpid p
	trace_window gc_storm.py "$STORM_S" "$N" --fork -- --gc-budget 10 --json "$j" || return 1
	cpid=$(jq .pid "$FIX_CTL/child")
	p="(.processes[] | select(.pid == $cpid) | .gc)"
	assert_eq "the child was traced" 1 "$(json_get "$j" "[.processes[] | select(.pid == $cpid)] | length")"
	assert_eq "child: sampled from its attach" true "$(json_get "$j" "$p.sampled")"
	assert_eq "child: counted_by" interpreter "$(json_get "$j" "$p.counted_by")"
	for g in 0 1 2; do
		assert_eq "child: collections[$g] (its own count)" \
			"$(jq ".delta[$g]" "$FIX_CTL/child")" \
			"$(json_get "$j" "$p.collections[$g]")" || return 1
	done
	assert_eq "child: the storm's young collections" 20000 "$(jq '.delta[0]' "$FIX_CTL/child")"
	# the parent is as in every storm trace
	jq '[.after, .before] | transpose | map(.[0] - .[1])' "$FIX_CTL/done" >"$FIX_CTL/delta"
	assert_eq "parent: counted_by" interpreter "$(json_get "$j" ".processes[0].gc.counted_by")"
	for g in 0 1 2; do
		assert_eq "parent: collections[$g]" "$(jq ".[$g]" "$FIX_CTL/delta")" \
			"$(json_get "$j" ".processes[0].gc.collections[$g]")" || return 1
	done
}

@test "gc budget: a child forked between windows is counted by its interpreter from its attach, debian python3.11" { budget_fork debian3.11; }
@test "gc budget: a child forked between windows is counted by its interpreter from its attach, python3.12" { budget_fork py3.12; }

# Counters out of reach (PYMEMTRACE_TEST_HIDE_GC_COUNTERS: no interpreter
# here has them out of reach).  budget_hidden_attach LABEL: found unreadable
# at attach, so the process's GC probes never come out, and its probes time
# and count every collection.
budget_hidden_attach() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" p=".processes[0].gc" g
	export PYMEMTRACE_TEST_HIDE_GC_COUNTERS=1
	trace_window gc_storm.py "$STORM_S" "$N" -- --gc-budget 10 --json "$j" || return 1
	assert_ge "switches to windows (the budget's decision)" \
		"$(json_get "$j" .gc_budget.switches)" 1
	assert_eq "sampled" false "$(json_get "$j" "$p.sampled")"
	assert_eq "kept_timed_why" \
		"its GC counters cannot be read (hidden by PYMEMTRACE_TEST_HIDE_GC_COUNTERS)" \
		"$(json_get "$j" "$p.kept_timed_why")"
	assert_eq "counted_by" probes "$(json_get "$j" "$p.counted_by")"
	for g in 0 1 2; do
		assert_eq "collections[$g] (timed, every one)" \
			"$(jq ".after[$g] - .before[$g]" "$FIX_CTL/done")" \
			"$(json_get "$j" "$p.collections[$g]")" || return 1
	done
	assert_eq "every collection timed" "$(json_get "$j" "$p.collections | add")" \
		"$(json_get "$j" "$p.pause_ns.count")"
	grep -q "^timed         every collection, out of the --gc-budget windows: its GC" \
		"$TRACER_OUT" || { show_tracer; return 1; }
}

@test "gc budget: counters out of reach at attach keep every collection timed, debian python3.11" { budget_hidden_attach debian3.11; }
@test "gc budget: counters out of reach at attach keep every collection timed, python3.12" { budget_hidden_attach py3.12; }

# A launched interpreter whose counters are still not found 10 s after its
# attach (GC_COUNTS_WAIT_S): windowed until then, every collection timed
# from then on, and counted by the windows, which the report says.  The
# storm lasts past the 10 s; the N gen-2 collections after it are all timed.
@test "gc budget: counters not found in 10 s: every collection timed from then on, said, debian python3.11" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/report.json" p=".processes[0].gc"
	FIX_CTL=$(mktemp -d "$BATS_TEST_TMPDIR/fix.XXXXXX")
	export PYMEMTRACE_TEST_HIDE_GC_COUNTERS=1
	start_tracer -q --gc-budget 10 --json "$j" -- "$PY" "$FIXTURES/gc_storm.py" 12 "$N" \
		--ctl "$FIX_CTL"
	wait_file "$FIX_CTL/ready" 30 "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	wait_file "$FIX_CTL/done" 60 "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/exit"
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	assert_eq "sampled (windowed at first)" true "$(json_get "$j" "$p.sampled")"
	assert_eq "kept_timed_why" \
		"its GC counters were not found in 10 s (hidden by PYMEMTRACE_TEST_HIDE_GC_COUNTERS)" \
		"$(json_get "$j" "$p.kept_timed_why")"
	assert_eq "counted_by" windows "$(json_get "$j" "$p.counted_by")"
	assert_eq "counts_why" "hidden by PYMEMTRACE_TEST_HIDE_GC_COUNTERS" \
		"$(json_get "$j" "$p.counts_why")"
	# the windows missed part of the storm; after the keep, nothing
	assert_eq "young collections seen < the storm's" true \
		"$(json_get "$j" "$p.collections[0] < $(jq .storm "$FIX_CTL/done")")"
	# gen 2: none in the storm, the N after it (and any at start-up,
	# before the windows), every one timed
	assert_eq "the N gen-2 collections ran" "$N" "$(jq '.after[2] - .before[2]' "$FIX_CTL/done")"
	assert_eq "gen-2 collections, all seen" "$(jq '.collections[2]' "$FIX_CTL/final")" \
		"$(json_get "$j" "$p.collections[2]")"
	grep -q "^timed         every collection from then on, out of the --gc-budget" \
		"$TRACER_OUT" || { show_tracer; return 1; }
	grep -q "^              collections seen in windows only" \
		"$TRACER_OUT" || { show_tracer; return 1; }
}

@test "gc budget off: every collection of the storm timed, and none lost" {
	require_tracing
	use_interp py3.12
	local j="$BATS_TEST_TMPDIR/report.json" p=".processes[0].gc" g
	trace_window gc_storm.py 1 "$N" -- --gc-budget off --json "$j" || return 1
	assert_eq "gc_budget.on" false "$(json_get "$j" .gc_budget.on)"
	assert_eq "gc_budget.why" "--gc-budget off" "$(json_get "$j" .gc_budget.why)"
	assert_eq "sampled" false "$(json_get "$j" "$p.sampled")"
	assert_eq "counted_by" probes "$(json_get "$j" "$p.counted_by")"
	for g in 0 1 2; do
		assert_eq "collections[$g]" "$(jq ".after[$g] - .before[$g]" "$FIX_CTL/done")" \
			"$(json_get "$j" "$p.collections[$g]")" || return 1
	done
	assert_eq "every collection timed" "$(json_get "$j" "$p.collections | add")" \
		"$(json_get "$j" "$p.pause_ns.count")"
	assert_eq "lost" 0 "$(json_get "$j" '.processes[0].lost')"
	! grep -q "^GC timing" "$TRACER_OUT" || { show_tracer; return 1; }
}

@test "gc budget: a few collections a second stay under it, every one timed (the default 0.5%)" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/report.json" p=".processes[0].gc"
	trace_window gc_collect.py 20 -- --json "$j" || return 1
	assert_eq "gc_budget.on" true "$(json_get "$j" .gc_budget.on)"
	assert_eq "gc_budget.pct" 0.5 "$(json_get "$j" .gc_budget.pct)"
	assert_eq "switches" 0 "$(json_get "$j" .gc_budget.switches)"
	assert_eq "sampled" false "$(json_get "$j" "$p.sampled")"
	assert_eq "collections[2]" 20 "$(json_get "$j" "$p.collections[2]")"
	assert_eq "all timed" 20 "$(json_get "$j" "$p.pause_ns.count")"
}

@test "gc budget: the perf-event path times every collection and says why there are no windows" {
	require_tracing
	use_interp py3.12
	local j="$BATS_TEST_TMPDIR/report.json"
	PYMEMTRACE_NO_UPROBE_MULTI=1 trace_window gc_collect.py 3 -- --json "$j" || return 1
	assert_eq "gc_budget.on" false "$(json_get "$j" .gc_budget.on)"
	[[ "$(json_get "$j" .gc_budget.why)" == "perf-event uprobes"*"no windows" ]] ||
		{ jq .gc_budget "$j" >&3; return 1; }
	grep -q "^GC timing     every collection timed; no --gc-budget windows: perf-event" \
		"$TRACER_OUT" || { show_tracer; return 1; }
}

@test "--gc-budget takes 0.01..100 or off" {
	local bad
	for bad in 0 -1 101 abc 0.001 ""; do
		run "$PMT" --gc-budget "$bad" -p 1
		assert_eq "exit status for '$bad'" 2 "$status" || return 1
		[[ "$output" == *"invalid --gc-budget"* ]] || { echo "# $output" >&3; return 1; }
	done
}
