/* The JSON report.  Its key paths are a contract (README.md "The JSON
 * report", tests/12-output.bats, tests/13-alloc-output.bats): add keys
 * freely, never rename one.
 *
 * --alloc adds processes[].alloc (null when allocation tracing is off) and
 * processes[].stacks[] ([] when off).  Unknowns are null, never zero:
 *  - alloc.coverage is a number in 0..1, or null when not known;
 *    alloc.coverage_reason is a string whenever coverage is unknown or the
 *    session gave a reason (e.g. why coverage is partial), else null.
 *  - alloc.retained_bytes is a number, or null with alloc.retained_reason
 *    (a string exactly when retained_bytes is null).
 *  - alloc.estimated is alloc.sampled: counts and bytes were multiplied by
 *    alloc.sample_every (1 when not sampled), or, with --sampled
 *    (alloc.sample_mode "windows"), by alloc.windows.scale.
 *  - alloc.windows is null unless --sampled; then frees, freed_bytes,
 *    live_bytes, live_count, peak_live_bytes (and the stacks' live_bytes and
 *    live_count) are null, with alloc.unavailable_reason. */
#include <string.h>
#include "census_trace.h"
#include "events_out.h"
#include "hist.h"
#include "json_writer.h"
#include "log.h"
#include "lost.h"
#include "output.h"
#include "version.h"


#define STRN(field) (field), sizeof(field)

struct pause {
	uint64_t total, max, count;
	uint64_t hist[PMT_HIST_SLOTS];
};

static void pause_of_gen(const struct pmt_gc_gen_stats *g, struct pause *ps)
{
	ps->total = g->pause_total_ns;
	ps->max = g->pause_max_ns;
	memcpy(ps->hist, g->hist, sizeof(ps->hist));
	/* Only collections with both ends seen were timed and binned. */
	ps->count = hist_total(ps->hist, PMT_HIST_SLOTS);
}

/* Across generations: sums of totals and counts, max of maxes, slot-wise
 * sum of histograms. */
static void pause_of_all(const struct pmt_proc_stats *st, struct pause *ps)
{
	memset(ps, 0, sizeof(*ps));
	for (unsigned g = 0; g < PMT_GENERATIONS; g++) {
		struct pause one;

		pause_of_gen(&st->gc[g], &one);
		ps->total += one.total;
		ps->count += one.count;
		if (one.max > ps->max)
			ps->max = one.max;
		for (unsigned i = 0; i < PMT_HIST_SLOTS; i++)
			ps->hist[i] += one.hist[i];
	}
}

static void write_pause(struct jw *w, const struct pause *ps, bool quantiles)
{
	jw_key(w, "pause_ns");
	jw_object_begin(w);
	jw_kv_u64(w, "total", ps->total);
	jw_kv_u64(w, "max", ps->max);
	jw_kv_u64(w, "count", ps->count);
	jw_key(w, "hist");
	jw_array_begin_inline(w);
	for (unsigned i = 0; i < PMT_HIST_SLOTS; i++)
		jw_u64(w, ps->hist[i]);
	jw_array_end(w);
	if (quantiles) {
		/* Upper bounds of the log2 slot holding the quantile (hist.h):
		 * the true value is at most this, and at least half of it. */
		jw_kv_u64(w, "p50", hist_quantile(ps->hist, PMT_HIST_SLOTS, 0.50));
		jw_kv_u64(w, "p99", hist_quantile(ps->hist, PMT_HIST_SLOTS, 0.99));
	}
	jw_object_end(w);
}

/* --gc-budget: whether every collection was timed, and who counted them
 * (README "GC timing under a budget"). */
static void write_gc_sampling(struct jw *w, const struct proc_report *p)
{
	const typeof(p->gc_sampling) *gs = &p->gc_sampling;

	jw_kv_u64(w, "timed", gs->timed);
	jw_kv_bool(w, "sampled", gs->sampled);
	if (gs->kept)
		jw_kv_string(w, "kept_timed_why", gs->kept_why);
	jw_kv_string(w, "counted_by", !gs->sampled ? "probes" :
		     gs->counted ? "interpreter" : "windows");
	if (gs->counted)
		jw_kv_bool(w, "counts_complete", !gs->incomplete);
	if (gs->sampled && (!gs->counted || gs->incomplete))
		jw_kv_string(w, "counts_why", gs->why);
	if (gs->counted && p->state != PROC_RUNNING) {
		jw_kv_bool(w, "counts_read_at_end", gs->counts_at_end);
		jw_kv_double(w, "counts_age_seconds", gs->counts_age_s);
	}
	jw_kv_u64(w, "window_cuts", gs->window_cuts);
	jw_kv_u64(w, "arm_failures", gs->arm_failures);
}

static void write_gc(struct jw *w, const struct proc_report *p)
{
	const struct pmt_proc_stats *st = &p->stats;
	uint64_t collected = 0;
	struct pause ps;

	jw_key(w, "gc");
	jw_object_begin(w);
	jw_key(w, "collections");
	jw_array_begin_inline(w);
	for (unsigned g = 0; g < PMT_GENERATIONS; g++) {
		jw_u64(w, st->gc[g].collections);
		collected += st->gc[g].collected;
	}
	jw_array_end(w);
	jw_kv_u64(w, "collected", collected);
	write_gc_sampling(w, p);
	pause_of_all(st, &ps);
	write_pause(w, &ps, true);

	jw_key(w, "generations");
	jw_array_begin(w);
	for (unsigned g = 0; g < PMT_GENERATIONS; g++) {
		jw_object_begin(w);
		jw_kv_u64(w, "generation", g);
		jw_kv_u64(w, "collections", st->gc[g].collections);
		jw_kv_u64(w, "collected", st->gc[g].collected);
		pause_of_gen(&st->gc[g], &ps);
		write_pause(w, &ps, false);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

static void write_arenas(struct jw *w, const struct pmt_proc_stats *st)
{
	jw_key(w, "arenas");
	jw_object_begin(w);
	jw_kv_u64(w, "allocated", st->arena_allocs);
	jw_kv_u64(w, "freed", st->arena_frees);
	/* Net change during the trace: arenas that existed before it started
	 * may be freed, so this can be negative. */
	jw_kv_s64(w, "live", (int64_t)(st->arena_allocs - st->arena_frees));
	jw_kv_u64(w, "allocated_bytes", st->arena_alloc_bytes);
	jw_kv_u64(w, "freed_bytes", st->arena_free_bytes);
	jw_kv_s64(w, "live_bytes", (int64_t)(st->arena_alloc_bytes - st->arena_free_bytes));
	jw_kv_u64(w, "alloc_failed", st->arena_alloc_failed);
	jw_object_end(w);
}

static void write_sys(struct jw *w, const char *key, uint64_t calls, int64_t bytes)
{
	jw_key(w, key);
	jw_object_begin(w);
	jw_kv_u64(w, "calls", calls);
	jw_kv_s64(w, "bytes", bytes);
	jw_object_end(w);
}

static void write_syscalls(struct jw *w, const struct pmt_proc_stats *st)
{
	jw_key(w, "syscalls");
	jw_object_begin(w);
	jw_key(w, "mmap");
	jw_object_begin(w);
	jw_kv_u64(w, "calls", st->mmap_anon.calls + st->mmap_file.calls);
	jw_kv_s64(w, "bytes", st->mmap_anon.bytes + st->mmap_file.bytes);
	write_sys(w, "anon", st->mmap_anon.calls, st->mmap_anon.bytes);
	write_sys(w, "file", st->mmap_file.calls, st->mmap_file.bytes);
	jw_object_end(w);
	write_sys(w, "munmap", st->munmap.calls, st->munmap.bytes);
	write_sys(w, "mremap", st->mremap.calls, st->mremap.bytes);
	write_sys(w, "brk", st->brk.calls, st->brk.bytes);
	jw_kv_u64(w, "failed", st->syscalls_failed);
	jw_object_end(w);
}

/* Empty means unknown: null rather than "". */
static void kv_string_or_null(struct jw *w, const char *key, const char *s, size_t n)
{
	if (s && n && s[0])
		jw_kv_string_n(w, key, s, n);
	else
		jw_kv_null(w, key);
}

static void write_probes(struct jw *w, const struct proc_report *p)
{
	unsigned n = p->n_probes < PMT_MAX_PROBES ? p->n_probes : PMT_MAX_PROBES;

	jw_key(w, "probes");
	jw_array_begin(w);
	for (unsigned i = 0; i < n; i++) {
		const struct probe_status *ps = &p->probes[i];

		jw_object_begin(w);
		jw_kv_string_n(w, "name", STRN(ps->name));
		jw_kv_string(w, "status", ps->attached ? "attached" : "unavailable");
		jw_kv_string_n(w, "how", STRN(ps->how));
		kv_string_or_null(w, "link", STRN(ps->link));
		jw_kv_string_n(w, "reason", STRN(ps->reason));
		jw_object_end(w);
	}
	jw_array_end(w);
}

static void write_python(struct jw *w, const struct proc_report *p)
{
	jw_key(w, "python");
	jw_object_begin(w);
	kv_string_or_null(w, "version", STRN(p->version));
	kv_string_or_null(w, "version_source", STRN(p->version_source));
	kv_string_or_null(w, "interpreter", STRN(p->interp_path));
	jw_kv_string(w, "kind", p->interp_kind);
	jw_object_end(w);
}

static void kv_double_or_null(struct jw *w, const char *key, bool known, double v)
{
	if (known)
		jw_kv_double(w, key, v);
	else
		jw_kv_null(w, key);
}

static void write_measured(struct jw *w, const struct proc_report *p)
{
	jw_key(w, "faults");
	jw_object_begin(w);
	if (p->faults.valid) {
		jw_kv_u64(w, "minor", p->faults.minor);
		jw_kv_u64(w, "major", p->faults.major);
	} else {
		jw_kv_null(w, "minor");
		jw_kv_null(w, "major");
	}
	jw_object_end(w);
	kv_double_or_null(w, "cpu_seconds", p->cpu_valid, p->cpu_seconds);

	/* Never zeros for counters that were not counted. */
	jw_key(w, "cache");
	jw_object_begin(w);
	if (p->cache.supported) {
		jw_kv_u64(w, "references", p->cache.references);
		jw_kv_u64(w, "misses", p->cache.misses);
		jw_kv_null(w, "reason");
	} else {
		jw_kv_null(w, "references");
		jw_kv_null(w, "misses");
		jw_kv_string_n(w, "reason", p->cache.reason[0] ? p->cache.reason : "unsupported",
			       sizeof(p->cache.reason));
	}
	jw_object_end(w);

	jw_key(w, "rss_bytes");
	jw_object_begin(w);
	jw_kv_u64(w, "start", p->rss.start);
	jw_kv_u64(w, "end", p->rss.end);
	jw_kv_u64(w, "peak", p->rss.peak);
	jw_kv_bool(w, "peak_exact", p->rss.peak_exact);
	jw_object_end(w);
}

/* Every row of the loss table (lost.h), zero or not, so that a consumer
 * can tell "nothing lost" from "not reported". */
static void write_lost(struct jw *w, const struct proc_report *p)
{
	jw_kv_u64(w, "lost", proc_report_lost_total(p));
	jw_key(w, "lost_detail");
	jw_object_begin(w);
	for (unsigned r = 0; r < LOST_NR; r++)
		jw_kv_u64(w, lost_reasons[r].key, lost_count(p, r));
	jw_object_end(w);
}

static void write_alloc_lost(struct jw *w, const struct alloc_report *a)
{
	jw_key(w, "lost");
	jw_object_begin(w);
	jw_kv_u64(w, "live_map_full", a->lost.live_map_full);
	jw_kv_u64(w, "stack_map_full", a->lost.stack_map_full);
	jw_kv_u64(w, "truncated_stacks", a->lost.truncated_stacks);
	jw_kv_u64(w, "stack_errors", a->lost.stack_errors);
	jw_kv_u64(w, "unresolved_frames", a->lost.unresolved_frames);
	jw_kv_u64(w, "unreadable", a->lost.unreadable);
	jw_object_end(w);
}

/* --sampled: how the windows went.  scale is null before the first window:
 * then nothing was seen, and the zero totals are not data. */
static void write_windows(struct jw *w, const struct alloc_report *a)
{
	jw_key(w, "windows");
	if (!a->windowed) {
		jw_null(w);
		return;
	}
	jw_object_begin(w);
	jw_kv_u64(w, "window_ms", a->window_ms);
	jw_kv_u64(w, "period_ms", a->period_ms);
	jw_kv_u64(w, "count", a->windows);
	jw_kv_double(w, "traced_ms", a->windows_s * 1000);
	if (a->window_scale > 0)
		jw_kv_double(w, "scale", a->window_scale);
	else
		jw_kv_null(w, "scale");
	jw_kv_string(w, "scale_basis", "traced time / armed time; a lower bound: the traps "
		     "slow the target inside windows, so shares between stacks are the "
		     "reliable figure");
	jw_kv_u64(w, "failures", a->window_failures);
	jw_kv_u64(w, "session_windows", a->session_windows);
	jw_kv_double(w, "arm_ms_mean", a->arm_ms_mean);
	jw_kv_double(w, "disarm_ms_mean", a->disarm_ms_mean);
	jw_object_end(w);
}

static void write_alloc(struct jw *w, const struct alloc_report *a)
{
	jw_key(w, "alloc");
	if (!a->enabled) {
		jw_null(w);
		return;
	}
	jw_object_begin(w);
	jw_kv_u64(w, "count", a->count);
	jw_kv_u64(w, "bytes", a->bytes);
	if (a->windowed) {
		static const char *const unknown[] = {
			"frees", "freed_bytes", "live_bytes", "live_count", "peak_live_bytes",
		};

		for (unsigned i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
			jw_kv_null(w, unknown[i]);
		jw_kv_string(w, "unavailable_reason", "--sampled arms the allocation probes "
			     "only in windows and never the frees: what is live is not known");
	} else {
		jw_kv_u64(w, "frees", a->frees);
		jw_kv_u64(w, "freed_bytes", a->freed_bytes);
		jw_kv_u64(w, "live_bytes", a->live_bytes);
		jw_kv_u64(w, "live_count", a->live_count);
		jw_kv_u64(w, "peak_live_bytes", a->peak_live_bytes);
		jw_kv_null(w, "unavailable_reason");
	}
	jw_kv_double(w, "rate_bytes_per_s", a->rate_bytes_per_s);
	/* jw_double writes NaN as null too: a NaN coverage is not known. */
	if (a->coverage_known)
		jw_kv_double(w, "coverage", a->coverage);
	else
		jw_kv_null(w, "coverage");
	if (a->coverage_reason[0])
		jw_kv_string_n(w, "coverage_reason", STRN(a->coverage_reason));
	else if (!a->coverage_known)
		jw_kv_string(w, "coverage_reason", "no reason given");
	else
		jw_kv_null(w, "coverage_reason");
	jw_kv_bool(w, "sampled", a->sampled);
	jw_kv_u64(w, "sample_every", a->sampled ? a->sample_every : 1);
	jw_kv_bool(w, "estimated", a->sampled);
	jw_kv_string(w, "sample_mode", a->windowed ? "windows" : a->sampled ? "1_in_n" : "all");
	write_windows(w, a);
	if (a->retained_known) {
		jw_kv_u64(w, "retained_bytes", a->retained_bytes);
		jw_kv_null(w, "retained_reason");
	} else {
		jw_kv_null(w, "retained_bytes");
		jw_kv_string_n(w, "retained_reason", a->retained_reason[0] ? a->retained_reason :
			       "no reason given", sizeof(a->retained_reason));
	}
	write_alloc_lost(w, a);
	jw_object_end(w);
}

/* A stack's frames: "python", "native" and "truncated". */
static void write_frames(struct jw *w, const struct alloc_stack *s)
{
	unsigned n_py = s->python ? s->n_python : 0, n_nat = s->native ? s->n_native : 0;

	jw_key(w, "python");
	jw_array_begin(w);
	for (unsigned i = 0; i < n_py; i++) {
		const struct py_frame_info *fr = &s->python[i];

		jw_object_begin(w);
		jw_kv_string(w, "file", fr->file);
		jw_kv_string(w, "function", fr->function);
		if (fr->line >= 0)
			jw_kv_s64(w, "line", fr->line);
		else
			jw_kv_null(w, "line");
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_key(w, "native");
	jw_array_begin(w);
	for (unsigned i = 0; i < n_nat; i++)
		jw_string(w, s->native[i]);
	jw_array_end(w);
	jw_kv_bool(w, "truncated", s->truncated);
}

static void write_stack(struct jw *w, const struct alloc_stack *s, bool live_known)
{
	jw_object_begin(w);
	jw_kv_u64(w, "bytes", s->bytes);
	jw_kv_u64(w, "count", s->count);
	if (live_known) {
		jw_kv_u64(w, "live_bytes", s->live_bytes);
		jw_kv_u64(w, "live_count", s->live_count);
	} else {
		jw_kv_null(w, "live_bytes");
		jw_kv_null(w, "live_count");
	}
	write_frames(w, s);
	jw_object_end(w);
}

static const char *const growth_kind_names[PMT_GROWTH_KINDS] = {
	[PMT_GROWTH_POOL] = "pool", [PMT_GROWTH_ARENA] = "arena",
	[PMT_GROWTH_MMAP] = "mmap", [PMT_GROWTH_BRK] = "brk",
};

/* pools_probed false: the pool kind is null, not a zero that reads as
 * "no pool was refilled" (pools_reason says why). */
static void write_growth_kinds(struct jw *w, const uint64_t *bytes, const uint64_t *events,
			       bool pools_probed)
{
	jw_key(w, "kinds");
	jw_object_begin(w);
	for (int k = 0; k < PMT_GROWTH_KINDS; k++) {
		jw_key(w, growth_kind_names[k]);
		if (k == PMT_GROWTH_POOL && !pools_probed) {
			jw_null(w);
			continue;
		}
		jw_object_begin(w);
		jw_kv_u64(w, "bytes", bytes[k]);
		jw_kv_u64(w, "events", events[k]);
		jw_object_end(w);
	}
	jw_object_end(w);
}

/* processes[].heap_growth: null without --heap-growth. */
static void write_growth(struct jw *w, const struct growth_report *g)
{
	uint64_t total = 0;

	jw_key(w, "heap_growth");
	if (!g->enabled) {
		jw_null(w);
		return;
	}
	for (unsigned i = 0; g->stacks && i < g->n_stacks; i++)
		total += g->stacks[i].stack.bytes;
	jw_object_begin(w);
	jw_kv_u64(w, "bytes", total);
	jw_kv_u64(w, "no_stack_events", g->lost.no_stack);
	jw_kv_bool(w, "pools_probed", g->pools_probed);
	if (g->pools_probed)
		jw_kv_null(w, "pools_reason");
	else
		jw_kv_string_n(w, "pools_reason", STRN(g->pools_reason));
	write_growth_kinds(w, g->bytes, g->events, g->pools_probed);
	jw_key(w, "stacks");
	jw_array_begin(w);
	for (unsigned i = 0; g->stacks && i < g->n_stacks; i++) {
		const struct growth_stack *gs = &g->stacks[i];

		jw_object_begin(w);
		jw_kv_u64(w, "bytes", gs->stack.bytes);
		jw_kv_u64(w, "events", gs->stack.count);
		write_growth_kinds(w, gs->bytes, gs->events, g->pools_probed);
		write_frames(w, &gs->stack);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

/* Every stack the session kept, in its order (live bytes, then bytes,
 * descending): the session already bounded how many. */
static void write_stacks(struct jw *w, const struct alloc_report *a)
{
	jw_key(w, "stacks");
	jw_array_begin(w);
	for (unsigned i = 0; a->enabled && a->stacks && i < a->n_stacks; i++)
		write_stack(w, &a->stacks[i], !a->windowed);
	jw_array_end(w);
}

static void write_proc(struct jw *w, const struct proc_report *p, struct census_trace *census)
{
	jw_object_begin(w);
	jw_kv_s64(w, "pid", p->pid);
	jw_kv_string_n(w, "comm", STRN(p->comm));
	jw_kv_string(w, "state", proc_state_name(p->state));
	jw_kv_string_n(w, "state_detail", STRN(p->state_detail));
	if (p->exit_status >= 0)
		jw_kv_s64(w, "exit_status", p->exit_status);
	else
		jw_kv_null(w, "exit_status");
	jw_kv_double(w, "traced_seconds", p->traced_seconds);
	if (p->parent_pid) {
		jw_kv_s64(w, "parent_pid", p->parent_pid);
		jw_kv_double(w, "attach_after_fork_seconds", p->attach_after_fork_s);
	} else {
		jw_kv_null(w, "parent_pid");
		jw_kv_null(w, "attach_after_fork_seconds");
	}
	write_python(w, p);
	write_probes(w, p);
	write_gc(w, p);
	write_arenas(w, &p->stats);
	write_syscalls(w, &p->stats);
	write_measured(w, p);
	write_alloc(w, &p->alloc);
	write_stacks(w, &p->alloc);
	write_growth(w, &p->growth);
	write_lost(w, p);
	if (census)
		census_trace__json(census, w, p->pid);
	jw_object_end(w);
}

/* Every process of the session: those listed and those retired earlier. */
static void write_totals(struct jw *w, const struct report *r)
{
	const struct retired_totals *rt = &r->retired;
	struct report_totals t;

	report_totals(r, &t);
	jw_key(w, "totals");
	jw_object_begin(w);
	jw_kv_u64(w, "processes", t.processes);
	jw_kv_u64(w, "retired", rt->processes);
	jw_kv_u64(w, "forks_followed", r->forks_followed);
	jw_kv_u64(w, "forks_missed", r->forks_missed);
	jw_kv_u64(w, "dropped_at_exec", r->forks_execd);
	if (r->all_path)
		jw_kv_string(w, "all_path", r->all_path);
	else
		jw_kv_null(w, "all_path");
	jw_kv_u64(w, "all_untracked", r->all_untracked);
	jw_key(w, "gc_collections");
	jw_array_begin_inline(w);
	for (unsigned g = 0; g < PMT_GENERATIONS; g++)
		jw_u64(w, t.gc[g]);
	jw_array_end(w);
	jw_kv_u64(w, "arenas_allocated", t.arenas);
	jw_kv_s64(w, "mmap_bytes", t.mmap_bytes);
	/* Every process's lost total, the children (and --all processes)
	 * that could not be traced, and the drops no process owns. */
	jw_kv_u64(w, "lost", t.lost);
	jw_object_end(w);
}

/* Per-type counts as {"gc": n, ...}, every known type listed. */
static void write_by_type(struct jw *w, const char *key, const uint64_t *v)
{
	jw_key(w, key);
	jw_object_begin(w);
	for (unsigned t = 0; t < PMT_EV_TYPES; t++)
		if (events_out__type_name(t))
			jw_kv_u64(w, events_out__type_name(t), v[t]);
	jw_object_end(w);
}



/* What the probes cost the traced processes (report.h struct overhead_report):
 * null figures are the ones not measured, never zeros. */
static void write_gc_budget(struct jw *w, const struct gc_budget_report *b)
{
	jw_key(w, "gc_budget");
	jw_object_begin(w);
	jw_kv_bool(w, "on", b->on);
	if (!b->on) {
		jw_kv_string(w, "why", b->why);
		jw_object_end(w);
		return;
	}
	jw_kv_double(w, "pct", b->pct);
	jw_kv_string(w, "mode", b->sampled_now ? "windows" : "all");
	jw_kv_double(w, "duty", b->duty);
	jw_kv_double(w, "charge", b->charge);
	kv_double_or_null(w, "share_all", b->to_sampled > 0, b->share_all);
	kv_double_or_null(w, "trigger_share", b->to_sampled > 0, b->trigger_share);
	jw_kv_double(w, "window_ms", b->window_s * 1000);
	jw_kv_u64(w, "windows", b->windows);
	jw_kv_double(w, "armed_seconds", b->windows_s);
	jw_kv_u64(w, "switches", b->to_sampled);
	kv_double_or_null(w, "first_windowed_seconds", b->to_sampled > 0, b->first_sampled_s);
	jw_object_end(w);
}

static void write_overhead(struct jw *w, const struct overhead_report *o)
{
	jw_key(w, "overhead");
	jw_object_begin(w);
	jw_kv_bool(w, "counted", o->counted);
	if (!o->counted) {
		jw_kv_string(w, "not_measured", o->why);
		jw_object_end(w);
		return;
	}
	jw_key(w, "probe_hits");
	jw_object_begin(w);
	for (unsigned h = PMT_H_NONE + 1; h < PMT_H_NR; h++)
		if (!trap_cost__is_own(h))
			jw_kv_u64(w, trap_cost__handler_name(h), o->hits[h]);
	jw_object_end(w);
	jw_kv_u64(w, "entry_hits", o->entry_hits);
	jw_kv_u64(w, "return_hits", o->return_hits);
	/* handlers whose hits no counter saw (probes libbpf attached itself) */
	jw_key(w, "uncounted_handlers");
	jw_array_begin(w);
	for (unsigned h = PMT_H_NONE + 1; h < PMT_H_NR; h++)
		if (o->uncounted & (1u << h))
			jw_string(w, trap_cost__handler_name(h));
	jw_array_end(w);
	jw_kv_bool(w, "cost_measured", o->cost.measured);
	if (!o->cost.measured)
		jw_kv_string(w, "not_measured", o->cost.why);
	kv_double_or_null(w, "entry_ns", o->cost.measured, o->cost.entry_ns);
	kv_double_or_null(w, "return_ns", o->cost.measured, o->cost.return_ns);
	jw_kv_u64(w, "calibration_calls", o->cost.calls);
	kv_double_or_null(w, "trap_seconds", o->cost.measured, o->trap_seconds);
	kv_double_or_null(w, "bpf_seconds", o->bpf_timed, o->bpf_seconds);
	kv_double_or_null(w, "gc_handlers_seconds", o->gc_handlers_timed, o->gc_handlers_seconds);
	kv_double_or_null(w, "estimate_seconds", o->cost.measured, o->estimate_seconds);
	kv_double_or_null(w, "target_cpu_seconds", o->target_cpu_valid, o->target_cpu_seconds);
	/* --max-overhead: null without one */
	if (o->budget_pct)
		jw_kv_u64(w, "budget_pct", o->budget_pct);
	else
		jw_kv_null(w, "budget_pct");
	jw_kv_bool(w, "budget_exceeded", o->budget_exceeded);
	kv_double_or_null(w, "budget_share", o->budget_exceeded, o->budget_share);
	kv_double_or_null(w, "budget_window_seconds", o->budget_exceeded, o->budget_window_s);
	kv_double_or_null(w, "budget_at_seconds", o->budget_exceeded, o->budget_at_seconds);
	jw_object_end(w);
}

static void write_events(struct jw *w, const struct events_report *ev)
{
	jw_key(w, "events");
	if (!ev->enabled) {
		jw_null(w);
		return;
	}
	jw_object_begin(w);
	jw_kv_string(w, "path", ev->path);
	jw_kv_u64(w, "ring_bytes", ev->ring_bytes);
	jw_kv_u64(w, "sent", ev->sent);
	jw_kv_u64(w, "written", ev->written);
	jw_kv_u64(w, "dropped", ev->dropped);
	jw_kv_u64(w, "late", ev->late);
	jw_kv_u64(w, "bad_records", ev->bad_records);
	write_by_type(w, "written_by_type", ev->written_by_type);
	write_by_type(w, "dropped_by_type", ev->dropped_by_type);
	if (ev->error)
		jw_kv_string(w, "error", strerror(-ev->error));
	else
		jw_kv_null(w, "error");
	jw_object_end(w);
}

void output_json(FILE *f, const struct report *r)
{
	struct jw *w;
	int err;

	if (!f || !r)
		return;
	w = jw_new(f);
	if (!w) {
		pr_err("cannot write the JSON report: out of memory");
		return;
	}
	jw_object_begin(w);
	jw_key(w, "pymemtrace");
	jw_object_begin(w);
	jw_kv_string(w, "version", PMT_VERSION);
	jw_object_end(w);
	jw_kv_bool(w, "final", r->final);
	jw_kv_double(w, "elapsed_seconds", r->elapsed_seconds);
	jw_key(w, "processes");
	jw_array_begin(w);
	for (unsigned i = 0; r->procs && i < r->n_procs; i++)
		write_proc(w, &r->procs[i], r->census);
	jw_array_end(w);
	write_totals(w, r);
	jw_kv_u64(w, "ringbuf_drops", r->ringbuf_drops);
	write_events(w, &r->events);
	write_overhead(w, &r->overhead);
	write_gc_budget(w, &r->gc_budget);
	jw_key(w, "tracer");
	if (r->tracer.valid) {
		jw_object_begin(w);
		jw_kv_double(w, "attach_seconds", r->tracer.attach_seconds);
		jw_kv_double(w, "cpu_seconds", r->tracer.cpu_seconds);
		jw_kv_u64(w, "peak_rss_bytes", r->tracer.peak_rss_bytes);
		jw_object_end(w);
	} else {
		jw_null(w);
	}
	jw_object_end(w);
	fputc('\n', f);
	err = jw_free(w);
	if (err)
		pr_err("cannot write the JSON report: %s", strerror(-err));
}
