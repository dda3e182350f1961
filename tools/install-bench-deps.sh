#!/bin/bash
# Installs, as root, the Debian 12 packages tools/bench needs: the peers it
# measures and matplotlib for --plot, through tools/install-deps.sh (which
# installs the build's own too, runs `apt-get update` only when something is
# missing, and prints nothing when all is present).
#
#   tools/install-bench-deps.sh              the peers that run on our machines
#   tools/install-bench-deps.sh --all-peers  also bpfcc-tools and austin, and
#                                            kernel headers for bcc (below)
#
# bpfcc-tools (memleak, ugc) and austin are opt-in (tools/bench-notes.md has
# the details):
#   - bcc compiles its programs at run time against the running kernel's
#     headers.  Debian has none for our 6.18 kernel, which has no
#     CONFIG_IKHEADERS either.  --all-peers therefore installs Debian's own
#     kernel headers (linux-headers-amd64, 6.1) and joins their two halves
#     (-common and -amd64) into one tree of links, $BCC_HEADERS, which
#     tools/bench passes to bcc as BCC_KERNEL_SOURCE.  Headers of another
#     kernel are good enough for memleak -p: its programs are uprobes that
#     read only pt_regs (the same on x86_64 in 6.1 and 6.18) and user
#     stacks.  Nothing under /lib/modules is touched.
#   - austin 1.0.1 predates Python 3.11 ("Interpreter state search timed
#     out", exit 33); it works on 3.8-3.10.
set -u

BCC_HEADERS=/var/cache/pymemtrace-bench/bcc-kernel-headers

PACKAGES=(
	bpftrace            # a uprobe on PyObject_Malloc counted by user stack
	linux-perf          # the bare uprobe count (perf probe + perf stat)
	python3-matplotlib  # --plot, for /usr/bin/python3
)
OPTIONAL=(bpfcc-tools austin)
all_peers=0

case "${1:-}" in
"") ;;
--all-peers)
	PACKAGES+=("${OPTIONAL[@]}")
	all_peers=1
	;;
*)
	echo "usage: $0 [--all-peers]" >&2
	exit 2
	;;
esac
# The running kernel's own headers, when Debian has them, make the tree
# unnecessary; otherwise Debian's current kernel's.
if [ "$all_peers" = 1 ] && [ ! -e "/lib/modules/$(uname -r)/build" ]; then
	PACKAGES+=(linux-headers-amd64)
fi

# The same checks and quiet apt run as the build's dependencies.
bash "$(dirname "$0")/install-deps.sh" "${PACKAGES[@]}" || exit

[ "$all_peers" = 1 ] && [ ! -e "/lib/modules/$(uname -r)/build" ] || exit 0
# linux-headers-amd64 depends on one linux-headers-X-amd64, which depends on
# its linux-headers-X-common: the newest pair installed.
arch_dir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | grep -v -- '-rt-amd64\|-cloud-amd64' |
	sort -V | tail -n 1)
common_dir=${arch_dir%-amd64}-common
if [ ! -d "$arch_dir" ] || [ ! -d "$common_dir" ]; then
	echo "install-bench-deps.sh: no Debian kernel headers under /usr/src" >&2
	exit 1
fi
tmp=$BCC_HEADERS.new
rm -rf "$tmp" && mkdir -p "$tmp" &&
	cp -rs "$common_dir/." "$tmp/" &&
	cp -rsf "$arch_dir/." "$tmp/" &&
	echo "${arch_dir#/usr/src/linux-headers-}" >"$tmp/.pymemtrace-headers-of" &&
	rm -rf "$BCC_HEADERS" && mv "$tmp" "$BCC_HEADERS" || {
	echo "install-bench-deps.sh: cannot build $BCC_HEADERS" >&2
	exit 1
}
