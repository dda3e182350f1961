#!/bin/bash
# Installs what building and testing pymemtrace needs on Debian 12, as root,
# and any further Debian packages named as arguments.
# Works on a fresh minimal system (bash and apt only).  Runs `apt-get update`
# only when something is missing, and prints nothing when all is present.
set -u

PACKAGES=(
	make gcc libc6-dev clang llvm pkg-config # build
	libbpf-dev bpftool libelf-dev zlib1g-dev libcapstone-dev libncurses-dev
	libmicrohttpd-dev                       # --prometheus's HTTP server
	bats jq strace tmux python3-matplotlib  # tests (tmux drives --live; matplotlib: the bench chart)
	valgrind gdb                            # tests: memory checks, a live LTO build read by gdb
	libcap2-bin binutils                    # tests/75-safety.bats: capsh; readelf (USDT semaphores), objcopy (fuzz seeds)
	linux-perf                              # tests/90-bench.bats: the bench's bare trap count (perf probe + perf stat)
	libclang-rt-14-dev                      # make fuzz / make asan: libFuzzer, ASan and UBSan runtimes
	prometheus curl iproute2                # tests/60-prometheus.bats: promtool, a server of
	                                        # its own on loopback (not the packaged service), ss
	python3.11 python3                      # interpreters under test, helpers
	libjemalloc2 libtcmalloc-minimal4       # tests/35-alloc.bats: allocators preloaded ahead of libc's
	procps util-linux coreutils sed grep mawk
)

# Extra packages named on the command line are installed the same way
# (tools/install-bench-deps.sh passes the bench's).
PACKAGES+=("$@")

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (try: sudo $0)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps.sh: needs apt-get and dpkg-query (Debian 12)" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-deps.XXXXXX)
if ! apt-get update -q >"$log" 2>&1 ||
   ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps.sh: apt-get failed (log above)" >&2
	rm -f "$log"
	exit 1
fi
rm -f "$log"
