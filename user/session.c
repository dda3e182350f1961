/* Tracing session: see session.h. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "alloc_collect.h"
#include "alloc_window.h"
#include "growth_collect.h"
#include "attach.h"
#include "clock.h"
#include "events_out.h"
#include "gc_budget.h"
#include "gc_counters.h"
#include "log.h"
#include "map_sweep.h"
#include "perfcount.h"
#include "plan.h"
#include "plan_ahead.h"
#include "preflight.h"
#include "procstat.h"
#include "pymemtrace.skel.h"
#include "session.h"
#include "overhead_budget.h"
#include "trap_cost.h"
#include "symbolize.h"
#include "pynames.h"
#include "pyoffsets.h"
#include "uprobe_multi.h"

#define SAMPLE_PERIOD_MS 100
#define MAPS_REFRESH_S 1.0   /* snapshot /proc/PID/maps for naming stacks later */
#define NAMING_PERIOD_S 0.2  /* name new Python stacks while their code objects exist */
#define GC_WINDOW_S 0.2      /* --gc-budget: how long the GC probes are armed at a time */

struct tracked {
	pid_t pid;
	bool is_child;
	struct plan plan;
	struct proc_links links;
	struct probe_status probes[PMT_MAX_PROBES];
	unsigned n_probes;
	unsigned probes_failed;

	struct perfcount *cache;
	char cache_reason[192];

	struct procstat_sample first, last;
	bool have_last;
	uint64_t rss_max_sampled;
	/* Job-control or debugger stops (state T/t in /proc/PID/stat), as the
	 * 100 ms samples saw them; seconds count from t_start. */
	struct {
		bool now;             /* the last sample saw it stopped */
		unsigned times;
		double first, since, total;
	} stop;

	enum proc_state state;
	int exit_status;
	char detail[192];
	bool have_exit_faults;
	uint64_t exit_min_flt, exit_maj_flt;
	uint64_t exit_cpu_ns;     /* with have_exit_faults: the group's CPU at exit */
	bool reaped;

	double t_start, t_end;
	pid_t parent_pid;         /* followed after a fork of this traced process; else 0 */
	double attach_after_fork_s;
	struct symbolizer *syms;  /* --alloc: names native frames */
	struct pynames *pynames;  /* --alloc: names Python frames */
	struct probe_status pystack_status;
	/* --sample-window: the windows this process was armed in */
	unsigned windows;
	double windows_s;
	uint64_t window_failures;
	/* --gc-budget: the interpreter's own GC counters (gc_counters.h); a
	 * launched or exec'd interpreter counts from zero, the trace having seen
	 * it start, and its counters are found once it has initialised. */
	struct gc_counters gc_counts;
	bool gc_in_set;           /* its GC probes are in ATTACH_SET_GC */
	bool gc_counts_from_zero;
	double gc_counts_until;   /* from zero: the counters are looked for until then */
	double gc_counts_at;      /* when they were last read */
	bool gc_counts_at_end;    /* read at its very end (exit or execve), by the BPF side */
	bool gc_sampled;          /* its GC probes were disarmed at times */
	bool gc_kept;             /* never disarmed: its collections cannot be counted
	                           * without its probes (why in gc_kept_why) */
	char gc_kept_why[160];
	unsigned gc_arm_failures; /* links that failed to arm again */
	/* The map entry is the filter: kept until the session ends so that the
	 * final report can read it, even after the process exited. */
};

struct session {
	struct session_opts opts;
	struct plan_ahead *plan_ahead;
	struct pymemtrace_bpf *skel;
	struct ring_buffer *rb;
	struct tracked *procs;
	unsigned n_procs, cap_procs;
	double t0;
	double t_run;             /* when session__run started: everything attached */
	double next_maps_refresh;
	double next_naming;
	double next_sample;
	/* What removing the probes cost, summed over every detach (a target's
	 * exit, then the end of the session): the issue 5 budget is 100 ms. */
	double detach_s;
	unsigned detached;
	bool detached_all;
	bool multi;               /* uprobes through uprobe_multi links (attach.h) */
	char no_multi_why[192];   /* if not, why */
	struct trap_cost trap_cost; /* measured once, after load (trap_cost.h) */
	/* The dispatcher's BPF run time at the last reading that had the kernel
	 * timing it: kept when kernel.bpf_stats_enabled is turned off mid-trace,
	 * so that the estimate never changes basis and never goes down. */
	uint64_t bpf_ns_seen;
	/* Handlers with probes attached past the dispatcher (bit 1 << PMT_H_*,
	 * probe_status.uncounted): the report says their hits are in no count. */
	uint32_t uncounted;
	struct overhead_budget budget; /* --max-overhead */
	struct hold_probe hold;   /* `-- CMD`: until the child is held */
	/* Retirement and fork following (session__report, on_event). */
	struct retired_totals retired;
	unsigned forks_followed, forks_missed;
	unsigned forks_execd;     /* followed (or --all) processes dropped at their exec */
	unsigned execs_followed;  /* followed children traced again after an exec */
	/* Followed children that exec'd, until their new image shows CPython:
	 * a python linked to libpython has it mapped by the dynamic loader
	 * only after the exec event.  Tried on each loop turn, for a second. */
	struct exec_retry {
		pid_t pid, parent;
		uint64_t exec_ns;
		double until;
	} *exec_retry;
	unsigned n_exec_retry, cap_exec_retry;
	/* --all: one plan and one set of links for every process of the file. */
	struct plan all_plan;
	bool have_all;
	struct proc_links all_links;
	struct probe_status all_probes[PMT_MAX_PROBES];
	unsigned all_n_probes, all_failed;
	uint64_t all_missed;      /* entered by BPF but gone before user space read them */
	/* --sample-window: when the next window opens, and what opening and
	 * closing them cost the tracer (README "Overhead"). */
	struct window_clock windows;
	unsigned n_windows;
	double window_open_s, window_close_s;
	/* --gc-budget (gc_budget.h): on with uprobe_multi links and a measured
	 * probe cost, for processes with links of their own (not --all) */
	struct gc_budget gc_budget;
	bool gc_budget_on;
	char gc_budget_why[160];  /* when asked for but not on */
};

static volatile sig_atomic_t stop_requested;

void session__stop(void)
{
	stop_requested = 1;
}

/* The clock of bpf_ktime_get_ns(). */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own chatter only with -vv; its warnings with -v. */
	if (level == LIBBPF_DEBUG && log_verbosity < 3)
		return 0;
	if (level == LIBBPF_INFO && log_verbosity < 2)
		return 0;
	if (level == LIBBPF_WARN && log_verbosity < 2)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static struct tracked *find_tracked(struct session *s, pid_t pid)
{
	for (unsigned i = 0; i < s->n_procs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

/* Removes t's probes and accounts for the time it took. */
static void detach_tracked(struct session *s, struct tracked *t)
{
	double t0 = now_s();

	s->detached += attach__detach_process(&t->links);
	s->detach_s += now_s() - t0;
}

/* At t's exit or exec: its GC counters as the BPF side read them at that
 * end (whether or not the event arrived), which counts the collections
 * since the last periodic read.  Where the kernel released the address
 * space before the exit hook, or the read makes no sense, the last
 * periodic read stands (and the report gives its age). */
static void read_gc_counts_at_end(struct session *s, struct tracked *t)
{
	struct pmt_gc_exit_read r;
	int64_t raw[GC_COUNTERS_GENERATIONS * 3];
	__u32 key = t->pid;

	if (!t->gc_counts.valid ||
	    bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.gc_exit_reads), &key, &r) ||
	    !(r.read & PMT_GC_EXIT_STATS))
		return;
	_Static_assert(sizeof(raw) == sizeof(r.raw), "generation_stats as the hook reads it");
	memcpy(raw, r.raw, sizeof(raw));
	if (gc_counters__take(&t->gc_counts, raw, r.read & PMT_GC_EXIT_HEAD, r.head, true))
		return;
	t->gc_counts_at = now_s();
	t->gc_counts_at_end = true;
}

static void mark_ended(struct session *s, struct tracked *t, enum proc_state state)
{
	if (t->state != PROC_RUNNING)
		return;
	read_gc_counts_at_end(s, t);
	t->state = state;
	t->t_end = now_s();
	/* Its image is gone (exit) or replaced (exec): the uprobes are dead. */
	detach_tracked(s, t);
}

/* A followed child that exec'd: tried again on each sample for a second
 * (follow_execs).  Services that shell out many times a second keep many
 * in the queue at once (each waits out its second unless it is CPython or
 * exits), so it grows; a child it cannot hold is counted as missed, and
 * said, never dropped in silence. */
#define EXEC_RETRY_MAX 65536
static void queue_exec_retry(struct session *s, pid_t pid, pid_t parent, uint64_t exec_ns)
{
	if (s->n_exec_retry == s->cap_exec_retry) {
		unsigned cap = s->cap_exec_retry ? s->cap_exec_retry * 2 : 16;
		struct exec_retry *v = cap <= EXEC_RETRY_MAX ?
			reallocarray(s->exec_retry, cap, sizeof(*v)) : NULL;

		if (!v) {
			s->forks_missed++;
			pr_warn("pid %d, a followed child, exec'd and is not followed: %u others "
				"wait to show CPython", (int)pid, s->n_exec_retry);
			return;
		}
		s->exec_retry = v;
		s->cap_exec_retry = cap;
	}
	s->exec_retry[s->n_exec_retry++] = (struct exec_retry){ pid, parent, exec_ns,
								now_s() + 1.0 };
}

static void follow_fork(struct session *s, const struct pmt_event *e);
static void add_new(struct session *s, const struct pmt_event *e);
static void drop_tracked(struct session *s, struct tracked *t);
static void name_python_stack(struct session *s, struct tracked *t, uint64_t hash);
static bool over_budget(struct session *s);

static int on_event(void *ctx, void *data, size_t len)
{
	struct session *s = ctx;
	const struct pmt_event *e = data;
	struct tracked *t;

	if (len >= sizeof(*e) && e->type == PMT_EV_PYSTACK) {
		/* ours alone, not an --events record */
		t = find_tracked(s, (pid_t)e->pid);
		if (t)
			name_python_stack(s, t, e->pystack.hash);
		return 0;
	}
	events_out__add(s->opts.events, data, len);
	if (len < sizeof(*e))
		return 0;
	if (e->type == PMT_EV_FORK) {
		follow_fork(s, e);
		return 0;
	}
	if (e->type == PMT_EV_NEW) {
		add_new(s, e);
		return 0;
	}
	t = find_tracked(s, (pid_t)e->pid);
	if (!t)
		return 0;
	if (e->type == PMT_EV_EXIT) {
		int status = e->exit.exit_code;

		t->have_exit_faults = true;
		t->exit_min_flt = e->exit.min_flt;
		t->exit_maj_flt = e->exit.maj_flt;
		t->exit_cpu_ns = e->exit.cpu_ns;
		t->exit_status = status;
		if (WIFSIGNALED(status))
			fmt_msg(t->detail, sizeof(t->detail), "exited: killed by signal %d (%s)",
				WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			fmt_msg(t->detail, sizeof(t->detail), "exited with code %d",
				WEXITSTATUS(status));
		pr_info("pid %d %s", (int)t->pid, t->detail);
		mark_ended(s, t, PROC_EXITED);
	} else if (e->type == PMT_EV_EXEC && (t->parent_pid || s->have_all)) {
		/* A followed child that execs (subprocess: fork, then exec;
		 * multiprocessing's spawn) or an --all process: its old image
		 * is gone.  A followed child is traced again if its new image
		 * is CPython (follow_exec); with --all, a new image that runs
		 * the file is entered again at its first probe hit. */
		pid_t pid = t->pid, parent = t->parent_pid;

		pr_debug("pid %d exec'd", (int)pid);
		drop_tracked(s, t);
		if (parent && !s->have_all)
			queue_exec_retry(s, pid, parent, e->ts_ns);
		else
			s->forks_execd++;
	} else if (e->type == PMT_EV_EXEC) {
		char comm[sizeof(e->exec.comm) + 1] = "";

		memcpy(comm, e->exec.comm, sizeof(e->exec.comm));
		fmt_msg(t->detail, sizeof(t->detail),
			"exec'd '%s': tracing of this process stopped there (its new image is "
			"not the interpreter that was planned)", comm);
		pr_info("pid %d %s", (int)t->pid, t->detail);
		mark_ended(s, t, PROC_EXECED);
	}
	return 0;
}

/* How the session's targets are planned: by session__add, and ahead. */
static struct plan_opts plan_opts_of(const struct session *s)
{
	struct plan_opts po = {
		.alloc = s->opts.alloc,
		.heap_growth = s->opts.heap_growth,
		.growth_arenas = s->opts.growth_arenas,
		.uprobe_multi = s->multi,
		.no_multi_why = s->no_multi_why,
	};

	return po;
}

/* Modes that walk Python stacks and name them. */
static bool wants_stacks(const struct session_opts *o)
{
	return o->alloc || o->heap_growth;
}

struct session *session__new(const struct session_opts *opts, int *errp, char *err, size_t errlen)
{
	struct session *s = calloc(1, sizeof(*s));
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .btf_custom_path = preflight_btf_override());
	int ret;

	if (!s) {
		*errp = -ENOMEM;
		fmt_msg(err, errlen, "out of memory");
		return NULL;
	}
	s->opts = *opts;
	s->t0 = now_s();
	s->hold.fd = -1;
	libbpf_set_print(libbpf_print);
	s->skel = pymemtrace_bpf__open_opts(&oopts);
	if (!s->skel) {
		ret = -errno;
		fmt_msg(err, errlen, "cannot open the BPF object: %s", strerror(-ret));
		goto fail;
	}
	bpf_map__set_max_entries(s->skel->maps.procs, opts->max_procs);
	bpf_map__set_max_entries(s->skel->maps.gc_kept, opts->max_procs);
	bpf_map__set_max_entries(s->skel->maps.gc_exit_reads, opts->max_procs);
	bpf_map__set_max_entries(s->skel->maps.gc_pending, opts->max_threads);
	bpf_map__set_max_entries(s->skel->maps.arena_pending, opts->max_threads);
	bpf_map__set_max_entries(s->skel->maps.sys_pending, opts->max_threads);
	bpf_map__set_max_entries(s->skel->maps.arena_mmap_pending, opts->max_threads);
	bpf_map__set_max_entries(s->skel->maps.events, opts->ringbuf_kb * 1024);
	bpf_map__set_max_entries(s->skel->maps.arena_munmap_pending,
				 opts->events ? opts->max_threads : 1);
	s->skel->rodata->stream_events = opts->events != NULL;
	bpf_program__set_autoload(s->skel->progs.raw_process_fork, opts->follow);
	s->skel->rodata->all_mode = opts->all_path != NULL;
	s->skel->rodata->wakeup_bytes = (uint64_t)opts->ringbuf_kb * 1024 / 4;
	bpf_map__set_max_entries(s->skel->maps.pm_pending, opts->max_threads);
	bpf_map__set_max_entries(s->skel->maps.raw_pending, opts->max_threads);
	/* Without --alloc these maps are never touched: keep them tiny. */
	bpf_map__set_max_entries(s->skel->maps.live, opts->alloc ? opts->max_live : 1);
	bpf_map__set_max_entries(s->skel->maps.stack_stats, opts->alloc ? opts->max_stacks : 1);
	/* Native stacks beyond the caller cost a frame-pointer walk per
	 * allocation (about 0.7 us measured, mostly wasted on CPython built
	 * without frame pointers): only when asked for. */
	bpf_map__set_max_entries(s->skel->maps.native_stacks,
				 wants_stacks(opts) && opts->native_depth > 1 ? opts->max_stacks : 1);
	bpf_map__set_value_size(s->skel->maps.native_stacks,
				(opts->native_depth > 1 ? opts->native_depth : 1) * sizeof(__u64));
	s->skel->rodata->native_depth = opts->native_depth ? opts->native_depth : 1;
	bpf_map__set_max_entries(s->skel->maps.pystacks, wants_stacks(opts) ? opts->max_stacks : 1);
	bpf_map__set_max_entries(s->skel->maps.growth_stats, opts->heap_growth ? opts->max_stacks : 1);
	s->skel->rodata->heap_growth = opts->heap_growth;
	bpf_program__set_autoload(s->skel->progs.raw_growth_stack, opts->heap_growth);
	bpf_program__set_autoload(s->skel->progs.uprobe_growth_pool,
				  opts->heap_growth && !opts->growth_arenas);
	bpf_map__set_max_entries(s->skel->maps.pyoffsets, opts->max_procs);
	s->skel->rodata->sample_every = opts->sample_every ? opts->sample_every : 1;
	s->skel->rodata->track_live = opts->window_ms == 0;
	/* Decided once, before load: a program loaded for uprobe_multi links
	 * cannot be attached as a perf-event uprobe, nor the other way round. */
	s->multi = uprobe_multi__supported(s->no_multi_why, sizeof(s->no_multi_why));
	if (s->multi)
		pr_debug("uprobes: through uprobe_multi links (one per file and direction)");
	else
		pr_debug("uprobes: perf-event uprobes, one link each (%s)", s->no_multi_why);
	if (opts->window_ms && !s->multi) {
		/* perf-event uprobes take ~100 ms each to remove: no windows */
		ret = -EOPNOTSUPP;
		fmt_msg(err, errlen, "--sample-window needs uprobe_multi links (Linux 6.6+): %s",
			s->no_multi_why);
		goto fail;
	}
	attach__prepare(s->skel, s->multi, opts->alloc);
	bpf_map__set_max_entries(s->skel->maps.lto_cfg, opts->max_procs);
	{
		struct plan_opts po = plan_opts_of(s);

		/* on the other core, while the verifier and the calibration run */
		if (opts->plan_during_load)
			s->plan_ahead = plan_ahead__start(opts->plan_pids, opts->n_plan_pids, &po);
	}
	ret = pymemtrace_bpf__load(s->skel);
	if (ret) {
		fmt_msg(err, errlen, "cannot load the BPF programs: %s (run with -vv for the "
			"verifier's log)", strerror(-ret));
		goto fail;
	}
	if (opts->heap_growth) {
		__u32 slot = 0;
		int fd = bpf_program__fd(s->skel->progs.raw_growth_stack);

		ret = bpf_map_update_elem(bpf_map__fd(s->skel->maps.growth_tail), &slot, &fd, BPF_ANY);
		if (ret) {
			ret = -errno;
			fmt_msg(err, errlen, "cannot install the heap-growth stack program: %s",
				strerror(errno));
			goto fail;
		}
	}
	ret = attach__fill_handlers(s->skel, err, errlen);
	if (ret)
		goto fail;
	/* before any target is probed: its hits all count as the target's */
	trap_cost__measure(s->skel, s->multi, &s->trap_cost);
	s->budget.pct = opts->max_overhead_pct;
	gc_budget__init(&s->gc_budget, opts->gc_budget_pct, GC_BUDGET_CHARGE, GC_WINDOW_S,
			now_s());
	if (opts->gc_budget_pct <= 0)
		fmt_msg(s->gc_budget_why, sizeof(s->gc_budget_why), "--gc-budget off");
	else if (!s->multi)
		fmt_msg(s->gc_budget_why, sizeof(s->gc_budget_why), "perf-event uprobes (%s) take "
			"~100 ms each to remove: no windows", s->no_multi_why);
	else if (!s->trap_cost.measured)
		fmt_msg(s->gc_budget_why, sizeof(s->gc_budget_why), "the probe cost was not "
			"measured (%s)", s->trap_cost.why);
	else if (opts->all_path)
		fmt_msg(s->gc_budget_why, sizeof(s->gc_budget_why), "--all: the processes share "
			"their links");
	else
		s->gc_budget_on = true;
	if (!s->gc_budget_on)
		s->gc_budget.pct = 0;
	if (s->budget.pct && !s->trap_cost.measured) {
		ret = -EOPNOTSUPP;
		fmt_msg(err, errlen, "--max-overhead needs the probes' cost measured, and it is "
			"not: %s", s->trap_cost.why);
		goto fail;
	}
	ret = attach__global(s->skel, err, errlen);
	if (ret)
		goto fail;
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_event, s, NULL);
	if (!s->rb) {
		ret = -errno;
		fmt_msg(err, errlen, "cannot set up the ring buffer: %s", strerror(-ret));
		goto fail;
	}
	if (!opts->plan_during_load) {
		struct plan_opts po = plan_opts_of(s);

		s->plan_ahead = plan_ahead__start(opts->plan_pids, opts->n_plan_pids, &po);
	}
	return s;
fail:
	*errp = ret;
	session__free(s);
	return NULL;
}

void session__detach(struct session *s)
{
	struct detach_watch dw = {};
	double t0, t_start;

	if (!s || s->detached_all)
		return;
	s->detached_all = true;
	t0 = t_start = now_s();
	/* Nothing counts from here on (bpf/pymemtrace.bpf.c: trace_ended). */
	s->skel->bss->trace_ended = true;
	{
		struct proc_links **v = calloc(s->n_procs + 1, sizeof(*v));

		/* All processes in one batch: their links share grace periods
		 * (--all's own links with them). */
		for (unsigned i = 0; v && i < s->n_procs; i++)
			v[i] = &s->procs[i].links;
		if (v) {
			v[s->n_procs] = &s->all_links;
			s->detached += attach__detach(v, s->n_procs + 1, &dw);
		} else {
			for (unsigned i = 0; i < s->n_procs; i++)
				s->detached += attach__detach_process(&s->procs[i].links);
			s->detached += attach__detach_process(&s->all_links);
		}
		free(v);
	}
	s->detach_s += now_s() - t0;
	t0 = now_s();
	s->detached += attach__detach_global(s->skel);
	s->detach_s += now_s() - t0;
	pr_debug("detach: the system-wide hooks took %.1f ms", (now_s() - t0) * 1e3);
	if (s->skel->bss->dispatch_misses)
		pr_warn("%llu probe hits found no handler in uprobe_dispatch's table (a bug): "
			"lost", (unsigned long long)s->skel->bss->dispatch_misses);
	/* Stable formats: tools/bench reads these lines (README "Attaching and
	 * detaching").  The breakpoints' time counts from the same start. */
	if (dw.watched && !dw.left)
		pr_info("breakpoints out of the target after %.1f ms (%u probed addresses read)",
			(dw.gone_at - t_start) * 1e3, dw.watched);
	if (dw.left)
		pr_warn("%u of %u probed addresses still hold an int3 after pymemtrace's probes "
			"were removed: another tracer's breakpoints?", dw.left, dw.watched);
	pr_info("detached %u probes in %.1f ms", s->detached, s->detach_s * 1e3);
}

void session__free(struct session *s)
{
	if (!s)
		return;
	plan_ahead__free(s->plan_ahead);
	for (unsigned i = 0; i < s->n_procs; i++) {
		attach__detach_process(&s->procs[i].links);
		perfcount__free(s->procs[i].cache);
		symbolizer__free(s->procs[i].syms);
		pynames__free(s->procs[i].pynames);
		plan__release(&s->procs[i].plan);
	}
	free(s->procs);
	free(s->exec_retry);
	attach__detach_process(&s->all_links);
	if (s->have_all)
		plan__release(&s->all_plan);
	attach__unhold(&s->hold);
	ring_buffer__free(s->rb);
	pymemtrace_bpf__destroy(s->skel);
	free(s);
}

/* A stopped target runs no probe and moves no counter; the report says
 * so instead of leaving a silent gap. */
static void note_stop(struct tracked *t, bool stopped)
{
	double at = now_s() - t->t_start;

	if (stopped && !t->stop.now) {
		if (!t->stop.times++)
			t->stop.first = at;
		t->stop.since = at;
		pr_info("pid %d is stopped (SIGSTOP or a debugger), %.1f s into its trace",
			(int)t->pid, at);
	} else if (!stopped && t->stop.now) {
		t->stop.total += at - t->stop.since;
		pr_info("pid %d runs again after %.1f s stopped", (int)t->pid, at - t->stop.since);
	}
	t->stop.now = stopped;
}

/* The report's words for note_stop's record, or "" if never stopped. */
static void stop_text(const struct tracked *t, double now, char *buf, size_t len)
{
	double total = t->stop.total + (t->stop.now ? now - t->t_start - t->stop.since : 0);

	buf[0] = 0;
	if (!t->stop.times)
		return;
	if (t->stop.now)
		fmt_msg(buf, len, "stopped since %.1f s into the trace (SIGSTOP or a debugger; "
			"stopped %u time%s, %.1f s in all)", t->stop.since, t->stop.times,
			t->stop.times == 1 ? "" : "s", total);
	else
		fmt_msg(buf, len, "was stopped %u time%s, first %.1f s into the trace, %.1f s "
			"in all", t->stop.times, t->stop.times == 1 ? "" : "s", t->stop.first, total);
}

static void sample(struct tracked *t)
{
	struct procstat_sample cur;

	if (t->state != PROC_RUNNING)
		return;
	if (procstat__read(t->pid, &cur))
		return;
	if (cur.state == 'Z' || cur.state == 'X')
		return; /* a zombie has no memory left: keep the last live sample */
	t->last = cur;
	t->have_last = true;
	note_stop(t, cur.state == 'T' || cur.state == 't');
	if (cur.rss_bytes > t->rss_max_sampled)
		t->rss_max_sampled = cur.rss_bytes;
}

/* --alloc: the symbolizers, and the walker's offsets in the pyoffsets map
 * (before the probes attach: it is what they read).
 * Without them allocations are still counted, with native stacks only; the
 * probe list says why. */
static void add_python_stacks(struct session *s, struct tracked *t)
{
	struct pmt_pyoffsets o = {};
	__u32 key = (__u32)t->pid;
	char why[256] = "";
	struct probe_status *ps = &t->pystack_status;

	t->syms = symbolizer__new(t->pid);
	memset(ps, 0, sizeof(*ps));
	snprintf(ps->name, sizeof(ps->name), "python_stacks");
	if (pyoffsets__fill(&t->plan.interp, &o, why, sizeof(why)) ||
	    bpf_map_update_elem(bpf_map__fd(s->skel->maps.pyoffsets), &key, &o, BPF_ANY) ||
	    !(t->pynames = pynames__new(&t->plan.interp))) {
		if (!why[0])
			fmt_msg(why, sizeof(why), "cannot set up the stack walker: %s", strerror(errno));
		pr_warn("pid %d: Python stacks unavailable: %s", (int)t->pid, why);
		fmt_msg(ps->reason, sizeof(ps->reason), "Python stacks unavailable: %s", why);
		return;
	}
	ps->attached = true;
	fmt_msg(ps->how, sizeof(ps->how), "walked in BPF at each allocation, %s",
		o.tstate_from == PMT_TSTATE_TSS ? "thread state from the TSS slot"
						: "thread state from gilstate");
}

/* Stacks are named only while the process can still be read. */
static bool can_name(const struct tracked *t)
{
	return t->pynames && t->state == PROC_RUNNING;
}

/* Names the Python stacks seen so far (the periodic pass). */
static void name_python_stacks(struct session *s, struct tracked *t)
{
	if (can_name(t))
		pynames__update(t->pynames, bpf_map__fd(s->skel->maps.pystacks), t->pid);
}

/* Names the one stack the BPF side just announced (PMT_EV_PYSTACK). */
static void name_python_stack(struct session *s, struct tracked *t, uint64_t hash)
{
	if (can_name(t))
		pynames__name_one(t->pynames, bpf_map__fd(s->skel->maps.pystacks), t->pid, hash);
}

/* Records the handlers of st[]'s probes that libbpf attached past the
 * dispatcher. */
static void note_uncounted(struct session *s, const struct probe_status *st, unsigned n)
{
	_Static_assert(PMT_H_NR <= 32, "a bit per handler in uncounted");
	for (unsigned i = 0; i < n; i++)
		if (st[i].attached && st[i].uncounted != PMT_H_NONE)
			s->uncounted |= 1u << st[i].uncounted;
}

/* session__add, and fork following: parent is the traced process that
 * forked pid (0: a target named by the user), fork_ns when (bpf_ktime). */
static int add_process_after(struct session *s, pid_t pid, bool is_child, pid_t parent,
			     uint64_t fork_ns, bool shared, bool execd, char *err, size_t errlen);

/* How long a launched or exec'd interpreter may take to initialise: its
 * counters are looked for at every sample until then. */
#define GC_COUNTS_WAIT_S 10.0

/* Opens the process's GC counters (gc_counters.h).  An interpreter the
 * trace saw start counts from zero, once it has initialised: until then
 * (a launched child is held before its first instruction) every sample
 * tries again (gc_counts_tick), for GC_COUNTS_WAIT_S at most. */
static void gc_counts_open(struct session *s, struct tracked *t)
{
	struct pmt_gc_exit_read where = { 0 };
	__u32 key = t->pid;

	if (gc_counters__open(&t->gc_counts, &t->plan.interp, t->pid))
		return;
	if (t->gc_counts_from_zero)
		memset(t->gc_counts.base, 0, sizeof(t->gc_counts.base));
	t->gc_counts_at = now_s();
	/* for the BPF side's read at the end: read_gc_counters_at_end */
	where.stats_addr = t->gc_counts.addr;
	where.head_addr = t->gc_counts.head_addr;
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.gc_exit_reads), &key, &where, BPF_ANY))
		pr_debug("pid %d: gc_exit_reads: %s", (int)t->pid, strerror(errno));
}

static bool gc_may_window(struct tracked *t, char *why, size_t whylen);
static void gc_keep_timed(struct session *s, struct tracked *t, const char *why);

/* Attached while the windows run: the next edge may cut one of its
 * collections, so it is counted by its interpreter from the start (or kept
 * timed, if it cannot be). */
static void gc_counts_start(struct session *s, struct tracked *t, bool from_zero)
{
	char why[160];

	t->gc_counts_from_zero = from_zero;
	t->gc_counts_until = now_s() + GC_COUNTS_WAIT_S;
	gc_counts_open(s, t);
	if (s->gc_budget.mode != GC_BUDGET_SAMPLED)
		return;
	if (gc_may_window(t, why, sizeof(why)))
		t->gc_sampled = true;
	else
		gc_keep_timed(s, t, why);
}

/* A from-zero interpreter whose counters are still looked for. */
static bool gc_counts_awaited(const struct tracked *t)
{
	return t->gc_counts_from_zero && !t->gc_counts.valid && !t->gc_counts.addr &&
	       now_s() < t->gc_counts_until;
}

/* Whether the process's GC probes may come out between windows: only when
 * its collections are counted without them.  Its counters are read again
 * first, for a subinterpreter started since the last read.  false with why
 * when not. */
static bool gc_may_window(struct tracked *t, char *why, size_t whylen)
{
	if (gc_counts_awaited(t))
		return true; /* counted from zero once found */
	if (t->gc_counts.valid && !gc_counters__read(&t->gc_counts))
		t->gc_counts_at = now_s();
	if (!t->gc_counts.valid) {
		fmt_msg(why, whylen, "its GC counters cannot be read (%s)",
			t->gc_counts.why[0] ? t->gc_counts.why : "not found");
		return false;
	}
	if (t->gc_counts.others) {
		fmt_msg(why, whylen, "it runs subinterpreters, whose collections are not in the "
			"main interpreter's counters");
		return false;
	}
	return true;
}

/* Keeps every collection of the process timed from now on; the BPF side
 * learns that no window's edge cuts its collections. */
static void gc_keep_timed(struct session *s, struct tracked *t, const char *why)
{
	__u32 key = t->pid;
	__u8 one = 1;

	t->gc_kept = true;
	fmt_msg(t->gc_kept_why, sizeof(t->gc_kept_why), "%s", why);
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.gc_kept), &key, &one, BPF_ANY))
		pr_debug("pid %d: gc_kept: %s", (int)t->pid, strerror(errno));
	pr_info("pid %d: every collection stays timed under --gc-budget: %s", (int)t->pid, why);
}

/* After its attach a process's plan needs its copy of the interpreter file
 * only to find the GC counters of an interpreter still initialising
 * (gc_counts_awaited): then it is freed.  Kept, one copy per traced
 * process (6.8 MB for Debian's python3.11, 23 MB for pyenv's libpython3.11
 * before its DWARF was left out) made the tracer of a fleet grow by that
 * much per worker. */
static void drop_image_when_done(struct tracked *t)
{
	if (t->plan.interp.elf && !gc_counts_awaited(t))
		interp__drop_image(&t->plan.interp);
}

/* Every sample: a sampled process's counters are kept fresh, so that one
 * that exits is counted to its last 100 ms.  A from-zero interpreter whose
 * counters were not found in time is armed again for good: what it
 * collected between windows until then is lost, and the report says so. */
static void gc_counts_tick(struct session *s, struct tracked *t)
{
	if (t->state != PROC_RUNNING)
		return;
	if (t->gc_counts_from_zero && !t->gc_counts.valid && !t->gc_counts.addr) {
		if (gc_counts_awaited(t)) {
			gc_counts_open(s, t);
		} else if (!t->gc_kept) {
			char why[160];

			fmt_msg(why, sizeof(why), "its GC counters were not found in %.0f s (%s)",
				GC_COUNTS_WAIT_S, t->gc_counts.why[0] ? t->gc_counts.why : "none");
			gc_keep_timed(s, t, why);
			t->gc_arm_failures += attach__set_arm(&t->links, ATTACH_SET_GC);
		}
		drop_image_when_done(t);
		return;
	}
	if (t->gc_sampled && t->gc_counts.valid && !gc_counters__read(&t->gc_counts))
		t->gc_counts_at = now_s();
}

/* What the GC probes have cost the traced processes so far: their hits
 * times their measured cost (trap_cost.h), plus their handlers' own time;
 * < 0 if unknown. */
static double gc_probes_cost(const struct session *s)
{
	uint64_t hits[PMT_H_NR], handler_ns[PMT_H_NR];
	double ns = 0;

	if (trap_cost__hits(s->skel, hits) || trap_cost__handler_ns(s->skel, handler_ns))
		return -1;
	for (unsigned h = PMT_H_NONE + 1; h < PMT_H_NR; h++)
		if (trap_cost__is_gc(h))
			ns += trap_cost__hit_ns(&s->trap_cost, h) * hits[h] + handler_ns[h];
	return ns / 1e9;
}

static bool traced_cpu(const struct session *s, double *seconds);

/* A process's collections under --gc-budget: once sampled, counted by its
 * interpreter (the probes saw only the windows' share). */
static void fill_gc_sampling(struct session *s, struct tracked *t, struct proc_report *p,
			     double now)
{
	struct gc_gen_counts c[GC_COUNTERS_GENERATIONS];
	typeof(p->gc_sampling) *gs = &p->gc_sampling;

	for (unsigned g = 0; g < PMT_GENERATIONS; g++)
		gs->timed += p->stats.gc[g].collections;
	gs->window_cuts = p->stats.gc_window_cuts;
	gs->sampled = t->gc_sampled;
	gs->kept = t->gc_kept;
	if (t->gc_kept)
		fmt_msg(gs->kept_why, sizeof(gs->kept_why), "%s", t->gc_kept_why);
	gs->arm_failures = t->gc_arm_failures;
	if (!t->gc_sampled)
		return;
	if (t->state == PROC_RUNNING && t->gc_counts.valid && !gc_counters__read(&t->gc_counts))
		t->gc_counts_at = now;
	if (!gc_counters__since_open(&t->gc_counts, c)) {
		fmt_msg(gs->why, sizeof(gs->why), "%s", t->gc_counts.why[0] ? t->gc_counts.why :
			"the interpreter's GC counters were not found");
		return;
	}
	gs->counted = true;
	if (t->gc_counts.others) {
		gs->incomplete = true;
		fmt_msg(gs->why, sizeof(gs->why), "pid %d started a subinterpreter while its GC "
			"probes were out at times: the subinterpreters' collections are not in "
			"these counts", (int)t->pid);
	}
	gs->counts_at_end = t->gc_counts_at_end;
	if (t->state != PROC_RUNNING && !t->gc_counts_at_end && t->t_end > t->gc_counts_at)
		gs->counts_age_s = t->t_end - t->gc_counts_at;
	for (unsigned g = 0; g < PMT_GENERATIONS && g < GC_COUNTERS_GENERATIONS; g++) {
		p->stats.gc[g].collections = c[g].collections;
		p->stats.gc[g].collected = c[g].collected;
	}
}

static void fill_gc_budget(struct session *s, struct report *r)
{
	struct gc_budget_report *o = &r->gc_budget;
	const struct gc_budget *b = &s->gc_budget;

	o->on = s->gc_budget_on;
	fmt_msg(o->why, sizeof(o->why), "%s", s->gc_budget_why);
	o->pct = s->opts.gc_budget_pct;
	o->sampled_now = b->mode == GC_BUDGET_SAMPLED;
	o->duty = b->duty;
	o->share_all = b->share_all;
	o->windows = b->windows;
	o->windows_s = b->windows_s;
	o->to_sampled = b->to_sampled;
	o->trigger_share = b->trigger_share;
	o->first_sampled_s = b->first_sampled_at ? b->first_sampled_at - s->t0 : 0;
	o->window_s = GC_WINDOW_S;
	o->charge = b->charge;
}

/* --gc-budget, every sample: arms or disarms the GC probes of every running
 * process as gc_budget.h decides.  A disarm waits for the kernel's grace
 * period (~55 ms, the tracer's wait, not the targets').  gc_window moves on
 * at each edge, so that the BPF side tells a collection cut by a window's
 * edge from a timed one. */
static void gc_budget_tick(struct session *s)
{
	enum gc_budget_action a;
	struct proc_links **v;
	double cost, cpu;
	unsigned n = 0;

	if (!s->gc_budget_on)
		return;
	for (unsigned i = 0; i < s->n_procs; i++)
		gc_counts_tick(s, &s->procs[i]);
	cost = gc_probes_cost(s);
	if (cost < 0 || !traced_cpu(s, &cpu))
		return;
	a = gc_budget__step(&s->gc_budget, now_s(), cost, cpu);
	if (a == GC_BUDGET_NONE)
		return;
	v = calloc(s->n_procs ? s->n_procs : 1, sizeof(*v));
	if (!v)
		return; /* tried again at the next window's end or start */
	/* The processes that cannot be windowed are kept before the edge, so
	 * that it cuts none of their collections. */
	for (unsigned i = 0; i < s->n_procs && a == GC_BUDGET_DISARM; i++) {
		struct tracked *t = &s->procs[i];
		char why[160];

		if (t->state == PROC_RUNNING && t->gc_in_set && !t->gc_sampled && !t->gc_kept &&
		    !gc_may_window(t, why, sizeof(why)))
			gc_keep_timed(s, t, why);
	}
	/* Before either: a collection that straddles this moment is cut, and
	 * one whose start is seen while the links come out (one link after the
	 * other) never pairs with an end seen in the next window. */
	s->skel->bss->gc_window++;
	for (unsigned i = 0; i < s->n_procs; i++) {
		struct tracked *t = &s->procs[i];

		if (t->state != PROC_RUNNING || !t->gc_in_set || t->gc_kept)
			continue;
		if (a == GC_BUDGET_ARM) {
			t->gc_arm_failures += attach__set_arm(&t->links, ATTACH_SET_GC);
			continue;
		}
		t->gc_sampled = true;
		v[n++] = &t->links;
	}
	if (a == GC_BUDGET_DISARM) {
		attach__set_disarm(v, n, ATTACH_SET_GC);
		if (s->gc_budget.windows == 0 && s->gc_budget.to_sampled == 1)
			pr_info("timing every collection costs the traced processes at least "
				"%.1f%% of their CPU, charged %g x that for the traps' cache effects, "
				"over --gc-budget %g%%: collections are timed in windows of %.0f ms, "
				"%.0f%% of the time, and counted by the interpreter",
				100 * s->gc_budget.share_all / s->gc_budget.charge, s->gc_budget.charge,
				s->gc_budget.pct, GC_WINDOW_S * 1000, 100 * s->gc_budget.duty);
	}
	free(v);
}

static int add_process(struct session *s, pid_t pid, bool is_child, pid_t parent,
		       uint64_t fork_ns, bool shared, char *err, size_t errlen)
{
	return add_process_after(s, pid, is_child, parent, fork_ns, shared, false, err, errlen);
}

/* add_process(); execd: the followed child exec'd (fork_ns is the exec's
 * time then), for the message. */
static int add_process_after(struct session *s, pid_t pid, bool is_child, pid_t parent,
			     uint64_t fork_ns, bool shared, bool execd, char *err, size_t errlen)
{
	struct pmt_proc_stats zero = {}, scratch;
	struct tracked *t;
	__u32 key = (__u32)pid;
	int ret;

	if (s->n_procs == s->cap_procs) {
		unsigned cap = s->cap_procs ? 2 * s->cap_procs : 8;
		struct tracked *v = realloc(s->procs, cap * sizeof(*v));

		if (!v) {
			fmt_msg(err, errlen, "out of memory");
			return -ENOMEM;
		}
		s->procs = v;
		s->cap_procs = cap;
	}
	t = &s->procs[s->n_procs];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->is_child = is_child;
	t->exit_status = -1;
	{
		struct plan_opts po = plan_opts_of(s);

		if (!plan_ahead__take(s->plan_ahead, pid, &po, &t->plan, &ret, err, errlen))
			ret = plan__build(pid, &po, &t->plan, err, errlen);
	}
	if (ret)
		return ret;
	if (procstat__read(pid, &t->first)) {
		fmt_msg(err, errlen, "process %d vanished while pymemtrace attached", (int)pid);
		plan__release(&t->plan);
		return -ESRCH;
	}
	t->last = t->first;
	t->have_last = true;
	t->rss_max_sampled = t->first.rss_bytes;
	/* The map entry must exist before the probes fire: it is their filter.
	 * A followed child's was made by the fork program, counting since;
	 * with --all, a new process's by its first probe hit. */
	if ((parent || shared) && bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.procs), &key, &scratch) == 0) {
		/* made at the fork: keep it */
	} else if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.procs), &key, &zero,
				       BPF_NOEXIST)) {
		ret = -errno;
		fmt_msg(err, errlen, "cannot track pid %d: %s (more than --max-procs=%u processes?)",
			(int)pid, strerror(-ret), s->opts.max_procs);
		plan__release(&t->plan);
		return ret == -E2BIG ? -ENOSPC : ret;
	}
	/* The plan was made before the entry existed, when the exec hook did
	 * not yet watch this process (planned ahead, or a moment ago): had it
	 * exec'd meanwhile, the plan would probe an image it no longer runs,
	 * and the trace would show nothing of it.  From here on the hook sees
	 * its execs, so one look at its maps settles it.  A plan made ahead
	 * dropped its copy of the file (plan_ahead.c): read again here. */
	if (!parent && !shared && (ret = interp__recheck_image(&t->plan.interp))) {
		struct plan_opts po = plan_opts_of(s);
		int why = ret;

		plan__release(&t->plan);
		ret = plan__build(pid, &po, &t->plan, err, errlen);
		if (ret) {
			bpf_map_delete_elem(bpf_map__fd(s->skel->maps.procs), &key);
			return ret;
		}
		if (why == -ESTALE)
			pr_info("pid %d exec'd while pymemtrace planned its probes: planned again "
				"for its new image", (int)pid);
		else
			pr_info("pid %d: its interpreter file could not be read again (%s): "
				"planned again", (int)pid, strerror(-why));
	}
	/* not kept (gc_keep_timed) until this image's own counters say so,
	 * nor read at exit until they are found */
	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.gc_kept), &key);
	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.gc_exit_reads), &key);
	if (log_verbosity >= 2)
		plan__print(stderr, &t->plan);
	if (wants_stacks(&s->opts))
		add_python_stacks(s, t);
	if (t->plan.lto.n) {
		struct pmt_lto_cfg cfg = {
			.pool_mask = ~(t->plan.lto.pool_size - 1),
			.hook_free = t->plan.lto.hook_free + t->plan.interp.load_bias,
		};

		bpf_map_update_elem(bpf_map__fd(s->skel->maps.lto_cfg), &key, &cfg, BPF_ANY);
	}
	if (shared) {
		/* --all: the file's links serve it; their state is its state. */
		memcpy(t->probes, s->all_probes, sizeof(t->probes));
		t->n_probes = s->all_n_probes;
		t->probes_failed = s->all_failed;
	} else {
		t->probes_failed = attach__process(s->skel, &t->plan, s->multi,
						   s->opts.window_ms > 0, s->gc_budget_on, &t->links,
						   t->probes, PMT_MAX_PROBES, &t->n_probes);
		note_uncounted(s, t->probes, t->n_probes);
		t->gc_in_set = s->gc_budget_on && attach__set_has(&t->links, ATTACH_SET_GC);
		if (t->gc_in_set)
			gc_counts_start(s, t, is_child || execd);
	}
	if (wants_stacks(&s->opts) && t->n_probes < PMT_MAX_PROBES)
		t->probes[t->n_probes++] = t->pystack_status;
	t->cache = perfcount__open(pid, t->cache_reason, sizeof(t->cache_reason));
	t->t_start = now_s();
	if (parent) {
		uint64_t ns = now_ns();

		t->parent_pid = parent;
		t->attach_after_fork_s = ns > fork_ns ? (ns - fork_ns) / 1e9 : 0;
	}
	drop_image_when_done(t);
	s->n_procs++;
	if (parent && execd)
		pr_info("tracing pid %d, forked by %d, exec'd CPython %s, %.1f ms after the exec",
			(int)pid, (int)parent, t->plan.interp.version_str,
			t->attach_after_fork_s * 1e3);
	else if (parent)
		pr_info("tracing pid %d, forked by %d, %.1f ms after the fork", (int)pid,
			(int)parent, t->attach_after_fork_s * 1e3);
	else
		pr_info("tracing pid %d (CPython %s, %s)", (int)pid, t->plan.interp.version_str,
			t->plan.interp.map_path);
	return 0;
}

int session__add(struct session *s, pid_t pid, bool is_child, char *err, size_t errlen)
{
	return add_process(s, pid, is_child, 0, 0, false, err, errlen);
}

/* The test knob PMT_ENV_AFTER_PLANS: once every target is planned, waits
 * (at most 30 s) for that file to exist before anything is attached, so
 * that a test can make a target exec in between. */
static void wait_for_tests_after_plans(void)
{
	const char *path = getenv(PMT_ENV_AFTER_PLANS);

	if (!path || !path[0])
		return;
	pr_info("test knob %s: every target planned; waiting for %s", PMT_ENV_AFTER_PLANS, path);
	for (int i = 0; i < 3000 && access(path, F_OK); i++)
		usleep(10000);
}

int session__check_planned(struct session *s, char *err, size_t errlen)
{
	int ret = plan_ahead__first_error(s->plan_ahead, err, errlen);

	if (!ret)
		wait_for_tests_after_plans();
	return ret;
}

int session__add_all(struct session *s, char *err, size_t errlen)
{
	struct plan_opts po = {
		.uprobe_multi = s->multi,
		.no_multi_why = s->no_multi_why,
	};
	int ret;

	ret = plan__build_file(s->opts.all_path, &po, &s->all_plan, err, errlen);
	if (ret)
		return ret;
	s->have_all = true;
	if (log_verbosity >= 2)
		plan__print(stderr, &s->all_plan);
	s->all_failed = attach__process(s->skel, &s->all_plan, s->multi, false, false, &s->all_links,
					s->all_probes, PMT_MAX_PROBES, &s->all_n_probes);
	note_uncounted(s, s->all_probes, s->all_n_probes);
	pr_info("tracing every process of %s (CPython %s)%s", s->all_plan.interp.map_path,
		s->all_plan.interp.version_str,
		s->all_failed ? ": some probes failed (see the report)" : "");
	return 0;
}

/* --all: a probe hit from a process not seen before (the BPF side entered
 * it).  Planned from its own maps for the report; no probes of its own. */
static void add_new(struct session *s, const struct pmt_event *e)
{
	__u32 key = e->pid;
	char err[256] = "";

	if (!s->have_all || find_tracked(s, (pid_t)e->pid))
		return;
	if (add_process(s, (pid_t)e->pid, false, 0, 0, true, err, sizeof(err))) {
		s->all_missed++;
		bpf_map_delete_elem(bpf_map__fd(s->skel->maps.procs), &key);
		pr_warn("pid %u, a new process of %s, is not traced: %s", e->pid,
			s->all_plan.interp.map_path, err);
	}
}

/* A traced process forked (raw_process_fork made the child's entry): trace
 * the child too, with its own probes.  A child that is gone or unreadable
 * by now is counted as missed, and its entry removed. */
/* Followed children that exec'd: traced again once their new image shows
 * CPython, or counted as dropped at exec when it is not by the deadline. */
static void follow_execs(struct session *s)
{
	for (unsigned i = 0; i < s->n_exec_retry;) {
		struct exec_retry *x = &s->exec_retry[i];
		char err[256] = "";
		int ret = add_process_after(s, x->pid, false, x->parent, x->exec_ns, false, true,
					    err, sizeof(err));

		if (ret && now_s() < x->until && kill(x->pid, 0) == 0) {
			i++;
			continue; /* not CPython yet: the loader may not have run */
		}
		if (ret) {
			s->forks_execd++;
			pr_debug("pid %d, exec'd, not traced: %s", (int)x->pid, err);
		} else {
			s->execs_followed++;
		}
		*x = s->exec_retry[--s->n_exec_retry];
	}
}

static void follow_fork(struct session *s, const struct pmt_event *e)
{
	__u32 key = e->pid;
	char err[256] = "";
	int ret;

	if (find_tracked(s, (pid_t)e->pid))
		return;
	ret = add_process(s, (pid_t)e->pid, false, (pid_t)e->fork.parent_pid, e->ts_ns,
			  s->have_all, err, sizeof(err));
	if (ret) {
		bpf_map_delete_elem(bpf_map__fd(s->skel->maps.procs), &key);
		if (ret == -ENOEXEC) {
			/* It exec'd before we got to it (subprocess uses vfork):
			 * its new image may be CPython once the loader ran. */
			if (!s->have_all) {
				queue_exec_retry(s, (pid_t)e->pid, (pid_t)e->fork.parent_pid,
						 e->ts_ns);
				return;
			}
			s->forks_execd++;
			pr_debug("pid %u, forked by traced pid %u, not traced: %s", e->pid,
				 e->fork.parent_pid, err);
			return;
		}
		s->forks_missed++;
		pr_warn("pid %u, forked by traced pid %u, is not traced: %s", e->pid,
			e->fork.parent_pid, err);
		return;
	}
	s->forks_followed++;
}

int session__hold(struct session *s, pid_t pid, const char *path, uint64_t off)
{
	return attach__hold(s->skel, s->multi, pid, path, off, &s->hold);
}

void session__unhold(struct session *s)
{
	attach__unhold(&s->hold);
}

/* Reaps a launched child and notices -p targets that vanished without an
 * exit event (e.g. the event was dropped). */
static void check_liveness(struct session *s, struct tracked *t)
{
	if (t->is_child && !t->reaped) {
		int st;
		pid_t r = waitpid(t->pid, &st, WNOHANG);

		if (r == t->pid) {
			t->reaped = true;
			t->exit_status = st;
			if (t->state == PROC_RUNNING) {
				fmt_msg(t->detail, sizeof(t->detail), "exited with code %d",
					WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
				mark_ended(s, t, PROC_EXITED);
			}
		}
		return;
	}
	if (t->state == PROC_RUNNING && kill(t->pid, 0) && errno == ESRCH) {
		fmt_msg(t->detail, sizeof(t->detail),
			"exited (gone from /proc; its exit event was not seen)");
		mark_ended(s, t, PROC_EXITED);
	}
}

static bool any_running(struct session *s)
{
	for (unsigned i = 0; i < s->n_procs; i++)
		if (s->procs[i].state == PROC_RUNNING)
			return true;
	return false;
}

/* Empties the per-thread pending maps of the allocation probes: a call
 * that entered in a window and returned after it left its entry behind,
 * which would make the next window skip (pm_pending) or misread a call. */
static void clear_alloc_pending(struct session *s)
{
	int fds[] = { bpf_map__fd(s->skel->maps.pm_pending),
		      bpf_map__fd(s->skel->maps.raw_pending) };

	for (unsigned m = 0; m < sizeof(fds) / sizeof(fds[0]); m++) {
		__u32 key;
		/* bounded: every delete shrinks the map, a failed one ends it */
		for (unsigned n = 0; n < s->opts.max_threads &&
		     !bpf_map_get_next_key(fds[m], NULL, &key); n++)
			if (bpf_map_delete_elem(fds[m], &key))
				break;
	}
}

static void sleep_until(double t)
{
	struct timespec ts = { .tv_sec = (time_t)t, .tv_nsec = (long)((t - (time_t)t) * 1e9) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop_requested)
		;
}

/* One --sample-window window: arms the allocation probes of every running
 * process, opens the BPF side's gate for window_ms, closes it, disarms.
 * The counted time is the gate's: arming takes a grace period before its
 * first breakpoint (attach.h) and disarming may too, with a partial set of
 * probes in meanwhile; the gate keeps those moments out.
 * The tracer then waits for the grace period; the targets run on. */
static void run_window(struct session *s)
{
	struct proc_links **v = calloc(s->n_procs ? s->n_procs : 1, sizeof(*v));
	unsigned *idx = calloc(s->n_procs ? s->n_procs : 1, sizeof(*idx));
	double t_open = now_s(), gate_on, t_close, t_done;
	unsigned n = 0;

	if (!v || !idx)
		goto out;
	for (unsigned i = 0; i < s->n_procs; i++) {
		struct tracked *t = &s->procs[i];
		unsigned failed;

		if (t->state != PROC_RUNNING || !attach__set_has(&t->links, ATTACH_SET_WINDOW))
			continue;
		failed = attach__set_arm(&t->links, ATTACH_SET_WINDOW);
		t->window_failures += failed;
		if (!attach__set_armed(&t->links, ATTACH_SET_WINDOW))
			continue;
		idx[n] = i;
		v[n++] = &t->links;
	}
	/* Counted only while every link is in (the BPF side's alloc_gate). */
	gate_on = now_s();
	s->skel->bss->alloc_gate = 1;
	sleep_until(gate_on + s->opts.window_ms / 1000.0);
	s->skel->bss->alloc_gate = 0;
	t_close = now_s();
	attach__set_disarm(v, n, ATTACH_SET_WINDOW);
	t_done = now_s();
	for (unsigned k = 0; k < n; k++) {
		struct tracked *t = &s->procs[idx[k]];

		t->windows++;
		t->windows_s += t_close - gate_on;
	}
	if (n) {
		s->n_windows++;
		s->window_open_s += gate_on - t_open;
		s->window_close_s += t_done - t_close;
	}
	clear_alloc_pending(s);
out:
	free(v);
	free(idx);
	window_clock__next(&s->windows, t_open);
}

/* How long the loop may wait: its period, or less when a window is due. */
static int wait_ms(struct session *s)
{
	double left;

	if (!s->opts.window_ms)
		return SAMPLE_PERIOD_MS;
	left = (s->windows.next_open - now_s()) * 1000;
	return left <= 0 ? 0 : left < SAMPLE_PERIOD_MS ? (int)left + 1 : SAMPLE_PERIOD_MS;
}

/* Waits up to SAMPLE_PERIOD_MS for ring-buffer events and, when there is
 * one, for the extra event source; handles what arrived.  >= 0 or -errno. */
static int wait_events(struct session *s)
{
	const struct session_opts *o = &s->opts;
	struct pollfd fds[2];
	int timeout = wait_ms(s), ret;

	if (!o->poll_run)
		return ring_buffer__poll(s->rb, timeout);
	if (o->poll_timeout_ms) {
		int t = o->poll_timeout_ms(o->poll_ctx);

		if (t >= 0 && t < timeout)
			timeout = t;
	}
	fds[0] = (struct pollfd){ .fd = ring_buffer__epoll_fd(s->rb), .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = o->poll_fd, .events = POLLIN };
	if (poll(fds, 2, timeout) < 0 && errno != EINTR)
		return -errno;
	ret = ring_buffer__consume(s->rb);
	o->poll_run(o->poll_ctx);
	return ret;
}

int session__run(struct session *s)
{
	double start = now_s(), next_interval = start + s->opts.interval;

	s->t_run = start;
	if (s->opts.window_ms)
		window_clock__init(&s->windows, s->opts.window_ms, s->opts.period_ms, start,
				   (uint64_t)now_ns() ^ (uint64_t)getpid());

	while (!stop_requested) {
		int ret;

		if (s->opts.window_ms && now_s() >= s->windows.next_open)
			run_window(s);
		ret = wait_events(s);

		if (ret < 0 && ret != -EINTR) {
			pr_err("ring buffer poll failed: %s", strerror(-ret));
			return ret;
		}
		if (s->opts.events) {
			/* Stream records do not wake us (BPF_RB_NO_WAKEUP) until
			 * the ring is a quarter full, and poll only consumes
			 * after a wakeup: the timeout's turn consumes here. */
			ring_buffer__consume(s->rb);
			events_out__drain(s->opts.events, now_ns());
		}
		/* Wakeups can come thousands of times a second with --events:
		 * /proc is read on the 100 ms period, not on every one, and
		 * once more when a signal asks to stop (the report's end). */
		if (now_s() >= s->next_sample || stop_requested) {
			s->next_sample = now_s() + SAMPLE_PERIOD_MS / 1000.0;
			for (unsigned i = 0; i < s->n_procs; i++) {
				sample(&s->procs[i]);
				check_liveness(s, &s->procs[i]);
			}
			follow_execs(s);
			gc_budget_tick(s);
			if (over_budget(s))
				break;
		}
		if (wants_stacks(&s->opts) && now_s() >= s->next_maps_refresh) {
			/* Libraries come and go (dlopen); a process that exits
			 * takes its maps along: keep a recent snapshot. */
			s->next_maps_refresh = now_s() + MAPS_REFRESH_S;
			for (unsigned i = 0; i < s->n_procs; i++) {
				if (s->procs[i].syms && s->procs[i].state == PROC_RUNNING)
					symbolizer__refresh(s->procs[i].syms);
			}
		}
		if (wants_stacks(&s->opts) && now_s() >= s->next_naming) {
			s->next_naming = now_s() + NAMING_PERIOD_S;
			for (unsigned i = 0; i < s->n_procs; i++)
				name_python_stacks(s, &s->procs[i]);
		}
		if (s->opts.duration > 0 && now_s() - start >= s->opts.duration) {
			for (unsigned i = 0; i < s->n_procs; i++)
				sample(&s->procs[i]);
			break;
		}
		if (s->opts.interval > 0 && now_s() >= next_interval && s->opts.on_interval) {
			struct report r;

			next_interval += s->opts.interval;
			if (!session__report(s, &r, false)) {
				s->opts.on_interval(&r, s->opts.ctx);
				report_release(&r);
			}
		}
		if (!s->have_all && !any_running(s))
			break; /* (--all waits for processes yet to start) */
	}
	/* Events that arrived at the very end (an exit) still count. */
	ring_buffer__consume(s->rb);
	return 0;
}


static bool probes_attached(const struct tracked *t, const char *prefix)
{
	for (unsigned i = 0; i < t->n_probes; i++)
		if (!strncmp(t->probes[i].name, prefix, strlen(prefix)) && t->probes[i].attached)
			return true;
	return false;
}

/* Where one process's stacks are named from (alloc_collect.h). */
static struct alloc_sources sources_of(struct session *s, struct tracked *t)
{
	return (struct alloc_sources){
		.pid = t->pid,
		.stack_stats_fd = bpf_map__fd(s->skel->maps.stack_stats),
		.native_stacks_fd = bpf_map__fd(s->skel->maps.native_stacks),
		.native_depth = s->opts.native_depth,
		.syms = t->syms,
		.pynames = t->pynames,
		.pystacks_fd = bpf_map__fd(s->skel->maps.pystacks),
		.can_name = can_name(t),
		.sample_every = s->opts.sample_every,
		.window_ms = s->opts.window_ms,
		.period_ms = s->opts.period_ms,
		.windows = t->windows,
		.windows_s = t->windows_s,
		.window_failures = t->window_failures,
		.top = s->opts.top,
		.pymalloc_probed = probes_attached(t, "pymalloc_") || probes_attached(t, "lto_sites"),
		.libc_probed = probes_attached(t, "raw_"),
		.arenas_probed = probes_attached(t, "arena_"),
		.has_symtab = t->plan.interp.has_symtab,
		.lto_sites_found = t->plan.lto.n ? t->plan.lto.sites_found : 0,
		.lto_sites_handled = t->plan.lto.sites_handled,
	};
}

/* The --alloc part of the report (alloc_collect.h), after naming the Python
 * stacks recorded since the last tick. */
static void fill_alloc(struct session *s, struct tracked *t, struct proc_report *p)
{
	struct alloc_sources src = sources_of(s, t);

	name_python_stacks(s, t);
	alloc_collect(&src, &p->stats, p->traced_seconds, &p->alloc);
	if (s->n_windows) {
		p->alloc.session_windows = s->n_windows;
		p->alloc.arm_ms_mean = s->window_open_s * 1000 / s->n_windows;
		p->alloc.disarm_ms_mean = s->window_close_s * 1000 / s->n_windows;
	}
}

/* The --heap-growth part of the report (growth_collect.h). */
static void fill_growth(struct session *s, struct tracked *t, struct proc_report *p)
{
	struct alloc_sources src = sources_of(s, t);
	const char *why = "";

	for (unsigned i = 0; i < t->n_probes; i++)
		if (!strcmp(t->probes[i].name, "growth_pool") && !t->probes[i].attached)
			why = t->probes[i].reason;
	if (!s->opts.alloc)
		name_python_stacks(s, t);
	growth_collect(&src, bpf_map__fd(s->skel->maps.growth_stats), &p->stats,
		       probes_attached(t, "growth_pool"), why, &p->growth);
}

/* The CPU time t used while traced: up to its exit if it exited (the exit
 * event's runtime; /proc's utime + stime are scaled to that same runtime),
 * else up to its last sample.  false if unknown. */
static bool tracked_cpu(const struct tracked *t, double *seconds)
{
	long tick = sysconf(_SC_CLK_TCK);
	double first, end;

	*seconds = 0;
	if (!t->first.cpu_valid || tick <= 0)
		return false;
	first = (double)t->first.cpu_ticks / tick;
	if (t->have_exit_faults && t->exit_cpu_ns)
		end = t->exit_cpu_ns / 1e9;
	else if (t->last.cpu_valid)
		end = (double)t->last.cpu_ticks / tick;
	else
		return false;
	if (end < first)
		return false;
	*seconds = end - first;
	return true;
}

static void fill_proc(struct session *s, struct tracked *t, struct proc_report *p, double now)
{
	__u32 key = (__u32)t->pid;
	const struct interp *in = &t->plan.interp;
	uint64_t min_end, maj_end;

	p->pid = t->pid;
	memcpy(p->comm, t->first.comm, sizeof(p->comm));
	snprintf(p->interp_path, sizeof(p->interp_path), "%s", in->map_path);
	p->interp_kind = in->kind == INTERP_STATIC ? "static" : "libpython";
	snprintf(p->version, sizeof(p->version), "%s", in->version_str);
	snprintf(p->version_source, sizeof(p->version_source), "%s", in->version_source);

	p->n_probes = 0;
	for (unsigned i = 0; i < t->n_probes && p->n_probes < PMT_MAX_PROBES; i++)
		p->probes[p->n_probes++] = t->probes[i];
	/* The hooks that are not per-interpreter, so the list says what was seen. */
	{
		static const struct { const char *name, *how; } fixed[] = {
			{ "mmap", "raw_tp sys_enter/sys_exit, syscall 9" },
			{ "munmap", "raw_tp sys_enter/sys_exit, syscall 11" },
			{ "mremap", "raw_tp sys_enter/sys_exit, syscall 25" },
			{ "brk", "raw_tp sys_enter/sys_exit, syscall 12 (mm->brk before and after)" },
			{ "process_exit", "raw_tp sched_process_exit" },
			{ "process_exec", "raw_tp sched_process_exec" },
			{ "process_fork", "raw_tp sched_process_fork (children followed; "
					  "--no-follow: off)" },
			{ "page_faults", "/proc/PID/stat minflt, majflt (no probe needed)" },
			{ "rss", "/proc/PID/status VmRSS, VmHWM, sampled every 100 ms" },
		};
		/* the plan's probes, the stack walker, these and "cache" */
		_Static_assert(PMT_MAX_PROBES >= PLAN_MAX_PROBES + 1 +
			       sizeof(fixed) / sizeof(fixed[0]) + 1,
			       "the report's probe list cannot hold a full plan");
		for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]) &&
		     p->n_probes < PMT_MAX_PROBES; i++) {
			struct probe_status *ps = &p->probes[p->n_probes++];

			memset(ps, 0, sizeof(*ps));
			snprintf(ps->name, sizeof(ps->name), "%s", fixed[i].name);
			snprintf(ps->how, sizeof(ps->how), "%s", fixed[i].how);
			ps->attached = true;
			if (!strcmp(fixed[i].name, "process_fork") && !s->opts.follow) {
				ps->attached = false;
				snprintf(ps->reason, sizeof(ps->reason), "--no-follow");
			}
		}
		if (p->n_probes < PMT_MAX_PROBES) {
			struct probe_status *ps = &p->probes[p->n_probes++];

			memset(ps, 0, sizeof(*ps));
			snprintf(ps->name, sizeof(ps->name), "cache");
			snprintf(ps->how, sizeof(ps->how), "perf_event_open cache-references, cache-misses");
			ps->attached = t->cache != NULL;
			snprintf(ps->reason, sizeof(ps->reason), "%s", t->cache ? "" : t->cache_reason);
		}
	}

	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.procs), &key, &p->stats))
		memset(&p->stats, 0, sizeof(p->stats));

	p->rss.start = t->first.rss_bytes;
	p->rss.end = t->last.rss_bytes;
	/* A VmHWM that grew during the trace is an exact peak; otherwise the
	 * best we know is the largest sample. */
	if (t->last.hwm_bytes > t->first.hwm_bytes) {
		p->rss.peak = t->last.hwm_bytes;
		p->rss.peak_exact = true;
	} else {
		p->rss.peak = t->rss_max_sampled;
		p->rss.peak_exact = false;
	}

	min_end = t->have_exit_faults ? t->exit_min_flt : t->last.min_flt;
	maj_end = t->have_exit_faults ? t->exit_maj_flt : t->last.maj_flt;
	p->faults.valid = min_end >= t->first.min_flt && maj_end >= t->first.maj_flt;
	p->faults.minor = p->faults.valid ? min_end - t->first.min_flt : 0;
	p->faults.major = p->faults.valid ? maj_end - t->first.maj_flt : 0;
	p->cpu_valid = tracked_cpu(t, &p->cpu_seconds);

	if (t->cache && !perfcount__read(t->cache, &p->cache.references, &p->cache.misses)) {
		p->cache.supported = true;
	} else {
		p->cache.supported = false;
		snprintf(p->cache.reason, sizeof(p->cache.reason), "%s",
			 t->cache ? "cache counters could not be read" : t->cache_reason);
	}

	p->state = t->state;
	p->exit_status = t->exit_status;
	{
		char stops[128];

		stop_text(t, now, stops, sizeof(stops));
		fmt_msg(p->state_detail, sizeof(p->state_detail), "%s%s%s", t->detail,
			t->detail[0] && stops[0] ? "; " : "", stops);
	}
	p->traced_seconds = (t->state == PROC_RUNNING ? now : t->t_end) - t->t_start;
	p->parent_pid = t->parent_pid;
	p->attach_after_fork_s = t->attach_after_fork_s;

	fill_gc_sampling(s, t, p, now);
	p->lost.ringbuf_drops = p->stats.ringbuf_drops;
	p->lost.pending_full = p->stats.pending_full;
	p->lost.gc_unmatched = p->stats.gc_unmatched_done;
	p->lost.gc_bad_generation = p->stats.gc_bad_generation;
	p->lost.probes_failed = t->probes_failed;
	p->lost.forks_untracked = p->stats.forks_untracked;
	for (unsigned k = 0; k < PMT_EV_TYPES; k++)
		p->lost.events_dropped += p->stats.events_dropped[k];
	p->limits.ringbuf_kb = s->opts.ringbuf_kb;
	p->limits.max_threads = s->opts.max_threads;
	p->limits.max_procs = s->opts.max_procs;
	p->limits.max_live = s->opts.max_live;
	p->limits.max_stacks = s->opts.max_stacks;
	p->limits.events = s->opts.events != NULL;
	if (s->opts.alloc)
		fill_alloc(s, t, p);
	if (s->opts.heap_growth)
		fill_growth(s, t, p);
}

/* --events: the writer's counts next to the kernel's, for every process. */
static void fill_events(struct session *s, struct report *r)
{
	struct events_report *ev = &r->events;
	struct events_out_stats st;

	if (!s->opts.events)
		return;
	events_out__stats(s->opts.events, &st);
	ev->enabled = true;
	ev->path = events_out__path(s->opts.events);
	ev->ring_bytes = (uint64_t)s->opts.ringbuf_kb * 1024;
	ev->written = st.written;
	ev->late = st.late;
	ev->bad_records = st.bad_records;
	ev->error = st.error;
	memcpy(ev->written_by_type, st.by_type, sizeof(ev->written_by_type));
	for (unsigned i = 0; i < r->n_procs; i++) {
		const struct pmt_proc_stats *ps = &r->procs[i].stats;

		ev->sent += ps->events_sent;
		for (unsigned k = 0; k < PMT_EV_TYPES; k++) {
			ev->dropped_by_type[k] += ps->events_dropped[k];
			ev->dropped += ps->events_dropped[k];
		}
	}
}

/* Whether t can be retired: it ended, and a launched child was reaped. */
static bool retirable(const struct tracked *t)
{
	return t->state != PROC_RUNNING && (!t->is_child || t->reaped);
}

/* Frees what t owns and removes its entries from every map. */
static void release_tracked(struct session *s, struct tracked *t)
{
	__u32 key = (__u32)t->pid;

	detach_tracked(s, t); /* normally done at its exit already: then a no-op */
	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.procs), &key);
	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.pyoffsets), &key);
	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.lto_cfg), &key);
	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.gc_kept), &key);
	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.gc_exit_reads), &key);
	perfcount__free(t->cache);
	symbolizer__free(t->syms);
	pynames__free(t->pynames);
	plan__release(&t->plan);
}

/* Takes t out of the table (after release_tracked). */
static void remove_tracked(struct session *s, struct tracked *t)
{
	release_tracked(s, t);
	/* Keep the order: reports list processes as they came. */
	memmove(t, t + 1, (size_t)(s->procs + s->n_procs - (t + 1)) * sizeof(*t));
	s->n_procs--;
}

/* Stack and live-allocation entries of the retired pids (maps shared by all
 * processes, keyed by pid and stack or address).  Native stack ids are
 * shared between processes and stay (the map is bounded by --max-stacks). */
static void sweep_stacks(struct session *s, const pid_t *pids, unsigned n)
{
	struct {
		struct bpf_map *map;
		struct map_sweep_field field;
	} maps[] = {
		{ s->skel->maps.stack_stats, { false, offsetof(struct pmt_stack_key, pid) } },
		{ s->skel->maps.growth_stats,
		  { false, offsetof(struct pmt_growth_key, stack) + offsetof(struct pmt_stack_key, pid) } },
		{ s->skel->maps.pystacks, { false, offsetof(struct pmt_pystack_key, pid) } },
		{ s->skel->maps.live, { false, offsetof(struct pmt_live_key, pid) } },
	};

	if (!wants_stacks(&s->opts))
		return;
	for (unsigned i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		map_sweep_pids(bpf_map__fd(maps[i].map), bpf_map__key_size(maps[i].map),
			       bpf_map__value_size(maps[i].map), maps[i].field, pids, n);
	/* After the deletes: the BPF side's per-CPU "already stored" caches
	 * forget every stack, so a reused pid's stacks are stored again. */
	__atomic_add_fetch(&s->skel->bss->pystacks_gen, 1, __ATOMIC_SEQ_CST);
}

static void drop_tracked(struct session *s, struct tracked *t)
{
	pid_t pid = t->pid;

	remove_tracked(s, t);
	sweep_stacks(s, &pid, 1);
}

/* The processes r showed as ended: their numbers go to the totals, their
 * entries away (memory stays bounded however many workers come and go). */
static void retire(struct session *s, const struct report *r)
{
	pid_t *pids = calloc(r->n_procs ? r->n_procs : 1, sizeof(*pids));
	unsigned n = 0;

	for (unsigned i = 0; i < r->n_procs; i++) {
		const struct proc_report *p = &r->procs[i];
		struct tracked *t = find_tracked(s, p->pid);
		struct retired_totals *rt = &s->retired;

		if (!t || !retirable(t) || p->state == PROC_RUNNING)
			continue;
		rt->processes++;
		for (unsigned g = 0; g < PMT_GENERATIONS; g++)
			rt->gc_collections[g] += p->stats.gc[g].collections;
		rt->arenas_allocated += p->stats.arena_allocs;
		rt->mmap_bytes += p->stats.mmap_anon.bytes + p->stats.mmap_file.bytes;
		rt->lost += proc_report_lost_total(p);
		retired_totals_add(rt, p);
		pr_debug("pid %d retired (reported as %s)", (int)t->pid, proc_state_name(p->state));
		if (pids)
			pids[n++] = t->pid;
		remove_tracked(s, t);
	}
	sweep_stacks(s, pids, n);
	free(pids);
}

/* The CPU time every process used while traced: the tracked ones, and
 * the retired ones' totals.  false if none is known. */
static bool traced_cpu(const struct session *s, double *seconds)
{
	bool any = false;
	double one;

	*seconds = 0;
	for (unsigned i = 0; i < s->n_procs; i++)
		if (tracked_cpu(&s->procs[i], &one)) {
			*seconds += one;
			any = true;
		}
	for (unsigned i = 0; i < s->retired.n_groups; i++)
		if (s->retired.groups[i].cpu_valid) {
			*seconds += s->retired.groups[i].cpu_seconds;
			any = true;
		}
	return any;
}

/* The probe hits so far and what they cost the traced processes
 * (trap_cost.h); everything of o but the CPU time. */
static void probes_cost(struct session *s, struct overhead_report *o)
{
	const struct trap_cost *c = &s->trap_cost;
	uint64_t ns, runs, ns_by_handler[PMT_H_NR];

	memset(o, 0, sizeof(*o));
	o->cost = *c;
	if (trap_cost__hits(s->skel, o->hits)) {
		fmt_msg(o->why, sizeof(o->why), "cannot read the probe hit counters");
		return;
	}
	o->counted = true;
	o->uncounted = s->uncounted;
	for (unsigned h = PMT_H_NONE + 1; h < PMT_H_NR; h++) {
		if (trap_cost__is_own(h))
			continue;
		/* a return probe alone at its entry pays an entry trap too */
		if (trap_cost__is_return(h))
			o->return_hits += o->hits[h];
		if (!trap_cost__is_return(h) || trap_cost__return_only(h))
			o->entry_hits += o->hits[h];
	}
	if (!c->measured)
		return;
	o->trap_seconds = (o->entry_hits * c->entry_ns + o->return_hits * c->return_ns) / 1e9;
	/* With the kernel timing BPF programs: the traps alone (the
	 * calibration's dispatch time taken out of its per-hit cost), plus
	 * what the programs took on the targets' hits (every run but the
	 * calibration's).
	 * The basis is the calibration's: timed if the kernel timed BPF then,
	 * whatever the sysctl says later (a Prometheus counter must not go
	 * down); a program run while the sysctl is off adds nothing, so the
	 * estimate stays a lower bound. */
	if (c->bpf_stats && c->calib_bpf_runs) {
		double per_run = (double)c->calib_bpf_ns / c->calib_bpf_runs;

		if (trap_cost__bpf_time(s->skel, &ns, &runs) && ns > s->bpf_ns_seen)
			s->bpf_ns_seen = ns;
		if (s->bpf_ns_seen < c->calib_bpf_ns)
			s->bpf_ns_seen = c->calib_bpf_ns;
		o->bpf_timed = true;
		o->bpf_seconds = (s->bpf_ns_seen - c->calib_bpf_ns) / 1e9;
		o->trap_seconds -= (o->entry_hits + o->return_hits) * per_run / 1e9;
		if (o->trap_seconds < 0)
			o->trap_seconds = 0;
	}
	/* Without the kernel's figures, the GC handlers' own (trap_cost.h). */
	if (!o->bpf_timed && !trap_cost__handler_ns(s->skel, ns_by_handler)) {
		o->gc_handlers_timed = true;
		for (unsigned h = PMT_H_NONE + 1; h < PMT_H_NR; h++)
			if (trap_cost__is_gc(h))
				o->gc_handlers_seconds += ns_by_handler[h] / 1e9;
	}
	o->estimate_seconds = o->trap_seconds + o->bpf_seconds + o->gc_handlers_seconds;
}

static void fill_overhead(struct session *s, struct report *r)
{
	struct overhead_report *o = &r->overhead;

	probes_cost(s, o);
	if (o->counted)
		o->target_cpu_valid = traced_cpu(s, &o->target_cpu_seconds);
	o->budget_pct = s->budget.pct;
	o->budget_exceeded = s->budget.exceeded;
	o->budget_share = s->budget.share;
	o->budget_window_s = s->budget.window_s;
	o->budget_at_seconds = s->budget.exceeded ? s->budget.at_s - s->t0 : 0;
}

/* --max-overhead, once a second: true when the trace must end. */
static bool over_budget(struct session *s)
{
	struct overhead_report o;
	double cpu;

	if (!s->budget.pct || now_s() - s->budget.t < OVERHEAD_BUDGET_WINDOW_S)
		return false;
	probes_cost(s, &o);
	if (!o.cost.measured || !traced_cpu(s, &cpu))
		return false;
	if (!overhead_budget__check(&s->budget, now_s(), o.estimate_seconds, cpu))
		return false;
	pr_warn("the probes cost the traced processes at least %.1f%% of their CPU over the last "
		"%.1f s, over --max-overhead %u%%: the trace ends here", 100 * s->budget.share,
		s->budget.window_s, s->budget.pct);
	return true;
}

int session__report(struct session *s, struct report *r, bool final)
{
	double now = now_s();

	memset(r, 0, sizeof(*r));
	r->final = final;
	r->census = s->opts.census;
	r->elapsed_seconds = now - s->t0;
	r->ringbuf_drops = s->skel->bss->global_ringbuf_drops;
	{
		struct rusage ru;

		if (!getrusage(RUSAGE_SELF, &ru)) {
			r->tracer.valid = true;
			r->tracer.attach_seconds = (s->t_run ? s->t_run : now) - s->t0;
			r->tracer.cpu_seconds = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
						ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
			r->tracer.peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024;
		}
	}
	if (!s->n_procs)
		goto events;
	r->procs = calloc(s->n_procs, sizeof(*r->procs));
	if (!r->procs)
		return -ENOMEM;
	for (unsigned i = 0; i < s->n_procs; i++)
		fill_proc(s, &s->procs[i], &r->procs[r->n_procs++], now);
events:
	fill_events(s, r);
	fill_overhead(s, r);
	fill_gc_budget(s, r);
	r->retired = s->retired;
	r->forks_followed = s->forks_followed;
	r->forks_missed = s->forks_missed;
	r->forks_execd = s->forks_execd;
	r->all_path = s->have_all ? s->all_plan.interp.map_path : NULL;
	r->all_untracked = s->all_missed + s->skel->bss->all_untracked;
	if (!final)
		retire(s, r);
	return 0;
}
