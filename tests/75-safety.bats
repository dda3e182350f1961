#!/usr/bin/env bats
# The target is never harmed, and pymemtrace holds no more privilege than it
# needs: the capability set it starts with and the one it keeps after the
# attach, a strace of every access to the target, SIGSTOPped targets, and
# 50 attach/detach cycles under a service whose output must not change.
# (SIGKILL of the tracer at any moment: tests/52-uprobe-multi.bats; the
# HTTP endpoint under garbage: tests/60-prometheus.bats.)  Nothing is timed.

load lib/common

N=3

# Bits of /proc/PID/status CapEff (linux/capability.h).
CAP_DAC_OVERRIDE=1
CAP_DAC_READ_SEARCH=2
CAP_SYS_PTRACE=19
CAP_PERFMON=38
CAP_BPF=39

require_capsh() {
	command -v capsh >/dev/null 2>&1 ||
		skip "capsh missing (Debian package libcap2-bin; tools/install-deps.sh)"
}

# caps_but NUM...: the capability names of this kernel except NUM..., joined
# by commas (what capsh --drop takes).
caps_but() {
	local last c keep names=()
	last=$(cat /proc/sys/kernel/cap_last_cap)
	for ((c = 0; c <= last; c++)); do
		for keep in "$@"; do
			[ "$c" -eq "$keep" ] && continue 2
		done
		names+=("$(capsh --decode="$(printf '%x' $((1 << c)))" | sed 's/.*=//')")
	done
	local IFS=,
	echo "${names[*]}"
}

# cap_hex NUM...: the mask of NUM... as /proc/PID/status prints it.
cap_hex() {
	local m=0 c
	for c in "$@"; do
		m=$((m | (1 << c)))
	done
	printf '%016x\n' "$m"
}

# status_field PID FIELD: a line of /proc/PID/status, value only.
status_field() {
	awk -v f="$2:" '$1 == f { print $2 }' /proc/"$1"/status
}

# gc_window: the fixture's N collections while traced; exact counts in $1.
gc_window() {
	local j=$1 i
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	i=$(proc_index "$j" "$FIX_PID")
	assert_eq "gc.collections[2]" "$N" "$(json_get "$j" ".processes[$i].gc.collections[2]")"
	assert_eq "lost" 0 "$(json_get "$j" ".processes[$i].lost")" ||
		{ json_get "$j" ".processes[$i].lost_detail | with_entries(select(.value != 0))" >&3; return 1; }
}

# ---- least privilege ----------------------------------------------------------

@test "privileges: exactly CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE are enough (--alloc, exact counts)" {
	require_tracing
	require_capsh
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/r.json" drop
	drop=$(caps_but $CAP_BPF $CAP_PERFMON $CAP_SYS_PTRACE)
	start_fixture "$PY" gc_collect.py "$N"
	# As root, an exec gets the bounding set: the three and nothing else.
	TRACER_OUT="$BATS_TEST_TMPDIR/tracer.out"
	TRACER_ERR="$BATS_TEST_TMPDIR/tracer.err"
	pmt_spawn "$TRACER_OUT" "$TRACER_ERR" \
		capsh --drop="$drop" -- -c 'exec "$0" "$@"' "$PMT" -q --alloc -p "$FIX_PID" --json "$j"
	TRACER_PID=$SPAWN_PID
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	assert_eq "CapBnd of the tracer under capsh" "$(cap_hex $CAP_SYS_PTRACE $CAP_PERFMON $CAP_BPF)" \
		"$(status_field "$TRACER_PID" CapBnd)"
	gc_window "$j"
	local i
	i=$(proc_index "$j" "$FIX_PID")
	assert_ge "allocations seen" "$(json_get "$j" ".processes[$i].alloc.count")" 1
	# the trap cost is measured on pymemtrace's own code, with these three too
	assert_eq "overhead.cost_measured" true "$(json_get "$j" .overhead.cost_measured)" ||
		json_get "$j" .overhead >&3
}

@test "privileges: each missing capability is named, exit code 6" {
	require_tracing
	require_capsh
	use_interp debian3.11
	local cap
	start_fixture "$PY" gc_collect.py "$N"
	for cap in bpf perfmon sys_ptrace; do
		# CAP_SYS_ADMIN would stand in for CAP_BPF and CAP_PERFMON.
		run capsh --drop="cap_$cap,cap_sys_admin" -- -c 'exec "$0" "$@"' "$PMT" -p "$FIX_PID" -d 1
		echo "$output"
		assert_eq "exit code without cap_$cap" 6 "$status"
		assert_eq "message without cap_$cap" \
			"pymemtrace: error: not enough privilege: missing CAP_${cap^^} (run as root, e.g. with sudo, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE)" \
			"$output"
	done
	proc_alive "$FIX_PID"
}

# kept_after_attach ARGS... -- BITS...: the tracer, attached with ARGS, holds
# exactly BITS in its effective, permitted and bounding sets, none inheritable
# or ambient, and still counts exactly (the report writers and the loop run
# with that set).
kept_after_attach() {
	local args=() want j="$BATS_TEST_TMPDIR/r.json" f
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	want=$(cap_hex "$@")
	require_tracing
	use_interp debian3.11
	start_fixture "$PY" gc_collect.py "$N"
	start_tracer -q -p "$FIX_PID" --json "$j" "${args[@]}"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	for f in CapEff CapPrm CapBnd; do
		assert_eq "$f after the attach" "$want" "$(status_field "$TRACER_PID" "$f")"
	done
	assert_eq "CapInh" 0000000000000000 "$(status_field "$TRACER_PID" CapInh)"
	assert_eq "CapAmb" 0000000000000000 "$(status_field "$TRACER_PID" CapAmb)"
	assert_eq "NoNewPrivs" 1 "$(status_field "$TRACER_PID" NoNewPrivs)"
	gc_window "$j"
}

@test "privileges: after the attach, only CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_PERFMON, CAP_BPF remain (following forks)" {
	kept_after_attach --prometheus 0 -- $CAP_DAC_READ_SEARCH $CAP_SYS_PTRACE $CAP_PERFMON $CAP_BPF
}

@test "privileges: after the attach with --no-follow, only CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE remain" {
	kept_after_attach --no-follow -- $CAP_DAC_READ_SEARCH $CAP_SYS_PTRACE
}

@test "privileges: --textfile keeps CAP_DAC_OVERRIDE for its directory" {
	mkdir -p "$BATS_TEST_TMPDIR/tf"
	kept_after_attach --no-follow --textfile "$BATS_TEST_TMPDIR/tf" -- $CAP_DAC_OVERRIDE $CAP_DAC_READ_SEARCH $CAP_SYS_PTRACE
	[ -s "$BATS_TEST_TMPDIR/tf/pymemtrace.prom" ]
}

@test "privileges: a fork is still followed after the drop, counted exactly" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/r.json" w i
	start_fixture "$PY" fork_workers.py 2
	start_tracer -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	assert_eq "CapEff" "$(cap_hex $CAP_DAC_READ_SEARCH $CAP_SYS_PTRACE $CAP_PERFMON $CAP_BPF)" "$(status_field "$TRACER_PID" CapEff)"
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/workers" 30 "$FIX_PID" || return 1
	w=$(head -1 "$FIX_CTL/workers")
	for ((i = 0; i < 600; i++)); do
		grep -qF "tracing pid $w, forked by $FIX_PID" "$TRACER_ERR" && break
		sleep 0.05
	done
	grep -qF "tracing pid $w, forked by $FIX_PID" "$TRACER_ERR" || { show_tracer; return 1; }
	touch "$FIX_CTL/go-0"
	wait_file "$FIX_CTL/done-0" 60 "$w"
	touch "$FIX_CTL/exit-0"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	i=$(proc_index "$j" "$w")
	assert_eq "the worker's gc.collections[2]" 2 "$(json_get "$j" ".processes[$i].gc.collections[2]")"
	assert_eq "its parent" "$FIX_PID" "$(json_get "$j" ".processes[$i].parent_pid")"
}

# ---- read-only ------------------------------------------------------------------

@test "read-only: strace sees no write to the target, only reads" {
	require_tracing
	command -v strace >/dev/null 2>&1 || skip "strace missing (tools/install-deps.sh)"
	use_interp debian3.11
	local log="$BATS_TEST_TMPDIR/strace.log" j="$BATS_TEST_TMPDIR/r.json" strace_pid i
	start_fixture "$PY" gc_collect.py "$N"
	TRACER_OUT="$BATS_TEST_TMPDIR/tracer.out"
	TRACER_ERR="$BATS_TEST_TMPDIR/tracer.err"
	# LeakSanitizer cannot run under ptrace: off for this run in the ASan pass
	ASAN_OPTIONS="$(asan_options_under_ptrace)" \
	pmt_spawn "$TRACER_OUT" "$TRACER_ERR" strace -f -qq -o "$log" \
		-e trace=process_vm_readv,process_vm_writev,ptrace,open,openat,openat2,pwrite64,pwritev,pwritev2 \
		"$PMT" -q --alloc -p "$FIX_PID" --json "$j"
	strace_pid=$SPAWN_PID
	# The tracer is strace's child, once it has exec'd: at start-up strace
	# also forks short-lived children of its own to probe ptrace features,
	# and picking one of those up reads as "the tracer exited".
	for ((i = 0; i < 600; i++)); do
		TRACER_PID=$(pgrep -P "$strace_pid" -x pymemtrace | head -1)
		[ -n "$TRACER_PID" ] && break
		sleep 0.05
	done
	[ -n "$TRACER_PID" ] || { show_tracer; return 1; }
	wait_attached "$TRACER_PID" 60 || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	kill -INT "$TRACER_PID"
	wait_exit "$strace_pid" 60
	assert_eq "strace exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	i=$(proc_index "$j" "$FIX_PID")
	assert_eq "gc.collections[2] under strace" "$N" "$(json_get "$j" ".processes[$i].gc.collections[2]")"
	# The filter does see the reads of the target (the test can fail).
	assert_ge "process_vm_readv calls on the target" \
		"$(grep -c "process_vm_readv($FIX_PID," "$log")" 1
	assert_ge "opens under /proc/$FIX_PID" "$(grep -c "\"/proc/$FIX_PID/" "$log")" 1
	assert_eq "process_vm_writev calls" 0 "$(grep -c 'process_vm_writev(' "$log")"
	assert_eq "ptrace calls" 0 "$(grep -c 'ptrace(' "$log")"
	assert_eq "opens of /proc/$FIX_PID for writing" 0 \
		"$(grep "\"/proc/$FIX_PID/" "$log" | grep -c 'O_WRONLY\|O_RDWR')"
	assert_eq "pwrite to a /proc file" 0 "$(grep -c 'pwrite[v0-9]*(' "$log")"
}

# ---- stopped targets -------------------------------------------------------------

# state_detail FILE PID
state_detail() {
	jq -r --argjson p "$2" '.processes[] | select(.pid == $p) | "\(.state): \(.state_detail)"' "$1"
}

@test "SIGSTOP: a target stopped before the attach is traced, reported stopped" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/r.json"
	start_fixture "$PY" gc_collect.py "$N"
	kill -STOP "$FIX_PID"
	start_tracer -p "$FIX_PID" -d 2 --json "$j"
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	kill -CONT "$FIX_PID"
	[[ "$(state_detail "$j" "$FIX_PID")" =~ ^running:\ stopped\ since\ 0\.[0-9]\ s\ into\ the\ trace\ \(SIGSTOP\ or\ a\ debugger\;\ stopped\ 1\ time,\ [12]\.[0-9]\ s\ in\ all\)$ ]] ||
		{ state_detail "$j" "$FIX_PID" >&3; return 1; }
	grep -q "^pymemtrace: pid $FIX_PID is stopped (SIGSTOP or a debugger), 0\.[0-9] s into its trace$" "$TRACER_ERR" ||
		{ show_tracer; return 1; }
	# It still works as before.
	fixture_go "$FIX_CTL"
	assert_eq "fixture's gen-2 count" "$N" "$(jq '.after[2] - .before[2]' "$FIX_CTL/done")"
}

@test "SIGSTOP: stopped mid-trace, continued, counted exactly, reported with its time" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/r.json" i
	start_fixture "$PY" gc_collect.py "$N"
	start_tracer -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	kill -STOP "$FIX_PID"
	sleep 0.5   # not a timing: long enough for the 100 ms samples to see it
	kill -CONT "$FIX_PID"
	sleep 0.3
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	i=$(proc_index "$j" "$FIX_PID")
	assert_eq "gc.collections[2]" "$N" "$(json_get "$j" ".processes[$i].gc.collections[2]")"
	[[ "$(state_detail "$j" "$FIX_PID")" =~ ^running:\ was\ stopped\ 1\ time,\ first\ [0-9.]+\ s\ into\ the\ trace,\ 0\.[3-9]\ s\ in\ all$ ]] ||
		{ state_detail "$j" "$FIX_PID" >&3; return 1; }
	grep -q "^pymemtrace: pid $FIX_PID runs again after 0\.[3-9] s stopped$" "$TRACER_ERR" ||
		{ show_tracer; return 1; }
}

@test "SIGSTOP: a target stopped while pymemtrace detaches does not hold it up" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/r.json" i
	start_fixture "$PY" gc_collect.py "$N"
	start_tracer -p "$FIX_PID" --alloc --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	kill -INT "$TRACER_PID"
	kill -STOP "$FIX_PID"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	grep -Eq '^pymemtrace: detached [0-9]+ probes in [0-9.]+ ms$' "$TRACER_ERR" || { show_tracer; return 1; }
	i=$(proc_index "$j" "$FIX_PID")
	assert_eq "gc.collections[2]" "$N" "$(json_get "$j" ".processes[$i].gc.collections[2]")"
	assert_eq "target state" T "$(awk '{ print $3 }' /proc/"$FIX_PID"/stat)"
	kill -CONT "$FIX_PID"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "fixture exit status" 0 "$WAIT_RC"
}

# ---- 50 attach/detach cycles ------------------------------------------------------

@test "cycles: 50 attach/detach cycles leave the service's output byte-identical" {
	require_tracing
	use_interp debian3.11
	local rounds=100000 ref ctl c before after n
	# Reference and traced service run side by side (load for each other);
	# each line depends only on its round number.
	start_fixture "$PY" service.py "$rounds"
	ref=$FIX_CTL
	local ref_pid=$FIX_PID
	start_fixture "$PY" service.py "$rounds"
	ctl=$FIX_CTL
	touch "$ref/go" "$ctl/go"
	before=$(wc -l <"$ctl/stdout")
	for ((c = 0; c < 50; c++)); do
		run "$PMT" -q -p "$FIX_PID" -d 0.2 --alloc
		[ "$status" -eq 0 ] || { echo "# cycle $c: exit $status: $output" >&3; return 1; }
	done
	after=$(wc -l <"$ctl/stdout")
	assert_ge "service rounds during the cycles" "$((after - before))" 50
	kill -KILL "$FIX_PID" "$ref_pid"
	wait_exit "$FIX_PID"; wait_exit "$ref_pid"
	# Complete lines, the READY line (it has the pid) left out.
	n=$(( $(wc -l <"$ctl/stdout") < $(wc -l <"$ref/stdout") ? $(wc -l <"$ctl/stdout") : $(wc -l <"$ref/stdout") ))
	assert_ge "lines to compare" "$n" "$after"
	if ! cmp <(sed -n "2,${n}p" "$ref/stdout") <(sed -n "2,${n}p" "$ctl/stdout"); then
		diff <(sed -n "2,${n}p" "$ref/stdout") <(sed -n "2,${n}p" "$ctl/stdout") | head >&3
		return 1
	fi
}

# The target controls the paths in its /proc/PID/maps: it can delete a
# library it maps and put a FIFO at that path, whose open() would block the
# tracer for ever (the native-frame symbolizer opens every mapped object).
# Mapped files are opened as mapped (same dev:inode, else map_files) and
# never block.  The held 16 MiB must still be named, from the mapped copy.
@test "hostile paths: a FIFO put at a mapped library's path neither blocks nor misnames (--alloc)" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/r.json" lib="$BATS_TEST_TMPDIR/lib/libz.so.1" zlib
	zlib=$(ldd "$PY" | awk '$1 == "libz.so.1" { print $3 }')
	[ -e "$zlib" ] || { echo "# no libz.so.1 in ldd $PY" >&3; return 1; }
	mkdir -p "$BATS_TEST_TMPDIR/lib"
	cp "$zlib" "$lib"
	FIX_ENV=("LD_LIBRARY_PATH=$BATS_TEST_TMPDIR/lib")
	start_fixture "$PY" alloc_hold.py 16
	grep -q " $lib\$" "/proc/$FIX_PID/maps" || { echo "# the fixture does not map $lib" >&3; return 1; }
	rm "$lib"
	mkfifo "$lib"
	start_tracer -q --alloc --top 100 -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	kill -INT "$TRACER_PID"
	wait_exit "$TRACER_PID" 60
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	assert_eq "hold_memory's live bytes, MiB" 16 "$(jq '[.processes[0].stacks[] |
		select(any(.python[:2][]; .function | startswith("hold_memory"))) | .live_bytes] |
		add / 1048576 | floor' "$j")"
}
