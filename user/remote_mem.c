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
