#!/usr/bin/env bats
# --max-overhead: the trace ends, reported as usual with exit code 9, once
# its probes cost the traced processes the given share of their CPU over a
# second (README "What a trace cost its target").  The cost is the report's
# own lower bound (probe hits times their measured cost), so these tests
# check decisions against the report's figures, never against a clock.

load lib/common

# prom_value FILE METRIC: a sample's value in a textfile, empty if absent.
prom_value() {
	awk -v m="$2" '$1 == m { print $2 }' "$1"
}

# A trace that must go over: full --alloc on an allocation- and GC-heavy
# loop costs the target several times its own work (README "Overhead").
# budget_over LABEL [perf]: perf, through perf-event uprobes (as on kernels
# before 6.6), whose hits the dispatcher counts as well.
budget_over() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" d="$BATS_TEST_TMPDIR/textfile"
	mkdir -p "$d"
	start_fixture "$PY" soak.py 120
	[ "${2:-}" = perf ] && export PYMEMTRACE_NO_UPROBE_MULTI=1
	start_tracer -p "$FIX_PID" --alloc --max-overhead 10 -d 100 --json "$j" --textfile "$d"
	unset PYMEMTRACE_NO_UPROBE_MULTI
	# Busy at once, not after the links settle (wait_attached takes 1-3 s):
	# a fixture idling in its wait for go allocates in its poll loop, and
	# on its few ms of CPU those probes alone can pass 10% and end the
	# trace before go (seen once, python3.12: 13.1% of 50 ms).
	touch "$FIX_CTL/go"
	wait_exit "$TRACER_PID" 100
	kill "$FIX_PID" 2>/dev/null
	assert_eq "tracer exit status" 9 "$WAIT_RC" || { show_tracer; return 1; }
	grep -q "over --max-overhead 10%: the trace ends here" "$TRACER_ERR" || { show_tracer; return 1; }
	assert_eq "overhead.budget_pct" 10 "$(json_get "$j" .overhead.budget_pct)"
	assert_eq "overhead.budget_exceeded" true "$(json_get "$j" .overhead.budget_exceeded)"
	# the second that ended it was over 10%, and so is the whole trace's share
	assert_ge "budget_share (per mille)" "$(json_get "$j" '.overhead.budget_share * 1000 | floor')" 100
	assert_ge "estimate / CPU (per mille)" \
		"$(json_get "$j" '.overhead.estimate_seconds / .overhead.target_cpu_seconds * 1000 | floor')" 100
	# it ended on the budget, not on -d: before the duration
	assert_le "budget_at_seconds" "$(json_get "$j" '.overhead.budget_at_seconds | floor')" 99
	# and it is a report like any other: the allocations are there
	assert_ge "allocations" "$(json_get "$j" '.processes[0].alloc.count')" 1
	local want=uprobe_multi
	[ "${2:-}" = perf ] && want="perf uprobe"
	assert_eq "links of the allocation probes" "$want" "$(jq -r '[.processes[0].probes[] |
		select(.name | test("alloc|free|lto")) | select(.status == "attached") | .link] | unique | join(",")' "$j")"
	grep -q "^              --max-overhead 10%: exceeded .* s into the trace" "$TRACER_OUT" ||
		{ show_tracer; return 1; }
	# past a tenth the text says what that means, as a slowdown; full
	# --alloc on this loop costs ~97% of its CPU, so with the kernel timing
	# BPF programs (off on CI) the estimate can pass 100%, and then the text
	# must not give a factor (tests/12-output.bats checks both wordings)
	local text
	text=$(sed -n '/^overhead/,/^$/p' "$TRACER_OUT" | tr -s ' \n' '  ')
	if [ "$(json_get "$j" '.overhead.estimate_seconds < .overhead.target_cpu_seconds')" = true ]; then
		[[ "$text" =~ ran\ at\ least\ [0-9]+\.[0-9]x\ slower\ while\ traced ]] ||
			{ echo "# overhead: $text" >&3; return 1; }
	else
		[[ "$text" == *"more than the traced processes'"*"ran many times slower while traced"* ]] ||
			{ echo "# overhead: $text" >&3; return 1; }
	fi
	# and the metrics say the same
	local prom="$d/pymemtrace.prom"
	assert_eq "metric: budget ratio" 0.1 "$(prom_value "$prom" pymemtrace_overhead_budget_ratio)"
	assert_eq "metric: budget exceeded" 1 "$(prom_value "$prom" pymemtrace_overhead_budget_exceeded)"
	assert_eq "metric: the exceeding share = JSON (to 1e-9)" 0 "$(json_get "$j" \
		".overhead.budget_share - ($(prom_value "$prom" pymemtrace_overhead_budget_exceeded_ratio))
		| (if . < 0 then -. else . end) * 1e9 | floor")"
}

@test "--max-overhead 10 ends a full --alloc trace of a busy loop, exit code 9, debian python3.11" { budget_over debian3.11; }
@test "--max-overhead 10 ends a full --alloc trace of a busy loop, exit code 9, python3.12" { budget_over py3.12; }
@test "--max-overhead 10 ends a full --alloc trace of a busy loop, exit code 9, perf-event uprobes, python3.12" { budget_over py3.12 perf; }

@test "--max-overhead 50 is never reached by the default mode's GC probes" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/report.json"
	local d="$BATS_TEST_TMPDIR/textfile"
	mkdir -p "$d"
	trace_window gc_collect.py 7 -- --max-overhead 50 --json "$j" --textfile "$d" || return 1
	assert_eq "overhead.budget_pct" 50 "$(json_get "$j" .overhead.budget_pct)"
	assert_eq "overhead.budget_exceeded" false "$(json_get "$j" .overhead.budget_exceeded)"
	assert_eq "overhead.budget_share" null "$(json_get "$j" .overhead.budget_share)"
	grep -q "^              --max-overhead 50%: never exceeded$" "$TRACER_OUT" ||
		{ show_tracer; return 1; }
	local prom="$d/pymemtrace.prom"
	assert_eq "metric: budget ratio" 0.5 "$(prom_value "$prom" pymemtrace_overhead_budget_ratio)"
	assert_eq "metric: budget exceeded" 0 "$(prom_value "$prom" pymemtrace_overhead_budget_exceeded)"
	assert_eq "metric: no exceeding share" "" \
		"$(prom_value "$prom" pymemtrace_overhead_budget_exceeded_ratio)"
}

# When the start-up measure of a probe hit's cost fails (it probes
# pymemtrace's own code: nothing here makes it fail, so the test knob skips
# it), the guard cannot work and says so before anything is attached, and a
# trace without it reports hits but no cost: nulls, no metric, no zero.
@test "no start-up measure of the probes' cost: --max-overhead refuses (exit 7); a trace says the cost was not measured, with no figure" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/report.json" d="$BATS_TEST_TMPDIR/textfile" prom why
	why="the start-up measure was skipped: PYMEMTRACE_TEST_NO_TRAP_COST is set"
	mkdir -p "$d"
	prom="$d/pymemtrace.prom"
	start_fixture "$PY" gc_collect.py 5
	run env PYMEMTRACE_TEST_NO_TRAP_COST=1 "$PMT" -q -p "$FIX_PID" --max-overhead 10 -d 5
	assert_eq "exit status" 7 "$status" || { echo "# $output" >&3; return 1; }
	assert_eq "message" "pymemtrace: error: --max-overhead needs the probes' cost measured, and it is not: $why" "$output"
	export PYMEMTRACE_TEST_NO_TRAP_COST=1
	start_tracer -q -p "$FIX_PID" --json "$j" --textfile "$d"
	unset PYMEMTRACE_TEST_NO_TRAP_COST
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL" || { show_tracer; return 1; }
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	# the hits are still counted: 5 collections, a start and an end each
	assert_eq "overhead.counted" true "$(json_get "$j" .overhead.counted)"
	assert_eq "gc start, end hits" "5 5" \
		"$(json_get "$j" '.overhead.probe_hits | "\(.usdt_gc_start) \(.usdt_gc_done)"')"
	assert_eq "overhead.cost_measured" false "$(json_get "$j" .overhead.cost_measured)"
	assert_eq "overhead.not_measured" "$why" "$(json_get "$j" .overhead.not_measured)"
	assert_eq "overhead.entry_ns, estimate_seconds" "null null" \
		"$(json_get "$j" '"\(.overhead.entry_ns) \(.overhead.estimate_seconds)"')"
	assert_eq "gc_budget" "false the probe cost was not measured ($why)" \
		"$(json_get "$j" '"\(.gc_budget.on) \(.gc_budget.why)"')"
	# the blocks joined into one line each: their wrapping depends on the figures
	assert_eq "text: overhead" "overhead probe hits 10 (entry 10, return 0); their cost was not measured: $why " \
		"$(sed -n '/^overhead/,/^GC timing/p' "$TRACER_OUT" | sed '$d' | tr -s ' \n' '  ')"
	assert_eq "text: GC timing" "GC timing every collection timed; no --gc-budget windows: the probe cost was not measured ($why) " \
		"$(sed -n '/^GC timing/,/^$/p' "$TRACER_OUT" | tr -s ' \n' '  ')"
	grep -q '^pymemtrace_probe_hits_total{handler="usdt_gc_start"} 5$' "$prom" || { cat "$prom" >&3; return 1; }
	assert_eq "cost and overhead metrics" "" \
		"$(grep -E '^pymemtrace_(probe_hit_cost_seconds|overhead_seconds_total)' "$prom")"
}

@test "--max-overhead takes 1..100" {
	local bad
	for bad in 0 101 -5 x 10% ""; do
		run "$PMT" -p 1 --max-overhead "$bad"
		assert_eq "--max-overhead '$bad'" 2 "$status" || return 1
		[[ "$output" == *"invalid --max-overhead"* ]] || { echo "# $output" >&3; return 1; }
	done
}

@test "interval reports say what the probes cost so far" {
	require_tracing
	use_interp py3.12
	start_fixture "$PY" soak.py 30
	start_tracer -p "$FIX_PID" -i 1 -d 3
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_exit "$TRACER_PID" 30
	kill "$FIX_PID" 2>/dev/null
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	grep -q "^pymemtrace: interval at" "$TRACER_OUT" || { show_tracer; return 1; }
	grep -q "^probes so far: at least [0-9.]*% of the traced processes' CPU$" "$TRACER_OUT" ||
		{ show_tracer; return 1; }
}

@test "a process's CPU while traced counts to its exit, not to the last 100 ms sample (launch mode)" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/report.json" own
	# burns 0.3 s of CPU and exits at once: the last sample is up to 100 ms old
	run "$PMT" -q --json "$j" -- "$PY" -c '
import time
t = time.process_time()
while time.process_time() - t < 0.3:
    pass
print("%.6f" % time.process_time())'
	assert_eq "exit status" 0 "$status" || { echo "# $output" >&3; return 1; }
	own=$(printf '%s\n' "$output" | grep -E '^[0-9]+\.[0-9]{6}$' | tail -1)
	[ -n "$own" ] || { echo "# $output" >&3; return 1; }
	# the report counts at least what the process counted itself (to 5 ms)
	assert_eq "report cpu >= the process's own" true \
		"$(json_get "$j" ".processes[0].cpu_seconds >= $own - 0.005")"
	assert_eq "overhead.target_cpu_seconds" "$(json_get "$j" '.processes[0].cpu_seconds')" \
		"$(json_get "$j" '.overhead.target_cpu_seconds')"
}

@test "metrics: the probe hits by handler, their cost and the overhead, from the same final report" {
	require_tracing
	use_interp py3.12
	local j="$BATS_TEST_TMPDIR/report.json" d="$BATS_TEST_TMPDIR/textfile" prom
	mkdir -p "$d"
	prom="$d/pymemtrace.prom"
	trace_window gc_collect.py 7 -- --json "$j" --textfile "$d" || return 1
	assert_eq "gc_entry hits" 7 "$(awk '$1 == "pymemtrace_probe_hits_total{handler=\"gc_entry\"}" { print $2 }' "$prom")"
	assert_eq "gc_return hits" 7 "$(awk '$1 == "pymemtrace_probe_hits_total{handler=\"gc_return\"}" { print $2 }' "$prom")"
	grep -q '^pymemtrace_probe_hit_cost_seconds{kind="entry"} [0-9.e-]*$' "$prom" || { cat "$prom" >&3; return 1; }
	grep -q '^pymemtrace_probe_hit_cost_seconds{kind="return"} [0-9.e-]*$' "$prom" || { cat "$prom" >&3; return 1; }
	local m
	m=$(awk '$1 == "pymemtrace_overhead_seconds_total" { print $2 }' "$prom")
	assert_eq "overhead seconds, metrics = JSON (to 1 ns)" 0 \
		"$(json_get "$j" ".overhead.estimate_seconds - ($m) | (if . < 0 then -. else . end) * 1e9 | floor")"
	grep -q '^pymemtrace_traced_cpu_seconds_total [0-9.e-]*$' "$prom" || { cat "$prom" >&3; return 1; }
	# the calibration's own probes are not the target's
	! grep -q 'handler="calibration' "$prom" || { cat "$prom" >&3; return 1; }
}

# The estimate's basis is the calibration's.  The kernel timed BPF then;
# turning kernel.bpf_stats_enabled off mid-trace must not turn the
# estimate back into hits x cost, which is lower than what the kernel
# timed: the counter would go down.  The sysctl is restored whatever happens.
@test "metrics: pymemtrace_overhead_seconds_total does not go down when kernel.bpf_stats_enabled is turned off mid-trace" {
	require_tracing
	use_interp py3.12
	local stats=/proc/sys/kernel/bpf_stats_enabled old rc=0
	local d="$BATS_TEST_TMPDIR/textfile" j="$BATS_TEST_TMPDIR/report.json"
	mkdir -p "$d"
	old=$(cat "$stats")
	echo 1 >"$stats"
	overhead_toggle "$d" "$j" || rc=1
	echo "$old" >"$stats"
	return $rc
}

overhead_toggle() {
	local d="$1" j="$2" prom="$1/pymemtrace.prom" a b k
	start_fixture "$PY" gc_collect.py 30 || return 1
	start_tracer -q -p "$FIX_PID" -i 1 --textfile "$d" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	# an interval's textfile with all 30 collections, timed by the kernel
	for k in $(seq 100); do
		[ "$(prom_value "$prom" 'pymemtrace_probe_hits_total{handler="gc_return"}')" = 30 ] && break
		sleep 0.1
	done
	a=$(prom_value "$prom" pymemtrace_overhead_seconds_total)
	[ -n "$a" ] || { cat "$prom" >&3; return 1; }
	echo 0 >/proc/sys/kernel/bpf_stats_enabled
	stop_tracer
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	b=$(prom_value "$prom" pymemtrace_overhead_seconds_total)
	assert_eq "overhead seconds: end >= mid-trace ($b >= $a)" true \
		"$(jq -n "$b >= $a")"
	assert_eq "still timed by the kernel's figures" false \
		"$(json_get "$j" '.overhead.bpf_seconds == null')"
}

@test "a return probe alone at its function's entry is charged its entry trap too (debian python3.11 --alloc: allocate_from_new_pool)" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/report.json" h=".overhead.probe_hits"
	local rets='["gc_return", "arena_alloc_return", "alloc_return", "lto_newpool_return"]'
	trace_window alloc_hold.py 4 -- --alloc --json "$j" || return 1
	# 100,000 small tuples held: fresh pools, each one a hit
	assert_ge "allocate_from_new_pool returns" "$(json_get "$j" "$h.lto_newpool_return")" 100
	assert_eq "return_hits: the return handlers' hits" \
		"$(json_get "$j" "$rets as \$r | $h | to_entries | map(select(.key | IN(\$r[]))) | map(.value) | add")" \
		"$(json_get "$j" .overhead.return_hits)"
	assert_eq "entry_hits: the entry handlers' hits and allocate_from_new_pool's" \
		"$(json_get "$j" "$rets as \$r | $h | (to_entries | map(select(.key | IN(\$r[]) | not)) | map(.value) | add) + .lto_newpool_return")" \
		"$(json_get "$j" .overhead.entry_hits)"
	if [ "$(json_get "$j" '.overhead.bpf_seconds')" = null ]; then
		assert_eq "trap_seconds = hits x cost" 0 "$(json_get "$j" '.overhead |
			(.entry_hits * .entry_ns + .return_hits * .return_ns) / 1e9 - .trap_seconds
			| (if . < 0 then -. else . end) * 1e9 | floor')"
	fi
}
