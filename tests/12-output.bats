#!/usr/bin/env bats
# The report side with no root and no BPF: /proc parsers, the JSON writer,
# the unit formatters, both report writers on a synthetic report with known
# numbers (pmt-test-tool report-sample, tests/helper/output_cmds.c), and the
# cache counters.

load lib/common

TOOL=${PMT_TEST_TOOL:-$PMT_ROOT/build/pmt-test-tool}

setup() {
	[ -x "$TOOL" ] || { echo "# $TOOL is not built (make build/pmt-test-tool)" >&3; return 1; }
}

# check_json FILE: runs the Python assertions on stdin with `r` bound to
# the parsed FILE; any failed assert prints its expression.
check_json() {
	"$HOST_PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
src = sys.stdin.read()
for n, line in enumerate(src.splitlines(), 1):
    if not line.strip():
        continue
    try:
        ok = eval(line, {"r": r, "p": r["processes"][0] if r.get("processes") else None})
    except Exception as e:
        print("# line %d: %s: %r" % (n, line.strip(), e)); sys.exit(1)
    if not ok:
        print("# failed: " + line.strip()); sys.exit(1)
' "$1"
}

is_valid_json() {
	"$HOST_PY" -c 'import json, sys; json.load(sys.stdin)'
}

# ---- /proc/PID/stat ---------------------------------------------------------

@test "procstat: parses minflt (field 10), majflt (12), utime + stime (14, 15) of a real stat line" {
	f=$BATS_TEST_TMPDIR/stat
	echo '13074 (cat) R 13069 13069 3229 0 -1 4194304 100 7 3 2 25 17 0 0 20 0 1 0 69573 3133440 416 18446744073709551615 94167060463616' >"$f"
	run "$TOOL" procstat-parse-stat "$f"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "comm cat" ]
	[ "${lines[1]}" = "state R" ]
	[ "${lines[2]}" = "min_flt 100" ]
	[ "${lines[3]}" = "maj_flt 3" ]
	[ "${lines[4]}" = "cpu_ticks 42" ]
}

@test "procstat: a stat line that ends after majflt gives the faults and no CPU time, not zero" {
	f=$BATS_TEST_TMPDIR/stat
	echo '13074 (cat) R 13069 13069 3229 0 -1 4194304 100 7 3' >"$f"
	run "$TOOL" procstat-parse-stat "$f"
	[ "$status" -eq 0 ]
	[ "${lines[3]}" = "maj_flt 3" ]
	[ "${lines[4]}" = "cpu_ticks -" ]
	echo '13074 (cat) R 13069 13069 3229 0 -1 4194304 100 7 3 2 25 x17' >"$f"
	run "$TOOL" procstat-parse-stat "$f"
	[ "$status" -eq 0 ]
	[ "${lines[4]}" = "cpu_ticks -" ]
}

@test "procstat: a comm holding spaces and parentheses is split at the last ')'" {
	f=$BATS_TEST_TMPDIR/stat
	# The target chose its comm: ") S 1 2 3 4 5 6 7 8 9" would fool a parser
	# that split at the first ')'.
	echo '42 (a) S 1 2 3 ( ) Z 7 8 9 1 2 3 4 5 6 17 0 0 0 0 0 0' >"$f"
	run "$TOOL" procstat-parse-stat "$f"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "comm a) S 1 2 3 ( " ]
	[ "${lines[1]}" = "state Z" ]
	[ "${lines[2]}" = "min_flt 4" ]
	[ "${lines[3]}" = "maj_flt 6" ]
}

@test "procstat: malformed stat lines are rejected, not half-parsed" {
	f=$BATS_TEST_TMPDIR/stat
	for line in '' '42 cat R 1 2 3 4 5 6 7 8 9' '42 (cat R 1 2 3 4 5 6 7 8 9' \
		'42 (cat) R 1 2 3 4 5 6 7' '42 (cat) R 1 2 3 4 5 6 -7 8 9' \
		'42 (cat) R 1 2 3 4 5 6 x7 8 9' '42 (cat) R 1 2 3 4 5 6 7 8 99999999999999999999' \
		'42 (cat) RS 1 2 3 4 5 6 7 8 9' ')42 (cat R 1 2 3 4 5 6 7 8 9'; do
		printf '%s\n' "$line" >"$f"
		run "$TOOL" procstat-parse-stat "$f"
		[ "$status" -eq 1 ] || { echo "# accepted: '$line' -> $output" >&3; return 1; }
		[ "$output" = "error: Invalid argument" ]
	done
}

# ---- /proc/PID/status ---------------------------------------------------------

@test "procstat: VmRSS and VmHWM from status, in bytes" {
	f=$BATS_TEST_TMPDIR/status
	printf 'Name:\tpython3\nVmPeak:\t  99999 kB\nVmHWM:\t   97280 kB\nVmRSS:\t   92262 kB\nRssAnon:\t 1 kB\n' >"$f"
	run "$TOOL" procstat-parse-status "$f"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "rss_bytes $((92262 * 1024))" ]
	[ "${lines[1]}" = "hwm_bytes $((97280 * 1024))" ]
}

@test "procstat: status without Vm lines, with garbage or overflowing numbers is rejected" {
	f=$BATS_TEST_TMPDIR/status
	for text in 'Name:\tzombie\nState:\tZ (zombie)\n' 'VmRSS:\t 12 kB\n' \
		'VmHWM:\t 12 kB\nVmRSS:\t 12x kB\n' 'VmHWM:\t 12 kB\nVmRSS:\t -12 kB\n' \
		'VmHWM:\t 12 kB\nVmRSS:\t 12 MB\n' 'VmHWM:\t 12 kB\nVmRSS:\t kB\n' \
		'VmHWM:\t 12 kB\nVmRSS:\t 18446744073709551615 kB\n'; do
		printf "$text" >"$f"
		run "$TOOL" procstat-parse-status "$f"
		[ "$status" -eq 1 ] || { echo "# accepted: '$text' -> $output" >&3; return 1; }
	done
}

@test "procstat: samples a live process, and says ESRCH for a gone one" {
	run "$TOOL" procstat $$
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^state\ [RSD]$ ]]
	rss=$(printf '%s\n' "${lines[@]}" | sed -n 's/^rss_bytes //p')
	[ "$rss" -gt 0 ]
	hwm=$(printf '%s\n' "${lines[@]}" | sed -n 's/^hwm_bytes //p')
	[ "$hwm" -ge "$rss" ]

	sleep 0 &
	gone=$!
	wait "$gone"
	run "$TOOL" procstat "$gone"
	[ "$status" -eq 1 ]
	[ "$output" = "error: No such process" ]
}

# ---- the JSON writer ------------------------------------------------------------

@test "json: quotes, backslashes and control characters are escaped and round-trip" {
	s=$'a"b\\c\n\t\r\b\f\x01\x1f\x7f /é€😀'
	run "$TOOL" json-escape "$s"
	[ "$status" -eq 0 ]
	[ "$output" = '"a\"b\\c\n\t\r\b\f\u0001\u001f\u007f /é€😀"' ]
	back=$(printf '%s' "$output" | "$HOST_PY" -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))'; echo x)
	[ "${back%x}" = "$s" ]
}

@test "json: each byte of invalid UTF-8 becomes U+FFFD, and the output stays valid JSON" {
	# stray byte, bad continuation, surrogate, past U+10FFFF, overlong, cut short
	s=$'\xff|\xc3\x28|\xed\xa0\x80|\xf4\x90\x80\x80|\xc0\xaf|\xe2\x82'
	run "$TOOL" json-escape "$s"
	[ "$status" -eq 0 ]
	[ "$output" = '"\ufffd|\ufffd(|\ufffd\ufffd\ufffd|\ufffd\ufffd\ufffd\ufffd|\ufffd\ufffd|\ufffd\ufffd"' ]
	printf '%s' "$output" | is_valid_json
}

@test "json: unbalanced use of the writer is detected" {
	run "$TOOL" json-misuse
	[ "$status" -eq 0 ]
	[[ "$output" != *"NOT DETECTED"* ]]
	[ "${#lines[@]}" -eq 8 ]
}

# ---- units ----------------------------------------------------------------------

@test "units: binary byte sizes and durations, never rounded up to 1024.0 or 1000.0" {
	check() { run "$TOOL" units "$1" "$2"; [ "$output" = "$3" ] || { echo "# $1 $2: '$output' != '$3'" >&3; return 1; }; }
	check bytes 0 "0 B"
	check bytes 1023 "1023 B"
	check bytes 1536 "1.5 KiB"
	check bytes 1048575 "1.0 MiB"
	check bytes $((12 << 20)) "12.0 MiB"
	check bytes 18446744073709551615 "16.0 EiB"
	check sbytes -135168 "-132.0 KiB"
	check sbytes 1048576 "+1.0 MiB"
	check sbytes -9223372036854775808 "-8.0 EiB"
	check ns 999 "999 ns"
	check ns 1500 "1.5 us"
	check ns 999999 "1.0 ms"
	check ns 2000000000 "2.00 s"
	check seconds 3.01 "3.01 s"
	check seconds -1 "?"
}

# ---- the JSON report --------------------------------------------------------------

@test "report json: exact values at the contract's key paths" {
	f=$BATS_TEST_TMPDIR/r.json
	"$TOOL" report-sample json >"$f"
	is_valid_json <"$f"
	check_json "$f" <<'EOF'
r["pymemtrace"]["version"] == "0.1.0"
r["final"] is True and r["elapsed_seconds"] == 3.01
len(r["processes"]) == 2
p["pid"] == 4242 and p["comm"] == "python3.11" and p["state"] == "running"
p["exit_status"] is None and p["traced_seconds"] == 3.0 and isinstance(p["traced_seconds"], float)
p["python"] == {"version": "3.11.2", "version_source": "Py_Version in .dynsym", "interpreter": "/usr/bin/python3.11", "kind": "static"}
[x["name"] for x in p["probes"]] == ["gc_start", "gc_done", "arena_alloc", "pymalloc", "mmap"]
[x["status"] for x in p["probes"]] == ["attached", "attached", "attached", "unavailable", "attached"]
p["probes"][0]["how"] == "usdt python:gc__start @0x426fc1" and "LTO" in p["probes"][3]["reason"]
[x["link"] for x in p["probes"]] == ["uprobe_multi", "perf uprobe", None, None, None]
p["gc"]["collections"] == [120, 10, 5] and p["gc"]["collected"] == 1057
p["gc"]["pause_ns"]["total"] == 5440000 and p["gc"]["pause_ns"]["max"] == 2000000
p["gc"]["pause_ns"]["count"] == 134
len(p["gc"]["pause_ns"]["hist"]) == 40 and all(isinstance(v, int) for v in p["gc"]["pause_ns"]["hist"])
{i: v for i, v in enumerate(p["gc"]["pause_ns"]["hist"]) if v} == {10: 100, 12: 20, 14: 10, 20: 4}
p["gc"]["pause_ns"]["p50"] == 2048 and p["gc"]["pause_ns"]["p99"] == 2 ** 21
[g["generation"] for g in p["gc"]["generations"]] == [0, 1, 2]
[g["collections"] for g in p["gc"]["generations"]] == [120, 10, 5]
[g["collected"] for g in p["gc"]["generations"]] == [1000, 50, 7]
[g["pause_ns"]["total"] for g in p["gc"]["generations"]] == [240000, 200000, 5000000]
[g["pause_ns"]["max"] for g in p["gc"]["generations"]] == [8000, 30000, 2000000]
[g["pause_ns"]["count"] for g in p["gc"]["generations"]] == [120, 10, 4]
p["gc"]["generations"][2]["pause_ns"]["hist"][20] == 4 and len(p["gc"]["generations"][2]["pause_ns"]["hist"]) == 40
p["arenas"] == {"allocated": 12, "freed": 3, "live": 9, "allocated_bytes": 12 << 20, "freed_bytes": 3 << 20, "live_bytes": 9 << 20, "alloc_failed": 0}
p["syscalls"]["mmap"] == {"calls": 23, "bytes": (80 << 20) + 1258291, "anon": {"calls": 20, "bytes": 80 << 20}, "file": {"calls": 3, "bytes": 1258291}}
p["syscalls"]["munmap"] == {"calls": 4, "bytes": 10 << 20}
p["syscalls"]["mremap"] == {"calls": 2, "bytes": 1 << 20}
p["syscalls"]["brk"] == {"calls": 5, "bytes": -135168}
p["syscalls"]["failed"] == 1
p["faults"] == {"minor": 20480, "major": 3}
p["cache"]["references"] is None and p["cache"]["misses"] is None
p["cache"]["reason"].startswith("no hardware PMU: perf_event_open(cache-references)")
p["rss_bytes"] == {"start": 10695475, "end": 94476697, "peak": 99614720, "peak_exact": True}
p["lost"] == 4
p["lost_detail"] == {"ringbuf_drops": 0, "pending_full": 2, "gc_unmatched": 1, "gc_bad_generation": 0, "probes_failed": 1, "events_dropped": 0, "forks_untracked": 0, "alloc_live_map_full": 0, "alloc_stack_map_full": 0, "alloc_truncated_stacks": 0, "alloc_stack_errors": 0, "alloc_unresolved_frames": 0, "alloc_unreadable": 0, "growth_no_stack": 0, "growth_stack_map_full": 0, "growth_truncated_stacks": 0, "growth_stack_errors": 0}
all(x["alloc"] is None and x["stacks"] == [] for x in r["processes"])
r["totals"] == {"processes": 2, "retired": 0, "forks_followed": 0, "forks_missed": 0, "dropped_at_exec": 0, "all_path": None, "all_untracked": 0, "gc_collections": [120, 10, 5], "arenas_allocated": 12, "mmap_bytes": (80 << 20) + 1258291, "lost": 11}
r["ringbuf_drops"] == 7
EOF
}

@test "report json: hostile target strings, exits, nulls for what was not measured" {
	f=$BATS_TEST_TMPDIR/r.json
	"$TOOL" report-sample json >"$f"
	check_json "$f" <<'EOF'
r["processes"][1]["comm"] == 'ev"il\\\n\x1b[2J\ufffd)(x '
r["processes"][1]["python"]["interpreter"] == "/tmp/dir with spaces/\ufffd(python\x01"
r["processes"][1]["python"]["version_source"] is None
r["processes"][1]["state"] == "exited" and r["processes"][1]["exit_status"] == 256
r["processes"][1]["state_detail"] == "exited with code 1"
r["processes"][1]["faults"] == {"minor": None, "major": None}
r["processes"][1]["cache"] == {"references": 1000, "misses": 250, "reason": None}
r["processes"][1]["gc"]["pause_ns"]["p50"] == 0 and r["processes"][1]["gc"]["pause_ns"]["count"] == 0
r["processes"][1]["lost"] == 0
EOF
}

@test "report json: an interval report is marked final: false" {
	f=$BATS_TEST_TMPDIR/r.json
	"$TOOL" report-sample json interval >"$f"
	check_json "$f" <<'EOF'
r["final"] is False
r["processes"][0]["gc"]["collections"] == [120, 10, 5]
EOF
}

# ---- the text report ----------------------------------------------------------------

@test "report text: sections, units, lost data next to the flag that fixes it" {
	run "$TOOL" report-sample text
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "pymemtrace: 2 processes, 3.01 s" ]
	[[ "$output" == *"== pid 4242 python3.11 (CPython 3.11.2, /usr/bin/python3.11, static)  running"* ]]
	grep -qxE 'collections +120 +10 +5' <<<"$output"
	grep -qxE 'pause total +240\.0 us +200\.0 us +5\.0 ms' <<<"$output"
	grep -qF 'p50 <= 2.0 us  p99 <= 2.1 ms' <<<"$output"
	grep -qF 'pause histogram (all generations):' <<<"$output"
	grep -qxF 'arenas        allocated 12 (12.0 MiB)  freed 3 (3.0 MiB)  net +9 (+9.0 MiB)' <<<"$output"
	grep -qxF 'mmap          anon 20 calls 80.0 MiB   file 3 calls 1.2 MiB' <<<"$output"
	grep -qF 'brk 5 calls -132.0 KiB' <<<"$output"
	grep -qxF 'page faults   minor 20480  major 3' <<<"$output"
	grep -qxF 'RSS           start 10.2 MiB  end 90.1 MiB  peak 95.0 MiB (exact)' <<<"$output"
	grep -qF 'pymalloc: UNAVAILABLE' <<<"$output"
	grep -qxF 'probes        gc_start: attached (uprobe_multi), usdt python:gc__start' <<<"$output"
	grep -qF 'gc_done: attached (perf uprobe), usdt python:gc__done @0x4270aa' <<<"$output"
	grep -qxF 'lost data     pending map full: 2 hits lost; raise --max-threads (now 8192)' <<<"$output"
	grep -qxF '              GC end without start: 1 untimed; attached mid-collection' <<<"$output"
	grep -qxF '              probes failed: 1 not attached; see probes (-v says why)' <<<"$output"
	grep -qF 'ring buffer drops 7 not tied to a process (increase --ringbuf-kb)' <<<"$output"
	grep -qxF 'lost data     none' <<<"$output"
	# Without --alloc there is no allocations section at all.
	run grep -E "^(allocations|coverage|top stacks) " <<<"$output"
	[ "$status" -eq 1 ]
}

@test "report text: unsupported cache counters say why and never print zeros" {
	report=$("$TOOL" report-sample text)
	grep -qxF 'cache         unsupported: no hardware PMU: perf_event_open(cache-references)' <<<"$report"
	# Process 1 has no counters: no numbers at all on its cache line.
	proc1=$(sed -n '/^== pid 4242/,/^== pid 4243/p' <<<"$report")
	run grep -E '^cache .*(references|misses) ' <<<"$proc1"
	[ "$status" -eq 1 ]
	# Process 2 has them.
	grep -qxF 'cache         references 1000  misses 250 (25.0%)' <<<"$report"
	# GC probes that did not attach give "unavailable", not zero collections.
	proc2=$(sed -n '/^== pid 4243/,$p' <<<"$report")
	grep -qxF 'GC            unavailable (see probes)' <<<"$proc2"
	grep -qxF 'page faults   unavailable' <<<"$proc2"
}

@test "report text: under 80 columns, and target strings cannot reach the terminal raw" {
	"$TOOL" report-sample text >"$BATS_TEST_TMPDIR/t"
	"$TOOL" report-sample text interval >>"$BATS_TEST_TMPDIR/t"
	run awk 'length($0) >= 80' "$BATS_TEST_TMPDIR/t"
	[ -z "$output" ]
	# No control characters but the newlines, no invalid UTF-8.
	run grep -cP '[\x00-\x09\x0b-\x1f\x7f]' "$BATS_TEST_TMPDIR/t"
	[ "$output" = 0 ]
	iconv -f UTF-8 -t UTF-8 "$BATS_TEST_TMPDIR/t" >/dev/null
	grep -qF 'ev"il\\\x0a\x1b[2J\xff)(x' "$BATS_TEST_TMPDIR/t"
}

@test "report text: an interval report is one line per process" {
	run "$TOOL" report-sample text interval
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	[ "${lines[0]}" = "pymemtrace: interval at 3.01 s" ]
	[[ "${lines[1]}" =~ ^\ +PID\ COMM\ +GC\ 0/1/2\ +PAUSE\ +ARENAS\ +MMAP\ +RSS\ LOST$ ]]
	[[ "${lines[2]}" =~ ^\ +4242\ python3\.11\ +120/10/5\ +5\.4\ ms\ +\+12/-3\ +81\.2\ MiB\ +90\.1\ MiB\ 4$ ]]
	[[ "${lines[3]}" =~ ^\ +4243\  ]]
}

# The overhead block for given figures (pmt-test-tool overhead-text ESTIMATE
# CPU), joined into one line: its wrapping depends on the figures.
overhead_block() {
	"$TOOL" overhead-text "$@" | sed -n '/^overhead/,/^GC timing/p' | tr -s ' \n' '  '
}

@test "report text: the overhead share, and past a tenth the slowdown it means" {
	local t
	t=$(overhead_block 0.05 1)
	[[ "$t" == *"at least 50.0 ms of the traced processes' 1.00 s of CPU (5.00%)"* ]] || { echo "# $t" >&3; return 1; }
	[[ "$t" != *"slower"* ]] || { echo "# $t" >&3; return 1; }
	t=$(overhead_block 0.5 1)
	[[ "$t" == *"(50.00%)"*"ran at least 2.0x slower while traced"* ]] || { echo "# $t" >&3; return 1; }
	t=$(overhead_block 0.995 1)
	[[ "$t" == *"(99.50%)"*"ran at least 200.0x slower while traced"* ]] || { echo "# $t" >&3; return 1; }
	run "$TOOL" overhead-text 0.05 1 interval
	[ "${lines[2]}" = "probes so far: at least 5.00% of the traced processes' CPU" ]
}

# Near 100% the start-up cost's own error can carry the estimate past the
# CPU (seen: 102.6% with kernel.bpf_stats_enabled=1, where the loop's own
# rate said 97.6%): no "at least", no slowdown factor, and it says why.
@test "report text: an estimate over the traced processes' CPU is not called a lower bound" {
	local t
	t=$(overhead_block 1.026 1)
	[[ "$t" == *"1.03 s by the start-up cost, more than the traced processes' 1.00 s of CPU (102.60%): a hit cost them less than it did here at start-up, and the probes took about all of their CPU"* ]] ||
		{ echo "# $t" >&3; return 1; }
	[[ "$t" == *"ran many times slower while traced (how many, a share this near 100% cannot tell)"* ]] ||
		{ echo "# $t" >&3; return 1; }
	[[ "$t" != *"at least"* && "$t" != *"x slower"* ]] || { echo "# $t" >&3; return 1; }
	# exactly 100% is past it too: no division by zero
	t=$(overhead_block 1 1)
	[[ "$t" == *"(100.00%)"*"ran many times slower"* ]] || { echo "# $t" >&3; return 1; }
	run "$TOOL" overhead-text 1.026 1 interval
	[ "${lines[2]}" = "probes so far: about all of the traced processes' CPU (estimate 102.60%)" ]
	"$TOOL" overhead-text 1.026 1 | awk 'length($0) >= 80 { print "# too long: " $0; bad = 1 } END { exit bad }' >&3
}

# ---- cache counters ------------------------------------------------------------------

# `perf stat` exits 0 even when it prints "<not supported>": look at the count.
has_pmu() {
	if command -v perf >/dev/null 2>&1; then
		perf stat -x, -e cache-misses true 2>&1 | grep -qE '^[0-9]+,'
	else
		[ -e /sys/bus/event_source/devices/cpu ] || [ -e /sys/bus/event_source/devices/cpu_core ]
	fi
}

@test "perfcount: without a PMU, 'unsupported' with the reason; with one, counts" {
	sleep 5 &
	pid=$!
	PMT_PIDS+=("$pid")
	run "$TOOL" perfcount "$pid"
	[ "$status" -eq 0 ]
	if has_pmu; then
		[[ "${lines[0]}" =~ ^references\ [0-9]+$ ]]
		[[ "${lines[1]}" =~ ^misses\ [0-9]+$ ]]
	else
		[[ "$output" =~ ^unsupported:\ .+ ]]
		[[ "$output" == *"no hardware PMU: perf_event_open(cache-references) failed"* ]]
	fi
}

@test "perfcount: a process that is gone is an error with a reason, not zeros" {
	sleep 0 &
	gone=$!
	wait "$gone"
	run "$TOOL" perfcount "$gone"
	[ "$status" -eq 0 ]
	[[ "$output" == "unsupported: cannot list threads in '/proc/$gone/task': No such process" ]]
}

@test "loss table: a row for every reason, unique snake_case keys, every field set, flags where a size helps" {
	run "$TOOL" lost-table
	[ "$status" -eq 0 ]
	assert_eq "rows" 17 "${#lines[@]}"
	assert_eq "distinct keys" 17 "$(cut -f1 <<<"$output" | sort -u | wc -l)"
	assert_eq "keys that are not snake_case" "" "$(cut -f1 <<<"$output" | grep -v '^[a-z][a-z0-9_]*$')"
	assert_eq "unset fields" "" "$(grep -F '(null)' <<<"$output")"
	# A reason with a size setting names its flag in the fix.
	assert_eq "size rows whose fix names no flag" "" \
		"$(awk -F'\t' '$3 != 0 && $6 !~ /^raise --/' <<<"$output")"
	assert_eq "probes_failed is no counter" "probes_failed	0" "$(grep '^probes_failed' <<<"$output" | cut -f1,2)"
}
