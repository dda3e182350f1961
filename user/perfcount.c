/* Cache counters through perf_event_open: see perfcount.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "log.h"
#include "numparse.h"
#include "perfcount.h"

/* A thread list that keeps growing while we read it is hostile or broken;
 * new threads are covered by inherit=1 anyway. */
#define PERFCOUNT_MAX_THREADS 16384

enum { PC_REFS, PC_MISSES, PC_NR };

static const struct {
	__u64 config;
	const char *name;
} counters[PC_NR] = {
	[PC_REFS]   = { PERF_COUNT_HW_CACHE_REFERENCES, "cache-references" },
	[PC_MISSES] = { PERF_COUNT_HW_CACHE_MISSES, "cache-misses" },
};

struct perfcount {
	int (*fds)[PC_NR];        /* one pair per thread */
	unsigned n, cap;
};

static int counter_open(pid_t tid, unsigned which)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_HARDWARE,
		.size = sizeof(attr),
		.config = counters[which].config,
		.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING,
		/* Threads created later by a counted thread are counted too.
		 * User space only: enough for the interpreter's own cache
		 * behaviour, and allowed at perf_event_paranoid <= 1. */
		.inherit = 1,
		.exclude_kernel = 1,
		.exclude_hv = 1,
	};

	return syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static void explain(char *reason, size_t len, unsigned which, int err)
{
	const char *name = counters[which].name;
	char paranoid[16] = "?";
	FILE *f;

	switch (err) {
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
		fmt_msg(reason, len, "no hardware PMU: perf_event_open(%s) failed: %s "
			"(typical in VMs)", name, strerror(err));
		break;
	case EACCES:
	case EPERM:
		f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
		if (f) {
			if (!fgets(paranoid, sizeof(paranoid), f))
				strcpy(paranoid, "?");
			paranoid[strcspn(paranoid, "\n")] = '\0';
			fclose(f);
		}
		fmt_msg(reason, len, "perf_event_open(%s) not permitted: %s "
			"(kernel.perf_event_paranoid = %s; run as root or lower it)",
			name, strerror(err), paranoid);
		break;
	default:
		fmt_msg(reason, len, "perf_event_open(%s) failed: %s", name, strerror(err));
	}
}

static int grow(struct perfcount *pc)
{
	unsigned cap = pc->cap ? pc->cap * 2 : 16;
	void *p;

	if (pc->n < pc->cap)
		return 0;
	if (pc->cap >= PERFCOUNT_MAX_THREADS)
		return -E2BIG;
	p = realloc(pc->fds, cap * sizeof(*pc->fds));
	if (!p)
		return -ENOMEM;
	pc->fds = p;
	pc->cap = cap;
	return 0;
}

/* Opens both counters on one thread.  0, 1 if the thread is already gone,
 * or -errno with the reason filled in. */
static int open_thread(struct perfcount *pc, pid_t tid, char *reason, size_t len)
{
	int fds[PC_NR], err;

	err = grow(pc);
	if (err) {
		fmt_msg(reason, len, "cannot count cache events on more than %u threads: %s",
			PERFCOUNT_MAX_THREADS, strerror(-err));
		return err;
	}
	for (unsigned i = 0; i < PC_NR; i++) {
		fds[i] = counter_open(tid, i);
		if (fds[i] >= 0)
			continue;
		err = errno;
		for (unsigned j = 0; j < i; j++)
			close(fds[j]);
		if (err == ESRCH)
			return 1;
		explain(reason, len, i, err);
		return -err;
	}
	memcpy(pc->fds[pc->n++], fds, sizeof(fds));
	return 0;
}

struct perfcount *perfcount__open(pid_t pid, char *reason, size_t reasonlen)
{
	struct perfcount *pc;
	struct dirent *de;
	char path[64];
	int err = 0;
	DIR *d;

	fmt_msg(reason, reasonlen, "%s", "");
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		fmt_msg(reason, reasonlen, "out of memory");
		return NULL;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d) {
		err = errno == ENOENT ? ESRCH : errno;
		fmt_msg(reason, reasonlen, "cannot list threads in '%s': %s", path, strerror(err));
		goto fail;
	}
	while (!err && (de = readdir(d))) {
		uint64_t tid;
		int ret;

		/* /proc/PID/task holds "." and ".." too */
		if (!numparse_u64(de->d_name, 1, INT_MAX, &tid))
			continue;
		ret = open_thread(pc, (pid_t)tid, reason, reasonlen);
		if (ret < 0)
			err = -ret;
	}
	closedir(d);
	if (!err && !pc->n) {
		err = ESRCH;
		fmt_msg(reason, reasonlen, "process %d has no threads left", (int)pid);
	}
	if (!err)
		return pc;
fail:
	perfcount__free(pc);
	errno = err;
	return NULL;
}

/* value * enabled / running, for counters the PMU multiplexed. */
static __u64 scaled(const __u64 v[3])
{
	unsigned __int128 x;

	if (!v[2])
		return 0;             /* never scheduled: nothing to scale from */
	if (v[2] >= v[1])
		return v[0];
	x = (unsigned __int128)v[0] * v[1] / v[2];
	return x > UINT64_MAX ? UINT64_MAX : (__u64)x;
}

static int read_one(int fd, uint64_t *sum)
{
	__u64 v[3];               /* value, time enabled, time running */
	ssize_t n;
	uint64_t s;

	do
		n = read(fd, v, sizeof(v));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;             /* counter in error state: contributes nothing */
	if (n != sizeof(v))
		return -EIO;
	s = *sum + scaled(v);
	*sum = s < *sum ? UINT64_MAX : s;
	return 0;
}

int perfcount__read(struct perfcount *pc, uint64_t *references, uint64_t *misses)
{
	uint64_t sums[PC_NR] = { 0 };
	int err;

	if (!pc || !references || !misses)
		return -EINVAL;
	for (unsigned t = 0; t < pc->n; t++)
		for (unsigned i = 0; i < PC_NR; i++) {
			err = read_one(pc->fds[t][i], &sums[i]);
			if (err)
				return err;
		}
	*references = sums[PC_REFS];
	*misses = sums[PC_MISSES];
	return 0;
}

void perfcount__free(struct perfcount *pc)
{
	if (!pc)
		return;
	for (unsigned t = 0; t < pc->n; t++)
		for (unsigned i = 0; i < PC_NR; i++)
			close(pc->fds[t][i]);
	free(pc->fds);
	free(pc);
}
