/* Probe hits and what each costs the target: see trap_cost.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "log.h"
#include "perf_uprobe.h"
#include "procmaps.h"
#include "trap_cost.h"
#include "uprobe_multi.h"
#include "pymemtrace.skel.h"

/* Three functions of identical code, written in assembly so that the
 * compiler can neither inline them nor change their first instruction:
 * `push %rbp`, which the kernel emulates, like the plan's probe sites. */
void pmt_trap_cost_entry(void);
void pmt_trap_cost_return(void);
void pmt_trap_cost_plain(void);
__asm__(
	"	.text\n"
	"	.p2align 4\n"
	"	.globl pmt_trap_cost_entry\n"
	"	.type pmt_trap_cost_entry, @function\n"
	"pmt_trap_cost_entry:\n"
	"	push %rbp\n"
	"	pop %rbp\n"
	"	ret\n"
	"	.size pmt_trap_cost_entry, .-pmt_trap_cost_entry\n"
	"	.p2align 4\n"
	"	.globl pmt_trap_cost_return\n"
	"	.type pmt_trap_cost_return, @function\n"
	"pmt_trap_cost_return:\n"
	"	push %rbp\n"
	"	pop %rbp\n"
	"	ret\n"
	"	.size pmt_trap_cost_return, .-pmt_trap_cost_return\n"
	"	.p2align 4\n"
	"	.globl pmt_trap_cost_plain\n"
	"	.type pmt_trap_cost_plain, @function\n"
	"pmt_trap_cost_plain:\n"
	"	push %rbp\n"
	"	pop %rbp\n"
	"	ret\n"
	"	.size pmt_trap_cost_plain, .-pmt_trap_cost_plain\n");

/* Calls per measured batch, and batches: the median batch is kept, so
 * that one preemption does not set the figure.  5 x 2,000 x ~1 us: a few ms. */
#define CALLS   2000
#define ROUNDS  5

static const char *const handler_names[PMT_H_NR] = {
	[PMT_H_GC_ENTRY] = "gc_entry",
	[PMT_H_GC_RETURN] = "gc_return",
	[PMT_H_ARENA_ALLOC] = "arena_alloc",
	[PMT_H_ARENA_ALLOC_RET] = "arena_alloc_return",
	[PMT_H_ARENA_FREE] = "arena_free",
	[PMT_H_ARENA_MMAP_CALL] = "arena_mmap_call",
	[PMT_H_ALLOC_ENTRY] = "alloc_entry",
	[PMT_H_ALLOC_RETURN] = "alloc_return",
	[PMT_H_FREE] = "free",
	[PMT_H_LTO] = "lto_site",
	[PMT_H_USDT_GC_START] = "usdt_gc_start",
	[PMT_H_USDT_GC_DONE] = "usdt_gc_done",
	[PMT_H_GROWTH_POOL] = "growth_pool",
	[PMT_H_LTO_RET] = "lto_newpool_return",
	[PMT_H_TRAP_COST] = "calibration",
	[PMT_H_TRAP_COST_RET] = "calibration_return",
};

const char *trap_cost__handler_name(unsigned handler)
{
	return handler < PMT_H_NR ? handler_names[handler] : NULL;
}

bool trap_cost__is_return(unsigned handler)
{
	return handler == PMT_H_GC_RETURN || handler == PMT_H_ARENA_ALLOC_RET ||
	       handler == PMT_H_ALLOC_RETURN || handler == PMT_H_LTO_RET ||
	       handler == PMT_H_TRAP_COST_RET;
}

bool trap_cost__return_only(unsigned handler)
{
	/* allocate_from_new_pool, decoded on LTO builds: the inlined sites
	 * are in its callers, never at its entry */
	return handler == PMT_H_LTO_RET;
}

double trap_cost__hit_ns(const struct trap_cost *c, unsigned handler)
{
	if (!c->measured)
		return 0;
	if (!trap_cost__is_return(handler))
		return c->entry_ns;
	return trap_cost__return_only(handler) ? c->entry_ns + c->return_ns : c->return_ns;
}

bool trap_cost__is_own(unsigned handler)
{
	return handler == PMT_H_TRAP_COST || handler == PMT_H_TRAP_COST_RET;
}

/* A per-CPU array of PMT_H_NR counters, each added up over the CPUs. */
static int sum_by_handler(int fd, uint64_t out[PMT_H_NR])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v;

	memset(out, 0, sizeof(uint64_t) * PMT_H_NR);
	if (fd < 0 || ncpu <= 0)
		return -ENOENT;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (__u32 h = 0; h < PMT_H_NR; h++) {
		if (bpf_map_lookup_elem(fd, &h, v)) {
			int ret = -errno;

			free(v);
			return ret;
		}
		for (int c = 0; c < ncpu; c++)
			out[h] += v[c];
	}
	free(v);
	return 0;
}

int trap_cost__hits(struct pymemtrace_bpf *skel, uint64_t hits[PMT_H_NR])
{
	return sum_by_handler(bpf_map__fd(skel->maps.probe_hits), hits);
}

int trap_cost__handler_ns(struct pymemtrace_bpf *skel, uint64_t ns[PMT_H_NR])
{
	return sum_by_handler(bpf_map__fd(skel->maps.handler_ns), ns);
}

bool trap_cost__is_gc(unsigned handler)
{
	return handler == PMT_H_GC_ENTRY || handler == PMT_H_GC_RETURN ||
	       handler == PMT_H_USDT_GC_START || handler == PMT_H_USDT_GC_DONE;
}

bool trap_cost__bpf_time(struct pymemtrace_bpf *skel, uint64_t *ns, uint64_t *runs)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_program__fd(skel->progs.uprobe_dispatch);
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
	int on = 0;

	if (f) {
		if (fscanf(f, "%d", &on) != 1)
			on = 0;
		fclose(f);
	}
	if (on != 1 || fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	*ns = info.run_time_ns;
	*runs = info.run_cnt;
	return true;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* CPU ns of CALLS calls; through a volatile pointer, so that every call is made. */
static uint64_t batch_ns(void (*fn)(void))
{
	void (*volatile call)(void) = fn;
	uint64_t t0 = thread_cpu_ns();

	for (unsigned i = 0; i < CALLS; i++)
		call();
	return thread_cpu_ns() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* fn's file offset in pymemtrace's executable, which the kernel opens as
 * /proc/self/exe whatever its path is now (map_files would need
 * CAP_SYS_ADMIN, which pymemtrace may run without: README "Privileges").
 * -ENOENT if no file mapping holds fn. */
static int locate(void (*fn)(void), uint64_t *off)
{
	uint64_t addr = (uint64_t)(uintptr_t)fn;
	struct procmaps m = {};
	int ret;

	ret = procmaps__load(getpid(), &m, NULL);
	if (ret)
		return ret;
	ret = -ENOENT;
	for (size_t i = 0; i < m.n; i++) {
		const struct procmap_entry *e = &m.v[i];

		/* This file is linked into the executable, so the file mapping
		 * holding fn is it.  (Its dev:inode is not compared with
		 * /proc/self/exe's: overlayfs shows different ones.)  Were it
		 * not, the probe would not fire, and the count check says so. */
		if (addr < e->start || addr >= e->end || !e->path[0] || e->path[0] == '[')
			continue;
		*off = addr - e->start + e->offset;
		ret = 0;
		break;
	}
	procmaps__release(&m);
	return ret;
}

/* fn probed through the dispatcher the way the targets' probes are: a
 * uprobe_multi link, or a perf-event uprobe of our own with a BPF link to
 * the dispatcher (*event_fd gets the event; -1 for uprobe_multi).  Returns
 * the link's fd or -errno with why set. */
static int attach_own(struct pymemtrace_bpf *skel, bool multi, void (*fn)(void), __u32 handler,
		      bool ret, int *event_fd, char *why, size_t whylen)
{
	uint64_t off, cookie = (uint64_t)handler << PMT_HANDLER_SHIFT;
	LIBBPF_OPTS(bpf_link_create_opts, opts, .perf_event.bpf_cookie = cookie);
	int fd, err = locate(fn, &off);

	*event_fd = -1;
	if (err) {
		fmt_msg(why, whylen, "cannot find pymemtrace's own code in its executable: %s",
			strerror(-err));
		return err;
	}
	if (multi) {
		fd = uprobe_multi__attach(skel->progs.uprobe_dispatch, "/proc/self/exe", getpid(),
					  &off, NULL, &cookie, 1, ret);
		if (fd < 0)
			fmt_msg(why, whylen, "cannot probe pymemtrace's own code: %s",
				strerror(-fd));
		return fd;
	}
	*event_fd = perf_uprobe__open("/proc/self/exe", off, getpid(), ret, 0);
	if (*event_fd < 0) {
		fmt_msg(why, whylen, "cannot open a perf-event uprobe on pymemtrace's own code: %s",
			strerror(-*event_fd));
		return *event_fd;
	}
	fd = bpf_link_create(bpf_program__fd(skel->progs.uprobe_dispatch), *event_fd,
			     BPF_PERF_EVENT, &opts);
	if (fd < 0) {
		fd = -errno;
		fmt_msg(why, whylen, "cannot attach the dispatcher to a perf-event uprobe: %s "
			"(BPF links to perf events with cookies: Linux 5.15)", strerror(-fd));
		close(*event_fd);
		*event_fd = -1;
	}
	return fd;
}

/* The calibration's probes: their links, then their perf events if any
 * (the event's last close is what removes the uprobe).  Closing waits for
 * the kernel's grace periods (tens of ms), so it goes on in the background,
 * the last closes in a closer process: a SIGKILL of pymemtrace in those ms
 * left both uprobes leaked in the kernel ("failed to unregister, leaking
 * uprobe", attach.h). */
static void close_own_later(int efd, int eev, int rfd, int rev)
{
	int fds[4];
	unsigned n = 0;

	fds[n++] = efd;
	if (eev >= 0)
		fds[n++] = eev;
	if (rfd >= 0)
		fds[n++] = rfd;
	if (rev >= 0)
		fds[n++] = rev;
	attach__close_in_background(fds, n);
}

void trap_cost__measure(struct pymemtrace_bpf *skel, bool multi, struct trap_cost *out)
{
	double entry[ROUNDS], ret[ROUNDS];
	uint64_t before[PMT_H_NR], after[PMT_H_NR], ns0 = 0, runs0 = 0, ns1, runs1;
	int efd, rfd, eev, rev;

	memset(out, 0, sizeof(*out));
	out->calls = CALLS * ROUNDS;
	if (getenv(PMT_ENV_NO_TRAP_COST)) {
		fmt_msg(out->why, sizeof(out->why), "the start-up measure was skipped: %s is set",
			PMT_ENV_NO_TRAP_COST);
		return;
	}
	if (bpf_program__fd(skel->progs.uprobe_dispatch) < 0 ||
	    bpf_program__fd(skel->progs.uprobe_trap_cost) < 0) {
		fmt_msg(out->why, sizeof(out->why), "the dispatcher that counts probe hits is "
			"not loaded");
		return;
	}
	efd = attach_own(skel, multi, pmt_trap_cost_entry, PMT_H_TRAP_COST, false, &eev,
			 out->why, sizeof(out->why));
	if (efd < 0)
		return;
	rfd = attach_own(skel, multi, pmt_trap_cost_return, PMT_H_TRAP_COST_RET, true, &rev,
			 out->why, sizeof(out->why));
	if (rfd < 0) {
		close_own_later(efd, eev, -1, -1);
		return;
	}
	if (trap_cost__hits(skel, before)) {
		fmt_msg(out->why, sizeof(out->why), "cannot read the probe hit counters");
		close_own_later(efd, eev, rfd, rev);
		return;
	}
	out->bpf_stats = trap_cost__bpf_time(skel, &ns0, &runs0);
	/* interleaved, so that a slow moment of the machine hits all three */
	for (int r = 0; r < ROUNDS; r++) {
		double plain = batch_ns(pmt_trap_cost_plain);

		entry[r] = (batch_ns(pmt_trap_cost_entry) - plain) / CALLS;
		ret[r] = (batch_ns(pmt_trap_cost_return) - plain) / CALLS;
	}
	if (out->bpf_stats && trap_cost__bpf_time(skel, &ns1, &runs1)) {
		out->calib_bpf_ns = ns1 - ns0;
		out->calib_bpf_runs = runs1 - runs0;
	} else {
		out->bpf_stats = false;
	}
	close_own_later(efd, eev, rfd, rev);
	if (trap_cost__hits(skel, after)) {
		fmt_msg(out->why, sizeof(out->why), "cannot read the probe hit counters");
		return;
	}
	/* The probes must have fired on every call, or the figures mean nothing. */
	if (after[PMT_H_TRAP_COST] - before[PMT_H_TRAP_COST] != out->calls ||
	    after[PMT_H_TRAP_COST_RET] - before[PMT_H_TRAP_COST_RET] != out->calls) {
		fmt_msg(out->why, sizeof(out->why), "the calibration probes fired %llu and %llu "
			"times for %u calls each",
			(unsigned long long)(after[PMT_H_TRAP_COST] - before[PMT_H_TRAP_COST]),
			(unsigned long long)(after[PMT_H_TRAP_COST_RET] - before[PMT_H_TRAP_COST_RET]),
			out->calls);
		return;
	}
	qsort(entry, ROUNDS, sizeof(entry[0]), cmp_double);
	qsort(ret, ROUNDS, sizeof(ret[0]), cmp_double);
	out->entry_ns = entry[ROUNDS / 2] > 0 ? entry[ROUNDS / 2] : 0;
	/* a return probe traps at its function's entry too: what it adds */
	out->return_ns = ret[ROUNDS / 2] > out->entry_ns ? ret[ROUNDS / 2] - out->entry_ns : 0;
	out->measured = true;
	pr_debug("trap cost: %.0f ns an entry hit, %.0f ns more for a return (median of %d x %d "
		 "calls)", out->entry_ns, out->return_ns, ROUNDS, CALLS);
}
