#!/usr/bin/env bats
# --heap-growth: heap growth charged to the stacks that caused it, checked
# against a fixture whose named functions grow the heap by known amounts
# (tests/fixtures/heap_growth.py), on every interpreter.

load lib/common

FIXTURE=tests/fixtures/heap_growth.py

# pymalloc's pool size: 4 KiB before 3.10, 16 KiB from 3.10 on (64-bit,
# Objects/obmalloc.c POOL_BITS with the radix tree).
pool_size_for() {
	local minor=${1#3.}
	if [ "$minor" -lt 10 ]; then echo 4096; else echo 16384; fi
}

# growth_check INTERP [UNIT]: traces with --heap-growth=UNIT, pools unless
# UNIT is "arenas".
growth_check() {
	use_interp "$1"
	require_tracing
	local j="$BATS_TEST_TMPDIR/report.json" unit=${2:-pools} prom="$BATS_TEST_TMPDIR/prom"
	mkdir -p "$prom"
	start_fixture "$PY" heap_growth.py
	start_tracer -q --heap-growth="$unit" --top 5 -p "$FIX_PID" --json "$j" --textfile "$prom"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	"$HOST_PY" - "$j" "$FIX_PID" "$FIX_CTL/done" "$PYVER" "$(pool_size_for "$PYVER")" \
		"$(arena_size_for "$PYVER")" "$unit" "$prom/pymemtrace.prom" <<'PY'
import json, re, sys
report, pid, done, ver = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
pool_size, arena_size, unit = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
metrics = open(sys.argv[8]).read()
p = next(x for x in json.load(open(report))["processes"] if x["pid"] == pid)
d = json.load(open(done))
g = p["heap_growth"]
assert g is not None, "no heap_growth object"
assert g["no_stack_events"] == 0, g

def in_function(stack, name):
    # 3.8-3.11 run a list comprehension as its own function (<listcomp>)
    # called from the named one; 3.12+ inline it (PEP 709).
    return any(f["function"].split(".")[0] == name for f in stack["python"][:2])

def kind(stacks, k, field="bytes"):
    return sum(s["kinds"][k][field] for s in stacks)

# grow_mmap(): each 1 MiB bytearray is one anonymous mmap of 1 MiB and a
# page (glibc's chunk header rounds the request up to the next page).
mm = [s for s in g["stacks"] if in_function(s, "grow_mmap")]
assert mm, "no stack in grow_mmap: %s" % [s["python"][:2] for s in g["stacks"][:5]]
assert kind(mm, "mmap", "events") == d["mmap_count"], (kind(mm, "mmap", "events"), d)
assert kind(mm, "mmap") == d["mmap_count"] * (d["mmap_bytes"] // d["mmap_count"] + 4096), kind(mm, "mmap")
top = g["stacks"][0]
assert in_function(top, "grow_mmap"), "largest stack is not grow_mmap: %s" % top["python"][:2]

# grow_pools(): POOL_OBJS blocks of one size class fill whole pools.
gp = [s for s in g["stacks"] if in_function(s, "grow_pools")]
assert gp, "no stack in grow_pools"
block = (d["block"] + 15) // 16 * 16
per_pool = (pool_size - 48) // block   # the pool header is 48 bytes on 64-bit
pools_needed = -(-d["pool_objs"] // per_pool)
if unit == "arenas":
    assert not g["pools_probed"], "--heap-growth=arenas probed pools"
    assert "(--heap-growth counts arenas; =pools probes them)" in g["pools_reason"], g["pools_reason"]
    # not probed: null, not a zero that reads as "no pool was refilled"
    assert g["kinds"]["pool"] is None, g["kinds"]["pool"]
    assert all(s["kinds"]["pool"] is None for s in g["stacks"]), g["stacks"][0]["kinds"]
# /metrics: a pool series only where pools were probed (else it would read 0)
for fam in ("pymemtrace_heap_growth_bytes_total", "pymemtrace_heap_growth_events_total"):
    kinds = set(re.findall(r'^%s\{[^}]*kind="(\w+)"' % fam, metrics, re.M))
    assert "arena" in kinds and "mmap" in kinds, (fam, kinds)
    assert ("pool" in kinds) == g["pools_probed"], (fam, kinds, g["pools_probed"])
if g["pools_probed"]:
    got = kind(gp, "pool")
    want = pools_needed * pool_size
    # a few pools of that class may already be partly used, or handed on
    assert abs(got - want) <= 0.02 * want, (got, want)
    print("# pools: grow_pools %d bytes in %d pools, expected %d" % (got, kind(gp, "pool", "events"), want))
else:
    if unit != "arenas":
        assert ver == "3.8", "pools not probed on %s: %s" % (ver, g["pools_reason"])
        assert "3.8 inlines" in g["pools_reason"], g["pools_reason"]
    got = kind(gp, "arena")
    want = pools_needed * pool_size
    # arenas come whole: within two arenas of the pools needed
    assert want - arena_size <= got <= want + 2 * arena_size, (got, want)
    print("# arenas: grow_pools %d bytes in %d arenas, pools needed %d" % (got, kind(gp, "arena", "events"), want))
PY
}

@test "heap-growth=pools: named functions' pools and mmaps on debian python3.11" { growth_check debian3.11; }
@test "heap-growth=pools: named functions' pools and mmaps on python3.8" { growth_check py3.8; }
@test "heap-growth=pools: named functions' pools and mmaps on python3.9" { growth_check py3.9; }
@test "heap-growth=pools: named functions' pools and mmaps on python3.10" { growth_check py3.10; }
@test "heap-growth=pools: named functions' pools and mmaps on python3.11" { growth_check py3.11; }
@test "heap-growth=pools: named functions' pools and mmaps on python3.12" { growth_check py3.12; }
@test "heap-growth=pools: named functions' pools and mmaps on python3.13" { growth_check py3.13; }

@test "heap-growth=arenas: named functions' arenas and mmaps, no pool probe, on debian python3.11" {
	growth_check debian3.11 arenas
}
@test "heap-growth=arenas: named functions' arenas and mmaps, no pool probe, on python3.11" {
	growth_check py3.11 arenas
}
@test "heap-growth=arenas: named functions' arenas and mmaps, no pool probe, on python3.13" {
	growth_check py3.13 arenas
}

@test "heap-growth: an unknown unit is a usage error" {
	run "$PMT" --heap-growth=blocks -p 1
	assert_eq "exit status" 2 "$status"
	[[ "$output" == *"invalid --heap-growth unit 'blocks': want arenas or pools"* ]]
}

# text_check UNIT: the text report of --heap-growth[=UNIT] (UNIT "" for the
# bare flag) lists grow_mmap() first, and says whether pools were probed.
text_check() {
	use_interp py3.11
	require_tracing
	start_fixture "$PY" heap_growth.py
	start_tracer --heap-growth${1:+=$1} --top 3 -p "$FIX_PID"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	grep -q "^heap growth  *${1:-arenas} " "$TRACER_OUT" || { show_tracer; return 1; }
	# the first stack's innermost frame (its name may wrap to the next
	# line) is in grow_mmap
	awk '/^top stacks by heap growth/ { on = 1; next } on && /^  #2/ { exit } on' "$TRACER_OUT" |
		grep -A1 -m1 '\.py:' | grep -q 'grow_mmap' || { show_tracer; return 1; }
	if [ "$1" = pools ]; then
		grep -q 'growth_pool: attached (uprobe_multi), uprobe' "$TRACER_OUT" || { show_tracer; return 1; }
	else
		grep -q 'growth_pool: UNAVAILABLE, pool refills not probed' "$TRACER_OUT" ||
			{ show_tracer; return 1; }
	fi
}

@test "heap-growth: the bare flag counts arenas, no pool probe; the text report lists the growing function first" {
	text_check ""
}

@test "heap-growth=pools: the pool probe is attached; the text report lists the growing function first" {
	text_check pools
}
