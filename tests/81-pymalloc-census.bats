#!/usr/bin/env bats
# The out-of-process pymalloc census (user/census_pymalloc.c, through
# pmt-test-tool pymalloc-census) against the target's own
# sys._debugmallocstats(), on every interpreter present.
#
# pymalloc_pop.py builds a known population (four size classes of 25k-50k
# blocks, two of them half freed), writes its _debugmallocstats() report and
# then only waits.  The wait itself allocates a few short-lived objects, so
# a class may differ by a block or two: per class, blocks in use must agree
# within 2% or 2 blocks, whichever is more; the four classes of the
# population within 2% alone, and the arena count exactly.

load lib/common

TOOL=${PMT_TEST_TOOL:-$PMT_ROOT/build/pmt-test-tool}

setup() {
	[ -x "$TOOL" ] || { echo "# $TOOL is not built (make build/pmt-test-tool)" >&3; return 1; }
}

# compare STATS JSON: the census in JSON against the report in STATS.
compare() {
	"$HOST_PY" - "$1" "$2" <<'EOF_PY'
import json, re, sys
text = open(sys.argv[1]).read()
c = json.load(open(sys.argv[2]))["pymalloc"]
bad = []
want = {}
for m in re.finditer(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.M):
    k, size, pools, used, avail = map(int, m.groups())
    want[k] = (size, pools, used, avail)
got = {s["class"]: s for s in c["size_classes"]}
if len(want) < 8:
    bad.append("only %d size classes parsed from the report" % len(want))
for k in sorted(set(want) | set(got)):
    size, pools, used, _ = want.get(k, (0, 0, 0, 0))
    s = got.get(k, {"block_size": size, "pools": 0, "blocks_in_use": 0})
    if size and s["block_size"] != size:
        bad.append("class %d: block size %d, report %d" % (k, s["block_size"], size))
    if abs(s["blocks_in_use"] - used) > max(0.02 * used, 2):
        bad.append("class %d: %d blocks in use, report %d" % (k, s["blocks_in_use"], used))
    if abs(s["pools"] - pools) > max(0.02 * pools, 1):
        bad.append("class %d: %d pools, report %d" % (k, s["pools"], pools))
# the fixture's own classes: 40, 100, 200, 450-byte requests
for k in (2, 6, 12, 28):
    used = want.get(k, (0, 0, 0, 0))[2]
    if used < 20000:
        bad.append("class %d: the report shows only %d blocks" % (k, used))
    if abs(got.get(k, {}).get("blocks_in_use", 0) - used) > 0.02 * used:
        bad.append("class %d: %s blocks, report %d" % (k, got.get(k), used))
total_want = sum(v[2] for v in want.values())
total_got = sum(s["blocks_in_use"] for s in c["size_classes"])
if abs(total_got - total_want) > 0.02 * total_want:
    bad.append("blocks in use: %d, report %d" % (total_got, total_want))
cur = int(re.search(r"# arenas allocated current\s*=\s*([\d,]+)", text).group(1).replace(",", ""))
asz = int(re.search(r"(\d+) arenas \* (\d+) bytes/arena", text).group(2))
unused = int(re.search(r"(\d+) unused pools \*", text).group(1))
if c["arenas"] != cur:
    bad.append("arenas %d, report %d" % (c["arenas"], cur))
if c["arena_size"] != asz or c["arena_bytes"] != cur * asz:
    bad.append("arena_bytes %d (size %d), report %d x %d" % (c["arena_bytes"], c["arena_size"], cur, asz))
if c["arenas_used"] + c["arenas_free"] != c["arenas"]:
    bad.append("arenas_used + arenas_free != arenas")
if c["arenas_reported"] is not None and c["arenas_reported"] != cur:
    bad.append("arenas_reported %s, report %d" % (c["arenas_reported"], cur))
if abs(c["empty_pools"] + c["untouched_pools"] - unused) > 2:
    bad.append("free pools %d + %d, report %d unused" % (c["empty_pools"], c["untouched_pools"], unused))
if c["used_bytes"] != sum(s["blocks_in_use"] * s["block_size"] for s in c["size_classes"]):
    bad.append("used_bytes is not the sum of blocks in use x block size")
parts = ("used_bytes", "free_block_bytes", "empty_pool_bytes", "untouched_pool_bytes",
         "pool_header_bytes", "quantization_bytes", "alignment_bytes")
if sum(c[p] for p in parts) != c["arena_bytes"]:
    bad.append("the parts add up to %d, not arena_bytes %d" % (sum(c[p] for p in parts), c["arena_bytes"]))
if not c["complete"] or c["pools_skipped"] or c["arenas_skipped"]:
    bad.append("a still target walked incompletely: %s" % c["note"])
for b in bad:
    print("# " + b)
sys.exit(1 if bad else 0)
EOF_PY
}

census_vs_report() {
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/census.json" rc=0
	start_fixture "$PY" pymalloc_pop.py hold
	"$TOOL" pymalloc-census "$FIX_PID" --json >"$j" 2>"$BATS_TEST_TMPDIR/census.err" || rc=$?
	"$TOOL" pymalloc-census "$FIX_PID" >"$BATS_TEST_TMPDIR/census.txt" 2>&1 || rc=$?
	fixture_go "$FIX_CTL"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "pymalloc-census exit status" 0 "$rc" || { cat "$BATS_TEST_TMPDIR/census.err" >&3; return 1; }
	compare "$FIX_CTL/mallocstats.txt" "$j" >&3
	# the text table carries the same row as JSON for the 464-byte class
	grep -Eq "^ +28 +464 +$(jq '.pymalloc.size_classes[] | select(.class == 28) | .pools' "$j") +" \
		"$BATS_TEST_TMPDIR/census.txt"
}

@test "pymalloc census matches _debugmallocstats, debian python3.11" { census_vs_report debian3.11; }
@test "pymalloc census matches _debugmallocstats, python3.8" { census_vs_report py3.8; }
@test "pymalloc census matches _debugmallocstats, python3.9" { census_vs_report py3.9; }
@test "pymalloc census matches _debugmallocstats, python3.10" { census_vs_report py3.10; }
@test "pymalloc census matches _debugmallocstats, python3.11" { census_vs_report py3.11; }
@test "pymalloc census matches _debugmallocstats, python3.12" { census_vs_report py3.12; }
@test "pymalloc census matches _debugmallocstats, python3.13" { census_vs_report py3.13; }

# A target that allocates and frees without pause while it is walked: every
# census ends (bounded walk), and what it skipped is reported, never hidden.
census_churn() {
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/census.json" i rc
	start_fixture "$PY" pymalloc_pop.py churn
	fixture_go "$FIX_CTL"
	for ((i = 0; i < 8; i++)); do
		rc=0
		timeout 30 "$TOOL" pymalloc-census "$FIX_PID" --json >"$j" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
		if [ "$rc" -ne 0 ]; then
			# only a table that kept moving may fail, and it must say so
			assert_eq "census $i exit status" 1 "$rc"
			grep -q "moved under" "$BATS_TEST_TMPDIR/err" || { cat "$BATS_TEST_TMPDIR/err" >&3; return 1; }
			continue
		fi
		"$HOST_PY" - "$j" <<'EOF_PY' >&3
import json, sys
c = json.load(open(sys.argv[1]))["pymalloc"]
skipped = c["pools_skipped"] or c["arenas_skipped"]
ok = (c["arenas"] > 0 and c["pools_walked"] > 0 and c["complete"] == (not skipped)
      and ("incomplete" in c["note"]) == bool(skipped)
      and c["pools_skipped"] <= c["pools_walked"]
      and c["arenas_used"] + c["arenas_free"] == c["arenas"])
print("# walked %d pools in %d arenas, skipped %d pools %d arenas, re-walked %d: %s"
      % (c["pools_walked"], c["arenas"], c["pools_skipped"], c["arenas_skipped"],
         c["arenas_rewalked"], c["note"]))
sys.exit(0 if ok else 1)
EOF_PY
	done
	assert_eq "the fixture still runs" 0 "$(proc_alive "$FIX_PID"; echo $?)"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "fixture exit status" 0 "$WAIT_RC"
}

@test "pymalloc census of a churning target ends and reports what it skipped, debian python3.11" { census_churn debian3.11; }
@test "pymalloc census of a churning target ends and reports what it skipped, python3.13" { census_churn py3.13; }

@test "pymalloc census: a process that is not CPython is refused with a reason" {
	run "$TOOL" pymalloc-census $$
	assert_eq "exit status" 1 "$status"
	[[ "$output" == *"pymalloc-census: process $$:"* ]]
}

# A synthetic 3.12-shaped table in pmt-test-tool's own memory (census_cmds.c):
# good pools next to a bad size class, an unmapped pool, a wrong arena
# index, a count over capacity and an impossible arena address.  The good
# ones are counted exactly, each bad one is skipped and counted.
@test "pymalloc census: invalid records and torn pools are skipped and counted, exact values" {
	local j="$BATS_TEST_TMPDIR/synth.json"
	"$TOOL" pymalloc-census-synth >"$j"
	"$HOST_PY" - "$j" <<'EOF_PY' >&3
import json, sys
c = json.load(open(sys.argv[1]))["pymalloc"]
want_classes = [(0, 16, 1, 1000, 21), (1, 32, 2, 12, 1008), (3, 64, 1, 10, 245), (31, 512, 1, 3, 28)]
got_classes = [(s["class"], s["block_size"], s["pools"], s["blocks_in_use"], s["free_blocks"])
               for s in c["size_classes"]]
want = {"arenas": 3, "arenas_used": 3, "arenas_free": 0, "arena_bytes": 3 << 20,
        "used_bytes": 1000 * 16 + 12 * 32 + 10 * 64 + 3 * 512, "pools_used": 5,
        "empty_pools": 1, "untouched_pools": 60 + 61 + 61, "pool_header_bytes": 5 * 48,
        "quantization_bytes": 2 * 16 + 16 + 464, "alignment_bytes": 0,
        "pools_walked": 10, "pools_skipped": 4, "arenas_skipped": 1, "complete": False}
bad = ["%s: %r, want %r" % (k, c[k], v) for k, v in want.items() if c[k] != v]
if got_classes != want_classes:
    bad.append("size classes %r" % got_classes)
if not c["note"].startswith("incomplete: 4 of 10 pools and 1 arenas skipped"):
    bad.append("note %r" % c["note"])
for b in bad:
    print("# " + b)
sys.exit(1 if bad else 0)
EOF_PY
}
