/* Many uprobes on one file as a single BPF link (Linux 6.6+, uprobe_multi).
 *
 * A perf-event uprobe costs ~80-100 ms to remove (each unregistration waits
 * for an SRCU grace period, and the kernel serialises them), so a trace with
 * 8 of them took ~0.5 s to detach and --alloc ~2 s.  A uprobe_multi link
 * installs and removes all its probes together: pymemtrace attaches every
 * uprobe, uretprobe and USDT site through them when the kernel can
 * (uprobe_multi__supported), and falls back to perf-event uprobes otherwise.
 * libbpf 1.1 (Debian 12) has no API for it, so the link is created with the
 * bpf() syscall directly; the program must be loaded with expected attach
 * type PMT_BPF_TRACE_UPROBE_MULTI (uprobe_multi__prepare before load), and
 * then cannot be attached any other way.
 */
#ifndef PMT_UPROBE_MULTI_H
#define PMT_UPROBE_MULTI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bpf_program;

#define PMT_BPF_TRACE_UPROBE_MULTI 48   /* enum bpf_attach_type, Linux 6.6 */

/* The test/debug knob that forces the perf-event fallback, as on a kernel
 * before 6.6: set to anything but "" or "0". */
#define PMT_ENV_NO_UPROBE_MULTI "PYMEMTRACE_NO_UPROBE_MULTI"

/* Whether PMT_ENV_NO_UPROBE_MULTI asks for the fallback (no syscall: what
 * --dry-run plans with). */
bool uprobe_multi__knob_off(void);

/* Whether uprobe_multi links can be used: the kernel has them, with a pid
 * filter that covers the whole process (early 6.6-6.8 kernels filtered by
 * thread, fixed in 6.9 and the stable trees), and PMT_ENV_NO_UPROBE_MULTI
 * is not set.  Otherwise false with the reason in why.  Side-effect free:
 * it loads a two-instruction program and asks for links the kernel must
 * refuse, telling support apart by the errno. */
bool uprobe_multi__supported(char *why, size_t whylen);

/* Marks prog for uprobe_multi links (call before the object is loaded). */
int uprobe_multi__prepare(struct bpf_program *prog);

/* Attaches prog at n file offsets of path for pid only (pid > 0), or for
 * every process that maps path (pid -1: --all only, DESIGN-NOTES 2), with one
 * cookie per offset and, if ref_ctr_offsets is not NULL, one USDT semaphore
 * file offset per offset (0: none); retprobe: uretprobes.  Returns the link
 * fd, or -errno (-EINVAL or -EOPNOTSUPP: the kernel has no uprobe_multi). */
int uprobe_multi__attach(struct bpf_program *prog, const char *path, pid_t pid,
			 const uint64_t *offsets, const uint64_t *ref_ctr_offsets,
			 const uint64_t *cookies, size_t n, bool retprobe);

#endif
