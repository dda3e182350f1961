/* Many uprobes on one file as a single BPF link (Linux 6.6+, uprobe_multi).
 *
 * pymemtrace attaches hundreds of probes to an LTO build's inlined allocator
 * sites.  One perf-event uprobe each would cost hundreds of file descriptors,
 * and detaching them ~100 ms apiece (each unregistration waits for an SRCU
 * grace period): a uprobe_multi link installs and removes them together.
 * libbpf 1.1 (Debian 12) has no API for it, so the link is created with the
 * bpf() syscall directly; the program must be loaded with expected attach
 * type PMT_BPF_TRACE_UPROBE_MULTI (uprobe_multi__prepare before load).
 */
#ifndef PMT_UPROBE_MULTI_H
#define PMT_UPROBE_MULTI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bpf_program;

#define PMT_BPF_TRACE_UPROBE_MULTI 48   /* enum bpf_attach_type, Linux 6.6 */

/* Marks prog for uprobe_multi links (call before the object is loaded). */
int uprobe_multi__prepare(struct bpf_program *prog);

/* Attaches prog at n file offsets of path for pid only (pid > 0), with one
 * cookie per offset; retprobe: uretprobes.  Returns the link fd, or -errno
 * (-EINVAL or -EOPNOTSUPP: the kernel has no uprobe_multi). */
int uprobe_multi__attach(struct bpf_program *prog, const char *path, pid_t pid,
			 const uint64_t *offsets, const uint64_t *cookies, size_t n, bool retprobe);

#endif
