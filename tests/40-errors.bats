#!/usr/bin/env bats
# Exit codes and messages of README.md "Exit codes".

load lib/common

teardown() {
	pmt_cleanup
	[ -z "${NOBODY_DIR:-}" ] || rm -rf "$NOBODY_DIR"
}

# free_pid: a pid no process has (one we started and reaped).
free_pid() {
	local p
	(exit 0) &
	p=$!
	wait "$p"
	while [ -e "/proc/$p" ]; do p=$((p + 1)); done
	echo "$p"
}

@test "errors: nonexistent pid exits 3 and names the pid" {
	require_tracing
	local pid
	pid=$(free_pid)
	run "$PMT" -p "$pid" -d 1
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *"$pid"* ]]
}

# Every -p target is planned before any is probed (user/plan_ahead.c;
# --alloc plans while the BPF object loads): a bad one among good ones
# fails the start with none of them attached.
@test "errors: a Python target and a nonexistent one after it exits 3 naming the latter, with nothing attached (default and --alloc)" {
	require_tracing
	local pid mode
	pid=$(free_pid)
	start_fixture /usr/bin/python3.11 gc_collect.py 1
	for mode in "" --alloc; do
		run "$PMT" $mode -p "$FIX_PID" -p "$pid" -d 1
		assert_eq "exit status ($mode)" 3 "$status" || { echo "# $output" >&3; return 1; }
		grep -Fxq "pymemtrace: error: no process with pid $pid" <<<"$output" || { echo "# $output" >&3; return 1; }
		if grep -q "tracing pid" <<<"$output"; then
			echo "# attached before failing ($mode): $output" >&3
			return 1
		fi
	done
}

@test "errors: a process that is not Python exits 4" {
	require_tracing
	pmt_spawn /dev/null /dev/null sleep 120
	run "$PMT" -p "$SPAWN_PID" -d 1
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"$SPAWN_PID"* ]]
}

@test "errors: python 3.7 is unsupported, exits 5" {
	require_tracing
	local py
	py=$(pyenv_python 3.7) || skip "pyenv 3.7 not installed"
	start_sleeper "$py"
	run "$PMT" -p "$SLEEPER_PID" -d 1
	echo "$output"
	[ "$status" -eq 5 ]
	[[ "$output" == *3.7* ]]
}

@test "errors: not root exits 6" {
	require_tracing
	id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
	local as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups) pmt=$PMT
	# nobody must be able to run the binary, or the test would measure exit
	# 126.  A checkout under /root is not searchable: run a copy instead.
	if ! "${as_nobody[@]}" test -x "$pmt"; then
		NOBODY_DIR=$(mktemp -d /tmp/pmt-nobody.XXXXXX)
		chmod 755 "$NOBODY_DIR"
		cp "$PMT" "$NOBODY_DIR/pymemtrace"
		pmt=$NOBODY_DIR/pymemtrace
	fi
	start_sleeper /usr/bin/python3.11
	run "${as_nobody[@]}" "$pmt" -p "$SLEEPER_PID" -d 1
	echo "$output"
	[ "$status" -eq 6 ]
}

@test "errors: a kernel without BTF (PYMEMTRACE_BTF_PATH=/nonexistent) exits 7" {
	require_tracing
	start_sleeper /usr/bin/python3.11
	PYMEMTRACE_BTF_PATH=/nonexistent run "$PMT" -p "$SLEEPER_PID" -d 1
	echo "$output"
	[ "$status" -eq 7 ]
	[[ "$output" == *BTF* ]]
}

@test "errors: a command that cannot be started exits 8" {
	require_tracing
	run "$PMT" -d 1 -- /nonexistent/no-such-program
	echo "$output"
	[ "$status" -eq 8 ]
	[[ "$output" == *no-such-program* ]]
}

@test "errors: bad command lines exit 2" {
	require_tracer
	local -a bad=(
		""                      # no target at all
		"--no-such-option -p 1"
		"-p"
		"-p notapid"
		"-p 12x"
		"-p -5"
		"-d notanumber -p 1"
		"-d -3 -p 1"
		"-i abc -p 1"
		"--json"
		"--ringbuf-kb lots -p 1"
		"--max-procs -1 -p 1"
		"--"
	)
	local args rc failed=0
	for args in "${bad[@]}"; do
		rc=0
		# shellcheck disable=SC2086 # word splitting is the point
		"$PMT" $args >/dev/null 2>&1 </dev/null || rc=$?
		if [ "$rc" -ne 2 ]; then
			echo "# pymemtrace $args: exit $rc, expected 2" >&3
			failed=1
		fi
	done
	[ "$failed" -eq 0 ]
}

@test "errors: --help exits 0 and documents the exit codes" {
	require_tracer
	run "$PMT" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *--dry-run* ]]
	[[ "$output" == *--json* ]]
}

@test "dry-run: prints a plan and attaches nothing" {
	require_tracing
	command -v strace >/dev/null || skip "strace not installed"
	start_sleeper /usr/bin/python3.11
	local before log="$BATS_TEST_TMPDIR/strace.log"
	before=$("$BPFTOOL" prog list -j | jq -c '[.[].id]')
	run env ASAN_OPTIONS="$(asan_options_under_ptrace)" strace -f -qq -o "$log" -e trace=bpf,ioctl \
		"$PMT" --dry-run -p "$SLEEPER_PID"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$SLEEPER_PID"* ]]
	# No program it loaded may outlive it.  Programs others unloaded
	# meanwhile do not matter, so ids are compared, not counts.
	assert_eq "bpf programs that appeared during --dry-run" "[]" "$("$BPFTOOL" prog list -j |
		jq -c --argjson b "$before" '[.[] | select((.id | IN($b[])) | not) | .id]')"
	# Feature probes may load test programs, but nothing may be attached:
	# no link, no raw tracepoint, no program set on a perf event.
	if grep -E 'BPF_LINK_CREATE|BPF_RAW_TRACEPOINT_OPEN|PERF_EVENT_IOC_SET_BPF' "$log" >&3; then
		echo "# --dry-run attached something (above)" >&3
		return 1
	fi
	proc_alive "$SLEEPER_PID"
}

# ---- files that change under the target and under pymemtrace ------------------------
# The target maps a private copy of libpython (LD_LIBRARY_PATH beats pyenv's
# RUNPATH); the test then cuts or replaces that copy while the target keeps
# the old pages mapped.  Sets SLEEPER_PID and LIBCOPY.
start_on_copied_libpython() {
	local py lib
	use_interp py3.12
	lib=$(dirname "$(dirname "$PY")")/lib/libpython3.12.so.1.0
	[ -f "$lib" ] || skip "pyenv 3.12 has no shared libpython"
	mkdir -p "$BATS_TEST_TMPDIR/lib"
	LIBCOPY=$BATS_TEST_TMPDIR/lib/libpython3.12.so.1.0
	cp "$lib" "$LIBCOPY"
	LD_LIBRARY_PATH=$BATS_TEST_TMPDIR/lib start_sleeper "$PY"
	grep -q " $LIBCOPY\$" "/proc/$SLEEPER_PID/maps" || {
		echo "# the target did not map $LIBCOPY" >&3
		return 1
	}
}

@test "errors: libpython truncated in place after the target mapped it: exit 4 naming the file and the cut" {
	require_tracing
	start_on_copied_libpython
	# Same inode, 5000 bytes left: the ELF header survives, the section
	# headers do not.  (ELF files are read, never mmapped: no SIGBUS.)
	truncate -s 5000 "$LIBCOPY"
	run "$PMT" --dry-run -p "$SLEEPER_PID"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"process $SLEEPER_PID ('python3.12') maps no readable CPython: '$LIBCOPY'"* ]]
	[[ "$output" == *"is truncated: section headers start at "*", past the file's end (5000 bytes)"* ]]
}

@test "errors: libpython replaced by another file after mapping: the mapped file is read through map_files" {
	require_tracing
	start_on_copied_libpython
	# A new inode at the same path (what a package upgrade does); the
	# mapping now reads "(deleted)".  The new file is not an interpreter.
	cp /bin/true "$BATS_TEST_TMPDIR/lib/new"
	mv "$BATS_TEST_TMPDIR/lib/new" "$LIBCOPY"
	run "$PMT" --dry-run -p "$SLEEPER_PID"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"'$LIBCOPY' in process $SLEEPER_PID is deleted or is not the mapped file; using '/proc/$SLEEPER_PID/map_files/"* ]]
	[[ "$output" == *"pid $SLEEPER_PID: CPython $PYVER_FULL"* ]]
}

@test "errors: a symlink under /proc/PID/root that points outside it is not followed to another file" {
	require_tracing
	command -v unshare >/dev/null || skip "unshare not installed"
	# Inside a chroot whose root is not a mount point, no new mount
	# namespace can be made private: the test cannot set its scene there.
	unshare -m --propagation private true 2>/dev/null ||
		skip "unshare -m --propagation private fails here (is / a mount point?)"
	# A chrooted target (its own mount namespace, so nothing is mounted on
	# the host).  /proc/PID/maps names its files as seen from our root, so
	# /proc/PID/root + that path is a path inside the chroot, which the
	# target controls: make it an absolute symlink.  The kernel resolves it
	# from our root, outside /proc/PID/root, to a cut copy of the
	# interpreter.  pymemtrace must see that this is not the mapped inode,
	# read the mapping itself through map_files, and never the outside file.
	local r=$BATS_TEST_TMPDIR/chroot outside=$BATS_TEST_TMPDIR/outside d
	mkdir -p "$r/tmp"
	for d in usr lib lib64 bin; do mkdir -p "$r/$d"; done
	head -c 5000 /usr/bin/python3.11 >"$outside"
	mkdir -p "$r$r/usr/bin"
	ln -s "$outside" "$r$r/usr/bin/python3.11"
	pmt_spawn "$BATS_TEST_TMPDIR/sleeper.out" "$BATS_TEST_TMPDIR/sleeper.err" \
		unshare -m --propagation private sh -c \
		"for d in usr lib lib64 bin; do mount --bind /\$d '$r'/\$d || exit 1; done
		 exec chroot '$r' /usr/bin/python3.11 -c 'import time; print(\"READY\", flush=True); time.sleep(120)'"
	local i pid=$SPAWN_PID   # unshare, sh and chroot exec into the target
	for ((i = 0; i < 500; i++)); do
		grep -q READY "$BATS_TEST_TMPDIR/sleeper.out" 2>/dev/null && break
		sleep 0.02
	done
	grep -q READY "$BATS_TEST_TMPDIR/sleeper.out" ||
		{ sed 's/^/# /' "$BATS_TEST_TMPDIR/sleeper.err" >&3; return 1; }
	grep -q " $r/usr/bin/python3.11\$" "/proc/$pid/maps"

	run timeout 60 "$PMT" --dry-run -p "$pid"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"'$r/usr/bin/python3.11' in process $pid is deleted or is not the mapped file; using '/proc/$pid/map_files/"* ]]
	[[ "$output" == *"pid $pid: CPython 3.11."* ]]
	[[ "$output" != *"is truncated"* ]]

	# The same with a FIFO outside: never opened (it would be, not block,
	# with O_NONBLOCK; but a device node could act on open).
	rm "$outside"
	mkfifo "$outside"
	run timeout 60 "$PMT" --dry-run -p "$pid"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"using '/proc/$pid/map_files/"* ]]
}
