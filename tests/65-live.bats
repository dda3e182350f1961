#!/usr/bin/env bats
# --live: the top-like view, driven in tmux (send-keys) and read back with
# capture-pane.  Each test has its own tmux server (-L), so that nobody
# else's sessions are touched.  Nothing is timed: every wait polls a
# condition, with a bound.

load lib/common

N=7          # gc_collect.py: explicit generation-2 collections
HOLD_MIB=16  # alloc_hold.py: MiB that hold_memory() keeps

setup() {
	command -v tmux >/dev/null 2>&1 || skip "tmux is not installed (tools/install-deps.sh installs it)"
	TMUX_SOCK="pmt-live-$$-$BATS_TEST_NUMBER"
	LIVE_DIR=$(mktemp -d "$BATS_TEST_TMPDIR/live.XXXXXX")
}

teardown() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	pmt_cleanup
}

lt() {
	tmux -L "$TMUX_SOCK" -f /dev/null "$@"
}

# live_start WIDTH HEIGHT ARGS...: runs `pymemtrace ARGS` in a detached tmux
# session "live" of that size.  Afterwards the pane records the exit status
# ($LIVE_DIR/rc) and the terminal's modes ($LIVE_DIR/stty), then stays, so
# that the final report can be read from it.
live_start() {
	local w=$1 h=$2 args="" a
	shift 2
	for a in "$@"; do
		args+=" $(printf '%q' "$a")"
	done
	lt new-session -d -s live -x "$w" -y "$h" \
		"$PMT$args 2>$LIVE_DIR/err; echo \$? >$LIVE_DIR/rc.tmp; mv $LIVE_DIR/rc.tmp $LIVE_DIR/rc; stty -a >$LIVE_DIR/stty; exec sleep 300"
}

live_screen() {
	lt capture-pane -p -t live
}

# live_history: the screen and what scrolled off it (the final report is
# longer than the pane).
live_history() {
	lt capture-pane -p -S -2000 -t live
}

show_screen() {
	{
		echo "# --- screen"
		live_screen | sed 's/^/#   /'
		echo "# --- tracer stderr"
		sed 's/^/#   /' "$LIVE_DIR/err" 2>/dev/null
	} >&3
}

# live_wait REGEX [SECONDS]: polls the screen until a line matches REGEX.
live_wait() {
	local re=$1 limit=${2:-30} i
	for ((i = 0; i < limit * 10; i++)); do
		live_screen | grep -qE -- "$re" && return 0
		sleep 0.1
	done
	echo "# timed out waiting for a screen line matching '$re'" >&3
	show_screen
	return 1
}

# live_tracer_pid: the pid of pymemtrace in the pane (the pane's shell's child).
live_tracer_pid() {
	local sh i p
	sh=$(lt display-message -p -t live '#{pane_pid}')
	for ((i = 0; i < 100; i++)); do
		p=$(pgrep -P "$sh" -x pymemtrace | head -1)
		[ -n "$p" ] && { echo "$p"; return 0; }
		sleep 0.1
	done
	echo "# no pymemtrace under the pane's shell $sh" >&3
	return 1
}

# The BPF programs a tracer holds, by id (as in 50-attach.bats).
owned_progs() {
	"$BPFTOOL" perf list -j |
		jq -c --argjson p "$1" '[.[] | select(.pid == $p) | .prog_id] | unique'
}

# progs_gone OWNED: polls until none of those programs is loaded (the kernel
# frees a closed program after an RCU grace period).
progs_gone() {
	local left i
	for ((i = 0; i < 50; i++)); do
		left=$("$BPFTOOL" prog list -j |
			jq --argjson o "$1" '[.[] | select(.id | IN($o[]))] | length')
		[ "$left" -eq 0 ] && return 0
		sleep 0.1
	done
	assert_eq "the tracer's bpf programs left after q" 0 "$left"
}

# live_exit_status: waits for the tracer to end; prints its exit status.
live_exit_status() {
	wait_file "$LIVE_DIR/rc" 30 || { show_screen; return 1; }
	cat "$LIVE_DIR/rc"
}

# screen_row REGEX: the first screen line matching REGEX, runs of spaces
# squeezed to one.
screen_row() {
	live_screen | grep -E -m1 -- "$1" | tr -s ' '
}

@test "live: GC rows per generation with exact counts; q detaches, restores the terminal, prints the final report" {
	require_tracing
	use_interp debian3.11
	local owned pid expect
	start_fixture "$PY" gc_collect.py "$N"
	live_start 160 50 --live -p "$FIX_PID"
	live_wait '^ pymemtrace --live' || return 1
	pid=$(live_tracer_pid)
	wait_attached "$pid" || { show_screen; return 1; }
	owned=$(owned_progs "$pid")
	[ "$(jq length <<<"$owned")" -gt 0 ]
	[ "$(lt display-message -p -t live '#{alternate_on}')" = 1 ]
	fixture_go "$FIX_CTL"
	# The view refreshes every second: wait for the frame with all N.
	live_wait "^  GC gen2 +$N " || return 1
	for g in 0 1 2; do
		expect=$(jq ".after[$g] - .before[$g]" "$FIX_CTL/done")
		[[ "$(screen_row "^  GC gen$g ")" == " GC gen$g $expect "* ]] ||
			{ echo "# gen$g: want $expect collections" >&3; show_screen; return 1; }
	done
	live_screen | grep -qE "^PID $FIX_PID  python3\.11  CPython $PYVER_FULL  running"
	live_screen | grep -qE '^  RSS +[0-9.]+ (B|KiB|MiB|GiB)  peak '
	live_screen | grep -qE '^  GC +collections +/s +collected +p50 <= +p99 <= +max +total$'
	live_screen | grep -qE '^  alloc +off: --alloc shows'
	live_screen | grep -qE '^  stacks +--alloc shows the top stacks by live bytes, --heap-growth by heap growth'
	live_screen | grep -qE '^  lost data +none'

	lt send-keys -t live q
	assert_eq "tracer exit status" 0 "$(live_exit_status)" || { show_screen; return 1; }
	progs_gone "$owned"
	# The terminal is given back: normal screen, echo and canonical mode on.
	[ "$(lt display-message -p -t live '#{alternate_on}')" = 0 ]
	grep -qE '(^| )echo( |$)' "$LIVE_DIR/stty"
	grep -qE '(^| )icanon( |$)' "$LIVE_DIR/stty"
	# Then the final report, on the normal screen.
	live_history | grep -qE "^== pid $FIX_PID python3\.11 "
	live_history | grep -qE "^collections +0 +0 +$N$"
	proc_alive "$FIX_PID"
	fixture_exit "$FIX_CTL" "$FIX_PID"
}

@test "live: --alloc lists hold_memory first by live bytes; s sorts, p pauses, q quits" {
	require_tracing
	use_interp debian3.11
	local line
	line=$(grep -n 'return \[bytearray(CHUNK)' "$FIXTURES/alloc_hold.py" | cut -d: -f1)
	start_fixture "$PY" alloc_hold.py "$HOLD_MIB"
	live_start 160 50 --live --alloc -p "$FIX_PID"
	live_wait '^ pymemtrace --live .* s sort' || return 1
	wait_attached "$(live_tracer_pid)" || { show_screen; return 1; }
	fixture_go "$FIX_CTL"
	live_wait "^  top stacks by live bytes, of [0-9]+ \(s: sort\)" || return 1
	live_wait "^ +$HOLD_MIB\.0 MiB +$HOLD_MIB\.0 MiB " || return 1
	# The first stack row is hold_memory's bytearrays: 16 MiB live in 256
	# blocks of 64 KiB, named down to the fixture's line.
	local first
	first=$(live_screen | grep -A1 -E '^ +LIVE +ALLOCATED +BLOCKS +STACK' | sed -n 2p)
	[[ "$first" =~ ^\ +$HOLD_MIB\.0\ MiB\ +$HOLD_MIB\.0\ MiB\ +256\ +\[native\]\ .*hold_memory.*\(alloc_hold\.py:$line\) ]] ||
		{ echo "# first stack row: $first" >&3; show_screen; return 1; }
	live_screen | grep -qE '^  alloc +.*/s \([0-9.]+ blocks/s\)  live .* coverage unknown: may be partial'

	lt send-keys -t live s
	live_wait '^  top stacks by allocated bytes, of ' || return 1
	lt send-keys -t live s
	live_wait '^  top stacks by allocated blocks, of ' || return 1
	lt send-keys -t live p
	live_wait '^ pymemtrace --live .* PAUSED' || return 1
	lt send-keys -t live p
	lt send-keys -t live q
	assert_eq "tracer exit status" 0 "$(live_exit_status)" || { show_screen; return 1; }
	live_history | grep -qE "^== pid $FIX_PID python3\.11 "
}

@test "live: a narrow terminal clips rows instead of wrapping them; a resize redraws" {
	require_tracing
	use_interp debian3.11
	start_fixture "$PY" gc_collect.py "$N"
	live_start 44 40 --live -p "$FIX_PID"
	live_wait '^ pymemtrace --live' || return 1
	fixture_go "$FIX_CTL"
	live_wait "^  GC gen2 +$N " || return 1
	# Each row on its own line: nothing spilled into the next one.
	live_screen | grep -A4 -E '^  GC +collections' > "$LIVE_DIR/gc"
	[ "$(sed -n 2p "$LIVE_DIR/gc" | cut -c1-9)" = "  GC gen0" ]
	[ "$(sed -n 3p "$LIVE_DIR/gc" | cut -c1-9)" = "  GC gen1" ]
	[ "$(sed -n 4p "$LIVE_DIR/gc" | cut -c1-9)" = "  GC gen2" ]
	# A row that spilled would leave its tail after this short one.
	[ "$(sed -n 5p "$LIVE_DIR/gc")" = "  lost data  none" ]
	[ -z "$(live_screen | grep 'total$')" ]
	# Wider: the next frame has the columns that did not fit.
	lt resize-window -t live -x 160 -y 40
	live_wait "^  GC gen2 +$N +[0-9.]+ +[0-9]+ .* (ns|us|ms|s)$" || return 1
	lt send-keys -t live q
	assert_eq "tracer exit status" 0 "$(live_exit_status)" || { show_screen; return 1; }
}

@test "live: SIGTERM leaves the view by the same clean path" {
	require_tracing
	local pid
	start_fixture /usr/bin/python3.11 gc_collect.py 2
	live_start 120 40 --live -p "$FIX_PID"
	live_wait '^ pymemtrace --live' || return 1
	pid=$(live_tracer_pid)
	kill -TERM "$pid"
	assert_eq "tracer exit status" 0 "$(live_exit_status)" || { show_screen; return 1; }
	[ "$(lt display-message -p -t live '#{alternate_on}')" = 0 ]
	grep -qE '(^| )echo( |$)' "$LIVE_DIR/stty"
	live_history | grep -qE "^== pid $FIX_PID python3\.11 "
}

@test "live: stdout not a terminal is a usage error (exit 2), before anything is attached" {
	require_tracer
	local rc=0
	"$PMT" --live -p $$ >"$LIVE_DIR/out" 2>"$LIVE_DIR/err" </dev/null || rc=$?
	assert_eq "exit status" 2 "$rc"
	grep -q 'error: --live needs a terminal on stdout' "$LIVE_DIR/err"
	[ ! -s "$LIVE_DIR/out" ]
}

# The test tool draws report-sample-alloc (tests/helper/output_cmds.c): four
# processes with known numbers and hostile target strings.  Needs no root.
@test "live: a synthetic report: escaped target strings, first-frame rates, partial coverage, lost data, --top" {
	local tool=$PMT_TEST_TOOL s="$LIVE_DIR/screen"
	[ -x "$tool" ] || { echo "# $tool is not built (run make)" >&3; return 1; }
	lt new-session -d -s live -x 200 -y 120 \
		"$tool report-sample-alloc live 2>$LIVE_DIR/err; echo \$? >$LIVE_DIR/rc; exec sleep 300"
	live_wait '^PID 5154  worker ' || return 1
	live_screen >"$s"
	# First frame: rates over the whole trace (6400000 B and 100000 blocks in 3 s).
	grep -qxF '  alloc      2.0 MiB/s (33333.3 blocks/s)  live 1.3 MiB in 10000 blocks  peak 1.9 MiB  PARTIAL: coverage 35%  (estimates: sampled)' "$s"
	grep -qxF '  alloc      4.0 KiB/s (1.0 blocks/s)  live 8.0 KiB in 2 blocks  peak 8.0 KiB  coverage 97%' "$s"
	grep -qE '^  alloc +2\.9 KiB/s .* coverage unknown: may be partial$' "$s"
	grep -qxF '  lost data  15 (the final report lists each kind and its fix)' "$s"
	# Control characters, bad UTF-8 and backslashes from the target arrive
	# escaped: the hostile stack is one row, with the rows around it intact.
	grep -A2 -E '^ +LIVE +ALLOCATED' "$s" | sed -n 2,3p >"$LIVE_DIR/rows"
	grep -qF '    19.5 KiB   19.5 KiB         1  [native] sym;x\x0a\xfe (lib"so) < [native] ? < bad;fn\x1b[2J"\xc3(\\ (evil;dir\x0aname"q\xff.py:?) < main (main.py:100)' "$LIVE_DIR/rows"
	grep -qxF '    11.7 KiB    4.9 KiB         5  [native] PyObject_Malloc+0x12 (/usr/bin/python3.11) < f0 (mod0.py:10) < main (main.py:100)' "$LIVE_DIR/rows"
	grep -qF 'PID 5152  ev;il\x0a\xff"nam  x;y  CPython ?' "$s"
	# Process A: the default ten of its 15 stacks; D: --top 1.
	assert_eq "process A's stack rows" 10 \
		"$(sed -n '/^PID 5151 /,/^PID 5152 /p' "$s" | grep -cE '^ +[0-9.]+ (B|KiB|MiB) +[0-9.]+ (B|KiB|MiB) +[0-9]+  ')"
	assert_eq "process D's stack rows" 1 \
		"$(sed -n '/^PID 5154 /,$p' "$s" | grep -cE '^ +[0-9.]+ (B|KiB|MiB) +[0-9.]+ (B|KiB|MiB) +[0-9]+  ')"
	grep -qE '^PID 5153  noalloc .*' "$s"
	sed -n '/^PID 5153 /,/^PID 5154 /p' "$s" | grep -qxF '  alloc      off: --alloc shows the allocation rate, live bytes and their stacks'
	lt send-keys -t live q
	assert_eq "test tool exit status" 0 "$(live_exit_status)"
}
