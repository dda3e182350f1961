/* The --alloc report of one process: see alloc_collect.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "alloc_collect.h"
#include "log.h"
#include "pymemtrace.h"
#include "pynames.h"
#include "symbolize.h"

struct stack_row {
	struct pmt_stack_key key;
	struct pmt_stack_stats st;
	bool top_alloc;           /* among the top N by allocated bytes */
};

static int64_t row_live(const struct stack_row *r)
{
	return (int64_t)(r->st.alloc_bytes - r->st.free_bytes);
}

static int cmp_live(const void *pa, const void *pb)
{
	const struct stack_row *a = pa, *b = pb;
	int64_t la = row_live(a), lb = row_live(b);

	if (la != lb)
		return la > lb ? -1 : 1;
	return a->st.alloc_bytes > b->st.alloc_bytes ? -1 : a->st.alloc_bytes < b->st.alloc_bytes;
}

static int cmp_alloc(const void *pa, const void *pb)
{
	const struct stack_row *a = pa, *b = pb;

	if (a->st.alloc_bytes != b->st.alloc_bytes)
		return a->st.alloc_bytes > b->st.alloc_bytes ? -1 : 1;
	return cmp_live(pa, pb);
}

/* All stack rows of one process, from the stack_stats map. */
static struct stack_row *read_stack_rows(int fd, pid_t pid, size_t *n)
{
	struct pmt_stack_key key, next, *prev = NULL;
	struct stack_row *rows = NULL;
	size_t cap = 0;

	*n = 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct pmt_stack_stats st;

		key = next;
		prev = &key;
		if (key.pid != (__u32)pid || bpf_map_lookup_elem(fd, &key, &st))
			continue;
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 256;
			struct stack_row *v = realloc(rows, ncap * sizeof(*v));

			if (!v)
				break;
			rows = v;
			cap = ncap;
		}
		rows[(*n)++] = (struct stack_row){ key, st, false };
	}
	return rows;
}

static void fill_native(const struct alloc_sources *src, const struct pmt_stack_key *key,
			struct alloc_stack *out)
{
	__u64 ips[PMT_MAX_NATIVE_FRAMES] = {};
	__u32 id = (__u32)key->native_id;
	unsigned n = 0;

	if (key->native_id < 0)
		ips[0] = key->caller; /* --native-depth 1, or 0 when unknown */
	else if (bpf_map_lookup_elem(src->native_stacks_fd, &id, ips))
		return;
	while (n < PMT_MAX_NATIVE_FRAMES && ips[n])
		n++;
	out->native = calloc(n ? n : 1, sizeof(*out->native));
	if (!out->native)
		return;
	for (unsigned i = 0; i < n; i++) {
		char buf[512];

		if (src->syms)
			symbolizer__name(src->syms, ips[i], buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)ips[i]);
		out->native[out->n_native] = strdup(buf);
		if (out->native[out->n_native])
			out->n_native++;
	}
	/* A full stack-map entry may have been cut at the depth limit. */
	if (key->native_id >= 0 && n >= src->native_depth)
		out->truncated = true;
}

static void fill_stack(const struct alloc_sources *src, const struct stack_row *r,
		       double scale, struct alloc_stack *out)
{
	memset(out, 0, sizeof(*out));
	out->bytes = (uint64_t)(r->st.alloc_bytes * scale);
	out->count = (uint64_t)(r->st.alloc_count * scale);
	/* Frees are counted only for blocks in the live map, so they never
	 * exceed allocations; clamp anyway rather than wrap. */
	out->live_bytes = r->st.alloc_bytes > r->st.free_bytes
			  ? (r->st.alloc_bytes - r->st.free_bytes) * scale : 0;
	out->live_count = r->st.alloc_count > r->st.free_count
			  ? (r->st.alloc_count - r->st.free_count) * scale : 0;
	alloc_stack_name(src, &r->key, out);
}

void alloc_stack_name(const struct alloc_sources *src, const struct pmt_stack_key *key,
		      struct alloc_stack *out)
{
	/* The target runs on while a report is built: a stack stored after the
	 * report's naming pass is named here.  One recorded just before its
	 * process exited cannot be any more: it gets a placeholder frame,
	 * counted once (pynames__mark_unnamed). */
	if (key->pyhash && src->pynames && !pynames__get(src->pynames, key->pyhash, out)) {
		if (!src->can_name ||
		    !pynames__name_one(src->pynames, src->pystacks_fd, src->pid, key->pyhash))
			pynames__mark_unnamed(src->pynames, key->pyhash);
		pynames__get(src->pynames, key->pyhash, out);
	}
	fill_native(src, key, out);
}

/* --sample-window: what the windows saw, scaled by the traced time over the
 * armed time.  The traps slow the target while a window is open, so a
 * window holds fewer allocations than the same time untraced: the totals
 * are lower bounds, the shares between stacks are what to trust (README). */
static void scale_windows(const struct alloc_sources *src, const struct pmt_proc_stats *st,
			  double traced_seconds, struct alloc_report *a)
{
	double scale = src->windows_s > 0 && traced_seconds > src->windows_s
		       ? traced_seconds / src->windows_s : src->windows_s > 0 ? 1 : 0;

	a->sampled = true;
	a->windowed = true;
	a->window_ms = src->window_ms;
	a->period_ms = src->period_ms;
	a->windows = src->windows;
	a->windows_s = src->windows_s;
	a->window_scale = scale;
	a->window_failures = src->window_failures;
	a->count = (uint64_t)(st->alloc_count * scale);
	a->bytes = (uint64_t)(st->alloc_bytes * scale);
	a->frees = a->freed_bytes = 0;
	a->live_bytes = a->live_count = a->peak_live_bytes = 0;
	a->rate_bytes_per_s = traced_seconds > 0 ? a->bytes / traced_seconds : 0;
}

void alloc_collect(const struct alloc_sources *src, const struct pmt_proc_stats *st,
		   double traced_seconds, struct alloc_report *a)
{
	unsigned scale = src->sample_every ? src->sample_every : 1;
	struct stack_row *rows;
	size_t n = 0, top = src->top ? src->top : 10;
	bool pm = src->pymalloc_probed, raw = src->libc_probed;
	int64_t arena_net;

	a->enabled = true;
	a->top_n = top;
	a->sampled = scale > 1;
	a->sample_every = scale;
	a->count = st->alloc_count * scale;
	a->bytes = st->alloc_bytes * scale;
	a->frees = st->free_count * scale;
	a->freed_bytes = st->free_bytes * scale;
	a->live_bytes = st->live_bytes > 0 ? (uint64_t)st->live_bytes * scale : 0;
	a->live_count = st->alloc_count > st->free_count ? (st->alloc_count - st->free_count) * scale : 0;
	a->peak_live_bytes = st->peak_live_bytes > 0 ? (uint64_t)st->peak_live_bytes * scale : 0;
	a->rate_bytes_per_s = traced_seconds > 0 ? a->bytes / traced_seconds : 0;
	if (src->window_ms)
		scale_windows(src, st, traced_seconds, a);

	if (!pm || !raw) {
		a->coverage_known = false;
		fmt_msg(a->coverage_reason, sizeof(a->coverage_reason), "%s allocator probes are not "
			"attached (see probes): allocations there are not seen",
			!pm ? "pymalloc's" : "the C library's");
	} else if (src->lto_sites_found) {
		/* Probes inside the inlined copies: a measured share, not a
		 * guarantee (README "Coverage"). */
		a->coverage_known = false;
		fmt_msg(a->coverage_reason, sizeof(a->coverage_reason), "LTO build: pymalloc is "
			"inlined into %u sites, %u of them probed from the inside; inlined "
			"realloc sites are not, and blocks are counted at their size class. "
			"Measured against a non-LTO build of the same version: see README",
			src->lto_sites_found, src->lto_sites_handled);
	} else if (!src->has_symtab) {
		a->coverage_known = false;
		fmt_msg(a->coverage_reason, sizeof(a->coverage_reason), "this interpreter is "
			"stripped (no .symtab), which distribution builds with LTO are: their "
			"pymalloc fast path is inlined into its callers, where these probes do "
			"not see it; the numbers below are a lower bound (README: coverage)");
	} else {
		a->coverage_known = true;
		a->coverage = 1.0;
		fmt_msg(a->coverage_reason, sizeof(a->coverage_reason), "every pymalloc entry "
			"point is probed, and the malloc family the interpreter is bound to "
			"(the C library's, or one preloaded ahead of it: see probes)");
	}

	arena_net = (int64_t)(st->arena_alloc_bytes - st->arena_free_bytes);
	if (a->windowed) {
		a->retained_known = false;
		fmt_msg(a->retained_reason, sizeof(a->retained_reason), "needs every free: "
			"--sample-window sees allocations only in its windows");
	} else if (src->arenas_probed && a->coverage_known) {
		int64_t retained = arena_net - st->pm_live_bytes * (int64_t)scale;

		a->retained_known = true;
		a->retained_bytes = retained > 0 ? (uint64_t)retained : 0;
		fmt_msg(a->retained_reason, sizeof(a->retained_reason), "arena growth during the "
			"trace minus pymalloc blocks still live");
	} else {
		a->retained_known = false;
		fmt_msg(a->retained_reason, sizeof(a->retained_reason), "%s",
			a->coverage_known ? "arena probes not attached"
					  : "needs full allocation coverage");
	}

	a->lost.live_map_full = st->live_map_full;
	a->lost.stack_map_full = st->stack_map_full;
	a->lost.truncated_stacks = st->pystack_truncated;
	a->lost.stack_errors = st->pystack_errors + st->native_stack_errors;
	a->lost.unreadable = st->alloc_unreadable;
	a->lost.unresolved_frames = pynames__unresolved(src->pynames);

	rows = read_stack_rows(src->stack_stats_fd, src->pid, &n);
	if (!rows)
		return;
	/* The union of the top N by live bytes and the top N by allocated bytes. */
	qsort(rows, n, sizeof(*rows), cmp_alloc);
	for (size_t i = 0; i < n && i < top; i++)
		rows[i].top_alloc = true;
	qsort(rows, n, sizeof(*rows), cmp_live);
	a->stacks = calloc(n < 2 * top ? (n ? n : 1) : 2 * top, sizeof(*a->stacks));
	for (size_t i = 0; a->stacks && i < n && a->n_stacks < 2 * top; i++) {
		struct alloc_stack *out;

		if (i >= top && !rows[i].top_alloc)
			continue;
		out = &a->stacks[a->n_stacks++];
		fill_stack(src, &rows[i], a->windowed ? a->window_scale : scale, out);
		if (a->windowed) /* no frees seen: nothing is known live */
			out->live_bytes = out->live_count = 0;
	}
	free(rows);
	/* naming the shown stacks may have found more */
	a->lost.unresolved_frames = pynames__unresolved(src->pynames);
}
