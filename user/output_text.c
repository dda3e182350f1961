/* The human-readable report: lines under 80 columns, a 14-column label, then
 * the values.  Strings from the target (comm, paths) are escaped so that they
 * cannot move the cursor or recolour the terminal. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include "census_trace.h"
#include "hist.h"
#include "lost.h"
#include "output.h"
#include "units.h"

#define WIDTH     79          /* last usable column */
#define LABEL_W   14
#define LINE_MAX_ 1024
/* --alloc: how many stacks each top list shows when the report does not say
 * (alloc.top_n), and how many frames of each kind a stack shows (the JSON
 * report and the flame-graph formats have all). */
#define TOP_STACKS      10
#define STACK_FRAMES    16
#define FRAME_TEXT      512   /* longest target string shown, before escaping */
#define COVERAGE_OK     0.9   /* below this the numbers are called partial */

#define STRN(field) (field), sizeof(field)
/* The BPF struct's __u64 is unsigned long long; PRIu64 wants uint64_t. */
#define U64(x) ((uint64_t)(x))
/* Room for a field of n bytes escaped as \xNN each, plus the NUL. */
#define SAFE_LEN(n) (4 * (n) + 1)

static bool is_cont(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* Prints text starting at column col, breaking at spaces (or anywhere
 * outside a UTF-8 sequence, for long words) so that no line passes WIDTH;
 * continuation lines start at column indent. */
static void print_wrapped(FILE *f, const char *text, unsigned col, unsigned indent)
{
	for (;;) {
		size_t avail = col < WIDTH - 20 ? WIDTH - col : 20;
		size_t len = strlen(text), cut;

		if (len <= avail) {
			fprintf(f, "%s\n", text);
			return;
		}
		/* Prefer the wider gaps between fields, so that "1.2 MiB"
		 * stays on one line; then any space; then anywhere. */
		for (cut = avail; cut > 1 && !(text[cut] == ' ' && text[cut - 1] == ' '); cut--)
			;
		if (cut <= 1)
			for (cut = avail; cut > 0 && text[cut] != ' '; cut--)
				;
		if (!cut) {
			for (cut = avail; cut > 0 && is_cont(text[cut]); cut--)
				;
			if (!cut)
				cut = avail;
		}
		while (cut > 1 && text[cut - 1] == ' ')
			cut--;
		fprintf(f, "%.*s\n%*s", (int)cut, text, (int)indent, "");
		text += cut;
		while (*text == ' ')
			text++;
		col = indent;
	}
}

/* One labelled line: "label         values...", wrapped under the values. */
static void __attribute__((format(printf, 3, 4)))
line(FILE *f, const char *label, const char *fmt, ...)
{
	char body[LINE_MAX_];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	fprintf(f, "%-*s", LABEL_W, label);
	print_wrapped(f, body, LABEL_W, LABEL_W);
}

static void print_header(FILE *f, const struct proc_report *p)
{
	char comm[SAFE_LEN(sizeof(p->comm))], ver[SAFE_LEN(sizeof(p->version))];
	char path[SAFE_LEN(sizeof(p->interp_path))], text[sizeof(path) + 256];

	units_sanitize(comm, sizeof(comm), STRN(p->comm));
	units_sanitize(ver, sizeof(ver), STRN(p->version));
	units_sanitize(path, sizeof(path), STRN(p->interp_path));
	snprintf(text, sizeof(text), "== pid %d %s (CPython %s, %s, %s)  %s", (int)p->pid, comm,
		 ver[0] ? ver : "?", path[0] ? path : "?",
		 p->interp_kind ? p->interp_kind : "?", proc_state_name(p->state));
	print_wrapped(f, text, 0, 3);
	if (p->state_detail[0])
		line(f, "state", "%s", units_sanitize(text, sizeof(text), STRN(p->state_detail)));
	if (p->version_source[0])
		line(f, "version from", "%s",
		     units_sanitize(text, sizeof(text), STRN(p->version_source)));
	if (p->parent_pid)
		line(f, "forked from", "pid %d; probes attached %.1f ms after the fork "
		     "(syscalls counted from the fork)", (int)p->parent_pid,
		     p->attach_after_fork_s * 1e3);
}

/* --gc-budget: once the GC probes were disarmed at times, the pauses are
 * those of the timed collections, and the counts the interpreter's. */
static void print_gc_sampling(FILE *f, const struct proc_report *p)
{
	const typeof(p->gc_sampling) *gs = &p->gc_sampling;
	char age[UNITS_BUFSZ];

	/* kept after windows had begun for it: timed in full only from then */
	if (gs->kept)
		line(f, "timed", "every collection%s, out of the --gc-budget windows: %s",
		     gs->sampled ? " from then on" : "", gs->kept_why);
	if (!gs->sampled)
		return;
	line(f, "timed", "%" PRIu64 " collections, in --gc-budget windows: the pauses above "
	     "are theirs; %" PRIu64 " cut by a window's edge", U64(gs->timed),
	     U64(gs->window_cuts));
	if (!gs->counted)
		line(f, "", "collections seen in windows only (the interpreter's counters: %s)",
		     gs->why);
	else if (gs->incomplete)
		line(f, "", "collections counted by the main interpreter only: %s", gs->why);
	else if (p->state != PROC_RUNNING && gs->counts_at_end)
		line(f, "", "collections counted by the interpreter, read at its %s",
		     p->state == PROC_EXECED ? "execve" : "exit");
	else if (p->state != PROC_RUNNING && gs->counts_age_s > 0)
		line(f, "", "collections counted by the interpreter, read %s before the process "
		     "ended", units_seconds(age, sizeof(age), gs->counts_age_s));
	else
		line(f, "", "collections counted by the interpreter (gc.get_stats)");
	if (gs->arm_failures)
		line(f, "", "%u window links failed to arm", gs->arm_failures);
}

static void print_gc(FILE *f, const struct proc_report *p)
{
	const struct pmt_gc_gen_stats *gc = p->stats.gc;
	uint64_t hist[PMT_HIST_SLOTS] = { 0 }, total = 0, max = 0, colls = 0;
	char a[UNITS_BUFSZ], b[UNITS_BUFSZ], c[UNITS_BUFSZ], d[UNITS_BUFSZ];

	if (proc_report_group_unavailable(p, "gc_")) {
		line(f, "GC", "unavailable (see probes)");
		return;
	}
	for (unsigned g = 0; g < PMT_GENERATIONS; g++) {
		colls += gc[g].collections;
		total += gc[g].pause_total_ns;
		if (gc[g].pause_max_ns > max)
			max = gc[g].pause_max_ns;
		for (unsigned i = 0; i < PMT_HIST_SLOTS; i++)
			hist[i] += gc[g].hist[i];
	}
	if (!colls) {
		line(f, "GC", "no collections");
		return;
	}
	line(f, "GC", "%12s%12s%12s", "gen0", "gen1", "gen2");
	line(f, "collections", "%12" PRIu64 "%12" PRIu64 "%12" PRIu64,
	     U64(gc[0].collections), U64(gc[1].collections), U64(gc[2].collections));
	line(f, "collected", "%12" PRIu64 "%12" PRIu64 "%12" PRIu64,
	     U64(gc[0].collected), U64(gc[1].collected), U64(gc[2].collected));
	line(f, "pause total", "%12s%12s%12s", units_ns(a, sizeof(a), gc[0].pause_total_ns),
	     units_ns(b, sizeof(b), gc[1].pause_total_ns),
	     units_ns(c, sizeof(c), gc[2].pause_total_ns));
	line(f, "pause max", "%12s%12s%12s", units_ns(a, sizeof(a), gc[0].pause_max_ns),
	     units_ns(b, sizeof(b), gc[1].pause_max_ns), units_ns(c, sizeof(c), gc[2].pause_max_ns));
	/* The quantiles are upper bounds of log2 slots (hist.h): say "<=". */
	line(f, "pause (all)", "total %s  max %s  p50 <= %s  p99 <= %s",
	     units_ns(a, sizeof(a), total), units_ns(b, sizeof(b), max),
	     units_ns(c, sizeof(c), hist_quantile(hist, PMT_HIST_SLOTS, 0.50)),
	     units_ns(d, sizeof(d), hist_quantile(hist, PMT_HIST_SLOTS, 0.99)));
	print_gc_sampling(f, p);
	if (hist_total(hist, PMT_HIST_SLOTS)) {
		fprintf(f, "pause histogram (all generations):\n");
		hist_print(f, hist, PMT_HIST_SLOTS, "ns", "  ");
	}
}

static void print_arenas(FILE *f, const struct proc_report *p)
{
	const struct pmt_proc_stats *st = &p->stats;
	char a[UNITS_BUFSZ], b[UNITS_BUFSZ], c[UNITS_BUFSZ];

	if (proc_report_group_unavailable(p, "arena_")) {
		line(f, "arenas", "unavailable (see probes)");
		return;
	}
	line(f, "arenas", "allocated %" PRIu64 " (%s)  freed %" PRIu64 " (%s)  net %+" PRId64 " (%s)",
	     U64(st->arena_allocs), units_bytes(a, sizeof(a), st->arena_alloc_bytes),
	     U64(st->arena_frees), units_bytes(b, sizeof(b), st->arena_free_bytes),
	     (int64_t)(st->arena_allocs - st->arena_frees),
	     units_sbytes(c, sizeof(c), (int64_t)(st->arena_alloc_bytes - st->arena_free_bytes)));
	if (st->arena_alloc_failed)
		line(f, "", "%" PRIu64 " arena allocations failed", U64(st->arena_alloc_failed));
}

/* mmap/munmap/brk byte counts are signed in the BPF struct; munmap and mmap
 * never go negative, so print them unsigned-looking. */
static const char *sys_bytes(char *buf, size_t len, int64_t v, bool signed_)
{
	return signed_ || v < 0 ? units_sbytes(buf, len, v) : units_bytes(buf, len, v);
}

static void print_syscalls(FILE *f, const struct pmt_proc_stats *st)
{
	char a[UNITS_BUFSZ], b[UNITS_BUFSZ], c[UNITS_BUFSZ];

	line(f, "mmap", "anon %" PRIu64 " calls %s   file %" PRIu64 " calls %s",
	     U64(st->mmap_anon.calls), sys_bytes(a, sizeof(a), st->mmap_anon.bytes, false),
	     U64(st->mmap_file.calls), sys_bytes(b, sizeof(b), st->mmap_file.bytes, false));
	line(f, "munmap", "%" PRIu64 " calls %s   mremap %" PRIu64 " calls %s   brk %" PRIu64
	     " calls %s", U64(st->munmap.calls), sys_bytes(a, sizeof(a), st->munmap.bytes, false),
	     U64(st->mremap.calls), sys_bytes(b, sizeof(b), st->mremap.bytes, true),
	     U64(st->brk.calls), sys_bytes(c, sizeof(c), st->brk.bytes, true));
	if (st->syscalls_failed)
		line(f, "", "%" PRIu64 " of these calls failed (not counted above)",
		     U64(st->syscalls_failed));
}

static void print_measured(FILE *f, const struct proc_report *p)
{
	char a[UNITS_BUFSZ], b[UNITS_BUFSZ], c[UNITS_BUFSZ];
	char reason[SAFE_LEN(sizeof(p->cache.reason))];

	if (p->faults.valid)
		line(f, "page faults", "minor %" PRIu64 "  major %" PRIu64,
		     p->faults.minor, p->faults.major);
	else
		line(f, "page faults", "unavailable");

	/* Unsupported counters are never printed as zeros. */
	if (p->cache.supported && p->cache.references)
		line(f, "cache", "references %" PRIu64 "  misses %" PRIu64 " (%.1f%%)",
		     p->cache.references, p->cache.misses,
		     100.0 * p->cache.misses / p->cache.references);
	else if (p->cache.supported)
		line(f, "cache", "references %" PRIu64 "  misses %" PRIu64,
		     p->cache.references, p->cache.misses);
	else
		line(f, "cache", "unsupported: %s", p->cache.reason[0] ?
		     units_sanitize(reason, sizeof(reason), STRN(p->cache.reason)) : "no reason given");

	line(f, "RSS", "start %s  end %s  peak %s (%s)", units_bytes(a, sizeof(a), p->rss.start),
	     units_bytes(b, sizeof(b), p->rss.end), units_bytes(c, sizeof(c), p->rss.peak),
	     p->rss.peak_exact ? "exact" : "sampled");
}

static void print_probes(FILE *f, const struct proc_report *p)
{
	unsigned n = p->n_probes < PMT_MAX_PROBES ? p->n_probes : PMT_MAX_PROBES;
	char name[SAFE_LEN(sizeof(p->probes[0].name))];
	char what[SAFE_LEN(sizeof(p->probes[0].reason))];
	char link[SAFE_LEN(sizeof(p->probes[0].link))];

	if (!n) {
		line(f, "probes", "none");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct probe_status *ps = &p->probes[i];

		units_sanitize(name, sizeof(name), STRN(ps->name));
		if (ps->attached)
			units_sanitize(what, sizeof(what), STRN(ps->how));
		else
			units_sanitize(what, sizeof(what), STRN(ps->reason));
		units_sanitize(link, sizeof(link), STRN(ps->link));
		line(f, i ? "" : "probes", "%s: %s%s%s%s%s%s", name,
		     ps->attached ? "attached" : "UNAVAILABLE", link[0] ? " (" : "", link,
		     link[0] ? ")" : "", what[0] ? ", " : "", what);
	}
}

/* ---- --alloc ------------------------------------------------------------- */

/* A target string held by pointer (NULL when the session could not read it),
 * escaped; cut at FRAME_TEXT bytes, which the caller's buffer must hold
 * escaped. */
static const char *sanitize_ptr(char *out, size_t outlen, const char *s)
{
	if (!s || !s[0])
		return "?";
	return units_sanitize(out, outlen, s, strnlen(s, FRAME_TEXT));
}

/* A rate in bytes per second; nonsense (negative, NaN, huge) prints as "?". */
static const char *rate_text(char *buf, size_t len, double rate)
{
	char b[UNITS_BUFSZ];

	if (!isfinite(rate) || rate < 0 || rate >= 1.8e19)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s/s", units_bytes(b, sizeof(b), (uint64_t)rate));
	return buf;
}

static void print_alloc_totals(FILE *f, const struct alloc_report *a)
{
	char x[UNITS_BUFSZ], y[UNITS_BUFSZ], z[UNITS_BUFSZ + 2];

	line(f, "allocations", "%" PRIu64 " blocks, %s  rate %s", a->count,
	     units_bytes(x, sizeof(x), a->bytes), rate_text(z, sizeof(z), a->rate_bytes_per_s));
	if (a->windowed) {
		line(f, "frees, live", "not known with --sampled (frees are not probed)");
		return;
	}
	line(f, "frees", "%" PRIu64 " blocks, %s", a->frees,
	     units_bytes(x, sizeof(x), a->freed_bytes));
	line(f, "live", "%" PRIu64 " blocks, %s  peak %s", a->live_count,
	     units_bytes(x, sizeof(x), a->live_bytes),
	     units_bytes(y, sizeof(y), a->peak_live_bytes));
}

/* Low coverage is said in words: a reader must not take partial numbers for
 * the whole. */
static void print_alloc_coverage(FILE *f, const struct alloc_report *a)
{
	char reason[SAFE_LEN(sizeof(a->coverage_reason))];
	double c = a->coverage;
	int pct;

	if (a->coverage_reason[0])
		units_sanitize(reason, sizeof(reason), STRN(a->coverage_reason));
	else
		snprintf(reason, sizeof(reason), "no reason given");
	if (!a->coverage_known || isnan(c)) {
		line(f, "coverage", "unknown: %s", reason);
		line(f, "", "these numbers may be partial");
		return;
	}
	c = c < 0 ? 0 : c > 1 ? 1 : c;
	/* Rounded down: 89.9% must not print as a reassuring 90%. */
	pct = (int)floor(c * 100);
	line(f, "coverage", "%d%% of the interpreter's allocations", pct);
	if (c < COVERAGE_OK)
		line(f, "", "PARTIAL: pymemtrace saw only about %d%% of the allocations, so "
		     "the counts, bytes and stacks below are lower than the truth "
		     "(%s)", pct, reason);
	else if (a->coverage_reason[0])
		line(f, "", "%s", reason);
}

/* Memory in pymalloc's arenas but in no live block: readers who see RSS
 * stay high after a peak should not call it a leak. */
static void print_alloc_retained(FILE *f, const struct alloc_report *a)
{
	char reason[SAFE_LEN(sizeof(a->retained_reason))];
	char x[UNITS_BUFSZ];

	if (a->retained_known) {
		line(f, "pymalloc", "kept by pymalloc for reuse (not a leak): %s",
		     units_bytes(x, sizeof(x), a->retained_bytes));
		return;
	}
	if (a->retained_reason[0])
		units_sanitize(reason, sizeof(reason), STRN(a->retained_reason));
	else
		snprintf(reason, sizeof(reason), "no reason given");
	line(f, "pymalloc", "memory kept by pymalloc for reuse unknown: %s", reason);
}

static uint64_t stack_weight(const struct alloc_stack *s, bool live)
{
	return live ? s->live_bytes : s->bytes;
}

/* The next stack in descending weight order after the one at *prev (ties
 * by index), or -1.  O(n) per call and no allocation: the lists are short. */
static long next_top(const struct alloc_report *a, bool live, long prev)
{
	uint64_t pw = prev >= 0 ? stack_weight(&a->stacks[prev], live) : UINT64_MAX;
	unsigned n = a->stacks ? a->n_stacks : 0;
	long best = -1;

	for (unsigned i = 0; i < n; i++) {
		uint64_t w = stack_weight(&a->stacks[i], live);

		if (!w || w > pw || (prev >= 0 && w == pw && (long)i <= prev))
			continue;
		if (best < 0 || w > stack_weight(&a->stacks[best], live))
			best = i;
	}
	return best;
}

static void print_frame(FILE *f, const char *text)
{
	fprintf(f, "%8s", "");
	print_wrapped(f, text, 8, 10);
}

static void print_stack_frames(FILE *f, const struct alloc_stack *s)
{
	unsigned n_py = s->python ? s->n_python : 0, n_nat = s->native ? s->n_native : 0;
	char file[SAFE_LEN(FRAME_TEXT)], fn[SAFE_LEN(FRAME_TEXT)];
	char text[2 * SAFE_LEN(FRAME_TEXT) + 32];

	for (unsigned i = 0; i < n_py && i < STACK_FRAMES; i++) {
		const struct py_frame_info *fr = &s->python[i];
		char ln[16] = "?";

		if (fr->line >= 0)
			snprintf(ln, sizeof(ln), "%d", fr->line);
		snprintf(text, sizeof(text), "%s:%s %s", sanitize_ptr(file, sizeof(file), fr->file),
			 ln, sanitize_ptr(fn, sizeof(fn), fr->function));
		print_frame(f, text);
	}
	if (n_py > STACK_FRAMES)
		fprintf(f, "%8s(%u more Python frames)\n", "", n_py - STACK_FRAMES);
	for (unsigned i = 0; i < n_nat && i < STACK_FRAMES; i++) {
		snprintf(text, sizeof(text), "[native] %s",
			 sanitize_ptr(fn, sizeof(fn), s->native[i]));
		print_frame(f, text);
	}
	if (n_nat > STACK_FRAMES)
		fprintf(f, "%8s(%u more native frames)\n", "", n_nat - STACK_FRAMES);
	if (!n_py && !n_nat)
		fprintf(f, "%8s(no frames)\n", "");
	if (s->truncated)
		fprintf(f, "%8s(truncated)\n", "");
}

static void print_top(FILE *f, const struct alloc_report *a, bool live)
{
	char x[UNITS_BUFSZ], y[UNITS_BUFSZ], head[160];
	unsigned shown = 0, top = a->top_n ? a->top_n : TOP_STACKS;
	long i = -1;

	fprintf(f, "top stacks by %s:\n", live ? "live bytes" : "allocated bytes");
	while (shown < top && (i = next_top(a, live, i)) >= 0) {
		const struct alloc_stack *s = &a->stacks[i];

		if (a->windowed) /* nothing is known live */
			snprintf(head, sizeof(head), "allocated ~%s in ~%" PRIu64 " blocks",
				 units_bytes(y, sizeof(y), s->bytes), s->count);
		else
			snprintf(head, sizeof(head), "live %s in %" PRIu64 " blocks  allocated "
				 "%s in %" PRIu64 " blocks",
				 units_bytes(x, sizeof(x), s->live_bytes), s->live_count,
				 units_bytes(y, sizeof(y), s->bytes), s->count);
		fprintf(f, "  #%-4u", ++shown);
		print_wrapped(f, head, 7, 8);
		print_stack_frames(f, s);
	}
	if (!shown)
		fprintf(f, "  none: no stack has %s\n", live ? "live bytes" : "allocations");
}

/* --sampled: what the estimates rest on, so that nobody reads them as counts. */
static void print_alloc_windows(FILE *f, const struct alloc_report *a)
{
	if (!a->windows) {
		line(f, "sampled", "no window opened yet (one every ~%u ms): nothing seen, "
		     "the zeros above are not data", a->period_ms);
		return;
	}
	line(f, "sampled", "%u windows of ~%u ms every ~%u ms, %.1f ms armed: counts and "
	     "bytes are estimates (x%.0f, a lower bound; the shares between stacks are "
	     "the figure to trust)", a->windows, a->window_ms, a->period_ms,
	     a->windows_s * 1000, a->window_scale);
	if (a->window_failures)
		line(f, "", "%" PRIu64 " window links failed to attach", a->window_failures);
}

static void print_alloc(FILE *f, const struct proc_report *p)
{
	const struct alloc_report *a = &p->alloc;

	if (!a->enabled)
		return;
	print_alloc_totals(f, a);
	print_alloc_coverage(f, a);
	if (a->windowed)
		print_alloc_windows(f, a);
	else if (a->sampled)
		line(f, "sampled", "1 in %u: counts and bytes are estimates", a->sample_every);
	print_alloc_retained(f, a);
	if (!a->windowed)
		print_top(f, a, true);
	print_top(f, a, false);
}

/* Each loss next to what fixes it, from the one table (lost.h); the label
 * is printed once, on the first line of the block. */
static void print_lost(FILE *f, const struct proc_report *p)
{
	const char *label = "lost data";
	char what[256];

	if (!proc_report_lost_total(p)) {
		line(f, label, "none");
		return;
	}
	for (unsigned r = 0; r < LOST_NR; r++) {
		if (!lost_count(p, r))
			continue;
		line(f, label, "%s", lost_describe(what, sizeof(what), p, r));
		label = "";
	}
}

static const char *const growth_kind_label[PMT_GROWTH_KINDS] = {
	[PMT_GROWTH_POOL] = "pools", [PMT_GROWTH_ARENA] = "arenas",
	[PMT_GROWTH_MMAP] = "mmap", [PMT_GROWTH_BRK] = "brk",
};

/* "pools 14.1 MiB (903)  arenas 15.0 MiB (15) ...", kinds with events only */
static void growth_kinds_text(char *buf, size_t len, const uint64_t *bytes, const uint64_t *events)
{
	size_t used = 0;

	buf[0] = 0;
	for (int k = 0; k < PMT_GROWTH_KINDS && used < len; k++) {
		char b[UNITS_BUFSZ];
		int n;

		if (!events[k])
			continue;
		n = snprintf(buf + used, len - used, "%s%s %s (%" PRIu64 ")", used ? "  " : "",
			     growth_kind_label[k], units_bytes(b, sizeof(b), bytes[k]), events[k]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (!used)
		snprintf(buf, len, "none");
}

static void print_growth(FILE *f, const struct proc_report *p)
{
	const struct growth_report *g = &p->growth;
	unsigned top = g->top_n ? g->top_n : TOP_STACKS;
	char body[LINE_MAX_], b[UNITS_BUFSZ];

	if (!g->enabled)
		return;
	growth_kinds_text(body, sizeof(body), g->bytes, g->events);
	line(f, "heap growth", "%s", body);
	if (!g->pools_probed)
		line(f, "", "%s", g->pools_reason);
	fprintf(f, "top stacks by heap growth (%s):\n",
		g->pools_probed ? "pools + mmap + brk; arenas are pools' memory again"
				: "arenas + mmap + brk");
	for (unsigned i = 0; g->stacks && i < g->n_stacks && i < top; i++) {
		const struct growth_stack *gs = &g->stacks[i];
		char head[LINE_MAX_ + UNITS_BUFSZ + 4];

		growth_kinds_text(body, sizeof(body), gs->bytes, gs->events);
		snprintf(head, sizeof(head), "%s: %s", units_bytes(b, sizeof(b), gs->stack.bytes), body);
		fprintf(f, "  #%-4u", i + 1);
		print_wrapped(f, head, 7, 8);
		print_stack_frames(f, &gs->stack);
	}
	if (!g->n_stacks)
		fprintf(f, "  none: no heap growth was seen\n");
}

static void print_proc(FILE *f, const struct proc_report *p, struct census_trace *census)
{
	char a[UNITS_BUFSZ];

	print_header(f, p);
	line(f, "traced", "%s", units_seconds(a, sizeof(a), p->traced_seconds));
	print_gc(f, p);
	print_arenas(f, p);
	print_syscalls(f, &p->stats);
	print_measured(f, p);
	print_alloc(f, p);
	print_growth(f, p);
	if (census)
		census_trace__text(census, f, p->pid);
	print_probes(f, p);
	print_lost(f, p);
}

/* Interval reports: one line per process, the numbers the caller chose. */
#define ROW_FMT "%7s %-15s %10s %8s %8s %10s %10s %s\n"

static void print_interval_row(FILE *f, const struct proc_report *p)
{
	const struct pmt_proc_stats *st = &p->stats;
	char pid[16], comm[SAFE_LEN(sizeof(p->comm))], gc[48], arenas[48];
	char pause[UNITS_BUFSZ], mmap[UNITS_BUFSZ], rss[UNITS_BUFSZ], lost[24];
	uint64_t pause_ns = 0;

	for (unsigned g = 0; g < PMT_GENERATIONS; g++)
		pause_ns += st->gc[g].pause_total_ns;
	snprintf(pid, sizeof(pid), "%d", (int)p->pid);
	/* comm is at most 15 bytes; escaped it may be longer: cut for the column. */
	units_sanitize(comm, sizeof(comm), STRN(p->comm));
	comm[15] = '\0';
	snprintf(gc, sizeof(gc), "%" PRIu64 "/%" PRIu64 "/%" PRIu64,
		 U64(st->gc[0].collections), U64(st->gc[1].collections), U64(st->gc[2].collections));
	snprintf(arenas, sizeof(arenas), "+%" PRIu64 "/-%" PRIu64, U64(st->arena_allocs),
		 U64(st->arena_frees));
	snprintf(lost, sizeof(lost), "%" PRIu64, proc_report_lost_total(p));
	fprintf(f, ROW_FMT, pid, comm, gc, units_ns(pause, sizeof(pause), pause_ns), arenas,
		sys_bytes(mmap, sizeof(mmap), st->mmap_anon.bytes + st->mmap_file.bytes, false),
		units_bytes(rss, sizeof(rss), p->rss.end), lost);
	if (p->alloc.enabled) {
		char live[UNITS_BUFSZ], peak[UNITS_BUFSZ], total[UNITS_BUFSZ], rate[UNITS_BUFSZ];

		/* Leak watching: live bytes at each interval, next to their peak. */
		if (p->alloc.windowed) {
			fprintf(f, "%*s alloc allocated %s  %s/s  (estimates: %u windows)\n", 7, "",
				units_bytes(total, sizeof(total), p->alloc.bytes),
				units_bytes(rate, sizeof(rate), (uint64_t)p->alloc.rate_bytes_per_s),
				p->alloc.windows);
			return;
		}
		fprintf(f, "%*s alloc live %s (peak %s)  allocated %s  %s/s%s\n", 7, "",
			units_bytes(live, sizeof(live), p->alloc.live_bytes),
			units_bytes(peak, sizeof(peak), p->alloc.peak_live_bytes),
			units_bytes(total, sizeof(total), p->alloc.bytes),
			units_bytes(rate, sizeof(rate), (uint64_t)p->alloc.rate_bytes_per_s),
			p->alloc.sampled ? "  (estimates)" : "");
	}
}

static void print_interval(FILE *f, const struct report *r)
{
	char a[UNITS_BUFSZ];
	double pct;

	fprintf(f, "pymemtrace: interval at %s\n", units_seconds(a, sizeof(a), r->elapsed_seconds));
	fprintf(f, ROW_FMT, "PID", "COMM", "GC 0/1/2", "PAUSE", "ARENAS", "MMAP", "RSS", "LOST");
	for (unsigned i = 0; i < r->n_procs; i++)
		print_interval_row(f, &r->procs[i]);
	if (r->retired.processes)
		fprintf(f, "%u exited process%s retired so far\n",
			r->retired.processes, r->retired.processes == 1 ? "" : "es");
	if (overhead_share_pct(&r->overhead, &pct) && pct >= 100)
		fprintf(f, "probes so far: about all of the traced processes' CPU (estimate "
			"%.2f%%)\n", pct);
	else if (overhead_share_pct(&r->overhead, &pct))
		fprintf(f, "probes so far: at least %.2f%% of the traced processes' CPU\n", pct);
}

/* Across processes, the retired ones included: only when there is more
 * than one to add up. */
static void print_totals(FILE *f, const struct report *r)
{
	const struct retired_totals *rt = &r->retired;
	char mm[UNITS_BUFSZ], path[SAFE_LEN(PATH_MAX)];
	struct report_totals t;

	if (r->n_procs + rt->processes < 2 && !r->forks_missed && !r->all_path)
		return;
	report_totals(r, &t);
	fprintf(f, "\n== totals: %u process%s", r->n_procs + rt->processes,
		r->n_procs + rt->processes == 1 ? "" : "es");
	if (rt->processes)
		fprintf(f, " (%u retired: exited, reported earlier)", rt->processes);
	fputc('\n', f);
	line(f, "GC collections", "%" PRIu64 " / %" PRIu64 " / %" PRIu64 " (gen 0 / 1 / 2)",
	     U64(t.gc[0]), U64(t.gc[1]), U64(t.gc[2]));
	line(f, "arenas", "%" PRIu64 " allocated", U64(t.arenas));
	line(f, "mmap", "%s", sys_bytes(mm, sizeof(mm), t.mmap_bytes, false));
	if (r->all_path)
		line(f, "--all", "%s: %" PRIu64 " processes not traced (--max-procs, or gone "
		     "at once)", units_sanitize(path, sizeof(path), r->all_path, PATH_MAX),
		     U64(r->all_untracked));
	if (r->forks_followed || r->forks_missed || r->forks_execd)
		line(f, "forks", "%u followed, %u missed (gone before their probes were attached), "
		     "%u dropped at exec", r->forks_followed, r->forks_missed, r->forks_execd);
	line(f, "lost data", "%" PRIu64, U64(t.lost));
}

/* --events: what the stream carried and what it lost, for every process. */
/* What the probes cost the traced processes: hits, and their measured cost. */
static void print_budget(FILE *f, const struct overhead_report *o)
{
	if (!o->budget_pct)
		return;
	if (o->budget_exceeded)
		line(f, "", "--max-overhead %u%%: exceeded %.1f s into the trace (%.1f%% over "
		     "the %.1f s before): the trace ended there", o->budget_pct,
		     o->budget_at_seconds, 100 * o->budget_share, o->budget_window_s);
	else
		line(f, "", "--max-overhead %u%%: never exceeded", o->budget_pct);
}

static void print_gc_budget(FILE *f, const struct gc_budget_report *b)
{
	char at[UNITS_BUFSZ], armed[UNITS_BUFSZ];

	if (!b->on) {
		if (strcmp(b->why, "--gc-budget off"))
			line(f, "GC timing", "every collection timed; no --gc-budget windows: %s",
			     b->why);
		return;
	}
	if (!b->to_sampled)
		return;
	line(f, "GC timing", "timing every collection cost at least %.1f%% of the traced "
	     "processes' CPU, charged %g x that (%.1f%%) for the traps' cache effects, over "
	     "--gc-budget %g%%: from %s on, timed in %u windows of %.0f ms (%s armed)%s",
	     100 * b->trigger_share / b->charge, b->charge, 100 * b->trigger_share, b->pct,
	     units_seconds(at, sizeof(at), b->first_sampled_s),
	     b->windows, b->window_s * 1000, units_seconds(armed, sizeof(armed), b->windows_s),
	     b->sampled_now ? "" : "; timing all again at the end");
	if (b->sampled_now)
		line(f, "", "armed %.0f%% of the time at the end", 100 * b->duty);
}

/* Handlers whose hits no counter saw: named, so that a low count is not
 * taken for a cheap trace. */
static void print_uncounted(FILE *f, const struct overhead_report *o)
{
	char names[256] = "";
	size_t len = 0;

	for (unsigned h = PMT_H_NONE + 1; h < PMT_H_NR && len < sizeof(names); h++)
		if (o->uncounted & (1u << h))
			len += snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "",
					trap_cost__handler_name(h));
	if (o->uncounted)
		line(f, "", "not counted: the hits of %s (probes attached by libbpf past the "
		     "dispatcher); the estimate leaves them out", names);
}

static void print_overhead(FILE *f, const struct overhead_report *o)
{
	char est[UNITS_BUFSZ], cpu[UNITS_BUFSZ], bpf[UNITS_BUFSZ];
	double pct;
	bool share = overhead_share_pct(o, &pct);

	if (!o->counted) {
		line(f, "overhead", "not measured: %s", o->why);
		return;
	}
	if (!o->cost.measured) {
		line(f, "overhead", "probe hits %" PRIu64 " (entry %" PRIu64 ", return %" PRIu64
		     "); their cost was not measured: %s", o->entry_hits + o->return_hits,
		     o->entry_hits, o->return_hits, o->cost.why);
		print_uncounted(f, o);
		return;
	}
	units_seconds(est, sizeof(est), o->estimate_seconds);
	units_seconds(cpu, sizeof(cpu), o->target_cpu_seconds);
	if (share && pct >= 100)
		/* Not a bound any more: the per-hit cost, timed on one thread
		 * at start-up, varies 10-20% between runs, and near 100% that
		 * error alone passes the CPU the estimate is a share of. */
		line(f, "overhead", "probe hits %" PRIu64 " (entry %" PRIu64 ", return %" PRIu64
		     "): %s by the start-up cost, more than the traced processes' %s of CPU "
		     "(%.2f%%): a hit cost them less than it did here at start-up, and the "
		     "probes took about all of their CPU", o->entry_hits + o->return_hits,
		     o->entry_hits, o->return_hits, est, cpu, pct);
	else if (share)
		line(f, "overhead", "probe hits %" PRIu64 " (entry %" PRIu64 ", return %" PRIu64
		     "): at least %s of the traced processes' %s of CPU (%.2f%%)",
		     o->entry_hits + o->return_hits, o->entry_hits, o->return_hits, est, cpu, pct);
	else
		line(f, "overhead", "probe hits %" PRIu64 " (entry %" PRIu64 ", return %" PRIu64
		     "): at least %s of the traced processes' CPU", o->entry_hits + o->return_hits,
		     o->entry_hits, o->return_hits, est);
	print_uncounted(f, o);
	if (o->bpf_timed)
		line(f, "", "a hit's trap and dispatch %.0f ns, a return %.0f ns more (measured "
		     "here at start-up); BPF programs %s (kernel.bpf_stats_enabled)",
		     o->cost.entry_ns, o->cost.return_ns,
		     units_seconds(bpf, sizeof(bpf), o->bpf_seconds));
	else if (o->gc_handlers_timed && o->gc_handlers_seconds > 0)
		line(f, "", "a hit's trap and dispatch %.0f ns, a return %.0f ns more (measured "
		     "here at start-up); the GC handlers %s (timed in BPF); the other BPF "
		     "programs' own work is not in it (kernel.bpf_stats_enabled=1 adds it)",
		     o->cost.entry_ns, o->cost.return_ns,
		     units_seconds(bpf, sizeof(bpf), o->gc_handlers_seconds));
	else
		line(f, "", "a hit's trap and dispatch %.0f ns, a return %.0f ns more (measured "
		     "here at start-up); the BPF programs' own work is not in it "
		     "(kernel.bpf_stats_enabled=1 adds it)", o->cost.entry_ns, o->cost.return_ns);
	/* Past a tenth, say what it means for the service, and what costs less;
	 * at 100% or more the share cannot tell how many times slower. */
	if (share && pct >= 10 && pct < 100)
		line(f, "", "so the traced processes ran at least %.1fx slower while traced; "
		     "--sampled and --heap-growth cost far less (README \"Overhead\")",
		     100 / (100 - pct));
	else if (share && pct >= 100)
		line(f, "", "so the traced processes ran many times slower while traced (how "
		     "many, a share this near 100%% cannot tell); --sampled and --heap-growth "
		     "cost far less (README \"Overhead\")");
	print_budget(f, o);
}

static void print_events(FILE *f, const struct events_report *ev)
{
	char path[SAFE_LEN(256)], ring[UNITS_BUFSZ];

	if (!ev->enabled)
		return;
	units_sanitize(path, sizeof(path), ev->path ? ev->path : "?", 256);
	line(f, "events", "%" PRIu64 " written to '%s' (ring %s)", ev->written,
	     strcmp(path, "-") ? path : "stdout", units_bytes(ring, sizeof(ring), ev->ring_bytes));
	if (ev->dropped)
		line(f, "", "%" PRIu64 " dropped: the ring was full (increase --ringbuf-kb)",
		     ev->dropped);
	if (ev->late)
		line(f, "", "%" PRIu64 " written out of time order (held up in the kernel)",
		     ev->late);
	if (ev->bad_records)
		line(f, "", "%" PRIu64 " malformed records skipped", ev->bad_records);
	if (ev->error)
		line(f, "", "write error: %s (the file is incomplete)", strerror(-ev->error));
}

void output_text(FILE *f, const struct report *r)
{
	char a[UNITS_BUFSZ];

	if (!f || !r)
		return;
	if (!r->procs && r->n_procs) {
		fprintf(f, "pymemtrace: no process data\n");
		return;
	}
	if (!r->final) {
		print_interval(f, r);
		return;
	}
	fprintf(f, "pymemtrace: %u process%s, %s\n", r->n_procs, r->n_procs == 1 ? "" : "es",
		units_seconds(a, sizeof(a), r->elapsed_seconds));
	if (r->tracer.valid) {
		char at[UNITS_BUFSZ], cpu[UNITS_BUFSZ], rss[UNITS_BUFSZ];

		line(f, "tracer", "attach %s  CPU %s  peak RSS %s",
		     units_seconds(at, sizeof(at), r->tracer.attach_seconds),
		     units_seconds(cpu, sizeof(cpu), r->tracer.cpu_seconds),
		     units_bytes(rss, sizeof(rss), r->tracer.peak_rss_bytes));
	}
	print_overhead(f, &r->overhead);
	print_gc_budget(f, &r->gc_budget);
	if (r->ringbuf_drops)
		line(f, "lost data", "ring buffer drops %" PRIu64
		     " not tied to a process (increase --ringbuf-kb)", r->ringbuf_drops);
	print_events(f, &r->events);
	for (unsigned i = 0; i < r->n_procs; i++) {
		fputc('\n', f);
		print_proc(f, &r->procs[i], r->census);
	}
	print_totals(f, r);
}
