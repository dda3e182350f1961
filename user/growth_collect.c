/* Heap growth by stack: see growth_collect.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "growth_collect.h"
#include "pymemtrace.h"

struct growth_row {
	struct pmt_stack_key key;
	uint64_t bytes[PMT_GROWTH_KINDS], events[PMT_GROWTH_KINDS];
	uint64_t total;
};

static bool same_stack(const struct pmt_stack_key *a, const struct pmt_stack_key *b)
{
	return a->pyhash == b->pyhash && a->native_id == b->native_id && a->caller == b->caller;
}

/* Linear merge: rows are bounded by --max-stacks and read once a report. */
static struct growth_row *row_for(struct growth_row **rows, size_t *n, size_t *cap,
				  const struct pmt_stack_key *key)
{
	for (size_t i = 0; i < *n; i++)
		if (same_stack(&(*rows)[i].key, key))
			return &(*rows)[i];
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct growth_row *v = realloc(*rows, ncap * sizeof(*v));

		if (!v)
			return NULL;
		*rows = v;
		*cap = ncap;
	}
	memset(&(*rows)[*n], 0, sizeof(**rows));
	(*rows)[*n].key = *key;
	return &(*rows)[(*n)++];
}

static struct growth_row *read_rows(int fd, pid_t pid, size_t *n)
{
	struct pmt_growth_key key, next, *prev = NULL;
	struct pmt_growth_stats gs;
	struct growth_row *rows = NULL, *r;
	size_t cap = 0;

	*n = 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (key.stack.pid != (__u32)pid || key.kind >= PMT_GROWTH_KINDS ||
		    bpf_map_lookup_elem(fd, &key, &gs))
			continue;
		r = row_for(&rows, n, &cap, &key.stack);
		if (!r)
			break;
		r->bytes[key.kind] += gs.bytes;
		r->events[key.kind] += gs.events;
	}
	return rows;
}

/* A stack's growth: what pymalloc gave its size classes (pools), or where
 * pools are not probed, the arenas it mapped, plus its own mmap and brk.
 * Arenas and pools are the same memory seen twice; the arena is charged to
 * whichever allocation happened to need one, a pool to 16 KiB of them. */
static uint64_t row_total(const struct growth_row *r, bool pools_probed)
{
	return r->bytes[pools_probed ? PMT_GROWTH_POOL : PMT_GROWTH_ARENA] +
	       r->bytes[PMT_GROWTH_MMAP] + r->bytes[PMT_GROWTH_BRK];
}

static int by_total_desc(const void *a, const void *b)
{
	const struct growth_row *x = a, *y = b;

	return x->total < y->total ? 1 : x->total > y->total ? -1 : 0;
}

void growth_collect(const struct alloc_sources *src, int growth_fd, const struct pmt_proc_stats *st,
		    bool pools_probed, const char *pools_reason, struct growth_report *g)
{
	struct growth_row *rows;
	size_t n = 0;

	memset(g, 0, sizeof(*g));
	g->enabled = true;
	g->top_n = src->top ? src->top : 10;
	g->pools_probed = pools_probed;
	snprintf(g->pools_reason, sizeof(g->pools_reason), "%s", pools_reason ? pools_reason : "");
	g->lost.no_stack = st->growth_no_stack;
	g->lost.stack_map_full = st->stack_map_full;
	g->lost.truncated_stacks = st->pystack_truncated;
	g->lost.stack_errors = st->pystack_errors + st->native_stack_errors;
	rows = read_rows(growth_fd, src->pid, &n);
	if (!rows)
		return;
	for (size_t i = 0; i < n; i++)
		rows[i].total = row_total(&rows[i], pools_probed);
	qsort(rows, n, sizeof(*rows), by_total_desc);
	g->stacks = calloc(n ? n : 1, sizeof(*g->stacks));
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < PMT_GROWTH_KINDS; k++) {
			g->bytes[k] += rows[i].bytes[k];
			g->events[k] += rows[i].events[k];
		}
		if (!g->stacks)
			continue;
		struct growth_stack *gs = &g->stacks[g->n_stacks++];

		memcpy(gs->bytes, rows[i].bytes, sizeof(gs->bytes));
		memcpy(gs->events, rows[i].events, sizeof(gs->events));
		gs->stack.bytes = rows[i].total;
		for (int k = 0; k < PMT_GROWTH_KINDS; k++)
			gs->stack.count += rows[i].events[k];
		alloc_stack_name(src, &rows[i].key, &gs->stack);
	}
	free(rows);
}
