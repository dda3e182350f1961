#!/bin/bash
# Installs, as root, the Debian 12 packages tools/bench needs: the peers it
# measures and matplotlib for --plot, through tools/install-deps.sh (which
# installs the build's own too, runs `apt-get update` only when something is
# missing, and prints nothing when all is present).
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

# The same checks and quiet apt run as the build's dependencies.
exec bash "$(dirname "$0")/install-deps.sh" "${PACKAGES[@]}"
