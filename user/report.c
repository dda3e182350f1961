/* Helpers on the report struct: see report.h. */
#include <stdlib.h>
#include <string.h>
#include "report.h"

/* Saturating: a wrapped total would print a small, believable number. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

uint64_t proc_report_lost_total(const struct proc_report *p)
{
	uint64_t t = 0;

	if (!p)
		return 0;
	t = add_sat(t, p->lost.ringbuf_drops);
	t = add_sat(t, p->lost.pending_full);
	t = add_sat(t, p->lost.gc_unmatched);
	t = add_sat(t, p->lost.gc_bad_generation);
	t = add_sat(t, p->lost.probes_failed);
	t = add_sat(t, p->lost.events_dropped);
	t = add_sat(t, p->lost.forks_untracked);
	/* --alloc losses: zero when allocation tracing is off. */
	t = add_sat(t, p->alloc.lost.live_map_full);
	t = add_sat(t, p->alloc.lost.stack_map_full);
	t = add_sat(t, p->alloc.lost.truncated_stacks);
	t = add_sat(t, p->alloc.lost.stack_errors);
	t = add_sat(t, p->alloc.lost.unresolved_frames);
	/* --heap-growth shares the stack counters with --alloc */
	t = add_sat(t, p->growth.lost.no_stack);
	if (!p->alloc.enabled) {
		t = add_sat(t, p->growth.lost.stack_map_full);
		t = add_sat(t, p->growth.lost.truncated_stacks);
		t = add_sat(t, p->growth.lost.stack_errors);
	}
	return t;
}

bool proc_report_group_unavailable(const struct proc_report *p, const char *prefix)
{
	size_t len = strlen(prefix);
	unsigned n = p->n_probes < PMT_MAX_PROBES ? p->n_probes : PMT_MAX_PROBES;
	bool seen = false;

	for (unsigned i = 0; i < n; i++) {
		if (strncmp(p->probes[i].name, prefix, len))
			continue;
		if (p->probes[i].attached)
			return false;
		seen = true;
	}
	return seen;
}

const char *proc_state_name(enum proc_state s)
{
	switch (s) {
	case PROC_RUNNING:
		return "running";
	case PROC_EXITED:
		return "exited";
	case PROC_EXECED:
		return "exec";
	case PROC_DETACHED:
		return "detached";
	}
	return "unknown";
}

static void alloc_stack_release(struct alloc_stack *s)
{
	if (s->python)
		for (unsigned i = 0; i < s->n_python; i++) {
			free(s->python[i].file);
			free(s->python[i].function);
		}
	free(s->python);
	if (s->native)
		for (unsigned i = 0; i < s->n_native; i++)
			free(s->native[i]);
	free(s->native);
	s->python = NULL;
	s->native = NULL;
	s->n_python = s->n_native = 0;
}

/* Everything a report owns is heap memory: each stack's strings and arrays,
 * each process's stacks array, and r->procs itself, which is freed here too,
 * so that callers call this instead of free(r->procs).  The report is left
 * empty (procs NULL, n_procs 0), so a second call is harmless. */
void report_release(struct report *r)
{
	if (!r)
		return;
	for (unsigned i = 0; r->procs && i < r->n_procs; i++) {
		struct alloc_report *a = &r->procs[i].alloc;

		for (unsigned k = 0; a->stacks && k < a->n_stacks; k++)
			alloc_stack_release(&a->stacks[k]);
		free(a->stacks);
		a->stacks = NULL;
		a->n_stacks = 0;

		struct growth_report *g = &r->procs[i].growth;

		for (unsigned k = 0; g->stacks && k < g->n_stacks; k++)
			alloc_stack_release(&g->stacks[k].stack);
		free(g->stacks);
		g->stacks = NULL;
		g->n_stacks = 0;
	}
	free(r->procs);
	r->procs = NULL;
	r->n_procs = 0;
}
