#!/usr/bin/env bats
# --alloc: allocations by Python and native stack, with live bytes, checked
# against fixtures that hold and churn known amounts, on every interpreter.

load lib/common

FIXTURE=tests/fixtures/alloc_hold.py
MIB=16

# alloc_run LABEL SCRIPT [SCRIPT-ARGS...] [-- TRACER-ARGS...]: the fixture
# SCRIPT does its work on interpreter LABEL under `pymemtrace -q --alloc`;
# the JSON report is in $BATS_TEST_TMPDIR/report.json.  BEFORE_TRACE: a
# command run between the fixture's start and the tracer's (a library
# replaced on disk under it).
alloc_run() {
	local j="$BATS_TEST_TMPDIR/report.json" args=() tracer_args=()
	use_interp "$1"
	shift
	require_tracing
	while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
	[ $# -eq 0 ] || { shift; tracer_args=("$@"); }
	start_fixture "$PY" "${args[@]}"
	[ -z "${BEFORE_TRACE:-}" ] || $BEFORE_TRACE || return 1
	start_tracer -q --alloc --top 1000 -p "$FIX_PID" --json "$j" ${tracer_args[@]+"${tracer_args[@]}"}
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL" || { cat "$FIX_CTL/stderr" >&3; return 1; }
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
}

# hold_check LABEL [TRACER_ARGS...]: hold_memory() holds MIB MiB; churn()
# holds nothing.
hold_check() {
	local j="$BATS_TEST_TMPDIR/report.json" line label=$1
	shift
	line=$(grep -n 'return \[bytearray(CHUNK)' "$FIXTURE" | cut -d: -f1)
	alloc_run "$label" alloc_hold.py "$MIB" -- "$@" || return 1
	"$HOST_PY" - "$j" "$FIX_PID" "$MIB" "$line" "$FIX_CTL/done" <<'PY'
import json, sys
report, pid, mib, line, done = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
p = next(x for x in json.load(open(report))["processes"] if x["pid"] == pid)
held = json.load(open(done))["held_bytes"]
assert held == mib * 1024 * 1024, held

def in_function(stack, name):
    # 3.8-3.11 run a list comprehension as its own function (<listcomp>)
    # called from the named one; 3.12+ inline it (PEP 709).
    frames = stack["python"][:2]
    return any(f["function"].split(".")[0] == name for f in frames)

hold = [s for s in p["stacks"] if in_function(s, "hold_memory")]
assert hold, "no stack in hold_memory: %s" % [s["python"][:2] for s in p["stacks"]]
top = max(p["stacks"], key=lambda s: s["live_bytes"])
assert in_function(top, "hold_memory"), "largest live stack is not hold_memory: %s" % top["python"][:2]
f = top["python"][0]
assert f["file"].endswith("alloc_hold.py"), f
assert f["line"] == line, (f, line)
live = sum(s["live_bytes"] for s in hold)
# bytearray(n) asks for n + 1 bytes; the list around them is pymalloc's.
assert held <= live <= held * 1.02, (live, held)
churn = [s for s in p["stacks"] if in_function(s, "churn")]
churn_alloc = sum(s["bytes"] for s in churn)
churn_live = sum(s["live_bytes"] for s in churn)
assert churn_alloc >= 300 * 64 * 1024, (churn_alloc, [(s["bytes"], s["python"][:3], s["native"][:1]) for s in sorted(p["stacks"], key=lambda s: -s["bytes"])[:4]])
# Near zero: what CPython's free lists keep of the churned tuples and lists
# (3.12+ keep more) is bounded, a small share of what churn() allocated.
assert churn_live <= churn_alloc * 0.05, (churn_live, churn_alloc)
assert p["alloc"]["live_bytes"] >= live
# every stack names its native caller (the default depth 1), or more frames
assert all(s["native"] for s in hold), [s["native"] for s in hold]
print("# hold_memory live %d of %d held; churn allocated %d, live %d" % (live, held, churn_alloc, churn_live))
PY
}

@test "alloc: a named function's live MiB and churn on debian python3.11" { hold_check debian3.11; }
@test "alloc: a named function's live MiB and churn on python3.8" { hold_check py3.8; }
@test "alloc: a named function's live MiB and churn on python3.9" { hold_check py3.9; }
@test "alloc: a named function's live MiB and churn on python3.10" { hold_check py3.10; }
@test "alloc: a named function's live MiB and churn on python3.11" { hold_check py3.11; }
@test "alloc: a named function's live MiB and churn on python3.12" { hold_check py3.12; }
@test "alloc: a named function's live MiB and churn on python3.13" { hold_check py3.13; }

# Services run with PYTHONMALLOC=malloc (jemalloc, tcmalloc) or with
# tracemalloc on: every request then reaches libc's malloc, or goes through
# tracemalloc's hooks first.  The same MiB, counted once.
@test "alloc: a PYTHONMALLOC=malloc target, the same live MiB, debian python3.11" {
	FIX_ENV=(PYTHONMALLOC=malloc)
	hold_check debian3.11
}
@test "alloc: a PYTHONMALLOC=malloc target, the same live MiB, python3.12" {
	FIX_ENV=(PYTHONMALLOC=malloc)
	hold_check py3.12
}
@test "alloc: a target running tracemalloc, the same live MiB once, debian python3.11" {
	FIX_ENV=(PYTHONTRACEMALLOC=1)
	hold_check debian3.11
}
@test "alloc: a target running tracemalloc, the same live MiB once, python3.12" {
	FIX_ENV=(PYTHONTRACEMALLOC=1)
	hold_check py3.12
}

# Services preload jemalloc or tcmalloc (LD_PRELOAD) for their large
# blocks: the interpreter's malloc is then bound to that library, not to
# libc's, and the probes must follow it (user/plan.c, open_bound_allocator).
# The bytearrays' buffers are requests over 512 bytes: all of them go there.
preload_check() {
	local lib=/usr/lib/x86_64-linux-gnu/$1 label=$2
	[ -e "$lib" ] || { echo "# $lib is missing (tools/install-deps.sh installs it)" >&3; return 1; }
	FIX_ENV=("LD_PRELOAD=$lib")
	hold_check "$label" || return 1
	assert_eq "malloc and free of $1 attached" 2 "$(bound_probes "$1")" || { show_tracer; return 1; }
	# each at an emulated instruction: a single-step costs ~12 us a call
	# (jemalloc's free starts with 9 instructions that are not)
	assert_eq "$1's probes on single-stepped instructions" "" \
		"$(jq -r --arg l "malloc is bound to $1" '.processes[0].probes[] |
			select((.reason | contains($l)) and (.how | contains("single-stepped"))) | .how' \
			"$BATS_TEST_TMPDIR/report.json")" || { show_tracer; return 1; }
}

# bound_probes LIB: the report's attached malloc and free probes that say the
# interpreter's malloc is bound to LIB (the file name may carry more version
# digits than the soname).
bound_probes() {
	jq --arg l "malloc is bound to $1" '[.processes[0].probes[] |
		select((.name == "raw_alloc" or .name == "raw_free") and .status == "attached" and
			(.reason | contains($l)) and (.how | test("^uprobe (malloc|free)[+]")))] | length' \
		"$BATS_TEST_TMPDIR/report.json"
}
@test "alloc: jemalloc preloaded, the same live MiB, debian python3.11" {
	preload_check libjemalloc.so.2 debian3.11
}
@test "alloc: jemalloc preloaded, the same live MiB, python3.12" {
	preload_check libjemalloc.so.2 py3.12
}
@test "alloc: tcmalloc preloaded, the same live MiB, debian python3.11" {
	preload_check libtcmalloc_minimal.so.4 debian3.11
}

# aligned_check LABEL: tests/fixtures/aligned_hold.py's functions each hold
# 4 MiB from one aligned allocator (posix_memalign, aligned_alloc, memalign,
# valloc, pvalloc), called through ctypes; churn_aligned() frees all it
# allocates.
# Their blocks are the stacks whose native caller is libffi's: exact counts.
aligned_check() {
	local j="$BATS_TEST_TMPDIR/report.json"
	alloc_run "$1" aligned_hold.py || return 1
	"$HOST_PY" - "$j" "$FIX_PID" "$FIX_CTL/done" <<'PY'
import json, sys
report, pid, done = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = next(x for x in json.load(open(report))["processes"] if x["pid"] == pid)
d = json.load(open(done))
want = d["block"] * d["count"]

def ffi_stacks(name):
    return [s for s in p["stacks"] if s["native"] and "libffi" in s["native"][0] and
            any(f["function"].split(".")[0] == name for f in s["python"][:3])]

for name in ("hold_posix_memalign", "hold_aligned_alloc", "hold_memalign", "hold_valloc",
             "hold_pvalloc"):
    st = ffi_stacks(name)
    live = sum(s["live_bytes"] for s in st)
    count = sum(s["count"] for s in st)
    assert (live, count) == (want, d["count"]), (name, live, count, want,
        [(s["native"][:1], s["python"][:2]) for s in p["stacks"][:6]])
    print("# %s: %d blocks, live %d" % (name, count, live))
st = ffi_stacks("churn_aligned")
assert sum(s["bytes"] for s in st) == want and sum(s["live_bytes"] for s in st) == 0, \
    [(s["bytes"], s["live_bytes"]) for s in st]
assert p["lost"] == 0, p["lost_detail"]
PY
}

@test "alloc: posix_memalign, aligned_alloc, memalign, valloc and pvalloc, exact MiB, debian python3.11" {
	aligned_check debian3.11
}
@test "alloc: posix_memalign, aligned_alloc, memalign, valloc and pvalloc, exact MiB, python3.12" {
	aligned_check py3.12
}
@test "alloc: the aligned allocators of a preloaded jemalloc, exact MiB, debian python3.11" {
	local lib=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
	[ -e "$lib" ] || { echo "# $lib is missing (tools/install-deps.sh installs it)" >&3; return 1; }
	FIX_ENV=("LD_PRELOAD=$lib")
	aligned_check debian3.11
}

# Every probe of the plan is attached and in the report's list.  With a
# preloaded allocator the plan is long (its probes come before libc's), and
# a list of 24 once dropped its tail without a word: libc's calloc, realloc,
# free and aligned allocators were never attached.  The plan is the tracer's
# own --dry-run on the same process.
save_plan() {
	"$PMT" --dry-run --alloc -p "$FIX_PID" >"$BATS_TEST_TMPDIR/plan.txt"
}
plan_listed_check() {
	local lib=/usr/lib/x86_64-linux-gnu/$1
	[ -e "$lib" ] || { echo "# $lib is missing (tools/install-deps.sh installs it)" >&3; return 1; }
	FIX_ENV=("LD_PRELOAD=$lib")
	BEFORE_TRACE=save_plan alloc_run "$2" aligned_hold.py || return 1
	"$HOST_PY" - "$BATS_TEST_TMPDIR/plan.txt" "$BATS_TEST_TMPDIR/report.json" "$FIX_PID" <<'PY'
import json, re, sys
plan_txt, report, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
planned = []
for line in open(plan_txt):
    m = re.match(r"  probe (\S+) +(.*)$", line.rstrip("\n"))
    if not m:
        continue
    if m.group(1) == "mmap/munmap/mremap/brk":
        break     # the hooks every process gets follow: not the plan's
    if m.group(2) != "UNAVAILABLE":
        planned.append((m.group(1), m.group(2)))
p = next(x for x in json.load(open(report))["processes"] if x["pid"] == pid)
attached = [(x["name"], x["how"]) for x in p["probes"] if x["status"] == "attached"]
missing = [x for x in planned if x not in attached]
assert len(planned) > 24, ("a short plan proves nothing here", len(planned))
assert not missing, ("planned but not attached and listed", missing)
print("# %d planned probes, all attached and listed" % len(planned))
PY
}
@test "alloc: every probe of a long plan is attached and listed, jemalloc preloaded, debian python3.11" {
	plan_listed_check libjemalloc.so.2 debian3.11
}
@test "alloc: every probe of a long plan is attached and listed, jemalloc preloaded, python3.12" {
	plan_listed_check libjemalloc.so.2 py3.12
}

# The native-frame symbolizer holds at most 512 objects (and 512 MiB of
# symbol tables) per process; frames in any beyond are named by address.
# That must be said, once, naming the first object left out.
@test "alloc: a process mapping 520 libraries: the symbolizer's cap is said once, debian python3.11" {
	local d="$BATS_TEST_TMPDIR/libs" j="$BATS_TEST_TMPDIR/report.json" k
	use_interp debian3.11
	require_tracing
	mkdir -p "$d"
	for ((k = 0; k < 520; k++)); do cp /lib/x86_64-linux-gnu/libz.so.1 "$d/libz$k.so"; done
	start_fixture "$PY" many_libs.py "$d"
	start_tracer --alloc -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL" || { cat "$FIX_CTL/stderr" >&3; return 1; }
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	assert_eq "libraries the fixture loaded" 520 "$(jq .libraries "$FIX_CTL/done")" || return 1
	assert_eq "warnings that frames go unnamed" 1 \
		"$(grep -c "warning: pid $FIX_PID: native frames in '.*' and in other objects not opened yet are named by address" "$TRACER_ERR")" ||
		{ show_tracer; return 1; }
}

# A package upgrade replaces a library under a running service: the path in
# /proc/PID/maps then names a new file, while the process runs the old one.
# The probes must go into the mapped file (through /proc/PID/map_files),
# never into the new one, which the process does not run.
# replace_lib: moves another file over $REPLACED (the new version).
replace_lib() {
	cp /bin/true "$REPLACED.new" && mv -f "$REPLACED.new" "$REPLACED"
}
@test "alloc: a preloaded jemalloc replaced on disk is probed as mapped, debian python3.11" {
	local lib=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
	[ -e "$lib" ] || { echo "# $lib is missing (tools/install-deps.sh installs it)" >&3; return 1; }
	mkdir -p "$BATS_TEST_TMPDIR/lib"
	REPLACED=$BATS_TEST_TMPDIR/lib/libjemalloc.so.2
	cp "$lib" "$REPLACED"
	FIX_ENV=("LD_PRELOAD=$REPLACED")
	BEFORE_TRACE=replace_lib hold_check debian3.11 || return 1
	assert_eq "malloc and free of the mapped jemalloc attached" 2 \
		"$(bound_probes libjemalloc.so.2)" || { show_tracer; return 1; }
}
@test "alloc: a C library replaced on disk is probed as mapped, debian python3.11" {
	local libc
	libc=$(ldd /usr/bin/python3.11 | awk '$1 == "libc.so.6" { print $3 }')
	[ -e "$libc" ] || { echo "# no libc.so.6 in ldd's output" >&3; return 1; }
	mkdir -p "$BATS_TEST_TMPDIR/lib"
	REPLACED=$BATS_TEST_TMPDIR/lib/libc.so.6
	cp "$libc" "$REPLACED"
	FIX_ENV=("LD_LIBRARY_PATH=$BATS_TEST_TMPDIR/lib")
	# the bytearrays' buffers come from this libc's malloc: 16 MiB seen
	BEFORE_TRACE=replace_lib hold_check debian3.11
}

# lazy_check LABEL: a lazily imported module's body holds HELD_MIB MiB
# (tests/fixtures/lazy_import.py).  Its code object dies when the import
# returns and its memory is reused at once, so its `<module>` frame can be
# named only while the import runs: as soon as the BPF side announces the
# new stack, not at the next periodic pass.
lazy_check() {
	local j="$BATS_TEST_TMPDIR/report.json"
	alloc_run "$1" lazy_import.py || return 1
	"$HOST_PY" - "$j" "$FIX_PID" "$FIX_CTL/done" <<'PY'
import json, sys
report, pid, done = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = next(x for x in json.load(open(report))["processes"] if x["pid"] == pid)
d = json.load(open(done))
unnamed = p["alloc"]["lost"]["unresolved_frames"]
body = [s for s in p["stacks"] if s["python"] and s["python"][0]["file"] == d["file"]]
assert body, "no stack named in the module body (%d unnamed frames): %s" % (
    unnamed, [s["python"][:2] for s in sorted(p["stacks"], key=lambda s: -s["live_bytes"])[:4]])
assert all(s["python"][0]["function"] == "<module>" for s in body), [s["python"][0] for s in body]
assert any(s["python"][0]["line"] == d["line"] for s in body), [s["python"][0] for s in body]
live = sum(s["live_bytes"] for s in body)
held = d["held_bytes"]
assert held <= live <= held * 1.02, (live, held)
assert unnamed == 0, unnamed
print("# module body: %d stacks, live %d of %d held" % (len(body), live, held))
PY
}

@test "alloc: a lazily imported module's body is named though its code object is gone, debian python3.11" { lazy_check debian3.11; }
@test "alloc: a lazily imported module's body is named though its code object is gone, python3.8" { lazy_check py3.8; }
@test "alloc: a lazily imported module's body is named though its code object is gone, python3.12" { lazy_check py3.12; }

@test "alloc: --native-depth 8 walks native stacks and finds the same MiB, python3.11" {
	hold_check py3.11 --native-depth 8
}

# deep_check LABEL: hold_deep() holds DEEP_MIB MiB 60 Python frames down,
# past the 32-frame limit (bpf/pystack.h).  Its stacks are cut, flagged,
# counted, and still carry every byte, with the allocating function on top.
DEEP_DEPTH=60
DEEP_MIB=4
deep_check() {
	use_interp "$1"
	require_tracing
	local j="$BATS_TEST_TMPDIR/report.json" line
	line=$(grep -n 'return \[bytearray(CHUNK)' tests/fixtures/deep_hold.py | cut -d: -f1)
	trace_window deep_hold.py "$DEEP_DEPTH" "$DEEP_MIB" -- --alloc --top 100 --json "$j" || return 1
	"$HOST_PY" - "$j" "$FIX_PID" "$line" "$FIX_CTL/done" "$DEEP_MIB" <<'PY'
import json, sys
report, pid, line, done, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
p = next(x for x in json.load(open(report))["processes"] if x["pid"] == pid)
d = json.load(open(done))
assert d["held_bytes"] == mib * 1024 * 1024, d

def in_hold(stack):
    # 3.8-3.11 run the list comprehension as its own frame (<listcomp>)
    return any(f["function"].split(".")[0] == "hold_deep" for f in stack["python"][:2])

deep = [s for s in p["stacks"] if in_hold(s)]
assert deep, [s["python"][:2] for s in p["stacks"]]
live = sum(s["live_bytes"] for s in deep)
# bytearray(n) asks for n + 1 bytes; the list around them is pymalloc's
assert d["held_bytes"] <= live <= d["held_bytes"] * 1.02, (live, d["held_bytes"])
for s in deep:
    assert s["truncated"] is True, s["python"][:3]
    assert len(s["python"]) == 32, len(s["python"])
    # below the top frames, nothing but the recursion: the cut kept the innermost
    assert all(f["function"] == "descend" for f in s["python"][2:]), [f["function"] for f in s["python"]]
top = max(deep, key=lambda s: s["live_bytes"])
assert top["python"][0]["line"] == line, (top["python"][0], line)
cut = p["lost_detail"]["alloc_truncated_stacks"]
# every block's allocation was a cut walk (and so were the list's)
assert cut >= d["blocks"], (cut, d["blocks"])
# no other kind of loss hides behind it
others = {k: v for k, v in p["lost_detail"].items() if v and k != "alloc_truncated_stacks"}
assert not others, others
print("# %d stacks cut at 32 frames, %d B live, alloc_truncated_stacks %d (>= %d blocks)"
      % (len(deep), live, cut, d["blocks"]))
PY
}

@test "alloc: a stack 60 frames deep is cut at 32, flagged and counted, its MiB kept, debian python3.11" { deep_check debian3.11; }
@test "alloc: a stack 60 frames deep is cut at 32, flagged and counted, its MiB kept, python3.8" { deep_check py3.8; }
@test "alloc: a stack 60 frames deep is cut at 32, flagged and counted, its MiB kept, python3.12" { deep_check py3.12; }
@test "alloc: a stack 60 frames deep is cut at 32, flagged and counted, its MiB kept, python3.13" { deep_check py3.13; }
