#!/usr/bin/env bats
# Attaching to and detaching from running processes: the target must not
# notice, neighbours must not be probed, and nothing may be left behind.

load lib/common

# service_output DIR: the service's stdout without its "READY <pid>" line,
# the only line that differs between runs.
service_output() {
	sed 1d "$1/stdout"
}

@test "attach: -p then detach (-d) leaves the service's output byte-identical" {
	require_tracing
	local rounds=200 j="$BATS_TEST_TMPDIR/report.json" ref ctl
	# Reference run, untraced.
	start_fixture /usr/bin/python3.11 service.py "$rounds"
	ref=$FIX_CTL
	touch "$ref/go"
	wait_exit "$FIX_PID" 60
	assert_eq "untraced service exit status" 0 "$WAIT_RC"

	start_fixture /usr/bin/python3.11 service.py "$rounds"
	ctl=$FIX_CTL
	start_tracer -q -p "$FIX_PID" -d 6 --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$ctl/go"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	# The tracer detached while the service still ran.
	proc_alive "$FIX_PID" || { echo "# service ended before the tracer detached" >&3; return 1; }
	wait_exit "$FIX_PID" 60
	assert_eq "traced service exit status" 0 "$WAIT_RC"
	if ! cmp <(service_output "$ref") <(service_output "$ctl"); then
		diff <(service_output "$ref") <(service_output "$ctl") | head -20 >&3
		return 1
	fi
	assert_eq "service rounds printed" "$((rounds + 1))" "$(service_output "$ctl" | wc -l)"
	# It collected gen 0 once a round while traced.
	local i g0
	i=$(proc_index "$j" "$FIX_PID")
	g0=$(json_get "$j" ".processes[$i].gc.collections[0]")
	assert_ge "gc.collections[0]" "$g0" 1
	assert_le "gc.collections[0]" "$g0" $((rounds * 3))
}

@test "attach: detach unloads every BPF program" {
	require_tracing
	local owned left
	start_fixture /usr/bin/python3.11 gc_collect.py 2
	start_tracer -q -p "$FIX_PID"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	# Programs are counted by id and owner, not in total: other tracers
	# may come and go on the machine meanwhile.  `bpftool perf list` names
	# the pid that holds each attachment (Debian's bpftool leaves the
	# `pids` of `prog list` empty).
	owned=$("$BPFTOOL" perf list -j |
		jq -c --argjson p "$TRACER_PID" '[.[] | select(.pid == $p) | .prog_id] | unique')
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	[ "$(jq length <<<"$owned")" -gt 0 ]
	# The kernel frees a closed program after an RCU grace period, so the
	# last ones may linger for a moment after the tracer has exited.
	local i
	for ((i = 0; i < 50; i++)); do
		left=$("$BPFTOOL" prog list -j |
			jq --argjson o "$owned" '[.[] | select(.id | IN($o[]))] | length')
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	assert_eq "the tracer's bpf programs left after detach" 0 "$left"
	proc_alive "$FIX_PID"
}

@test "attach: a target that exits ends the trace with status 0" {
	require_tracing
	local j="$BATS_TEST_TMPDIR/report.json" i
	start_fixture /usr/bin/python3.11 service.py 5
	start_tracer -q -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_exit "$FIX_PID" 30
	assert_eq "service exit status" 0 "$WAIT_RC"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	i=$(proc_index "$j" "$FIX_PID")
	assert_ge "gc.collections[0]" "$(json_get "$j" ".processes[$i].gc.collections[0]")" 5
	assert_eq "state" exited "$(json_get "$j" ".processes[$i].state")"
	assert_eq "state_detail" "exited with code 0" "$(json_get "$j" ".processes[$i].state_detail")"
	assert_eq "exit_status" 0 "$(json_get "$j" ".processes[$i].exit_status")"
}

@test "attach: a target that execs ends its part of the report, with what it saw" {
	require_tracing
	local j="$BATS_TEST_TMPDIR/report.json" i
	start_fixture /usr/bin/python3.11 exec_after.py 4
	start_tracer -q -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	# The tracer stops by itself: its only target is no longer Python.
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	i=$(proc_index "$j" "$FIX_PID")
	assert_eq "state" exec "$(json_get "$j" ".processes[$i].state")"
	[[ "$(json_get "$j" ".processes[$i].state_detail")" == *"exec'd 'sleep'"* ]]
	assert_eq "gc.collections[2] before the exec" 4 "$(json_get "$j" ".processes[$i].gc.collections[2]")"
	assert_eq "lost" 0 "$(json_get "$j" ".processes[$i].lost")"
	wait_exit "$FIX_PID" 30
}

# The probes are planned before the process's entry exists, when the exec
# hook does not yet watch it (user/session.c: add_process_after).  A test
# knob holds pymemtrace between the plans and the attach while the target
# becomes another interpreter; without the second look at its maps the plan
# would probe /usr/bin/python3.11, which it no longer runs, and count 0.
# exec_after_plan PYTHON [TRACER-ARGS...]: one such trace, checked
exec_after_plan() {
	local other=$1 j="$BATS_TEST_TMPDIR/report$#.json" i
	shift
	start_fixture /usr/bin/python3.11 exec_on_go.py "$other" "$FIXTURES/gc_collect.py" 3
	rm -f "$BATS_TEST_TMPDIR/attach-now"
	export PYMEMTRACE_TEST_AFTER_PLANS_WAIT="$BATS_TEST_TMPDIR/attach-now"
	start_tracer -p "$FIX_PID" --json "$j" "$@"
	unset PYMEMTRACE_TEST_AFTER_PLANS_WAIT
	for ((i = 0; i < 300; i++)); do
		grep -q "every target planned" "$TRACER_ERR" && break
		proc_alive "$TRACER_PID" || break
		sleep 0.1
	done
	grep -q "every target planned" "$TRACER_ERR" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/next/ready" 30 "$FIX_PID" || { cat "$FIX_CTL/stderr" >&3; return 1; }
	touch "$BATS_TEST_TMPDIR/attach-now"
	window_after_start "$FIX_CTL/next" || return 1
	grep -q "pid $FIX_PID exec'd while pymemtrace planned its probes: planned again" "$TRACER_ERR" ||
		{ show_tracer; return 1; }
	assert_eq "processes reported ($*)" 1 "$(json_get "$j" '.processes | length')"
	assert_eq "interpreter ($*)" "$("$other" -c 'import platform; print(platform.python_version())')" \
		"$(json_get "$j" '.processes[0].python.version')"
	assert_eq "gc.collections[2] ($*)" 3 "$(json_get "$j" '.processes[0].gc.collections[2]')"
}

# The probes are planned before the process's entry exists, when the exec
# hook does not yet watch it (user/session.c: add_process_after); --alloc
# plans while the BPF object loads, half a second earlier.  A test knob
# holds pymemtrace between the plans and the attach while the target
# becomes another interpreter; without the second look at its maps the plan
# would probe /usr/bin/python3.11, which it no longer runs, and count 0.
@test "attach: a target that execs another interpreter after it was planned, before it is attached, is planned again and counted (default and --alloc)" {
	require_tracing
	local other label
	for label in py3.12 py3.11 py3.13 py3.10 py3.9 py3.8; do
		other=$(interp_path "$label") && break
	done
	[ -n "$other" ] || skip "no pyenv interpreter: the exec must change the interpreter file"
	exec_after_plan "$other"
	exec_after_plan "$other" --alloc
}

@test "attach: a pid named twice with -p is one target, counted once" {
	require_tracing
	local j="$BATS_TEST_TMPDIR/report.json"
	start_fixture /usr/bin/python3.11 gc_collect.py 3
	start_tracer -q -p "$FIX_PID" -p "$FIX_PID" --json "$j"
	window_after_start "$FIX_CTL" || return 1
	assert_eq "processes reported" 1 "$(json_get "$j" '.processes | length')"
	assert_eq "gc.collections[2]" 3 "$(json_get "$j" '.processes[0].gc.collections[2]')"
}

@test "attach: two -p targets are counted apart, an untraced neighbour not at all" {
	require_tracing
	local j="$BATS_TEST_TMPDIR/report.json" a actl b bctl c cctl
	start_fixture /usr/bin/python3.11 gc_collect.py 3
	a=$FIX_PID actl=$FIX_CTL
	start_fixture "$(interp_path py3.11 || echo /usr/bin/python3.11)" gc_collect.py 5
	b=$FIX_PID bctl=$FIX_CTL
	start_fixture /usr/bin/python3.11 gc_collect.py 4
	c=$FIX_PID cctl=$FIX_CTL
	start_tracer -q -p "$a" -p "$b" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$actl"
	fixture_go "$bctl"
	fixture_go "$cctl"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	assert_eq "processes reported" 2 "$(json_get "$j" '.processes | length')"
	assert_eq "gc.collections[2] of $a" 3 \
		"$(json_get "$j" ".processes[$(proc_index "$j" "$a")].gc.collections[2]")"
	assert_eq "gc.collections[2] of $b" 5 \
		"$(json_get "$j" ".processes[$(proc_index "$j" "$b")].gc.collections[2]")"
	assert_eq "untraced pid $c in the report" null \
		"$(jq --argjson p "$c" '[.processes[].pid] | index($p)' "$j")"
}

# exec_anon_kb PID FILE: kB of private (copied) pages in PID's executable
# mappings of FILE.  A uprobe breakpoint copies the page it patches, so this
# is non-zero exactly where breakpoints were written.
exec_anon_kb() {
	awk -v f="$2" '
		/^[0-9a-f]+-[0-9a-f]+ / { cur = ($2 ~ /x/ && $6 == f) }
		cur && /^Anonymous:/ { kb += $2 }
		END { print kb + 0 }' "/proc/$1/smaps"
}

# neighbour LABEL [perf]: trace one process (--alloc: the most probes),
# check that another process running the same interpreter file carries no
# breakpoints (uprobes bound to the pid); perf: through the perf-event
# uprobes pymemtrace opens itself (PYMEMTRACE_NO_UPROBE_MULTI=1).
neighbour() {
	require_tracing
	use_interp "$1"
	local file traced neighbour_kb
	start_fixture "$PY" gc_collect.py 1
	local other=$FIX_PID
	start_fixture "$PY" gc_collect.py 1
	# The file the probes go into: libpython if the interpreter has one.
	file=$(awk '$6 ~ /libpython3/ && $2 ~ /x/ { print $6; exit }' "/proc/$FIX_PID/maps")
	[ -n "$file" ] || file=$(readlink -f "/proc/$FIX_PID/exe")
	[ "${2:-}" = perf ] && export PYMEMTRACE_NO_UPROBE_MULTI=1
	start_tracer -q --alloc -p "$FIX_PID"
	unset PYMEMTRACE_NO_UPROBE_MULTI
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	traced=$(exec_anon_kb "$FIX_PID" "$file")
	neighbour_kb=$(exec_anon_kb "$other" "$file")
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	[ "$traced" -gt 0 ] || skip "no uprobe breakpoint visible in $file (probes elsewhere?)"
	assert_eq "copied text pages in the untraced neighbour ($file)" 0 "$neighbour_kb"
}

# With --alloc the -p targets are planned on a thread while the BPF object
# loads (user/plan_ahead.c), each plan moved into its process's slot: two
# targets of two interpreters, each must come out with its own probes and
# its own held MiB in its named function.
@test "attach: --alloc on two -p targets planned during the load: each holds its own MiB (debian python3.11, python3.11)" {
	require_tracing
	local j="$BATS_TEST_TMPDIR/report.json" a actl b bctl pid mib live held
	local py2
	py2=$(interp_path py3.11) || skip "pyenv python3.11 missing"
	start_fixture /usr/bin/python3.11 alloc_hold.py 6
	a=$FIX_PID actl=$FIX_CTL
	start_fixture "$py2" alloc_hold.py 10
	b=$FIX_PID bctl=$FIX_CTL
	start_tracer -q --alloc --top 1000 -p "$a" -p "$b" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$actl" || { show_tracer; return 1; }
	fixture_go "$bctl" || { show_tracer; return 1; }
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	for pid in "$a:6:$actl" "$b:10:$bctl"; do
		IFS=: read -r pid mib ctl <<<"$pid"
		held=$(jq .held_bytes "$ctl/done")
		assert_eq "held by $pid" $((mib * 1024 * 1024)) "$held"
		# hold_memory() or its list comprehension (3.8-3.11) on top
		live=$(json_get "$j" "[.processes[$(proc_index "$j" "$pid")].stacks[] |
			select(any(.python[:2][]; .function | split(\".\")[0] == \"hold_memory\")) |
			.live_bytes] | add")
		assert_ge "live in hold_memory, pid $pid" "$live" "$held"
		assert_le "live in hold_memory, pid $pid" "$live" $((held * 102 / 100))
	done
}

@test "attach: untraced neighbour carries no breakpoints, debian python3.11" { neighbour debian3.11; }
@test "attach: untraced neighbour carries no breakpoints, python3.11" { neighbour py3.11; }
@test "attach: untraced neighbour carries no breakpoints, perf-event uprobes, debian python3.11" { neighbour debian3.11 perf; }
@test "attach: untraced neighbour carries no breakpoints, perf-event uprobes, python3.11" { neighbour py3.11 perf; }
