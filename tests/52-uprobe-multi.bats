#!/usr/bin/env bats
# Attaching through uprobe_multi links (Linux 6.6+) and through the
# perf-event fallback (PYMEMTRACE_NO_UPROBE_MULTI=1, as on older kernels):
# which links exist while tracing, that none is left after exit or SIGKILL,
# and that both paths give the same exact counts.  Nothing here is timed.

load lib/common

TOOL=$PMT_TEST_TOOL
KNOB=PYMEMTRACE_NO_UPROBE_MULTI

require_multi() {
	require_tracing
	"$TOOL" uprobe-multi-probe >/dev/null ||
		skip "no uprobe_multi here: $("$TOOL" uprobe-multi-probe)"
}

# perf_uprobes_of PID: the perf-event uprobes and uretprobes PID holds.
perf_uprobes_of() {
	"$BPFTOOL" perf list -j |
		jq --argjson p "$1" '[.[] | select(.pid == $p and (.fd_type | test("uprobe")))] | length'
}

# multi_offsets PID: "offset ref_ctr_offset" lines of PID's uprobe_multi links.
multi_offsets() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		awk '/^link_type:/ { m = ($2 ~ /^u(ret)?probe_multi$/) }
		     m && /^[0-9]+[ \t]+0x/ { print $2, $3 }' "$f" 2>/dev/null
	done | sort
}

# multi_offsets_in PID PATH: the offsets of PID's uprobe_multi links on PATH.
multi_offsets_in() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		awk -v path="$2" '/^link_type:/ { m = ($2 ~ /^u(ret)?probe_multi$/) }
		     /^path:/ { m = m && $2 == path }
		     m && /^[0-9]+[ \t]+0x/ { print $2 }' "$f" 2>/dev/null
	done | sort -u
}

# perf_offsets PID: the same for PID's perf-event uprobe links.
perf_offsets() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		awk '/^link_type:/ { m = ($2 == "perf") }
		     m && /^offset:/ { o = $2 } m && /^ref_ctr_offset:/ { r = $2 }
		     END { if (m && o != "") print o, r }' "$f" 2>/dev/null
	done | sort
}

# int3_count PID FILE OFFSET...: how many of FILE's probed file offsets hold
# an int3 (0xCC) in PID's memory, read by this test from /proc/PID/maps and
# /proc/PID/mem, independently of the tracer.
int3_count() {
	python3 - "$@" <<'PY'
import os, sys
pid, path, offs = int(sys.argv[1]), os.path.realpath(sys.argv[2]), [int(o, 0) for o in sys.argv[3:]]
st = os.stat(path)
addrs = []
with open("/proc/%d/maps" % pid) as f:
    for line in f:
        a, perms, off, dev, ino = line.split()[:5]
        lo, hi = (int(x, 16) for x in a.split("-"))
        if "x" not in perms or int(ino) != st.st_ino:
            continue
        addrs += [lo + o - int(off, 16) for o in offs if 0 <= o - int(off, 16) < hi - lo]
with open("/proc/%d/mem" % pid, "rb", buffering=0) as m:
    n = 0
    for a in addrs:
        m.seek(a)
        n += m.read(1) == b"\xcc"
print(n)
PY
}

# detach_times FILE: the X of "breakpoints out of the target after X ms (N
# probed addresses read)" and the Y of "detached M probes in Y ms", as "X Y N".
detach_times() {
	sed -nE 's/^pymemtrace: breakpoints out of the target after ([0-9.]+) ms \(([0-9]+) probed addresses read\)$/\1 \2/p;
		 s/^pymemtrace: detached [0-9]+ probes in ([0-9.]+) ms$/\1/p' "$1" |
		paste -sd' ' | awk 'NF == 3 { print $1, $3, $2 }'
}

# probe_links FILE PID: "name:link" of the uprobe-based probes in the report.
probe_links() {
	jq -r --argjson p "$2" '.processes[] | select(.pid == $p) | .probes[] |
		select(.link != null) | "\(.name):\(.link)"' "$1" | sort -u | tr '\n' ' '
}

# ---- the USDT argument specs, decoded without libbpf ------------------------

@test "usdt args: Debian python3.11's gc specs and the other forms sdt.h writes" {
	require_tracer
	run "$TOOL" usdt-arg "-4@112(%rsp)" 0
	assert_eq "gc__start" "kind=deref reg=4 size=4 signed=1 off=112 cookie=0x7000001441 desc=4 bytes signed at 112(%rsp)" "$output"
	run "$TOOL" usdt-arg "-8@%r12" 0
	assert_eq "gc__done" "kind=reg reg=12 size=8 signed=1 off=0 cookie=0x18c0 desc=8 bytes signed in %r12" "$output"
	run "$TOOL" usdt-arg "8@%rbx 8@%r15 -4@%ebp" 2
	assert_eq "third argument, 32-bit name" "kind=reg reg=5 size=4 signed=1 off=0 cookie=0x1450 desc=4 bytes signed in %rbp" "$output"
	run "$TOOL" usdt-arg "-4@-1204(%rbp)" 0
	assert_eq "negative displacement" "kind=deref reg=5 size=4 signed=1 off=-1204 cookie=0xfffb4c00001451 desc=4 bytes signed at -1204(%rbp)" "$output"
	run "$TOOL" usdt-arg "-4@\$-7" 0
	assert_eq "constant" "kind=const reg=-1 size=4 signed=1 off=-7 cookie=0xfffff900001402 desc=constant -7" "$output"
	run "$TOOL" usdt-arg "1@%al 2@%r9w 4@%r15d 1@%sil" 3
	assert_eq "8-bit name" "kind=reg reg=6 size=1 signed=0 off=0 cookie=0x160 desc=1 bytes unsigned in %rsi" "$output"
}

@test "usdt args: forms not read here are refused, so libbpf's attach takes them" {
	require_tracer
	local spec
	for spec in "8@(%rax,%rbx,8)" "8@var(%rip)" "4@%ah" "8@%xmm0" "8@%rip"; do
		run "$TOOL" usdt-arg "$spec" 0
		assert_eq "status for '$spec'" 1 "$status"
		[[ "$output" == "error=ENOTSUP why="* ]] || { echo "# $spec: $output" >&3; return 1; }
	done
	for spec in "3@%rax" "4%rax" "@%rax" "4@" "4@\$" "4@\$0x10" "8@12(%rax" ""; do
		run "$TOOL" usdt-arg "$spec" 0
		assert_eq "status for '$spec'" 1 "$status"
	done
	run "$TOOL" usdt-arg "-4@%edi" 1
	assert_eq "missing argument" "error=ENOENT why=the probe has 1 arguments, not 2" "$output"
	run "$TOOL" usdt-arg "8@-9000000(%rax)" 0
	[[ "$output" == *"cookie=ERANGE:"* ]]
	run "$TOOL" usdt-arg "$(printf '8@%%rax%.0s ' {1..100})" 99
	assert_eq "the 100th argument" 0 "$status"
}

@test "feature probe: $KNOB forces the fallback" {
	require_tracing
	run env "$KNOB=1" "$TOOL" uprobe-multi-probe
	assert_eq "status" 1 "$status"
	assert_eq "output" "unsupported: $KNOB is set" "$output"
	run env "$KNOB=0" "$TOOL" uprobe-multi-probe
	[[ "$output" != *"$KNOB"* ]]
}

# ---- which links, and none left behind ---------------------------------------

@test "uprobe_multi: two links hold the target's probes while tracing, gone after exit (debian python3.11)" {
	require_multi
	local j="$BATS_TEST_TMPDIR/report.json" links id
	start_fixture /usr/bin/python3.11 gc_collect.py 2
	start_tracer -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	links=$(uprobe_multi_links_of "$TRACER_PID" "$FIX_PID")
	# One file, all entry probes: the arena allocator's mmap call and its
	# free in one link, and USDT gc__start and gc__done in one of their own
	# (--gc-budget disarms them when timing every collection costs too much).
	assert_eq "uprobe_multi links for pid $FIX_PID (id pid count)" 2 "$(wc -l <<<"$links")"
	assert_eq "probes in each link" "2 2" "$(awk '{ print $3 }' <<<"$links" | xargs)"
	for id in $(awk '{ print $1 }' <<<"$links"); do
		assert_eq "bpftool link list: link $id" 12 "$("$BPFTOOL" link list -j |
			jq --argjson i "$id" '.[] | select(.id == $i) | if .type == "uprobe_multi" then 12 else .type end')"
	done
	assert_eq "perf-event uprobes" 0 "$(perf_uprobes_of "$TRACER_PID")"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	# The links' last grace periods may end in the closer process after
	# the tracer's exit (user/attach.c close_parallel): gone within 10 s.
	for id in $(awk '{ print $1 }' <<<"$links"); do
		assert_eq "bpftool link list: link $id after exit" 0 "$(links_gone "$id")"
	done
	assert_eq "probe links in the report" \
		"arena_alloc:uprobe_multi arena_free:uprobe_multi gc_done:uprobe_multi gc_start:uprobe_multi " \
		"$(probe_links "$j" "$FIX_PID")"
	# 4 probed addresses and the 5 system-wide hooks (sys_enter, sys_exit,
	# process exit, exec and fork; no time checked).
	grep -Eq '^pymemtrace: detached 9 probes in [0-9]+\.[0-9] ms$' "$TRACER_ERR" ||
		{ show_tracer; return 1; }
}

@test "fallback: $KNOB=1 attaches perf-event uprobes, USDT included, gone after exit" {
	require_tracing
	local j="$BATS_TEST_TMPDIR/report.json"
	start_fixture /usr/bin/python3.11 gc_collect.py 2
	export "$KNOB=1"
	start_tracer -p "$FIX_PID" --json "$j"
	unset "$KNOB"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	assert_eq "perf-event uprobes" 4 "$(perf_uprobes_of "$TRACER_PID")"
	assert_eq "uprobe_multi links" "" "$(uprobe_multi_links_of "$TRACER_PID")"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	assert_eq "probe links in the report" \
		"arena_alloc:perf uprobe arena_free:perf uprobe gc_done:perf uprobe gc_start:perf uprobe " \
		"$(probe_links "$j" "$FIX_PID")"
	grep -Eq '^pymemtrace: detached 9 probes in [0-9]+\.[0-9] ms$' "$TRACER_ERR" ||
		{ show_tracer; return 1; }
}

@test "detach: the breakpoints are out of the target, read back, before the links are closed" {
	require_multi
	local offs t
	start_fixture /usr/bin/python3.11 gc_collect.py 2
	start_tracer -p "$FIX_PID"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	offs=$(multi_offsets "$TRACER_PID" | awk '{ print $1 }')
	assert_eq "int3s at the 4 probed offsets while tracing" 4 \
		"$(int3_count "$FIX_PID" /usr/bin/python3.11 $offs)"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	assert_eq "int3s at the probed offsets after exit" 0 \
		"$(int3_count "$FIX_PID" /usr/bin/python3.11 $offs)"
	t=$(detach_times "$TRACER_ERR")
	[ -n "$t" ] || { show_tracer; return 1; }
	assert_eq "probed addresses the tracer read" 4 "$(awk '{ print $3 }' <<<"$t")"
	# the breakpoints go first, then the kernel's grace periods
	awk '{ exit !($1 <= $2) }' <<<"$t" ||
		{ echo "# breakpoints out after $t: later than the whole detach" >&3; return 1; }
}

# links_gone ID: 0 once bpftool lists no link ID (polled for up to 10 s),
# else how many it still lists.
links_gone() {
	local i n
	for ((i = 0; i < 100; i++)); do
		n=$("$BPFTOOL" link list -j | jq --argjson i "$1" '[.[] | select(.id == $i)] | length')
		[ "$n" -eq 0 ] && break
		sleep 0.1
	done
	echo "$n"
}

# The grace periods that follow a link's close take up to 100 ms; once the
# breakpoints are read back out of the target, pymemtrace leaves them to
# its closer process and exits.  That process must hold nothing else of
# pymemtrace's (a reader of its output would wait for it) and must not die
# of the signals that end a session or a service.  How long it lives is
# the kernel's (often under a ms here): PYMEMTRACE_TEST_CLOSER_LINGER_MS
# keeps it 3 s after its closes, so that it is there to read.
@test "detach: pymemtrace exits once the breakpoints are out, before its closer process; the closer holds no fd of the tracer's and ignores SIGHUP, SIGINT, SIGTERM" {
	require_multi
	local c fds ign pgrp
	start_fixture /usr/bin/python3.11 gc_collect.py 2
	export PYMEMTRACE_TEST_CLOSER_LINGER_MS=3000
	start_tracer -v --alloc -p "$FIX_PID"
	unset PYMEMTRACE_TEST_CLOSER_LINGER_MS
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	c=$(sed -nE 's/^pymemtrace: detach: the links. last grace periods end in process ([0-9]+), which pymemtrace does not wait for$/\1/p' "$TRACER_ERR")
	[ -n "$c" ] || { echo "# no closer process named" >&3; show_tracer; return 1; }
	grep -Eq '^pymemtrace: breakpoints out of the target after [0-9.]+ ms \([0-9]+ probed addresses read\)$' "$TRACER_ERR" ||
		{ show_tracer; return 1; }
	# pymemtrace is gone, its closer is not (it lingers 3 s)
	proc_alive "$c" || { echo "# closer $c gone with the tracer: did pymemtrace wait for it?" >&3; return 1; }
	fds=$(ls -l /proc/"$c"/fd | awk 'NR > 1 { print $NF }' | sort | uniq -c | xargs)
	ign=$(awk '/^SigIgn:/ { print $2 }' /proc/"$c"/status)
	pgrp=$(awk '{ print $5 }' /proc/"$c"/stat)
	# its links are closed; only the pipe its parent signalled on is left:
	# not the tracer's output file, /dev/null, the ring buffer, maps or
	# programs, nor the system-wide hooks' links
	[[ "$fds" =~ ^1\ pipe:\[[0-9]+\]$ ]] || { echo "# closer $c holds: $fds" >&3; return 1; }
	# SIGHUP (bit 0), SIGINT (1) and SIGTERM (14) ignored
	(( (16#$ign & 0x4003) == 0x4003 )) || { echo "# closer $c ignores $ign" >&3; return 1; }
	assert_eq "closer $c's process group" "$c" "$pgrp"
	kill -TERM "$c"
	sleep 0.2
	proc_alive "$c" || { echo "# closer $c died of SIGTERM" >&3; return 1; }
	local try
	for ((try = 0; try < 100; try++)); do
		proc_alive "$c" || break
		sleep 0.1
	done
	proc_alive "$c" && { echo "# closer $c still there after 10 s" >&3; return 1; }
	true
}

@test "detach: another tracer's breakpoints on the same instructions are reported, not counted as ours" {
	require_multi
	local offs berr="$BATS_TEST_TMPDIR/b.err" b
	start_fixture /usr/bin/python3.11 gc_collect.py 2
	start_tracer -p "$FIX_PID"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	offs=$(multi_offsets "$TRACER_PID" | awk '{ print $1 }')
	# a second tracer on the same process finds the first one's int3s
	# already there: it cannot watch them
	pmt_spawn "$BATS_TEST_TMPDIR/b.out" "$berr" "$PMT" -p "$FIX_PID"
	b=$SPAWN_PID
	wait_attached "$b" || { cat "$berr" >&3; return 1; }
	# the first leaves while the second still traces: the kernel keeps the
	# breakpoints, and the first says so
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	grep -Fqx "pymemtrace: warning: 4 of 4 probed addresses still hold an int3 after pymemtrace's probes were removed: another tracer's breakpoints?" \
		"$TRACER_ERR" || { show_tracer; return 1; }
	assert_eq "int3s left for the second tracer" 4 "$(int3_count "$FIX_PID" /usr/bin/python3.11 $offs)"
	kill -INT "$b"
	wait_exit "$b" 30
	assert_eq "second tracer's exit status" 0 "$WAIT_RC" || { cat "$berr" >&3; return 1; }
	assert_eq "int3s after both" 0 "$(int3_count "$FIX_PID" /usr/bin/python3.11 $offs)"
	if grep -q "breakpoints out of the target" "$berr"; then
		echo "# the second tracer claimed the first one's breakpoints" >&3
		cat "$berr" >&3
		return 1
	fi
}

# watch_across_exec EXEC: watches a text address of a python3.11 process,
# lets it exec /bin/sleep (EXEC=1) or not, then has the watch recheck its
# mappings; prints the tool's two lines.
watch_across_exec() {
	local d py tool off
	d=$(mktemp -d "$BATS_TEST_TMPDIR/watch.XXXXXX")
	mkfifo "$d/py.in" "$d/tool.in"
	/usr/bin/python3.11 -c 'import os, sys
sys.stdin.readline()
if sys.argv[1] == "1":
    os.execv("/bin/sleep", ["sleep", "60"])
sys.stdin.readline()' "$1" <"$d/py.in" 3>&- &
	py=$!
	PMT_PIDS+=("$py")
	exec 7>"$d/py.in"
	# the interpreter's text: its executable mapping's file offset, plus 16
	for _ in $(seq 100); do
		off=$(awk '$2 ~ /x/ && $6 == "/usr/bin/python3.11" { print $3; exit }' /proc/$py/maps)
		[ -n "$off" ] && break
		sleep 0.05
	done
	"$TOOL" bp-watch "$py" /usr/bin/python3.11 $((0x$off + 16)) <"$d/tool.in" >"$d/tool.out" 3>&- &
	tool=$!
	exec 8>"$d/tool.in"
	wait_file_line "$d/tool.out" 1 || true
	echo >&7
	if [ "$1" = 1 ]; then
		for _ in $(seq 100); do
			[ "$(readlink /proc/$py/exe)" = /usr/bin/sleep ] && break
			sleep 0.05
		done
	fi
	echo >&8
	wait "$tool"
	exec 7>&- 8>&-
	kill "$py" 2>/dev/null
	cat "$d/tool.out"
}

# wait_file_line FILE N: until FILE has N lines (5 s at most).
wait_file_line() {
	for _ in $(seq 100); do
		[ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

@test "detach watch: an exec not yet handled takes the watched addresses out of the reads" {
	# "moved": the new image may hold the links' breakpoints unwatched, so
	# detach must wait for the closes rather than leave them to the closer
	assert_eq "without an exec" "watched 1 kept 1 moved 0" "$(watch_across_exec 0 | paste -sd' ')"
	assert_eq "after an exec" "watched 1 kept 0 moved 1" "$(watch_across_exec 1 | paste -sd' ')"
}

@test "uprobe_multi: the USDT sites and semaphores are the ones libbpf computes" {
	require_multi
	local multi perf
	start_fixture /usr/bin/python3.11 gc_collect.py 1
	start_tracer -q -p "$FIX_PID"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	multi=$(multi_offsets "$TRACER_PID" | awk '$2 != "0x0"')
	stop_tracer
	export "$KNOB=1"
	start_tracer -q -p "$FIX_PID"
	unset "$KNOB"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	perf=$(perf_offsets "$TRACER_PID" | awk '$2 != "0x0"')
	stop_tracer
	# gc__start and gc__done are semaphore-guarded (readelf -n)
	assert_eq "semaphore-guarded sites" 2 "$(wc -l <<<"$perf")"
	assert_eq "offset and ref_ctr_offset, uprobe_multi vs libbpf" "$perf" "$multi"
}

@test "no link or program is left behind after SIGKILL (--alloc, debian python3.11)" {
	require_tracing
	local progs links left i
	start_fixture /usr/bin/python3.11 gc_collect.py 1
	start_tracer -q --alloc -p "$FIX_PID"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	# Every program and link the tracer holds, by id, from its fdinfo.
	progs=$(cat /proc/"$TRACER_PID"/fdinfo/* 2>/dev/null |
		awk '/^prog_id:/ { print $2 }' | sort -un | jq -sc .)
	links=$(cat /proc/"$TRACER_PID"/fdinfo/* 2>/dev/null |
		awk '/^link_id:/ { print $2 }' | sort -un | jq -sc .)
	[ "$(jq length <<<"$progs")" -gt 10 ]
	[ "$(jq length <<<"$links")" -gt 4 ]
	if "$TOOL" uprobe-multi-probe >/dev/null; then
		# python3.11 and libc, entries and returns, and the GC probes' own
		assert_eq "uprobe_multi links" 5 "$(uprobe_multi_links_of "$TRACER_PID" "$FIX_PID" | wc -l)"
	fi
	kill -KILL "$TRACER_PID"
	wait_exit "$TRACER_PID" 30
	# The kernel frees closed objects after a grace period: allow a moment.
	for ((i = 0; i < 100; i++)); do
		left=$(( $("$BPFTOOL" prog list -j | jq --argjson o "$progs" '[.[] | select(.id | IN($o[]))] | length') +
			 $("$BPFTOOL" link list -j | jq --argjson o "$links" '[.[] | select(.id | IN($o[]))] | length') ))
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	assert_eq "programs and links left after SIGKILL" 0 "$left"
	proc_alive "$FIX_PID"
}

# ---- SIGKILL at any moment ------------------------------------------------------
# The tracer is frozen (SIGSTOP) first, so that the ids read from its fdinfo
# are all it holds when the SIGKILL lands; only those ids are looked for
# afterwards: other tracers on the machine come and go.

# usdt_semaphores PID BINARY: "name=value" of BINARY's semaphore-guarded
# USDT probes in PID, read from /proc/PID/mem opened read-only.
usdt_semaphores() {
	"$HOST_PY" - "$1" "$2" <<'PY'
import os, re, subprocess, sys
pid, binary = sys.argv[1], os.path.realpath(sys.argv[2])
notes = subprocess.run(["readelf", "-nW", binary], capture_output=True, text=True).stdout
sems = re.findall(r"Name: (\S+)\s+Location: \S+, Base: \S+, Semaphore: (0x[0-9a-f]+)", notes)
head = subprocess.run(["readelf", "-hlW", binary], capture_output=True, text=True).stdout
bias = 0
if re.search(r"Type:\s+DYN", head):
    first_load = int(re.search(r"LOAD\s+\S+\s+(0x[0-9a-f]+)", head).group(1), 16)
    for line in open("/proc/%s/maps" % pid):
        f = line.split()
        if len(f) >= 6 and os.path.realpath(f[5]) == binary and int(f[2], 16) == 0:
            bias = int(f[0].split("-")[0], 16) - first_load
            break
    else:
        sys.exit("binary not mapped")
with open("/proc/%s/mem" % pid, "rb", buffering=0) as mem:
    for name, addr in sems:
        if int(addr, 16) == 0:
            continue
        mem.seek(int(addr, 16) + bias)
        print("%s=%d" % (name, int.from_bytes(mem.read(2), "little")))
PY
}

# gc_semaphores PID: "gc__done=N gc__start=N" of Debian's python3.11 in
# PID, by name (the order of the notes differs between builds).
gc_semaphores() {
	usdt_semaphores "$1" /usr/bin/python3.11 | grep -E '^gc__(start|done)=' | sort | tr '\n' ' ' | sed 's/ $//'
}

# note_tracer_ids: KILL_PROGS and KILL_LINKS, the program and link ids the
# tracer holds now (JSON arrays), for none_left.
note_tracer_ids() {
	KILL_PROGS=$(cat /proc/"$TRACER_PID"/fdinfo/* 2>/dev/null |
		awk '/^prog_id:/ { print $2 }' | sort -un | jq -sc .)
	KILL_LINKS=$(cat /proc/"$TRACER_PID"/fdinfo/* 2>/dev/null |
		awk '/^link_id:/ { print $2 }' | sort -un | jq -sc .)
}

# kill_frozen: SIGSTOP, note the tracer's program and link ids, SIGKILL.
# Fails (the tracer reaped) when it had already exited.
kill_frozen() {
	if ! kill -STOP "$TRACER_PID" 2>/dev/null || ! proc_alive "$TRACER_PID"; then
		wait_exit "$TRACER_PID" 30
		return 1
	fi
	note_tracer_ids
	kill -KILL "$TRACER_PID"
	wait_exit "$TRACER_PID" 30
}

# none_left: none of KILL_PROGS/KILL_LINKS exists any more (the kernel
# frees them after a grace period), no perf uprobe of the dead tracer, no
# legacy uprobe_events entry of its (libbpf names them after the pid),
# and the USDT semaphores of the target are back to 0.
none_left() {
	local left i ev
	for ((i = 0; i < 100; i++)); do
		left=$(( $("$BPFTOOL" prog list -j | jq --argjson o "$KILL_PROGS" '[.[] | select(.id | IN($o[]))] | length') +
			 $("$BPFTOOL" link list -j | jq --argjson o "$KILL_LINKS" '[.[] | select(.id | IN($o[]))] | length') +
			 $(perf_uprobes_of "$TRACER_PID") ))
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	assert_eq "$1: programs, links and perf uprobes left" 0 "$left"
	for ev in /sys/kernel/tracing/uprobe_events /sys/kernel/debug/tracing/uprobe_events; do
		[ -r "$ev" ] || continue
		assert_eq "$1: $ev entries of the tracer" 0 "$(grep -c "_${TRACER_PID}_" "$ev")"
	done
	assert_eq "$1: USDT semaphores" "gc__done=0 gc__start=0" "$(gc_semaphores "$FIX_PID")"
	proc_alive "$FIX_PID"
}

# wait_fd_kind PID KEY: waits until PID holds an fd whose fdinfo has KEY.
wait_fd_kind() {
	local i
	for ((i = 0; i < 3000; i++)); do
		grep -qs "^$2:" /proc/"$1"/fdinfo/* && return 0
		proc_alive "$1" || return 1
	done
	return 1
}

# link_fds_of PID: the BPF links PID holds, from its fdinfo only (fast
# enough to catch a detach under way).
link_fds_of() {
	grep -ls '^link_id:' /proc/"$1"/fdinfo/* | wc -l
}

# kill_at PHASE MODE: one SIGKILL of a --alloc trace of Debian's python3.11
# at PHASE (load: first program loaded; attach: first link made; trace:
# attached; detach: SIGINT sent, links going), attached through MODE
# (multi or perf); then the fixture must do its work as if never traced.
kill_at() {
	local phase=$1 mode=$2 n i try
	[ -x /usr/bin/python3.11 ] || skip "/usr/bin/python3.11 missing (tools/install-deps.sh)"
	command -v readelf >/dev/null || skip "readelf missing (binutils)"
	start_fixture /usr/bin/python3.11 gc_collect.py 3
	# Only a detach can end before the kill lands (it takes some 100 ms):
	# then the run killed nothing, says so, and is tried again.
	for ((try = 0; try < 5; try++)); do
		[ "$mode" = perf ] && export "$KNOB=1"
		start_tracer -q --alloc -p "$FIX_PID"
		unset "$KNOB"
		case $phase in
		load)	wait_fd_kind "$TRACER_PID" prog_id || { show_tracer; return 1; } ;;
		attach)	wait_fd_kind "$TRACER_PID" link_id || { show_tracer; return 1; } ;;
		trace|detach)
			wait_attached "$TRACER_PID" || { show_tracer; return 1; }
			# The probes are in: the semaphores are raised (the reading works).
			assert_eq "$mode: USDT semaphores while attached" "gc__done=1 gc__start=1" \
				"$(gc_semaphores "$FIX_PID")"
			;;
		esac
		if [ "$phase" = detach ]; then
			n=$(link_fds_of "$TRACER_PID")
			kill -INT "$TRACER_PID"
			# Until the first link is gone, or the tracer is.
			for ((i = 0; i < 3000; i++)); do
				proc_alive "$TRACER_PID" || break
				[ "$(link_fds_of "$TRACER_PID")" -lt "$n" ] && break
			done
		fi
		kill_frozen && break
		[ "$phase" = detach ] || { echo "# $mode/$phase: the tracer exited before the SIGKILL" >&3; show_tracer; return 1; }
		echo "# $mode/$phase: the tracer finished detaching before the SIGKILL; again" >&3
	done
	[ "$try" -lt 5 ] || return 1
	[ "$(jq length <<<"$KILL_PROGS")" -gt 0 ] || { echo "# $mode/$phase: no program held at the kill" >&3; return 1; }
	none_left "$mode/$phase"
	fixture_go "$FIX_CTL"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "$mode/$phase: fixture output" "READY $FIX_PID 3" "$(tr '\n' ' ' <"$FIX_CTL/stdout" | sed 's/ $//')"
	assert_eq "$mode/$phase: fixture's own gen-2 count" 3 "$(jq '.after[2] - .before[2]' "$FIX_CTL/done")"
}

@test "SIGKILL while loading leaves nothing behind (uprobe_multi)" { require_multi; kill_at load multi; }
@test "SIGKILL while attaching leaves nothing behind (uprobe_multi)" { require_multi; kill_at attach multi; }
@test "SIGKILL while tracing leaves nothing behind (uprobe_multi)" { require_multi; kill_at trace multi; }
@test "SIGKILL while detaching leaves nothing behind (uprobe_multi)" { require_multi; kill_at detach multi; }
@test "SIGKILL while loading leaves nothing behind (perf uprobes)" { require_tracing; kill_at load perf; }
@test "SIGKILL while attaching leaves nothing behind (perf uprobes)" { require_tracing; kill_at attach perf; }
@test "SIGKILL while tracing leaves nothing behind (perf uprobes)" { require_tracing; kill_at trace perf; }
@test "SIGKILL while detaching leaves nothing behind (perf uprobes)" { require_tracing; kill_at detach perf; }

# perf_sites PID: "path offset" of PID's perf-event uprobe links (their
# fdinfo names the file as /proc/TARGET/root/...).
perf_sites() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		awk '/^link_type:/ { m = ($2 == "perf") }
		     m && /^name:/ { n = $2 } m && /^offset:/ { o = $2 }
		     END { if (m && n != "" && o != "") print n, o }' "$f" 2>/dev/null
	done | sort -u
}

# int3s_at PID SITES: how many of SITES ("path offset" lines) hold an int3
# in PID, file by file.
int3s_at() {
	local pid=$1 sites=$2 path total=0
	for path in $(awk '{ print $1 }' <<<"$sites" | sort -u); do
		total=$((total + $(int3_count "$pid" "$path" $(awk -v p="$path" '$1 == p { print $2 }' <<<"$sites"))))
	done
	echo "$total"
}

# A link's close takes its breakpoints out of the target, and the kernel
# gives up on that when the closing thread has a SIGKILL pending: the int3s
# stayed in the target for good and its USDT semaphores raised ("uprobe:
# ... failed to unregister, leaking uprobe" in dmesg).  A SIGKILL 2 ms
# after the SIGINT lands while the links close, which did exactly that
# before the final closes moved to a child process (user/attach.c); on the
# perf-event path (one perf event per probe, USDT included) it left the
# probe being closed at that moment, until the perf events became
# pymemtrace's own so that their last closes could move there too.
# early_kill MODE: that, for a --alloc trace of Debian's python3.11 through
# MODE (multi or perf).
early_kill() {
	[ -x /usr/bin/python3.11 ] || skip "/usr/bin/python3.11 missing (tools/install-deps.sh)"
	command -v readelf >/dev/null || skip "readelf missing (binutils)"
	local sites n
	start_fixture /usr/bin/python3.11 gc_collect.py 3
	[ "$1" = perf ] && export "$KNOB=1"
	start_tracer -q --alloc -p "$FIX_PID"
	unset "$KNOB"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	if [ "$1" = perf ]; then
		sites=$(perf_sites "$TRACER_PID")
		assert_eq "uprobe_multi links" "" "$(uprobe_multi_links_of "$TRACER_PID")"
	else
		sites=$(multi_offsets_in "$TRACER_PID" /usr/bin/python3.11 | sed 's|^|/usr/bin/python3.11 |')
	fi
	n=$(wc -l <<<"$sites")
	assert_ge "$1: probed sites" "$n" 4
	assert_eq "$1: int3s at them while tracing" "$n" "$(int3s_at "$FIX_PID" "$sites")"
	note_tracer_ids
	kill -INT "$TRACER_PID"
	sleep 0.002
	kill -KILL "$TRACER_PID"
	wait_exit "$TRACER_PID" 30
	none_left "$1: early kill"
	assert_eq "$1: int3s after the kill" 0 "$(int3s_at "$FIX_PID" "$sites")"
	fixture_go "$FIX_CTL"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "$1: fixture's own gen-2 count" 3 "$(jq '.after[2] - .before[2]' "$FIX_CTL/done")"
}

@test "SIGKILL 2 ms into the detach leaves no int3 and no raised semaphore (uprobe_multi, --alloc)" {
	require_multi
	early_kill multi
}

@test "SIGKILL 2 ms into the detach leaves no int3 and no raised semaphore (perf uprobes, --alloc)" {
	require_tracing
	early_kill perf
}

# At start-up pymemtrace probes two functions of its own to measure a
# probe hit's cost (user/trap_cost.c), and closes those probes in the
# background while it goes on.  A SIGKILL then cut the kernel's
# unregistration short on the closing threads: 2 uprobes leaked in the
# kernel every time ("pymemtrace:TID failed to unregister, leaking uprobe"
# in dmesg, 3 runs in 3 with the previous build).  The last closes now
# happen in a closer process, as at detach.
@test "SIGKILL right after the start-up measure leaks no uprobe in the kernel (uprobe_multi)" {
	require_multi
	dmesg >/dev/null 2>&1 || skip "dmesg unreadable here"
	local before after err="$BATS_TEST_TMPDIR/err"
	start_fixture /usr/bin/python3.11 gc_collect.py 1
	before=$(dmesg | grep -c 'failed to unregister, leaking uprobe')
	"$PMT" -v -p "$FIX_PID" >/dev/null 2>"$err" 3>&- </dev/null &
	TRACER_PID=$!
	PMT_PIDS+=("$TRACER_PID")
	# printed just after the measure's probes were handed to be closed;
	# their unregistration takes about a ms then: nothing else in the loop
	local limit=$((SECONDS + 60))
	until grep -q '^pymemtrace: trap cost: ' "$err"; do
		[ "$SECONDS" -lt "$limit" ] || { cat "$err" >&3; return 1; }
	done
	kill -KILL "$TRACER_PID"
	wait_exit "$TRACER_PID" 30
	# the closes end within a few grace periods
	sleep 1
	after=$(dmesg | grep -c 'failed to unregister, leaking uprobe')
	assert_eq "uprobes leaked (dmesg)" 0 $((after - before)) || { dmesg | tail -5 >&3; return 1; }
}

# ---- same exact results on both paths ------------------------------------------

N=5

# gc_trace_on MODE JSON [ARGS...]: gc_collect.py's N collections traced to
# their end on MODE's path (multi: uprobe_multi links, perf: perf-event
# uprobes), the report in JSON; fails, showing the tracer, if it does.
gc_trace_on() {
	local mode=$1 j=$2
	shift 2
	start_fixture "$PY" gc_collect.py "$N"
	[ "$mode" = perf ] && export "$KNOB=1"
	start_tracer -p "$FIX_PID" --json "$j" "$@"
	unset "$KNOB"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "$mode: tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
}

# gc_both LABEL: N explicit collections, counted exactly, with and without
# uprobe_multi.
gc_both() {
	require_multi
	use_interp "$1"
	local j i g mode expect want
	for mode in multi perf; do
		j="$BATS_TEST_TMPDIR/report-$mode.json"
		gc_trace_on "$mode" "$j" -q || return 1
		i=$(proc_index "$j" "$FIX_PID")
		for g in 0 1 2; do
			expect=$(jq ".after[$g] - .before[$g]" "$FIX_CTL/done")
			assert_eq "$mode: gc.collections[$g]" "$expect" \
				"$(json_get "$j" ".processes[$i].gc.collections[$g]")"
		done
		assert_eq "$mode: gc.collections[2]" "$N" "$(json_get "$j" ".processes[$i].gc.collections[2]")"
		assert_eq "$mode: gc.collected" "$(jq .found "$FIX_CTL/done")" \
			"$(json_get "$j" ".processes[$i].gc.collected")"
		assert_eq "$mode: lost" 0 "$(json_get "$j" ".processes[$i].lost")"
		[ "$mode" = multi ] && want="uprobe_multi" || want="perf uprobe"
		assert_eq "$mode: links of the gc probes" "$want" "$(jq -r --argjson p "$FIX_PID" \
			'[.processes[] | select(.pid == $p) | .probes[] | select(.name | startswith("gc_")) | .link] | unique | join(",")' "$j")"
		# Both paths go through the dispatcher, which counts the hits: two
		# a collection, and their cost measured on the same path
		gc_probe_hits "$j" "$N" || { echo "# $mode" >&3; return 1; }
		assert_eq "$mode: uncounted handlers" 0 "$(json_get "$j" '.overhead.uncounted_handlers | length')"
	done
}

@test "both paths: exact GC counts on debian python3.11 (USDT)" { gc_both debian3.11; }
@test "both paths: exact GC counts on python3.11 (uprobe + uretprobe)" { gc_both py3.11; }
@test "both paths: exact GC counts on python3.8 (uprobe + uretprobe)" { gc_both py3.8; }
@test "both paths: exact GC counts on python3.13 (uprobe + uretprobe)" { gc_both py3.13; }

# libbpf's own USDT attach (PYMEMTRACE_LIBBPF_USDT=1, as for an argument
# spec pymemtrace does not decode), on both paths: the collections are
# still exact, and their hits, which go past the dispatcher, are named as
# not counted instead of counting as zero.
@test "both paths: libbpf's USDT attach counts the collections and names the probes whose hits it cannot count, debian python3.11" {
	require_multi
	use_interp debian3.11
	local j mode text
	for mode in multi perf; do
		j="$BATS_TEST_TMPDIR/report-$mode.json"
		mkdir -p "$BATS_TEST_TMPDIR/tf-$mode"
		PYMEMTRACE_LIBBPF_USDT=1 gc_trace_on "$mode" "$j" \
			--textfile "$BATS_TEST_TMPDIR/tf-$mode" || return 1
		assert_eq "$mode: gc.collections[2]" "$N" "$(json_get "$j" '.processes[0].gc.collections[2]')"
		assert_eq "$mode: lost" 0 "$(json_get "$j" '.processes[0].lost')"
		[[ "$(json_get "$j" '.processes[0].probes[] | select(.name == "gc_start") | .how')" == *"argument not decoded (PYMEMTRACE_LIBBPF_USDT=1): libbpf's USDT attach"* ]] ||
			{ show_tracer; return 1; }
		assert_eq "$mode: usdt hits counted" 0 "$(json_get "$j" '.overhead.probe_hits |
			.usdt_gc_start + .usdt_gc_done')"
		assert_eq "$mode: uncounted handlers" "usdt_gc_start,usdt_gc_done" \
			"$(json_get "$j" '.overhead.uncounted_handlers | join(",")')"
		# the metric: 1 for those two, 0 for the others (the arenas' among them)
		assert_eq "$mode: metric" "arena_free=0 usdt_gc_done=1 usdt_gc_start=1" "$(awk -F'[{}"= ]+' \
			'$1 == "pymemtrace_probe_hits_uncounted" && ($3 ~ /usdt_gc|arena_free/) { print $3 "=" $4 }' \
			"$BATS_TEST_TMPDIR/tf-$mode/pymemtrace.prom" | sort | tr '\n' ' ' | sed 's/ $//')"
		text=$(sed -n '/^overhead/,/^$/p' "$TRACER_OUT" | tr -s ' \n' '  ')
		[[ "$text" == *"not counted: the hits of usdt_gc_start, usdt_gc_done (probes attached by libbpf past the dispatcher); the estimate leaves them out"* ]] ||
			{ echo "# $mode: $text" >&3; return 1; }
	done
}

# alloc_both LABEL: hold_memory()'s 256 bytearrays of 64 KiB (65537-byte
# requests to the C library) are live at the end, exactly, on both paths.
alloc_both() {
	require_multi
	use_interp "$1"
	local j line mode got
	line=$(grep -n 'return \[bytearray(CHUNK)' "$FIXTURES/alloc_hold.py" | cut -d: -f1)
	for mode in multi perf; do
		j="$BATS_TEST_TMPDIR/alloc-$mode.json"
		start_fixture "$PY" alloc_hold.py 16
		[ "$mode" = perf ] && export "$KNOB=1"
		start_tracer -q --alloc --top 100 -p "$FIX_PID" --json "$j"
		unset "$KNOB"
		wait_attached "$TRACER_PID" || { show_tracer; return 1; }
		fixture_go "$FIX_CTL"
		stop_tracer
		assert_eq "$mode: tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
		assert_eq "$mode: held_bytes" $((16 * MIB)) "$(jq .held_bytes "$FIX_CTL/done")"
		got=$(jq -c --argjson p "$FIX_PID" --argjson l "$line" '[.processes[] |
			select(.pid == $p) | .stacks[] | select(.python[0].line == $l)] |
			max_by(.live_bytes) | [.live_count, .live_bytes]' "$j")
		assert_eq "$mode: live blocks and bytes of the bytearrays" "[256,$((256 * 65537))]" "$got"
		assert_eq "$mode: live or stack map full" 0 "$(json_get "$j" \
			"[.processes[] | select(.pid == $FIX_PID) | .alloc.lost | .live_map_full, .stack_map_full] | add")"
	done
}

@test "both paths: --alloc holds exactly the fixture's bytearrays on debian python3.11" { alloc_both debian3.11; }
@test "both paths: --alloc holds exactly the fixture's bytearrays on python3.11" { alloc_both py3.11; }
@test "both paths: --alloc holds exactly the fixture's bytearrays on python3.8" { alloc_both py3.8; }
@test "both paths: --alloc holds exactly the fixture's bytearrays on python3.13" { alloc_both py3.13; }

@test "both paths: -- CMD is held at its entry and every collection is seen" {
	require_multi
	local mode j ctl pid g
	for mode in multi perf; do
		j="$BATS_TEST_TMPDIR/launch-$mode.json"
		ctl=$(mktemp -d "$BATS_TEST_TMPDIR/fix.XXXXXX")
		[ "$mode" = perf ] && export "$KNOB=1"
		start_tracer -q --json "$j" -- /usr/bin/python3.11 "$FIXTURES/gc_collect.py" "$N" --ctl "$ctl"
		unset "$KNOB"
		wait_file "$ctl/ready" 30 "$TRACER_PID" || { show_tracer; return 1; }
		pid=$(cat "$ctl/ready")
		# Held, then released: the hold probe is gone before the program runs.
		assert_eq "$mode: hold links left" 0 "$(( $(uprobe_multi_links_of "$TRACER_PID" | awk '$3 == 1' | wc -l) ))"
		fixture_go "$ctl"
		touch "$ctl/exit"
		wait_exit "$TRACER_PID" 30
		assert_eq "$mode: tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
		for g in 0 1 2; do
			assert_eq "$mode: gc.collections[$g]" "$(jq ".collections[$g]" "$ctl/final")" \
				"$(json_get "$j" ".processes[$(proc_index "$j" "$pid")].gc.collections[$g]")"
		done
	done
}

# A target that collects all the time, traced then detached while it runs:
# the probes go one after another (perf uprobes: 100-300 ms each), and a
# collection that ends after gc__start's probe is gone must not show as "GC
# ends without a start".  At most one can, honestly: a collection already
# running when the probes came.
detach_midrun() {
	local j="$BATS_TEST_TMPDIR/report.json" d n
	require_tracing
	use_interp debian3.11
	pmt_spawn "$BATS_TEST_TMPDIR/demo.out" "$BATS_TEST_TMPDIR/demo.err" "$PY" "$PMT_ROOT/tools/demo.py" 8
	d=$SPAWN_PID
	env "$@" "$PMT" -q --alloc -p "$d" -d 2 --json "$j" >/dev/null 2>"$BATS_TEST_TMPDIR/tracer.err"
	assert_eq "tracer exit status" 0 "$?" || { cat "$BATS_TEST_TMPDIR/tracer.err" >&3; return 1; }
	n=$(jq '.processes[0].gc.collections | add' "$j")
	assert_ge "collections seen while it ran" "$n" 10 || return 1
	assert_le "GC ends without a start" "$(jq '.processes[0].lost_detail.gc_unmatched' "$j")" 1
}

@test "detach: no 'GC end without a start' from detaching, perf-event path (--alloc, debian python3.11)" {
	detach_midrun PYMEMTRACE_NO_UPROBE_MULTI=1
}
@test "detach: no 'GC end without a start' from detaching, uprobe_multi path (--alloc, debian python3.11)" {
	detach_midrun PMT_UNUSED=1
}

@test "another tool's uprobe with another semaphore at libc's malloc: only malloc's probes are lost, and the reason says why" {
	semaphore_conflict --alloc
}
@test "the same conflict with --sampled: only malloc's window probes are lost, the others are armed in every window" {
	semaphore_conflict --alloc --sampled
}

# conflict_trace JSON TRACER-ARGS: once the holder says it holds its
# uprobe, traces the fixture with TRACER-ARGS into JSON.
conflict_trace() {
	local j="$1" i
	shift
	for ((i = 0; i < 100; i++)); do
		grep -q held "$BATS_TEST_TMPDIR/hold.out" && break
		sleep 0.05
	done
	grep -q held "$BATS_TEST_TMPDIR/hold.out" ||
		{ cat "$BATS_TEST_TMPDIR/hold.out" "$BATS_TEST_TMPDIR/hold.err" >&3; return 1; }
	start_tracer -p "$FIX_PID" "$@" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	[ $# = 1 ] || sleep 1.5  # a window or more
	stop_tracer
}

# semaphore_conflict MODE: MODE's trace of a process whose libc malloc
# another tool probes with a USDT semaphore offset of 6.
semaphore_conflict() {
	require_multi
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/r.json" fifo="$BATS_TEST_TMPDIR/hold.in" libc vaddr off
	start_fixture "$PY" gc_collect.py 3
	libc=$(awk '$6 ~ /\/libc\.so\.6$/ { print $6; exit }' /proc/"$FIX_PID"/maps)
	[ -n "$libc" ] || { echo "# no libc.so.6 in the fixture's maps" >&3; return 1; }
	vaddr=$("$TOOL" elf-sym "$libc" malloc | awk '{ print $2 }')
	off=$("$TOOL" elf-offset "$libc" "$vaddr")
	# bcc's tools have been seen holding libc's malloc with a semaphore
	# offset of 6: the kernel then refuses any other offset there
	mkfifo "$fifo"
	pmt_spawn "$BATS_TEST_TMPDIR/hold.out" "$BATS_TEST_TMPDIR/hold.err" \
		sh -c 'exec "$0" uprobe-hold "$1" "$2" 6 < "$3"' "$TOOL" "$libc" "$off" "$fifo"
	local holder=$SPAWN_PID rc=0
	exec 9>"$fifo"
	conflict_trace "$j" "$@" || rc=1
	# On every path the holder must see its stdin close and end by itself:
	# killed while it unregisters (the teardown's SIGKILL), the kernel
	# leaks its uprobe, semaphore offset 6 and all, and refuses every later
	# probe of libc's malloc on this machine until libc's inode changes.
	exec 9>&-
	wait_exit "$holder" 10
	[ "$rc" = 0 ] || return 1
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	local p='.processes[0].probes[]'
	assert_eq "probes lost (the PMU's cache counters apart)" "raw_alloc,raw_alloc_return" \
		"$(jq -r "[$p | select(.status != \"attached\" and .name != \"cache\" and
			(.reason | test(\"^not used\") | not)) | .name] | join(\",\")" "$j")"
	assert_eq "lost probes are malloc's" 2 \
		"$(jq "[$p | select(.status != \"attached\") | select(.how | test(\"malloc\\\\+0 \"))] | length" "$j")"
	assert_eq "their reason names the semaphore conflict" 2 \
		"$(jq "[$p | select(.status != \"attached\") | select(.reason | test(\"different USDT semaphore\"))] | length" "$j")"
	assert_eq "calloc's probes attached" 2 \
		"$(jq "[$p | select(.status == \"attached\") | select(.how | test(\"calloc\\\\+0 \"))] | length" "$j")"
	assert_eq "the inlined sites attached" attached \
		"$(jq -r "$p | select(.name == \"lto_sites\") | .status" "$j")"
	grep -q "ref_ctr_offset mismatch" "$TRACER_ERR" || { show_tracer; return 1; }
	[ $# = 1 ] && return 0
	# every window armed what was left, in one link a file as before
	assert_ge "windows" "$(jq '.processes[0].alloc.windows.count' "$j")" 1
	assert_eq "window failures" 0 "$(jq '.processes[0].alloc.windows.failures' "$j")"
}
