#!/bin/bash
# Traces the bundled demo program three ways: launched by pymemtrace,
# attached to while already running, and attached with --alloc.  Builds nothing: `make demo` did.
set -u
cd "$(dirname "$0")/.." || exit 1

PMT=build/pymemtrace
PY=/usr/bin/python3.11
if [ ! -x "$PMT" ]; then
	echo "run-demo.sh: $PMT is not built (run: make)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "run-demo.sh: pymemtrace needs root (try: sudo make demo)" >&2
	exit 1
fi

echo "=== 1. launch: $PMT -- $PY tools/demo.py"
"$PMT" -- "$PY" tools/demo.py 5
rc=$?
echo "(pymemtrace exit status $rc)"
[ "$rc" -eq 0 ] || exit "$rc"

echo
echo "=== 2. attach: $PY tools/demo.py & $PMT -p \$pid -d 3"
"$PY" tools/demo.py 6 &
pid=$!
sleep 1                     # let it get going: this is a running service
"$PMT" -p "$pid" -d 3
rc=$?
echo "(pymemtrace exit status $rc)"
wait "$pid"
[ "$rc" -eq 0 ] || exit "$rc"

echo
echo "=== 3. allocations: $PY tools/demo.py & $PMT --alloc --top 3 -p \$pid -d 3"
"$PY" tools/demo.py 6 &
pid=$!
sleep 1
"$PMT" --alloc --top 3 -p "$pid" -d 3
rc=$?
echo "(pymemtrace exit status $rc)"
wait "$pid"
exit "$rc"
