// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* --census in a trace: the worker and the writers.  See census_trace.h. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "census_out.h"
#include "census_pymalloc.h"
#include "census_trace.h"
#include "clock.h"
#include "interp.h"
#include "json_writer.h"
#include "log.h"
#include "report.h"
#include "units.h"

/* One census, published whole: never changed after the worker installs it. */
struct census_result {
	struct census_gc gc;
	struct pymalloc_census pm;
	bool have_pm;
	char pm_why[256];
	char version[32];
	double taken_at;          /* CLOCK_MONOTONIC seconds, when it ended */
};

/* Failed first censuses retried after CENSUS_TRACE_MIN_INTERVAL, not after
 * the whole interval. */
#define EARLY_RETRIES 5

struct watched {
	pid_t pid;
	bool running;             /* false: ended, no more census */
	double next_at;           /* the next census is due */
	unsigned taken, failed;
	struct census_result *last;
	char why[256];            /* why there is no census (yet), when last is NULL */
};

struct census_trace {
	struct census_trace_opts o;
	pthread_t worker;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool started;             /* the worker runs */
	struct watched procs[CENSUS_TRACE_MAX_PROCS];
	unsigned n_procs;
	unsigned skipped_procs;   /* running, traced, without a slot at the last sync */
	bool warned_full;
};

static void result_free(struct census_result *res)
{
	if (!res)
		return;
	census_gc__free(&res->gc);
	free(res);
}

/* Takes one census of pid, without the lock.  The result, or NULL with the
 * reason in why. */
static struct census_result *take(const struct census_trace_opts *o, pid_t pid,
				  char *why, size_t whylen)
{
	struct census_result *res = calloc(1, sizeof(*res));
	struct interp in;
	int err;

	if (!res) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	err = interp__find(pid, &in, why, whylen);
	if (err) {
		free(res);
		return NULL;
	}
	snprintf(res->version, sizeof(res->version), "%s", in.version_str);
	err = census_gc__take(&in, pid, &o->walk, &res->gc, why, whylen);
	if (!err && o->walk.cancel && __atomic_load_n(o->walk.cancel, __ATOMIC_RELAXED)) {
		/* stopped by census_trace__free: not a census to publish */
		census_gc__free(&res->gc);
		snprintf(why, whylen, "cancelled at exit");
		err = -ECANCELED;
	}
	if (!err)
		res->have_pm = !pymalloc_census__take(&in, pid, &res->pm, res->pm_why,
						      sizeof(res->pm_why));
	interp__release(&in);
	if (err) {
		free(res);
		return NULL;
	}
	res->taken_at = now_s();
	return res;
}

/* The running process whose census is most overdue, or NULL; *wait_s set to
 * the time until the next one is due otherwise.  Under the lock. */
static struct watched *next_due(struct census_trace *ct, double now, double *wait_s)
{
	struct watched *best = NULL;

	*wait_s = 1.0;
	for (unsigned i = 0; i < ct->n_procs; i++) {
		struct watched *w = &ct->procs[i];

		if (!w->running)
			continue;
		if (w->next_at <= now) {
			if (!best || w->next_at < best->next_at)
				best = w;
		} else if (w->next_at - now < *wait_s) {
			*wait_s = w->next_at - now;
		}
	}
	return best;
}

static void *worker(void *arg)
{
	struct census_trace *ct = arg;

	pthread_mutex_lock(&ct->lock);
	while (!ct->stop) {
		double wait_s, now = now_s();
		struct watched *w = next_due(ct, now, &wait_s);
		struct census_result *res, *old = NULL;
		char why[256] = "";
		pid_t pid;

		if (!w) {
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += (time_t)wait_s;
			until.tv_nsec += (long)((wait_s - (double)(time_t)wait_s) * 1e9);
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&ct->wake, &ct->lock, &until);
			continue;
		}
		pid = w->pid;
		/* Due again one interval after this one ends, not after it
		 * starts: a slow census never runs back to back. */
		w->next_at = now + ct->o.interval_s;
		pthread_mutex_unlock(&ct->lock);
		res = take(&ct->o, pid, why, sizeof(why));
		pthread_mutex_lock(&ct->lock);
		/* The entry is found again by pid (the array may not be
		 * looked at unlocked): an ended process's slot may have gone
		 * to another meanwhile, and then this result is dropped. */
		for (unsigned i = 0; i < ct->n_procs; i++) {
			if (ct->procs[i].pid != pid)
				continue;
			w = &ct->procs[i];
			w->next_at = now_s() + ct->o.interval_s;
			if (res) {
				old = w->last;
				w->last = res;
				w->taken++;
				res = NULL;
			} else {
				w->failed++;
				snprintf(w->why, sizeof(w->why), "%s", why);
				/* A process just launched may not have its
				 * interpreter up yet: try again soon, a few
				 * times (an unsupported one fails for good). */
				if (!w->last && w->failed <= EARLY_RETRIES)
					w->next_at = now_s() + CENSUS_TRACE_MIN_INTERVAL;
			}
			break;
		}
		if (old || res) {
			/* Freed without the lock: the writers never see them now. */
			pthread_mutex_unlock(&ct->lock);
			result_free(old);
			result_free(res);
			pthread_mutex_lock(&ct->lock);
		}
	}
	pthread_mutex_unlock(&ct->lock);
	return NULL;
}

struct census_trace *census_trace__new(const struct census_trace_opts *o, char *err,
				       size_t errlen)
{
	struct census_trace *ct = calloc(1, sizeof(*ct));
	pthread_condattr_t ca;

	if (!ct) {
		snprintf(err, errlen, "--census: out of memory");
		return NULL;
	}
	ct->o = *o;
	ct->o.walk.cancel = &ct->stop;
	if (!ct->o.walk.max_ms)
		ct->o.walk.max_ms = CENSUS_TRACE_DEFAULT_MAX_MS;
	pthread_mutex_init(&ct->lock, NULL);
	pthread_condattr_init(&ca);
	/* The waits are deadlines on the clock of next_at. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ct->wake, &ca);
	pthread_condattr_destroy(&ca);
	return ct;
}

int census_trace__start(struct census_trace *ct, char *err, size_t errlen)
{
	sigset_t all, old;
	int e;

	/* Signals (SIGINT, SIGCHLD) stay with the main thread, whose loop
	 * they must wake: the worker blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&ct->worker, NULL, worker, ct);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		snprintf(err, errlen, "--census: cannot start its thread: %s", strerror(e));
		return -e;
	}
	ct->started = true;
	return 0;
}

void census_trace__free(struct census_trace *ct)
{
	if (!ct)
		return;
	pthread_mutex_lock(&ct->lock);
	/* Also read, without the lock, by a walk under way (census_gc_opts). */
	__atomic_store_n(&ct->stop, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&ct->wake);
	pthread_mutex_unlock(&ct->lock);
	if (ct->started)
		pthread_join(ct->worker, NULL);
	for (unsigned i = 0; i < ct->n_procs; i++)
		result_free(ct->procs[i].last);
	pthread_cond_destroy(&ct->wake);
	pthread_mutex_destroy(&ct->lock);
	free(ct);
}

static struct watched *find(struct census_trace *ct, pid_t pid)
{
	for (unsigned i = 0; i < ct->n_procs; i++)
		if (ct->procs[i].pid == pid)
			return &ct->procs[i];
	return NULL;
}

/* A slot for a new process: an unused one, else that of a process that
 * ended (worker recycling would otherwise use up the slots with processes
 * long gone).  NULL when CENSUS_TRACE_MAX_PROCS run at once.  Under the lock. */
static struct watched *free_slot(struct census_trace *ct)
{
	if (ct->n_procs < CENSUS_TRACE_MAX_PROCS)
		return &ct->procs[ct->n_procs++];
	for (unsigned i = 0; i < ct->n_procs; i++)
		if (!ct->procs[i].running)
			return &ct->procs[i];
	return NULL;
}

/* pid runs: it has a slot, or gets one (an ended process under the same
 * pid is another process: its census starts afresh).  False when all
 * slots are taken by running processes.  Under the lock. */
static bool watch_locked(struct census_trace *ct, pid_t pid)
{
	struct watched *w = find(ct, pid);

	if (w && w->running)
		return true;
	if (!w)
		w = free_slot(ct);
	if (!w) {
		if (!ct->warned_full)
			pr_warn("--census: more than %d processes at once; pid %d and others "
				"get no census while they all run (counted in the report)",
				CENSUS_TRACE_MAX_PROCS, (int)pid);
		ct->warned_full = true;
		return false;
	}
	/* Freed under the lock: only the writers, under it too, read it. */
	result_free(w->last);
	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->running = true;
	w->next_at = now_s();
	snprintf(w->why, sizeof(w->why), "no census taken yet (the first is under way)");
	pthread_cond_signal(&ct->wake);
	return true;
}

void census_trace__watch(struct census_trace *ct, pid_t pid)
{
	if (!ct || pid <= 0)
		return;
	pthread_mutex_lock(&ct->lock);
	watch_locked(ct, pid);
	pthread_mutex_unlock(&ct->lock);
}

/* The report names the processes traced now: those running keep or get a
 * slot; the others, ended or retired (no longer in it), free theirs. */
void census_trace__sync(struct census_trace *ct, const struct report *r)
{
	unsigned skipped = 0;

	if (!ct || !r)
		return;
	pthread_mutex_lock(&ct->lock);
	for (unsigned i = 0; i < ct->n_procs; i++) {
		struct watched *w = &ct->procs[i];
		bool running = false;

		for (unsigned j = 0; r->procs && j < r->n_procs; j++)
			if (r->procs[j].pid == w->pid) {
				running = r->procs[j].state == PROC_RUNNING;
				break;
			}
		if (!running)
			w->running = false;
	}
	for (unsigned i = 0; r->procs && i < r->n_procs; i++)
		if (r->procs[i].state == PROC_RUNNING && !watch_locked(ct, r->procs[i].pid))
			skipped++;
	ct->skipped_procs = skipped;
	pthread_mutex_unlock(&ct->lock);
}

static struct census_view view_of(const struct census_trace *ct, const struct watched *w,
				  double now)
{
	const struct census_result *res = w->last;

	return (struct census_view){
		.pid = w->pid,
		.version = res->version,
		.gc = &res->gc,
		.top = ct->o.top,
		.pymalloc = res->have_pm ? &res->pm : NULL,
		.pymalloc_why = res->pm_why,
		.has_age = true,
		.age_s = now > res->taken_at ? now - res->taken_at : 0,
	};
}

int census_trace__prom(FILE *f, void *ctx)
{
	struct census_trace *ct = ctx;
	struct census_view v[CENSUS_TRACE_MAX_PROCS];
	double now = now_s();
	size_t n = 0;
	int err = 0;

	if (!ct)
		return 0;
	pthread_mutex_lock(&ct->lock);
	for (unsigned i = 0; i < ct->n_procs; i++)
		if (ct->procs[i].running && ct->procs[i].last)
			v[n++] = view_of(ct, &ct->procs[i], now);
	if (n)
		err = census_out__prom(f, v, n);
	/* Always there with --census: 0 says every process has its census. */
	if (!err && fprintf(f, "# HELP pymemtrace_census_skipped_processes Traced processes "
			    "without a census: more than %d ran at once.\n# TYPE "
			    "pymemtrace_census_skipped_processes gauge\n"
			    "pymemtrace_census_skipped_processes %u\n", CENSUS_TRACE_MAX_PROCS,
			    ct->skipped_procs) < 0)
		err = -EIO;
	pthread_mutex_unlock(&ct->lock);
	return err;
}

void census_trace__json(struct census_trace *ct, struct jw *w, pid_t pid)
{
	const struct watched *p;

	if (!ct)
		return;
	pthread_mutex_lock(&ct->lock);
	p = find(ct, pid);
	if (!p || !p->last) {
		char why[128];

		snprintf(why, sizeof(why), "more traced processes at once than --census covers "
			 "(%d); %u without a census", CENSUS_TRACE_MAX_PROCS, ct->skipped_procs);
		jw_kv_null(w, "census");
		jw_kv_string(w, "census_reason", p ? p->why : why);
	} else {
		struct census_view v = view_of(ct, p, now_s());
		const struct census_gc *c = &p->last->gc;

		jw_key(w, "census");
		jw_object_begin(w);
		jw_kv_double(w, "age_seconds", v.age_s);
		jw_kv_u64(w, "taken", p->taken);
		jw_kv_u64(w, "failed", p->failed);
		jw_kv_u64(w, "objects", c->objects);
		jw_kv_u64(w, "bytes", c->bytes);
		jw_kv_u64(w, "types_total", c->n_types);
		jw_kv_bool(w, "complete", census_gc__complete(c));
		jw_kv_bool(w, "stopped_early", c->stopped_early);
		jw_kv_double(w, "skipped_share", census_gc__skipped_share(c));
		jw_kv_double(w, "elapsed_ms", c->elapsed_us / 1000.0);
		census_out__json_types(w, c, ct->o.top);
		if (v.pymalloc) {
			const struct pymalloc_census *pm = v.pymalloc;

			jw_key(w, "pymalloc");
			jw_object_begin(w);
			jw_kv_u64(w, "arena_bytes", pm->arena_bytes);
			jw_kv_u64(w, "used_bytes", pm->used_bytes);
			jw_kv_u64(w, "empty_pool_bytes", pm->empty_pool_bytes);
			jw_kv_double(w, "fragmentation", pymalloc_census__fragmentation(pm));
			jw_kv_bool(w, "complete", pm->complete);
			jw_object_end(w);
		} else {
			jw_kv_null(w, "pymalloc");
			jw_kv_string(w, "pymalloc_reason", v.pymalloc_why);
		}
		jw_object_end(w);
	}
	pthread_mutex_unlock(&ct->lock);
}

#define TEXT_TOP 5    /* the text report's census block stays short */
#define NAME_SHOWN 40
#define TEXT_INDENT 14  /* the text report's label column */

void census_trace__text(struct census_trace *ct, FILE *f, pid_t pid)
{
	char name[4 * NAME_SHOWN + 1];
	const struct watched *p;

	if (!ct)
		return;
	pthread_mutex_lock(&ct->lock);
	p = find(ct, pid);
	if (!p || !p->last) {
		fprintf(f, "%-*snone: %s\n", TEXT_INDENT, "census", p ? p->why :
			"more traced processes at once than --census covers");
	} else {
		const struct census_gc *c = &p->last->gc;
		double age = now_s() - p->last->taken_at;

		fprintf(f, "%-*s%llu GC-tracked objects in %zu types, %.0f s ago%s\n",
			TEXT_INDENT, "census", (unsigned long long)c->objects, c->n_types, age > 0 ? age : 0,
			census_gc__complete(c) ? "" : " (incomplete)");
		for (size_t i = 0; i < c->n_types && i < TEXT_TOP && i < ct->o.top; i++) {
			/* the target names its types: shown sanitized */
			units_sanitize(name, sizeof(name), c->types[i].name, NAME_SHOWN);
			fprintf(f, "%*s%-40s %12llu\n", TEXT_INDENT, "", name,
				(unsigned long long)c->types[i].count);
		}
		if (p->last->have_pm)
			fprintf(f, "%*spymalloc: %llu of %llu arena bytes in live blocks\n",
				TEXT_INDENT, "",
				(unsigned long long)p->last->pm.used_bytes,
				(unsigned long long)p->last->pm.arena_bytes);
	}
	pthread_mutex_unlock(&ct->lock);
}
