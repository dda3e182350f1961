#!/usr/bin/env bats
# Prometheus: the /metrics endpoint, a real Prometheus server scraping it,
# promtool's checks, the textfile output, and the endpoint's limits.
# The GC figures are exact: the gc_collect fixture makes N explicit gen-2
# collections with automatic GC disabled (see tests/20-gc.bats).

load lib/common

N=7

# promtool, prometheus, curl and ss come from tools/install-deps.sh: their
# absence is a failure, not a reason to skip.
require_prom_tools() {
	local t
	for t in promtool prometheus curl ss; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "# $t is missing (tools/install-deps.sh installs it)" >&3
			return 1
		fi
	done
}

# gc_traced ARGS...: the tracer (with ARGS) watches the fixture make its N
# collections; sets PROM_ADDR when ARGS serve metrics.
gc_traced() {
	require_tracing
	require_prom_tools
	use_interp debian3.11
	start_fixture "$PY" gc_collect.py "$N"
	start_tracer -p "$FIX_PID" "$@"
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	# What the interpreter itself counted in the window.
	assert_eq "gen-2 collections by the fixture" "$N" "$(jq '.after[2] - .before[2]' "$FIX_CTL/done")"
}

# sample FILE NAME LABEL: the value of NAME's sample whose labels include
# LABEL (passed through the environment: awk -v would undo its escapes).
sample() {
	S_NAME="$2" S_LABEL="$3" awk 'index($1, ENVIRON["S_NAME"] "{") == 1 &&
		index($1, ENVIRON["S_LABEL"]) { print $2 }' "$1"
}

# scrape FILE [CURL_ARGS...]: GET /metrics into FILE; sets SCRAPE ("CODE TYPE").
scrape() {
	local f=$1
	shift
	SCRAPE=$(curl -s --max-time 20 -o "$f" -w '%{http_code} %{content_type}' "$@" \
		"http://$PROM_ADDR/metrics")
}

# check_gc FILE: exact GC figures of generation 2, and a consistent histogram.
check_gc() {
	local f=$1 prev=0 v le
	assert_eq "collections_total{generation=2}" "$N" \
		"$(sample "$f" pymemtrace_gc_collections_total 'generation="2"')" || return 1
	assert_eq "collections_total{generation=0}" 0 \
		"$(sample "$f" pymemtrace_gc_collections_total 'generation="0"')" || return 1
	assert_eq "pause _count{generation=2}" "$N" \
		"$(sample "$f" pymemtrace_gc_pause_seconds_count 'generation="2"')" || return 1
	assert_eq "pause bucket +Inf{generation=2}" "$N" \
		"$(sample "$f" pymemtrace_gc_pause_seconds_bucket 'generation="2",le="+Inf"')" || return 1
	assert_eq "collected objects" "$(jq .found "$FIX_CTL/done")" \
		"$(sample "$f" pymemtrace_gc_collected_objects_total 'generation="2"')" || return 1
	# 22 bounds from 8.191 us to 17.18 s, then +Inf; cumulative counts.
	assert_eq "buckets per generation" 23 \
		"$(grep -c '^pymemtrace_gc_pause_seconds_bucket{.*generation="2"' "$f")" || return 1
	assert_eq "first bound" 1 "$(grep -c 'generation="2",le="8.191e-06"}' "$f")" || return 1
	assert_eq "last bound" 1 "$(grep -c 'generation="2",le="17.179869183"}' "$f")" || return 1
	while read -r v; do
		assert_ge "cumulative bucket" "$v" "$prev" || return 1
		prev=$v
	done < <(grep '^pymemtrace_gc_pause_seconds_bucket{.*generation="2"' "$f" | awk '{ print $2 }')
	assert_eq "pymemtrace_up" 1 "$(awk '$1 == "pymemtrace_up" { print $2 }' "$f")"
}

@test "prometheus: a scrape passes promtool check metrics, with exact GC counts" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local m="$BATS_TEST_TMPDIR/metrics.txt"
	scrape "$m"
	assert_eq "status and type" "200 text/plain; version=0.0.4; charset=utf-8" "$SCRAPE"
	run promtool check metrics <"$m"
	[ "$status" -eq 0 ] || { echo "# promtool: $output" >&3; return 1; }
	check_gc "$m"
	# No timestamps: every sample line is "name{labels} value".
	assert_eq "lines with a timestamp" 0 "$(grep -v '^#' "$m" | awk 'NF != 2' | wc -l)"
	# Default labels: the interpreter, no pid.
	assert_eq "interpreter label" "$N" \
		"$(sample "$m" pymemtrace_gc_collections_total \
			"interpreter=\"cpython-$PYVER_FULL\",generation=\"2\"")"
	assert_eq "pid labels" 0 "$(grep -c 'pid="' "$m")"
	assert_eq "cache supported (no PMU here)" 0 "$(sample "$m" pymemtrace_cache_supported interpreter)"
	assert_eq "cache misses left out" 0 "$(grep -c '^pymemtrace_cache_misses' "$m")"
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || show_tracer
}

@test "prometheus: a real Prometheus server scrapes the exporter and its API returns the GC counts" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local d="$BATS_TEST_TMPDIR/prom" port api v="" health="" i
	mkdir -p "$d/data"
	port=$("$HOST_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$d/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pymemtrace
    static_configs:
      - targets: ['$PROM_ADDR']
EOF
	pmt_spawn "$d/stdout" "$d/stderr" prometheus --config.file="$d/prometheus.yml" \
		--storage.tsdb.path="$d/data" --web.listen-address="127.0.0.1:$port"
	api="http://127.0.0.1:$port/api/v1"
	for ((i = 0; i < 600; i++)); do
		v=$(curl -s --max-time 2 "$api/query" \
			--data-urlencode 'query=pymemtrace_gc_collections_total{generation="2"}' |
			jq -r '.data.result[0].value[1] // empty' 2>/dev/null)
		[ -n "$v" ] && break
		sleep 0.1
	done
	[ -n "$v" ] || { echo "# prometheus never had the series"; tail -5 "$d/stderr"; } >&3
	assert_eq "gc_collections_total{generation=2} from the API" "$N" "$v"
	v=$(curl -s "$api/query" --data-urlencode \
		'query=pymemtrace_gc_pause_seconds_bucket{generation="2",le="+Inf"}' |
		jq -r '.data.result[0].value[1]')
	assert_eq "pause histogram +Inf bucket from the API" "$N" "$v"
	health=$(curl -s "$api/targets" | jq -r '.data.activeTargets[0] | "\(.health) \(.lastError)"')
	assert_eq "target health" "up " "$health"
	v=$(curl -s "$api/query" --data-urlencode 'query=up{job="pymemtrace"}' |
		jq -r '.data.result[0].value[1]')
	assert_eq "up" 1 "$v"
}

@test "prometheus: 50 concurrent scrapes all return 200 and the right GC count" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local d="$BATS_TEST_TMPDIR/many" i pids=() ok=0
	mkdir -p "$d"
	for ((i = 0; i < 50; i++)); do
		curl -s --max-time 30 -o "$d/$i.txt" -w '%{http_code}' "http://$PROM_ADDR/metrics" \
			>"$d/$i.code" 3>&- &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || true
	done
	for ((i = 0; i < 50; i++)); do
		[ "$(cat "$d/$i.code")" = 200 ] &&
			[ "$(sample "$d/$i.txt" pymemtrace_gc_collections_total 'generation="2"')" = "$N" ] &&
			ok=$((ok + 1))
	done
	assert_eq "scrapes with 200 and $N collections" 50 "$ok"
}

@test "prometheus: OpenMetrics when the Accept header asks for it" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local m="$BATS_TEST_TMPDIR/om.txt"
	scrape "$m" -H 'Accept: application/openmetrics-text; version=1.0.0'
	assert_eq "status and type" "200 application/openmetrics-text; version=1.0.0; charset=utf-8" "$SCRAPE"
	assert_eq "last line" "# EOF" "$(tail -n 1 "$m")"
	assert_eq "EOF lines" 1 "$(grep -c '^# EOF$' "$m")"
	# Counter families are named without _total, their samples with it.
	assert_eq "counter TYPE" 1 "$(grep -c '^# TYPE pymemtrace_gc_collections counter$' "$m")"
	assert_eq "info TYPE" 1 "$(grep -c '^# TYPE pymemtrace_build info$' "$m")"
	assert_eq "UNIT" 1 "$(grep -c '^# UNIT pymemtrace_gc_pause_seconds seconds$' "$m")"
	check_gc "$m"
	# Refused (q=0) or absent: the text format.
	scrape "$m" -H 'Accept: application/openmetrics-text; q=0, text/plain'
	assert_eq "q=0" "200 text/plain; version=0.0.4; charset=utf-8" "$SCRAPE"
	scrape "$m"
	assert_eq "no Accept" "200 text/plain; version=0.0.4; charset=utf-8" "$SCRAPE"
	assert_eq "no EOF in 0.0.4" 0 "$(grep -c '^# EOF' "$m")"
}

@test "prometheus: --textfile writes a file promtool accepts, atomically, up 0 at the end" {
	local d="$BATS_TEST_TMPDIR/textfile" f
	mkdir -p "$d"
	gc_traced --textfile "$d" -i 0.3 --group 'web"\app'
	f="$d/pymemtrace-web__app.prom"
	wait_file "$f" 30 "$TRACER_PID" || { show_tracer; return 1; }
	stop_tracer
	assert_eq "tracer exit status" 0 "$TRACER_RC" || { show_tracer; return 1; }
	run promtool check metrics <"$f"
	[ "$status" -eq 0 ] || { echo "# promtool: $output" >&3; return 1; }
	assert_eq "group label, escaped" "$N" \
		"$(sample "$f" pymemtrace_gc_collections_total 'group="web\"\\app",generation="2"')"
	assert_eq "pymemtrace_up in the last file" 0 "$(awk '$1 == "pymemtrace_up" { print $2 }' "$f")"
	assert_eq "files left in the directory" "pymemtrace-web__app.prom" "$(ls -A "$d")"
	assert_eq "mode" 644 "$(stat -c %a "$f")"
}

@test "prometheus: binds 127.0.0.1 by default, another address only when told" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local port=${PROM_ADDR##*:} local_addr
	assert_eq "address printed" "127.0.0.1:$port" "$PROM_ADDR"
	local_addr=$(ss -ltnH "( sport = :$port )" | awk '{ print $4 }')
	assert_eq "listening socket" "127.0.0.1:$port" "$local_addr"
	stop_tracer
	start_tracer -p "$FIX_PID" --prometheus 127.0.0.2:0
	wait_metrics_addr
	port=${PROM_ADDR##*:}
	local_addr=$(ss -ltnH "( sport = :$port )" | awk '{ print $4 }')
	assert_eq "listening socket with an address" "127.0.0.2:$port" "$local_addr"
}

@test "prometheus: garbage, huge and slow requests do not stop the endpoint" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local host=${PROM_ADDR%:*} port=${PROM_ADDR##*:} code big
	# A slow client holds a connection open with half a request.
	exec {slow}<>"/dev/tcp/$host/$port"
	printf 'GET /metrics HTTP/1.1\r\n' >&"$slow"
	# Garbage and binary noise (the server may hang up at once: a write
	# may fail, and that is fine; a shell would die of SIGPIPE).
	"$HOST_PY" - "$host" "$port" <<'PY'
import socket, sys
for junk in (b"GARBAGE\r\n\r\n", b"\0\377\376" * 3000 + b"\r\n\r\n", b"GET /metrics HTTP/9.9\r\n\r\n"):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    s.settimeout(0.5)
    try:
        s.sendall(junk)
        s.recv(4096)
    except OSError:
        pass
    s.close()
PY
	big=$(head -c 40000 /dev/zero | tr '\0' a)
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "http://$PROM_ADDR/metrics")
	assert_eq "oversized headers" 431 "$code"
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://$PROM_ADDR/metrics")
	assert_eq "POST" 405 "$code"
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://$PROM_ADDR/nope")
	assert_eq "unknown path" 404 "$code"
	code=$(curl -s -o "$BATS_TEST_TMPDIR/landing" -w '%{http_code}' "http://$PROM_ADDR/")
	assert_eq "landing page" 200 "$code"
	assert_eq "landing page links /metrics" 1 "$(grep -c 'href="/metrics"' "$BATS_TEST_TMPDIR/landing")"
	# With the slow client still connected, a scrape is answered in full.
	scrape "$BATS_TEST_TMPDIR/m"
	assert_eq "scrape next to a slow client" "200 text/plain; version=0.0.4; charset=utf-8" "$SCRAPE"
	check_gc "$BATS_TEST_TMPDIR/m"
	exec {slow}>&-
	proc_alive "$TRACER_PID"
}

@test "prometheus: --alloc exports the top stacks with their text" {
	require_tracing
	require_prom_tools
	use_interp debian3.11
	local fixture="$FIXTURES/alloc_hold.py" line m="$BATS_TEST_TMPDIR/alloc.txt" id text live
	line=$(grep -n 'return \[bytearray(CHUNK)' "$fixture" | cut -d: -f1)
	start_fixture "$PY" alloc_hold.py 16
	start_tracer --alloc --top 3 -p "$FIX_PID" --prometheus 0 --prom-label-pid
	wait_attached "$TRACER_PID" || { show_tracer; return 1; }
	fixture_go "$FIX_CTL"
	wait_metrics_addr
	scrape "$m"
	run promtool check metrics <"$m"
	[ "$status" -eq 0 ] || { echo "# promtool: $output" >&3; return 1; }
	assert_eq "stack series (--top 3)" 3 "$(grep -c '^pymemtrace_stack_live_bytes{' "$m")"
	assert_eq "info series" 3 "$(grep -c '^pymemtrace_stack_info{' "$m")"
	assert_eq "pid label" 3 "$(grep -c "^pymemtrace_stack_live_bytes{.*pid=\"$FIX_PID\"" "$m")"
	# The largest: hold_memory's bytearrays, all still held.
	id=$(grep '^pymemtrace_stack_live_bytes{' "$m" | sort -k2 -n -r | head -1 |
		sed 's/.*stack_id="\([0-9a-f]*\)".*/\1/')
	live=$(sample "$m" pymemtrace_stack_live_bytes "stack_id=\"$id\"")
	assert_ge "top stack live bytes" "$live" $((16 * MIB))
	assert_le "top stack live bytes" "$live" $((16 * MIB * 102 / 100))
	text=$(grep "^pymemtrace_stack_info{.*stack_id=\"$id\"" "$m")
	[[ "$text" == *"alloc_hold.py:$line "*hold_memory* ]] ||
		{ echo "# top stack is not hold_memory at line $line: $text" >&3; return 1; }
	assert_eq "id is 12 hex digits" 12 "${#id}"
}

@test "prometheus: bad --prometheus and --group arguments are usage errors" {
	require_tracer
	local a
	for a in 99999 "::1:80" "localhost:80" ":80" "1.2.3.4:" "[::1]" ""; do
		run "$PMT" --prometheus "$a" -p 1
		assert_eq "exit status for --prometheus '$a'" 2 "$status"
	done
	run "$PMT" --group web -p 1
	assert_eq "--group without an output" 2 "$status"
	run "$PMT" --prometheus 0 --group "$(head -c 200 /dev/zero | tr '\0' g)" -p 1
	assert_eq "--group too long" 2 "$status"
}

# fds_of PID: open file descriptors of PID.
fds_of() {
	ls /proc/"$1"/fd | wc -l
}

@test "prometheus: 1000 connects, random bytes, huge headers, slowloris and half-open clients: bounded, then /metrics still exact" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local host=${PROM_ADDR%:*} port=${PROM_ADDR##*:} fd0 rss0 held i
	scrape "$BATS_TEST_TMPDIR/m0"
	fd0=$(fds_of "$TRACER_PID")
	rss0=$(awk '$1 == "VmRSS:" { print $2 }' /proc/"$TRACER_PID"/status)
	# The abuse runs in the background and holds its slow and half-open
	# clients until told (the file "release") to let go.
	"$HOST_PY" - "$host" "$port" "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/abuse.out" 2>&1 <<'PY' &
import os, random, socket, sys, time
host, port, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rnd = random.Random(7)

def conn():
    s = socket.create_connection((host, port), timeout=5)
    return s

def poke(data):
    try:
        s = conn()
        s.settimeout(2)
        s.sendall(data)
        s.recv(65536)
    except OSError:
        pass
    finally:
        try:
            s.close()
        except Exception:
            pass

# 1000 connects, closed at once, 50 at a time.
for _ in range(20):
    socks = []
    for _ in range(50):
        try:
            socks.append(conn())
        except OSError:
            pass
    for s in socks:
        s.close()
# Random bytes, with and without a request's end.
for i in range(200):
    poke(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4096))) + (b"\r\n\r\n" if i % 2 else b""))
# Oversized headers: one huge line, and many lines.
poke(b"GET /metrics HTTP/1.1\r\nX-A: " + b"a" * 100000 + b"\r\n\r\n")
poke(b"GET /metrics HTTP/1.1\r\n" + b"X-B: b\r\n" * 20000 + b"\r\n")
poke(b"GET /" + b"m" * 70000 + b" HTTP/1.1\r\n\r\n")
# Slowloris: 100 clients, one header byte each per round; half-open: 30
# clients that sent half a request and shut down their side.
slow = []
for _ in range(100):
    try:
        s = conn()
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-S: ")
        slow.append(s)
    except OSError:
        pass
half = []
for _ in range(30):
    try:
        s = conn()
        s.sendall(b"GET /metr")
        s.shutdown(socket.SHUT_WR)
        half.append(s)
    except OSError:
        pass
open(os.path.join(tmp, "held"), "w").write("%d %d\n" % (len(slow), len(half)))
deadline = time.monotonic() + 120
while not os.path.exists(os.path.join(tmp, "release")) and time.monotonic() < deadline:
    for s in slow:
        try:
            s.send(b"x")
        except OSError:
            pass
    time.sleep(0.2)
for s in slow + half:
    s.close()
print("released")
PY
	local abuse=$!
	PMT_PIDS+=("$abuse")
	wait_file "$BATS_TEST_TMPDIR/held" 120 "$abuse" || { cat "$BATS_TEST_TMPDIR/abuse.out" >&3; return 1; }
	# While 130 clients try to hold connections, the tracer holds at most
	# PROM_MAX_CONNECTIONS (64) of them.
	held=$(fds_of "$TRACER_PID")
	assert_le "tracer fds while abused" "$held" $((fd0 + 64 + 4))
	proc_alive "$TRACER_PID"
	touch "$BATS_TEST_TMPDIR/release"
	wait_exit "$abuse" 60
	assert_eq "abuse script" released "$(tail -1 "$BATS_TEST_TMPDIR/abuse.out")"
	# Closed clients' connections go, the last ones (accepted from the
	# backlog once slots freed, then idle) by the idle timeout of 10 s:
	# back to the fds it had before.  90 s bounds the wait (one CI run in
	# four saw 64 connections still held after 40 s, cause not found: the
	# sockets are listed when it fails).
	for ((i = 0; i < 900; i++)); do
		[ "$(fds_of "$TRACER_PID")" -le "$fd0" ] && break
		sleep 0.1
	done
	assert_le "tracer fds after the abuse" "$(fds_of "$TRACER_PID")" "$fd0" ||
		{ ss -tanp 2>/dev/null | grep "pid=$TRACER_PID," | awk '{ print "# " $1, $2, $3, $4, $5 }' | sort | uniq -c >&3; return 1; }
	# Under ASan the quarantine keeps freed memory resident: no RSS bound there.
	if [ "${PMT_ASAN:-0}" != 1 ]; then
		assert_le "tracer VmRSS growth (KiB)" \
			$(( $(awk '$1 == "VmRSS:" { print $2 }' /proc/"$TRACER_PID"/status) - rss0 )) 8192
	else
		echo "# ASan build: the RSS bound is not checked (quarantine)" >&3
	fi
	scrape "$BATS_TEST_TMPDIR/m"
	assert_eq "scrape after the abuse" "200 text/plain; version=0.0.4; charset=utf-8" "$SCRAPE"
	check_gc "$BATS_TEST_TMPDIR/m"
}

@test "prometheus: a silent client is disconnected after the idle timeout (10 s)" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local host=${PROM_ADDR%:*} port=${PROM_ADDR##*:}
	# recv returns b"" once the server closes; 30 s is the test's bound,
	# not a measurement.
	run "$HOST_PY" - "$host" "$port" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET /metrics HTTP/1.1\r\n")
s.settimeout(30)
t = time.monotonic()
try:
    data = s.recv(4096)
except socket.timeout:
    print("still open after 30 s")
    sys.exit(1)
print("closed" if data == b"" else "answered", int(time.monotonic() - t) >= 9)
PY
	echo "$output"
	assert_eq "silent client" "closed True" "$output"
	scrape "$BATS_TEST_TMPDIR/m"
	check_gc "$BATS_TEST_TMPDIR/m"
}

@test "prometheus: a client trickling its request a byte at a time is cut off at the request deadline (10 s)" {
	gc_traced --prometheus 0
	wait_metrics_addr
	local host=${PROM_ADDR%:*} port=${PROM_ADDR##*:}
	# A byte every 0.5 s keeps the idle timeout from ever firing; only the
	# request deadline ends it.  40 s is the test's bound, not a measurement.
	run "$HOST_PY" - "$host" "$port" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
s.settimeout(0.5)
t = time.monotonic()
while time.monotonic() - t < 40:
    try:
        s.sendall(b"a")
        if s.recv(4096) == b"":
            break
    except socket.timeout:
        continue
    except OSError:
        break
else:
    print("still open after 40 s")
    sys.exit(1)
print("closed", int(time.monotonic() - t) >= 9)
PY
	echo "$output"
	assert_eq "trickling client" "closed True" "$output"
	# the endpoint serves on
	scrape "$BATS_TEST_TMPDIR/m"
	check_gc "$BATS_TEST_TMPDIR/m"
}
