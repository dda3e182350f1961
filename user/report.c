/* Helpers on the report struct: see report.h. */
#include <stdlib.h>
#include <string.h>
#include "lost.h"
#include "report.h"

/* Saturating: a wrapped total would print a small, believable number. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

uint64_t proc_report_lost_total(const struct proc_report *p)
{
	uint64_t t = 0;

	for (unsigned r = 0; p && r < LOST_NR; r++)
		t = add_sat(t, lost_count(p, r));
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

static void sys_stats_add(struct pmt_sys_stats *a, const struct pmt_sys_stats *b)
{
	a->calls += b->calls;
	a->bytes += b->bytes;
}

void proc_stats_add(struct pmt_proc_stats *a, const struct pmt_proc_stats *b)
{
	for (unsigned g = 0; g < PMT_GENERATIONS; g++) {
		a->gc[g].collections += b->gc[g].collections;
		a->gc[g].pause_total_ns += b->gc[g].pause_total_ns;
		if (b->gc[g].pause_max_ns > a->gc[g].pause_max_ns)
			a->gc[g].pause_max_ns = b->gc[g].pause_max_ns;
		a->gc[g].collected += b->gc[g].collected;
		for (unsigned i = 0; i < PMT_HIST_SLOTS; i++)
			a->gc[g].hist[i] += b->gc[g].hist[i];
	}
	a->arena_allocs += b->arena_allocs;
	a->arena_alloc_bytes += b->arena_alloc_bytes;
	a->arena_alloc_failed += b->arena_alloc_failed;
	a->arena_frees += b->arena_frees;
	a->arena_free_bytes += b->arena_free_bytes;
	sys_stats_add(&a->mmap_anon, &b->mmap_anon);
	sys_stats_add(&a->mmap_file, &b->mmap_file);
	sys_stats_add(&a->munmap, &b->munmap);
	sys_stats_add(&a->mremap, &b->mremap);
	sys_stats_add(&a->brk, &b->brk);
	a->syscalls_failed += b->syscalls_failed;
}

void retired_totals_add(struct retired_totals *rt, const struct proc_report *p)
{
	struct proc_report *g = NULL;
	unsigned i;

	for (i = 0; i < rt->n_groups; i++)
		if (!strncmp(rt->groups[i].version, p->version, sizeof(p->version))) {
			g = &rt->groups[i];
			break;
		}
	if (!g) {
		if (rt->n_groups < RETIRED_GROUPS_MAX) {
			i = rt->n_groups++;
			g = &rt->groups[i];
			memset(g, 0, sizeof(*g));
			memcpy(g->version, p->version, sizeof(g->version));
			g->state = PROC_EXITED;
			g->exit_status = -1;
			g->faults.valid = true;
			g->cache.supported = true;
		} else {
			i = RETIRED_GROUPS_MAX - 1;
			g = &rt->groups[i];
		}
	}
	rt->group_procs[i]++;
	proc_stats_add(&g->stats, &p->stats);
	if (p->faults.valid) {
		g->faults.minor += p->faults.minor;
		g->faults.major += p->faults.major;
	}
	if (p->cpu_valid) {
		g->cpu_seconds += p->cpu_seconds;
		g->cpu_valid = true;
	}
	g->cache.supported = g->cache.supported && p->cache.supported;
	g->cache.references += p->cache.references;
	g->cache.misses += p->cache.misses;
	g->lost.ringbuf_drops += p->lost.ringbuf_drops;
	g->lost.pending_full += p->lost.pending_full;
	g->lost.gc_unmatched += p->lost.gc_unmatched;
	g->lost.gc_bad_generation += p->lost.gc_bad_generation;
	g->lost.probes_failed += p->lost.probes_failed;
	g->lost.events_dropped += p->lost.events_dropped;
	g->lost.forks_untracked += p->lost.forks_untracked;
	g->limits.events = g->limits.events || p->limits.events;
	if (p->alloc.enabled) {
		g->alloc.enabled = true;
		g->alloc.count += p->alloc.count;
		g->alloc.bytes += p->alloc.bytes;
		g->alloc.frees += p->alloc.frees;
		g->alloc.freed_bytes += p->alloc.freed_bytes;
		g->alloc.coverage_known = p->alloc.coverage_known;
		g->alloc.coverage = p->alloc.coverage;
		g->alloc.lost.live_map_full += p->alloc.lost.live_map_full;
		g->alloc.lost.stack_map_full += p->alloc.lost.stack_map_full;
		g->alloc.lost.truncated_stacks += p->alloc.lost.truncated_stacks;
		g->alloc.lost.stack_errors += p->alloc.lost.stack_errors;
		g->alloc.lost.unresolved_frames += p->alloc.lost.unresolved_frames;
		g->alloc.lost.unreadable += p->alloc.lost.unreadable;
	}
	if (p->growth.enabled) {
		g->growth.enabled = true;
		for (unsigned k = 0; k < PMT_GROWTH_KINDS; k++) {
			g->growth.bytes[k] += p->growth.bytes[k];
			g->growth.events[k] += p->growth.events[k];
		}
		g->growth.lost.no_stack += p->growth.lost.no_stack;
		g->growth.lost.stack_map_full += p->growth.lost.stack_map_full;
		g->growth.lost.truncated_stacks += p->growth.lost.truncated_stacks;
		g->growth.lost.stack_errors += p->growth.lost.stack_errors;
	}
}

void report_totals(const struct report *r, struct report_totals *t)
{
	const struct retired_totals *rt = &r->retired;

	memset(t, 0, sizeof(*t));
	t->processes = r->n_procs + rt->processes;
	t->arenas = rt->arenas_allocated;
	t->mmap_bytes = rt->mmap_bytes;
	t->lost = r->ringbuf_drops + rt->lost + r->forks_missed + r->all_untracked;
	for (unsigned g = 0; g < PMT_GENERATIONS; g++)
		t->gc[g] = rt->gc_collections[g];
	for (unsigned i = 0; r->procs && i < r->n_procs; i++) {
		const struct pmt_proc_stats *st = &r->procs[i].stats;

		for (unsigned g = 0; g < PMT_GENERATIONS; g++)
			t->gc[g] += st->gc[g].collections;
		t->arenas += st->arena_allocs;
		t->mmap_bytes += st->mmap_anon.bytes + st->mmap_file.bytes;
		t->lost += proc_report_lost_total(&r->procs[i]);
	}
}

bool overhead_share_pct(const struct overhead_report *o, double *pct)
{
	if (!o->counted || !o->cost.measured || !o->target_cpu_valid || o->target_cpu_seconds <= 0)
		return false;
	*pct = 100.0 * o->estimate_seconds / o->target_cpu_seconds;
	return true;
}
