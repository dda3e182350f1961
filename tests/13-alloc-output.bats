#!/usr/bin/env bats
# The --alloc report in every format, with no root and no BPF: pmt-test-tool
# report-sample-alloc (tests/helper/output_cmds.c) builds a report with known
# stacks and hostile target strings, prints it, and frees it with
# report_release().  Process 5151 has partial coverage and is sampled,
# 5152 has a hostile comm and unknown coverage, 5153 has --alloc off, 5154
# has 97% coverage and shares frames with 5151.

load lib/common

TOOL=${PMT_TEST_TOOL:-$PMT_ROOT/build/pmt-test-tool}

setup() {
	[ -x "$TOOL" ] || { echo "# $TOOL is not built (make build/pmt-test-tool)" >&3; return 1; }
	for m in json text folded-live folded-alloc speedscope; do
		"$TOOL" report-sample-alloc "$m" >"$BATS_TEST_TMPDIR/$m" || return 1
	done
}

# py_check FILE...: runs the Python program on stdin with the files as
# sys.argv[1:]; a failed assert prints its line and the values involved.
py_check() {
	"$HOST_PY" - "$@"
}

# ---- JSON -------------------------------------------------------------------------

@test "alloc json: exact values at every key path" {
	py_check "$BATS_TEST_TMPDIR/json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
a, b, c, d = r["processes"]
assert [p["pid"] for p in r["processes"]] == [5151, 5152, 5153, 5154]
assert a["alloc"] == {
    "count": 100000, "bytes": 6400000, "frees": 90000, "freed_bytes": 5000000,
    "live_bytes": 1400000, "live_count": 10000, "peak_live_bytes": 2000000,
    "rate_bytes_per_s": 6400000 / 3.0, "coverage": 0.35,
    "coverage_reason": "LTO build: about 190 call sites inline pymalloc and are not probed",
    "sampled": True, "sample_every": 64, "estimated": True,
    "sample_mode": "1_in_n", "windows": None, "unavailable_reason": None,
    "retained_bytes": 3 << 20, "retained_reason": None,
    "lost": {"live_map_full": 5, "stack_map_full": 2, "truncated_stacks": 1,
             "stack_errors": 3, "unresolved_frames": 4, "unreadable": 0}}, a["alloc"]
# Unknowns are null with a reason, never zeros.
assert b["alloc"]["coverage"] is None
assert b["alloc"]["coverage_reason"] == "no allocator call count to compare with"
assert b["alloc"]["retained_bytes"] is None
assert b["alloc"]["retained_reason"] == "pymalloc's arena list could not be read"
assert b["alloc"]["sampled"] is False and b["alloc"]["estimated"] is False
assert b["alloc"]["sample_every"] == 1
assert d["alloc"]["coverage"] == 0.97 and d["alloc"]["coverage_reason"] is None
assert d["alloc"]["retained_bytes"] == 0 and d["alloc"]["retained_reason"] is None
# --alloc off: null and no stacks.
assert c["alloc"] is None and c["stacks"] == []
# The alloc losses count in the process's lost total and its detail.
assert a["lost"] == 15, a["lost"]
assert {k: v for k, v in a["lost_detail"].items() if k.startswith("alloc_")} == {
    "alloc_live_map_full": 5, "alloc_stack_map_full": 2, "alloc_truncated_stacks": 1,
    "alloc_stack_errors": 3, "alloc_unresolved_frames": 4, "alloc_unreadable": 0}
assert b["lost"] == c["lost"] == d["lost"] == 0
assert r["totals"]["lost"] == 15
# Stacks: all of them, in the report's order, with exact frames.
assert len(a["stacks"]) == 15 and len(b["stacks"]) == 2 and len(d["stacks"]) == 2
s = a["stacks"][1]
assert s == {"bytes": 5000, "count": 5, "live_bytes": 12000, "live_count": 12,
             "python": [{"file": "/app/mod0.py", "function": "f0", "line": 10},
                        {"file": "/app/main.py", "function": "main", "line": 100}],
             "native": ["PyObject_Malloc+0x12 (/usr/bin/python3.11)"],
             "truncated": False}, s
for k in range(12):
    s = a["stacks"][1 + k]
    assert (s["live_bytes"], s["live_count"]) == ((12 - k) * 1000, 12 - k)
    assert (s["bytes"], s["count"]) == ((k + 1) * 5000, (k + 1) * 5)
    assert s["python"][0] == {"file": "/app/mod%d.py" % k, "function": "f%d" % k, "line": 10 + k}
deep = a["stacks"][13]
assert deep["truncated"] is True and deep["live_bytes"] == 0 and deep["bytes"] == 100000
assert [f["function"] for f in deep["python"]] == ["rec%d" % i for i in range(40)]
assert a["stacks"][14] == {"bytes": 300, "count": 3, "live_bytes": 0, "live_count": 0,
                           "python": [], "native": [], "truncated": False}
assert d["stacks"][0]["python"] == [] and len(d["stacks"][0]["native"]) == 2
assert all(isinstance(s["truncated"], bool) for p in (a, b, d) for s in p["stacks"])
EOF
}

@test "alloc json: hostile file, function and symbol names round-trip escaped" {
	py_check "$BATS_TEST_TMPDIR/json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["processes"][0]["stacks"][0]
assert s["python"][0] == {"file": '/tmp/evil;dir\nname"q\ufffd.py',
                          "function": 'bad;fn\x1b[2J"\ufffd(\\', "line": None}, s["python"][0]
assert s["native"] == ['sym;x\n\ufffd (lib"so)', ""], s["native"]
assert r["processes"][1]["comm"] == 'ev;il\n\ufffd"nam  x;y'
EOF
}

# ---- text -------------------------------------------------------------------------

@test "alloc text: totals, coverage, sampling and pymalloc lines" {
	t=$BATS_TEST_TMPDIR/text
	a=$(sed -n '/^== pid 5151/,/^== pid 5152/p' "$t")
	grep -qxF 'allocations   100000 blocks, 6.1 MiB  rate 2.0 MiB/s' <<<"$a"
	grep -qxF 'frees         90000 blocks, 4.8 MiB' <<<"$a"
	grep -qxF 'live          10000 blocks, 1.3 MiB  peak 1.9 MiB' <<<"$a"
	grep -qxF "coverage      35% of the interpreter's allocations" <<<"$a"
	grep -qxF 'sampled       1 in 64: counts and bytes are estimates' <<<"$a"
	grep -qxF 'pymalloc      kept by pymalloc for reuse (not a leak): 3.0 MiB' <<<"$a"
	b=$(sed -n '/^== pid 5152/,/^== pid 5153/p' "$t")
	grep -qxF 'coverage      unknown: no allocator call count to compare with' <<<"$b"
	grep -qF 'memory kept by pymalloc for reuse unknown: pymalloc' <<<"$b"
	run grep -c '^sampled' <<<"$b"
	[ "$output" = 0 ]
	d=$(sed -n '/^== pid 5154/,$p' "$t")
	grep -qxF "coverage      97% of the interpreter's allocations" <<<"$d"
	# --alloc off: no allocations section.
	c=$(sed -n '/^== pid 5153/,/^== pid 5154/p' "$t")
	run grep -E '^(allocations|coverage|top stacks) ' <<<"$c"
	[ "$status" -eq 1 ]
}

@test "alloc text: coverage under 90% says in words that the numbers are partial, and why" {
	t=$BATS_TEST_TMPDIR/text
	a=$(sed -n '/^== pid 5151/,/^== pid 5152/p' "$t" | tr '\n' ' ' | tr -s ' ')
	[[ "$a" == *"PARTIAL: pymemtrace saw only about 35% of the allocations, so the counts, bytes and stacks below are lower than the truth (LTO build: about 190 call sites inline pymalloc and are not probed)"* ]]
	# 97% is not called partial; unknown coverage says the numbers may be.
	d=$(sed -n '/^== pid 5154/,$p' "$t")
	[[ "$d" != *PARTIAL* && "$d" != *partial* ]]
	b=$(sed -n '/^== pid 5152/,/^== pid 5153/p' "$t")
	grep -qxF '              these numbers may be partial' <<<"$b"
}

@test "alloc text: top stacks by live and by allocated bytes, frames innermost first" {
	t=$BATS_TEST_TMPDIR/text
	a=$(sed -n '/^== pid 5151/,/^== pid 5152/p' "$t")
	live=$(sed -n '/^top stacks by live bytes:$/,/^top stacks by allocated bytes:$/p' <<<"$a")
	alloc=$(sed -n '/^top stacks by allocated bytes:$/,/^probes/p' <<<"$a")
	# Headers in order: the hostile stack (20000 live), then f0..f8.
	[ "$(grep -c '^  #' <<<"$live")" -eq 10 ]
	[ "$(grep -c '^  #' <<<"$alloc")" -eq 10 ]
	grep -qxF '  #1   live 19.5 KiB in 1 blocks  allocated 19.5 KiB in 1 blocks' <<<"$live"
	grep -qxF '  #2   live 11.7 KiB in 12 blocks  allocated 4.9 KiB in 5 blocks' <<<"$live"
	[ "$(grep -oE '/app/mod[0-9]+\.py:[0-9]+ f[0-9]+' <<<"$live" | tr '\n' ' ')" = \
	  "/app/mod0.py:10 f0 /app/mod1.py:11 f1 /app/mod2.py:12 f2 /app/mod3.py:13 f3 /app/mod4.py:14 f4 /app/mod5.py:15 f5 /app/mod6.py:16 f6 /app/mod7.py:17 f7 /app/mod8.py:18 f8 " ]
	# By allocated bytes: the deep stack (nothing live), f11 down to f4,
	# then of the two with 20000 bytes the one first in the report.
	grep -qxF '  #1   live 0 B in 0 blocks  allocated 97.7 KiB in 50 blocks' <<<"$alloc"
	[ "$(grep -oE ' f[0-9]+$' <<<"$alloc" | tr -d ' ' | tr '\n' ' ')" = "f11 f10 f9 f8 f7 f6 f5 f4 " ]
	grep -qxF '  #10  live 19.5 KiB in 1 blocks  allocated 19.5 KiB in 1 blocks' <<<"$alloc"
	# Python frames first, innermost first, then native frames.
	grep -A3 -xF '  #2   live 11.7 KiB in 12 blocks  allocated 4.9 KiB in 5 blocks' <<<"$live" |
		tail -3 | tr -s ' ' >"$BATS_TEST_TMPDIR/frames"
	printf ' /app/mod0.py:10 f0\n /app/main.py:100 main\n [native] PyObject_Malloc+0x12 (/usr/bin/python3.11)\n' |
		diff - "$BATS_TEST_TMPDIR/frames"
	# A deep stack shows 16 frames, says how many more, and that it was cut.
	grep -qxF '        (24 more Python frames)' <<<"$alloc"
	grep -qxF '        (truncated)' <<<"$alloc"
	# The report's top_n (--top) bounds both lists: 5154 has --top 1.
	d=$(sed -n '/^== pid 5154/,$p' "$BATS_TEST_TMPDIR/text")
	[ "$(grep -c '^  #' <<<"$d")" -eq 2 ]
	[ "$(grep -c '^  #1 ' <<<"$d")" -eq 2 ]
}

@test "alloc text: lost data next to the flag that fixes each" {
	a=$(sed -n '/^== pid 5151/,/^== pid 5152/p' "$BATS_TEST_TMPDIR/text")
	grep -qxF 'lost data     live map full: 5 untracked; raise --max-live (now 1048576)' <<<"$a"
	grep -qxF '              stack map full: 2 not recorded; raise --max-stacks (now 65536)' <<<"$a"
	grep -qxF '              stack too deep: 1 cut; fixed limit of 32 frames' <<<"$a"
	grep -qxF '              stack walk failed: 3 unreadable; target memory unreadable' <<<"$a"
	grep -qxF '              code unreadable: 4 unnamed; target memory unreadable' <<<"$a"
}

@test "alloc text: under 80 columns, and target strings cannot reach the terminal raw" {
	t=$BATS_TEST_TMPDIR/text
	run awk 'length($0) >= 80' "$t"
	[ -z "$output" ]
	run grep -cP '[\x00-\x09\x0b-\x1f\x7f]' "$t"
	[ "$output" = 0 ]
	iconv -f UTF-8 -t UTF-8 "$t" >/dev/null
	grep -qxF '        /tmp/evil;dir\x0aname"q\xff.py:? bad;fn\x1b[2J"\xc3(\\' "$t"
	grep -qxF '        [native] sym;x\x0a\xfe (lib"so)' "$t"
	grep -qxF '        [native] ?' "$t"
	grep -qF '== pid 5152 ev;il\x0a\xff"nam  x;y' "$t"
}

# ---- folded stacks ------------------------------------------------------------------

# The folded lines must be exactly what the JSON stacks say, frames root
# first, with ';' -> ',' and control characters -> U+FFFD (the JSON writer
# already turned each bad byte into U+FFFD), and weights that sum to the
# JSON totals.
check_folded() {
	py_check "$BATS_TEST_TMPDIR/json" "$BATS_TEST_TMPDIR/$1" "$2" <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
raw = open(sys.argv[2], "rb").read()
key = sys.argv[3]
text = raw.decode("utf-8")           # valid UTF-8 or this raises
def clean(s):
    s = s or "?"
    return "".join("," if ch == ";" else "\ufffd" if ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 else ch for ch in s)
want, sums = [], {}
for p in r["processes"]:
    if p["alloc"] is None:
        continue
    for s in p["stacks"]:
        if not s[key]:
            continue
        frames = ["%s (pid %d)" % (clean(p["comm"]), p["pid"])]
        frames += ["%s (%s:%s)" % (clean(f["function"]), clean(f["file"]),
                   "?" if f["line"] is None else f["line"]) for f in reversed(s["python"])]
        frames += [clean(n) for n in reversed(s["native"])]
        want.append(";".join(frames) + " %d" % s[key])
        sums[p["pid"]] = sums.get(p["pid"], 0) + s[key]
got = text.split("\n")
assert got[-1] == "", "no final newline"
got = got[:-1]
assert got == want, "\n".join("%r\n%r" % (g, w) for g, w in zip(got, want) if g != w) or (len(got), len(want))
# Each line parses on its own, as flamegraph.pl and inferno read it.
seen = {}
for line in got:
    m = re.fullmatch(r"(.+) ([0-9]+)", line)
    assert m, line
    frames = m.group(1).split(";")
    assert all(frames), line
    pid = int(re.fullmatch(r".* \(pid ([0-9]+)\)", frames[0]).group(1))
    seen[pid] = seen.get(pid, 0) + int(m.group(2))
assert seen == sums, (seen, sums)
assert 5153 not in seen
EOF
}

@test "alloc folded: live-bytes lines parse, match the stacks and sum to the live bytes" {
	check_folded folded-live live_bytes
	[ "$(wc -l <"$BATS_TEST_TMPDIR/folded-live")" -eq 16 ]
	grep -qxF 'python3.11 (pid 5151);main (/app/main.py:100);f0 (/app/mod0.py:10);PyObject_Malloc+0x12 (/usr/bin/python3.11) 12000' \
		"$BATS_TEST_TMPDIR/folded-live"
}

@test "alloc folded: allocated-bytes lines parse, match the stacks and sum to the bytes" {
	check_folded folded-alloc bytes
	[ "$(wc -l <"$BATS_TEST_TMPDIR/folded-alloc")" -eq 19 ]
	# A stack with no frames is the process alone.
	grep -qxF 'python3.11 (pid 5151) 300' "$BATS_TEST_TMPDIR/folded-alloc"
}

@test "alloc folded: nothing for a report without --alloc" {
	run "$TOOL" report-sample folded
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# ---- speedscope -----------------------------------------------------------------------

# The schema's required fields and types (speedscope's
# file-format-schema.json), then the content against the JSON report.
check_speedscope() {
	py_check "$@" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
num = (int, float)
assert f["$schema"] == "https://www.speedscope.app/file-format-schema.json"
assert isinstance(f["shared"], dict) and isinstance(f["shared"]["frames"], list)
assert isinstance(f["profiles"], list)
assert isinstance(f.get("name", ""), str) and isinstance(f.get("exporter", ""), str)
frames = f["shared"]["frames"]
for fr in frames:
    assert isinstance(fr["name"], str), fr
    assert set(fr) <= {"name", "file", "line", "col"}, fr
    assert isinstance(fr.get("file", ""), str) and isinstance(fr.get("line", 0), num), fr
keys = [(fr["name"], fr.get("file"), fr.get("line")) for fr in frames]
assert len(keys) == len(set(keys)), "frames are not deduplicated"
for p in f["profiles"]:
    assert p["type"] == "sampled" and p["unit"] == "bytes" and isinstance(p["name"], str)
    assert isinstance(p["startValue"], num) and isinstance(p["endValue"], num)
    assert p["startValue"] <= p["endValue"]
    assert len(p["samples"]) == len(p["weights"])
    assert all(isinstance(w, num) and w > 0 for w in p["weights"])
    assert all(isinstance(i, int) and 0 <= i < len(frames) for s in p["samples"] for i in s)
    assert p["endValue"] - p["startValue"] == sum(p["weights"])
if f["profiles"]:
    assert f["activeProfileIndex"] == 0
else:
    assert "activeProfileIndex" not in f
if len(sys.argv) < 3:
    sys.exit(0)
# Content: one profile per process with --alloc and weight (allocated bytes
# only where live is unknown: --sample-window), samples root first.
r = json.load(open(sys.argv[2]))
procs = [p for p in r["processes"] if p["alloc"] is not None]
assert f["exporter"] == "pymemtrace " + r["pymemtrace"]["version"]
want_profiles = []
for p in procs:
    if p["alloc"]["sample_mode"] != "windows":
        want_profiles.append((p, "live_bytes", "live bytes"))
    want_profiles.append((p, "bytes", "allocated bytes"))
assert len(f["profiles"]) == len(want_profiles), (len(f["profiles"]), len(want_profiles))
for prof, (p, key, what) in zip(f["profiles"], want_profiles):
    assert prof["name"] == "%s (pid %d): %s" % (p["comm"], p["pid"], what), prof["name"]
    stacks = [s for s in p["stacks"] if s[key]]
    assert prof["weights"] == [s[key] for s in stacks]
    for s, sample in zip(stacks, prof["samples"]):
        want = [(fr["function"] or "?", fr["file"] or "?", fr["line"]) for fr in reversed(s["python"])]
        want += [(n or "?", None, None) for n in reversed(s["native"])]
        assert [keys[k] for k in sample] == want, ([keys[k] for k in sample], want)
if len(f["profiles"]) == 6:
    # 5151's and 5154's shared stack uses the same frame indices.
    a0 = f["profiles"][0]["samples"][1]
    d1 = f["profiles"][4]["samples"][1]
    assert a0 == d1 and len(a0) == 3, (a0, d1)
EOF
}

@test "alloc speedscope: the schema's required fields, deduplicated frames, exact samples" {
	check_speedscope "$BATS_TEST_TMPDIR/speedscope" "$BATS_TEST_TMPDIR/json"
	# 4 hostile-stack frames, f0..f11, PyObject_Malloc, rec0..rec39, two
	# handler lines, malloc and _PyBytes_FromSize.
	py_check "$BATS_TEST_TMPDIR/speedscope" <<'EOF'
import json, sys
assert len(json.load(open(sys.argv[1]))["shared"]["frames"]) == 61
EOF
}

@test "alloc speedscope: a --sample-window process gets its allocated-bytes profile only" {
	local d=$BATS_TEST_TMPDIR
	"$TOOL" report-sample-alloc windowed-speedscope >"$d/w.speedscope"
	"$TOOL" report-sample-alloc windowed-json >"$d/w.json"
	check_speedscope "$d/w.speedscope" "$d/w.json"
	py_check "$d/w.speedscope" <<'EOF'
import json, sys
names = [p["name"] for p in json.load(open(sys.argv[1]))["profiles"]]
assert [n for n in names if "5151" in n] == ["python3.11 (pid 5151): allocated bytes"], names
assert len(names) == 5, names
EOF
}

@test "alloc speedscope: a report without --alloc is a valid file with no profiles" {
	"$TOOL" report-sample speedscope >"$BATS_TEST_TMPDIR/empty"
	check_speedscope "$BATS_TEST_TMPDIR/empty"
}

# ---- memory -----------------------------------------------------------------------------

@test "alloc report_release: no leaks and no invalid accesses under valgrind" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	skip_under_asan "valgrind cannot run an ASan binary; ASan checks the same"
	for m in json text folded-live folded-alloc speedscope; do
		run valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
			--error-exitcode=9 "$TOOL" report-sample-alloc "$m"
		[ "$status" -eq 0 ] || { echo "# $m: status $status" >&3; printf '# %s\n' "${lines[@]: -20}" >&3; return 1; }
	done
}
