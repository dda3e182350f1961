#!/usr/bin/env bats
# Finding the interpreter in a live process (user/interp.c) and the x86 code
# analyses behind it (user/x86_decode.c), driven through pmt-test-tool.
# Every answer is checked against an independent source: the interpreter's own
# platform.python_version(), the .symtab that pyenv builds keep, /proc/PID/maps.

load lib/common

TOOL=${PMT_TEST_TOOL:-$PMT_ROOT/build/pmt-test-tool}

setup() {
	[ -x "$TOOL" ] || {
		echo "# $TOOL is not built (make build/pmt-test-tool)" >&3
		return 1
	}
}

# start_sleeper PY: runs PY in a sleep loop, once its start-up is over (the
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

# field NAME: the value of "NAME: value" in $output.
field() {
	sed -n "s/^$1: //p" <<<"$output" | head -1
}

# symaddr FILE NAME: the .symtab address of NAME as 0x..., or nothing.
symaddr() {
	readelf -sW "$1" | awk -v n="$2" '$8 == n && $7 != "UND" { print "0x" $2; exit }' |
		sed 's/^0x0*/0x/'
}

libpython_of() {
	local root=${PY%/bin/*}
	echo "$root/lib/libpython$PYVER.so.1.0"
}

# check_interp LABEL: the common checks for one interpreter of the matrix.
check_interp() {
	require_root
	use_interp "$1"
	start_sleeper "$PY"
	expected=$("$PY" -c 'import platform; print(platform.python_version())')

	run "$TOOL" interp "$SLEEPER_PID"
	echo "$output"  # shown by bats when the test fails
	[ "$status" -eq 0 ]
	assert_eq "version" "$expected" "$(field version)"
	[ -n "$(field version_source)" ]
	[ -n "$(field arena_alloc)" ] || { echo "# no arena functions" >&3; return 1; }
	[ -n "$(field arena_free)" ]
	[ "$(field arena_alloc)" != "$(field arena_free)" ]
}

# check_pyenv_arena: the reported arena functions are the .symtab ones, and
# where the decoder handles the version (3.8-3.11) both ways agree.
check_pyenv_arena() {
	local lib alloc_name free_name
	lib=$(libpython_of)
	assert_eq "kind" libpython "$(field kind)"
	assert_eq "map_path" "$lib" "$(field map_path)"
	if [ "${PYVER#3.}" -lt 12 ]; then
		alloc_name=_PyObject_ArenaMmap free_name=_PyObject_ArenaMunmap
	else
		alloc_name=_PyMem_ArenaAlloc free_name=_PyMem_ArenaFree
	fi
	assert_eq "arena_alloc" "$(symaddr "$lib" $alloc_name)" "$(field arena_alloc)"
	assert_eq "arena_free" "$(symaddr "$lib" $free_name)" "$(field arena_free)"
	if [ "${PYVER#3.}" -lt 12 ]; then
		[[ "$(field arena_how)" == *"agrees with .symtab $alloc_name/$free_name"* ]]
	else
		# 3.12+ reaches the struct through a GOT pointer to _PyRuntime;
		# the decoder does not follow that yet and must say so.
		[[ "$(field arena_how)" == ".symtab $alloc_name/$free_name (not decoded:"*"_PyRuntime"* ]]
	fi

	# the bias puts the ELF's first page on the lowest mapping of the file
	local first
	first=$(awk -v p="$lib" '$6 == p && $3 == "00000000" { print "0x" $1; exit }' \
		"/proc/$SLEEPER_PID/maps" | sed 's/-.*//')
	assert_eq "load_bias" "$(printf '0x%x' "$first")" "$(field load_bias)"
}

@test "interp: Debian python3.11 (static, stripped, LTO)" {
	check_interp debian3.11
	assert_eq "kind" static "$(field kind)"
	assert_eq "load_bias" 0x0 "$(field load_bias)"
	assert_eq "symtab" no "$(field symtab)"
	[[ "$(field version_source)" == "Py_Version in .dynsym"*"Py_GetVersion buffer agrees"* ]]
	grep -q '^usdt: python:gc__start ' <<<"$output"
	grep -q '^usdt: python:gc__done ' <<<"$output"
	[[ "$(field arena_how)" == "decoded PyObject_GetArenaAllocator"* ]]
	# no symtab to compare with: the decoded functions must be the ones that
	# call mmap and munmap
	if command -v objdump >/dev/null; then
		local a f
		a=$(field arena_alloc) f=$(field arena_free)
		objdump -d --start-address="$a" --stop-address=$((a + 64)) "$PY" | grep -q '<mmap'
		objdump -d --start-address="$f" --stop-address=$((f + 32)) "$PY" | grep -q '<munmap'
	fi
}

@test "interp: pyenv 3.8" {
	check_interp py3.8
	check_pyenv_arena
	# no Py_Version before 3.11: the literal first, the live buffer as a check
	[[ "$(field version_source)" == "PY_VERSION literal at "*"Py_GetVersion buffer agrees" ]]
}

@test "interp: pyenv 3.9" {
	check_interp py3.9
	check_pyenv_arena
}

@test "interp: pyenv 3.10" {
	check_interp py3.10
	check_pyenv_arena
}

@test "interp: pyenv 3.11" {
	check_interp py3.11
	check_pyenv_arena
	[[ "$(field version_source)" == "Py_Version in .dynsym"* ]]
}

@test "interp: pyenv 3.12" {
	check_interp py3.12
	check_pyenv_arena
}

@test "interp: pyenv 3.13 (checked against _Py_DebugOffsets too)" {
	check_interp py3.13
	check_pyenv_arena
	[[ "$(field version_source)" == *"_Py_DebugOffsets agrees"* ]]
}

@test "interp: CPython 3.7 is refused" {
	require_root
	PY=$(pyenv_python 3.7) || true
	[ -n "$PY" ] || skip "pyenv 3.7 not installed"
	start_sleeper "$PY"
	v=$("$PY" -c 'import platform; print(platform.python_version())')
	run "$TOOL" interp "$SLEEPER_PID"
	[ "$status" -ne 0 ]
	assert_eq "output" \
		"error: EPROTONOSUPPORT: CPython $v is not supported: pymemtrace needs 3.8 or newer" \
		"$output"
}

@test "interp: a process that is not Python gets ENOEXEC" {
	require_root
	pmt_spawn /dev/null /dev/null sleep 60
	run "$TOOL" interp "$SPAWN_PID"
	[ "$status" -ne 0 ]
	assert_eq "output" "error: ENOEXEC: process $SPAWN_PID ('sleep') does not run CPython: no libpython and no interpreter in its executable" "$output"
}

@test "interp: a pid that does not exist gets ESRCH" {
	# pids are always below pid_max
	pid=$(cat /proc/sys/kernel/pid_max)
	run "$TOOL" interp "$pid"
	[ "$status" -ne 0 ]
	assert_eq "output" "error: ESRCH: no process with pid $pid" "$output"
}

@test "interp: a deleted interpreter binary is read through map_files" {
	require_root
	use_interp debian3.11
	cp "$PY" "$BATS_TEST_TMPDIR/python3.11"
	start_sleeper "$BATS_TEST_TMPDIR/python3.11"
	rm "$BATS_TEST_TMPDIR/python3.11"
	run "$TOOL" interp "$SLEEPER_PID"
	echo "$output"  # shown by bats when the test fails
	[ "$status" -eq 0 ]
	assert_eq "version" "$PYVER_FULL" "$(field version)"
	[[ "$(field open_path)" == "/proc/$SLEEPER_PID/map_files/"* ]]
	[ -n "$(field arena_alloc)" ]
}

@test "interp: a file swapped in under the mapped path is not trusted" {
	require_root
	use_interp debian3.11
	cp "$PY" "$BATS_TEST_TMPDIR/python3.11"
	start_sleeper "$BATS_TEST_TMPDIR/python3.11"
	# same path, another file: a CPython of a different version
	local other
	other=$(pyenv_python 3.9) || true
	[ -n "$other" ] || other=/bin/sleep
	cp "$other" "$BATS_TEST_TMPDIR/python3.11.new"
	mv "$BATS_TEST_TMPDIR/python3.11.new" "$BATS_TEST_TMPDIR/python3.11"
	run "$TOOL" interp "$SLEEPER_PID"
	echo "$output"  # shown by bats when the test fails
	[ "$status" -eq 0 ]
	assert_eq "version" "$PYVER_FULL" "$(field version)"
	[[ "$(field open_path)" == "/proc/$SLEEPER_PID/map_files/"* ]]
}

# ---- x86 decoding on files, no process needed -------------------------------------

@test "x86: data and argument addresses agree with pyenv's .symtab" {
	local v lib n=0
	for v in 3.8 3.9 3.10 3.11 3.12 3.13; do
		PY=$(pyenv_python $v) || continue
		PYVER=$v
		lib=$(libpython_of)
		[ -r "$lib" ] || continue
		n=$((n + 1))
		# Py_GetVersion snprintf()s into its static `version` buffer
		buf=$(symaddr "$lib" version.0)
		[ -n "$buf" ] || buf=$(symaddr "$lib" version)
		run "$TOOL" x86-call-arg0 "$lib" Py_GetVersion
		assert_eq "$v Py_GetVersion buffer" "$buf" "$output"
		if [ "${v#3.}" -lt 12 ]; then
			run "$TOOL" x86-first-data-ref "$lib" PyObject_GetArenaAllocator
			assert_eq "$v _PyObject_Arena" "$(symaddr "$lib" _PyObject_Arena)" "$output"
		fi
	done
	[ "$n" -gt 0 ] || skip "no pyenv 3.8+ installed"
}

@test "x86: 3.8 collect() clones: where the int generation argument is" {
	PY=$(pyenv_python 3.8) || true
	[ -n "$PY" ] || skip "pyenv 3.8 not installed"
	PYVER=3.8
	lib=$(libpython_of)
	run "$TOOL" x86-int32-args "$lib" collect.constprop.1
	assert_eq "constprop.1" "1 edi" "$output"
	run "$TOOL" x86-int32-args "$lib" collect.constprop.0
	assert_eq "constprop.0" "0" "$output"
}

@test "x86: emulated and single-stepped probe sites" {
	PY=$(pyenv_python 3.11) || true
	[ -n "$PY" ] || skip "pyenv 3.11 not installed"
	PYVER=3.11
	lib=$(libpython_of)
	# DESIGN-NOTES section 2: lea at +0 is stepped, push %rbx at +4 emulated
	run "$TOOL" x86-emulated "$lib" _PyObject_Malloc
	assert_eq "+0" "single-stepped lea" "$output"
	run "$TOOL" x86-emulated "$lib" _PyObject_Malloc+4
	assert_eq "+4" "emulated push" "$output"
	run "$TOOL" x86-emulated /usr/bin/python3.11 Py_GetVersion
	assert_eq "debian Py_GetVersion" "emulated push" "$output"
	run "$TOOL" x86-emulated /usr/bin/python3.11 PyObject_GetArenaAllocator
	assert_eq "debian PyObject_GetArenaAllocator" "single-stepped movaps" "$output"
}
