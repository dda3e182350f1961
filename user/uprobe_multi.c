/* uprobe_multi links through bpf(2): see uprobe_multi.h. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>
#include "uprobe_multi.h"

#define BPF_F_UPROBE_MULTI_RETURN_FLAG 1U

/* The link_create part of union bpf_attr for uprobe_multi (include/uapi/
 * linux/bpf.h, Linux 6.6), which Debian 12's headers predate. */
struct link_create_uprobe_multi {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 um_flags;
	__u32 pid;
	__u32 _pad;
};

int uprobe_multi__prepare(struct bpf_program *prog)
{
	return bpf_program__set_expected_attach_type(prog,
						     (enum bpf_attach_type)PMT_BPF_TRACE_UPROBE_MULTI);
}

int uprobe_multi__attach(struct bpf_program *prog, const char *path, pid_t pid,
			 const uint64_t *offsets, const uint64_t *cookies, size_t n, bool retprobe)
{
	/* sized like union bpf_attr's largest member, zeroed past our part */
	union {
		struct link_create_uprobe_multi lc;
		char pad[256];
	} attr;
	long fd;

	if (!n || pid <= 0)
		return -EINVAL;
	memset(&attr, 0, sizeof(attr));
	attr.lc.prog_fd = bpf_program__fd(prog);
	attr.lc.attach_type = PMT_BPF_TRACE_UPROBE_MULTI;
	attr.lc.path = (__u64)(unsigned long)path;
	attr.lc.offsets = (__u64)(unsigned long)offsets;
	attr.lc.cookies = (__u64)(unsigned long)cookies;
	attr.lc.cnt = (__u32)n;
	attr.lc.um_flags = retprobe ? BPF_F_UPROBE_MULTI_RETURN_FLAG : 0;
	attr.lc.pid = (__u32)pid;
	fd = syscall(SYS_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : (int)fd;
}
