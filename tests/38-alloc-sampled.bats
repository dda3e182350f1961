#!/usr/bin/env bats
# --sampled (--sample-window/--sample-period): the allocation probes armed
# only in short jittered windows.  tests/fixtures/alloc_ratio.py allocates in
# heavy() and light() in a known 3:1 ratio of bytes, interleaved every few
# microseconds, for a few seconds: every window sees both in that ratio.

load lib/common
bats_require_minimum_version 1.5.0

FIXTURE_S=4

# sampled_run LABEL OUT.json TRACER_ARGS...: the fixture traced with --alloc
# and the given arguments, its JSON report in OUT.json.
sampled_run() {
	local label=$1 out=$2
	shift 2
	start_fixture "$PY" alloc_ratio.py "$FIXTURE_S"
	start_tracer -q --alloc --top 100 -p "$FIX_PID" --json "$out" "$@"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "tracer exit status ($label)" 0 "$TRACER_RC" || { show_tracer; return 1; }
}

# The windowed report: what is estimated, what is unknown (null, with a
# reason), the windows counted; heavy() is 75% of heavy() + light().
ratio_check() {
	use_interp "$1"
	require_tracing
	local j="$BATS_TEST_TMPDIR/sampled.json"
	# 5 ms every ~100 ms: ~40 windows in the fixture's 4 s, enough for a
	# share; the defaults (1 ms a second) are for long runs and tools/bench.
	sampled_run sampled "$j" --sample-window 5 --sample-period 100 || return 1
	"$HOST_PY" - "$j" "$FIX_PID" <<'PY'
import json, sys
report, pid = sys.argv[1], int(sys.argv[2])
p = next(x for x in json.load(open(report))["processes"] if x["pid"] == pid)
a = p["alloc"]
assert a["sampled"] is True and a["estimated"] is True, a
assert a["sample_mode"] == "windows", a["sample_mode"]
w = a["windows"]
assert w["window_ms"] == 5 and w["period_ms"] == 100, w
# the fixture works ~4 s of the trace; a window opens every 50-150 ms
# (plus the ~70 ms the tracer waits at each close): at least a dozen, and
# never more than the gaps allow
assert 12 <= w["count"] <= p["traced_seconds"] / 0.05 + 1, (w, p["traced_seconds"])
assert w["traced_ms"] >= 5 * w["count"], w
assert w["scale"] is not None and w["scale"] > 1, w
assert w["failures"] == 0, w
for k in ("frees", "freed_bytes", "live_bytes", "live_count", "peak_live_bytes"):
    assert a[k] is None, (k, a[k])
assert "windows" in a["unavailable_reason"], a["unavailable_reason"]
assert a["retained_bytes"] is None and a["retained_reason"], a
assert all(s["live_bytes"] is None and s["live_count"] is None for s in p["stacks"])
# the free probes are not used, and say why; the allocation probes are
# armed in windows
frees = [q for q in p["probes"] if q["name"].endswith("free") and "arena" not in q["name"]]
assert frees and all("not used with --sample-window" in q["reason"] for q in frees), frees

def fn(s):
    return s["python"][0]["function"] if s["python"] else None
by = {}
for s in p["stacks"]:
    by[fn(s)] = by.get(fn(s), 0) + s["bytes"]
heavy, light = by.get("heavy", 0), by.get("light", 0)
assert heavy and light, sorted(by.items(), key=lambda kv: -kv[1])[:5]
share = heavy / (heavy + light)
assert abs(share - 0.75) <= 0.075, (share, heavy, light)
# the totals are the stacks' sums scaled alike: bytes >= heavy + light
assert a["bytes"] >= heavy + light, (a["bytes"], heavy, light)
print("# %d windows, %.0f ms armed, scale %.1f; heavy share %.3f" %
      (w["count"], w["traced_ms"], w["scale"], share))
PY
}

# The top-10 stacks by bytes of a full run against a windowed run of the same
# workload.  A stack's share is its bytes over all the run's stack bytes; a
# stack is its Python frames (file, function, line) and native frames.  For
# each of the full run's top 10 with a share of at least 2%: the windowed
# run's share is within 10% of it (relative).  Smaller ones are within one
# percentage point (their relative error is sampling noise).
compare_check() {
	use_interp "$1"
	require_tracing
	local full="$BATS_TEST_TMPDIR/full.json" samp="$BATS_TEST_TMPDIR/sampled.json"
	sampled_run full "$full" || return 1
	local full_pid=$FIX_PID
	sampled_run sampled "$samp" --sample-window 5 --sample-period 100 || return 1
	"$HOST_PY" - "$full" "$full_pid" "$samp" "$FIX_PID" <<'PY'
import json, sys

def shares(path, pid):
    p = next(x for x in json.load(open(path))["processes"] if x["pid"] == pid)
    out = {}
    for s in p["stacks"]:
        key = (tuple((f["file"], f["function"], f["line"]) for f in s["python"]),
               tuple(s["native"]))
        out[key] = out.get(key, 0) + s["bytes"]
    total = sum(out.values())
    assert total > 0, path
    return {k: v / total for k, v in out.items()}, p

full, pf = shares(sys.argv[1], int(sys.argv[2]))
samp, ps = shares(sys.argv[3], int(sys.argv[4]))
assert pf["alloc"]["sample_mode"] == "all" and ps["alloc"]["sample_mode"] == "windows"
top = sorted(full.items(), key=lambda kv: -kv[1])[:10]
bad = []
for key, f in top:
    s = samp.get(key, 0.0)
    ok = abs(s - f) <= 0.10 * f if f >= 0.02 else abs(s - f) <= 0.01
    name = key[0][0][1] + ":%s" % key[0][0][2] if key[0] else key[1][:1]
    print("# %-28s full %6.2f%%  sampled %6.2f%%%s" % (name, 100 * f, 100 * s, "" if ok else "  <-"))
    if not ok:
        bad.append((name, f, s))
assert not bad, bad
PY
}

@test "sampled: heavy() is 3/4 of heavy()+light(), live unknown, on debian python3.11" { ratio_check debian3.11; }
@test "sampled: heavy() is 3/4 of heavy()+light(), live unknown, on python3.8" { ratio_check py3.8; }
@test "sampled: heavy() is 3/4 of heavy()+light(), live unknown, on python3.9" { ratio_check py3.9; }
@test "sampled: heavy() is 3/4 of heavy()+light(), live unknown, on python3.10" { ratio_check py3.10; }
@test "sampled: heavy() is 3/4 of heavy()+light(), live unknown, on python3.11" { ratio_check py3.11; }
@test "sampled: heavy() is 3/4 of heavy()+light(), live unknown, on python3.12" { ratio_check py3.12; }
@test "sampled: heavy() is 3/4 of heavy()+light(), live unknown, on python3.13" { ratio_check py3.13; }

@test "sampled: top-10 stack shares match a full run, debian python3.11" { compare_check debian3.11; }
@test "sampled: top-10 stack shares match a full run, python3.8" { compare_check py3.8; }
@test "sampled: top-10 stack shares match a full run, python3.13" { compare_check py3.13; }

@test "sampled: /metrics leaves out the frees it cannot see, and keeps the allocations" {
	use_interp debian3.11
	require_tracing
	local j="$BATS_TEST_TMPDIR/s.json" d="$BATS_TEST_TMPDIR/prom" m
	mkdir -p "$d"
	sampled_run sampled "$j" --sample-window 5 --sample-period 100 --textfile "$d" || return 1
	m="$d/pymemtrace.prom"
	cat "$m" | grep '^pymemtrace_alloc' || true
	# the allocations are estimated and present; frees and live bytes are
	# unknown: families without a sample, never a 0 that looks like data
	grep -qE '^pymemtrace_alloc_allocations_total\{.*\} [1-9][0-9]*$' "$m"
	! grep -q '^pymemtrace_alloc_frees_total' "$m"
	! grep -q '^pymemtrace_alloc_freed_bytes_total' "$m"
	! grep -q '^pymemtrace_alloc_live_bytes' "$m"
	if command -v promtool >/dev/null 2>&1; then
		promtool check metrics <"$m"
	fi
}

@test "sampled: the windowed probes are detached between windows" {
	use_interp debian3.11
	require_tracing
	local j="$BATS_TEST_TMPDIR/sampled.json" i max=0 min=999 n
	start_fixture "$PY" alloc_ratio.py 3
	# one window of 5 ms every ~2 s: between windows only the permanent
	# links (GC, arenas) are left
	start_tracer -q --alloc -p "$FIX_PID" --json "$j" --sample-window 5 --sample-period 2000
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	for ((i = 0; i < 20; i++)); do
		n=$(uprobe_multi_links_of "$TRACER_PID" "$FIX_PID" | wc -l)
		[ "$n" -gt "$max" ] && max=$n
		[ "$n" -lt "$min" ] && min=$n
		sleep 0.05
	done
	stop_tracer
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	# the allocation probes' links are not among those held between windows
	n=$(jq '[.processes[0].probes[] | select(.link == "uprobe windows")] | length' "$j")
	[ "$n" -gt 0 ] || { echo "# no probe armed in windows"; return 1; }
	jq -e '.processes[0].alloc.windows.count >= 1' "$j" >/dev/null
	echo "# links held by the tracer between windows: $min..$max" >&3
	[ "$min" -ge 1 ]
	# pymalloc and libc allocation entries and returns would be 4 more links
	[ "$min" -le 2 ]
}

@test "sampled: --sampled needs --alloc, excludes --sample N and --folded-weight live" {
	run "$PMT" --sampled -p 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"need --alloc"* ]]
	run "$PMT" --alloc --sampled --sample 10 -p 1
	[ "$status" -eq 2 ]
	run "$PMT" --alloc --sampled --folded /dev/null --folded-weight live -p 1
	[ "$status" -eq 2 ]
	run "$PMT" --alloc --sample-window 600 --sample-period 1000 -p 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"under half"* ]]
	run "$PMT" --help
	[[ "$output" == *"--sampled"* && "$output" == *"--sample-window"* ]]
}

@test "sampled: without uprobe_multi links --sampled is refused, saying why (exit 7)" {
	use_interp debian3.11
	require_tracing
	start_fixture "$PY" alloc_ratio.py 1
	PYMEMTRACE_NO_UPROBE_MULTI=1 run --separate-stderr "$PMT" -q --alloc --sampled -d 1 -p "$FIX_PID"
	fixture_go "$FIX_CTL"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	[ "$status" -eq 7 ] || { echo "# status $status: $stderr" >&3; false; }
	[[ "$stderr" == *"--sample-window needs uprobe_multi links"* ]]
}
