#!/usr/bin/env bats
# Inlined allocator sites of LTO builds (user/lto_sites.c), driven through
# `pmt-test-tool lto-sites`, and checked on a live Debian python3.11 with gdb
# (tools/lto-validate.py: read-only breakpoints, attached by pid, detached).

load lib/common

TOOL=${PMT_TEST_TOOL:-$PMT_ROOT/build/pmt-test-tool}
DEB_PY=/usr/bin/python3.11

setup() {
	[ -x "$TOOL" ] || {
		echo "# $TOOL is not built (make build/pmt-test-tool)" >&3
		return 1
	}
	[ -x "$DEB_PY" ] || skip "no $DEB_PY"
}

field() {
	sed -n "s/^$1: //p" <<<"$output" | head -1
}

# total KIND WHAT: found= or handled= of a kind's total line.
total() {
	sed -n "s/^total $1 .*$2=\([0-9]*\).*/\1/p" <<<"$output"
}

@test "lto-sites: every 'cmp \$hook' that objdump shows is found, and nearly all are handled" {
	command -v objdump >/dev/null || skip "no objdump"
	run "$TOOL" lto-sites "$DEB_PY"
	[ "$status" -eq 0 ]
	dis=$(objdump -d --no-show-raw-insn "$DEB_PY")
	for k in malloc calloc realloc free; do
		fn=$(field "hook_$k" | sed 's/^0x//')
		n=$(grep -cE "cmp[ql]? +\\\$0x$fn," <<<"$dis")
		assert_eq "$k sites" "$n" "$(total $k found)"
	done
	# two malloc compares are _PyObject_DebugMallocStats asking "pymalloc?",
	# one keeps the block only on the stack
	assert_ge "malloc handled" "$(total malloc handled)" $(($(total malloc found) - 3))
	assert_eq "calloc handled" "$(total calloc found)" "$(total calloc handled)"
	assert_eq "free handled" "$(total free found)" "$(total free handled)"
	assert_eq "all probes emulated" "$(field probes)" "$(field emulated_probes)"
	assert_eq "pool size" 0x4000 "$(field pool_size)"
}

@test "lto-sites: the hook functions are the slots' static values, and probes sit on jcc's" {
	run "$TOOL" lto-sites "$DEB_PY"
	[ "$status" -eq 0 ]
	obj=$(field obj_struct)
	# the malloc slot (obj_struct + 8) holds hook_malloc in the file image
	want=$(field hook_malloc)
	# read from the file image (little-endian hex), with the project's ELF
	# reader: gdb is not on a fresh machine
	got=$("$TOOL" elf-read "$DEB_PY" "$(printf "0x%x" $((obj + 8)))" 8 |
		"$HOST_PY" -c 'import sys; print(hex(int.from_bytes(bytes.fromhex(sys.stdin.read().strip()), "little")))')
	assert_eq "static _PyObject.malloc" "$want" "$got"
	# every probe address is an instruction boundary that objdump decodes as a jcc
	dis=$(objdump -d --no-show-raw-insn "$DEB_PY")
	for a in $(grep -o 'block@0x[0-9a-f]*' <<<"$output" | head -20 | sed 's/block@0x//'); do
		grep -qE "^ +$a:\s+j[a-z]+ " <<<"$dis" || { echo "# $a is not a jcc" >&3; return 1; }
	done
}

@test "lto-sites: a build without inlined sites is refused with a reason" {
	use_interp py3.11
	lib=${PY%/bin/*}/lib/libpython3.11.so.1.0
	run "$TOOL" lto-sites "$lib"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not compare its hook"* ]]
}

@test "lto-sites: on a live python3.11 the probes see every block, its class and its free" {
	require_root
	command -v gdb >/dev/null || skip "no gdb"
	run timeout 120 "$PMT_ROOT/tools/lto-validate.py" "$DEB_PY" 300
	echo "$output"
	[ "$status" -eq 0 ]
	assert_eq "objects missing" 0 "$(field objects_missing)"
	assert_eq "objects with a wrong class" 0 "$(field objects_bad_class)"
	assert_eq "frees missing" 0 "$(field objects_not_freed)"
	seen=$(field allocations_seen)
	use_interp py3.11
	run timeout 120 "$PMT_ROOT/tools/lto-validate.py" "$PY" 300
	echo "$output"
	[ "$status" -eq 0 ]
	base=$(field allocations_seen)
	# coverage against pyenv 3.11.7's _PyObject_Malloc + _PyObject_Calloc calls
	assert_ge "coverage percent" $((seen * 100 / base)) 90
}
