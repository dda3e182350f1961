/* Read-only access to a traced process's memory.
 *
 * pymemtrace never writes to the target.  Reads go through process_vm_readv;
 * if that is refused (some hardened kernels), /proc/PID/mem opened O_RDONLY.
 * Reads race with the running target: callers must treat the bytes as
 * untrusted and possibly torn.
 */
#ifndef PMT_REMOTE_MEM_H
#define PMT_REMOTE_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads exactly len bytes at addr.  0, or -errno (-EFAULT for unmapped memory,
 * -ESRCH if the process is gone, -EPERM/-EACCES without ptrace permission). */
int remote_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/* Reads a NUL-terminated string of at most cap-1 bytes; always terminates buf.
 * Returns the string length, or -errno. */
int remote_read_str(pid_t pid, uint64_t addr, char *buf, size_t cap);

/* Reads n pieces of `each` bytes, piece i from addrs[i] into buf + i * each,
 * with as few system calls as the kernel allows (process_vm_readv takes up to
 * IOV_MAX pieces at once).  ok[i] says whether piece i was read whole; a piece
 * in unmapped memory does not stop the others.  Returns how many were read,
 * or -errno when none could be (-ESRCH: the process is gone, -EINVAL). */
int remote_read_many(pid_t pid, const uint64_t *addrs, size_t each, void *buf, size_t n,
		     unsigned char *ok);

#endif
