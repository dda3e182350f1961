#!/usr/bin/env bats
# Unit tests of the parsers, with no root and no BPF, through pmt-test-tool
# (tests/helper/parser_cmds.c).  Every expected value comes from an
# independent source: nm/readelf for symbols and notes, the interpreters
# themselves for version numbers, the kernel's own /proc/PID/maps, and
# hand-worked numbers for the histogram math.  Malformed ELF files must give
# a clean non-zero exit with a message: a signal (status >= 128) or a
# sanitizer report is a failure.
#
# Run from the repository root: bats tests/10-unit.bats

bats_require_minimum_version 1.5.0

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
TOOL=${PMT_TEST_TOOL:-$ROOT/build/pmt-test-tool}
UNIT_FIXTURES=$ROOT/tests/fixtures/unit
PY311=/usr/bin/python3.11
PYENV_VERSIONS=${PYENV_ROOT:-/root/.pyenv}/versions
# Debian's python3 runs the checkers, never a pyenv shim that may be on PATH.
HOST_PY=/usr/bin/python3

setup_file() {
	if [ ! -x "$TOOL" ]; then
		echo "# $TOOL is not built (make build/pmt-test-tool)" >&3
		return 1
	fi
}

setup() {
	[ -x "$TOOL" ] || return 1
	TMP=$BATS_TEST_TMPDIR
}

# ---- helpers --------------------------------------------------------------------

# pyenv_prefix 3.X: sets PREFIX to the install dir of the newest pyenv 3.X, or
# skips.  (Not a $(...) helper: a skip inside a subshell is lost.)
pyenv_prefix() {
	PREFIX=$(ls -d "$PYENV_VERSIONS/$1".* 2>/dev/null | sort -V | tail -n 1)
	[ -n "$PREFIX" ] || skip "python $1 not installed at $PYENV_VERSIONS/$1.*"
}

# libpython 3.X: sets LIB to pyenv's shared libpython, or skips.
libpython() {
	local d
	pyenv_prefix "$1"
	d=$PREFIX
	LIB=$(ls "$d"/lib/libpython"$1"*.so.1.0 2>/dev/null | head -n 1)
	[ -n "$LIB" ] || skip "python $1 has no shared libpython in $d/lib"
	PYBIN=$d/bin/python$1
}

require_py311() {
	[ -x "$PY311" ] || skip "python 3.11 not installed at $PY311"
}

# A failure must be clean: exit 1 (never a signal), a message on stderr and
# no sanitizer report.
assert_clean_error() {
	if [ "$status" -eq 0 ] || [ "$status" -ge 128 ]; then
		echo "# status $status: $output" >&3
		return 1
	fi
	[ -n "$output" ] || { echo "# no error message" >&3; return 1; }
	if [[ "$output" == *AddressSanitizer* || "$output" == *"runtime error"* ||
	      "$output" == *LeakSanitizer* ]]; then
		echo "# $output" >&3
		return 1
	fi
}

# patch FILE OFFSET SIZE VALUE: writes VALUE little-endian at OFFSET.
patch() {
	"$HOST_PY" - "$@" <<'EOF'
import sys
path, off, size, val = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4], 0)
with open(path, 'r+b') as f:
    f.seek(off)
    f.write((val % (1 << (8 * size))).to_bytes(size, 'little'))
EOF
}

# elf_hdr FILE FIELD: e_shoff, e_phoff, e_shnum, e_shstrndx from readelf -h.
elf_hdr() {
	LC_ALL=C readelf -hW "$1" | awk -v f="$2" '
		f == "e_shoff" && /Start of section headers/ { print $5 }
		f == "e_phoff" && /Start of program headers/ { print $5 }
		f == "e_shnum" && /Number of section headers/ { print $5 }
		f == "e_shstrndx" && /Section header string table index/ { print $6 }'
}

# sec_index FILE NAME: the section's index, from readelf -S.
sec_index() {
	LC_ALL=C readelf -SW "$1" | sed -n 's/^ *\[ *\([0-9]*\)\] \([^ ]*\) .*/\1 \2/p' |
		awk -v n="$2" '$2 == n { print $1; exit }'
}

# shdr FILE NAME FIELD_OFFSET: file offset of a field of section NAME's header.
shdr() {
	local shoff idx
	shoff=$(elf_hdr "$1" e_shoff)
	idx=$(sec_index "$1" "$2")
	[ -n "$idx" ] || { echo "no section $2 in $1" >&2; return 1; }
	echo $((shoff + idx * 64 + $3))
}

# Section header field offsets (Elf64_Shdr).
SH_NAME=0 SH_TYPE=4 SH_ADDR=16 SH_OFFSET=24 SH_SIZE=32 SH_LINK=40 SH_ENTSIZE=56

# nm_compare FILE: every defined symbol of both tables, as the tool lists
# them, equals what nm lists (name, value, size; as multisets).
nm_compare() {
	"$HOST_PY" - "$TOOL" "$1" <<'EOF'
import collections, subprocess, sys
tool, path = sys.argv[1], sys.argv[2]
ours = {"dynsym": collections.Counter(), "symtab": collections.Counter()}
out = subprocess.run([tool, "elf-syms", path], capture_output=True, text=True, check=True)
for line in out.stdout.splitlines():
    name, va, size, src, typ, bind = line.split(" ")
    if typ in ("FILE", "SECTION"):   # nm does not list these
        continue
    ours[src][(name, int(va, 16), int(size))] += 1
for src, flags in (("dynsym", ["-D"]), ("symtab", [])):
    ref = collections.Counter()
    nm = subprocess.run(["nm", "-P", "-S", "--defined-only", *flags, path],
                        capture_output=True, text=True)
    for line in nm.stdout.splitlines():
        f = line.split(" ")
        size = int(f[3], 16) if len(f) > 3 and f[3] else 0
        ref[(f[0].split("@")[0], int(f[2], 16), size)] += 1
    if ref != ours[src]:
        print("# %s differs; only in nm: %s; only ours: %s" % (src,
              list((ref - ours[src]).items())[:5], list((ours[src] - ref).items())[:5]))
        sys.exit(1)
    print("%s %d" % (src, sum(ref.values())))
EOF
}

# readelf_sym FILE NAME [--dyn-syms]: "0xVALUE SIZE TYPE BIND" of the first
# defined symbol NAME, from readelf -s (which prints big sizes in hex).
readelf_sym() {
	local v s t b
	read -r v s t b < <(LC_ALL=C readelf -sW ${3:-} "$1" |
		awk -v n="$2" '$8 == n && $7 != "UND" { print $2, $3, $4, $5; exit }')
	[ -n "$v" ] || return 1
	printf '0x%x %d %s %s\n' $((16#$v)) $((s)) "$t" "$b"
}

# load_segments FILE: "offset vaddr filesz" (decimal) per PT_LOAD, from readelf -l.
load_segments() {
	local o v f
	LC_ALL=C readelf -lW "$1" | awk '$1 == "LOAD" { print $2, $3, $5 }' |
		while read -r o v f; do echo $((o)) $((v)) $((f)); done
}

# ---- ELF: files, types, symbols -----------------------------------------------

@test "elf-info: Debian python3.11 is a non-PIE executable with .dynsym only" {
	require_py311
	run --separate-stderr "$TOOL" elf-info "$PY311"
	[ "$status" -eq 0 ]
	local base
	base=$(LC_ALL=C readelf -lW "$PY311" | awk '$1 == "LOAD" { print $3; exit }')
	[ "${lines[0]}" = "type EXEC" ]
	[ "${lines[1]}" = "size $(stat -c %s "$PY311")" ]
	[ "${lines[2]}" = "symtab no" ]
	[ "${lines[3]}" = "dynsym yes" ]
	[ "${lines[4]}" = "base $(printf '0x%x' $((base & ~4095)))" ]
}

@test "elf-info-mem: elf_file__open_mem sees the same file as elf_file__open" {
	require_py311
	run --separate-stderr "$TOOL" elf-info "$PY311"
	local want=$output
	run --separate-stderr "$TOOL" elf-info-mem "$PY311"
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
}

# The symbolizer reads only headers and symbol tables (elf_file__open_symbols):
# it must see the same symbols, segments and names as a whole read, for a
# fraction of the memory.
sparse_same() {
	local f=$1 addrs first size resident
	run --separate-stderr "$TOOL" elf-syms "$f"
	[ "$status" -eq 0 ] || return 1
	local want=$output
	PMT_ELF_OPEN=symbols run --separate-stderr "$TOOL" elf-syms "$f"
	[ "$status" -eq 0 ] || return 1
	[ "$output" = "$want" ] || { echo "# $f: the sparse read lists other symbols" >&3; return 1; }
	# names by address, as the symbolizer looks frames up: 40 functions,
	# each at its start + 1
	addrs=$(awk '$5 == "FUNC" && $3 > 1 { print $2 }' <<<"$want" | head -40 |
		while read -r a; do printf "0x%x\n" $((a + 1)); done)
	[ "$(wc -l <<<"$addrs")" -eq 40 ] || return 1
	[ "$("$TOOL" elf-name "$f" $addrs)" = "$(PMT_ELF_OPEN=symbols "$TOOL" elf-name "$f" $addrs)" ] ||
		{ echo "# $f: names by address differ" >&3; return 1; }
	first=${addrs%%$'\n'*}
	[ "$("$TOOL" elf-offset "$f" "$first")" = "$(PMT_ELF_OPEN=symbols "$TOOL" elf-offset "$f" "$first")" ] ||
		{ echo "# $f: file offsets differ" >&3; return 1; }
	read -r size resident < <(PMT_ELF_OPEN=symbols "$TOOL" elf-info "$f" |
		awk '$1 == "size" { s = $2 } $1 == "resident" { r = $2 } END { print s, r }')
	echo "# $f: $size bytes, $resident read" >&3
	[ "$resident" -gt 0 ] && [ "$resident" -le $((size / 4)) ]
}

@test "elf-open-symbols: the symbolizer's sparse read sees what a whole read sees, for a quarter of the bytes or less" {
	require_py311
	sparse_same "$PY311"
	local v LIB
	for v in 3.8 3.11 3.13; do
		LIB=$(ls "$PYENV_VERSIONS"/$v.*/lib/libpython$v*.so.1.0 2>/dev/null | head -n 1)
		[ -z "$LIB" ] || sparse_same "$LIB"
	done
}

# dwarf_bytes FILE: the bytes of its .debug_* and .zdebug_* sections
dwarf_bytes() {
	local sum=0 hex
	for hex in $(readelf -SW "$1" | sed -n 's/^ *\[ *[0-9]*\] //p' |
		awk '$1 ~ /^\.z?debug_/ { print $5 }'); do
		sum=$((sum + 16#$hex))
	done
	echo "$sum"
}

# A plan reads the interpreter file whole, but for its DWARF (16 of
# pyenv libpython3.11's 23 MB), which nothing reads: those pages are
# never touched.  Exact: every other byte of the file is read once.
@test "elf-open: a whole read of a pyenv libpython leaves out exactly its DWARF sections" {
	local v LIB size resident dwarf found=0
	for v in 3.8 3.11 3.13; do
		LIB=$(ls "$PYENV_VERSIONS"/$v.*/lib/libpython$v*.so.1.0 2>/dev/null | head -n 1)
		[ -n "$LIB" ] || continue
		found=$((found + 1))
		read -r size resident < <("$TOOL" elf-info "$LIB" |
			awk '$1 == "size" { s = $2 } $1 == "resident" { r = $2 } END { print s, r }')
		dwarf=$(dwarf_bytes "$LIB")
		echo "# $LIB: $size bytes, $dwarf of DWARF, $resident read" >&3
		[ "$dwarf" -gt $((size / 4)) ] || { echo "# expected DWARF in $LIB" >&3; return 1; }
		[ "$resident" -eq $((size - dwarf)) ] ||
			{ echo "# $LIB: $resident bytes read, not $((size - dwarf))" >&3; return 1; }
	done
	[ "$found" -gt 0 ] || skip "no pyenv python 3.8, 3.11 or 3.13 installed at $PYENV_VERSIONS"
	# a file without DWARF is read whole
	require_py311
	read -r size resident < <("$TOOL" elf-info "$PY311" |
		awk '$1 == "size" { s = $2 } $1 == "resident" { r = $2 } END { print s, r }')
	[ "$resident" -eq "$size" ] || { echo "# $PY311: $resident of $size bytes read" >&3; return 1; }
}

@test "elf-info: pyenv libpython 3.7-3.13 are DSOs with .symtab and .dynsym" {
	local v found=0
	for v in 3.7 3.8 3.9 3.10 3.11 3.12 3.13; do
		LIB=$(ls "$PYENV_VERSIONS"/$v.*/lib/libpython$v*.so.1.0 2>/dev/null | head -n 1)
		[ -n "$LIB" ] || continue
		found=$((found + 1))
		run --separate-stderr "$TOOL" elf-info "$LIB"
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "type DYN" ]
		[ "${lines[2]}" = "symtab yes" ]
		[ "${lines[3]}" = "dynsym yes" ]
		[ "${lines[4]}" = "base 0x0" ]
	done
	[ "$found" -gt 0 ] || skip "no pyenv python 3.7-3.13 installed at $PYENV_VERSIONS"
}

@test "symbols: Debian python3.11 .dynsym equals nm -D" {
	require_py311
	run nm_compare "$PY311"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "symtab 0" ]
}

@test "symbols: libpython3.7 equals nm" { libpython 3.7; run nm_compare "$LIB"; echo "$output"; [ "$status" -eq 0 ]; }
@test "symbols: libpython3.8 equals nm" { libpython 3.8; run nm_compare "$LIB"; echo "$output"; [ "$status" -eq 0 ]; }
@test "symbols: libpython3.9 equals nm" { libpython 3.9; run nm_compare "$LIB"; echo "$output"; [ "$status" -eq 0 ]; }
@test "symbols: libpython3.10 equals nm" { libpython 3.10; run nm_compare "$LIB"; echo "$output"; [ "$status" -eq 0 ]; }
@test "symbols: libpython3.11 equals nm" { libpython 3.11; run nm_compare "$LIB"; echo "$output"; [ "$status" -eq 0 ]; }
@test "symbols: libpython3.12 equals nm" { libpython 3.12; run nm_compare "$LIB"; echo "$output"; [ "$status" -eq 0 ]; }
@test "symbols: libpython3.13 equals nm" { libpython 3.13; run nm_compare "$LIB"; echo "$output"; [ "$status" -eq 0 ]; }

@test "elf-sym: python3.11 exports match readelf --dyn-syms" {
	require_py311
	local s
	for s in PyObject_Malloc _PyRuntime Py_Version PyGC_Collect; do
		run --separate-stderr "$TOOL" elf-sym "$PY311" "$s"
		[ "$status" -eq 0 ]
		[ "$output" = "$s $(readelf_sym "$PY311" "$s" --dyn-syms | sed 's/ \([A-Z]*\) / dynsym \1 /')" ]
	done
}

# readelf_import FILE NAME: the offset of FILE's JUMP_SLOT or GLOB_DAT
# relocation against NAME, as elf-import prints it.
readelf_import() {
	local off
	off=$(LC_ALL=C readelf -rW "$1" | awk -v n="$2" '($3 == "R_X86_64_JUMP_SLOT" ||
		$3 == "R_X86_64_GLOB_DAT") && ($5 == n || index($5, n "@") == 1) { print $1; exit }')
	[ -n "$off" ] || return 1
	printf '%s 0x%x\n' "$2" $((16#$off))
}

@test "elf-import: the malloc family's slots match readelf -r, python3.11 and libpython3.12" {
	require_py311
	libpython 3.12
	local f s want
	for f in "$PY311" "$LIB"; do
		for s in malloc calloc realloc free; do
			want=$(readelf_import "$f" "$s")
			[ -n "$want" ]
			run --separate-stderr "$TOOL" elf-import "$f" "$s"
			[ "$status" -eq 0 ]
			[ "$output" = "$want" ]
		done
	done
	# a definition is no import
	run --separate-stderr "$TOOL" elf-import "$PY311" PyObject_Malloc
	[ "$status" -eq 1 ]
	[ -z "$output" ]
}

@test "elf-sym: static functions of pyenv 3.11 come from .symtab" {
	libpython 3.11
	local s
	for s in _PyObject_Malloc gc_collect_main _PyObject_ArenaMmap; do
		run --separate-stderr "$TOOL" elf-sym "$LIB" "$s"
		[ "$status" -eq 0 ]
		[ "$output" = "$s $(readelf_sym "$LIB" "$s" | sed 's/ \([A-Z]*\) / symtab \1 /')" ]
		[[ "$output" == *" FUNC LOCAL" ]]
	done
}

@test "elf-sym: an exported symbol is found in .dynsym first" {
	libpython 3.8
	# 3.8's GC collection exists only as GCC constprop clones
	run --separate-stderr "$TOOL" elf-sym "$LIB" PyObject_Malloc collect.constprop.0
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "PyObject_Malloc "*" dynsym FUNC GLOBAL" ]]
	[[ "${lines[1]}" == "collect.constprop.0 "*" symtab FUNC LOCAL" ]]
}

@test "elf-sym: unknown and undefined (UND) symbols are not found" {
	libpython 3.11
	run "$TOOL" elf-sym "$LIB" no_such_symbol_anywhere
	[ "$status" -eq 1 ]
	[[ "$output" == *"'no_such_symbol_anywhere' not found"* ]]
	# malloc is imported (UND) by libpython, never defined
	LC_ALL=C readelf -sW --dyn-syms "$LIB" | awk '$8 ~ /^malloc(@|$)/ && $7 == "UND"' | grep -q .
	run "$TOOL" elf-sym "$LIB" malloc
	[ "$status" -eq 1 ]
}

@test "elf-read: Py_Version bytes decode to the interpreter's sys.hexversion" {
	require_py311
	run --separate-stderr "$TOOL" elf-sym "$PY311" Py_Version
	[ "$status" -eq 0 ]
	local va=${lines[0]#Py_Version } hex want
	va=${va%% *}
	run --separate-stderr "$TOOL" elf-read "$PY311" "$va" 4
	[ "$status" -eq 0 ]
	# little-endian u32
	hex=0x${output:6:2}${output:4:2}${output:2:2}${output:0:2}
	want=$("$PY311" -c 'import sys; print(hex(sys.hexversion))')
	[ "$((hex))" -eq "$((want))" ]
}

@test "elf-read: code bytes equal the file bytes at readelf's segment offset" {
	require_py311
	local va off want
	va=$(readelf_sym "$PY311" PyObject_Malloc --dyn-syms | cut -d' ' -f1)
	# offset = p_offset + (va - p_vaddr) of the LOAD segment that holds va
	local o v f
	while read -r o v f; do
		if [ $((va)) -ge "$v" ] && [ $((va)) -lt $((v + f)) ]; then
			off=$((o + va - v))
		fi
	done < <(load_segments "$PY311")
	[ -n "$off" ]
	want=$(dd if="$PY311" bs=1 skip="$off" count=16 status=none | od -An -tx1 | tr -d ' \n')
	run --separate-stderr "$TOOL" elf-read "$PY311" "$va" 16
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	run --separate-stderr "$TOOL" elf-offset "$PY311" "$va"
	[ "$output" = "$(printf '0x%x' "$off")" ]
}

@test "elf-read: .bss is not file-backed, and a read past a segment's file part fails" {
	require_py311
	local va
	# PyOS_InputHook lives in .bss (NOBITS) in Debian's build
	va=$(readelf_sym "$PY311" PyOS_InputHook --dyn-syms | cut -d' ' -f1)
	[ -n "$va" ]
	run "$TOOL" elf-read "$PY311" "$va" 8
	[ "$status" -eq 1 ]
	[[ "$output" == *"No such file or directory"* ]]
	run "$TOOL" elf-offset "$PY311" "$va"
	[ "$status" -eq 1 ]
	# the last byte of .data's segment file part, then one byte too many
	local end o v f
	while read -r o v f; do end=$((v + f)); done < <(load_segments "$PY311")
	run --separate-stderr "$TOOL" elf-read "$PY311" $((end - 1)) 1
	[ "$status" -eq 0 ]
	run "$TOOL" elf-read "$PY311" $((end - 1)) 2
	[ "$status" -eq 1 ]
	[[ "$output" == *"Numerical result out of range"* ]]
	run "$TOOL" elf-read "$PY311" 0x10 4
	[ "$status" -eq 1 ]
}

# ---- USDT notes ------------------------------------------------------------------

# readelf_notes FILE: "provider name pc base sema args" per stapsdt note.
readelf_notes() {
	LC_ALL=C readelf -nW "$1" | awk '
		function z(s) { sub(/^0x0*/, "", s); return "0x" (s == "" ? "0" : s) }
		/Provider: / { p = $NF }	# -W puts it on the note header line
		/^ *Name: / { n = $2 }
		/^ *Location: / { gsub(/,/, ""); loc = z($2); base = z($4); sema = z($6) }
		/^ *Arguments:/ { a = $0; sub(/^ *Arguments: ?/, "", a)
			print p, n, loc, base, sema, a }'
}

@test "elf-notes: python3.11 USDT notes equal readelf -n" {
	require_py311
	run --separate-stderr "$TOOL" elf-notes "$PY311"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "skipped 0" ]
	diff <(readelf_notes "$PY311") <(printf '%s\n' "${lines[@]}" | sed '$d')
	printf '%s\n' "${lines[@]}" | grep -q '^python gc__start 0x[0-9a-f]* 0x[0-9a-f]* 0x[0-9a-f]*[1-9a-f][0-9a-f]* -4@'
	printf '%s\n' "${lines[@]}" | grep -q '^python gc__done '
}

@test "elf-notes: a libpython without USDT has no notes" {
	libpython 3.12
	readelf -SW "$LIB" | grep -q stapsdt && skip "this libpython has USDT notes"
	run --separate-stderr "$TOOL" elf-notes "$LIB"
	[ "$status" -eq 0 ]
	[ "$output" = "skipped 0" ]
}

@test "elf-notes: pc is adjusted by .stapsdt.base's move (prelink), semaphore is not" {
	require_py311
	cp "$PY311" "$TMP/py"
	local addr_off old
	addr_off=$(shdr "$TMP/py" .stapsdt.base $SH_ADDR)
	old=$(LC_ALL=C readelf -SW "$TMP/py" | awk '$2 == ".stapsdt.base" || $3 == ".stapsdt.base" { for (i = 1; i <= NF; i++) if ($i == "PROGBITS") { print "0x" $(i + 1); exit } }')
	[ -n "$old" ]
	patch "$TMP/py" "$addr_off" 8 $((old + 0x1000))
	run --separate-stderr "$TOOL" elf-notes "$TMP/py"
	[ "$status" -eq 0 ]
	diff <(readelf_notes "$PY311" | "$HOST_PY" -c '
import sys
for l in sys.stdin:
    p, n, pc, base, sema, args = l.rstrip("\n").split(" ", 5)
    print(p, n, hex(int(pc, 16) + 0x1000), base, sema, args)') <(printf '%s\n' "${lines[@]}" | sed '$d')
}

@test "elf-notes: an unterminated provider string skips that note only" {
	require_py311
	cp "$PY311" "$TMP/py"
	local sec_off off
	sec_off=$(LC_ALL=C readelf -SW "$TMP/py" | awk '/\.note\.stapsdt/ { for (i = 1; i <= NF; i++) if ($i == "NOTE") { print "0x" $(i + 2); exit } }')
	# the gc__start note: "python\0gc__start\0": overwrite both NULs
	off=$("$HOST_PY" -c '
import sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"python\0gc__start\0", int(sys.argv[2], 16))
print(i)' "$TMP/py" "$sec_off")
	patch "$TMP/py" $((off + 6)) 1 0x41
	patch "$TMP/py" $((off + 16)) 1 0x41
	run --separate-stderr "$TOOL" elf-notes "$TMP/py"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "skipped 1" ]
	[ "${#lines[@]}" -eq "$(readelf_notes "$PY311" | wc -l)" ]
	! printf '%s\n' "${lines[@]}" | grep -q gc__start
}

@test "elf-notes: lying note sizes end the walk cleanly" {
	require_py311
	local sec_off v
	sec_off=$(LC_ALL=C readelf -SW "$PY311" | awk '/\.note\.stapsdt/ { for (i = 1; i <= NF; i++) if ($i == "NOTE") { print "0x" $(i + 2); exit } }')
	for v in 0xffffffff 0x7ffffff0 0x290 20 0; do
		cp "$PY311" "$TMP/py"
		patch "$TMP/py" $((sec_off + 4)) 4 "$v"	# first note's n_descsz
		run --separate-stderr "$TOOL" elf-notes "$TMP/py"
		[ "$status" -eq 0 ]
		[[ "${lines[-1]}" =~ ^skipped\ [1-9] ]]
		cp "$PY311" "$TMP/py"
		patch "$TMP/py" "$sec_off" 4 "$v"		# first note's n_namesz
		run --separate-stderr "$TOOL" elf-notes "$TMP/py"
		[ "$status" -eq 0 ] || [ "$status" -eq 1 ]
		[ "$status" -lt 128 ]
	done
}

# ---- malformed ELF files ---------------------------------------------------------

@test "malformed: truncated python3.11 and libpython give a clean error" {
	require_py311
	local f size n files=("$PY311")
	LIB=$(ls "$PYENV_VERSIONS"/3.11.*/lib/libpython3.11.so.1.0 2>/dev/null | head -n 1)
	[ -n "$LIB" ] && files+=("$LIB")
	for f in "${files[@]}"; do
		size=$(stat -c %s "$f")
		for n in 0 3 4 16 63 64 65 1000 4096 $((size / 2)) $((size - 64)) $((size - 1)); do
			head -c "$n" "$f" > "$TMP/t"
			run "$TOOL" elf-info "$TMP/t"
			assert_clean_error
			if [ "$n" -lt 4 ]; then
				[[ "$output" == *"is not an ELF file"* ]]
			else
				[[ "$output" == *"is truncated"* ]]
			fi
			run "$TOOL" elf-notes "$TMP/t"
			assert_clean_error
		done
	done
}

@test "malformed: truncated at the section headers says where they end" {
	require_py311
	local size
	size=$(stat -c %s "$PY311")
	head -c $((size - 1)) "$PY311" > "$TMP/t"
	run "$TOOL" elf-info "$TMP/t"
	assert_clean_error
	[[ "$output" == *"'$TMP/t' is truncated: section headers end at $size, past the file's end ($((size - 1)) bytes)"* ]]
}

@test "malformed: corrupt ELF header fields" {
	require_py311
	local case off sz val msg
	while IFS='|' read -r off sz val msg; do
		# Section headers that start inside the file and end past it,
		# whatever this build's size.
		[ "$val" = SIZE_MINUS_128 ] && val=$(($(stat -c %s "$PY311") - 128))
		cp "$PY311" "$TMP/py"
		patch "$TMP/py" "$off" "$sz" "$val"
		run "$TOOL" elf-info "$TMP/py"
		assert_clean_error
		[[ "$output" == *"$msg"* ]] || { echo "# $off=$val: $output" >&3; false; }
	done <<'EOF'
4|1|1|is not a 64-bit ELF file
5|1|2|is not a little-endian ELF file
0x10|2|1|is not an executable or shared object
0x12|2|3|unsupported machine
0x28|8|0x7fffffffffffffff|section headers start at
0x28|8|0xffffffffffffffc0|section headers start at
0x28|8|SIZE_MINUS_128|section headers end at
0x3c|2|0xfffe|section headers end at
0x3a|2|63|bad section header size
0x20|8|0xfffffffffffffff0|program headers end at
0x36|2|57|bad program header size
0x3e|2|0xfff0|bad section name table index
0x3e|2|28|is not a string table
EOF
}

@test "malformed: corrupt section headers (.dynsym, .dynstr, .note.stapsdt)" {
	require_py311
	local sec field sz val msg off
	while IFS='|' read -r sec field sz val msg; do
		cp "$PY311" "$TMP/py"
		off=$(shdr "$TMP/py" "$sec" "$field")
		patch "$TMP/py" "$off" "$sz" "$val"
		run "$TOOL" elf-sym "$TMP/py" PyObject_Malloc
		assert_clean_error
		[[ "$output" == *"$msg"* ]] || { echo "# $sec+$field=$val: $output" >&3; false; }
	done <<EOF
.dynsym|$SH_SIZE|8|0xffffffffffffff00|is truncated: section
.dynsym|$SH_SIZE|8|0x100000000|is truncated: section
.dynsym|$SH_OFFSET|8|0x7ffffffffffff000|is truncated: section
.dynsym|$SH_SIZE|8|25|entry size 24 and size 25
.dynsym|$SH_ENTSIZE|8|23|entry size 23
.dynsym|$SH_ENTSIZE|8|0|entry size 0
.dynsym|$SH_LINK|4|0xffff|which is not a string table
.dynsym|$SH_LINK|4|6|which is not a string table
.dynstr|$SH_OFFSET|8|0x67e000|is truncated: section
.note.stapsdt|$SH_SIZE|8|0xfffffff0|is truncated: section
.note.stapsdt|$SH_OFFSET|8|0x7fffffffffffffff|is truncated: section
EOF
}

@test "malformed: a symbol's name offset past .dynstr is skipped, not read" {
	require_py311
	cp "$PY311" "$TMP/py"
	local dynsym_off
	dynsym_off=$(LC_ALL=C readelf -SW "$PY311" | awk '/\.dynsym/ { for (i = 1; i <= NF; i++) if ($i == "DYNSYM") { print "0x" $(i + 2); exit } }')
	# every st_name of the first 64 symbols points far outside .dynstr
	local i
	for i in $(seq 1 64); do
		patch "$TMP/py" $((dynsym_off + i * 24)) 4 0xfffffff0
	done
	run --separate-stderr "$TOOL" elf-syms "$TMP/py"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -gt 0 ]
	run --separate-stderr "$TOOL" elf-sym "$TMP/py" PyObject_Malloc
	[ "$status" -eq 0 ]
}

@test "malformed: not ELF, a directory, a missing file" {
	run "$TOOL" elf-info /etc/hostname
	assert_clean_error
	[[ "$output" == *"is not an ELF file"* ]]
	run "$TOOL" elf-info /
	assert_clean_error
	[[ "$output" == *"is not a regular file"* ]]
	run "$TOOL" elf-info "$TMP/missing"
	assert_clean_error
	[[ "$output" == *"cannot open '$TMP/missing'"* ]]
	# a 32-bit ELF header
	printf '\177ELF\001\001\001' > "$TMP/t32"
	head -c 57 /dev/zero >> "$TMP/t32"
	run "$TOOL" elf-info "$TMP/t32"
	assert_clean_error
	[[ "$output" == *"not a 64-bit ELF file"* ]]
}

@test "malformed: seeded random corruption never crashes the parser" {
	require_py311
	run "$HOST_PY" - "$TOOL" "$PY311" "$TMP/f" <<'EOF'
import random, struct, subprocess, sys
tool, src, path = sys.argv[1:4]
data = open(src, "rb").read()
eh = struct.unpack_from("<16sHHIQQQIHHHHHH", data)
phoff, shoff, phnum, shnum = eh[5], eh[6], eh[9], eh[11]
rnd = random.Random(20240501)
fails = 0
for it in range(120):
    b = bytearray(data)
    kind = it % 5
    if kind == 0:
        b = b[:rnd.randrange(len(b))]
    elif kind == 1:
        s = rnd.randrange(shnum)
        fo = rnd.choice([0, 4, 16, 24, 32, 40, 44, 56])
        sz = 4 if fo in (0, 4, 40, 44) else 8
        v = rnd.choice([0, 1, 2**31, 2**63, len(data), rnd.getrandbits(8 * sz)])
        b[shoff + s * 64 + fo:shoff + s * 64 + fo + sz] = (v % (1 << (8 * sz))).to_bytes(sz, "little")
    elif kind == 2:
        s = rnd.randrange(phnum)
        fo = rnd.choice([0, 8, 16, 32, 40])
        sz = 4 if fo == 0 else 8
        v = rnd.choice([0, 2**63, len(data), rnd.getrandbits(8 * sz)])
        b[phoff + s * 56 + fo:phoff + s * 56 + fo + sz] = (v % (1 << (8 * sz))).to_bytes(sz, "little")
    elif kind == 3:
        for _ in range(rnd.randrange(1, 64)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    else:
        i = data.find(b"stapsdt\0")
        for _ in range(rnd.randrange(1, 8)):
            j = i - 12 + rnd.randrange(400)
            if 0 <= j < len(b):
                b[j] = rnd.randrange(256)
    open(path, "wb").write(b)
    for cmd in (["elf-notes", path], ["elf-sym", path, "PyObject_Malloc"], ["elf-read", path, "0x41f000", "32"]):
        r = subprocess.run([tool] + cmd, capture_output=True)
        err = r.stderr.decode(errors="replace")
        if r.returncode < 0 or r.returncode >= 128 or "Sanitizer" in err or "runtime error" in err \
           or (r.returncode != 0 and not err.strip()):
            print("# iteration %d kind %d %s: status %d %s" % (it, kind, cmd[0], r.returncode, err[-500:]))
            fails += 1
print("failures", fails)
sys.exit(1 if fails else 0)
EOF
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "malformed: valgrind finds no invalid read on a corrupt file" {
	command -v valgrind >/dev/null || skip "valgrind not installed"
	require_py311
	! nm "$TOOL" 2>/dev/null | grep -q __asan_init || skip "the tool is built with ASan"
	cp "$PY311" "$TMP/py"
	patch "$TMP/py" "$(shdr "$TMP/py" .dynsym $SH_SIZE)" 8 0xffffffffffffff00
	run valgrind -q --error-exitcode=99 "$TOOL" elf-sym "$TMP/py" PyObject_Malloc
	[ "$status" -eq 1 ]
	[[ "$output" != *"Invalid read"* ]]
	head -c 100000 "$PY311" > "$TMP/t"
	run valgrind -q --error-exitcode=99 "$TOOL" elf-notes "$TMP/t"
	[ "$status" -eq 1 ]
	cp "$PY311" "$TMP/py"
	patch "$TMP/py" "$(LC_ALL=C readelf -SW "$PY311" | awk '/\.note\.stapsdt/ { for (i = 1; i <= NF; i++) if ($i == "NOTE") { print "0x" $(i + 2); exit } }')" 4 0x7ffffff0
	run valgrind -q --error-exitcode=99 "$TOOL" elf-notes "$TMP/py"
	[ "$status" -eq 0 ]
}

# ---- /proc/PID/maps ----------------------------------------------------------------

# maps_awk FILE: the tool's output format, computed by awk from a maps file.
maps_awk() {
	awk '
		function z(s) { sub(/^0+/, "", s); return s == "" ? "0" : s }
		{
			split($1, r, "-"); split($4, d, ":")
			path = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ */, "", path)
			del = "present"
			if (path ~ / \(deleted\)$/) { del = "deleted"; sub(/ \(deleted\)$/, "", path) }
			print z(r[1]) "-" z(r[2]), $2, z($3), z(d[1]) ":" z(d[2]), $5, del, "[" path "]"
		}' "$1"
}

@test "maps: a real /proc/self/maps parses completely and exactly" {
	cat /proc/self/maps > "$TMP/maps"
	run --separate-stderr "$TOOL" maps "$TMP/maps"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "bad 0" ]
	diff <(maps_awk "$TMP/maps") <(printf '%s\n' "${lines[@]}" | sed '$d')
}

@test "maps-pid: reads a live process's maps; a missing pid is ESRCH" {
	sleep 30 &
	local pid=$!
	run --separate-stderr "$TOOL" maps-pid "$pid"
	local st=$status n
	n=$(wc -l < /proc/$pid/maps)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	[ "$st" -eq 0 ]
	[ "${lines[-1]}" = "bad 0" ]
	[ "$((${#lines[@]} - 1))" -eq "$n" ]
	printf '%s\n' "${lines[@]}" | grep -q '/sleep\]$'
	run "$TOOL" maps-pid 2147483646
	[ "$status" -eq 1 ]
	[[ "$output" == *"No such process"* ]]
}

@test "maps-line: anonymous, file-backed, pseudo paths and shared mappings" {
	run --separate-stderr "$TOOL" maps-line "7f12a0000000-7f12a0021000 rw-p 00000000 00:00 0"
	[ "$output" = "7f12a0000000-7f12a0021000 rw-p 0 0:0 0 present []" ]
	run --separate-stderr "$TOOL" maps-line "00400000-00421000 r--p 00000000 fe:01 1234                       /usr/bin/python3.11"
	[ "$output" = "400000-421000 r--p 0 fe:1 1234 present [/usr/bin/python3.11]" ]
	run --separate-stderr "$TOOL" maps-line "01a2b000-01c4d000 rw-p 00000000 00:00 0                          [heap]"
	[ "$output" = "1a2b000-1c4d000 rw-p 0 0:0 0 present [[heap]]" ]
	run --separate-stderr "$TOOL" maps-line "7f3c1d000000-7f3c1d001000 rw-s 0001f000 103:05 18446744073709551615 /dev/zero"
	[ "$output" = "7f3c1d000000-7f3c1d001000 rw-s 1f000 103:5 18446744073709551615 present [/dev/zero]" ]
	run --separate-stderr "$TOOL" maps-line "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]"
	[ "$output" = "ffffffffff600000-ffffffffff601000 --xp 0 0:0 0 present [[vsyscall]]" ]
}

@test "maps-line: paths with spaces and (deleted)" {
	run --separate-stderr "$TOOL" maps-line "7f3c1c000000-7f3c1c100000 r-xp 00001000 103:05 98765432   /opt/my app/lib  x.so"
	[ "$output" = "7f3c1c000000-7f3c1c100000 r-xp 1000 103:5 98765432 present [/opt/my app/lib  x.so]" ]
	run --separate-stderr "$TOOL" maps-line "7f3c1c000000-7f3c1c100000 r-xp 00001000 103:05 98765432   /tmp/libpython3.12.so.1.0 (deleted)"
	[ "$output" = "7f3c1c000000-7f3c1c100000 r-xp 1000 103:5 98765432 deleted [/tmp/libpython3.12.so.1.0]" ]
	run --separate-stderr "$TOOL" maps-line "7f3c1c000000-7f3c1c100000 r-xp 00001000 103:05 98765432   /a b (deleted) (deleted)"
	[ "$output" = "7f3c1c000000-7f3c1c100000 r-xp 1000 103:5 98765432 deleted [/a b (deleted)]" ]
	run --separate-stderr "$TOOL" maps-line "7f3c1c000000-7f3c1c100000 r-xp 00001000 103:05 98765432   /x"$'\n'
	[ "$output" = "7f3c1c000000-7f3c1c100000 r-xp 1000 103:5 98765432 present [/x]" ]
}

@test "maps-line: garbage is rejected" {
	local l long
	long="00400000-00421000 r--p 00000000 fe:01 1234 /$(head -c 5000 /dev/zero | tr '\0' a)"
	while IFS= read -r l; do
		run "$TOOL" maps-line "$l"
		[ "$status" -eq 1 ] || { echo "# accepted: '$l': $output" >&3; false; }
		[[ "$output" == *"malformed maps line"* ]]
	done <<EOF

hello
00400000-00421000
00400000-00421000 r--p 00000000 fe:01
00400000 r--p 00000000 fe:01 1234 /x
00421000-00400000 r--p 00000000 fe:01 1234 /x
00400000-00421000 rwzp 00000000 fe:01 1234 /x
00400000-00421000 r--q 00000000 fe:01 1234 /x
00400000-00421000 r--p 00000000 fe-01 1234 /x
00400000-00421000 r--p 00000000 fe:01 123abc /x
00400000-00421000 r--p 00000000 fe:01 -1 /x
00400000-00421000 r--p -0000001 fe:01 1 /x
10000000000000000-10000000000000001 r--p 00000000 fe:01 1234 /x
00400000-00421000 r--p 00000000 fe:01 18446744073709551616 /x
00400000-00421000 r--p 00000000 100000000:01 1 /x
 00400000-00421000 r--p 00000000 fe:01 1234 /x
00400000-00421000  r--p 00000000 fe:01 1234 /x
$long
EOF
	run "$TOOL" maps-line "00400000-00421000 r--p 00000000 fe:01 1 /x"$'\n'"/y"
	[ "$status" -eq 1 ]
}

@test "maps: a mixed file keeps the good lines and counts the bad ones" {
	run --separate-stderr "$TOOL" maps "$UNIT_FIXTURES/maps-mixed.txt"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "bad 3" ]
	[ "${#lines[@]}" -eq 11 ]
	[ "${lines[4]}" = "7f12a0021000-7f12a4000000 ---p 0 0:0 0 present []" ]
	[ "${lines[5]}" = "7f3c1c000000-7f3c1c100000 r-xp 1000 103:5 98765432 present [/opt/my app/lib/libpython3.12.so.1.0]" ]
	[ "${lines[6]}" = "7f3c1d000000-7f3c1d001000 rw-s 0 0:5 4242 deleted [/dev/shm/seg]" ]
	[ "${lines[7]}" = "7f3c1e000000-7f3c1e001000 r--p 0 fe:1 77 deleted [/tmp/x (deleted)]" ]
	# stdin, and an empty file
	run --separate-stderr "$TOOL" maps - < /dev/null
	[ "$output" = "bad 0" ]
}

# ---- histograms ----------------------------------------------------------------------

@test "hist-slot: log2 slots and their bounds" {
	local args want
	while IFS='|' read -r args want; do
		run --separate-stderr "$TOOL" hist-slot $args
		[ "$output" = "$want" ] || { echo "# $args: '$output' != '$want'" >&3; false; }
	done <<'EOF'
0|0 0 2
1|0 0 2
2|1 2 4
3|1 2 4
4|2 4 8
1023|9 512 1024
1024|10 1024 2048
10000|13 8192 16384
549755813887|38 274877906944 549755813888
549755813888|39 549755813888 1099511627776
1099511627776|39 549755813888 1099511627776
18446744073709551615|39 549755813888 1099511627776
18446744073709551615 64|63 9223372036854775808 18446744073709551615
9223372036854775807 64|62 4611686018427387904 9223372036854775808
5 1|0 0 2
EOF
}

@test "hist-slot: agrees with pmt_log2() in bpf/pymemtrace.bpf.c" {
	local src=$ROOT/bpf/pymemtrace.bpf.c
	[ -f "$src" ] || skip "no $src yet"
	command -v cc >/dev/null || skip "no C compiler"
	grep -q 'pmt_log2(__u64 v)' "$src" || skip "pmt_log2 not found in $src"
	{
		echo '#include <stdio.h>'
		echo '#include <stdlib.h>'
		echo 'typedef unsigned long long __u64; typedef unsigned int __u32;'
		echo '#undef __always_inline'
		echo '#define __always_inline inline'
		sed -n '/pmt_log2(__u64 v)/,/^}/p' "$src"
		echo 'int main(int c, char **v) { for (int i = 1; i < c; i++) {'
		echo ' unsigned s = pmt_log2(strtoull(v[i], 0, 0)); if (s >= 40) s = 39;'
		echo ' printf("%u\n", s); } return 0; }'
	} > "$TMP/log2.c"
	cc -O0 -o "$TMP/log2" "$TMP/log2.c"
	local vals=(0 1 2 3) k v
	for k in $(seq 2 62); do
		vals+=($(((1 << k) - 1)) $((1 << k)) $(((1 << k) + 1)))
	done
	vals+=(9223372036854775807 9223372036854775808 9223372036854775809 18446744073709551615)
	mapfile -t bpf < <("$TMP/log2" "${vals[@]}")
	for k in "${!vals[@]}"; do
		v=$("$TOOL" hist-slot "${vals[$k]}" 40 | cut -d' ' -f1)
		[ "$v" = "${bpf[$k]}" ] || { echo "# ${vals[$k]}: hist_slot $v, pmt_log2 ${bpf[$k]}" >&3; false; }
	done
}

@test "hist-quantile: known distributions" {
	local ninety=() ten=() i
	for i in $(seq 90); do ninety+=(10); done
	for i in $(seq 10); do ten+=(1000); done
	# 90 samples in slot 3 [8,16), 10 in slot 9 [512,1024)
	run --separate-stderr "$TOOL" hist-quantile 0.5 "${ninety[@]}" "${ten[@]}"
	[ "$output" = "16" ]
	run --separate-stderr "$TOOL" hist-quantile 0.9 "${ninety[@]}" "${ten[@]}"
	[ "$output" = "16" ]
	run --separate-stderr "$TOOL" hist-quantile 0.91 "${ninety[@]}" "${ten[@]}"
	[ "$output" = "1024" ]
	run --separate-stderr "$TOOL" hist-quantile 0.99 "${ninety[@]}" "${ten[@]}"
	[ "$output" = "1024" ]
	run --separate-stderr "$TOOL" hist-quantile 1 "${ninety[@]}" "${ten[@]}"
	[ "$output" = "1024" ]
	run --separate-stderr "$TOOL" hist-quantile 0 "${ninety[@]}" "${ten[@]}"
	[ "$output" = "16" ]
	run --separate-stderr "$TOOL" hist-quantile 7 1 2 3
	[ "$output" = "4" ]
	run --separate-stderr "$TOOL" hist-quantile -1 1 2 3
	[ "$output" = "2" ]
	run --separate-stderr "$TOOL" hist-quantile 0.5
	[ "$output" = "0" ]
	run --separate-stderr "$TOOL" hist-quantile 0.5 0 0 0
	[ "$output" = "2" ]
	run --separate-stderr "$TOOL" hist-quantile 0.5 18446744073709551615
	[ "$output" = "1099511627776" ]
}

@test "hist-print: nanosecond ranges read as time, rows stay under 80 columns" {
	run --separate-stderr "$TOOL" hist-print ns 10000 10000 10000 1500 300 2000000 1
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}"
	printf '%s\n' "${lines[@]}" | grep -q '8.2us-16.4us : *3 |\*\{40\}|$'
	printf '%s\n' "${lines[@]}" | grep -q ' 0ns-2ns : *1 |\*\{14\} *|$'
	printf '%s\n' "${lines[@]}" | grep -q '256ns-512ns : *1 |'
	printf '%s\n' "${lines[@]}" | grep -q '1.0ms-2.1ms : *1 |'
	[[ "${lines[0]}" == *"ns : count  distribution" ]]
	local l
	for l in "${lines[@]}"; do [ "${#l}" -lt 80 ]; done
	# first row is the lowest non-empty slot, last the highest
	[[ "${lines[1]}" == *" 0ns-2ns"* ]]
	[[ "${lines[-1]}" == *"1.0ms-2.1ms"* ]]
}

@test "hist-print: the capped last slot, huge counts, bytes and empty histograms" {
	run --separate-stderr "$TOOL" hist-print-slots ns 0=1 39=18446744073709551615
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}"
	[[ "${lines[-1]}" == *">=549.8s : 18446744073709551615 |"*"|" ]]
	[[ "${lines[1]}" == *" 0ns-2ns :                    1 |*"*"|" ]]
	local l
	for l in "${lines[@]}"; do [ "${#l}" -lt 80 ]; done
	run --separate-stderr "$TOOL" hist-print bytes 4096 300000 1048576
	printf '%s\n' "${lines[@]}"
	printf '%s\n' "${lines[@]}" | grep -q ' 4KiB-8KiB : *1 |'
	printf '%s\n' "${lines[@]}" | grep -q '256KiB-512KiB : *1 |'
	printf '%s\n' "${lines[@]}" | grep -q ' 1MiB-2MiB : *1 |'
	run --separate-stderr "$TOOL" hist-print pages 5 6
	printf '%s\n' "${lines[@]}" | grep -q '^ *4-8 : *2 |'
	run --separate-stderr "$TOOL" hist-print ns
	[ "$output" = "  (no samples)" ]
}

# ---- version numbers ---------------------------------------------------------------

@test "version-hex: PY_VERSION_HEX decoding" {
	local hex want
	while read -r hex want; do
		run --separate-stderr "$TOOL" version-hex "$hex"
		[ "$output" = "$want" ] || { echo "# $hex: '$output' != '$want'" >&3; false; }
	done <<'EOF'
0x030b07f0 3.11.7 3 11 7 f 0 311
0x030b02f0 3.11.2 3 11 2 f 0 311
0x030d00c1 3.13.0rc1 3 13 0 c 1 313
0x030c00a7 3.12.0a7 3 12 0 a 7 312
0x030b00b4 3.11.0b4 3 11 0 b 4 311
0x03080ef0 3.8.14 3 8 14 f 0 308
EOF
}

@test "version-hex: Py_Version in each 3.11+ binary matches sys.hexversion" {
	local v found=0 va raw hex want
	for v in 3.11 3.12 3.13 debian; do
		if [ "$v" = debian ]; then
			[ -x "$PY311" ] || continue
			LIB=$PY311 PYBIN=$PY311
		else
			LIB=$(ls "$PYENV_VERSIONS"/$v.*/lib/libpython$v.so.1.0 2>/dev/null | head -n 1)
			[ -n "$LIB" ] || continue
			PYBIN=${LIB%/lib/*}/bin/python$v
		fi
		found=$((found + 1))
		va=$("$TOOL" elf-sym "$LIB" Py_Version | cut -d' ' -f2)
		raw=$("$TOOL" elf-read "$LIB" "$va" 4)
		hex=0x${raw:6:2}${raw:4:2}${raw:2:2}${raw:0:2}
		want=$("$PYBIN" -c 'import sys, platform; print(hex(sys.hexversion), platform.python_version())')
		[ "$((hex))" -eq "$((${want% *}))" ]
		run --separate-stderr "$TOOL" version-hex "$hex"
		[ "${output%% *}" = "${want#* }" ]
	done
	[ "$found" -gt 0 ] || skip "no python 3.11+ installed"
}

@test "version-parse: sys.version of each installed interpreter" {
	local py found=0 want
	for py in "$PY311" "$PYENV_VERSIONS"/3.*/bin/python3.[0-9] "$PYENV_VERSIONS"/3.*/bin/python3.[0-9][0-9]; do
		[ -x "$py" ] || continue
		found=$((found + 1))
		want=$("$py" -c 'import sys, platform; print(platform.python_version()); print(sys.version)')
		run --separate-stderr "$TOOL" version-parse "$(echo "$want" | sed -n '2,$p')"
		[ "$status" -eq 0 ]
		[ "${output%% *}" = "$(echo "$want" | head -n 1)" ] || { echo "# $py: $output" >&3; false; }
	done
	[ "$found" -gt 0 ] || skip "no python installed"
}

@test "version-parse: release levels and garbage" {
	run --separate-stderr "$TOOL" version-parse "3.13.0rc1"
	[ "$output" = "3.13.0rc1 3 13 0 c 1 313" ]
	run --separate-stderr "$TOOL" version-parse "3.12.0a7+ (heads/main:abc)"
	[ "$output" = "3.12.0a7 3 12 0 a 7 312" ]
	run --separate-stderr "$TOOL" version-parse "3.9.18 (main, Nov  1 2023, 10:00:00) [GCC 12.2.0]"
	[ "$output" = "3.9.18 3 9 18 f 0 309" ]
	run --separate-stderr "$TOOL" version-parse "3.11"
	[ "$output" = "3.11.0 3 11 0 f 0 311" ]
	local s
	for s in "" "abc" "3" "3." "3.x" ".11" "3.11.7x1" "3.11.7rc" "3.1000.1" "3.11.7b16" "-3.11" "3..11"; do
		run "$TOOL" version-parse "$s"
		[ "$status" -eq 1 ] || { echo "# accepted '$s': $output" >&3; false; }
		[[ "$output" == *"is not a version"* ]]
	done
}

@test "usage: bad arguments give usage errors, not crashes" {
	run "$TOOL" elf-read "$TMP/x" zz 4
	[ "$status" -eq 2 ]
	run "$TOOL" elf-read "$TMP/x" 0 99999
	[ "$status" -eq 2 ]
	run "$TOOL" hist-slot
	[ "$status" -eq 2 ]
	run "$TOOL" hist-quantile x 1
	[ "$status" -eq 2 ]
	run "$TOOL" version-hex -5
	[ "$status" -eq 2 ]
}

# ---- the --sampled schedule (user/alloc_window.c) ----------------------------------

@test "window-gaps: jittered gaps from period/2 to 3 period/2, mean the period" {
	run --separate-stderr "$TOOL" window-gaps 1 1000 2000 7
	[ "$status" -eq 0 ]
	echo "$output" | awk '
		$1 < 500 || $1 >= 1500 { print "# gap out of range: " $1; bad = 1 }
		{ n++; sum += $1; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1
		  b = int(($1 - 500) / 100); bin[b]++ }
		END {
			# uniform: the mean within 3% of 1000, each tenth of the range
			# holds 200 +- 60 gaps, and they spread over nearly all of it
			if (n != 2000 || sum / n < 970 || sum / n > 1030) { print "# mean " sum / n; bad = 1 }
			for (b = 0; b < 10; b++) if (bin[b] < 140 || bin[b] > 260) { print "# bin " b ": " bin[b]; bad = 1 }
			if (lo > 510 || hi < 1490) { print "# range " lo ".." hi; bad = 1 }
			exit bad }' >&3
	# another seed, another schedule; the same seed, the same one
	[ "$("$TOOL" window-gaps 1 1000 5 8)" != "$("$TOOL" window-gaps 1 1000 5 7)" ]
	[ "$("$TOOL" window-gaps 1 1000 5 7)" = "$("$TOOL" window-gaps 1 1000 5 7)" ]
}

@test "window-gaps: a gap is never shorter than the window" {
	run --separate-stderr "$TOOL" window-gaps 600 1000 500 3
	[ "$status" -eq 0 ]
	echo "$output" | awk '$1 < 600 { print "# " $1; bad = 1 } END { exit bad }' >&3
	echo "$output" | grep -qx '600.000'
}

# ---- --gc-budget (user/gc_budget.c, user/gc_counters.c) -------------------------

@test "gc-budget: past the budget, windows of 200 ms armed budget/share of the time" {
	run --separate-stderr "$TOOL" gc-budget-sim 5 0.15 100 0 6
	[ "$status" -eq 0 ]
	# 15% measured is charged 2 x that, 30%: the first second decides
	# (30% > 5%); duty 5/30; a 200 ms window, then a gap of
	# 0.2 * (6 - 1) = 1.0 s; each window measures 30% again
	[ "$output" = "charge 2
1.0 disarm 0.1667 0.3000
2.0 arm 0.1667 0.3000
2.2 disarm 0.1667 0.3000
3.2 arm 0.1667 0.3000
3.4 disarm 0.1667 0.3000
4.4 arm 0.1667 0.3000
4.6 disarm 0.1667 0.3000
5.6 arm 0.1667 0.3000
5.8 disarm 0.1667 0.3000
armed 1.8 windows 4 switches 1 now sampled 0.1667 0.3000" ] || { echo "$output" >&3; false; }
}

@test "gc-budget: the measured cost is charged twice: 4% measured is over a 5% budget" {
	# under the budget as measured, over it as charged (8%): sampled, armed
	# 5/8 of the time
	run --separate-stderr "$TOOL" gc-budget-sim 5 0.04 100 0 3
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sed -n 2p)" = "1.0 disarm 0.6250 0.0800" ] || { echo "$output" >&3; false; }
	[ "$(echo "$output" | tail -1)" = "armed 2.0 windows 5 switches 1 now sampled 0.6250 0.0800" ] ||
		{ echo "$output" >&3; false; }
	# 2% measured, 4% charged: under the budget, armed throughout (51 steps
	# of 0.1 s), no switch
	run --separate-stderr "$TOOL" gc-budget-sim 5 0.02 100 0 5
	[ "$output" = "charge 2
armed 5.1 windows 0 switches 0 now all 1.0000 0.0000" ] || { echo "$output" >&3; false; }
}

@test "gc-budget: a window with no collection times all again; between half the budget and the budget, windows run back to back" {
	run --separate-stderr "$TOOL" gc-budget-sim 5 0.15 4 0 10
	[ "$status" -eq 0 ]
	# the collector calms at 4 s: the 4.4-4.6 window sees nothing
	[ "$(echo "$output" | sed -n 8p)" = "4.6 all 1.0000 0.0000" ] || { echo "$output" >&3; false; }
	[ "$(echo "$output" | tail -1)" = "armed 7.1 windows 3 switches 1 now all 1.0000 0.0000" ] ||
		{ echo "$output" >&3; false; }
	# it calms to 1% measured, 2% charged, under half the budget: all again
	run --separate-stderr "$TOOL" gc-budget-sim 5 0.15 4 0.01 10
	[ "$(echo "$output" | sed -n 8p)" = "4.6 all 1.0000 0.0200" ] || { echo "$output" >&3; false; }
	# to 2% measured, 4% charged: within the budget but not under half of
	# it, so still sampled, at duty 1.  The probes stay armed from 4.4 s on,
	# one window after the other, with no disarm (no edge, no links churned)
	run --separate-stderr "$TOOL" gc-budget-sim 5 0.15 4 0.02 10
	[ "$(echo "$output" | sed -n 7,\$p)" = "4.4 arm 0.1667 0.3000
armed 7.1 windows 30 switches 1 now sampled 1.0000 0.0400" ] || { echo "$output" >&3; false; }
}

@test "gc-budget: the armed fraction never falls under 2%, so a sample keeps coming" {
	run --separate-stderr "$TOOL" gc-budget-sim 0.5 0.45 100 0 25
	[ "$status" -eq 0 ]
	# charged 90%: 0.5/90 would be 0.6%; 2% instead, a gap of 0.2 * 49 = 9.8 s
	[ "$(echo "$output" | sed -n 2,4p)" = "1.0 disarm 0.0200 0.9000
10.8 arm 0.0200 0.9000
11.0 disarm 0.0200 0.9000" ] || { echo "$output" >&3; false; }
}

@test "gc-counts-accept: the interpreter's counters are believed only when they make sense" {
	# collections, collected + uncollectable, per generation
	run --separate-stderr "$TOOL" gc-counts-accept - 5 1 0 2 0 0 1 0 0
	[ "$output" = "5 1 2 0 1 0" ]
	# a counter that went backwards (5 -> 4): not believed
	run --separate-stderr "$TOOL" gc-counts-accept 5 1 2 0 1 0  4 1 0 2 0 0 1 0 0
	[ "$output" = "rejected" ]
	# the same or more: believed
	run --separate-stderr "$TOOL" gc-counts-accept 5 1 2 0 1 0  9 3 4 2 0 0 1 0 0
	[ "$output" = "9 7 2 0 1 0" ]
	# negative, or beyond 2^55: written by something else than CPython
	run --separate-stderr "$TOOL" gc-counts-accept - -5 1 0 2 0 0 1 0 0
	[ "$output" = "rejected" ]
	run --separate-stderr "$TOOL" gc-counts-accept - 36028797018963969 0 0 2 0 0 1 0 0
	[ "$output" = "rejected" ]
}

# gc_counters__take: the counters are read first, the interpreters' list
# head after; finalisation (3.9+) unlinks the main interpreter, and on 3.9
# and 3.10 frees it.
# take_case WANT ARGS...: one gc-counts-take; WANT is its output.
take_case() {
	local want="$1"
	shift
	run --separate-stderr "$TOOL" gc-counts-take "$@"
	[ "$output" = "$want" ] || { echo "gc-counts-take $*: $output" >&3; false; }
}

@test "gc-counts-take: a head still set vouches for the counters; a finalised interpreter's are final" {
	local last="5 1 2 0 1 0" more="9 3 4 2 0 0 1 0 0" less="4 1 0 2 0 0 1 0 0"
	# the main interpreter still heads the list: taken
	take_case "taken 9 7 2 0 1 0 valid" 0 0 main $last $more
	# a subinterpreter heads it: taken, and others noted
	take_case "taken 9 7 2 0 1 0 valid others" 0 0 other $last $more
	# unlinked, a freed interpreter (3.9, 3.10): the read is not believed,
	# even when it looks fine; the last read stands, as of its own time
	take_case "stale 5 1 2 0 1 0 valid final" 0 0 null $last $more
	# unlinked, a static one (3.11+): taken, final
	take_case "taken 9 7 2 0 1 0 valid final" 1 0 null $last $more
	# unlinked and gone backwards (cleared memory): dropped, still valid
	take_case "dropped 5 1 2 0 1 0 valid final" 1 0 null $last 0 0 0 0 0 0 0 0 0
	# a live read gone backwards: the counters are no longer believed at all
	take_case "dropped 5 1 2 0 1 0 invalid" 0 0 main $last $less
	# the same read at the exit (lenient): dropped, the others kept
	take_case "dropped 5 1 2 0 1 0 valid" 0 1 - $last $less
}

# user/numparse.c reads every decimal the tracer takes from the command line
# and from /proc and sysfs; these are its edges.
@test "numparse: digits only, bounded, never wrapped" {
	run --separate-stderr "$TOOL" num-dec "1234 kB" 18446744073709551615
	[ "$output" = "4 1234" ]
	run --separate-stderr "$TOOL" num-dec "18446744073709551615" 18446744073709551615
	[ "$output" = "20 18446744073709551615" ]
	run --separate-stderr "$TOOL" num-dec "18446744073709551616" 18446744073709551615
	[ "$output" = "0" ]
	run --separate-stderr "$TOOL" num-dec "256" 255
	[ "$output" = "0" ]
	run --separate-stderr "$TOOL" num-dec "255" 255
	[ "$output" = "3 255" ]
	run --separate-stderr "$TOOL" num-dec "123456" 999999 3
	[ "$output" = "3 123" ]
	local s
	for s in "" " 1" "+1" "-1" "x1" "0x10"; do
		run --separate-stderr "$TOOL" num-dec "$s" 1000
		[ "$output" = "0" ] || [ "$s" = "0x10" -a "$output" = "1 0" ] ||
			{ echo "# num-dec '$s': $output" >&3; false; }
	done
	run --separate-stderr "$TOOL" num-u64 "65535" 0 65535
	[ "$output" = "65535" ]
	run --separate-stderr "$TOOL" num-u64 "0" 0 65535
	[ "$output" = "0" ]
	for s in "" "65536" "0" "-1" "+5" " 5" "5 " "5x" "0x5" "99999999999999999999"; do
		run --separate-stderr "$TOOL" num-u64 "$s" 1 65535
		[ "$output" = "rejected" ] || { echo "# num-u64 '$s': $output" >&3; false; }
	done
}
