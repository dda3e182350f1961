/* Read-only access to a traced process's memory: see remote_mem.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include "remote_mem.h"

#define PAGE 4096u

/* /proc/PID/mem, for kernels or LSMs that refuse process_vm_readv. */
static int read_proc_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	size_t done = 0;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(addr + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* EIO is how /proc/PID/mem says "not mapped" */
			err = errno == EIO ? -EFAULT : -errno;
			break;
		}
		if (n == 0) {
			err = -EFAULT;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	return err;
}

int remote_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (pid <= 0 || (!buf && len))
		return -EINVAL;
	if (!len)
		return 0;
	/* /proc/PID/mem takes an off_t: addresses above INT64_MAX cannot be valid
	 * user addresses anyway */
	if (addr > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - addr)
		return -EFAULT;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0 && (errno == EPERM || errno == ENOSYS))
		return read_proc_mem(pid, addr, buf, len);
	if (n < 0)
		return -errno;
	/* a partial read means the range ran into unmapped memory */
	return (size_t)n == len ? 0 : -EFAULT;
}

int remote_read_str(pid_t pid, uint64_t addr, char *buf, size_t cap)
{
	size_t done = 0;

	/* the length is returned as an int */
	if (!buf || !cap || cap > (1u << 30))
		return -EINVAL;
	buf[0] = '\0';
	/* Read page by page: the string may end just before an unmapped page
	 * that a single large read would run into. */
	while (done < cap - 1) {
		size_t chunk = PAGE - ((addr + done) % PAGE);
		char *nul;
		int err;

		if (chunk > cap - 1 - done)
			chunk = cap - 1 - done;
		err = remote_read(pid, addr + done, buf + done, chunk);
		if (err) {
			buf[done] = '\0';
			return err;
		}
		nul = memchr(buf + done, '\0', chunk);
		if (nul)
			return (int)(nul - buf);
		done += chunk;
	}
	buf[done] = '\0';
	return (int)done;
}

#define MANY_BATCH 64u   /* pieces per process_vm_readv: well under IOV_MAX */

int remote_read_many(pid_t pid, const uint64_t *addrs, size_t each, void *buf, size_t n,
		     unsigned char *ok)
{
	struct iovec local[MANY_BATCH], remote[MANY_BATCH];
	size_t good = 0, i = 0;
	int last_err = -EFAULT;

	if (pid <= 0 || !addrs || !buf || !ok || !each)
		return -EINVAL;
	while (i < n) {
		size_t k = n - i < MANY_BATCH ? n - i : MANY_BATCH, j, whole;
		ssize_t got;

		for (j = 0; j < k; j++) {
			local[j].iov_base = (char *)buf + (i + j) * each;
			local[j].iov_len = each;
			remote[j].iov_base = (void *)(uintptr_t)addrs[i + j];
			remote[j].iov_len = each;
		}
		got = process_vm_readv(pid, local, k, remote, k, 0);
		whole = got > 0 ? (size_t)got / each : 0;
		for (j = 0; j < whole; j++)
			ok[i + j] = 1;
		good += whole;
		if (whole == k) {
			i += k;
			continue;
		}
		if (got < 0 && errno == ESRCH)
			return -ESRCH;
		/* The kernel stops at the first piece it cannot read: read that one
		 * alone (which also takes the /proc/PID/mem path when
		 * process_vm_readv is refused), then go on after it. */
		{
			size_t at = i + whole;
			int err = remote_read(pid, addrs[at], (char *)buf + at * each, each);

			ok[at] = !err;
			if (!err)
				good++;
			else
				last_err = err;
			if (err == -ESRCH)
				return -ESRCH;
			i = at + 1;
		}
	}
	return good || !n ? (int)(good > INT32_MAX ? INT32_MAX : good) : last_err;
}
