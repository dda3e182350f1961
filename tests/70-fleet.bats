#!/usr/bin/env bats
# Many processes: fork following, retirement of exited workers, totals.
# tests/fixtures/fork_workers.py forks one worker per count; each worker
# waits for its own go-file, so it only collects once the tracer has said
# that the worker's probes are attached ("tracing pid N, forked by P").

load lib/common

COUNTS=(3 5 7)
WORKERS=()

# The workers are the fixture's children, not the test's: a failed test
# must end them too (pmt_cleanup ends what the test started).
teardown() {
	local pid
	for pid in "${WORKERS[@]}"; do
		proc_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	pmt_cleanup
}

# fleet_start LABEL TRACER-ARGS...: the fork fixture with COUNTS, traced by
# -p PARENT and the given arguments; waits until every worker is followed.
# Sets WORKERS (pids, in the order of COUNTS).
fleet_start() {
	local label=$1 k
	shift
	require_tracing
	use_interp "$label"
	start_fixture "$PY" fork_workers.py "${COUNTS[@]}"
	start_tracer -p "$FIX_PID" "$@"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/workers" 30 "$FIX_PID" || return 1
	mapfile -t WORKERS <"$FIX_CTL/workers"
	assert_eq "workers forked" "${#COUNTS[@]}" "${#WORKERS[@]}" || return 1
	for k in "${!WORKERS[@]}"; do
		wait_line "$TRACER_ERR" "tracing pid ${WORKERS[$k]}, forked by $FIX_PID" \
			30 "$TRACER_PID" || { show_tracer; return 1; }
	done
}

# wait_line FILE TEXT SECONDS PID: waits for a line of FILE containing TEXT.
wait_line() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		proc_alive "$4" || { grep -qF -- "$2" "$1" && return 0; break; }
		sleep 0.05
	done
	echo "# no line '$2' in $1" >&3
	return 1
}

# worker_run K: lets worker K collect and waits until it is done.
worker_run() {
	touch "$FIX_CTL/go-$1"
	wait_file "$FIX_CTL/done-$1" 60 "${WORKERS[$1]}"
}

# fleet_end: every worker and the parent leave; the tracer ends by itself.
fleet_end() {
	local k
	for k in "${!WORKERS[@]}"; do
		touch "$FIX_CTL/exit-$k"
	done
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "fixture exit status" 0 "$WAIT_RC" || return 1
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
}

fork_counts() {
	local j="$BATS_TEST_TMPDIR/report.json" k i sum=0
	fleet_start "$1" --json "$j" || return 1
	for k in "${!WORKERS[@]}"; do
		worker_run "$k" || return 1
	done
	fleet_end || return 1
	assert_eq "processes" 4 "$(json_get "$j" '.processes | length')"
	i=$(proc_index "$j" "$FIX_PID") || return 1
	assert_eq "parent gc.collections" "[0,0,0]" \
		"$(jq -c ".processes[$i].gc.collections" "$j")"
	assert_eq "parent parent_pid" null "$(json_get "$j" ".processes[$i].parent_pid")"
	for k in "${!WORKERS[@]}"; do
		i=$(proc_index "$j" "${WORKERS[$k]}") || return 1
		assert_eq "worker $k parent_pid" "$FIX_PID" \
			"$(json_get "$j" ".processes[$i].parent_pid")"
		# The interpreter's own count agrees with the fixture's request.
		assert_eq "worker $k gc.get_stats gen 2" "${COUNTS[$k]}" \
			"$(jq '.after[2] - .before[2]' "$FIX_CTL/done-$k")"
		assert_eq "worker $k gc.collections" "[0,0,${COUNTS[$k]}]" \
			"$(jq -c ".processes[$i].gc.collections" "$j")"
		assert_eq "worker $k state" exited "$(json_get "$j" ".processes[$i].state")"
		sum=$((sum + COUNTS[k]))
	done
	assert_eq "totals.gc_collections" "[0,0,$sum]" "$(jq -c .totals.gc_collections "$j")"
	assert_eq "totals.processes" 4 "$(json_get "$j" .totals.processes)"
	assert_eq "totals.forks_followed" 3 "$(json_get "$j" .totals.forks_followed)"
	assert_eq "totals.forks_missed" 0 "$(json_get "$j" .totals.forks_missed)"
	assert_eq "totals.retired" 0 "$(json_get "$j" .totals.retired)"
	assert_eq "totals.lost" 0 "$(json_get "$j" .totals.lost)"
}

@test "fleet: fork following, 3 workers with exact counts, debian python3.11" { fork_counts debian3.11; }
@test "fleet: fork following, 3 workers with exact counts, python3.8" { fork_counts py3.8; }
@test "fleet: fork following, 3 workers with exact counts, python3.12" { fork_counts py3.12; }
@test "fleet: fork following, 3 workers with exact counts, python3.13" { fork_counts py3.13; }

@test "fleet: --no-follow traces the parent only" {
	require_tracing
	use_interp debian3.11
	local j="$BATS_TEST_TMPDIR/report.json"
	start_fixture "$PY" fork_workers.py 2
	start_tracer -p "$FIX_PID" --no-follow --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/workers" 30 "$FIX_PID" || return 1
	touch "$FIX_CTL/go-0"
	wait_file "$FIX_CTL/done-0" 60 || return 1
	touch "$FIX_CTL/exit-0"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	assert_eq "processes" "[$FIX_PID]" "$(jq -c '[.processes[].pid]' "$j")"
	assert_eq "totals.forks_followed" 0 "$(json_get "$j" .totals.forks_followed)"
	assert_eq "totals.gc_collections" "[0,0,0]" "$(jq -c .totals.gc_collections "$j")"
}

# Interval reports (text on stdout) as "BLOCK PID" lines: the pids each one lists.
interval_pids() {
	awk '/^pymemtrace: interval at/ { b++; next }
	     b && $1 ~ /^[0-9]+$/ { print b, $1 }' "$1"
}

@test "fleet: -i retires an exited worker after one report; totals keep its counts" {
	local j="$BATS_TEST_TMPDIR/report.json" w0 blocks last first_gone k n
	fleet_start debian3.11 -i 0.5 --json "$j" || return 1
	for k in "${!WORKERS[@]}"; do
		worker_run "$k" || return 1
	done
	w0=${WORKERS[0]}
	# Worker 0 leaves; the others stay until it is gone from the reports.
	touch "$FIX_CTL/exit-0"
	for ((n = 0; n < 600; n++)); do
		proc_alive "$w0" || break
		sleep 0.05
	done
	proc_alive "$w0" && { echo "# worker 0 did not exit" >&3; return 1; }
	wait_line "$TRACER_ERR" "pid $w0 exited with code 0" 30 "$TRACER_PID" || return 1
	# Wait until two interval reports started after worker 0's last row.
	for ((n = 0; n < 600; n++)); do
		blocks=$(grep -c '^pymemtrace: interval at' "$TRACER_OUT")
		last=$(interval_pids "$TRACER_OUT" | awk -v p="$w0" '$2 == p { b = $1 } END { print b + 0 }')
		[ "$last" -ge 1 ] && [ "$blocks" -ge $((last + 2)) ] && break
		sleep 0.05
	done
	assert_ge "interval reports listing worker 0" "$last" 1 || { show_tracer; return 1; }
	assert_ge "interval reports after worker 0 was retired" "$blocks" $((last + 2)) || return 1
	# The report after the last one listing worker 0 lists the other workers.
	first_gone=$((last + 1))
	for k in 1 2; do
		assert_eq "worker $k in report $first_gone" 1 \
			"$(interval_pids "$TRACER_OUT" |
				awk -v b="$first_gone" -v p="${WORKERS[$k]}" '$1 == b && $2 == p { n++ } END { print n + 0 }')" ||
			{ show_tracer; return 1; }
	done
	grep -q '^1 exited process retired so far' "$TRACER_OUT" || { show_tracer; return 1; }
	fleet_end || return 1
	# Final report: worker 0 is not listed, but counted in the totals.
	assert_eq "worker 0 listed" null \
		"$(jq --argjson p "$w0" '[.processes[].pid] | index($p)' "$j")"
	n=$(json_get "$j" '.processes | length')
	assert_ge "totals.retired" "$(json_get "$j" .totals.retired)" 1
	assert_eq "totals.retired + listed" 4 $(($(json_get "$j" .totals.retired) + n))
	assert_eq "totals.processes" 4 "$(json_get "$j" .totals.processes)"
	assert_eq "totals.gc_collections" "[0,0,15]" "$(jq -c .totals.gc_collections "$j")"
	assert_eq "totals.lost" 0 "$(json_get "$j" .totals.lost)"
}

# all_picks_up LABEL PATH NEIGHBOUR: `--all PATH` attached first; a process
# of LABEL started afterwards is reported with every collection its
# interpreter counted, and NEIGHBOUR (another interpreter) is not.
all_picks_up() {
	require_tracing
	local label=$1 path=$2 nlabel=$3 j="$BATS_TEST_TMPDIR/report.json" i g tctl tpid nctl npid
	use_interp "$nlabel"
	local npy=$PY
	use_interp "$label"
	[ -e "$path" ] || skip "$path not present"
	start_tracer --all "$path" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	start_fixture "$npy" gc_collect.py 6
	nctl=$FIX_CTL npid=$FIX_PID
	start_fixture "$PY" gc_collect.py 4
	tctl=$FIX_CTL tpid=$FIX_PID
	fixture_go "$nctl" && fixture_go "$tctl" || return 1
	fixture_exit "$nctl" "$npid"
	fixture_exit "$tctl" "$tpid"
	wait_line "$TRACER_ERR" "pid $tpid exited with code 0" 30 "$TRACER_PID" || { show_tracer; return 1; }
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	assert_eq "totals.all_path" "$path" "$(json_get "$j" .totals.all_path)"
	i=$(proc_index "$j" "$tpid") || { show_tracer; return 1; }
	assert_eq "python.version" "$PYVER_FULL" "$(json_get "$j" ".processes[$i].python.version")"
	# Started after the probes: every collection of its life was seen.
	for g in 0 1 2; do
		assert_eq "gc.collections[$g]" "$(jq ".collections[$g]" "$tctl/final")" \
			"$(json_get "$j" ".processes[$i].gc.collections[$g]")"
	done
	assert_ge "gc.collections[2]" "$(json_get "$j" ".processes[$i].gc.collections[2]")" 4
	assert_eq "lost" 0 "$(json_get "$j" ".processes[$i].lost")"
	assert_eq "neighbour $npid listed" null \
		"$(jq --argjson p "$npid" '[.processes[].pid] | index($p)' "$j")"
}

@test "fleet: --all /usr/bin/python3.11 picks up a process started later, not a neighbour" {
	all_picks_up debian3.11 /usr/bin/python3.11 py3.12
}

@test "fleet: --all on a pyenv libpython3.12 picks up a process started later, not a neighbour" {
	local py
	py=$(interp_path py3.12) || skip "pyenv 3.12 not installed"
	all_picks_up py3.12 "$(dirname "$(dirname "$py")")/lib/libpython3.12.so.1.0" debian3.11
}

@test "fleet: --all refuses --alloc and -p (usage, exit 2)" {
	require_tracer
	run "$PMT" --all /usr/bin/python3.11 --alloc
	assert_eq "exit status with --alloc" 2 "$status"
	run "$PMT" --all /usr/bin/python3.11 -p 1
	assert_eq "exit status with -p" 2 "$status"
}

# gen2 FILE: the generation-2 collections counter of a scrape.
gen2() {
	awk 'index($1, "pymemtrace_gc_collections_total{") == 1 && index($1, "generation=\"2\"") { print $2 }' "$1"
}

@test "fleet: a scrape retires an exited worker, and its collections stay in the counter" {
	command -v curl >/dev/null || skip "curl is not installed (tools/install-deps.sh)"
	local m="$BATS_TEST_TMPDIR/metrics" addr="" k n w0 before after
	fleet_start debian3.11 --prometheus 0 || return 1
	for ((n = 0; n < 300; n++)); do
		addr=$(sed -n 's|.*serving metrics on http://\([^/]*\)/metrics.*|\1|p' "$TRACER_ERR")
		[ -n "$addr" ] && break
		sleep 0.1
	done
	[ -n "$addr" ] || { show_tracer; return 1; }
	for k in "${!WORKERS[@]}"; do
		worker_run "$k" || return 1
	done
	curl -s --max-time 20 -o "$m" "http://$addr/metrics" || return 1
	before=$(gen2 "$m")
	assert_eq "gen-2 collections before any exit" 15 "$before" || { cat "$m" >&3; return 1; }
	w0=${WORKERS[0]}
	touch "$FIX_CTL/exit-0"
	wait_line "$TRACER_ERR" "pid $w0 exited with code 0" 30 "$TRACER_PID" || return 1
	# the first scrape shows the exit and retires the worker; later ones
	# no longer hold it, and the counter must not go down
	for n in 1 2 3; do
		curl -s --max-time 20 -o "$m" "http://$addr/metrics" || return 1
		after=$(gen2 "$m")
		assert_eq "gen-2 collections after scrape $n" 15 "$after" || { cat "$m" >&3; return 1; }
	done
	kill -INT "$TRACER_PID"
	fleet_end || return 1
	grep -q "retired" "$TRACER_OUT" || { show_tracer; return 1; }
}

# exec_follow LABEL [K]: a traced parent starts a child with subprocess
# (fork, exec of the same interpreter): the child is traced again after its
# exec, with its own exact collections.  K: first K helpers that are not
# Python, alive while the child starts (each waits a second in the tracer's
# queue of exec'd children).
exec_follow() {
	local j="$BATS_TEST_TMPDIR/report.json" c n=4
	require_tracing
	use_interp "$1"
	start_fixture "$PY" exec_child.py "$n" ${2:+"$2"}
	start_tracer -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/child" 30 "$FIX_PID" || return 1
	c=$(cat "$FIX_CTL/child")
	WORKERS=("$c")
	wait_line "$TRACER_ERR" "tracing pid $c, forked by $FIX_PID, exec'd CPython" \
		30 "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go-child"
	wait_file "$FIX_CTL/done-child" 60 "$c" || return 1
	assert_eq "the child's own count" "$n" \
		"$(jq '.after[2] - .before[2]' "$FIX_CTL/done-child")" || return 1
	kill -INT "$TRACER_PID"
	wait_exit "$TRACER_PID" 30
	assert_eq "tracer exit status" 0 "$WAIT_RC" || { show_tracer; return 1; }
	touch "$FIX_CTL/exit"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "child gen-2 collections" "$n" \
		"$(jq --argjson p "$c" '.processes[] | select(.pid == $p) | .gc.collections[2]' "$j")" ||
		{ show_tracer; return 1; }
	assert_eq "child's parent" "$FIX_PID" \
		"$(jq --argjson p "$c" '.processes[] | select(.pid == $p) | .parent_pid' "$j")" || return 1
	assert_eq "parent gen-2 collections" 0 \
		"$(jq --argjson p "$FIX_PID" '.processes[] | select(.pid == $p) | .gc.collections[2]' "$j")" || return 1
}

@test "fleet: a subprocess child (fork, exec) is traced again, exact counts, debian python3.11" { exec_follow debian3.11; }
@test "fleet: a subprocess child (fork, exec) is traced again, exact counts, python3.11" { exec_follow py3.11; }
# A queue of 16 exec'd children once dropped the 17th and later ones, called
# "dropped at exec" as if they were not Python.
@test "fleet: a subprocess child started after 40 non-Python helpers is traced again, exact counts, debian python3.11" { exec_follow debian3.11 40; }

# fork_alloc LABEL: two forked workers allocate the same blocks at the same
# addresses (tests/fixtures/fork_alloc.py); worker 0 frees its blocks, worker
# 1 keeps them.  Each worker's frees must meet its own allocations: worker 1
# still holds every byte, worker 0 none.
fork_alloc() {
	require_tracing
	use_interp "$1"
	local j="$BATS_TEST_TMPDIR/report.json" k
	start_fixture "$PY" fork_alloc.py
	start_tracer --alloc --top 100 -p "$FIX_PID" --json "$j"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	touch "$FIX_CTL/go"
	wait_file "$FIX_CTL/workers" 30 "$FIX_PID" || return 1
	mapfile -t WORKERS <"$FIX_CTL/workers"
	assert_eq "workers forked" 2 "${#WORKERS[@]}" || return 1
	for k in 0 1; do
		wait_line "$TRACER_ERR" "tracing pid ${WORKERS[$k]}, forked by $FIX_PID" \
			30 "$TRACER_PID" || { show_tracer; return 1; }
	done
	for k in 0 1; do
		touch "$FIX_CTL/hold-$k"
		wait_file "$FIX_CTL/held-$k" 60 "${WORKERS[$k]}" || return 1
	done
	touch "$FIX_CTL/free-0"
	wait_file "$FIX_CTL/freed-0" 60 "${WORKERS[0]}" || return 1
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	touch "$FIX_CTL/free-1" "$FIX_CTL/exit-0" "$FIX_CTL/exit-1"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "fixture exit status" 0 "$WAIT_RC" || return 1
	"$HOST_PY" - "$j" "$FIX_CTL" <<'PY'
import json, os, sys
report, ctl = sys.argv[1], sys.argv[2]
procs = {p["pid"]: p for p in json.load(open(report))["processes"]}

def live_in(p, name):
    # 3.8-3.11 run a list comprehension as its own function (<listcomp>)
    # called from the named one; 3.12+ inline it (PEP 709).
    return sum(s["live_bytes"] for s in p["stacks"]
               if any(f["function"].split(".")[0] == name for f in s["python"][:2]))

for k in (0, 1):
    held = json.load(open(os.path.join(ctl, "held-%d" % k)))
    p = procs[held["pid"]]
    assert p["lost"] == 0, (k, p["lost_detail"])
    for name, want, most in (
            # the bytearrays' buffers, and their objects (pymalloc's)
            ("hold_raw", held["raw_bytes"],
             held["raw_bytes"] + held["raw_header_block_bytes"] + held["raw_list_bytes"]),
            # a build whose pymalloc is inlined (Debian's LTO) sees block sizes
            ("hold_small", held["small_bytes"], held["small_block_bytes"] + held["small_list_bytes"])):
        live = live_in(p, name)
        if k == 1:
            assert want <= live <= most, (k, name, live, want, most)
        else:
            # what CPython keeps of the freed lists (a free-listed list object)
            assert live <= 1024, (k, name, live, want)
        print("# worker %d %s: live %d, held %d" % (k, name, live, want if k else 0))
PY
}

@test "fleet: --alloc, forked workers' blocks at the same addresses stay apart, debian python3.11" { fork_alloc debian3.11; }
@test "fleet: --alloc, forked workers' blocks at the same addresses stay apart, python3.12" { fork_alloc py3.12; }

# tracer_rss_kib ARGS...: the tracer's VmRSS (KiB) once attached with ARGS
tracer_rss_kib() {
	start_tracer -q "$@"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	awk '/^VmRSS:/ { print $2 }' /proc/"$TRACER_PID"/status
	stop_tracer
}

# Each plan reads its interpreter file whole (6.8 MB for Debian's
# python3.11, 23 MB for pyenv's libpython3.11 with its symbols); kept for
# the whole trace, six targets cost the tracer six copies.
@test "fleet: the tracer's resident memory does not keep a copy of the interpreter file per traced process" {
	skip_under_asan "ASan holds freed memory in its quarantine: RSS there is not the release build's"
	require_tracing
	local pids=() args=() one six size i
	for i in 1 2 3 4 5 6; do
		start_sleeper /usr/bin/python3.11
		pids+=("$SLEEPER_PID")
		args+=(-p "$SLEEPER_PID")
	done
	one=$(tracer_rss_kib -p "${pids[0]}") || return 1
	six=$(tracer_rss_kib "${args[@]}") || return 1
	size=$(( $(stat -c %s /usr/bin/python3.11) / 1024 ))
	echo "# VmRSS: one target $one KiB, six targets $six KiB, the file $size KiB" >&3
	[ "$((six - one))" -lt "$size" ] || {
		echo "# five more targets cost $((six - one)) KiB, a copy of the file is $size KiB" >&3
		return 1
	}
}
