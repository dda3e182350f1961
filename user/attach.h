/* Attaching the planned probes of one process, and the system-wide hooks.
 *
 * Every uprobe and USDT probe is attached with the target's pid, so the
 * kernel places breakpoints only in that process: other processes running
 * the same interpreter binary are not slowed (DESIGN-NOTES section 2).
 * Links are file descriptors, so the kernel removes every probe when
 * pymemtrace exits, even under SIGKILL.
 */
#ifndef PMT_ATTACH_H
#define PMT_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "plan.h"
#include "report.h"

struct pymemtrace_bpf;
struct bpf_link;

struct proc_links {
	struct bpf_link *links[PLAN_MAX_PROBES];
	unsigned n;
	int fds[4];               /* uprobe_multi links (uprobe_multi.h) */
	unsigned n_fds;
	unsigned n_sites;         /* probed addresses behind all of them */
};

/* Attaches every available probe of the plan for plan->interp.pid and
 * records one probe_status per planned probe into st[] (at most max).
 * Returns the number of probes that should have attached but failed;
 * *n_st receives the number of statuses written. */
unsigned attach__process(struct pymemtrace_bpf *skel, const struct plan *plan,
			 struct proc_links *links, struct probe_status *st, unsigned max,
			 unsigned *n_st);
/* Removes every probe of links; returns how many probed addresses that was. */
unsigned attach__detach_process(struct proc_links *links);

/* Detaches the system-wide hooks of attach__global(); returns how many. */
unsigned attach__detach_global(struct pymemtrace_bpf *skel);

/* Attaches the system-wide syscall and sched hooks (raw tracepoints: no
 * tracefs needed).  0 or -errno with the reason in err. */
int attach__global(struct pymemtrace_bpf *skel, char *err, size_t errlen);

/* Attaches the hold-at-entry uprobe to `path` at file offset `off` for pid. */
struct bpf_link *attach__hold(struct pymemtrace_bpf *skel, pid_t pid, const char *path,
			      uint64_t off);

#endif
