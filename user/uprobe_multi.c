/* uprobe_multi links through bpf(2): see uprobe_multi.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "log.h"
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

/* One BPF_LINK_CREATE; pid as the kernel reads it (the probe passes -1). */
static int link_create(int prog_fd, const char *path, __u32 pid, const uint64_t *offsets,
		       const uint64_t *ref_ctr_offsets, const uint64_t *cookies, size_t n,
		       __u32 um_flags)
{
	/* sized like union bpf_attr's largest member, zeroed past our part */
	union {
		struct link_create_uprobe_multi lc;
		char pad[256];
	} attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.lc.prog_fd = (__u32)prog_fd;
	attr.lc.attach_type = PMT_BPF_TRACE_UPROBE_MULTI;
	attr.lc.path = (__u64)(unsigned long)path;
	attr.lc.offsets = (__u64)(unsigned long)offsets;
	attr.lc.ref_ctr_offsets = (__u64)(unsigned long)ref_ctr_offsets;
	attr.lc.cookies = (__u64)(unsigned long)cookies;
	attr.lc.cnt = (__u32)n;
	attr.lc.um_flags = um_flags;
	attr.lc.pid = pid;
	fd = syscall(SYS_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : (int)fd;
}

bool uprobe_multi__knob_off(void)
{
	const char *v = getenv(PMT_ENV_NO_UPROBE_MULTI);

	return v && v[0] && strcmp(v, "0");
}

bool uprobe_multi__supported(char *why, size_t whylen)
{
	/* r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = (enum bpf_attach_type)PMT_BPF_TRACE_UPROBE_MULTI);
	const uint64_t off = 0;
	int prog_fd, ret;

	if (uprobe_multi__knob_off()) {
		fmt_msg(why, whylen, "%s is set", PMT_ENV_NO_UPROBE_MULTI);
		return false;
	}
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns,
				sizeof(insns) / sizeof(insns[0]), &opts);
	if (prog_fd < 0) {
		fmt_msg(why, whylen, "the kernel refused a uprobe_multi program: %s",
			strerror(errno));
		return false;
	}
	/* "/" is no regular file: a kernel that knows the attach type looks at
	 * the path and says EBADF; one that does not says EINVAL first. */
	ret = link_create(prog_fd, "/", 0, &off, NULL, NULL, 1, 0);
	if (ret >= 0 || ret != -EBADF) {
		if (ret >= 0)
			close(ret);
		close(prog_fd);
		fmt_msg(why, whylen, "the kernel has no uprobe_multi links (Linux 6.6+): %s",
			ret >= 0 ? "a link on '/' was accepted" : strerror(-ret));
		return false;
	}
	/* A negative pid is refused before the path only by kernels whose pid
	 * filter covers the process, not just the thread that was named. */
	ret = link_create(prog_fd, "/", (__u32)-1, &off, NULL, NULL, 1, 0);
	if (ret >= 0)
		close(ret);
	close(prog_fd);
	if (ret != -EINVAL) {
		fmt_msg(why, whylen, "the kernel's uprobe_multi filters by thread, not by process "
			"(fixed in Linux 6.9)");
		return false;
	}
	return true;
}

int uprobe_multi__prepare(struct bpf_program *prog)
{
	return bpf_program__set_expected_attach_type(prog,
						     (enum bpf_attach_type)PMT_BPF_TRACE_UPROBE_MULTI);
}

int uprobe_multi__attach(struct bpf_program *prog, const char *path, pid_t pid,
			 const uint64_t *offsets, const uint64_t *ref_ctr_offsets,
			 const uint64_t *cookies, size_t n, bool retprobe)
{
	if (!n || (pid <= 0 && pid != -1))
		return -EINVAL;
	/* The kernel's "every process" is pid 0. */
	return link_create(bpf_program__fd(prog), path, pid == -1 ? 0 : (__u32)pid, offsets,
			   ref_ctr_offsets,
			   cookies, n, retprobe ? BPF_F_UPROBE_MULTI_RETURN_FLAG : 0);
}
