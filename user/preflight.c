/* Pre-flight checks: see preflight.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <bpf/libbpf.h>
#include "log.h"
#include "preflight.h"
#include "privileges.h"

int preflight_privileges(char *err, size_t errlen)
{
	uint64_t caps = 0;
	char missing[128] = "";
	bool bpf_ok, perf_ok;

	if (privileges__effective(&caps)) {
		fmt_msg(err, errlen, "cannot read this process's capabilities: %s", strerror(errno));
		return -EPERM;
	}
	bpf_ok = privileges__has(caps, CAP_BPF) || privileges__has(caps, CAP_SYS_ADMIN);
	perf_ok = privileges__has(caps, CAP_PERFMON) || privileges__has(caps, CAP_SYS_ADMIN);
	if (!bpf_ok)
		strcat(missing, " CAP_BPF");
	if (!perf_ok)
		strcat(missing, " CAP_PERFMON");
	if (!privileges__has(caps, CAP_SYS_PTRACE))
		strcat(missing, " CAP_SYS_PTRACE");
	if (!missing[0])
		return 0;
	fmt_msg(err, errlen, "not enough privilege: missing%s (run as root, e.g. with sudo, or grant "
		"CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE)", missing);
	return -EPERM;
}

const char *preflight_btf_override(void)
{
	const char *p = getenv("PYMEMTRACE_BTF_PATH");

	return p && *p ? p : NULL;
}

int preflight_kernel(char *err, size_t errlen)
{
	const char *btf = preflight_btf_override();

	if (!btf)
		btf = "/sys/kernel/btf/vmlinux";
	if (access(btf, R_OK)) {
		fmt_msg(err, errlen, "kernel BTF not found at '%s': %s (pymemtrace needs a kernel "
			"built with CONFIG_DEBUG_INFO_BTF=y, Linux 5.5 or newer)", btf, strerror(errno));
		return -ENOENT;
	}
	if (access("/sys/bus/event_source/devices/uprobe/type", R_OK)) {
		fmt_msg(err, errlen, "this kernel has no uprobe support (%s: %s): pymemtrace needs "
			"CONFIG_UPROBE_EVENTS=y", "/sys/bus/event_source/devices/uprobe/type",
			strerror(errno));
		return -EOPNOTSUPP;
	}
	/* Every probe's handler reads its configuration from its BPF cookie:
	 * without the helper the kernel refuses the programs, which libbpf
	 * would report as a bare "Invalid argument". */
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL) != 1) {
		fmt_msg(err, errlen, "this kernel has no BPF cookies for uprobe programs "
			"(bpf_get_attach_cookie, Linux 5.15+), which pymemtrace's probes read their "
			"configuration from");
		return -EOPNOTSUPP;
	}
	return 0;
}
