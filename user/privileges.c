/* Capability sets: see privileges.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include "log.h"
#include "privileges.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define CAP_BIT(c) (1ULL << (c))

static int get_sets(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

	return syscall(SYS_capget, &hdr, data) ? -errno : 0;
}

int privileges__effective(uint64_t *caps)
{
	struct __user_cap_data_struct data[2] = {};
	int ret = get_sets(data);

	if (ret)
		return ret;
	*caps = ((uint64_t)data[1].effective << 32) | data[0].effective;
	return 0;
}

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

void privileges__names(uint64_t caps, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = 0;
	for (int c = 0; c < 64 && used < len; c++) {
		char num[16];
		const char *name = num;
		int n;

		if (!(caps & CAP_BIT(c)))
			continue;
		if (c < (int)(sizeof(cap_names) / sizeof(cap_names[0])))
			name = cap_names[c];
		else
			snprintf(num, sizeof(num), "cap_%d", c);
		n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* The kept set: see privileges.h.  Where the kernel predates CAP_BPF and
 * CAP_PERFMON (before 5.8), CAP_SYS_ADMIN did their work and stays instead. */
static uint64_t kept_set(const struct privileges_keep *keep, uint64_t have)
{
	/* CAP_DAC_READ_SEARCH: the target's files may sit in a directory
	 * closed to uid 0 without it (a venv in a 0700 home); libraries
	 * loaded later and exec'd images are read after the attach.  It only
	 * reads, and CAP_SYS_PTRACE already reads more. */
	uint64_t want = CAP_BIT(CAP_SYS_PTRACE) | CAP_BIT(CAP_DAC_READ_SEARCH);

	if (keep->attach_later) {
		if (privileges__has(have, CAP_BPF) && privileges__has(have, CAP_PERFMON))
			want |= CAP_BIT(CAP_BPF) | CAP_BIT(CAP_PERFMON);
		else
			want |= CAP_BIT(CAP_SYS_ADMIN) | CAP_BIT(CAP_BPF) | CAP_BIT(CAP_PERFMON);
	}
	if (keep->create_files)
		want |= CAP_BIT(CAP_DAC_OVERRIDE);
	return want & have;
}

int privileges__drop(const struct privileges_keep *keep, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = {};
	uint64_t permitted, want;
	int ret = get_sets(data);

	if (ret) {
		fmt_msg(err, errlen, "cannot read this process's capabilities: %s", strerror(-ret));
		return ret;
	}
	permitted = ((uint64_t)data[1].permitted << 32) | data[0].permitted;
	want = kept_set(keep, permitted);

	/* The bounding set first: dropping from it needs CAP_SETPCAP, which
	 * the capset below gives up.  EPERM: started without CAP_SETPCAP, the
	 * bounding set stays, but the permitted set still goes and
	 * no_new_privs keeps an exec from regaining anything. */
	for (int c = 0; c < 64; c++) {
		if (want & CAP_BIT(c))
			continue;
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL && errno != EPERM) {
			ret = -errno;
			fmt_msg(err, errlen, "cannot drop capability %d from the bounding set: %s",
				c, strerror(errno));
			return ret;
		}
	}
	/* Fails only on kernels before 4.3, which have no ambient set. */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);

	memset(data, 0, 2 * sizeof(data[0]));
	data[0].effective = data[0].permitted = (uint32_t)want;
	data[1].effective = data[1].permitted = (uint32_t)(want >> 32);
	if (syscall(SYS_capset, &hdr, data)) {
		ret = -errno;
		fmt_msg(err, errlen, "cannot lower this process's capabilities: %s", strerror(errno));
		return ret;
	}
	/* Nothing exec'd from here may gain privileges (setuid files). */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}
