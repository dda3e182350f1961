# Helpers shared by the integration tests (bats 1.8).  Load with
#   load lib/common
# Every process a test starts goes through pmt_spawn, so teardown can end it.

PMT_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
# PMT_BUILD names the build directory under test: build (make check) or
# build-asan (make asan, which also sets PMT_ASAN=1).
PMT_BUILD=${PMT_BUILD:-build}
PMT="$PMT_ROOT/$PMT_BUILD/pymemtrace"
PMT_TEST_TOOL=${PMT_TEST_TOOL:-$PMT_ROOT/$PMT_BUILD/pmt-test-tool}
FIXTURES="$PMT_ROOT/tests/fixtures"
BPFTOOL=${BPFTOOL:-/usr/sbin/bpftool}
# Debian's python3 for helpers, never a pyenv shim that may come first in PATH.
HOST_PY=/usr/bin/python3
MIB=$((1 << 20))

PMT_PIDS=()

# ---- prerequisites ------------------------------------------------------------

require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

require_btf() {
	[ -r /sys/kernel/btf/vmlinux ] || skip "kernel has no BTF (/sys/kernel/btf/vmlinux)"
}

# The tracer is built by `make test` before the suite runs; a missing binary
# is a failure, not a reason to skip.
require_tracer() {
	if [ ! -x "$PMT" ]; then
		echo "# $PMT is not built (run make)" >&3
		return 1
	fi
}

# Tests that cannot run under ASan (valgrind on an ASan binary, a soak whose
# length ASan multiplies) call this first.  PMT_ASAN=1 is set by `make asan`.
skip_under_asan() {
	[ "${PMT_ASAN:-0}" = 1 ] && skip "${1:-not run under ASan} (PMT_ASAN=1)"
	return 0
}

# ASAN_OPTIONS for a pymemtrace run under ptrace (strace, gdb): LeakSanitizer
# cannot work there and would end the run with a fatal error.  Use as
#   run env ASAN_OPTIONS="$(asan_options_under_ptrace)" strace ... "$PMT" ...
asan_options_under_ptrace() {
	echo "${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
}

require_tracing() {
	require_root
	require_btf
	require_tracer
}

# ---- the interpreter matrix ---------------------------------------------------

pyenv_root() {
	local r=""
	if command -v pyenv >/dev/null 2>&1; then
		r=$(pyenv root 2>/dev/null)
	fi
	if [ -z "$r" ] || [ ! -d "$r/versions" ]; then
		r=/root/.pyenv
	fi
	echo "$r"
}

# pyenv_python 3.9: the newest installed 3.9.x binary, or nothing.
pyenv_python() {
	local v=$1 root d best=""
	root=$(pyenv_root)
	for d in "$root"/versions/"$v".*; do
		# 3.1 must not match 3.13.0: the next char after "$v." is a digit
		case "${d##*/}" in
		"$v".[0-9]*) ;;
		*) continue ;;
		esac
		case "${d##*/}" in
		*[!0-9.]*) continue ;;   # skip 3.13.0t and other variants
		esac
		[ -x "$d/bin/python$v" ] && best="$d/bin/python$v"
	done
	[ -n "$best" ] && echo "$best"
}

# Labels of the matrix, in test order.
PMT_LABELS="debian3.11 py3.8 py3.9 py3.10 py3.11 py3.12 py3.13"

# interp_path LABEL: prints the interpreter's path, or returns 1.
interp_path() {
	case "$1" in
	debian3.11)
		[ -x /usr/bin/python3.11 ] && echo /usr/bin/python3.11 ;;
	py3.*)
		pyenv_python "${1#py}" ;;
	*)
		return 1 ;;
	esac
}

# interpreters: one "label:path" line for each interpreter present.
interpreters() {
	local l p
	for l in $PMT_LABELS; do
		p=$(interp_path "$l") && echo "$l:$p"
	done
}

# use_interp LABEL: sets PY, PYVER ("3.11") and PYVER_FULL ("3.11.2"), or
# skips.  Debian's python3.11 is always expected: its absence fails.
use_interp() {
	PY=$(interp_path "$1") || PY=""
	if [ -z "$PY" ]; then
		if [ "$1" = debian3.11 ]; then
			echo "# /usr/bin/python3.11 is missing (tools/install-deps.sh installs it)" >&3
			return 1
		fi
		skip "pyenv ${1#py} not installed"
	fi
	PYVER_FULL=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
	PYVER=${PYVER_FULL%.*}
}

# pymalloc's arena size for PYVER: 256 KiB before 3.10, 1 MiB from 3.10 on
# (64-bit, Objects/obmalloc.c ARENA_BITS).
arena_size_for() {
	local minor=${1#3.}
	if [ "$minor" -lt 10 ]; then
		echo $((256 * 1024))
	else
		echo $MIB
	fi
}

# ---- processes -----------------------------------------------------------------

# proc_alive PID: true while PID runs (a zombie counts as gone).
proc_alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pmt_spawn OUT ERR CMD...: starts CMD in the background with stdout to OUT
# and stderr to ERR; sets SPAWN_PID.  fd 3 is closed, or bats would wait
# for the child.
pmt_spawn() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err" 3>&- </dev/null &
	SPAWN_PID=$!
	PMT_PIDS+=("$SPAWN_PID")
}

# wait_file PATH [SECONDS] [PID]: waits for PATH to exist; fails early when
# PID (if given) dies first.
wait_file() {
	local path=$1 limit=${2:-30} pid=${3:-} i
	for ((i = 0; i < limit * 50; i++)); do
		[ -e "$path" ] && return 0
		if [ -n "$pid" ] && ! proc_alive "$pid"; then
			[ -e "$path" ] && return 0
			echo "# process $pid exited before $path appeared" >&3
			return 1
		fi
		sleep 0.02
	done
	echo "# timed out waiting for $path" >&3
	return 1
}

# start_sleeper PY: runs PY in a sleep loop, a target for tests that only
# need a valid one, and returns once its start-up is over (the
# version buffer is filled then).  Sets SLEEPER_PID.
start_sleeper() {
	local ready="$BATS_TEST_TMPDIR/ready.$RANDOM"
	pmt_spawn /dev/null "$BATS_TEST_TMPDIR/sleeper.err" "$1" -c '
import sys, time
open(sys.argv[1], "w").close()
while True:
    time.sleep(0.2)
' "$ready"
	SLEEPER_PID=$SPAWN_PID
	wait_file "$ready" 30 "$SLEEPER_PID"
}

# wait_exit PID [SECONDS]: waits for a child of this shell, sets WAIT_RC.
# Kills it and fails after SECONDS.
wait_exit() {
	local pid=$1 limit=${2:-30} i
	for ((i = 0; i < limit * 20; i++)); do
		proc_alive "$pid" || break
		sleep 0.05
	done
	if proc_alive "$pid"; then
		echo "# pid $pid still running after ${limit}s; killed" >&3
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		WAIT_RC=137
		return 1
	fi
	WAIT_RC=0
	wait "$pid" 2>/dev/null || WAIT_RC=$?
	return 0
}

# start_fixture PY SCRIPT ARGS...: starts tests/fixtures/SCRIPT with a control
# directory and waits until it is ready (see tests/fixtures/pmtctl.py).
# Sets FIX_PID and FIX_CTL; its stdout is $FIX_CTL/stdout.
start_fixture() {
	local py=$1 script=$2
	shift 2
	FIX_CTL=$(mktemp -d "$BATS_TEST_TMPDIR/fix.XXXXXX")
	# FIX_ENV (an array of NAME=VALUE): environment for the fixture alone,
	# such as an LD_PRELOAD that the test's own tools must not get
	pmt_spawn "$FIX_CTL/stdout" "$FIX_CTL/stderr" \
		env ${FIX_ENV[@]+"${FIX_ENV[@]}"} "$py" "$FIXTURES/$script" "$@" --ctl "$FIX_CTL"
	FIX_PID=$SPAWN_PID
	if ! wait_file "$FIX_CTL/ready" 30 "$FIX_PID"; then
		cat "$FIX_CTL/stderr" >&3
		return 1
	fi
}

# fixture_go CTL: lets the fixture work and waits until it is done.
fixture_go() {
	touch "$1/go"
	wait_file "$1/done" 120
}

# fixture_exit CTL PID: lets the fixture leave and waits for it.
fixture_exit() {
	touch "$1/exit"
	wait_exit "$2" 30
}

# ---- the tracer ----------------------------------------------------------------

# start_tracer ARGS...: runs build/pymemtrace ARGS in the background.  Sets
# TRACER_PID; its output is in $TRACER_OUT and $TRACER_ERR.
start_tracer() {
	TRACER_OUT="$BATS_TEST_TMPDIR/tracer.out"
	TRACER_ERR="$BATS_TEST_TMPDIR/tracer.err"
	pmt_spawn "$TRACER_OUT" "$TRACER_ERR" "$PMT" "$@"
	TRACER_PID=$SPAWN_PID
}

# bpf_links_of PID: how many BPF attachments PID holds.  `bpftool perf list`
# names the holder of uprobes and raw tracepoints; `link list` only does when
# bpftool was built with its pid iterator (Debian's is not: pids is null), so
# uprobe_multi links are counted from PID's own fdinfo.
bpf_links_of() {
	local n1 n2 n3
	n1=$("$BPFTOOL" link list -j 2>/dev/null |
		jq --argjson p "$1" '[.[]? | select(any(.pids[]?; .pid == $p))] | length' 2>/dev/null)
	n2=$("$BPFTOOL" perf list -j 2>/dev/null |
		jq --argjson p "$1" '[.[]? | select(.pid == $p)] | length' 2>/dev/null)
	n3=$(uprobe_multi_links_of "$1" | wc -l)
	echo $((${n1:-0} + ${n2:-0} + ${n3:-0}))
}

# uprobe_multi_links_of PID [TARGET]: one line "LINK_ID TARGET_PID COUNT" per
# uprobe_multi link that PID holds (for TARGET only, if given), from
# /proc/PID/fdinfo (Linux 6.6+ prints pid and uprobe_cnt there; return
# probes' links say "uretprobe_multi").
uprobe_multi_links_of() {
	# One awk for every fd (a poll loop calls this): state resets per file.
	awk -v t="${2:-}" '
		function flush() { if (multi && (t == "" || pid == t)) print id, pid, cnt }
		FNR == 1 { flush(); multi = 0; id = pid = cnt = "" }
		/^link_type:/ { multi = ($2 == "uprobe_multi" || $2 == "uretprobe_multi") }
		/^link_id:/ { id = $2 }
		/^uprobe_cnt:/ { cnt = $2 }
		/^pid:/ { pid = $2 }
		END { flush() }' /proc/"$1"/fdinfo/* 2>/dev/null
}

# wait_attached PID [SECONDS]: waits until tracer PID holds BPF links and
# their number has not changed for a second: the README gives no "attached"
# message, and libbpf attaches programs one after another.
wait_attached() {
	local pid=$1 limit=${2:-30} i n last=-1 stable=0
	for ((i = 0; i < limit * 10; i++)); do
		if ! proc_alive "$pid"; then
			echo "# tracer $pid exited before attaching" >&3
			return 1
		fi
		n=$(bpf_links_of "$pid")
		if [ "$n" -gt 0 ] && [ "$n" -eq "$last" ]; then
			stable=$((stable + 1))
			[ "$stable" -ge 10 ] && return 0
		else
			stable=0
		fi
		last=$n
		sleep 0.1
	done
	echo "# tracer $pid: no stable set of BPF links after ${limit}s (last count $last)" >&3
	return 1
}

# wait_metrics_addr: the tracer's "serving metrics on http://ADDR/metrics"
# line (stderr); sets PROM_ADDR (ADDR:PORT).  1 if the tracer exits first or
# says nothing for 30 s.
wait_metrics_addr() {
	local i
	for ((i = 0; i < 300; i++)); do
		PROM_ADDR=$(sed -n 's|.*serving metrics on http://\([^/]*\)/metrics.*|\1|p' "$TRACER_ERR")
		[ -n "$PROM_ADDR" ] && return 0
		proc_alive "$TRACER_PID" || break
		sleep 0.1
	done
	echo "# no 'serving metrics' line from the tracer" >&3
	show_tracer
	return 1
}

# stop_tracer: SIGINT, as Ctrl-C would; sets TRACER_RC.
stop_tracer() {
	kill -INT "$TRACER_PID" 2>/dev/null
	wait_exit "$TRACER_PID" 30
	TRACER_RC=$WAIT_RC
}

# trace_window SCRIPT [FIXTURE-ARGS...] -- [TRACER-ARGS...]: the usual
# window: starts the fixture (with $PY), attaches `pymemtrace -q -p` with
# TRACER-ARGS, lets the fixture work, stops the tracer with SIGINT, lets the
# fixture leave, and fails unless the tracer exited 0.  FIX_PID, FIX_CTL,
# TRACER_* stay set for the checks that follow.
trace_window() {
	local fix=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		fix+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	start_fixture "$PY" "${fix[@]}" || return 1
	start_tracer -q -p "$FIX_PID" "$@"
	window_after_start "$FIX_CTL"
}

# window_after_start CTL: the rest of the usual window, once the tracer is
# started on the fixture FIX_PID whose handshake is in CTL: waits for the
# attach, lets the fixture work, stops the tracer, lets the fixture leave,
# and fails unless the tracer exited 0.
window_after_start() {
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$1"
	stop_tracer
	fixture_exit "$1" "$FIX_PID"
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
}

# show_tracer: the tracer's output, for a failing test's log.
show_tracer() {
	{
		echo "# --- tracer stdout"
		sed 's/^/#   /' "$TRACER_OUT"
		echo "# --- tracer stderr"
		sed 's/^/#   /' "$TRACER_ERR"
	} >&3
}

# bpf_prog_count: programs loaded on the machine right now.
bpf_prog_count() {
	"$BPFTOOL" prog list -j | jq 'length'
}

# ---- JSON ----------------------------------------------------------------------

# json_get FILE EXPR: prints the value at a jq path such as
# '.processes[0].gc.collections[2]'; strings raw, null as "null".  Uses jq,
# or Debian's python3 (paths of .key and [N] only) where jq is missing.
json_get() {
	if command -v jq >/dev/null 2>&1; then
		jq -r "$2" "$1"
		return
	fi
	"$HOST_PY" - "$1" "$2" <<'EOF'
import json, re, sys
v = json.load(open(sys.argv[1]))
for key, idx in re.findall(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]', sys.argv[2]):
    v = v[key] if key else v[int(idx)]
print("null" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else
      str(v).lower() if isinstance(v, bool) else v)
EOF
}

# proc_index FILE PID: the index of PID in processes[], or fails.
proc_index() {
	local i
	i=$(jq --argjson p "$2" '[.processes[].pid] | index($p)' "$1")
	[ "$i" != null ] || { echo "# pid $2 not in $1" >&3; return 1; }
	echo "$i"
}

# ---- assertions ------------------------------------------------------------------

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	if [ "$2" != "$3" ]; then
		echo "# $1: expected $2, got $3" >&3
		return 1
	fi
}

# assert_ge WHAT ACTUAL MIN
assert_ge() {
	if ! [[ "$2" =~ ^-?[0-9]+$ ]] || [ "$2" -lt "$3" ]; then
		echo "# $1: expected >= $3, got $2" >&3
		return 1
	fi
}

# assert_le WHAT ACTUAL MAX
assert_le() {
	if ! [[ "$2" =~ ^-?[0-9]+$ ]] || [ "$2" -gt "$3" ]; then
		echo "# $1: expected <= $3, got $2" >&3
		return 1
	fi
}

# ---- cleanup -----------------------------------------------------------------------

pmt_cleanup() {
	local pid i
	for pid in "${PMT_PIDS[@]}"; do
		proc_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PMT_PIDS[@]}"; do
		for ((i = 0; i < 40; i++)); do
			proc_alive "$pid" || break
			sleep 0.05
		done
		proc_alive "$pid" && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	PMT_PIDS=()
}

teardown() {
	pmt_cleanup
}

# gc_probe_hits JSON N: automatic GC is off, so the only probe hits of the
# trace are the N collections' two each (USDT start and done, or the
# collector's entry and return), and the overhead is their measured cost.
gc_probe_hits() {
	local j="$1" N="$2" h=".overhead.probe_hits"
	assert_eq "overhead.counted" true "$(json_get "$j" ".overhead.counted")"
	assert_eq "gc entry hits" "$N" "$(json_get "$j" "$h.usdt_gc_start + $h.gc_entry")"
	assert_eq "gc end hits" "$N" "$(json_get "$j" "$h.usdt_gc_done + $h.gc_return")"
	assert_eq "entry_hits + return_hits" "$(json_get "$j" "[$h[]] | add")" \
		"$(json_get "$j" ".overhead.entry_hits + .overhead.return_hits")"
	assert_eq "overhead.cost_measured" true "$(json_get "$j" ".overhead.cost_measured")"
	assert_ge "overhead.entry_ns" "$(json_get "$j" ".overhead.entry_ns | floor")" 1
	# hits x cost, to the nanosecond.  When the kernel times BPF programs
	# (kernel.bpf_stats_enabled=1, off on CI) the dispatcher's measured share
	# of the calibrated cost moves from trap_seconds to bpf_seconds.
	local calc='(.entry_hits * .entry_ns + .return_hits * .return_ns) / 1e9'
	if [ "$(json_get "$j" '.overhead.bpf_seconds')" = null ]; then
		assert_eq "trap_seconds = hits x cost" 0 "$(json_get "$j" ".overhead |
			$calc - .trap_seconds | (if . < 0 then -. else . end) * 1e9 | floor")"
	else
		assert_eq "trap_seconds <= hits x cost" true \
			"$(json_get "$j" ".overhead | .trap_seconds <= $calc + 1e-9")"
	fi
	# Without the kernel's figures the GC handlers time themselves: at
	# least 10 ns a hit (two clock reads alone take more), under the
	# 100 us above which a run counts as preempted.
	if [ "$(json_get "$j" '.overhead.bpf_seconds')" = null ]; then
		local per_hit="(.overhead.gc_handlers_seconds * 1e9 / (2 * $N))"
		assert_ge "GC handlers' ns a hit" "$(json_get "$j" "$per_hit | floor")" 10
		assert_eq "GC handlers' ns a hit < 100 us" true "$(json_get "$j" "$per_hit < 100000")"
	else
		assert_eq "gc_handlers_seconds with bpf_seconds" null \
			"$(json_get "$j" '.overhead.gc_handlers_seconds')"
	fi
	assert_eq "estimate = trap + bpf + GC handlers" 0 "$(json_get "$j" '.overhead |
		.trap_seconds + (.bpf_seconds // 0) + (.gc_handlers_seconds // 0) - .estimate_seconds
		| (if . < 0 then -. else . end) * 1e9 | floor')"
	assert_ge "overhead.target_cpu_seconds" \
		"$(json_get "$j" '.overhead.target_cpu_seconds | . * 1000 | floor')" 0
}
