#!/usr/bin/env bats
# tools/bench's self-check: one tiny workload, one rep, every section and mode
# on Debian's python3.11 (about 20 s).  It checks that every mode's row is a
# ratio, or for a peer "not measured: <why>", and that the saved results
# redraw as a PNG; it never checks a timing.

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	require_tracing
	[ -x /usr/bin/python3.11 ] || skip "Debian's python3.11 is not installed"
}

@test "bench: --selftest prints a row for every mode and reads its own table back" {
	local res="$BATS_TEST_TMPDIR/results.json"
	run --separate-stderr "$HOST_PY" "$PMT_ROOT/tools/bench" --selftest \
		--python debian-3.11=/usr/bin/python3.11 --save "$res"
	echo "$output"
	echo "$stderr" | tail -20
	assert_eq "selftest status" 0 "$status"
	[[ "$output" == *"selftest: ok"* ]]
	# pymemtrace's own modes are always measured, never "not measured".
	grep -qE '^alloc/1 +debian-3.11 +pymemtrace +[0-9.]+s +[0-9.]+x' <<<"$output"
	grep -qE '^alloc/1 +debian-3.11 +full +[0-9.]+s +[0-9.]+x +[0-9-]+ +[0-9]+ ' <<<"$output"
	# A peer row is a number or says why not.
	grep -qE '^alloc/1 +debian-3.11 +tm25 +[0-9.]+s +[0-9.]+x' <<<"$output"
	local peer
	for peer in bpftrace malloc memleak austin-m ugc; do
		grep -qE "^alloc/1 +debian-3.11 +$peer +([0-9.]+s +[0-9.]+x|not measured: .+)" \
			<<<"$output"
	done
	# The bare trap count is measured on Debian's LTO build too, its
	# inlined sites taken from the tracer's --dry-run plan (perf: the
	# README's test command installs linux-perf).
	grep -qE '^alloc/1 +debian-3.11 +bare +[0-9.]+s +[0-9.]+x +[0-9-]+ +[0-9]+ ' <<<"$output"
	# The saved results hold the same rows.
	jq -e '.alloc | map(select(.mode == "full")) | .[0].events[0] > 0' "$res"
	jq -e '.costs | map(select(.mode == "default")) | length == 1' "$res"
	# The attach cycles: an A/A row and pymemtrace's, each a ratio.
	jq -e '.cycles | map(select(.mode == "pymemtrace")) | .[0].ratios | length == 1' "$res"
	# bcc's ugc leaves its tracefs uprobe events behind when its attach
	# fails; the bench removes those of finished bcc processes.
	local ev f
	for f in /sys/kernel/tracing/uprobe_events /sys/kernel/debug/tracing/uprobe_events; do
		[ -r "$f" ] || continue
		for ev in $(grep -o '_bcc_[0-9]*\b' "$f" | cut -d_ -f3); do
			[ -d "/proc/$ev" ] || { echo "# left behind: $(grep "_bcc_$ev" "$f")" >&3; return 1; }
		done
	done
}

@test "bench: --replot draws saved results as a PNG without running anything" {
	"$HOST_PY" -c 'import matplotlib' 2>/dev/null ||
		skip "python3-matplotlib is not installed (tools/install-bench-deps.sh)"
	local res="$BATS_TEST_TMPDIR/results.json" png="$BATS_TEST_TMPDIR/bench.png"
	# A hand-made result set: three sections, one peer not measured, one
	# attach-cycles row that failed.
	cat >"$res" <<-'EOF'
	{"reps": 3, "host": "test",
	 "default": [
	  {"workload": "gc", "interp": "py", "mode": "untraced", "not_measured": null,
	   "cpu": [0.5], "ratio": null},
	  {"workload": "gc", "interp": "py", "mode": "pymemtrace", "not_measured": null,
	   "cpu": [0.5], "ratio": {"median": 1.02, "q1": null, "q3": null}}],
	 "cycles": [
	  {"workload": "gc", "interp": "py", "mode": "A/A", "desc": "noise", "not_measured": null,
	   "errors": [],
	   "ratios": [1.0, 0.99], "cpu_per_round": 0.01,
	   "ratio": {"median": 0.995, "q1": 0.99, "q3": 1.0}},
	  {"workload": "gc", "interp": "py", "mode": "pymemtrace", "desc": "default",
	   "not_measured": null, "errors": [], "ratios": [1.02, 1.03], "cpu_per_round": 0.01,
	   "ratio": {"median": 1.025, "q1": 1.02, "q3": 1.03}},
	  {"workload": "gc", "interp": "py", "mode": "gc-all", "desc": "off",
	   "not_measured": null,
	   "errors": ["the workload made no round"], "ratios": [], "ratio": null}],
	 "alloc": [
	  {"workload": "gc/8", "interp": "py", "mode": "full", "not_measured": null,
	   "cpu": [2.0], "ratio": {"median": 40.0, "q1": 35.0, "q3": 45.0}},
	  {"workload": "gc/8", "interp": "py", "mode": "tm1", "not_measured": null,
	   "cpu": [0.3], "ratio": {"median": 7.0, "q1": 6.5, "q3": 7.5}},
	  {"workload": "gc/8", "interp": "py", "mode": "memleak",
	   "not_measured": "no kernel headers", "cpu": [], "ratio": null}]}
	EOF
	run "$HOST_PY" "$PMT_ROOT/tools/bench" --replot "$res" --plot "$png"
	echo "$output"
	assert_eq "replot status" 0 "$status"
	[[ "$output" == *"memleak     not measured: no kernel headers"* ]]
	# A PNG: its 8-byte signature, and a panel for each of the three
	# sections: 4.8 in at 110 dpi each, 528 px (the IHDR's height, bytes
	# 20-23, give or take a pixel of rounding).
	[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
	assert_eq "PNG panels" 3 "$(od -An -j20 -N4 -tu1 "$png" |
		awk '{ print int(($1 * 16777216 + $2 * 65536 + $3 * 256 + $4 + 264) / 528) }')"
}

# --cycle-mode measures other tracer flags by attach cycles, on the
# workloads that --workload names: one cycle of one mode on one workload.
@test "bench: --cycles --cycle-mode NAME=FLAGS --workload gc measures those flags on that workload only" {
	local res="$BATS_TEST_TMPDIR/results.json"
	run --separate-stderr "$HOST_PY" "$PMT_ROOT/tools/bench" --cycles --reps 1 --only \
		--python debian-3.11=/usr/bin/python3.11 --workload gc \
		--cycle-mode 'low=--gc-budget 0.01' --save "$res"
	echo "$output"
	echo "$stderr" | tail -20
	assert_eq "bench status" 0 "$status"
	assert_eq "rows: A/A and low, on gc" '["gc A/A","gc low"]' \
		"$(jq -c '[.cycles[] | "\(.workload) \(.mode)"]' "$res")"
	jq -e '.cycles | map(select(.mode == "low")) | .[0] | (.ratios | length == 1) and
		(.desc | endswith("--gc-budget 0.01"))' "$res"
	grep -qE '^gc +debian-3.11 +low +[0-9.]+s +[0-9.]+x' <<<"$output"
	# bad specifications are refused before anything runs
	run "$HOST_PY" "$PMT_ROOT/tools/bench" --cycles --cycle-mode 'A/A=-v'
	assert_eq "A/A as a mode name" 2 "$status"
	run "$HOST_PY" "$PMT_ROOT/tools/bench" --cycle-mode 'x=-v'
	assert_eq "--cycle-mode without --cycles" 2 "$status"
	run "$HOST_PY" "$PMT_ROOT/tools/bench" --cycles --workload nope
	assert_eq "an unknown workload" 2 "$status"
}
