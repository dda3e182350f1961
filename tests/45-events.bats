#!/usr/bin/env bats
# --events: the JSON-lines timeline, checked event by event against what the
# fixture did, against the aggregated report, and under a ring too small to
# hold a burst (every event is then written or counted as dropped).

load lib/common

# events_mix.py: N gen-2 collections, then one anonymous mapping of each
# size, all unmapped.  Odd sizes: nothing else in the interpreter maps
# exactly these lengths, and they reach mmap(2) unrounded.
N=4
SIZES="12345 23456 34567"

# valid_lines FILE: every line is one JSON object with the common keys.
valid_lines() {
	local f=$1 lines objs
	lines=$(wc -l <"$f")
	objs=$(jq -c 'select(type == "object" and (.t_ns | type) == "number" and
		(.type | type) == "string" and (.pid | type) == "number" and
		(.tid | type) == "number")' "$f" | wc -l) || {
		echo "# $f: a line is not JSON" >&3
		return 1
	}
	assert_eq "lines that are event objects" "$lines" "$objs"
}

# sorted_times FILE: t_ns never decreases from one line to the next.
sorted_times() {
	assert_eq "lines whose t_ns is below the previous line's" 0 \
		"$(jq -s '[.[].t_ns] as $t | [range(1; $t | length) | select($t[.] < $t[. - 1])] | length' "$1")"
}

# count FILE JQ-FILTER: how many events pass the filter.
count() {
	jq -s "[.[] | select($2)] | length" "$1"
}

TOOL=$PMT_TEST_TOOL

@test "events: unit: the line of every event type, exactly, and hostile strings escaped" {
	run "$TOOL" events-format
	assert_eq "exit status" 0 "$status"
	local want
	want=$(cat <<'EOF'
{"t_ns":5,"type":"gc","pid":4242,"tid":4243,"generation":2,"pause_ns":1234567,"collected":400}
{"t_ns":6,"type":"arena_alloc","pid":4242,"tid":4243,"address":"0x7f0000100000","bytes":1048576}
{"t_ns":7,"type":"arena_free","pid":4242,"tid":4243,"address":"0x7f0000100000","bytes":1048576}
{"t_ns":8,"type":"mmap","pid":4242,"tid":4243,"address":"0x7fffdead0000","length":12345,"mapping":"anon","result":0}
{"t_ns":9,"type":"mmap","pid":4242,"tid":4243,"address":"0x0","length":18446744073709551615,"mapping":"file","result":-12}
{"t_ns":10,"type":"munmap","pid":4242,"tid":4243,"address":"0x1000","length":4096,"result":0}
{"t_ns":11,"type":"mremap","pid":4242,"tid":4243,"address":"0x2000","length":4096,"new_address":"0x10000","new_length":65536,"result":0}
{"t_ns":12,"type":"brk","pid":4242,"tid":4243,"old":"0x5000000","new":"0x4fdf000","bytes":-135168}
{"t_ns":13,"type":"exit","pid":4242,"tid":4243,"wait_status":9}
{"t_ns":14,"type":"exec","pid":4242,"tid":4243,"comm":"a\"b\\\n\u001b[31m\ufffdéxyz"}
{"t_ns":0,"type":"gc","pid":4242,"tid":4243,"generation":0,"pause_ns":0,"collected":0}
(none)
0
EOF
)
	assert_eq "lines" "$want" "$output"
	# Each line is JSON, and the hostile comm reads back as its bytes.
	assert_eq "comm, parsed" "$(printf 'a"b\\\n\033[31m\xef\xbf\xbd\xc3\xa9xyz')" \
		"$(printf '%s\n' "${lines[9]}" | jq -j .comm)"
	printf '%s\n' "${lines[@]:0:11}" | jq -e . >/dev/null
}

@test "events: unit: the writer holds events 10 ms and sorts them; later arrivals are counted late" {
	local f="$BATS_TEST_TMPDIR/o.jsonl"
	# Arrive 30, 10, 20 ms; a drain at 25 ms writes 10 only (15 ms old).
	# Then 5 ms arrives: older than what was written, so late; the drain
	# at 100 ms writes 5, 20, 30; 1 us arrives last and is late too.
	run "$TOOL" events-order "$f" 30000000 10000000 20000000 d@25000000 5000000 bad \
		d@100000000 1000
	assert_eq "exit status" 0 "$status"
	assert_eq "stats" "written 5 late 2 bad 1 mmap 5 error 0" "$output"
	assert_eq "order written" "10000000 5000000 20000000 30000000 1000" \
		"$(jq -r .t_ns "$f" | tr '\n' ' ' | sed 's/ $//')"
	run "$TOOL" events-order "$BATS_TEST_TMPDIR/o2.jsonl" 3 1 2 2 0
	assert_eq "sorted when nothing is late" "0 1 2 2 3" \
		"$(jq -r .t_ns "$BATS_TEST_TMPDIR/o2.jsonl" | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "stats" "written 5 late 0 bad 0 mmap 5 error 0" "$output"
	run "$TOOL" events-order /dev/full 1 2 3
	assert_eq "a full disk is an error, not a crash" "written 3 late 0 bad 0 mmap 3 error -28" "$output"
}

events_mix() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" ev="$BATS_TEST_TMPDIR/events.jsonl" i p k size addr
	local pid_f
	start_fixture "$PY" events_mix.py "$N" $SIZES
	start_tracer -q -p "$FIX_PID" --json "$j" --events "$ev"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	valid_lines "$ev"
	sorted_times "$ev"
	pid_f=".pid == $FIX_PID"

	# Exactly the fixture's collections, all generation 2, their objects.
	assert_eq "gc events" "$N" "$(count "$ev" ".type == \"gc\"")"
	assert_eq "gc events of generation 2" "$N" \
		"$(count "$ev" "$pid_f and .type == \"gc\" and .generation == 2 and .pause_ns > 0")"
	assert_eq "objects collected, summed over gc events" "$(jq .found "$FIX_CTL/done")" \
		"$(jq -s '[.[] | select(.type == "gc") | .collected] | add' "$ev")"

	# One mmap and one munmap per size, at the address the fixture saw.
	k=0
	for size in $SIZES; do
		addr=$(printf '0x%x' "$(jq ".addresses[$k]" "$FIX_CTL/done")")
		assert_eq "mmap events of length $size" 1 \
			"$(count "$ev" "$pid_f and .type == \"mmap\" and .length == $size")"
		assert_eq "anonymous mmap of length $size at $addr, result 0" 1 \
			"$(count "$ev" "$pid_f and .type == \"mmap\" and .length == $size and .mapping == \"anon\" and .address == \"$addr\" and .result == 0")"
		assert_eq "munmap of length $size at $addr, result 0" 1 \
			"$(count "$ev" "$pid_f and .type == \"munmap\" and .length == $size and .address == \"$addr\" and .result == 0")"
		k=$((k + 1))
	done
	assert_eq "mmap events of the fixture's sizes" 3 \
		"$(count "$ev" ".type == \"mmap\" and ([.length] | inside([$(echo $SIZES | tr ' ' ,)]))")"

	# The report's account of the stream, and the aggregates it mirrors.
	i=$(proc_index "$j" "$FIX_PID")
	p=".processes[$i]"
	assert_eq "events.written" "$(wc -l <"$ev")" "$(json_get "$j" .events.written)"
	assert_eq "events.sent" "$(json_get "$j" .events.written)" "$(json_get "$j" .events.sent)"
	assert_eq "events.dropped" 0 "$(json_get "$j" .events.dropped)"
	assert_eq "events.late" 0 "$(json_get "$j" .events.late)"
	assert_eq "events.ring_bytes: 1 MiB by default with --events" $MIB \
		"$(json_get "$j" .events.ring_bytes)"
	assert_eq "lost" 0 "$(json_get "$j" "$p.lost")"
	assert_eq "gc events = gc.collections" \
		"$(json_get "$j" "[$p.gc.collections[]] | add")" "$(count "$ev" ".type == \"gc\"")"
	assert_eq "successful mmap events = syscalls.mmap.calls" \
		"$(json_get "$j" "$p.syscalls.mmap.calls")" "$(count "$ev" ".type == \"mmap\" and .result == 0")"
	assert_eq "successful munmap events = syscalls.munmap.calls" \
		"$(json_get "$j" "$p.syscalls.munmap.calls")" "$(count "$ev" ".type == \"munmap\" and .result == 0")"
	assert_eq "brk events = syscalls.brk.calls" \
		"$(json_get "$j" "$p.syscalls.brk.calls")" "$(count "$ev" ".type == \"brk\"")"
	assert_eq "arena_alloc events = arenas.allocated" \
		"$(json_get "$j" "$p.arenas.allocated")" "$(count "$ev" ".type == \"arena_alloc\"")"
	assert_eq "arena_free events = arenas.freed" \
		"$(json_get "$j" "$p.arenas.freed")" "$(count "$ev" ".type == \"arena_free\"")"
	assert_eq "events.written_by_type.gc" "$N" "$(json_get "$j" .events.written_by_type.gc)"
}

@test "events: debian3.11: exact gc, mmap and munmap events, sorted, matching the report" {
	events_mix debian3.11
}

@test "events: py3.11: exact gc, mmap and munmap events, sorted, matching the report" {
	events_mix py3.11
}

@test "events: py3.13: exact gc, mmap and munmap events, sorted, matching the report" {
	events_mix py3.13
}

@test "events: py3.8: exact gc, mmap and munmap events, sorted, matching the report" {
	events_mix py3.8
}

# An arena pymalloc frees is reported at its munmap, with the address the
# arena was allocated at.
@test "events: py3.11: every arena_free address was an arena_alloc address" {
	require_tracing
	use_interp py3.11
	local ev="$BATS_TEST_TMPDIR/events.jsonl" j="$BATS_TEST_TMPDIR/report.json"
	start_tracer -q --json "$j" --events "$ev" -- "$PY" -c '
x = [(i,) for i in range(400000)]
del x
'
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	valid_lines "$ev"
	sorted_times "$ev"
	# 400000 tuples of 64 bytes need about 25 arenas of 1 MiB; freeing
	# them gives most back.
	assert_ge "arena_free events" "$(count "$ev" '.type == "arena_free"')" 10
	assert_eq "arena_free events without an earlier arena_alloc at their address" 0 \
		"$(jq -s '[foreach .[] as $e ({}; if $e.type == "arena_alloc" then .[$e.address] = true else . end;
			select($e.type == "arena_free" and (.[$e.address] | not)))] | length' "$ev")"
	assert_eq "arena_free events with a munmap of the same address and length" \
		"$(count "$ev" '.type == "arena_free"')" \
		"$(jq -s '[.[] | select(.type == "munmap")] as $m | [.[] | select(.type == "arena_free") |
			select(. as $a | any($m[]; .address == $a.address and .length == $a.bytes))] | length' "$ev")"
	# Launched: the stream ends with the process's exit.
	assert_eq "last event" exit "$(tail -n 1 "$ev" | jq -r .type)"
	assert_eq "exit wait_status" 0 "$(tail -n 1 "$ev" | jq -r .wait_status)"
}

# A 4 KiB ring holds 56 records: a burst of mmap/munmap pairs overflows it.
# Whatever does not fit is counted, by type, so the fixture's own count is
# met exactly: written + dropped == produced.
BURST_PAIRS=30000
BURST_LEN=20480

events_drop() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" ev="$BATS_TEST_TMPDIR/events.jsonl" i p
	local produced written dropped
	start_fixture "$PY" mmap_burst.py "$BURST_PAIRS" "$BURST_LEN"
	start_tracer -p "$FIX_PID" --json "$j" --events "$ev" --ringbuf-kb 4
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	valid_lines "$ev"
	sorted_times "$ev"
	produced=$(jq .events "$FIX_CTL/done")
	assert_eq "fixture's events" $((2 * BURST_PAIRS)) "$produced"
	written=$(count "$ev" "(.type == \"mmap\" or .type == \"munmap\") and .length == $BURST_LEN")
	dropped=$(json_get "$j" '.events.dropped_by_type.mmap + .events.dropped_by_type.munmap')
	assert_ge "events dropped" "$dropped" 1
	assert_eq "written + dropped (mmap, munmap of $BURST_LEN bytes)" "$produced" $((written + dropped))
	assert_eq "events.written" "$(wc -l <"$ev")" "$(json_get "$j" .events.written)"
	assert_eq "events.sent" "$(json_get "$j" .events.written)" "$(json_get "$j" .events.sent)"
	i=$(proc_index "$j" "$FIX_PID")
	p=".processes[$i]"
	assert_eq "lost_detail.events_dropped" "$(json_get "$j" .events.dropped)" \
		"$(json_get "$j" "$p.lost_detail.events_dropped")"
	assert_ge "lost" "$(json_get "$j" "$p.lost")" "$dropped"
	assert_eq "events.ring_bytes" 4096 "$(json_get "$j" .events.ring_bytes)"
	# The text report says so, with the flag that fixes it.
	grep -qF "event ring full: $(json_get "$j" "$p.lost_detail.events_dropped") dropped; raise --ringbuf-kb (now 4)" \
		"$TRACER_OUT" || { show_tracer; return 1; }
	grep -q "dropped: the ring was full (increase --ringbuf-kb)" "$TRACER_OUT" ||
		{ show_tracer; return 1; }
}

@test "events: debian3.11: a 4 KiB ring drops part of a burst; written + dropped == produced" {
	events_drop debian3.11
}

@test "events: py3.11: a 4 KiB ring drops part of a burst; written + dropped == produced" {
	events_drop py3.11
}

@test "events: --events - puts only JSON lines on stdout, the text report on stderr" {
	require_tracing
	use_interp py3.11
	start_tracer --events - -- "$PY" "$FIXTURES/events_mix.py" 2 4097
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	# The fixture's own stdout shares fd 1: keep only the JSON lines.
	grep -v '^READY\|^2 1$' "$TRACER_OUT" >"$BATS_TEST_TMPDIR/ev.jsonl"
	valid_lines "$BATS_TEST_TMPDIR/ev.jsonl"
	# Launched: start-up may collect generation 0 before the fixture
	# disables GC; generation 2 is the fixture's.
	assert_eq "gc events of generation 2 on stdout" 2 \
		"$(count "$BATS_TEST_TMPDIR/ev.jsonl" '.type == "gc" and .generation == 2')"
	grep -q "^events  *[0-9]* written to 'stdout'" "$TRACER_ERR" || { show_tracer; return 1; }
	grep -q "^pymemtrace: 1 process" "$TRACER_ERR" || { show_tracer; return 1; }
}

@test "events: --events - with --json - is a usage error; an unwritable file is exit 1" {
	require_tracing
	run "$PMT" --events - --json - -p 1
	assert_eq "exit status" 2 "$status"
	[[ "$output" == *"cannot share stdout"* ]]
	run "$PMT" -q --events /nonexistent-dir/ev.jsonl -- /usr/bin/python3.11 -c pass
	assert_eq "exit status" 1 "$status"
	[[ "$output" == *"cannot write events to '/nonexistent-dir/ev.jsonl'"* ]]
}

@test "events: without --events the report has events null and no stream" {
	require_tracing
	use_interp py3.11
	local j="$BATS_TEST_TMPDIR/report.json"
	start_tracer -q --json "$j" -- "$PY" "$FIXTURES/events_mix.py" 1 4097
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	assert_eq "events" null "$(json_get "$j" .events)"
	assert_eq "lost_detail.events_dropped" 0 "$(json_get "$j" .processes[0].lost_detail.events_dropped)"
	assert_ge "gc collections of generation 2, aggregated as before" \
		"$(json_get "$j" .processes[0].gc.collections[2])" 1
}
