/* A tracing session: the loaded BPF object, the traced processes, the event
 * loop and the assembly of reports from the maps and /proc.
 *
 * Lifecycle: session__new (open, size, load, attach the global hooks) ->
 * session__add for each pid -> session__run -> session__report -> session__free.
 */
#ifndef PMT_SESSION_H
#define PMT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "report.h"

struct session;

struct session_opts {
	unsigned max_procs, max_threads, ringbuf_kb;
	bool alloc;               /* --alloc */
	bool heap_growth;         /* --heap-growth */
	bool growth_arenas;       /* --heap-growth counts arenas (the default; not =pools) */
	unsigned sample_every, max_live, max_stacks, top;
	/* --sample-window / --sample-period: the allocation probes armed for
	 * window_ms every period_ms (jittered, alloc_window.h); 0: always */
	unsigned window_ms, period_ms;
	unsigned native_depth;    /* 1: the caller's address only; more: a stack map walk */
	double duration;          /* 0: until a signal or all targets exited */
	double interval;          /* 0: no interval reports */
	/* Follow fork: a child of a traced process is traced too (its own
	 * entry, its own uprobes).  Off: --no-follow. */
	bool follow;
	/* --all PATH: the probes of this interpreter file for every process
	 * (session__add_all); processes are entered at their first probe hit. */
	const char *all_path;
	/* Targets to plan before any is attached (plan_ahead.h; borrowed, may
	 * be none): while the BPF object loads if plan_during_load, else once
	 * it is loaded.  Each is still added by session__add; see
	 * session__check_planned. */
	const pid_t *plan_pids;
	unsigned n_plan_pids;
	bool plan_during_load;
	/* --events: the writer (borrowed; the caller opens and closes it), or
	 * NULL: the BPF side then streams only exit and exec. */
	struct events_out *events;
	void (*on_interval)(const struct report *r, void *ctx);
	void *ctx;
	/* An extra event source for the loop (the Prometheus server), or
	 * poll_run NULL for none: the loop also waits for input on poll_fd,
	 * for at most poll_timeout_ms(poll_ctx) ms (-1: no limit of its own),
	 * and calls poll_run(poll_ctx) after every wait.  poll_run may call
	 * session__report. */
	int poll_fd;
	int (*poll_timeout_ms)(void *poll_ctx);
	void (*poll_run)(void *poll_ctx);
	void *poll_ctx;
	/* --census (census_trace.h, borrowed) or NULL: passed on in each
	 * report for the writers. */
	struct census_trace *census;
	/* --max-overhead (overhead_budget.h): 1..100, 0 for none.  The run
	 * ends early, with a warning, once a second's probes cost the traced
	 * processes this share of their CPU; the report says so
	 * (overhead.budget_exceeded).  session__new fails (-EOPNOTSUPP) when
	 * the cost cannot be measured. */
	unsigned max_overhead_pct;
	/* --gc-budget (gc_budget.h): percent of the traced processes' CPU the
	 * GC probes may cost before collections are timed in windows; 0: time
	 * every collection */
	double gc_budget_pct;
};

/* NULL and -errno in *errp, with the reason in err. */
struct session *session__new(const struct session_opts *opts, int *errp, char *err, size_t errlen);
void session__free(struct session *s);

/* Starts tracing pid (found and planned with plan.h).  is_child: pymemtrace
 * launched it and will reap it.  0, or -errno with the reason in err (the
 * codes of interp__find, or -ENOSPC when --max-procs is reached). */
int session__add(struct session *s, pid_t pid, bool is_child, char *err, size_t errlen);

/* Waits for the plans of opts.plan_pids; returns the first failure's
 * negative errno, as session__add would for that target, with its reason
 * in err, or 0.  Called before session__add, a bad target among several
 * fails the start before any target is probed. */
int session__check_planned(struct session *s, char *err, size_t errlen);
/* Test knob: the file session__check_planned waits for once every target is
 * planned, before returning (README "Test knobs"). */
#define PMT_ENV_AFTER_PLANS "PYMEMTRACE_TEST_AFTER_PLANS_WAIT"


/* --all: plans opts.all_path from the file and attaches its probes for
 * every process (pid -1).  0, or -errno with the reason in err (the codes
 * of interp__find_file). */
int session__add_all(struct session *s, char *err, size_t errlen);

/* The hold-at-entry probe for a launched command (launch.h): 0 or -errno.
 * session__unhold removes it as soon as the child is held (or gone), so it
 * never costs anything at exit. */
int session__hold(struct session *s, pid_t pid, const char *path, uint64_t off);
void session__unhold(struct session *s);

/* Runs until the duration passes, SIGINT/SIGTERM arrives (session__stop),
 * or every traced process has exited or exec'd.  With --events it drains
 * the ring at least every 100 ms and hands the records to the writer; on
 * return every record has been handed over (the caller then closes the
 * writer, before the final session__report, so that its counts are final).
 * 0 or -errno. */
int session__run(struct session *s);
/* Async-signal-safe. */
void session__stop(void);

/* Removes every probe and hook (the maps stay readable for session__report)
 * and says on stderr, unless -q, how long that took:
 *   pymemtrace: detached N probes in X.Y ms
 * N counts probed addresses (each offset of a uprobe_multi link, each
 * perf-event uprobe or USDT site) and the system-wide hooks; the time
 * includes detaches done earlier when a target exited or exec'd.
 * Idempotent. */
void session__detach(struct session *s);

/* Fills r from the maps and /proc; release it with report_release().
 * Retirement: the processes that r shows as ended (exited, exec'd) are then
 * removed from the session and from the maps, their numbers kept only in
 * the totals (r->retired of later reports), unless final. */
int session__report(struct session *s, struct report *r, bool final);

#endif
