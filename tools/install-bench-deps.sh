#!/bin/bash
# Installs the Debian 12 packages tools/bench needs beyond tools/install-deps.sh,
# as root: the peers it measures and matplotlib for --plot.  Runs `apt-get
# update` only when something is missing; prints nothing when all is present.
#
#   tools/install-bench-deps.sh              the peers that run on our machines
#   tools/install-bench-deps.sh --all-peers  also bpfcc-tools and austin
#
# bpfcc-tools (memleak, ugc) and austin install, but do not run on our VMs,
# so they are opt-in (tools/bench-notes.md has the details):
#   - bcc compiles its programs at run time against the running kernel's
#     headers; there is no Debian package of headers for our 6.18 kernel and
#     it has no CONFIG_IKHEADERS ("Unable to find kernel headers").
#   - austin 1.0.1 predates Python 3.11 ("Interpreter state search timed
#     out", exit 33); it works on 3.8-3.10.
set -u

PACKAGES=(
	bpftrace            # a uprobe on PyObject_Malloc counted by user stack
	linux-perf          # the bare uprobe count (perf probe + perf stat)
	python3-matplotlib  # --plot, for /usr/bin/python3
)
OPTIONAL=(bpfcc-tools austin)

case "${1:-}" in
"") ;;
--all-peers) PACKAGES+=("${OPTIONAL[@]}") ;;
*)
	echo "usage: $0 [--all-peers]" >&2
	exit 2
	;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "install-bench-deps.sh: must run as root (try: sudo $0)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-bench-deps.sh: needs apt-get and dpkg-query (Debian 12)" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-bench-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-bench-deps.XXXXXX)
if ! apt-get update -q >"$log" 2>&1 ||
   ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	cat "$log" >&2
	echo "install-bench-deps.sh: apt-get failed (log above)" >&2
	rm -f "$log"
	exit 1
fi
rm -f "$log"
