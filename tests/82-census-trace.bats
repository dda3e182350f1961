#!/usr/bin/env bats
# --census in a trace (README.md "Heap census", "Prometheus"): the census
# gauges on a running trace's /metrics, processes[].census in JSON and the
# text report's census block.  census_pop.py holds POP instances of one
# uniquely named class, so the gauge's value is known.

load lib/common

POP=100000

teardown() {
	pmt_cleanup
}

require_prom_tools() {
	local t
	for t in promtool curl; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "# $t is missing (tools/install-deps.sh installs it)" >&3
			return 1
		fi
	done
}

# within_1pct GOT WANT
within_1pct() {
	local got=$1 want=$2 d
	[[ "$got" =~ ^[0-9]+$ ]] || { echo "got '$got', want $want"; return 1; }
	d=$((got > want ? got - want : want - got))
	if ((d * 100 > want)); then
		echo "got $got, want $want (within 1%)"
		return 1
	fi
}

# sample FILE NAME LABELS: the value of NAME{LABELS}, exactly those labels.
sample() {
	S_KEY="$2{$3}" awk '$1 == ENVIRON["S_KEY"] { print $2 }' "$1"
}

# scrape_until FILE PATTERN [SECONDS]: scrapes /metrics into FILE until a
# line matches PATTERN (grep -E).
scrape_until() {
	local f=$1 pat=$2 limit=${3:-60} i
	for ((i = 0; i < limit * 2; i++)); do
		curl -s --max-time 20 -o "$f" "http://$PROM_ADDR/metrics" || true
		grep -Eq "$pat" "$f" && return 0
		proc_alive "$TRACER_PID" || break
		sleep 0.5
	done
	echo "# no line matching '$pat' on /metrics after ${limit}s" >&3
	show_tracer
	return 1
}

# start_pop LABEL: a fixture holding POP instances; sets FIX_PID, FIX_CTL, CLS.
start_pop() {
	start_fixture "$PY" census_pop.py "$POP"
	fixture_go "$FIX_CTL"
	CLS=$(json_get "$FIX_CTL/done" .class)
}

# census_traced LABEL: the census gauges of one traced process.
census_traced() {
	require_tracing
	require_prom_tools
	use_interp "$1"
	start_pop
	local m="$BATS_TEST_TMPDIR/metrics.txt" j="$BATS_TEST_TMPDIR/report.json" v
	start_tracer -p "$FIX_PID" --prometheus 127.0.0.1:0 --census --census-interval 2 \
		--json "$j"
	wait_metrics_addr
	scrape_until "$m" "^pymemtrace_census_objects\\{pid=\"$FIX_PID\",type=\"$CLS\"\\} "
	v=$(sample "$m" pymemtrace_census_objects "pid=\"$FIX_PID\",type=\"$CLS\"")
	within_1pct "$v" "$POP"
	run promtool check metrics <"$m"
	[ "$status" -eq 0 ] || { echo "# promtool: $output" >&3; return 1; }
	# the pymalloc census came with it: live blocks hold at least the
	# instances themselves (56 bytes and more each)
	v=$(sample "$m" pymemtrace_census_pymalloc_used_bytes "pid=\"$FIX_PID\"")
	echo "pymalloc used_bytes=$v"
	[[ "$v" =~ ^[0-9]+$ ]]
	assert_ge "pymalloc used bytes" "$v" $((POP * 56))
	assert_eq "census complete" 1 "$(sample "$m" pymemtrace_census_complete "pid=\"$FIX_PID\"")"
	v=$(sample "$m" pymemtrace_census_age_seconds "pid=\"$FIX_PID\"")
	[[ "$v" =~ ^[0-9.]+$ ]]
	# The census thread started after the capabilities were dropped
	# (privileges.h): capabilities are per thread, and it holds no more
	# than the main thread.
	assert_eq "tracer threads" 2 "$(ls /proc/"$TRACER_PID"/task | wc -l)"
	assert_eq "distinct CapEff/CapPrm/CapBnd over the threads" 3 \
		"$(cat /proc/"$TRACER_PID"/task/*/status | grep -E '^Cap(Eff|Prm|Bnd):' | sort -u | wc -l)"
	# OpenMetrics: the census families come before the closing # EOF
	curl -s -H 'Accept: application/openmetrics-text; version=1.0.0' -o "$m.om" \
		"http://$PROM_ADDR/metrics"
	assert_eq "last line" "# EOF" "$(tail -n 1 "$m.om")"
	assert_eq "# EOF lines" 1 "$(grep -c '^# EOF' "$m.om")"
	grep -q "^pymemtrace_census_objects{pid=\"$FIX_PID\",type=\"$CLS\"}" "$m.om"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	# JSON: the last census, top types and the pymalloc summary
	v=$(jq -r --arg t "$CLS" '.processes[0].census.types[] | select(.type == $t) | .count' "$j")
	within_1pct "$v" "$POP"
	assert_ge "census.taken" "$(json_get "$j" .processes[0].census.taken)" 1
	assert_ge "census.pymalloc.used_bytes" \
		"$(json_get "$j" .processes[0].census.pymalloc.used_bytes)" $((POP * 56))
	# text: the census block names the class
	grep -q "^census  *[0-9]* GC-tracked objects" "$TRACER_OUT"
	grep -q "$CLS" "$TRACER_OUT"
	proc_alive "$FIX_PID"
	fixture_exit "$FIX_CTL" "$FIX_PID"
}

@test "census trace: gauges for 100,000 instances on /metrics, debian python3.11" {
	census_traced debian3.11
}
@test "census trace: gauges for 100,000 instances on /metrics, python3.12" {
	census_traced py3.12
}

@test "census trace: two traced processes, each with its own pid label, each family once" {
	require_tracing
	require_prom_tools
	use_interp debian3.11
	start_pop
	local p1=$FIX_PID c1=$FIX_CTL m="$BATS_TEST_TMPDIR/metrics.txt" fam v
	start_pop
	local p2=$FIX_PID c2=$FIX_CTL
	start_tracer -p "$p1" -p "$p2" --prometheus 127.0.0.1:0 --census --census-interval 2
	wait_metrics_addr
	scrape_until "$m" "^pymemtrace_census_objects\\{pid=\"$p1\",type=\"$CLS\"\\} "
	scrape_until "$m" "^pymemtrace_census_objects\\{pid=\"$p2\",type=\"$CLS\"\\} "
	# the second scrape may have lost the first pid's line: both in one
	scrape_until "$m" "^pymemtrace_census_objects\\{pid=\"$p1\",type=\"$CLS\"\\} "
	within_1pct "$(sample "$m" pymemtrace_census_objects "pid=\"$p1\",type=\"$CLS\"")" "$POP"
	within_1pct "$(sample "$m" pymemtrace_census_objects "pid=\"$p2\",type=\"$CLS\"")" "$POP"
	for fam in objects bytes tracked_objects complete pymalloc_used_bytes; do
		assert_eq "HELP lines of pymemtrace_census_$fam" 1 \
			"$(grep -c "^# HELP pymemtrace_census_$fam " "$m")"
	done
	run promtool check metrics <"$m"
	[ "$status" -eq 0 ] || { echo "# promtool: $output" >&3; return 1; }
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	fixture_exit "$c1" "$p1"
	fixture_exit "$c2" "$p2"
}

@test "census trace: a followed fork child gets a census of its own" {
	require_tracing
	require_prom_tools
	use_interp debian3.11
	local m="$BATS_TEST_TMPDIR/metrics.txt" w pf wf i
	start_fixture "$PY" fork_workers.py 1
	start_tracer -p "$FIX_PID" --prometheus 127.0.0.1:0 --census --census-interval 2
	wait_metrics_addr
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/workers" 30 "$FIX_PID"
	w=$(head -n 1 "$FIX_CTL/workers")
	# The child joins at a scrape after its fork was followed.
	scrape_until "$m" "^pymemtrace_census_tracked_objects\\{pid=\"$w\"\\} "
	scrape_until "$m" "^pymemtrace_census_tracked_objects\\{pid=\"$FIX_PID\"\\} "
	# The worker waits for go-0 untouched: its heap is the parent's copy,
	# so both count the same functions (within 1%).
	pf=$(sample "$m" pymemtrace_census_objects "pid=\"$FIX_PID\",type=\"function\"")
	wf=$(sample "$m" pymemtrace_census_objects "pid=\"$w\",type=\"function\"")
	echo "functions: parent $pf, worker $wf"
	assert_ge "parent functions" "$pf" 100
	within_1pct "$wf" "$pf"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	# the worker leaves only after its own run
	touch "$FIX_CTL/go-0"
	wait_file "$FIX_CTL/done-0" 60
	touch "$FIX_CTL/exit-0" "$FIX_CTL/exit"
	wait_exit "$FIX_PID" 30
	assert_eq "fixture exit status" 0 "$WAIT_RC"
}

# Slots go to processes running at once: 70 workers and their parent are 71,
# so 7 go without (said by the gauge); once 10 workers exit, their slots
# serve the 7.  Slots were never reused: a service recycling workers had no
# census for any worker after its 64th.
@test "census trace: 71 processes at once, 64 censuses and 7 counted; 10 exit and the 7 get theirs" {
	require_tracing
	require_prom_tools
	use_interp debian3.11
	local m="$BATS_TEST_TMPDIR/metrics.txt" k n=70 args=() pids
	for ((k = 0; k < n; k++)); do args+=(0); done
	start_fixture "$PY" fork_workers.py "${args[@]}"
	start_tracer -p "$FIX_PID" --prometheus 127.0.0.1:0 --census --census-interval 60
	wait_metrics_addr
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/workers" 30 "$FIX_PID"
	# a failed check must not leave 70 workers waiting out their 300 s
	mapfile -t -O "${#PMT_PIDS[@]}" PMT_PIDS <"$FIX_CTL/workers"
	scrape_until "$m" '^pymemtrace_census_skipped_processes 7$' 120 || return 1
	# each census takes its turn on the one census thread
	for ((k = 0; k < 240; k++)); do
		[ "$(grep -c '^pymemtrace_census_tracked_objects{' "$m")" -ge 64 ] && break
		sleep 0.5
		curl -s --max-time 20 -o "$m" "http://$PROM_ADDR/metrics" || true
	done
	assert_eq "processes with a census" 64 "$(grep -c '^pymemtrace_census_tracked_objects{' "$m")" ||
		{ show_tracer; return 1; }
	assert_eq "skipped, once all censuses are in" 7 \
		"$(awk '$1 == "pymemtrace_census_skipped_processes" { print $2 }' "$m")" || return 1
	for ((k = 0; k < 10; k++)); do touch "$FIX_CTL/go-$k" "$FIX_CTL/exit-$k"; done
	scrape_until "$m" '^pymemtrace_census_skipped_processes 0$' 120 || return 1
	# every running process, parent and the 60 workers left, has its census
	pids=$( (echo "$FIX_PID"; tail -n +11 "$FIX_CTL/workers") | sort)
	assert_eq "running processes" 61 "$(wc -l <<<"$pids")" || return 1
	for k in $pids; do
		scrape_until "$m" "^pymemtrace_census_tracked_objects\\{pid=\"$k\"\\} " 60 || return 1
	done
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	for ((k = 10; k < n; k++)); do touch "$FIX_CTL/go-$k" "$FIX_CTL/exit-$k"; done
	touch "$FIX_CTL/exit"
	wait_exit "$FIX_PID" 60
	assert_eq "fixture exit status" 0 "$WAIT_RC"
}

@test "census trace: without --census no census series" {
	require_tracing
	require_prom_tools
	use_interp debian3.11
	start_pop
	local m="$BATS_TEST_TMPDIR/metrics.txt" j="$BATS_TEST_TMPDIR/report.json"
	start_tracer -p "$FIX_PID" --prometheus 127.0.0.1:0 --json "$j"
	wait_metrics_addr
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	# a series the trace always serves, so the scrape is a real one
	scrape_until "$m" '^pymemtrace_processes\{'
	assert_eq "census lines" 0 "$(grep -c census "$m")"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	assert_eq "processes[0] has no census key" false "$(jq '.processes[0] | has("census")' "$j")"
	fixture_exit "$FIX_CTL" "$FIX_PID"
}

@test "census trace: usage errors" {
	require_tracer
	run "$PMT" -p 1 --census --census-interval 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"--census-interval"* ]]
	run "$PMT" -p 1 --census-interval 5
	[ "$status" -eq 2 ]
	[[ "$output" == *"need --census"* ]]
	run "$PMT" -p 1 --census --census-top 0
	[ "$status" -eq 2 ]
	run "$PMT" --help
	[[ "$output" == *"--census-interval"* ]]
}
