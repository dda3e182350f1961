/* Perf-event uprobes opened by pymemtrace itself, for the fallback path
 * (kernels without uprobe_multi: before 6.6, or PYMEMTRACE_NO_UPROBE_MULTI).
 *
 * libbpf's bpf_program__attach_uprobe_opts opens the same kind of event but
 * keeps its file descriptor private, and destroying its link closes it on
 * the calling thread.  Closing the last reference to a uprobe event is what
 * takes its breakpoint out of the target (and lowers a USDT semaphore), and
 * the kernel gives up on that when the closing thread has a SIGKILL
 * pending: the int3 stays in the target for good.  Owning the fd lets
 * detach hand the last closes to a child process that a SIGKILL of
 * pymemtrace does not reach (attach.c, close_parallel).
 *
 * The kernel's uprobe PMU ("uprobe" under /sys/bus/event_source/devices,
 * Linux 4.17+) describes its own config layout in format/: the retprobe
 * bit and where the semaphore's offset goes.  Those files are the kernel's,
 * not the target's.
 */
#ifndef PMT_PERF_UPROBE_H
#define PMT_PERF_UPROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Opens a uprobe (or uretprobe) perf event at file offset `offset` of path,
 * for process pid only (pid -1: every process that maps path, --all only,
 * DESIGN-NOTES 2), with USDT semaphore file offset ref_ctr_offset
 * (0: none).  Close-on-exec.  Returns the fd, or -errno: -ENOENT or
 * -EOPNOTSUPP when the kernel has no uprobe PMU or lacks the needed
 * format field (the caller falls back to libbpf's own attach). */
int perf_uprobe__open(const char *path, uint64_t offset, pid_t pid, bool retprobe,
		      uint64_t ref_ctr_offset);

#endif
