/* Plans built ahead of attaching: see plan_ahead.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plan_ahead.h"

struct planned {
	pid_t pid;
	struct plan plan;
	int ret;
	char err[512];
	bool taken;
};

struct plan_ahead {
	pthread_t thread;
	bool joined;
	struct plan_opts opts;
	struct planned *v;
	unsigned n;
};

static void *plan_all(void *arg)
{
	struct plan_ahead *pa = arg;

	for (unsigned i = 0; i < pa->n; i++) {
		struct planned *q = &pa->v[i];

		q->ret = plan__build(q->pid, &pa->opts, &q->plan, q->err, sizeof(q->err));
		/* one copy of an interpreter file at a time, not one per
		 * target: the add reads it again (interp__recheck_image) */
		if (!q->ret)
			interp__drop_image(&q->plan.interp);
	}
	return NULL;
}

struct plan_ahead *plan_ahead__start(const pid_t *pids, unsigned n, const struct plan_opts *opts)
{
	struct plan_ahead *pa;

	if (!n || !(pa = calloc(1, sizeof(*pa))))
		return NULL;
	pa->v = calloc(n, sizeof(*pa->v));
	if (!pa->v) {
		free(pa);
		return NULL;
	}
	pa->opts = *opts;
	pa->n = n;
	for (unsigned i = 0; i < n; i++)
		pa->v[i].pid = pids[i];
	if (pthread_create(&pa->thread, NULL, plan_all, pa)) {
		free(pa->v);
		free(pa);
		return NULL;
	}
	return pa;
}

static void join(struct plan_ahead *pa)
{
	if (!pa->joined) {
		pthread_join(pa->thread, NULL);
		pa->joined = true;
	}
}

static bool same_opts(const struct plan_opts *a, const struct plan_opts *b)
{
	return a->alloc == b->alloc && a->heap_growth == b->heap_growth &&
	       a->growth_arenas == b->growth_arenas && a->uprobe_multi == b->uprobe_multi;
}

bool plan_ahead__take(struct plan_ahead *pa, pid_t pid, const struct plan_opts *opts,
		      struct plan *p, int *ret, char *err, size_t errlen)
{
	if (!pa || !same_opts(&pa->opts, opts))
		return false;
	for (unsigned i = 0; i < pa->n; i++) {
		struct planned *q = &pa->v[i];

		if (q->pid != pid || q->taken)
			continue;
		join(pa);
		q->taken = true;
		*ret = q->ret;
		if (q->ret) {
			snprintf(err, errlen, "%s", q->err);
			memset(p, 0, sizeof(*p));
		} else {
			plan__move(p, &q->plan);
		}
		return true;
	}
	return false;
}

int plan_ahead__first_error(struct plan_ahead *pa, char *err, size_t errlen)
{
	if (!pa)
		return 0;
	join(pa);
	for (unsigned i = 0; i < pa->n; i++) {
		if (pa->v[i].ret && !pa->v[i].taken) {
			snprintf(err, errlen, "%s", pa->v[i].err);
			return pa->v[i].ret;
		}
	}
	return 0;
}

void plan_ahead__free(struct plan_ahead *pa)
{
	if (!pa)
		return;
	join(pa);
	for (unsigned i = 0; i < pa->n; i++)
		if (!pa->v[i].taken && !pa->v[i].ret)
			plan__release(&pa->v[i].plan);
	free(pa->v);
	free(pa);
}
