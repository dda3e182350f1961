/* Attaching the planned probes of one process, and the system-wide hooks.
 *
 * Every uprobe and USDT probe is attached with the target's pid, so the
 * kernel places breakpoints only in that process: other processes running
 * the same interpreter binary are not slowed (DESIGN-NOTES section 2).
 *
 * Two ways, chosen once per session (uprobe_multi.h):
 *  - uprobe_multi: the probes of a process are grouped into one link per
 *    (file, entry or return), all to one program, uprobe_dispatch, which
 *    tail-calls each probe's handler named in its cookie; the cookies and
 *    USDT semaphores ride along per address.  Removing a link removes its
 *    probes together, but still waits for the kernel's grace periods
 *    (~55 ms here), so fewer links detach faster: 2 to 6 per process
 *    (the GC probes' links apart, for --gc-budget).
 *  - perf-event uprobes (kernels before 6.6, or PYMEMTRACE_NO_UPROBE_MULTI):
 *    one link per probe, ~100 ms each to remove, each on a perf event that
 *    pymemtrace opens itself (perf_uprobe.h), USDT probes included, with
 *    the decoded argument in the cookie as for uprobe_multi.
 * A USDT probe whose argument spec usdt_args.h cannot read takes libbpf's
 * USDT path in either case (and every perf-event probe takes libbpf's
 * attach on a kernel without the uprobe PMU).
 *
 * Links are file descriptors, so the kernel removes every probe when
 * pymemtrace exits, even under SIGKILL.  At detach the last closes happen
 * in a child process (attach.c): the kernel cannot take a breakpoint out
 * for a thread with a SIGKILL pending, so a SIGKILL of pymemtrace during
 * its own detach would otherwise leave int3s in the target.  Only libbpf's
 * own links (the fallbacks above) still close in pymemtrace.
 */
#ifndef PMT_ATTACH_H
#define PMT_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "bp_watch.h"
#include "plan.h"
#include "report.h"

struct pymemtrace_bpf;
struct bpf_link;
struct groups;

/* The link names that probe_status.link shows. */
#define ATTACH_LINK_MULTI "uprobe_multi"
#define ATTACH_LINK_PERF  "perf uprobe"
#define ATTACH_LINK_WINDOWS "uprobe windows" /* uprobe_multi, armed in windows */

/* Probes kept in links of their own, so that they can be disarmed and
 * armed again while the trace runs: --sample-window's allocation probes
 * (armed only inside windows), and the GC probes under --gc-budget (armed
 * from the start, disarmed between windows once timing every collection
 * would cost more than the budget). */
enum attach_set { ATTACH_SET_WINDOW, ATTACH_SET_GC, ATTACH_SET_NR };

struct link_set {
	struct groups *groups;                    /* NULL: the set is empty */
	int fds[PLAN_MAX_PROBES];
	unsigned n_fds;                           /* 0: disarmed */
	unsigned sites;                           /* addresses probed while armed */
};

struct proc_links {
	struct bpf_link *links[PLAN_MAX_PROBES]; /* perf-event uprobes, libbpf USDT */
	/* perf_fds[i]: the perf event under links[i] when pymemtrace opened it
	 * (perf_uprobe.h), so that detach can hand its last close to the
	 * closer process; -1: libbpf's own (its USDT path, or no uprobe PMU) */
	int perf_fds[PLAN_MAX_PROBES];
	unsigned n;
	int fds[PLAN_MAX_PROBES];                 /* uprobe_multi links */
	unsigned n_fds;
	unsigned n_sites;                         /* probed addresses behind all of them */
	pid_t pid;
	struct link_set sets[ATTACH_SET_NR];
	/* Where the breakpoints of the probes left attached (not the windowed
	 * ones) were seen in the target: how detach tells when they are out. */
	struct bp_watch watch;
	/* The watch holds every address these links probe (none failed, none
	 * was another tracer's, none went unseen), so detach may leave the
	 * links' grace periods to the closer process once they are out. */
	bool watch_complete;
};

/* Before the object is loaded: which uprobe programs load (alloc: --alloc's;
 * multi: the uprobe_multi USDT readers and the LTO site program), and with
 * which expected attach type (uprobe_multi for all of them when multi). */
void attach__prepare(struct pymemtrace_bpf *skel, bool multi, bool alloc);

/* After load, with multi: puts the loaded handlers into uprobe_dispatch's
 * table.  0 or -errno with the reason in err. */
int attach__fill_handlers(struct pymemtrace_bpf *skel, char *err, size_t errlen);

/* Attaches every available probe of the plan for plan->interp.pid, through
 * uprobe_multi links when multi (as prepared), and records one probe_status
 * per planned probe into st[] (at most max), with its link kind.
 * windowed (needs multi): the allocation probes are not left attached but
 * kept in ATTACH_SET_WINDOW for attach__set_arm, after one trial attach
 * that tells whether they can be; the free probes are not used at all (a
 * windowed trace cannot pair frees with allocations).
 * gc_set (needs multi): the GC probes go into ATTACH_SET_GC, armed.
 * Returns the number of probes that should have attached but failed;
 * *n_st receives the number of statuses written. */
unsigned attach__process(struct pymemtrace_bpf *skel, const struct plan *plan, bool multi,
			 bool windowed, bool gc_set, struct proc_links *links,
			 struct probe_status *st, unsigned max, unsigned *n_st);

/* Whether a process has probes in the set, and whether they are armed. */
bool attach__set_has(const struct proc_links *links, enum attach_set set);
bool attach__set_armed(const struct proc_links *links, enum attach_set set);

/* Arms a set of one process (no-op if it has none or they are armed).
 * Returns the links that failed (0: all armed).
 * The first link of a burst can take a grace period (~15 ms here: the
 * kernel's uprobe registration takes a per-CPU rwsem for writing) before
 * any breakpoint goes in; the others take ~50 us. */
unsigned attach__set_arm(struct proc_links *links, enum attach_set set);
/* Disarms a set of n processes at once: the breakpoints go at once, then
 * the call waits for the kernel's grace period (~55 ms, shared by parallel
 * closes) - the tracer waits, not the target. */
void attach__set_disarm(struct proc_links *const *links, unsigned n, enum attach_set set);
/* What attach__detach saw of the breakpoints while the links closed. */
struct detach_watch {
	unsigned watched;  /* addresses that held our int3 at attach and are still
			    * mapped from the same file (bp_watch__recheck) */
	unsigned left;     /* of them, still holding one after every link closed */
	double gone_at;    /* now_s() (clock.h) when none held one; 0 if left */
};

/* Closes fds[0..n) (links, perf events) without waiting: on a thread of
 * its own, the last closes in a closer process (close_parallel in
 * attach.c), so that a SIGKILL of pymemtrace meanwhile cannot cut the
 * kernel's unregistration short. */
void attach__close_in_background(const int *fds, unsigned n);

/* A test knob: the closer process of a detach lingers this many ms after
 * its closes (tests/52-uprobe-multi.bats reads it after pymemtrace exits). */
#define PMT_ENV_CLOSER_LINGER "PYMEMTRACE_TEST_CLOSER_LINGER_MS"

/* Removes the probes of n processes at once and returns how many probed
 * addresses that was.  Removing a uprobe_multi link waits for the kernel's
 * grace periods (~55 ms on our VM), once per link: the links are closed
 * from parallel threads of a closer process, so that they share them,
 * while this thread reads the watched addresses every 0.5 ms until their
 * breakpoints are out (dw, if not NULL, gets what it saw).  With dw, when
 * every probed address of the links was watched (watch_complete, no armed
 * window set) and all are read out, it returns then, and the closer
 * process finishes the grace periods alone; otherwise, and without dw, it
 * returns once every link is closed. */
unsigned attach__detach(struct proc_links *const *links, unsigned n, struct detach_watch *dw);
/* attach__detach() for one process. */
unsigned attach__detach_process(struct proc_links *links);

/* Attaches the system-wide syscall and sched hooks (raw tracepoints: no
 * tracefs needed), those whose program is set to load (sched_process_fork
 * only when following forks).  0 or -errno with the reason in err. */
int attach__global(struct pymemtrace_bpf *skel, char *err, size_t errlen);

/* Detaches the system-wide hooks of attach__global(); returns how many. */
unsigned attach__detach_global(struct pymemtrace_bpf *skel);

/* The hold-at-entry probe of a launched command (launch.h). */
struct hold_probe {
	struct bpf_link *link;    /* perf-event uprobe, or NULL */
	int fd;                   /* uprobe_multi link, or -1 */
};

/* Attaches the hold-at-entry uprobe to `path` at file offset `off` for pid.
 * 0, or -errno (then h holds nothing). */
int attach__hold(struct pymemtrace_bpf *skel, bool multi, pid_t pid, const char *path,
		 uint64_t off, struct hold_probe *h);
/* Removes it (it is only needed until the child stopped); idempotent. */
void attach__unhold(struct hold_probe *h);

#endif
