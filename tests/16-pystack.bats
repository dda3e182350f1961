#!/usr/bin/env bats
# Python stacks: the BPF walker (bpf/pystack.bpf.h), the offsets it runs on
# (user/pyoffsets.c), code objects to names and lines (user/pysym.c) and the
# line tables (user/linetable.c), through pmt-test-tool.
#
# Expected values come from elsewhere: the line tables from each
# interpreter's own co_lines()/dis.findlinestarts() (captured by
# tools/capture-linetables.py into tests/fixtures/linetables/, so they run
# without pyenv), the live stacks from the `# @NAME` markers in
# tests/fixtures/pystack.py, the 3.13 offsets from the interpreter's own
# _Py_DebugOffsets.

bats_require_minimum_version 1.5.0

load lib/common

TOOL=${PMT_TEST_TOOL:-$PMT_ROOT/build/pmt-test-tool}
LINETABLES=$FIXTURES/linetables
STACK_FIXTURE=$FIXTURES/pystack.py

setup() {
	[ -x "$TOOL" ] || {
		echo "# $TOOL is not built (make build/pmt-test-tool)" >&3
		return 1
	}
}

# ---- line tables --------------------------------------------------------------------

# check_linetables FILE: the decoder's line for every instruction offset of
# every code object in FILE equals the interpreter's answer.
check_linetables() {
	[ -r "$1" ] || { echo "# $1 is missing (tools/capture-linetables.py)" >&3; return 1; }
	"$HOST_PY" - "$TOOL" "$1" <<'EOF'
import json, subprocess, sys
tool, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
bad = checked = 0
for c in d["code"]:
    n = c["code_len"]
    want = {}
    if "co_lines" in c:                   # 3.10+: ranges, None = no line
        for start, end, line in c["co_lines"]:
            for off in range(start, end, 2):
                want[off] = -1 if line is None else line
    else:                                 # 3.8/3.9: the last start <= offset
        for off in range(0, n, 2):
            want[off] = c["firstlineno"]
            for start, line in c["linestarts"]:
                if start <= off:
                    want[off] = line
    out = subprocess.run([tool, "linetable", str(d["version_mm"]), str(c["firstlineno"]),
                          c["table"], str(n)], capture_output=True, text=True, check=True)
    got = dict(l.split(" ", 1) for l in out.stdout.splitlines())
    for off in range(0, n, 2):
        checked += 1
        if off not in want or got.get(str(off)) != str(want[off]):
            bad += 1
            if bad <= 10:
                print("# %s: %s offset %d: expected %s, got %s"
                      % (path, c["name"], off, want.get(off), got.get(str(off))))
print("# %s: %d offsets of %d code objects, %d wrong" % (path, checked, len(d["code"]), bad))
sys.exit(1 if bad or not checked else 0)
EOF
}

@test "linetable: 3.8 lnotab matches dis.findlinestarts" {
	check_linetables "$LINETABLES/3.8.json"
}

@test "linetable: 3.9 lnotab matches dis.findlinestarts" {
	check_linetables "$LINETABLES/3.9.json"
}

@test "linetable: 3.10 linetable matches co_lines()" {
	check_linetables "$LINETABLES/3.10.json"
}

@test "linetable: 3.11 location table matches co_lines() (pyenv 3.11.7 and Debian 3.11.2)" {
	check_linetables "$LINETABLES/3.11.json"
	check_linetables "$LINETABLES/debian-3.11.json"
}

@test "linetable: 3.12 location table matches co_lines()" {
	check_linetables "$LINETABLES/3.12.json"
}

@test "linetable: 3.13 location table matches co_lines()" {
	check_linetables "$LINETABLES/3.13.json"
}

@test "linetable: malformed tables give errors, not crashes" {
	# a location entry without its start bit, a varint that never ends
	run "$TOOL" linetable 311 1 0102 4
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 error Bad message"* ]]
	run "$TOOL" linetable 312 1 f0c0c0c0c0c0c0c0 2
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 error Bad message"* ]]
	# an unknown version
	run "$TOOL" linetable 307 1 0001 2
	[[ "$output" == *"Invalid argument"* ]]
}

# ---- pysym on a fake target -------------------------------------------------------

@test "pysym: cache, reused code address, strings of every kind, hostile objects" {
	run "$TOOL" pysym-fake
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "first: /src/app.py:12 Klass.méthode_Ω (hits=0 misses=1 stale=0)" ]
	[ "${lines[1]}" = "again: /src/app.py:13 Klass.méthode_Ω (hits=1 misses=1 stale=0)" ]
	[ "${lines[2]}" = "past-end: /src/app.py:-1 Klass.méthode_Ω (hits=2 misses=1 stale=0)" ]
	# same checksum fields: answered from the cache, old file name kept
	[ "${lines[3]}" = "cached: /src/app.py:12 Klass.méthode_Ω (hits=3 misses=1 stale=0)" ]
	# a new code object at the same address: detected and read again
	[ "${lines[4]}" = "reused: /src/changed.py:22 other_function (hits=3 misses=1 stale=1)" ]
	[ "${lines[5]}" = "kind1: /src/changed.py:22 naïve (hits=3 misses=1 stale=2)" ]
	[ "${lines[6]}" = "invalid-cp: /src/changed.py:22 x😀�� (hits=3 misses=1 stale=3)" ]
	# a length of 2^40: 4096 characters and "..."
	[[ "${lines[7]}" == "huge-length: /src/changed.py:22 x"*"... (hits=3 misses=1 stale=4)" ]]
	[ "${#lines[7]}" -lt 4200 ]
	[ "${lines[8]}" = "unreadable: ?:22 ? (hits=3 misses=1 stale=5)" ]
	[ "${lines[9]}" = "not-code: error Invalid argument (hits=3 misses=1 stale=5)" ]
	[ "${lines[10]}" = "unmapped: error Bad address (hits=3 misses=1 stale=5)" ]
}

# ---- offsets ----------------------------------------------------------------------------

@test "pyoffsets: 3.13's _Py_DebugOffsets agree with the table" {
	local lib
	use_interp py3.13
	lib=${PY%/bin/*}/lib/libpython3.13.so.1.0
	[ -r "$lib" ] || skip "pyenv 3.13 has no shared libpython"
	run "$TOOL" pyoffsets "$lib"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"source: _Py_DebugOffsets (matches table 3.13)"* ]]
	[[ "$output" == *"debug_offsets_differ: 0"* ]]
	[[ "$output" != *DIFFERS* ]]
}

@test "pyoffsets: Debian's stripped static 3.11.2 uses the 3.11 table and the TSS slot" {
	use_interp debian3.11
	run "$TOOL" pyoffsets "$PY"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"source: table 3.11"* ]]
	[[ "$output" == *"tstate_from: tss"* ]]
}

@test "pyoffsets: CPython 3.7 is refused with the reason" {
	local p
	p=$(pyenv_python 3.7) || true
	[ -n "$p" ] || skip "pyenv 3.7 not installed"
	run "$TOOL" pyoffsets "${p%/bin/*}/lib/libpython3.7m.so.1.0"
	echo "$output"
	[ "$status" -ne 0 ]
	# interp__find_file refuses it before the tables are asked
	[[ "$output" == *"3.7."*"3.8"* ]]
}

# ---- live stacks ------------------------------------------------------------------------

# line_of TAG: the line of the fixture marked "# @TAG".
line_of() {
	grep -n "# @$1\$" "$STACK_FIXTURE" | cut -d: -f1
}

# expected_stacks MM: what pmt-test-tool pystack must print for the fixture,
# without the 3 threading.py frames under `worker`.
expected_stacks() {
	local mm=$1 f=$STACK_FIXTURE method=method inner=inner i
	if [ "$mm" -ge 311 ]; then      # co_qualname
		method=Widget.method
		inner=Widget.method.\<locals\>.inner
	fi
	cat <<EOF
stack 1 depth=5 flags=none
  $f:$(line_of leaf) leaf
  $f:$(line_of call_leaf) $method
  $f:$(line_of call_method) outer
  $f:$(line_of call_outer) main
  $f:$(line_of call_main) <module>
stack 2 depth=4 flags=none
  $f:$(line_of inner) $inner
  $f:$(line_of call_inner) $method
  $f:$(line_of call_nested) main
  $f:$(line_of call_main) <module>
stack 3 depth=3 flags=none
  $f:$(line_of gen) gen
  $f:$(line_of call_gen) main
  $f:$(line_of call_main) <module>
stack 4 depth=32 flags=truncated
  $f:$(line_of deep) recurse
EOF
	for ((i = 0; i < 31; i++)); do
		echo "  $f:$(line_of call_recurse) recurse"
	done
	echo "stack 5 depth=4 flags=none"
	echo "  $f:$(line_of thread) worker"
}

# check_stacks LABEL [TOOL-ARGS...]: the walker's stacks in the fixture, on
# one interpreter.
check_stacks() {
	local out err mm prefix t
	require_root
	require_btf
	use_interp "$1"
	shift
	mm=$((${PYVER%%.*} * 100 + ${PYVER#*.}))
	out=$BATS_TEST_TMPDIR/stacks.out
	err=$BATS_TEST_TMPDIR/stacks.err
	start_fixture "$PY" pystack.py
	"$TOOL" pystack "$FIX_PID" -n 5 -g "$FIX_CTL/go" -t 30 "$@" >"$out" 2>"$err" || {
		echo "# pmt-test-tool pystack failed:" >&3
		sed 's/^/#   /' "$err" "$out" >&3
		return 1
	}
	fixture_exit "$FIX_CTL" "$FIX_PID"
	diff -u <(expected_stacks "$mm") <(head -n -3 "$out") >&3 || return 1
	# the thread's callers live in the interpreter's threading.py
	[ "$mm" -ge 311 ] && prefix=Thread. || prefix=
	t=$(tail -n 3 "$out")
	echo "$t" | sed -n 1p | grep -Eq "/threading\.py:[0-9]+ ${prefix}run\$"
	echo "$t" | sed -n 2p | grep -Eq "/threading\.py:[0-9]+ ${prefix}_bootstrap_inner\$"
	echo "$t" | sed -n 3p | grep -Eq "/threading\.py:[0-9]+ ${prefix}_bootstrap\$"
}

@test "pystack: Debian python3.11 (static, LTO, stripped)" {
	check_stacks debian3.11
}

@test "pystack: pyenv 3.8" {
	check_stacks py3.8
}

@test "pystack: pyenv 3.9" {
	check_stacks py3.9
}

@test "pystack: pyenv 3.10" {
	check_stacks py3.10
}

@test "pystack: pyenv 3.11" {
	check_stacks py3.11
}

@test "pystack: pyenv 3.12 (thread state from the TSS slot)" {
	check_stacks py3.12
}

@test "pystack: pyenv 3.13 (_Py_DebugOffsets)" {
	check_stacks py3.13
}

# Under a C library whose thread-specific layout is not glibc's (musl), the
# TSS slot cannot be found (-T makes the walker believe so).  Up to 3.11
# the GIL holder that _PyRuntime publishes is the fallback, and a thread
# that holds the GIL still has its stack; 3.12+ publish none.
@test "pystack: without the TSS slot, Debian 3.11 falls back to the GIL holder" {
	check_stacks debian3.11 -T
}

@test "pystack: without the TSS slot, 3.8 falls back to the GIL holder" {
	check_stacks py3.8 -T
}

@test "pystack: without the TSS slot, 3.12 says no thread state" {
	require_root
	require_btf
	use_interp py3.12
	start_fixture "$PY" pystack.py
	run --separate-stderr "$TOOL" pystack "$FIX_PID" -n 1 -g "$FIX_CTL/go" -t 30 -T
	fixture_exit "$FIX_CTL" "$FIX_PID"
	[ "$status" -eq 0 ]
	assert_eq "stack" "stack 1 depth=0 flags=no_tstate" "$output"
}

# check_without_gil LABEL: stacks at PyEval_RestoreThread, entered by the
# fixture's wait loop (time.sleep and the stat of os.path.exists alternate)
# while it waits for `go`, before it takes the GIL back.  The walker reads
# the thread's own TSS slot: the sleeping thread's stack, on every version
# (up to this build 3.8-3.11 followed the GIL holder, and there was none).
check_without_gil() {
	local out err mm sleep_line
	require_root
	require_btf
	use_interp "$1"
	mm=$((${PYVER%%.*} * 100 + ${PYVER#*.}))
	out=$BATS_TEST_TMPDIR/nogil.out
	err=$BATS_TEST_TMPDIR/nogil.err
	start_fixture "$PY" pystack.py
	"$TOOL" pystack "$FIX_PID" -s PyEval_RestoreThread -n 2 -t 30 >"$out" 2>"$err" || {
		sed 's/^/#   /' "$err" "$out" >&3
		return 1
	}
	fixture_go "$FIX_CTL"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	cat "$out"
	# one of the two is time.sleep's: _wait < ready < <module>
	sleep_line=$(grep -n 'time.sleep(POLL_S)' "$FIXTURES/pmtctl.py" | cut -d: -f1)
	# (qualified names from 3.11 on)
	grep -A1 -E '^stack [12] depth=3 flags=none$' "$out" |
		grep -qxE "  $FIXTURES/pmtctl.py:$sleep_line (Ctl\.)?_wait"
	! grep -q no_tstate "$out"
}

@test "pystack: a thread without the GIL on Debian 3.11 still has its own stack (TSS)" {
	check_without_gil debian3.11
}

@test "pystack: a thread without the GIL on 3.8 still has its own stack (TSS)" {
	check_without_gil py3.8
}

@test "pystack: a thread without the GIL on 3.12 still has its own stack (TSS)" {
	check_without_gil py3.12
}

@test "pystack: a thread without the GIL on 3.13 still has its own stack (TSS)" {
	check_without_gil py3.13
}
