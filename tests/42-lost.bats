#!/usr/bin/env bats
# Nothing lost silently: maps made tiny with the size flags fill up, and each
# loss shows, with the same count, in the text report (next to the flag that
# fixes it and its current value), in JSON (processes[].lost_detail.KEY) and
# in the metrics (pymemtrace_lost_events_total{reason="KEY"}).  The three
# come from the one final report: the metrics are read from --textfile's
# last file, written at the end.

load lib/common

# lost_traced FIXTURE FIXTURE-ARGS... -- TRACER-ARGS...: the fixture under
# the tracer, go..done; the tracer is stopped, the fixture left waiting.
# Sets J (JSON), PROM (the metrics file), I (the fixture's index in J).
lost_traced() {
	local fixture=$1 fargs=() d
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		fargs+=("$1")
		shift
	done
	shift
	require_tracing
	use_interp debian3.11
	J="$BATS_TEST_TMPDIR/report.json"
	d="$BATS_TEST_TMPDIR/textfile"
	mkdir -p "$d"
	PROM="$d/pymemtrace.prom"
	start_fixture "$PY" "$fixture" "${fargs[@]}"
	start_tracer -p "$FIX_PID" --json "$J" --textfile "$d" "$@"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
}

lost_finish() {
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	I=$(proc_index "$J" "$FIX_PID") || return 1
	fixture_exit "$FIX_CTL" "$FIX_PID"
}

# check_lost KEY TEXT-PREFIX MIN: lost_detail.KEY is at least MIN; the text
# report has the line "TEXT-PREFIX: <count>..." exactly as LINE_REST says
# (set LINE_REST to the part after the count); the metric has the count;
# the process's lost total includes it.
check_lost() {
	local key=$1 prefix=$2 min=$3 v line
	v=$(json_get "$J" ".processes[$I].lost_detail.$key")
	assert_ge "lost_detail.$key" "$v" "$min" || { show_tracer; return 1; }
	assert_eq "lost = sum of lost_detail" "$(json_get "$J" ".processes[$I].lost")" \
		"$(jq "[.processes[$I].lost_detail[]] | add" "$J")" || return 1
	line="$prefix: $v $LINE_REST"
	# The value column starts at 15: "lost data" on the first loss line,
	# blanks on the others.
	assert_eq "text line '$line'" 1 \
		"$(awk -v s="$line" 'substr($0, 15) == s &&
			(substr($0, 1, 14) == "lost data     " || substr($0, 1, 14) == "              ")' \
			"$TRACER_OUT" | wc -l)" || { show_tracer; return 1; }
	assert_eq "pymemtrace_lost_events_total{reason=\"$key\"}" "$v" \
		"$(awk -v r="reason=\"$key\"" 'index($1, "pymemtrace_lost_events_total{") == 1 &&
			index($1, r) { print $2 }' "$PROM")" || { cat "$PROM" >&3; return 1; }
}

# The smallest sizes the flags accept: --max-live 1024, --max-stacks 64.
@test "lost: --max-live 1024 fills the live map; text, JSON and metric agree" {
	lost_traced alloc_hold.py 80 -- --alloc --max-live 1024
	fixture_go "$FIX_CTL"
	lost_finish
	# 1280 bytearrays of 64 KiB stay live (alloc_hold.py 80): 1024 fit at most.
	LINE_REST="untracked; raise --max-live (now 1024)"
	check_lost alloc_live_map_full "live map full" 256
}

@test "lost: --max-stacks 64 fills the stack map; text, JSON and metric agree" {
	lost_traced many_stacks.py 200 -- --alloc --max-stacks 64
	fixture_go "$FIX_CTL"
	lost_finish
	# 200 distinct stacks each keep a block: 64 rows at most.
	LINE_REST="not recorded; raise --max-stacks (now 64)"
	check_lost alloc_stack_map_full "stack map full" 136
	assert_le "stacks reported" "$(jq ".processes[$I].alloc.stacks | length" "$J")" 64
}

# A native stack map holds one stack per bucket and never replaces it: a
# stack whose bucket is taken is refused long before the map is full.  That
# was counted as a failed walk ("target memory unreadable"); the fix is more
# room, so it counts as the stack map being full.
@test "lost: --native-depth 8 --max-stacks 64: native stacks refused a taken slot count as stack map full" {
	lost_traced many_stacks.py 200 -- --alloc --native-depth 8 --max-stacks 64
	fixture_go "$FIX_CTL"
	lost_finish
	LINE_REST="not recorded; raise --max-stacks (now 64)"
	check_lost alloc_stack_map_full "stack map full" 136
	assert_eq "alloc_stack_errors" 0 "$(json_get "$J" ".processes[$I].lost_detail.alloc_stack_errors")" ||
		{ show_tracer; return 1; }
}

@test "lost: --heap-growth=pools --max-stacks 64 fills the growth map; text, JSON and metric agree" {
	lost_traced many_stacks.py 200 -- --heap-growth=pools --max-stacks 64
	fixture_go "$FIX_CTL"
	lost_finish
	LINE_REST="not recorded; raise --max-stacks (now 64)"
	check_lost growth_stack_map_full "stack map full" 136
	# Without --alloc the growth row is the one that counts: no alloc_ twin.
	assert_eq "alloc_stack_map_full" 0 "$(json_get "$J" ".processes[$I].lost_detail.alloc_stack_map_full")"
}

@test "lost: --max-procs 1 leaves 3 forked children untraced: exactly 3, everywhere" {
	require_tracing
	use_interp debian3.11
	local k
	J="$BATS_TEST_TMPDIR/report.json"
	mkdir -p "$BATS_TEST_TMPDIR/textfile"
	PROM="$BATS_TEST_TMPDIR/textfile/pymemtrace.prom"
	start_fixture "$PY" fork_workers.py 1 1 1
	start_tracer -p "$FIX_PID" --json "$J" --textfile "$BATS_TEST_TMPDIR/textfile" --max-procs 1
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/workers" 30 "$FIX_PID"
	for k in 0 1 2; do
		touch "$FIX_CTL/go-$k"
		wait_file "$FIX_CTL/done-$k" 60
		touch "$FIX_CTL/exit-$k"
	done
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	I=$(proc_index "$J" "$FIX_PID")
	touch "$FIX_CTL/exit"
	wait_exit "$FIX_PID" 30
	assert_eq "processes reported (the children were not traced)" 1 \
		"$(jq '.processes | length' "$J")"
	LINE_REST="children lost; raise --max-procs (now 1)"
	check_lost forks_untracked "process map full" 3
	assert_eq "lost_detail.forks_untracked" 3 \
		"$(json_get "$J" ".processes[$I].lost_detail.forks_untracked")"
}

@test "lost: at the default sizes nothing is lost, and the report says none" {
	lost_traced alloc_hold.py 4 -- --alloc
	fixture_go "$FIX_CTL"
	lost_finish
	assert_eq "lost" 0 "$(json_get "$J" ".processes[$I].lost")" ||
		{ jq -c ".processes[$I].lost_detail" "$J" | sed 's/^/# /' >&3; show_tracer; return 1; }
	assert_eq "lost_detail keys" 17 "$(jq ".processes[$I].lost_detail | length" "$J")"
	grep -qxF 'lost data     none' "$TRACER_OUT" || { show_tracer; return 1; }
	# Every loss counter that applies to --alloc is exported, at 0.
	assert_eq "loss series" 13 "$(grep -c '^pymemtrace_lost_events_total{' "$PROM")"
	assert_eq "loss series not 0" "" "$(grep '^pymemtrace_lost_events_total{' "$PROM" | awk '$2 != 0')"
}

@test "lost: --max-threads 16 with 48 threads inside mmap at once; every syscall is counted or lost" {
	lost_traced mmap_threads.py 48 5 -- --max-threads 16
	fixture_go "$FIX_CTL"
	lost_finish
	local seen lost
	LINE_REST="hits lost; raise --max-threads (now 16)"
	check_lost pending_full "pending map full" 1
	# 240 mmaps and 240 munmaps of 32 MiB were made (besides the threads'
	# stacks): a call not counted is a lost hit, so together they make at
	# least the 480.
	seen=$(jq ".processes[$I].syscalls | .mmap.calls + .munmap.calls" "$J")
	lost=$(json_get "$J" ".processes[$I].lost_detail.pending_full")
	assert_ge "mmap + munmap counted, plus lost hits" $((seen + lost)) 480
}
