/* Perf-event uprobes opened by pymemtrace itself: see perf_uprobe.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include "numparse.h"
#include "perf_uprobe.h"

#define PMU_DIR "/sys/bus/event_source/devices/uprobe"

/* The uprobe PMU's type and config layout, read once. */
static struct {
	int err;             /* 0, or -errno: no usable uprobe PMU */
	uint32_t type;
	unsigned retprobe_bit;
	unsigned ref_ctr_shift;
	bool has_ref_ctr;    /* format/ref_ctr_offset exists (Linux 4.20+) */
} pmu;

/* A small sysfs file's first line, NUL-terminated; 0 or -errno. */
static int read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	ret = n < 0 ? -errno : n == 0 ? -EINVAL : 0; /* before close() may reset errno */
	close(fd);
	if (ret)
		return ret;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* "config:N" or "config:N-M": the field's first bit of attr.config. */
static int config_bit(const char *name, unsigned *bit)
{
	char path[128], line[64];
	uint64_t v;
	size_t n;
	int ret;

	snprintf(path, sizeof(path), PMU_DIR "/format/%s", name);
	ret = read_line(path, line, sizeof(line));
	if (ret)
		return ret;
	if (strncmp(line, "config:", 7))
		return -EOPNOTSUPP; /* config1/config2 carry the path and offset */
	n = numparse_dec(line + 7, SIZE_MAX, 63, &v);
	if (!n || (line[7 + n] && line[7 + n] != '-'))
		return -EOPNOTSUPP;
	*bit = (unsigned)v;
	return 0;
}

static void pmu_load(void)
{
	char line[32];
	uint64_t type;
	int ret;

	ret = read_line(PMU_DIR "/type", line, sizeof(line));
	if (ret) {
		pmu.err = ret;
		return;
	}
	if (!numparse_u64(line, 0, UINT32_MAX, &type)) {
		pmu.err = -EOPNOTSUPP;
		return;
	}
	pmu.type = (uint32_t)type;
	ret = config_bit("retprobe", &pmu.retprobe_bit);
	if (ret) {
		pmu.err = ret;
		return;
	}
	pmu.has_ref_ctr = !config_bit("ref_ctr_offset", &pmu.ref_ctr_shift);
}

int perf_uprobe__open(const char *path, uint64_t offset, pid_t pid, bool retprobe,
		      uint64_t ref_ctr_offset)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct perf_event_attr attr;
	long fd;

	pthread_once(&once, pmu_load);
	if (pmu.err)
		return pmu.err;
	if (ref_ctr_offset && (!pmu.has_ref_ctr ||
			       (pmu.ref_ctr_shift && ref_ctr_offset >> (64 - pmu.ref_ctr_shift))))
		return -EOPNOTSUPP;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = pmu.type;
	attr.config = (retprobe ? 1ULL << pmu.retprobe_bit : 0) |
		      (ref_ctr_offset << pmu.ref_ctr_shift);
	attr.config1 = (uint64_t)(uintptr_t)path; /* uprobe_path */
	attr.config2 = offset;                    /* probe_offset */
	/* One process on any CPU; or, for --all (pid -1), every process,
	 * which perf_event_open only takes with a CPU named: a uprobe event
	 * fires wherever its probe is hit all the same. */
	fd = syscall(SYS_perf_event_open, &attr, pid, pid == -1 ? 0 : -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}
