/* Probe attachment: see attach.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "clock.h"
#include "log.h"
#include "perf_uprobe.h"
#include "procmaps.h"
#include "trap_cost.h"
#include "pymemtrace.skel.h"
#include "uprobe_multi.h"

/* Closing a uprobe_multi link waits for the kernel's grace periods (~55 ms
 * here) once per link; closes from parallel threads share them. */
#define CLOSERS_MAX 16

/* run(arg, left) runs on the calling thread while the closers work; left
 * counts the closer threads (or the closer process) still closing.  It
 * returns true when it saw every breakpoint of the links out of their
 * targets: what is left of a close is then the kernel's grace periods,
 * which the closer process may finish after pymemtrace has gone. */
typedef bool (*closing_fn)(void *arg, const atomic_uint *left);
static void close_parallel(const int *fds, unsigned n, closing_fn run, void *arg);

/* The program of a plan probe; for USDT, the one that reads the decoded
 * argument spec from its cookie (cookie_usdt: a uprobe_multi link or a
 * perf event of ours) or libbpf's BPF_USDT one. */
static struct bpf_program *prog_for(struct pymemtrace_bpf *skel, enum plan_prog prog,
				    bool cookie_usdt)
{
	switch (prog) {
	case PLAN_USDT_GC_START:
		return cookie_usdt ? skel->progs.uprobe_usdt_gc_start : skel->progs.usdt_gc_start;
	case PLAN_USDT_GC_DONE:
		return cookie_usdt ? skel->progs.uprobe_usdt_gc_done : skel->progs.usdt_gc_done;
	case PLAN_GC_ENTRY:        return skel->progs.uprobe_gc_entry;
	case PLAN_GC_RETURN:       return skel->progs.uretprobe_gc_return;
	case PLAN_ARENA_ALLOC:     return skel->progs.uprobe_arena_alloc;
	case PLAN_ARENA_ALLOC_RET: return skel->progs.uretprobe_arena_alloc;
	case PLAN_ARENA_FREE:      return skel->progs.uprobe_arena_free;
	case PLAN_ARENA_MMAP_CALL: return skel->progs.uprobe_arena_mmap_call;
	case PLAN_ALLOC_ENTRY:     return skel->progs.uprobe_alloc_entry;
	case PLAN_ALLOC_RETURN:    return skel->progs.uretprobe_alloc_return;
	case PLAN_FREE:            return skel->progs.uprobe_free;
	case PLAN_LTO_SITES:
	case PLAN_LTO_NEWPOOL:     return skel->progs.uprobe_lto;
	case PLAN_GROWTH_POOL:     return skel->progs.uprobe_growth_pool;
	}
	return NULL;
}

/* The handler uprobe_dispatch tail-calls for a plan probe (pymemtrace.h). */
static uint64_t handler_of(enum plan_prog prog)
{
	switch (prog) {
	case PLAN_USDT_GC_START:   return PMT_H_USDT_GC_START;
	case PLAN_USDT_GC_DONE:    return PMT_H_USDT_GC_DONE;
	case PLAN_GC_ENTRY:        return PMT_H_GC_ENTRY;
	case PLAN_GC_RETURN:       return PMT_H_GC_RETURN;
	case PLAN_ARENA_ALLOC:     return PMT_H_ARENA_ALLOC;
	case PLAN_ARENA_ALLOC_RET: return PMT_H_ARENA_ALLOC_RET;
	case PLAN_ARENA_FREE:      return PMT_H_ARENA_FREE;
	case PLAN_ARENA_MMAP_CALL: return PMT_H_ARENA_MMAP_CALL;
	case PLAN_ALLOC_ENTRY:     return PMT_H_ALLOC_ENTRY;
	case PLAN_ALLOC_RETURN:    return PMT_H_ALLOC_RETURN;
	case PLAN_FREE:            return PMT_H_FREE;
	case PLAN_LTO_SITES:       return PMT_H_LTO;
	/* the same program, counted apart: a return costs what a return costs */
	case PLAN_LTO_NEWPOOL:     return PMT_H_LTO_RET;
	case PLAN_GROWTH_POOL:     return PMT_H_GROWTH_POOL;
	}
	return PMT_H_NONE;
}

static bool is_retprobe(enum plan_prog prog)
{
	return prog == PLAN_GC_RETURN || prog == PLAN_ARENA_ALLOC_RET ||
	       prog == PLAN_ALLOC_RETURN || prog == PLAN_LTO_NEWPOOL;
}

static bool is_usdt(enum plan_prog prog)
{
	return prog == PLAN_USDT_GC_START || prog == PLAN_USDT_GC_DONE;
}

/* The probes that fire on every allocation: what --sample-window arms only
 * inside its windows.  The LTO sites include the inlined frees; they cannot
 * be told apart here, and find no live entry to remove: harmless. */
static bool is_windowed(enum plan_prog prog)
{
	return prog == PLAN_ALLOC_ENTRY || prog == PLAN_ALLOC_RETURN || prog == PLAN_LTO_SITES ||
	       prog == PLAN_LTO_NEWPOOL;
}

/* The probes that time a collection: ATTACH_SET_GC under --gc-budget. */
static bool is_gc(enum plan_prog prog)
{
	return prog == PLAN_GC_ENTRY || prog == PLAN_GC_RETURN || prog == PLAN_USDT_GC_START ||
	       prog == PLAN_USDT_GC_DONE;
}

/* What the probe list calls a set's links. */
static const char *set_link_name(enum attach_set set)
{
	return set == ATTACH_SET_WINDOW ? ATTACH_LINK_WINDOWS : ATTACH_LINK_MULTI;
}

void attach__prepare(struct pymemtrace_bpf *skel, bool multi, bool alloc)
{
	struct bpf_program *uprobes[] = {
		skel->progs.uprobe_gc_entry, skel->progs.uretprobe_gc_return,
		skel->progs.uprobe_arena_alloc, skel->progs.uretprobe_arena_alloc,
		skel->progs.uprobe_arena_free, skel->progs.uprobe_arena_mmap_call,
		skel->progs.uprobe_alloc_entry, skel->progs.uretprobe_alloc_return,
		skel->progs.uprobe_free, skel->progs.uprobe_lto,
		skel->progs.uprobe_usdt_gc_start, skel->progs.uprobe_usdt_gc_done,
		skel->progs.uprobe_hold_at_entry, skel->progs.uprobe_dispatch,
		skel->progs.uprobe_growth_pool, skel->progs.uprobe_trap_cost,
	};

	/* The allocation programs (and the Python stack walker they call) are
	 * loaded only for --alloc: the default mode must not depend on them.
	 * The LTO sites are only ever probed through uprobe_multi. */
	bpf_program__set_autoload(skel->progs.uprobe_alloc_entry, alloc);
	bpf_program__set_autoload(skel->progs.uretprobe_alloc_return, alloc);
	bpf_program__set_autoload(skel->progs.uprobe_free, alloc);
	bpf_program__set_autoload(skel->progs.uprobe_lto, alloc && multi);
	/* The USDT readers of decoded specs serve both paths, and so do the
	 * dispatcher and the calibration's handler: perf-event uprobes of our
	 * own go through the dispatcher too, so that their hits are counted
	 * (trap_cost.h).  libbpf's USDT programs stay: a spec usdt_args.h
	 * cannot read falls back to them, even with uprobe_multi. */
	if (!multi)
		return;
	/* the dispatcher and what it tail-calls must agree on the type */
	for (unsigned i = 0; i < sizeof(uprobes) / sizeof(uprobes[0]); i++)
		uprobe_multi__prepare(uprobes[i]);
}

int attach__fill_handlers(struct pymemtrace_bpf *skel, char *err, size_t errlen)
{
	int map_fd = bpf_map__fd(skel->maps.uprobe_handlers);

	for (__u32 h = PMT_H_NONE + 1; h < PMT_H_NR; h++) {
		static const enum plan_prog of[PMT_H_NR] = {
			[PMT_H_GC_ENTRY] = PLAN_GC_ENTRY,
			[PMT_H_GC_RETURN] = PLAN_GC_RETURN,
			[PMT_H_ARENA_ALLOC] = PLAN_ARENA_ALLOC,
			[PMT_H_ARENA_ALLOC_RET] = PLAN_ARENA_ALLOC_RET,
			[PMT_H_ARENA_FREE] = PLAN_ARENA_FREE,
			[PMT_H_ARENA_MMAP_CALL] = PLAN_ARENA_MMAP_CALL,
			[PMT_H_ALLOC_ENTRY] = PLAN_ALLOC_ENTRY,
			[PMT_H_ALLOC_RETURN] = PLAN_ALLOC_RETURN,
			[PMT_H_FREE] = PLAN_FREE,
			[PMT_H_LTO] = PLAN_LTO_SITES,
			[PMT_H_USDT_GC_START] = PLAN_USDT_GC_START,
			[PMT_H_USDT_GC_DONE] = PLAN_USDT_GC_DONE,
			[PMT_H_GROWTH_POOL] = PLAN_GROWTH_POOL,
			[PMT_H_LTO_RET] = PLAN_LTO_NEWPOOL,
		};
		bool own = trap_cost__is_own(h);
		int fd = bpf_program__fd(own ? skel->progs.uprobe_trap_cost
					     : prog_for(skel, of[h], true));

		if (fd < 0)
			continue; /* not loaded (no --alloc): never attached either */
		if (bpf_map_update_elem(map_fd, &h, &fd, BPF_ANY)) {
			int ret = -errno;

			fmt_msg(err, errlen, "cannot set up the uprobe dispatcher: %s",
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* ---- perf-event uprobes ----------------------------------------------------- */

/* Through a perf event of our own (perf_uprobe.h); *owned_fd gets it.
 * NULL with errno set; errno ENOENT or EOPNOTSUPP: no uprobe PMU for it
 * (or a format field missing), or no BPF cookies for perf events; libbpf's
 * own attach is tried then. */
static struct bpf_link *attach_own_perf(struct pymemtrace_bpf *skel, pid_t pid,
					const struct plan_probe *pp, int *owned_fd)
{
	/* to the dispatcher, as a uprobe_multi link's probe: counted by handler */
	LIBBPF_OPTS(bpf_perf_event_opts, opts,
		    .bpf_cookie = handler_of(pp->prog) << PMT_HANDLER_SHIFT |
				  (pp->cookie & PMT_COOKIE_PAYLOAD));
	struct bpf_program *prog = skel->progs.uprobe_dispatch;
	struct bpf_link *link;
	int pfd = perf_uprobe__open(pp->path, pp->file_offset, pid, is_retprobe(pp->prog),
				    is_usdt(pp->prog) ? pp->ref_ctr_offset : 0);

	if (pfd < 0) {
		errno = -pfd;
		return NULL;
	}
	link = bpf_program__attach_perf_event_opts(prog, pfd, &opts);
	if (!link) {
		int err = errno;

		close(pfd); /* not libbpf's: it only takes it on success */
		errno = err;
		return NULL;
	}
	*owned_fd = pfd;
	return link;
}

/* *uncounted: the handler (PMT_H_*) when libbpf attached it itself, past
 * the dispatcher that counts hits (trap_cost.h); else PMT_H_NONE. */
static struct bpf_link *attach_perf(struct pymemtrace_bpf *skel, const struct plan *plan,
				    const struct plan_probe *pp, int *owned_fd, unsigned *uncounted)
{
	const struct interp *in = &plan->interp;
	bool own_usdt = is_usdt(pp->prog) && pp->usdt_decoded;
	struct bpf_link *link;

	*owned_fd = -1;
	*uncounted = PMT_H_NONE;
	if (!is_usdt(pp->prog) || own_usdt) {
		link = attach_own_perf(skel, in->pid, pp, owned_fd);
		if (link || (errno != ENOENT && errno != EOPNOTSUPP))
			return link;
		pr_debug("pid %d: %s: no uprobe PMU or no perf-event cookies (%s): libbpf's "
			 "attach", (int)in->pid, pp->name, strerror(errno));
	}
	*uncounted = handler_of(pp->prog);
	if (is_usdt(pp->prog)) {
		/* libbpf parses the notes itself, computes ref_ctr_offset for
		 * the semaphore and decodes the argument specs. */
		const char *name = pp->prog == PLAN_USDT_GC_START ? "gc__start" : "gc__done";

		return bpf_program__attach_usdt(prog_for(skel, pp->prog, false), in->pid,
						in->open_path, "python", name, NULL);
	} else {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = is_retprobe(pp->prog),
			    .bpf_cookie = pp->cookie);

		return bpf_program__attach_uprobe_opts(prog_for(skel, pp->prog, false), in->pid,
						       pp->path, pp->file_offset, &opts);
	}
}

/* ---- uprobe_multi groups ------------------------------------------------------ */

/* The probes of one process that share a file and a direction: one link,
 * to uprobe_dispatch, which finds each probe's handler in its cookie. */
struct group {
	struct bpf_program *prog;
	const char *path;
	char *owned_path;    /* windows outlive the plan's strings: a copy */
	bool retprobe;
	uint64_t *offsets, *cookies, *ref_ctrs;
	size_t n, cap;
	bool any_ref_ctr;
	unsigned members[PLAN_MAX_PROBES];  /* plan (and status) indexes */
	/* where each member's offsets start: they are pushed one member
	 * after the other (an LTO member has many) */
	size_t member_first[PLAN_MAX_PROBES];
	unsigned n_members;
};

struct groups {
	struct group g[PLAN_MAX_PROBES];
	unsigned n;
};

static struct group *group_for(struct groups *gs, struct bpf_program *prog, const char *path,
			       bool retprobe)
{
	struct group *g;

	for (unsigned i = 0; i < gs->n; i++) {
		g = &gs->g[i];
		if (g->prog == prog && g->retprobe == retprobe && !strcmp(g->path, path))
			return g;
	}
	if (gs->n >= PLAN_MAX_PROBES)
		return NULL;
	g = &gs->g[gs->n++];
	memset(g, 0, sizeof(*g));
	g->prog = prog;
	g->path = path;
	g->retprobe = retprobe;
	return g;
}

static int grow(uint64_t **v, size_t cap)
{
	uint64_t *nv = reallocarray(*v, cap, sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

static int group_push(struct group *g, uint64_t off, uint64_t cookie, uint64_t ref_ctr)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 8;

		/* an array grown before a failure stays valid, only larger */
		if (grow(&g->offsets, cap) || grow(&g->cookies, cap) || grow(&g->ref_ctrs, cap))
			return -ENOMEM;
		g->cap = cap;
	}
	g->offsets[g->n] = off;
	g->cookies[g->n] = cookie;
	g->ref_ctrs[g->n++] = ref_ctr;
	g->any_ref_ctr |= ref_ctr != 0;
	return 0;
}

/* Adds plan probe i to its group: 0 or -ENOMEM/-ENOSPC. */
static int group_add(struct groups *gs, struct pymemtrace_bpf *skel, const struct plan *plan,
		     unsigned i)
{
	const struct plan_probe *pp = &plan->probes[i];
	struct group *g = group_for(gs, skel->progs.uprobe_dispatch, pp->path,
				    is_retprobe(pp->prog));
	uint64_t h = handler_of(pp->prog) << PMT_HANDLER_SHIFT;
	int ret = 0;

	if (!g || g->n_members >= PLAN_MAX_PROBES)
		return -ENOSPC;
	g->member_first[g->n_members] = g->n;
	if (pp->prog == PLAN_LTO_SITES) {
		for (size_t k = 0; k < plan->lto.n && !ret; k++)
			ret = group_push(g, plan->lto.offsets[k],
					 (plan->lto.cookies[k] & PMT_COOKIE_PAYLOAD) | h, 0);
	} else {
		ret = group_push(g, pp->file_offset, (pp->cookie & PMT_COOKIE_PAYLOAD) | h,
				 pp->ref_ctr_offset);
	}
	if (!ret)
		g->members[g->n_members++] = i;
	return ret;
}

static void groups_release(struct groups *gs)
{
	for (unsigned i = 0; i < gs->n; i++) {
		free(gs->g[i].offsets);
		free(gs->g[i].cookies);
		free(gs->g[i].ref_ctrs);
		free(gs->g[i].owned_path);
	}
	gs->n = 0;
}

/* What the kernel's EINVAL for a uprobe most likely means here: the plan's
 * offsets were checked, but a uprobe at one (inode, offset) has one USDT
 * semaphore, and another tool's may name another (its ref_ctr_offset). */
#define EINVAL_HINT " (another tool's uprobe at this address with a different USDT " \
		    "semaphore? the kernel log then says 'ref_ctr_offset mismatch')"

static void set_failed(struct probe_status *s, const struct plan *plan,
		       const struct plan_probe *pp, const char *link, int err)
{
	const char *hint = err == EINVAL ? EINVAL_HINT : "";

	fmt_msg(s->reason, sizeof(s->reason), "attach failed (%s): %s%s (%s)", link,
		strerror(err), hint, pp->reason);
	pr_warn("pid %d: cannot attach %s (%s) through a %s link: %s%s", (int)plan->interp.pid,
		pp->name, pp->how, link, strerror(err), hint);
}

/* A link for offsets [first, first + n) of g. */
static int attach_range(const struct group *g, pid_t pid, size_t first, size_t n)
{
	return uprobe_multi__attach(g->prog, g->path, pid, g->offsets + first,
				    g->any_ref_ctr ? g->ref_ctrs + first : NULL, g->cookies + first,
				    n, g->retprobe);
}

/* The kernel refused g's link as a whole: one address it will not probe
 * takes every probe of the link down.  Each member gets a link of its own,
 * so that only the refused ones are lost (each extra link costs its own
 * wait at detach; this happens only on a refusal). */
static unsigned attach_members(const struct group *g, const struct plan *plan,
			       struct proc_links *links, struct probe_status *st)
{
	unsigned failed = 0;

	for (unsigned m = 0; m < g->n_members; m++) {
		unsigned k = g->members[m];
		size_t first = g->member_first[m];
		size_t end = m + 1 < g->n_members ? g->member_first[m + 1] : g->n;
		int fd = attach_range(g, plan->interp.pid, first, end - first);

		if (fd < 0) {
			set_failed(&st[k], plan, &plan->probes[k], ATTACH_LINK_MULTI, -fd);
			failed++;
			continue;
		}
		st[k].attached = true;
		links->fds[links->n_fds++] = fd;
		links->n_sites += end - first;
	}
	return failed;
}

/* Creates the groups' links; returns the probes that failed. */
static unsigned attach_groups(struct groups *gs, const struct plan *plan,
			      struct proc_links *links, struct probe_status *st)
{
	unsigned failed = 0;

	for (unsigned i = 0; i < gs->n; i++) {
		struct group *g = &gs->g[i];
		int fd = attach_range(g, plan->interp.pid, 0, g->n);

		if (fd < 0 && g->n_members > 1) {
			pr_debug("pid %d: the kernel refused a link of %u probes (%s): one link "
				 "per probe instead", (int)plan->interp.pid, g->n_members,
				 strerror(-fd));
			failed += attach_members(g, plan, links, st);
			continue;
		}
		for (unsigned m = 0; m < g->n_members; m++) {
			unsigned k = g->members[m];

			if (fd < 0) {
				set_failed(&st[k], plan, &plan->probes[k], ATTACH_LINK_MULTI, -fd);
				failed++;
				continue;
			}
			st[k].attached = true;
			pr_debug("pid %d: attached %s: %s (uprobe_multi link)",
				 (int)plan->interp.pid, plan->probes[k].name, plan->probes[k].how);
		}
		if (fd < 0)
			continue;
		links->fds[links->n_fds++] = fd;
		links->n_sites += g->n;
	}
	return failed;
}

/* Member k of a set's group after its link was tried (fd < 0: refused):
 * its status says so.  Returns whether it is attached. */
static bool set_member_status(struct probe_status *st, const struct plan *plan, unsigned k,
			      enum attach_set set, int fd)
{
	snprintf(st[k].link, sizeof(st[k].link), "%s", set_link_name(set));
	if (fd < 0) {
		set_failed(&st[k], plan, &plan->probes[k], set_link_name(set), -fd);
		return false;
	}
	st[k].attached = true;
	return true;
}

/* A set's group the kernel refused as a whole: each member is tried on a
 * link of its own (kept open in the set's fds), and the refused ones are
 * taken out of the group, so that every arming arms the others in one link
 * again.  Returns the refused members. */
static unsigned set_keep_accepted(struct group *g, const struct plan *plan,
				  struct proc_links *links, enum attach_set set,
				  struct probe_status *st)
{
	struct link_set *ls = &links->sets[set];
	size_t w = 0;       /* offsets kept so far */
	unsigned kept = 0, failed = 0;

	for (unsigned m = 0; m < g->n_members; m++) {
		unsigned k = g->members[m];
		size_t first = g->member_first[m];
		size_t end = m + 1 < g->n_members ? g->member_first[m + 1] : g->n;
		int fd = attach_range(g, links->pid, first, end - first);

		if (!set_member_status(st, plan, k, set, fd)) {
			failed++;
			continue;
		}
		ls->fds[ls->n_fds++] = fd;
		ls->sites += end - first;
		/* the arrays only shrink: a member moves down, never over one
		 * not yet read */
		memmove(g->offsets + w, g->offsets + first, (end - first) * sizeof(*g->offsets));
		memmove(g->cookies + w, g->cookies + first, (end - first) * sizeof(*g->cookies));
		memmove(g->ref_ctrs + w, g->ref_ctrs + first, (end - first) * sizeof(*g->ref_ctrs));
		g->members[kept] = k;
		g->member_first[kept++] = w;
		w += end - first;
	}
	g->n = w;
	g->n_members = kept;
	return failed;
}

/* A set's groups are attached here, so that a probe that cannot attach is
 * reported as failed at the start, like the others (its group is then
 * never armed, or armed without it); the window set is closed again at
 * once, the GC set stays armed.  They keep copies of their paths: the plan
 * may move. */
static unsigned set_trial(struct groups *ws, const struct plan *plan, struct proc_links *links,
			  enum attach_set set, struct probe_status *st)
{
	struct link_set *ls = &links->sets[set];
	struct proc_links *one = links;
	unsigned failed = 0;

	ls->groups = ws;
	links->pid = plan->interp.pid;
	for (unsigned i = 0; i < ws->n; i++) {
		struct group *g = &ws->g[i];
		int fd = -ENOMEM;

		g->owned_path = strdup(g->path);
		if (g->owned_path) {
			g->path = g->owned_path;
			fd = attach_range(g, links->pid, 0, g->n);
		}
		if (fd < 0 && fd != -ENOMEM && g->n_members > 1) {
			pr_debug("pid %d: the kernel refused a link of %u probes (%s): each probe "
				 "on its own instead", (int)links->pid, g->n_members, strerror(-fd));
			failed += set_keep_accepted(g, plan, links, set, st);
			continue;
		}
		for (unsigned m = 0; m < g->n_members; m++) {
			unsigned k = g->members[m];

			if (!set_member_status(st, plan, k, set, fd)) {
				failed++;
				continue;
			}
			pr_debug("pid %d: attached %s: %s (%s link%s)", (int)links->pid,
				 plan->probes[k].name, plan->probes[k].how, set_link_name(set),
				 set == ATTACH_SET_GC ? ", --gc-budget" : "");
		}
		if (fd < 0) {
			g->n = 0; /* never armed */
			continue;
		}
		ls->fds[ls->n_fds++] = fd;
		ls->sites += g->n;
	}
	if (set == ATTACH_SET_WINDOW)
		attach__set_disarm(&one, 1, set);
	return failed;
}

/* Collects where the probes that stay attached will put their breakpoints,
 * before any is attached (bp_watch.h): windowed probes are in only inside
 * windows, and the LTO sites only through uprobe_multi. */
static void watch_plan(struct bp_watch *w, const struct plan *plan, bool multi, bool windowed)
{
	struct procmaps m = { 0 };
	int ret;

	w->pid = plan->interp.pid;
	if (w->pid <= 0)
		return; /* --all: no single process to read */
	ret = procmaps__load(w->pid, &m, NULL);
	for (unsigned i = 0; i < plan->n_probes && !ret; i++) {
		const struct plan_probe *pp = &plan->probes[i];
		bool lto = pp->prog == PLAN_LTO_SITES || pp->prog == PLAN_LTO_NEWPOOL;

		if (!pp->available || (lto && !multi) ||
		    (windowed && (pp->prog == PLAN_FREE || (multi && is_windowed(pp->prog)))))
			continue;
		if (pp->prog == PLAN_LTO_SITES)
			ret = bp_watch__add(w, &m, pp->path, plan->lto.offsets, plan->lto.n);
		else
			ret = bp_watch__add(w, &m, pp->path, &pp->file_offset, 1);
	}
	procmaps__release(&m);
	if (ret) {
		pr_debug("pid %d: the breakpoints cannot be watched: %s", (int)w->pid,
			 strerror(-ret));
		bp_watch__release(w);
		return;
	}
	bp_watch__before(w);
	if (w->others)
		pr_debug("pid %d: %u probed addresses held an int3 before attaching (a traced "
			 "parent's, or another tracer's): not watched", (int)w->pid, w->others);
}

unsigned attach__process(struct pymemtrace_bpf *skel, const struct plan *plan, bool multi,
			 bool windowed, bool gc_set, struct proc_links *links,
			 struct probe_status *st, unsigned max, unsigned *n_st)
{
	struct groups *gs = calloc(1, sizeof(*gs));
	struct groups *ws = windowed && multi ? calloc(1, sizeof(*ws)) : NULL;
	struct groups *gcs = gc_set && multi ? calloc(1, sizeof(*gcs)) : NULL;
	unsigned failed = 0, n = 0;

	memset(links, 0, sizeof(*links));
	watch_plan(&links->watch, plan, multi, windowed);
	for (unsigned i = 0; i < plan->n_probes && n < max; i++) {
		const struct plan_probe *pp = &plan->probes[i];
		struct probe_status *s = &st[n++];
		bool via_multi = multi && (!is_usdt(pp->prog) || pp->usdt_decoded);
		struct bpf_link *link;
		int ret;

		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", pp->name);
		snprintf(s->how, sizeof(s->how), "%s", pp->how);
		snprintf(s->reason, sizeof(s->reason), "%s", pp->reason);
		if (!pp->available)
			continue;
		snprintf(s->link, sizeof(s->link), "%s", via_multi ? ATTACH_LINK_MULTI
								      : ATTACH_LINK_PERF);
		if (windowed && pp->prog == PLAN_FREE) {
			/* not a failure: a choice, said in the probe list */
			s->link[0] = '\0';
			fmt_msg(s->reason, sizeof(s->reason), "not used with --sample-window: "
				"frees seen in windows cannot be paired with their allocations");
			continue;
		}
		if (via_multi) {
			/* the window set, the GC set, or the links always in */
			bool in_windows = windowed && is_windowed(pp->prog);
			struct groups *into = in_windows ? ws :
					      gc_set && is_gc(pp->prog) ? gcs : gs;

			ret = into ? group_add(into, skel, plan, i) : -ENOMEM;
			if (ret) {
				set_failed(s, plan, pp, in_windows ? ATTACH_LINK_WINDOWS
								   : ATTACH_LINK_MULTI, -ret);
				failed++;
			}
			continue;
		}
		if (pp->prog == PLAN_LTO_SITES || pp->prog == PLAN_LTO_NEWPOOL) {
			/* planned only with uprobe_multi (plan_opts) */
			set_failed(s, plan, pp, ATTACH_LINK_PERF, EOPNOTSUPP);
			failed++;
			continue;
		}
		link = attach_perf(skel, plan, pp, &links->perf_fds[links->n], &s->uncounted);
		if (!link) {
			set_failed(s, plan, pp, ATTACH_LINK_PERF, errno);
			failed++;
			continue;
		}
		s->attached = true;
		links->links[links->n++] = link;
		links->n_sites++;
		pr_debug("pid %d: attached %s: %s (perf-event uprobe)", (int)plan->interp.pid,
			 pp->name, pp->how);
	}
	if (gs) {
		failed += attach_groups(gs, plan, links, st);
		groups_release(gs);
		free(gs);
	}
	/* armed from the start, and watched like the others */
	if (gcs)
		failed += set_trial(gcs, plan, links, ATTACH_SET_GC, st);
	/* before the window trial: its breakpoints come and go */
	if (links->watch.n) {
		size_t planned = links->watch.n;

		bp_watch__confirm(&links->watch);
		pr_debug("pid %d: breakpoints seen in at %zu of %zu probed addresses",
			 (int)plan->interp.pid, links->watch.n, planned);
		/* every planned address (no other tracer's among them) is ours
		 * and in: detach can tell when the target is free of them all */
		links->watch_complete = links->watch.n == planned && !links->watch.others &&
					!links->watch.unread && !failed;
	}
	if (ws)
		failed += set_trial(ws, plan, links, ATTACH_SET_WINDOW, st);
	*n_st = n;
	return failed;
}

bool attach__set_has(const struct proc_links *links, enum attach_set set)
{
	return links->sets[set].groups != NULL;
}

bool attach__set_armed(const struct proc_links *links, enum attach_set set)
{
	return links->sets[set].n_fds > 0;
}

unsigned attach__set_arm(struct proc_links *links, enum attach_set set)
{
	struct link_set *ls = &links->sets[set];
	struct groups *ws = ls->groups;
	unsigned failed = 0;

	if (!ws || ls->n_fds)
		return 0;
	ls->sites = 0;
	for (unsigned i = 0; i < ws->n; i++) {
		struct group *g = &ws->g[i];
		int fd;

		if (!g->n)
			continue;
		fd = attach_range(g, links->pid, 0, g->n);
		if (fd < 0) {
			pr_debug("pid %d: cannot arm %s probes on %s: %s", (int)links->pid,
				 set == ATTACH_SET_GC ? "GC" : "window", g->path, strerror(-fd));
			failed++;
			continue;
		}
		ls->fds[ls->n_fds++] = fd;
		ls->sites += g->n;
	}
	return failed;
}

static bool nothing(void *arg, const atomic_uint *left)
{
	(void)arg;
	(void)left;
	return false;
}

void attach__set_disarm(struct proc_links *const *links, unsigned n, enum attach_set set)
{
	int fds[CLOSERS_MAX * 4];
	unsigned nfds = 0;

	for (unsigned p = 0; p < n; p++) {
		struct link_set *ls = &links[p]->sets[set];

		for (unsigned i = 0; i < ls->n_fds; i++) {
			if (nfds == sizeof(fds) / sizeof(fds[0])) {
				close_parallel(fds, nfds, nothing, NULL);
				nfds = 0;
			}
			fds[nfds++] = ls->fds[i];
		}
		ls->n_fds = 0;
	}
	close_parallel(fds, nfds, nothing, NULL);
}

struct closer {
	pthread_t thread;
	const int *fds;
	unsigned n;
	bool started;
	atomic_uint *left;
};

static void *close_fds(void *arg)
{
	struct closer *c = arg;

	for (unsigned i = 0; i < c->n; i++)
		close(c->fds[i]);
	atomic_fetch_sub(c->left, 1);
	return NULL;
}

/* Closes fds[0..n) from up to CLOSERS_MAX threads while run() runs here. */
static void close_in_threads(const int *fds, unsigned n, closing_fn run, void *arg)
{
	struct closer c[CLOSERS_MAX] = {};
	unsigned nt = n < CLOSERS_MAX ? n : CLOSERS_MAX;
	atomic_uint left = nt;

	for (unsigned t = 0, done = 0; t < nt; t++) {
		c[t].fds = fds + done;
		c[t].n = (n - done) / (nt - t);
		c[t].left = &left;
		done += c[t].n;
		c[t].started = !pthread_create(&c[t].thread, NULL, close_fds, &c[t]);
		if (!c[t].started)
			close_fds(&c[t]); /* no thread: the slow way */
	}
	run(arg, &left);
	for (unsigned t = 0; t < nt; t++)
		if (c[t].started)
			pthread_join(c[t].thread, NULL);
}

/* The closer process's reaper.  Owned by two: the detaching thread and the
 * reaper thread; the last to let go frees it (the detaching thread may
 * leave without waiting, see close_parallel). */
struct reaper {
	pthread_t thread;
	pid_t pid;
	atomic_uint left; /* 1 until the closer process has exited */
	atomic_uint refs;
};

static void reaper_put(struct reaper *r)
{
	if (atomic_fetch_sub(&r->refs, 1) == 1)
		free(r);
}

static void *reap_closer(void *arg)
{
	struct reaper *r = arg;

	while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
		;
	atomic_store(&r->left, 0);
	reaper_put(r);
	return NULL;
}

/* In the closer process: every inherited fd but keep[0..n) and also is
 * closed, so that it holds neither pymemtrace's output (a pipe's reader
 * would wait for it) nor its other links (the system-wide hooks would stay
 * attached as long as it lives). */
static void keep_only(const int *keep, unsigned n, int also)
{
	int max = also;
	unsigned char *k;

	for (unsigned i = 0; i < n; i++)
		if (keep[i] > max)
			max = keep[i];
	k = calloc((size_t)max + 1, 1);
	if (!k)
		return; /* then it holds them a little longer */
	for (unsigned i = 0; i < n; i++)
		if (keep[i] >= 0)
			k[keep[i]] = 1;
	if (also >= 0)
		k[also] = 1;
	for (int fd = 0; fd <= max; fd++)
		if (!k[fd])
			close(fd);
	free(k);
	closefrom(max + 1);
}

/* The test knob PMT_ENV_CLOSER_LINGER: the closer process stays that many
 * ms after its closes (at most 10 s), so that a test can read it after
 * pymemtrace has gone: how long it lives otherwise is the kernel's. */
static void linger_for_tests(void)
{
	const char *v = getenv(PMT_ENV_CLOSER_LINGER);
	unsigned long ms = v ? strtoul(v, NULL, 10) : 0;

	if (ms)
		usleep((useconds_t)(ms < 10000 ? ms : 10000) * 1000);
}

/* Closes fds[0..n) while run() runs here, the final closes in a child
 * process.  Why: closing a link takes its breakpoints out of the target,
 * and the kernel gives up on that when the closing thread has a SIGKILL
 * pending ("uprobe: ... failed to unregister, leaking uprobe"): the int3s
 * stay in the target for good, each hit a trap, and its USDT semaphores
 * stay raised.  So a SIGKILL of pymemtrace a few ms into a detach did
 * exactly that.  The child is in a process group of its own, so neither a
 * SIGKILL of pymemtrace nor one of its group reaches it, it ignores the
 * signals that end a session or a service (SIGHUP, SIGINT, SIGTERM), and it
 * closes only after this process has dropped its own copies of the fds (at
 * once: they are not the last), so that its closes are the last ones, where
 * the kernel's work happens.  If this process dies first, the pipe's EOF
 * lets the child go on.  When run() saw the breakpoints out (it returns
 * true), the rest of the closes is the kernel's grace periods, which no
 * signal cuts short: this returns without waiting for them, and the child
 * finishes them alone (~50-100 ms; pymemtrace's exit does not wait for it).
 * Without fork or pipe: the closes stay here. */
static void close_parallel(const int *fds, unsigned n, closing_fn run, void *arg)
{
	struct reaper *r;
	int go[2];

	if (!n || !(r = calloc(1, sizeof(*r)))) {
		close_in_threads(fds, n, run, arg);
		return;
	}
	if (pipe2(go, O_CLOEXEC)) {
		free(r);
		close_in_threads(fds, n, run, arg);
		return;
	}
	atomic_init(&r->left, 1);
	atomic_init(&r->refs, 2);
	r->pid = fork();
	if (r->pid == 0) {
		char c;

		close(go[1]);
		setpgid(0, 0);
		signal(SIGHUP, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		keep_only(fds, n, go[0]);
		/* EOF: the parent's copies are closed, or the parent is gone */
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		close_in_threads(fds, n, nothing, NULL);
		linger_for_tests();
		_exit(0);
	}
	close(go[0]);
	if (r->pid < 0) {
		close(go[1]);
		free(r);
		close_in_threads(fds, n, run, arg);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	close(go[1]);
	if (pthread_create(&r->thread, NULL, reap_closer, r)) {
		/* no reaper thread: the closes first, then run(), here */
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
		atomic_store(&r->left, 0);
		run(arg, &r->left);
		free(r);
		return;
	}
	if (run(arg, &r->left)) {
		pr_debug("detach: the links' last grace periods end in process %d, which "
			 "pymemtrace does not wait for", (int)r->pid);
		pthread_detach(r->thread);
		reaper_put(r);
		return;
	}
	pthread_join(r->thread, NULL);
	reaper_put(r);
}

struct background {
	unsigned n;
	int fds[];
};

static void *close_background(void *arg)
{
	struct background *b = arg;

	close_parallel(b->fds, b->n, nothing, NULL);
	free(b);
	return NULL;
}

void attach__close_in_background(const int *fds, unsigned n)
{
	struct background *b = n ? malloc(sizeof(*b) + n * sizeof(b->fds[0])) : NULL;
	pthread_attr_t at;
	pthread_t t;

	if (!b) {
		close_parallel(fds, n, nothing, NULL); /* the slow way */
		return;
	}
	b->n = n;
	memcpy(b->fds, fds, n * sizeof(fds[0]));
	if (pthread_attr_init(&at) || pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) ||
	    pthread_create(&t, &at, close_background, b))
		close_background(b);
	pthread_attr_destroy(&at);
}

struct perf_batch {
	struct proc_links *const *links;
	unsigned n;
	struct detach_watch *dw;
	/* every probed address of the batch's links is watched, so that
	 * "none holds a breakpoint" means the target runs free */
	bool all_watched;
};

/* libbpf's own perf-event links (attach_perf's fallbacks): one after the
 * other, here (the kernel serialises them).  Ours went to the closers. */
static void destroy_perf(struct perf_batch *b)
{
	for (unsigned p = 0; p < b->n; p++) {
		for (unsigned i = 0; i < b->links[p]->n; i++)
			bpf_link__destroy(b->links[p]->links[i]);
		b->links[p]->n = 0;
	}
}

/* Moves the links whose perf event is ours out of libbpf's hands: their
 * fds (the BPF link's and the event's) go to fds[] for the closers, and
 * libbpf forgets them without closing anything.  Returns how many fds. */
static unsigned take_own_perf(struct proc_links *pl, int *fds)
{
	unsigned n = 0;

	for (unsigned i = 0; i < pl->n; i++) {
		int lfd;

		if (pl->perf_fds[i] < 0)
			continue;
		lfd = bpf_link__fd(pl->links[i]);
		if (lfd >= 0 && lfd != pl->perf_fds[i])
			fds[n++] = lfd; /* else: attached by ioctl, the event is the link */
		fds[n++] = pl->perf_fds[i];
		bpf_link__disconnect(pl->links[i]);
		bpf_link__destroy(pl->links[i]); /* frees, closes nothing */
		pl->links[i] = NULL;
		pl->perf_fds[i] = -1;
	}
	return n;
}

#define WATCH_POLL_US 500

/* How many watched addresses of the batch still hold a breakpoint. */
static size_t breakpoints_in(struct perf_batch *b)
{
	size_t in = 0;

	for (unsigned p = 0; p < b->n; p++)
		in += bp_watch__count_in(&b->links[p]->watch);
	return in;
}

/* On the detaching thread, while the uprobe_multi links close: the
 * perf-event uprobes go, then the watched addresses are read until none
 * holds a breakpoint, or until every link is closed (then whatever still
 * holds one is not ours to remove). */
static bool detach_and_watch(void *arg, const atomic_uint *left)
{
	struct perf_batch *b = arg;

	destroy_perf(b);
	if (!b->dw)
		return false;
	for (unsigned p = 0; p < b->n; p++) {
		/* an exec moved the image: the links may have put breakpoints
		 * into the new one, where nothing watches them go */
		if (bp_watch__recheck(&b->links[p]->watch))
			b->all_watched = false;
		b->dw->watched += b->links[p]->watch.n;
	}
	for (;;) {
		/* read `left` first: a count taken after every close is final */
		bool closing = atomic_load(left) > 0;
		size_t in = breakpoints_in(b);

		if (!in) {
			b->dw->gone_at = now_s();
			return b->all_watched && b->dw->watched;
		}
		if (!closing) {
			b->dw->left = (unsigned)in;
			return false;
		}
		usleep(WATCH_POLL_US);
	}
}

unsigned attach__detach(struct proc_links *const *links, unsigned n, struct detach_watch *dw)
{
	struct perf_batch b = { links, n, dw, true };
	unsigned sites = 0, nfds = 0;
	int *fds;

	if (dw)
		memset(dw, 0, sizeof(*dw));
	for (unsigned p = 0; p < n; p++) {
		/* the windowed probes' breakpoints are never watched */
		if ((links[p]->n_sites || links[p]->n_fds || links[p]->sets[ATTACH_SET_GC].n_fds ||
		     links[p]->sets[ATTACH_SET_WINDOW].n_fds) &&
		    (!links[p]->watch_complete || links[p]->sets[ATTACH_SET_WINDOW].n_fds))
			b.all_watched = false;
		sites += links[p]->n_sites;
		nfds += links[p]->n_fds;
		links[p]->n_sites = 0;
		/* an armed set is closed with the rest; then its groups go */
		for (unsigned set = 0; set < ATTACH_SET_NR; set++) {
			struct link_set *ls = &links[p]->sets[set];

			for (unsigned i = 0; i < ls->n_fds; i++) {
				if (links[p]->n_fds >= PLAN_MAX_PROBES) {
					close(ls->fds[i]); /* no room: the slow way */
					continue;
				}
				links[p]->fds[links[p]->n_fds++] = ls->fds[i];
				nfds++;
			}
			if (ls->n_fds)
				sites += ls->sites;
			ls->n_fds = 0;
			if (ls->groups) {
				groups_release(ls->groups);
				free(ls->groups);
				ls->groups = NULL;
			}
		}
	}
	for (unsigned p = 0; p < n; p++)
		for (unsigned i = 0; i < links[p]->n; i++)
			nfds += links[p]->perf_fds[i] >= 0 ? 2 : 0;
	fds = nfds ? calloc(nfds, sizeof(*fds)) : NULL;
	nfds = 0;
	for (unsigned p = 0; p < n; p++) {
		for (unsigned i = 0; i < links[p]->n_fds; i++) {
			if (fds)
				fds[nfds++] = links[p]->fds[i];
			else
				close(links[p]->fds[i]); /* out of memory: the slow way */
		}
		links[p]->n_fds = 0;
		/* out of memory: libbpf closes them in destroy_perf, here */
		if (fds)
			nfds += take_own_perf(links[p], fds + nfds);
	}
	close_parallel(fds, nfds, detach_and_watch, &b);
	free(fds);
	for (unsigned p = 0; p < n; p++)
		bp_watch__release(&links[p]->watch);
	return sites;
}

unsigned attach__detach_process(struct proc_links *links)
{
	return attach__detach(&links, 1, NULL);
}

int attach__global(struct pymemtrace_bpf *skel, char *err, size_t errlen)
{
	struct {
		struct bpf_program *prog;
		struct bpf_link **link;
		const char *tp;
	} hooks[] = {
		{ skel->progs.raw_sys_enter, &skel->links.raw_sys_enter, "sys_enter" },
		{ skel->progs.raw_sys_exit, &skel->links.raw_sys_exit, "sys_exit" },
		{ skel->progs.raw_process_exit, &skel->links.raw_process_exit, "sched_process_exit" },
		{ skel->progs.raw_process_exec, &skel->links.raw_process_exec, "sched_process_exec" },
		{ skel->progs.raw_process_fork, &skel->links.raw_process_fork, "sched_process_fork" },
	};

	for (unsigned i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		if (!bpf_program__autoload(hooks[i].prog))
			continue; /* left out by the session (--no-follow) */
		*hooks[i].link = bpf_program__attach_raw_tracepoint(hooks[i].prog, hooks[i].tp);
		if (!*hooks[i].link) {
			int ret = -errno;

			fmt_msg(err, errlen, "cannot attach raw tracepoint '%s': %s", hooks[i].tp,
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

unsigned attach__detach_global(struct pymemtrace_bpf *skel)
{
	struct bpf_link **links[] = {
		&skel->links.raw_sys_enter, &skel->links.raw_sys_exit,
		&skel->links.raw_process_exit, &skel->links.raw_process_exec,
		&skel->links.raw_process_fork,
	};
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (!*links[i])
			continue;
		bpf_link__destroy(*links[i]);
		*links[i] = NULL; /* or the skeleton would destroy it again */
		n++;
	}
	return n;
}

int attach__hold(struct pymemtrace_bpf *skel, bool multi, pid_t pid, const char *path,
		 uint64_t off, struct hold_probe *h)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	const uint64_t cookie = 0;

	h->link = NULL;
	h->fd = -1;
	skel->bss->hold_tgid = (__u32)pid;
	if (multi) {
		int fd = uprobe_multi__attach(skel->progs.uprobe_hold_at_entry, path, pid, &off,
					      NULL, &cookie, 1, false);

		if (fd < 0)
			return fd;
		h->fd = fd;
		return 0;
	}
	h->link = bpf_program__attach_uprobe_opts(skel->progs.uprobe_hold_at_entry, pid, path,
						  off, &opts);
	return h->link ? 0 : -errno;
}

void attach__unhold(struct hold_probe *h)
{
	if (h->link)
		bpf_link__destroy(h->link);
	/* the last close in a closer process, waited for: gone before the
	 * child runs on, and not cut short by a SIGKILL of ours */
	if (h->fd >= 0)
		close_parallel(&h->fd, 1, nothing, NULL);
	h->link = NULL;
	h->fd = -1;
}
