/* The --live terminal view: see live_view.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>
#include <sys/mman.h>
#include <curses.h>
#include <term.h>
#include "hist.h"
#include "live_view.h"
#include "units.h"

#define ROW_BYTES      2048   /* one formatted row, before clipping */
#define FRAME_TEXT      256   /* longest target string shown, before escaping */
#define STACK_FRAMES     12   /* Python frames joined on one stack row (it is clipped anyway) */
#define DEFAULT_TOP      10
#define COVERAGE_OK     0.9   /* below this the numbers are called partial */
#define REPLAY_MAX (1 << 20)  /* captured stderr written back at the end, at most */

/* What the stacks are sorted by; 's' cycles through the modes of the
 * stacks shown (allocation stacks: the first three; growth stacks: the
 * last two). */
enum sort_key {
	SORT_LIVE, SORT_ALLOC_BYTES, SORT_BLOCKS,
	SORT_GROWTH_BYTES, SORT_GROWTH_EVENTS,
};

static const char *const sort_name[] = {
	[SORT_LIVE] = "live bytes", [SORT_ALLOC_BYTES] = "allocated bytes",
	[SORT_BLOCKS] = "allocated blocks", [SORT_GROWTH_BYTES] = "heap growth",
	[SORT_GROWTH_EVENTS] = "growth events",
};

/* The counters a rate is computed from, as they were at the last frame. */
struct proc_snap {
	pid_t pid;
	double t;                 /* report time (elapsed since the session began) */
	uint64_t rss;
	uint64_t alloc_bytes, alloc_count;
	uint64_t collections[PMT_GENERATIONS];
	uint64_t arena_allocs;
	int64_t heap_net;         /* mmap + mremap + brk - munmap, bytes */
};

struct live_view {
	struct live_view_opts o;
	SCREEN *scr;
	FILE *in;                 /* where keys come from; NULL: no keys */
	bool own_in;              /* in was opened here (/dev/tty) */
	bool utf8;                /* the locale's charset is UTF-8 */
	char *saved_ctype;        /* LC_CTYPE before the view, restored after */
	int saved_stderr;         /* the real stderr while fd 2 is captured, or -1 */
	int capture_fd;           /* the memfd fd 2 points to, or -1 */

	unsigned sort;            /* index into the current mode list */
	bool paused;
	int y;                    /* the next row to draw */

	struct proc_snap *snaps;  /* one per process of the last frame drawn */
	unsigned n_snaps;
	unsigned *order;          /* scratch: stack indices, sorted */
	size_t order_cap;
};

/* The view that owns the terminal, so that an exit() anywhere still gives
 * it back (atexit). */
static struct live_view *active;

/* ---- rates ------------------------------------------------------------- */

static int64_t heap_net_of(const struct pmt_proc_stats *st)
{
	return (int64_t)st->mmap_anon.bytes + (int64_t)st->mmap_file.bytes + st->mremap.bytes +
	       st->brk.bytes - (int64_t)st->munmap.bytes;
}

static struct proc_snap snap_of(const struct report *r, const struct proc_report *p)
{
	struct proc_snap s = {
		.pid = p->pid,
		.t = r->elapsed_seconds,
		.rss = p->rss.end,
		.alloc_bytes = p->alloc.bytes,
		.alloc_count = p->alloc.count,
		.arena_allocs = p->stats.arena_allocs,
		.heap_net = heap_net_of(&p->stats),
	};

	for (unsigned g = 0; g < PMT_GENERATIONS; g++)
		s.collections[g] = p->stats.gc[g].collections;
	return s;
}

/* The snapshot a process's rates are taken against: the last frame's, or,
 * for the first frame, zero counters at the moment its trace began. */
static struct proc_snap prev_of(const struct live_view *v, const struct report *r,
				const struct proc_report *p)
{
	for (unsigned i = 0; i < v->n_snaps; i++)
		if (v->snaps[i].pid == p->pid)
			return v->snaps[i];
	return (struct proc_snap){
		.pid = p->pid,
		.t = r->elapsed_seconds - p->traced_seconds,
		.rss = p->rss.start,
	};
}

static bool remember(struct live_view *v, const struct report *r)
{
	struct proc_snap *s = NULL;

	if (r->n_procs) {
		s = calloc(r->n_procs, sizeof(*s));
		if (!s)
			return false;
		for (unsigned i = 0; i < r->n_procs; i++)
			s[i] = snap_of(r, &r->procs[i]);
	}
	free(v->snaps);
	v->snaps = s;
	v->n_snaps = r->n_procs;
	return true;
}

/* Per second; NAN when the interval is empty or a counter went back. */
static double per_s(uint64_t now, uint64_t before, double dt)
{
	if (!(dt > 0) || now < before)
		return NAN;
	return (double)(now - before) / dt;
}

static double sper_s(int64_t now, int64_t before, double dt)
{
	if (!(dt > 0))
		return NAN;
	return ((double)now - (double)before) / dt;
}

static const char *rate_bytes(char *buf, size_t len, double rate)
{
	char b[UNITS_BUFSZ];

	if (!isfinite(rate) || rate >= 9.2e18 || rate <= -9.2e18)
		snprintf(buf, len, "?");
	else if (rate < 0)
		snprintf(buf, len, "%s/s", units_sbytes(b, sizeof(b), (int64_t)rate));
	else
		snprintf(buf, len, "%s/s", units_bytes(b, sizeof(b), (uint64_t)rate));
	return buf;
}

static const char *rate_count(char *buf, size_t len, double rate)
{
	if (!isfinite(rate) || rate < 0)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%.1f", rate);
	return buf;
}

/* ---- rows ---------------------------------------------------------------- */

/* Copies text into out so that it takes at most `cols` terminal columns:
 * ASCII as is, other characters (already escaped UTF-8) by their width, or
 * as '?' when the locale cannot show them.  Returns the bytes used. */
static size_t clip(const struct live_view *v, const char *text, char *out, size_t outlen,
		   int cols)
{
	const unsigned char *u = (const unsigned char *)text;
	size_t i = 0, o = 0, n = strlen(text);
	int used = 0;

	while (i < n && o + 5 <= outlen) {
		uint32_t cp = 0;
		unsigned len = u[i] < 0x80 ? 1 : units_utf8_seq(u + i, n - i, &cp);
		int w = 1;

		if (!len) {
			len = 1;   /* cannot happen after units_sanitize; shown as '?' */
			cp = '?';
		}
		if (len > 1 && v->utf8) {
			w = wcwidth((wchar_t)cp);
			if (w < 0)
				w = 1;
		}
		if (used + w > cols)
			break;
		if (len == 1 && u[i] < 0x80) {
			out[o++] = (char)(u[i] < 0x20 || u[i] == 0x7f ? '?' : u[i]);
		} else if (v->utf8 && len > 1) {
			memcpy(out + o, u + i, len);
			o += len;
		} else {
			out[o++] = '?';
		}
		used += w;
		i += len;
	}
	out[o] = '\0';
	return o;
}

/* Draws one row at v->y, clipped to the width; rows past the bottom are
 * dropped.  attr: A_NORMAL, A_BOLD, A_REVERSE (then padded to the width). */
static void __attribute__((format(printf, 3, 4)))
row(struct live_view *v, attr_t attr, const char *fmt, ...)
{
	char text[ROW_BYTES], out[ROW_BYTES];
	va_list ap;
	size_t n;

	if (v->y >= LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = clip(v, text, out, sizeof(out), COLS);
	move(v->y, 0);
	attrset(attr);
	addnstr(out, (int)n);
	/* The last cell of the last row cannot be written without a scroll:
	 * padding stops one short there. */
	if (attr & A_REVERSE) {
		int x = getcurx(stdscr), last = COLS - (v->y == LINES - 1 ? 1 : 0);

		for (; x < last; x++)
			addch(' ');
	}
	attrset(A_NORMAL);
	v->y++;
}

/* A target string (NULL or empty: "?"), escaped, cut at FRAME_TEXT bytes. */
static const char *safe(char *out, size_t outlen, const char *s)
{
	if (!s || !s[0])
		return "?";
	return units_sanitize(out, outlen, s, strnlen(s, FRAME_TEXT));
}

/* ---- one process ----------------------------------------------------------- */

static void draw_proc_header(struct live_view *v, const struct proc_report *p)
{
	char comm[4 * sizeof(p->comm) + 1], ver[4 * sizeof(p->version) + 1];
	char detail[4 * sizeof(p->state_detail) + 1], t[UNITS_BUFSZ];

	units_sanitize(comm, sizeof(comm), p->comm, sizeof(p->comm));
	units_sanitize(ver, sizeof(ver), p->version, sizeof(p->version));
	units_sanitize(detail, sizeof(detail), p->state_detail, sizeof(p->state_detail));
	row(v, A_BOLD, "PID %d  %s  CPython %s  %s%s%s  traced %s", (int)p->pid, comm,
	    ver[0] ? ver : "?", proc_state_name(p->state), detail[0] ? ": " : "", detail,
	    units_seconds(t, sizeof(t), p->traced_seconds));
}

static void draw_rss_alloc(struct live_view *v, const struct proc_report *p,
			   const struct proc_snap *prev, double dt)
{
	const struct alloc_report *a = &p->alloc;
	char x[UNITS_BUFSZ], y[UNITS_BUFSZ], z[UNITS_BUFSZ + 4], w[UNITS_BUFSZ + 4];
	char cov[64];

	row(v, A_NORMAL, "  RSS        %s  peak %s (%s)  change %s", units_bytes(x, sizeof(x), p->rss.end),
	    units_bytes(y, sizeof(y), p->rss.peak), p->rss.peak_exact ? "exact" : "sampled",
	    rate_bytes(z, sizeof(z), sper_s((int64_t)p->rss.end, (int64_t)prev->rss, dt)));
	if (!a->enabled) {
		row(v, A_NORMAL, "  alloc      off: --alloc shows the allocation rate, live bytes "
		    "and their stacks");
		return;
	}
	/* Partial numbers say so: never print low numbers as if complete.
	 * Rounded down: 89.9% must not look like 90%. */
	if (!a->coverage_known || isnan(a->coverage)) {
		snprintf(cov, sizeof(cov), "coverage unknown: may be partial");
	} else {
		double c = a->coverage < 0 ? 0 : a->coverage > 1 ? 1 : a->coverage;

		snprintf(cov, sizeof(cov), "%scoverage %d%%", c < COVERAGE_OK ? "PARTIAL: " : "",
			 (int)(c * 100));
	}
	if (a->windowed) {
		row(v, A_NORMAL, "  alloc      %s (%s blocks/s)  live unknown (--sampled)  %s"
		    "  (estimates: %u windows)",
		    rate_bytes(z, sizeof(z), per_s(a->bytes, prev->alloc_bytes, dt)),
		    rate_count(w, sizeof(w), per_s(a->count, prev->alloc_count, dt)), cov,
		    a->windows);
		return;
	}
	row(v, A_NORMAL, "  alloc      %s (%s blocks/s)  live %s in %" PRIu64 " blocks  peak %s  %s%s",
	    rate_bytes(z, sizeof(z), per_s(a->bytes, prev->alloc_bytes, dt)),
	    rate_count(w, sizeof(w), per_s(a->count, prev->alloc_count, dt)),
	    units_bytes(x, sizeof(x), a->live_bytes), a->live_count,
	    units_bytes(y, sizeof(y), a->peak_live_bytes), cov,
	    a->sampled ? "  (estimates: sampled)" : "");
}

static void draw_heap(struct live_view *v, const struct proc_report *p,
		      const struct proc_snap *prev, double dt)
{
	const struct pmt_proc_stats *st = &p->stats;
	char a[UNITS_BUFSZ], b[UNITS_BUFSZ], c[UNITS_BUFSZ], d[UNITS_BUFSZ], e[UNITS_BUFSZ + 4];

	if (proc_report_group_unavailable(p, "arena_"))
		row(v, A_NORMAL, "  arenas     unavailable (the final report's probes say why)");
	else
		row(v, A_NORMAL, "  arenas     +%" PRIu64 " -%" PRIu64 "  net %+" PRId64 " (%s)  %s new/s",
		    (uint64_t)st->arena_allocs, (uint64_t)st->arena_frees,
		    (int64_t)(st->arena_allocs - st->arena_frees),
		    units_sbytes(a, sizeof(a), (int64_t)(st->arena_alloc_bytes - st->arena_free_bytes)),
		    rate_count(e, sizeof(e), per_s(st->arena_allocs, prev->arena_allocs, dt)));
	row(v, A_NORMAL, "  mmap/brk   mmap %s (%" PRIu64 ")  munmap %s (%" PRIu64 ")  mremap %s  "
	    "brk %s  net %s",
	    units_bytes(a, sizeof(a), (uint64_t)st->mmap_anon.bytes + (uint64_t)st->mmap_file.bytes),
	    (uint64_t)(st->mmap_anon.calls + st->mmap_file.calls),
	    units_bytes(b, sizeof(b), (uint64_t)st->munmap.bytes), (uint64_t)st->munmap.calls,
	    units_sbytes(c, sizeof(c), st->mremap.bytes), units_sbytes(d, sizeof(d), st->brk.bytes),
	    rate_bytes(e, sizeof(e), sper_s(heap_net_of(st), prev->heap_net, dt)));
}

/* GC pauses by generation, since the trace began; the rate over the last
 * refresh.  p50/p99 are log2 bucket bounds (hist.h): "<=". */
static void draw_gc(struct live_view *v, const struct proc_report *p,
		    const struct proc_snap *prev, double dt)
{
	if (proc_report_group_unavailable(p, "gc_")) {
		row(v, A_NORMAL, "  GC         unavailable (the final report's probes say why)");
		return;
	}
	row(v, A_NORMAL, "  GC       %12s %8s %11s %11s %11s %10s %10s", "collections", "/s",
	    "collected", "p50 <=", "p99 <=", "max", "total");
	for (unsigned g = 0; g < PMT_GENERATIONS; g++) {
		const struct pmt_gc_gen_stats *s = &p->stats.gc[g];
		char r[UNITS_BUFSZ], q5[UNITS_BUFSZ], q9[UNITS_BUFSZ], mx[UNITS_BUFSZ], tot[UNITS_BUFSZ];
		uint64_t hist[PMT_HIST_SLOTS];  /* __u64 is not uint64_t to the compiler */
		bool any = s->collections > 0;

		for (unsigned i = 0; i < PMT_HIST_SLOTS; i++)
			hist[i] = s->hist[i];

		row(v, A_NORMAL, "  GC gen%u  %12" PRIu64 " %8s %11" PRIu64 " %11s %11s %10s %10s", g,
		    (uint64_t)s->collections,
		    rate_count(r, sizeof(r), per_s(s->collections, prev->collections[g], dt)),
		    (uint64_t)s->collected,
		    any ? units_ns(q5, sizeof(q5), hist_quantile(hist, PMT_HIST_SLOTS, 0.50)) : "-",
		    any ? units_ns(q9, sizeof(q9), hist_quantile(hist, PMT_HIST_SLOTS, 0.99)) : "-",
		    any ? units_ns(mx, sizeof(mx), s->pause_max_ns) : "-",
		    units_ns(tot, sizeof(tot), s->pause_total_ns));
	}
}

static void draw_lost(struct live_view *v, const struct proc_report *p)
{
	uint64_t n = proc_report_lost_total(p);

	if (n)
		row(v, A_BOLD, "  lost data  %" PRIu64 " (the final report lists each kind and its fix)", n);
	else
		row(v, A_NORMAL, "  lost data  none");
}

/* ---- stacks ---------------------------------------------------------------- */

/* The sort modes of the stacks a process shows; n is their number. */
static const enum sort_key *sort_modes(const struct live_view *v, unsigned *n)
{
	static const enum sort_key alloc[] = { SORT_LIVE, SORT_ALLOC_BYTES, SORT_BLOCKS };
	static const enum sort_key growth[] = { SORT_GROWTH_BYTES, SORT_GROWTH_EVENTS };

	if (v->o.alloc) {
		*n = 3;
		return alloc;
	}
	if (v->o.heap_growth) {
		*n = 2;
		return growth;
	}
	*n = 0;
	return NULL;
}

static enum sort_key current_sort(const struct live_view *v)
{
	unsigned n;
	const enum sort_key *m = sort_modes(v, &n);

	return n ? m[v->sort % n] : SORT_LIVE;
}

static uint64_t stack_key(const struct proc_report *p, unsigned i, enum sort_key k)
{
	switch (k) {
	case SORT_LIVE:          return p->alloc.stacks[i].live_bytes;
	case SORT_ALLOC_BYTES:   return p->alloc.stacks[i].bytes;
	case SORT_BLOCKS:        return p->alloc.stacks[i].count;
	case SORT_GROWTH_BYTES:  return p->growth.stacks[i].stack.bytes;
	case SORT_GROWTH_EVENTS: return p->growth.stacks[i].stack.count;
	}
	return 0;
}

struct sort_ctx {
	const struct proc_report *p;
	enum sort_key k;
};

/* Descending by the key, then by index: the order is stable from frame to
 * frame while the numbers are. */
static int cmp_stack(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *c = arg;
	unsigned ia = *(const unsigned *)a, ib = *(const unsigned *)b;
	uint64_t ka = stack_key(c->p, ia, c->k), kb = stack_key(c->p, ib, c->k);

	if (ka != kb)
		return ka > kb ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

/* Appends one frame to out (o bytes used of len); false when it is full. */
static bool __attribute__((format(printf, 4, 5)))
append(char *out, size_t len, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o + 1 >= len)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(out + *o, len - *o, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *o) {
		*o = len - 1;
		return false;
	}
	*o += (size_t)n;
	return true;
}

/* One row's stack, innermost first: the allocator's native caller(s), which
 * ran inside the innermost Python frame, then the Python frames:
 * "[native] PyList_New+0x6b (python3.11) < f (file.py:12) < main (file.py:30)".
 * At most NATIVE_FRAMES native frames, so that --native-depth does not push
 * the Python frames off the row; file names without their directories (the
 * final report has everything). */
#define NATIVE_FRAMES 2

static void stack_text(const struct alloc_stack *s, char *out, size_t len)
{
	unsigned n_py = s->python ? s->n_python : 0, n_nat = s->native ? s->n_native : 0;
	char fn[4 * FRAME_TEXT + 1], file[4 * FRAME_TEXT + 1];
	size_t o = 0;
	bool ok = true;

	out[0] = '\0';
	if (!n_py && !n_nat) {
		snprintf(out, len, "(no frames)");
		return;
	}
	for (unsigned i = 0; ok && i < n_nat && i < NATIVE_FRAMES; i++)
		ok = append(out, len, &o, "%s[native] %s", o ? " < " : "",
			    safe(fn, sizeof(fn), s->native[i]));
	if (ok && n_nat > NATIVE_FRAMES)
		ok = append(out, len, &o, " < (%u more native)", n_nat - NATIVE_FRAMES);
	for (unsigned i = 0; ok && i < n_py && i < STACK_FRAMES; i++) {
		const struct py_frame_info *f = &s->python[i];
		const char *base = f->file ? strrchr(f->file, '/') : NULL;
		char ln[16] = "?";

		if (f->line >= 0)
			snprintf(ln, sizeof(ln), "%d", f->line);
		ok = append(out, len, &o, "%s%s (%s:%s)", o ? " < " : "",
			    safe(fn, sizeof(fn), f->function),
			    safe(file, sizeof(file), base ? base + 1 : f->file), ln);
	}
	if (ok && s->truncated)
		append(out, len, &o, " < (truncated)");
}

/* Sorted indices of n stacks into v->order; false when out of memory. */
static bool sort_stacks(struct live_view *v, const struct proc_report *p, unsigned n,
			enum sort_key k)
{
	struct sort_ctx c = { .p = p, .k = k };

	if (n > v->order_cap) {
		unsigned *o = realloc(v->order, n * sizeof(*o));

		if (!o)
			return false;
		v->order = o;
		v->order_cap = n;
	}
	for (unsigned i = 0; i < n; i++)
		v->order[i] = i;
	qsort_r(v->order, n, sizeof(*v->order), cmp_stack, &c);
	return true;
}

static void draw_stacks(struct live_view *v, const struct proc_report *p, unsigned max_rows)
{
	enum sort_key k = current_sort(v);
	bool alloc = v->o.alloc && p->alloc.enabled;
	bool growth = !alloc && v->o.heap_growth && p->growth.enabled;
	unsigned n = alloc ? (p->alloc.stacks ? p->alloc.n_stacks : 0) :
		     growth ? (p->growth.stacks ? p->growth.n_stacks : 0) : 0;
	unsigned top = alloc ? p->alloc.top_n : growth ? p->growth.top_n : 0, shown = 0;
	char text[ROW_BYTES];

	if (!alloc && !growth) {
		row(v, A_NORMAL, "  stacks     --alloc shows the top stacks by live bytes, "
		    "--heap-growth by heap growth");
		return;
	}
	if (!top)
		top = DEFAULT_TOP;
	if (!sort_stacks(v, p, n, k)) {
		row(v, A_NORMAL, "  stacks     out of memory sorting %u stacks", n);
		return;
	}
	row(v, A_BOLD, "  top stacks by %s, of %u (s: sort)", sort_name[k], n);
	if (alloc)
		row(v, A_NORMAL, "  %10s %10s %9s  %s", "LIVE", "ALLOCATED", "BLOCKS",
		    "STACK (innermost first)");
	else
		row(v, A_NORMAL, "  %10s %7s  %s", "GROWTH", "EVENTS",
		    "STACK (innermost first; pools + mmap + brk)");
	for (unsigned i = 0; i < n && shown < top && shown < max_rows; i++) {
		char a[UNITS_BUFSZ], b[UNITS_BUFSZ];

		if (!stack_key(p, v->order[i], k))
			break;
		if (alloc) {
			const struct alloc_stack *s = &p->alloc.stacks[v->order[i]];

			stack_text(s, text, sizeof(text));
			row(v, A_NORMAL, "  %10s %10s %9" PRIu64 "  %s",
			    units_bytes(a, sizeof(a), s->live_bytes), units_bytes(b, sizeof(b), s->bytes),
			    s->count, text);
		} else {
			const struct growth_stack *s = &p->growth.stacks[v->order[i]];

			stack_text(&s->stack, text, sizeof(text));
			row(v, A_NORMAL, "  %10s %7" PRIu64 "  %s",
			    units_bytes(a, sizeof(a), s->stack.bytes), s->stack.count, text);
		}
		shown++;
	}
	if (!shown)
		row(v, A_NORMAL, "  none with %s yet", sort_name[k]);
}

/* Rows of one process without its stacks (header, RSS, alloc, arenas,
 * mmap/brk, GC title and 3 generations, lost data, stacks title and
 * column names, a blank): what each later process keeps for itself. */
#define PROC_FIXED_ROWS 13

static void draw_proc(struct live_view *v, const struct report *r, const struct proc_report *p,
		      unsigned procs_after)
{
	struct proc_snap prev = prev_of(v, r, p);
	double dt = r->elapsed_seconds - prev.t;
	int room = LINES - v->y - PROC_FIXED_ROWS - (int)procs_after * PROC_FIXED_ROWS;

	draw_proc_header(v, p);
	draw_rss_alloc(v, p, &prev, dt);
	draw_heap(v, p, &prev, dt);
	draw_gc(v, p, &prev, dt);
	draw_lost(v, p);
	draw_stacks(v, p, room > 1 ? (unsigned)room : 1);
	row(v, A_NORMAL, "%s", "");
}

/* ---- the frame ------------------------------------------------------------- */

static void draw_title(struct live_view *v, const struct report *r)
{
	char up[UNITS_BUFSZ], every[UNITS_BUFSZ];
	unsigned n;

	sort_modes(v, &n);
	v->y = 0;
	row(v, A_REVERSE, " pymemtrace --live  up %s  every %s%s  |  q quit%s  p pause%s",
	    r ? units_seconds(up, sizeof(up), r->elapsed_seconds) : "-",
	    units_seconds(every, sizeof(every), v->o.refresh_s), v->paused ? "  PAUSED" : "",
	    n ? "  s sort" : "", v->in ? "" : "  (no keyboard: Ctrl-C stops)");
}

static void draw_frame(struct live_view *v, const struct report *r)
{
	char cpu[UNITS_BUFSZ], rss[UNITS_BUFSZ];
	double pct;

	erase();
	draw_title(v, r);
	if (!r) {
		row(v, A_NORMAL, "attached; the first report comes after %.1f s", v->o.refresh_s);
	} else {
		if (r->tracer.valid)
			row(v, A_NORMAL, "tracer     CPU %s  peak RSS %s  processes %u",
			    units_seconds(cpu, sizeof(cpu), r->tracer.cpu_seconds),
			    units_bytes(rss, sizeof(rss), r->tracer.peak_rss_bytes), r->n_procs);
		/* what the probes cost the targets so far (a lower bound) */
		if (overhead_share_pct(&r->overhead, &pct) && pct >= 100)
			row(v, A_BOLD, "overhead   probes about all of the traced processes' CPU "
			    "(estimate %.2f%%)", pct);
		else if (overhead_share_pct(&r->overhead, &pct))
			row(v, pct >= 10 ? A_BOLD : A_NORMAL, "overhead   probes >= %.2f%% of the "
			    "traced processes' CPU", pct);
		if (r->ringbuf_drops)
			row(v, A_BOLD, "lost data  ring buffer drops %" PRIu64
			    " not tied to a process (increase --ringbuf-kb)", r->ringbuf_drops);
		row(v, A_NORMAL, "%s", "");
		for (unsigned i = 0; r->procs && i < r->n_procs; i++)
			draw_proc(v, r, &r->procs[i], r->n_procs - i - 1);
	}
	if (v->o.full_repaint)
		clearok(curscr, TRUE);
	refresh();
}

/* ---- keys ------------------------------------------------------------------- */

enum live_action live_view__update(struct live_view *v, const struct report *r)
{
	bool toggled = false, resized = false;
	int ch;

	if (!v)
		return LIVE_CONTINUE;
	while (v->in && (ch = getch()) != ERR) {
		switch (ch) {
		case 'q':
		case 'Q':
			return LIVE_QUIT;
		case 's':
		case 'S':
			v->sort++;
			break;
		case 'p':
		case 'P':
		case ' ':
			v->paused = !v->paused;
			toggled = true;
			break;
		case KEY_RESIZE:
			resized = true;
			break;
		}
	}
	if (v->paused) {
		/* The numbers stay; the title says why, and a resize keeps
		 * what ncurses could keep of the screen. */
		if (toggled || resized) {
			draw_title(v, r);
			if (resized)
				clearok(curscr, TRUE);
			refresh();
		}
		return LIVE_CONTINUE;
	}
	if (!r)
		return LIVE_CONTINUE;
	draw_frame(v, r);
	/* Out of memory: the next frame's rates span two intervals. */
	remember(v, r);
	return LIVE_CONTINUE;
}

/* ---- start and stop --------------------------------------------------------- */

int live_view__check(char *err, size_t errlen)
{
	const char *term = getenv("TERM");
	int e = 0;

	if (!isatty(STDOUT_FILENO)) {
		snprintf(err, errlen, "--live needs a terminal on stdout (it is a pipe or a file); "
			 "-i SECONDS prints interval reports instead");
		return -ENOTTY;
	}
	if (setupterm(NULL, STDOUT_FILENO, &e) != OK) {
		snprintf(err, errlen, "--live cannot drive the terminal: unknown terminal type '%s' "
			 "(TERM)", term ? term : "");
		return -ENOENT;
	}
	del_curterm(cur_term);
	return 0;
}

/* Points fd 2 at a memfd until live_view__stop; on failure stderr stays
 * as it is (messages may then scribble over the view, but are not lost). */
static void capture_stderr(struct live_view *v)
{
	int fd = memfd_create("pymemtrace-stderr", MFD_CLOEXEC);

	v->capture_fd = -1;
	v->saved_stderr = -1;
	if (fd < 0)
		return;
	fflush(stderr);
	v->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (v->saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0) {
		if (v->saved_stderr >= 0)
			close(v->saved_stderr);
		v->saved_stderr = -1;
		close(fd);
		return;
	}
	v->capture_fd = fd;
}

/* Puts the real stderr back and writes what was captured to it. */
static void replay_stderr(struct live_view *v)
{
	char buf[4096];
	off_t total;
	size_t done = 0;

	if (v->saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(v->saved_stderr, STDERR_FILENO);
	close(v->saved_stderr);
	v->saved_stderr = -1;
	total = lseek(v->capture_fd, 0, SEEK_END);
	if (total > 0 && lseek(v->capture_fd, 0, SEEK_SET) == 0) {
		while (done < REPLAY_MAX) {
			ssize_t n = read(v->capture_fd, buf, sizeof(buf));

			if (n <= 0 || write(STDERR_FILENO, buf, (size_t)n) != n)
				break;
			done += (size_t)n;
		}
		if ((off_t)done < total)
			fprintf(stderr, "pymemtrace: %lld more bytes of messages from the live view's "
				"time were dropped\n", (long long)(total - (off_t)done));
	}
	close(v->capture_fd);
	v->capture_fd = -1;
}

static void stop_at_exit(void)
{
	live_view__stop(active);
}

struct live_view *live_view__start(const struct live_view_opts *o, char *err, size_t errlen)
{
	static bool atexit_done;
	struct live_view *v = calloc(1, sizeof(*v));
	const char *ctype;

	if (!v) {
		snprintf(err, errlen, "--live: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	v->o = *o;
	if (!(v->o.refresh_s > 0))
		v->o.refresh_s = 1.0;
	/* Keys from stdin, or from the controlling terminal when stdin was
	 * redirected; without either, only signals stop the view. */
	if (isatty(STDIN_FILENO)) {
		v->in = stdin;
	} else {
		v->in = fopen("/dev/tty", "re");
		v->own_in = v->in != NULL;
	}
	ctype = setlocale(LC_CTYPE, NULL);
	v->saved_ctype = strdup(ctype ? ctype : "C");
	setlocale(LC_CTYPE, "");
	v->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");

	v->scr = newterm(NULL, stdout, v->in ? v->in : stdin);
	if (!v->scr) {
		snprintf(err, errlen, "--live cannot drive the terminal (TERM '%s')",
			 getenv("TERM") ? getenv("TERM") : "");
		setlocale(LC_CTYPE, v->saved_ctype ? v->saved_ctype : "C");
		if (v->own_in)
			fclose(v->in);
		free(v->saved_ctype);
		free(v);
		errno = ENOTTY;
		return NULL;
	}
	set_term(v->scr);
	if (v->in) {
		cbreak();         /* keys at once; Ctrl-C still sends SIGINT */
		noecho();
		nodelay(stdscr, TRUE);
		keypad(stdscr, TRUE);
	}
	curs_set(0);
	capture_stderr(v);
	active = v;
	if (!atexit_done)
		atexit_done = !atexit(stop_at_exit);
	draw_frame(v, NULL);
	return v;
}

void live_view__stop(struct live_view *v)
{
	if (!v)
		return;
	if (active == v)
		active = NULL;
	curs_set(1);
	endwin();
	delscreen(v->scr);
	replay_stderr(v);
	if (v->own_in)
		fclose(v->in);
	setlocale(LC_CTYPE, v->saved_ctype ? v->saved_ctype : "C");
	free(v->saved_ctype);
	free(v->snaps);
	free(v->order);
	free(v);
}
