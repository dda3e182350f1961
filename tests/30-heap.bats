#!/usr/bin/env bats
# Heap growth: mmap/munmap syscalls, page faults and pymalloc arenas, checked
# against what the fixture did in the traced window.

load lib/common

# mmap_touch.py maps K regions of M MiB.  9 MiB is a size nothing else in
# the interpreter maps, and in the go..done window the fixture creates only
# small ints and the mmap objects, so pymalloc may take at most an arena or
# two: that is the SLACK allowed above the fixture's own K mappings.
K=3
M=9
SLACK_CALLS=2
SLACK_BYTES=$((4 * 1024 * 1024))

# check_mmap JSON INDEX: the syscall and fault assertions for one report.
check_mmap() {
	local j=$1 i=$2 want=$((K * M * MIB)) p=".processes[$2]"
	assert_ge "syscalls.mmap.calls" "$(json_get "$j" "$p.syscalls.mmap.calls")" "$K"
	assert_ge "syscalls.mmap.bytes" "$(json_get "$j" "$p.syscalls.mmap.bytes")" "$want"
	assert_ge "syscalls.munmap.calls" "$(json_get "$j" "$p.syscalls.munmap.calls")" "$K"
	assert_ge "syscalls.munmap.bytes" "$(json_get "$j" "$p.syscalls.munmap.bytes")" "$want"
	assert_ge "faults.minor" "$(json_get "$j" "$p.faults.minor")" $((want / 4096))
	assert_eq "lost" 0 "$(json_get "$j" "$p.lost")"
}

mmap_attach() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" i p want=$((K * M * MIB))
	start_fixture "$PY" mmap_touch.py "$K" "$M"
	start_tracer -q -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	assert_eq "pages the fixture touched" $((want / 4096)) "$(jq .pages "$FIX_CTL/done")"
	i=$(proc_index "$j" "$FIX_PID")
	p=".processes[$i]"
	check_mmap "$j" "$i"
	# Attached only for the window: nothing but the fixture's regions
	# (plus SLACK) may be counted.
	assert_le "syscalls.mmap.calls" "$(json_get "$j" "$p.syscalls.mmap.calls")" $((K + SLACK_CALLS))
	assert_le "syscalls.mmap.bytes" "$(json_get "$j" "$p.syscalls.mmap.bytes")" $((want + SLACK_BYTES))
	assert_le "syscalls.munmap.calls" "$(json_get "$j" "$p.syscalls.munmap.calls")" $((K + SLACK_CALLS))
	assert_le "syscalls.munmap.bytes" "$(json_get "$j" "$p.syscalls.munmap.bytes")" $((want + SLACK_BYTES))
}

mmap_launch() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" pid
	start_tracer -q --json "$j" -- "$PY" "$FIXTURES/mmap_touch.py" "$K" "$M"
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	pid=$(sed -n 's/^READY //p' "$TRACER_OUT")
	check_mmap "$j" "$(proc_index "$j" "$pid")"
}

# arenas.py holds MIB MiB of small tuples.  The arenas pymalloc had before
# the window may absorb at most their own size, so at least
# floor(held / arena_size) - (arenas before) new arenas are needed.  The
# interpreter's own counter (sys._debugmallocstats) read at done and at exit
# brackets the exact number the tracer must report.
ARENA_MIB=24

arenas_attach() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" i p size held pre min got lo hi
	trace_window arenas.py "$ARENA_MIB" -- --json "$j" || return 1
	size=$(arena_size_for "$PYVER")
	assert_eq "arena size reported by python $PYVER" "$size" \
		"$(jq .before.arena_size "$FIX_CTL/done")"
	held=$(jq .held_bytes "$FIX_CTL/done")
	pre=$(jq .after_go.current "$FIX_CTL/done")
	min=$((held / size - pre))
	[ "$min" -gt 0 ]
	i=$(proc_index "$j" "$FIX_PID")
	p=".processes[$i]"
	got=$(json_get "$j" "$p.arenas.allocated")
	assert_ge "arenas.allocated" "$got" "$min"
	# Counted from after go (the tracer is attached by then) to done, at
	# least; from before ready to exit, at most.
	lo=$(jq '.at_done.total - .after_go.total' "$FIX_CTL/done")
	hi=$(jq -s '.[1].at_exit.total - .[0].before.total' "$FIX_CTL/done" "$FIX_CTL/final")
	assert_ge "arenas.allocated (python counted $lo..$hi)" "$got" "$lo"
	assert_le "arenas.allocated (python counted $lo..$hi)" "$got" "$hi"
	lo=$(jq '.at_done.reclaimed - .after_go.reclaimed' "$FIX_CTL/done")
	hi=$(jq -s '.[1].at_exit.reclaimed - .[0].before.reclaimed' "$FIX_CTL/done" "$FIX_CTL/final")
	got=$(json_get "$j" "$p.arenas.freed")
	assert_ge "arenas.freed (python counted $lo..$hi)" "$got" "$lo"
	assert_le "arenas.freed (python counted $lo..$hi)" "$got" "$hi"
	assert_eq "lost" 0 "$(json_get "$j" "$p.lost")"
}

@test "heap: mmap/munmap/faults, -p attach, debian python3.11" { mmap_attach debian3.11; }
@test "heap: mmap/munmap/faults, -p attach, python3.8" { mmap_attach py3.8; }
@test "heap: mmap/munmap/faults, -p attach, python3.9" { mmap_attach py3.9; }
@test "heap: mmap/munmap/faults, -p attach, python3.10" { mmap_attach py3.10; }
@test "heap: mmap/munmap/faults, -p attach, python3.11" { mmap_attach py3.11; }
@test "heap: mmap/munmap/faults, -p attach, python3.12" { mmap_attach py3.12; }
@test "heap: mmap/munmap/faults, -p attach, python3.13" { mmap_attach py3.13; }

@test "heap: mmap/munmap/faults, -- launch, debian python3.11" { mmap_launch debian3.11; }
@test "heap: mmap/munmap/faults, -- launch, python3.13" { mmap_launch py3.13; }

@test "heap: arenas allocated, -p attach, debian python3.11" { arenas_attach debian3.11; }
@test "heap: arenas allocated, -p attach, python3.8" { arenas_attach py3.8; }
@test "heap: arenas allocated, -p attach, python3.9" { arenas_attach py3.9; }
@test "heap: arenas allocated, -p attach, python3.10" { arenas_attach py3.10; }
@test "heap: arenas allocated, -p attach, python3.11" { arenas_attach py3.11; }
@test "heap: arenas allocated, -p attach, python3.12" { arenas_attach py3.12; }
@test "heap: arenas allocated, -p attach, python3.13" { arenas_attach py3.13; }
