#!/usr/bin/env bats
# `pymemtrace census`: objects by type from outside (README.md "Heap census").
# Exact populations: census_pop.py holds POP instances of one uniquely named
# class; census_growth.py adds GROW lists between the two snapshots of
# --growth; census_churn.py mutates its GC lists while the census walks them.

load lib/common

POP=100000
GROW=30000
TOOL=${PMT_TEST_TOOL:-$PMT_ROOT/build/pmt-test-tool}

teardown() {
	pmt_cleanup
}

# within_1pct GOT WANT
within_1pct() {
	local got=$1 want=$2 d
	d=$((got > want ? got - want : want - got))
	if ((d * 100 > want)); then
		echo "got $got, want $want (within 1%)"
		return 1
	fi
}

# census_population LABEL [--subinterp]
census_population() {
	require_root
	require_tracer
	use_interp "$1"
	start_fixture "$PY" census_pop.py "$POP" ${2:-}
	fixture_go "$FIX_CTL"
	local cls size count bytes out="$BATS_TEST_TMPDIR/census.json"
	cls=$(json_get "$FIX_CTL/done" .class)
	size=$(json_get "$FIX_CTL/done" .size)
	run "$PMT" census -p "$FIX_PID" --json "$out"
	echo "$output"
	[ "$status" -eq 0 ]
	# the text report names the class too
	[[ "$output" == *"$cls"* ]]
	count=$(jq -r --arg t "$cls" '.census.types[] | select(.type == $t) | .count' "$out")
	bytes=$(jq -r --arg t "$cls" '.census.types[] | select(.type == $t) | .bytes' "$out")
	echo "count=$count bytes=$bytes getsizeof=$size"
	within_1pct "$count" "$POP"
	within_1pct "$bytes" $((POP * size))
	# a quiet target is walked whole
	assert_eq "census.walk.complete" true "$(json_get "$out" .census.walk.complete)"
	assert_eq "census.walk.skipped" 0 "$(json_get "$out" .census.walk.skipped)"
	# and it runs on: the census neither stops nor kills it
	proc_alive "$FIX_PID"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "exit status" 0 "$WAIT_RC"
}

@test "census: 100,000 instances by type, debian python3.11" { census_population debian3.11; }
@test "census: 100,000 instances by type, python3.8" { census_population py3.8; }
@test "census: 100,000 instances by type, python3.9" { census_population py3.9; }
@test "census: 100,000 instances by type, python3.10" { census_population py3.10; }
@test "census: 100,000 instances by type, python3.11" { census_population py3.11; }
@test "census: 100,000 instances by type, python3.12" { census_population py3.12; }
@test "census: 100,000 instances by type, python3.13" { census_population py3.13; }

# gc_offsets_from_headers INCDIR MM: the census's fields by offsetof() against
# the interpreter's own internal headers, in `pmt-test-tool gc-offsets` form.
gc_offsets_from_headers() {
	local inc=$1 mm=$2 c="$BATS_TEST_TMPDIR/gcoff.c"
	{
		echo '#define Py_BUILD_CORE 1'
		echo '#include <Python.h>'
		echo '#include <stdio.h>'
		echo '#include <stddef.h>'
		if [ "$mm" = 3.8 ]; then
			echo '#include <internal/pycore_pystate.h>'
		else
			echo '#include <internal/pycore_runtime.h>'
			echo '#include <internal/pycore_interp.h>'
			echo '#include <internal/pycore_gc.h>'
		fi
		echo 'int main(void) {'
		echo ' printf("interpreters.head %zu\n", offsetof(_PyRuntimeState, interpreters.head));'
		echo ' printf("interp.next %zu\n", offsetof(PyInterpreterState, next));'
		if [ "$mm" = 3.8 ]; then
			echo ' printf("runtime.gc %zu\n", offsetof(_PyRuntimeState, gc));'
		else
			echo ' printf("interp.gc %zu\n", offsetof(PyInterpreterState, gc));'
		fi
		echo ' printf("gc.generations %zu\n", offsetof(struct _gc_runtime_state, generations));'
		echo ' printf("gc_generation %zu\n", sizeof(struct gc_generation));'
		echo ' printf("gc.permanent_generation %zu\n", offsetof(struct _gc_runtime_state, permanent_generation));'
		echo ' printf("PyGC_Head %zu\n", sizeof(PyGC_Head));'
		echo ' printf("ob_type %zu\nob_size %zu\n", offsetof(PyObject, ob_type), offsetof(PyVarObject, ob_size));'
		echo ' printf("tp_name %zu\ntp_basicsize %zu\n", offsetof(PyTypeObject, tp_name), offsetof(PyTypeObject, tp_basicsize));'
		echo ' printf("tp_itemsize %zu\ntp_flags %zu\n", offsetof(PyTypeObject, tp_itemsize), offsetof(PyTypeObject, tp_flags));'
		echo ' return 0; }'
	} >"$c"
	cc -I"$inc" "$c" -o "$BATS_TEST_TMPDIR/gcoff" && "$BATS_TEST_TMPDIR/gcoff"
}

@test "census: the GC offsets table matches offsetof() in each interpreter's headers" {
	[ -x "$TOOL" ] || { echo "# $TOOL is not built" >&3; return 1; }
	command -v cc >/dev/null || skip "no C compiler"
	local l p mm inc file n=0 want got
	for l in $PMT_LABELS; do
		p=$(interp_path "$l") || continue
		mm=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
		if [ "$l" = debian3.11 ]; then
			inc=/usr/include/python$mm file=$p
		else
			inc=${p%/bin/*}/include/python$mm file=${p%/bin/*}/lib/libpython$mm.so.1.0
		fi
		if [ ! -d "$inc/internal" ]; then
			echo "# $l: no internal headers in $inc, not checked" >&3
			continue
		fi
		want=$(gc_offsets_from_headers "$inc" "$mm")
		got=$("$TOOL" gc-offsets "$file" | grep -v '^source ')
		echo "$l:"; diff <(echo "$want") <(echo "$got")
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}

# (3.8 keeps one GC state for the whole runtime: nothing to tell apart there)
@test "census: the main interpreter, with a subinterpreter, python3.9" { census_population py3.9 --subinterp; }
@test "census: the main interpreter, with a subinterpreter, python3.12" { census_population py3.12 --subinterp; }
@test "census: the main interpreter, with a subinterpreter, python3.13" { census_population py3.13 --subinterp; }

census_growth() {
	require_root
	require_tracer
	use_interp "$1"
	start_fixture "$PY" census_growth.py 1000 "$GROW"
	fixture_go "$FIX_CTL"
	local out="$BATS_TEST_TMPDIR/growth.json" err="$BATS_TEST_TMPDIR/growth.err" i
	pmt_spawn "$BATS_TEST_TMPDIR/growth.out" "$err" \
		"$PMT" census -p "$FIX_PID" --growth 3 --json "$out"
	local census=$SPAWN_PID
	for ((i = 0; i < 1500; i++)); do
		grep -q "first snapshot taken" "$err" 2>/dev/null && break
		proc_alive "$census" || break
		sleep 0.02
	done
	grep -q "first snapshot taken" "$err" || { cat "$err"; false; }
	touch "$FIX_CTL/grow"
	wait_file "$FIX_CTL/grown" 30 "$FIX_PID"
	wait_exit "$census" 60
	cat "$BATS_TEST_TMPDIR/growth.out" "$err"
	assert_eq "exit status" 0 "$WAIT_RC"
	assert_eq "census.growth.types[0].type" list "$(json_get "$out" '.census.growth.types[0].type')"
	within_1pct "$(json_get "$out" '.census.growth.types[0].delta')" "$GROW"
	# the text report leads with it too
	grep -A2 '^Growth over' "$BATS_TEST_TMPDIR/growth.out" | grep -qE '^  list +[0-9]+ +\+'
	fixture_exit "$FIX_CTL" "$FIX_PID"
}

@test "census: --growth names the grown type first, debian python3.11" { census_growth debian3.11; }
@test "census: --growth names the grown type first, python3.8" { census_growth py3.8; }
@test "census: --growth names the grown type first, python3.9" { census_growth py3.9; }
@test "census: --growth names the grown type first, python3.10" { census_growth py3.10; }
@test "census: --growth names the grown type first, python3.11" { census_growth py3.11; }
@test "census: --growth names the grown type first, python3.12" { census_growth py3.12; }
@test "census: --growth names the grown type first, python3.13" { census_growth py3.13; }

census_churn() {
	require_root
	require_tracer
	use_interp "$1"
	start_fixture "$PY" census_churn.py
	fixture_go "$FIX_CTL"
	local out="$BATS_TEST_TMPDIR/churn.json" i
	for ((i = 0; i < 5; i++)); do
		pmt_spawn "$BATS_TEST_TMPDIR/churn.out" "$BATS_TEST_TMPDIR/churn.err" \
			"$PMT" census -p "$FIX_PID" --json "$out" --max-time 10
		# bounded: --max-time 10 per snapshot, so 60 s means a hang
		wait_exit "$SPAWN_PID" 60
		cat "$BATS_TEST_TMPDIR/churn.err"
		assert_eq "exit status" 0 "$WAIT_RC"
		# the report says how much of the walk it could not do
		jq -e '.census.walk | (.skipped_share | type == "number") and
			(.gaps | type == "number") and (.lists == 4) and
			(.complete == (.gaps == 0 and .skipped == 0 and (.stopped_early | not)))' "$out"
		grep -q "unreachable list stretches" "$BATS_TEST_TMPDIR/churn.out"
	done
	proc_alive "$FIX_PID"
	fixture_exit "$FIX_CTL" "$FIX_PID"
	assert_eq "exit status" 0 "$WAIT_RC"
	# the fixture kept mutating throughout
	[ "$(json_get "$FIX_CTL/final" .rounds)" -gt 10 ]
}

@test "census: a target mutating during the walk, debian python3.11" { census_churn debian3.11; }
@test "census: a target mutating during the walk, python3.12" { census_churn py3.12; }
@test "census: a target mutating during the walk, python3.13" { census_churn py3.13; }

@test "census: --max-objects stops early and says so" {
	require_root
	require_tracer
	use_interp debian3.11
	start_fixture "$PY" census_pop.py "$POP"
	fixture_go "$FIX_CTL"
	local out="$BATS_TEST_TMPDIR/cut.json"
	run "$PMT" census -p "$FIX_PID" --max-objects 5000 --json "$out"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"STOPPED EARLY"* ]]
	assert_eq "census.walk.stopped_early" true "$(json_get "$out" .census.walk.stopped_early)"
	assert_eq "census.walk.complete" false "$(json_get "$out" .census.walk.complete)"
	assert_eq "census.walk.objects" 5000 "$(json_get "$out" .census.walk.objects)"
}

@test "census: Prometheus gauges for the top types" {
	require_root
	require_tracer
	use_interp debian3.11
	start_fixture "$PY" census_pop.py "$POP"
	fixture_go "$FIX_CTL"
	local size
	size=$(json_get "$FIX_CTL/done" .size)
	run "$PMT" census -p "$FIX_PID" -o prom --top 3
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pymemtrace_census_objects{pid=\"$FIX_PID\",type=\"CensusPopWidget7\"} $POP"* ]]
	[[ "$output" == *"pymemtrace_census_bytes{pid=\"$FIX_PID\",type=\"CensusPopWidget7\"} $((POP * size))"* ]]
	assert_eq "prom series" 3 "$(grep -c '^pymemtrace_census_objects{' <<<"$output")"
	if command -v promtool >/dev/null 2>&1; then
		promtool check metrics <<<"$output"
	fi
}

# census_untracked LABEL: 200,000 floats (untracked by the GC) next to the
# class population: the pymalloc census is taken with the type census, and
# the untracked estimate (live pymalloc bytes minus GC-tracked small objects)
# covers at least the floats' bytes.
census_untracked() {
	require_root
	require_tracer
	use_interp "$1"
	local nf=200000 out="$BATS_TEST_TMPDIR/u.json" fb size used est arena
	start_fixture "$PY" census_pop.py "$POP" --floats "$nf"
	fixture_go "$FIX_CTL"
	fb=$(json_get "$FIX_CTL/done" .float_bytes)
	size=$(json_get "$FIX_CTL/done" .size)
	run "$PMT" census -p "$FIX_PID" --json "$out"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pymalloc census ("* ]]
	used=$(json_get "$out" .census.pymalloc.used_bytes)
	arena=$(json_get "$out" .census.pymalloc.arena_bytes)
	est=$(json_get "$out" .census.untracked.estimated_bytes)
	echo "float bytes=$fb instances=$((POP * size)) used=$used arena=$arena estimate=$est"
	((used >= POP * size + fb))
	((arena >= used))
	((est >= fb))
	# and no more than everything pymalloc holds
	((est <= used))
	fixture_exit "$FIX_CTL" "$FIX_PID"
}

@test "census: untracked objects estimated from pymalloc, debian python3.11" { census_untracked debian3.11; }
@test "census: untracked objects estimated from pymalloc, python3.8" { census_untracked py3.8; }
@test "census: untracked objects estimated from pymalloc, python3.10" { census_untracked py3.10; }
@test "census: untracked objects estimated from pymalloc, python3.12" { census_untracked py3.12; }
@test "census: untracked objects estimated from pymalloc, python3.13" { census_untracked py3.13; }

@test "census: without pymalloc (PYTHONMALLOC=malloc), no made-up numbers" {
	require_root
	require_tracer
	use_interp debian3.11
	PYTHONMALLOC=malloc start_fixture "$PY" census_pop.py 10
	fixture_go "$FIX_CTL"
	local out="$BATS_TEST_TMPDIR/p.json"
	run "$PMT" census -p "$FIX_PID" --json "$out"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"not on the GC lists"* ]]
	assert_eq "census.untracked.estimated_bytes" null "$(json_get "$out" .census.untracked.estimated_bytes)"
	# either no pymalloc census with its reason, or an empty one
	local pm
	pm=$(jq -r '.census.pymalloc | if . == null then "null" else (.used_bytes | tostring) end' "$out")
	[[ "$pm" == null || "$pm" == 0 ]]
	if [ "$pm" = null ]; then
		[ -n "$(json_get "$out" .census.pymalloc_reason)" ]
	fi
	fixture_exit "$FIX_CTL" "$FIX_PID"
}

@test "census: a pid that does not exist exits 3" {
	require_root
	require_tracer
	local p
	(exit 0) &
	p=$!
	wait "$p"
	while [ -e "/proc/$p" ]; do p=$((p + 1)); done
	run "$PMT" census -p "$p"
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *"$p"* ]]
}

@test "census: a process that is not Python exits 4" {
	require_root
	require_tracer
	pmt_spawn /dev/null /dev/null sleep 60
	local p=$SPAWN_PID
	run "$PMT" census -p "$p"
	echo "$output"
	[ "$status" -eq 4 ]
	proc_alive "$p"
}

@test "census: bad command lines exit 2" {
	require_tracer
	run "$PMT" census
	[ "$status" -eq 2 ]
	[[ "$output" == *"-p PID is required"* ]]
	run "$PMT" census -p 1 --growth 0
	[ "$status" -eq 2 ]
	run "$PMT" census -p 1 -o xml
	[ "$status" -eq 2 ]
	run "$PMT" census -p abc
	[ "$status" -eq 2 ]
	run "$PMT" census --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: pymemtrace census"* ]]
}

@test "census: a target the user may not read exits 6" {
	require_root
	require_tracer
	id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
	local as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups) pmt=$PMT dir=""
	# nobody must be able to run the binary (a checkout under /root is not
	# searchable): run a copy then
	if ! "${as_nobody[@]}" test -x "$pmt"; then
		dir=$(mktemp -d /tmp/pmt-nobody.XXXXXX)
		chmod 755 "$dir"
		cp "$PMT" "$dir/pymemtrace"
		pmt=$dir/pymemtrace
	fi
	use_interp debian3.11
	start_fixture "$PY" census_pop.py 10
	run "${as_nobody[@]}" "$pmt" census -p "$FIX_PID"
	[ -z "$dir" ] || rm -rf "$dir"
	echo "$output"
	[ "$status" -eq 6 ]
	proc_alive "$FIX_PID"
}
