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
# the decoder (what a stripped build relies on) finds the same ones.
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
	# both ways agree: the decoded pointers are the .symtab functions
	[[ "$(field arena_how)" == "decoded PyObject_GetArenaAllocator: "*"; agrees with .symtab $alloc_name/$free_name" ]]
	if [ "${PYVER#3.}" -ge 12 ]; then
		# 3.12+ copies the struct out of _PyRuntime, reached through the GOT
		[[ "$(field arena_how)" == *"at _PyRuntime+0x"*"agrees with .dynsym _PyRuntime)"* ]]
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

# ---- before the interpreter has started ----------------------------------------------
# `pymemtrace -- python app.py` looks at the child while it is held at _start:
# libpython is mapped, Py_Initialize has not run, Py_GetVersion's buffer is zeros.

# pyenv_libs: "VER:PYTHON:LIBPYTHON" for each pyenv 3.7-3.13 installed.
pyenv_libs() {
	local v
	for v in 3.7 3.8 3.9 3.10 3.11 3.12 3.13; do
		PY=$(pyenv_python $v) || continue
		PYVER=$v
		[ -r "$(libpython_of)" ] && echo "$v:$PY:$(libpython_of)"
	done
	# 3.7's library is libpython3.7m
	PY=$(pyenv_python 3.7) || return 0
	[ -r "${PY%/bin/*}/lib/libpython3.7m.so.1.0" ] &&
		echo "3.7:$PY:${PY%/bin/*}/lib/libpython3.7m.so.1.0"
	return 0
}

@test "interp: the version from the file alone, for every interpreter" {
	local line v py lib expected n=0
	use_interp debian3.11
	run "$TOOL" interp-version-file "$PY"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_eq "debian version" "$PYVER_FULL" "$(field version)"
	assert_eq "debian kind" static "$(field kind)"
	assert_eq "debian source" "Py_Version in .dynsym, PY_VERSION literal agrees" \
		"$(field version_source)"
	for line in $(pyenv_libs); do
		IFS=: read -r v py lib <<<"$line"
		expected=$("$py" -c 'import platform; print(platform.python_version())')
		run "$TOOL" interp-version-file "$lib"
		echo "$v: $output"
		if [ "$v" = 3.7 ]; then
			[ "$status" -ne 0 ]
			assert_eq "3.7" "error: EPROTONOSUPPORT: CPython $expected is not supported: pymemtrace needs 3.8 or newer" "$output"
			continue
		fi
		n=$((n + 1))
		[ "$status" -eq 0 ]
		assert_eq "$v version" "$expected" "$(field version)"
		assert_eq "$v kind" libpython "$(field kind)"
		if [ "${v#3.}" -lt 11 ]; then
			[[ "$(field version_source)" == "PY_VERSION literal at 0x"*" in Py_GetVersion's code" ]]
		else
			[[ "$(field version_source)" == "Py_Version in .dynsym"*"PY_VERSION literal agrees" ]]
		fi
	done
	[ "$n" -gt 0 ] || echo "# no pyenv 3.8+ installed: only Debian's python3.11 checked" >&3
}

@test "interp-version-file: not an interpreter, not a file" {
	run "$TOOL" interp-version-file /bin/sleep
	assert_eq "sleep" "error: ENOEXEC: '/bin/sleep' does not carry CPython: no _PyRuntime" "$output"
	run "$TOOL" interp-version-file /dev/null
	assert_eq "device" "error: EINVAL: cannot use '/dev/null': not a regular file" "$output"
	run "$TOOL" interp-version-file "$BATS_TEST_TMPDIR/missing"
	[[ "$output" == "error: ENOENT: "* ]]
}

# A process that has libpython mapped and relocated, but never ran
# Py_Initialize: `sleep` with the library preloaded.  Its Py_GetVersion buffer
# is all zeros, as in a child held at its entry point.
@test "interp: libpython mapped but not started (version and arena functions)" {
	require_root
	local line v py lib expected alloc_name free_name n=0
	for line in $(pyenv_libs); do
		IFS=: read -r v py lib <<<"$line"
		expected=$("$py" -c 'import platform; print(platform.python_version())')
		LD_PRELOAD=$lib pmt_spawn /dev/null /dev/null sleep 60
		# wait until the loader has mapped it
		for _ in $(seq 100); do
			grep -q "$lib" "/proc/$SPAWN_PID/maps" 2>/dev/null && break
			sleep 0.02
		done
		run "$TOOL" interp "$SPAWN_PID"
		echo "$v: $output"
		kill "$SPAWN_PID"
		if [ "$v" = 3.7 ]; then
			assert_eq "3.7" "error: EPROTONOSUPPORT: CPython $expected is not supported: pymemtrace needs 3.8 or newer" "$output"
			continue
		fi
		n=$((n + 1))
		[ "$status" -eq 0 ]
		assert_eq "$v version" "$expected" "$(field version)"
		[[ "$(field version_source)" == *", Py_GetVersion buffer empty (not started yet)" ]]
		# the arena allocator struct is statically initialised: decodable already
		if [ "${v#3.}" -lt 12 ]; then
			alloc_name=_PyObject_ArenaMmap free_name=_PyObject_ArenaMunmap
		else
			alloc_name=_PyMem_ArenaAlloc free_name=_PyMem_ArenaFree
		fi
		assert_eq "$v arena_alloc" "$(symaddr "$lib" $alloc_name)" "$(field arena_alloc)"
		assert_eq "$v arena_free" "$(symaddr "$lib" $free_name)" "$(field arena_free)"
		[[ "$(field arena_how)" == "decoded "*"; agrees with .symtab $alloc_name/$free_name" ]]
	done
	[ "$n" -gt 0 ] || skip "no pyenv 3.8+ installed"
}

# The real thing: pymemtrace -- CMD holds the child at _start and finds the
# interpreter there (Debian's static build included, which LD_PRELOAD cannot do).
@test "interp: pymemtrace -- CMD identifies the child held at its entry point" {
	require_tracing
	local label
	for label in debian3.11 py3.9 py3.12; do
		PY=$(interp_path $label) || continue
		PYVER_FULL=$("$PY" -c 'import platform; print(platform.python_version())')
		run timeout 60 "$PMT" -v -d 1 -- "$PY" -c pass
		echo "$label: $output"
		[[ "$output" == *"CPython $PYVER_FULL ("*"Py_GetVersion buffer empty (not started yet))"* ]]
		[[ "$output" == *"why: decoded PyObject_GetArenaAllocator"* ]]
	done
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

@test "x86: PY_VERSION is argument 3 of Py_GetVersion's call; argument 6 does not exist" {
	use_interp debian3.11
	# Debian: mov $0x6cf27c,%ecx (non-PIE); the string there is the version
	run "$TOOL" x86-call-arg "$PY" Py_GetVersion 3
	[ "$status" -eq 0 ]
	# the NUL-terminated string at that vaddr, through the PT_LOAD that holds it
	local lit
	lit=$(python3 -c '
import sys
from subprocess import check_output
path, addr = sys.argv[1], int(sys.argv[2], 16)
for l in check_output(["readelf", "-lW", path], text=True).splitlines():
    f = l.split()
    if f and f[0] == "LOAD":
        o, va, fs = int(f[1], 16), int(f[2], 16), int(f[4], 16)
        if va <= addr < va + fs:
            with open(path, "rb") as fh:
                fh.seek(o + addr - va)
                print(fh.read(32).split(b"\0")[0].decode())
' "$PY" "$output")
	assert_eq "literal" "$PYVER_FULL" "$lit"
	run "$TOOL" x86-call-arg "$PY" Py_GetVersion 6
	[ "$status" -ne 0 ]
	assert_eq "arg 6" none "$output"
}

@test "x86: 3.12+ arena allocator: GOT slot of _PyRuntime and offsetof(obj_arena)" {
	local v lib inc got n=0
	for v in 3.12 3.13; do
		PY=$(pyenv_python $v) || continue
		PYVER=$v
		lib=$(libpython_of)
		n=$((n + 1))
		run "$TOOL" x86-struct-via-ptr "$lib" PyObject_GetArenaAllocator
		echo "$v: $output"
		[ "$status" -eq 0 ]
		got=$(readelf -rW "$lib" | awk '$3 == "R_X86_64_GLOB_DAT" && $5 == "_PyRuntime" { print "0x" $1; exit }' |
			sed 's/^0x0*/0x/')
		assert_eq "$v GOT slot" "slot=$got" "${output%% *}"
		# the displacement is the struct's offset in _PyRuntimeState
		command -v cc >/dev/null || continue
		inc=$(echo "${PY%/bin/*}"/include/python$v)
		printf '%s\n' '#define Py_BUILD_CORE 1' '#include <Python.h>' \
			'#include <internal/pycore_runtime.h>' '#include <stdio.h>' '#include <stddef.h>' \
			'int main(void) { printf("0x%zx\n", offsetof(_PyRuntimeState, allocators.obj_arena)); return 0; }' \
			>"$BATS_TEST_TMPDIR/off.c"
		cc -I"$inc" "$BATS_TEST_TMPDIR/off.c" -o "$BATS_TEST_TMPDIR/off"
		assert_eq "$v disp" "disp=$("$BATS_TEST_TMPDIR/off")" "${output#* }"
	done
	[ "$n" -gt 0 ] || skip "no pyenv 3.12+ installed"
	# a struct read from a static address is not this pattern
	for v in 3.8 3.11; do
		PY=$(pyenv_python $v) || continue
		PYVER=$v
		run "$TOOL" x86-struct-via-ptr "$(libpython_of)" PyObject_GetArenaAllocator
		assert_eq "$v" none "$output"
	done
	run "$TOOL" x86-struct-via-ptr /usr/bin/python3.11 PyObject_GetArenaAllocator
	assert_eq "debian" none "$output"
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
