/* --census in a trace: a heap census (user/census_gc.c and the pymalloc
 * census) of each traced process, at most every --census-interval seconds,
 * served with the trace's report (Prometheus gauges, JSON, text).
 *
 * Threads: one worker of its own.  A census reads the target's memory for
 * up to the walk's max time (a million objects take seconds), and the
 * session's event loop answers scrapes and drains the ring buffer: it must
 * not wait that long.  So the worker takes the censuses and publishes each
 * result as a whole (immutable once published) under a mutex; the writers
 * below take the same mutex only to format the last results, which takes
 * no I/O with the target.  The worker never touches the session: it knows
 * the pids it is given (census_trace__watch, census_trace__sync) and finds
 * each interpreter itself (interp__find), read-only.
 *
 * Limits: at most CENSUS_TRACE_MAX_PROCS processes running at once get a
 * census (an ended process's slot goes to the next); more are counted
 * (`skipped_procs`, the pymemtrace_census_skipped_processes gauge) and said
 * in the report, never dropped silently.
 * census_trace__free cancels a census in progress (the GC walk stops
 * within a few thousand objects; a pymalloc walk under way finishes).
 */
#ifndef PMT_CENSUS_TRACE_H
#define PMT_CENSUS_TRACE_H

#include <stdio.h>
#include <sys/types.h>
#include "census_gc.h"

struct census_trace;
struct report;
struct jw;

#define CENSUS_TRACE_MAX_PROCS   64
#define CENSUS_TRACE_MIN_INTERVAL 2.0
#define CENSUS_TRACE_DEFAULT_INTERVAL 60.0
/* A census in a trace stops after this long unless the options say
 * otherwise (as the census command's).  The exit does not wait for it: it
 * cancels a walk under way (census_gc_opts.cancel). */
#define CENSUS_TRACE_DEFAULT_MAX_MS 30000

struct census_trace_opts {
	double interval_s;        /* >= CENSUS_TRACE_MIN_INTERVAL */
	unsigned top;             /* types in gauges, JSON and text */
	struct census_gc_opts walk;
};

/* The state, no thread yet: NULL with the reason in err. */
struct census_trace *census_trace__new(const struct census_trace_opts *o, char *err,
				       size_t errlen);
/* Starts the worker: after the capabilities are dropped (privileges.h),
 * since a thread keeps the capability sets it was created with.  0, or
 * -errno with the reason in err.  Pids watched before wait for it. */
int census_trace__start(struct census_trace *ct, char *err, size_t errlen);
/* Stops the worker (waiting for a census in progress) and frees all.
 * NULL is fine. */
void census_trace__free(struct census_trace *ct);

/* Adds pid to the processes that get a census (its first one soon). */
void census_trace__watch(struct census_trace *ct, pid_t pid);
/* From a report: running processes are watched (followed forks come in
 * this way), ended ones get no more census (their last stays for JSON). */
void census_trace__sync(struct census_trace *ct, const struct report *r);

/* The gauges of every running process's last census (census_out__prom),
 * nothing when none has one yet; ctx is the struct census_trace (the shape
 * of prom_opts.extra).  0 or -EIO. */
int census_trace__prom(FILE *f, void *ctx);
/* Writes the member "census" of pid's processes[] object: the last census
 * (types top N, pymalloc summary), or null and a "census_reason" member. */
void census_trace__json(struct census_trace *ct, struct jw *w, pid_t pid);
/* A short census block for pid in the text report. */
void census_trace__text(struct census_trace *ct, FILE *f, pid_t pid);

#endif
