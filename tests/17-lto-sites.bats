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
	# the pymalloc-site tests need pyenv builds, not Debian's
	[[ "$BATS_TEST_DESCRIPTION" == pymalloc-site* ]] || [ -x "$DEB_PY" ] || skip "no $DEB_PY"
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

# tools/bench rebuilds the tracer's trap set with perf probe (its "bare"
# row), and the report gives only the number of inlined site probes: the
# plan (--dry-run) lists their file offsets.  Each must be one the plan
# counts, and a jcc in the file.
@test "lto-sites: --dry-run --alloc lists the file offset of every inlined site probe, each a jcc" {
	command -v objdump >/dev/null || skip "no objdump"
	require_root
	start_sleeper "$DEB_PY"
	run "$PMT" --dry-run --alloc -p "$SLEEPER_PID"
	[ "$status" -eq 0 ]
	local n offs text_off text_vaddr o
	n=$(sed -n 's/.*probe lto_sites *uprobe_multi, \([0-9]*\) probes in .*/\1/p' <<<"$output")
	offs=$(sed -n 's/^ *lto site file offsets: //p' <<<"$output" | tr ' ' '\n')
	assert_ge "planned site probes" "$n" 100
	assert_eq "offsets listed" "$n" "$(wc -l <<<"$offs")"
	assert_eq "distinct offsets" "$n" "$(sort -u <<<"$offs" | wc -l)"
	# file offset -> vaddr through the executable segment
	read -r text_off text_vaddr < <(readelf -lW "$DEB_PY" | awk '$1 == "LOAD" && / R E / { print $2, $3 }')
	for o in $offs; do printf "%x\n" $((o - text_off + text_vaddr)); done | sort >"$BATS_TEST_TMPDIR/want"
	objdump -d --no-show-raw-insn "$DEB_PY" |
		awk '$2 ~ /^j[a-z]+$/ && $2 != "jmp" { sub(":", "", $1); print $1 }' | sort >"$BATS_TEST_TMPDIR/jccs"
	assert_eq "site probes that are not a jcc" "" \
		"$(comm -23 "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/jccs" | tr '\n' ' ')"
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

# ---- one trap per allocation in a shared libpython's _PyObject_Malloc ------
# (user/pymalloc_site.h, `pmt-test-tool pymalloc-site`)

pyenv_lib() {
	local py
	py=$(interp_path "py$1") || return 1
	echo "${py%/bin/*}/lib/libpython$1.so.1.0"
}

@test "pymalloc-site: found and proven on every pyenv version present, on the jcc after the block test" {
	command -v objdump >/dev/null || skip "no objdump"
	local v lib seen=0 dis fn addr prev before role
	for v in 3.8 3.9 3.10 3.11 3.12 3.13; do
		lib=$(pyenv_lib "$v") && [ -r "$lib" ] || { echo "# pyenv $v absent: not checked" >&3; continue; }
		run "$TOOL" pymalloc-site "$lib"
		echo "$output"
		[ "$status" -eq 0 ]
		seen=$((seen + 1))
		dis=$(objdump -d --no-show-raw-insn --disassemble=_PyObject_Malloc "$lib" | grep -E '^ +[0-9a-f]+:')
		fn=$((0x$(objdump -d --disassemble=_PyObject_Malloc "$lib" | sed -n 's/^\([0-9a-f]*\) <_PyObject_Malloc>:/\1/p')))
		# 3.8 calls pymalloc_alloc.constprop: one result probe; 3.9+ inline
		# the pool pop and call allocate_from_new_pool: fast + result
		if [ "$v" = 3.8 ]; then
			assert_eq "$v roles" "result" "$(awk '/^probe/ {sub(/\+.*/, "", $2); print $2}' <<<"$output" | xargs)"
		else
			assert_eq "$v roles" "fast result" "$(awk '/^probe/ {sub(/\+.*/, "", $2); print $2}' <<<"$output" | xargs)"
		fi
		# the requested size was copied to a callee-saved register
		assert_eq "$v size registers" 0 "$(grep '^probe' <<<"$output" | grep -vc 'size=rbx')"
		while read -r _ site reg _; do
			role=${site%+*}
			addr=$(printf '%x' $((fn + ${site#*+})))
			# objdump agrees: a jcc, right after `test %R,%R`
			grep -qE "^ +$addr:\s+j[a-z]+ " <<<"$dis" || { echo "# $v $site is not a jcc" >&3; return 1; }
			prev=$(grep -B1 -E "^ +$addr:" <<<"$dis" | head -1)
			[[ "$prev" =~ test\ +%([a-z0-9]+),%([a-z0-9]+) ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] ||
				{ echo "# $v $site: not after a register test: $prev" >&3; return 1; }
			if [ "$role" = result ]; then
				# the tested value is the call's result, from a block function
				assert_eq "$v result register" rax "$reg"
				before=$(grep -B2 -E "^ +$addr:" <<<"$dis" | head -1)
				[[ "$before" =~ call.*\<(allocate_from_new_pool|pymalloc_alloc) ]] ||
					{ echo "# $v $site: no block-function call before: $before" >&3; return 1; }
			fi
		done < <(grep '^probe' <<<"$output")
	done
	[ "$seen" -gt 0 ] || skip "no pyenv build of 3.8-3.13"
}

# The patches are written for pyenv 3.11.7's _PyObject_Malloc; its bytes at
# the patched offsets are checked first.
patched_311() {
	lib=$(pyenv_lib 3.11) && [ -r "$lib" ] || skip "no pyenv 3.11"
	local fn
	fn=$(objdump -d --disassemble=_PyObject_Malloc "$lib" | sed -n 's/^\([0-9a-f]*\) <_PyObject_Malloc>:/0x\1/p')
	[ "$("$TOOL" elf-read "$lib" "$(printf '0x%x' $((fn + 0x0e)))" 2)" = 7760 ] &&
	[ "$("$TOOL" elf-read "$lib" "$(printf '0x%x' $((fn + 0x42)))" 6)" = 660f1f440000 ] ||
		skip "pyenv 3.11 is not the 3.11.7 build these patches are written for"
	run "$TOOL" pymalloc-site "$lib" "$1"
	echo "$output"
}

@test "pymalloc-site: a jump into the middle of the probe jcc is refused" {
	command -v objdump >/dev/null || skip "no objdump"
	# the padding after the fast path's ret becomes `jmp -5`: into the 2-byte je at +0x3e
	patched_311 0x42=ebfb0f1f4000
	assert_eq "status" 3 "$status"
	[[ "$output" == *"a jump lands inside the probe instruction"* ]]
	# and the size check's ja, on a live path, into it
	patched_311 0xf=2f
	assert_eq "status" 3 "$status"
	[[ "$output" == "refused: "* ]]
}

@test "pymalloc-site: a jump onto the probe from another path or from unexplored code is refused" {
	command -v objdump >/dev/null || skip "no objdump"
	# the large-request ja lands on the fast-path probe: other registers there
	patched_311 0xf=2e
	assert_eq "status" 3 "$status"
	[[ "$output" == *"reaches the probe without its block and size"* ]]
	# dead padding jumps onto it: a route no explored path proves
	patched_311 0x42=ebfa0f1f4000
	assert_eq "status" 3 "$status"
	[[ "$output" == *"from unexplored code lands on the probe"* ]]
	# unpatched, the same function is accepted (the patches are what fails)
	patched_311 0x42=660f1f440000
	assert_eq "status" 0 "$status"
}
