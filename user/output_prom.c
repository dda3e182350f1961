/* Prometheus text format 0.0.4 and OpenMetrics 1.0.0 writer: see output.h.
 *
 * Processes that share a label set are summed first (struct pgroup), so that
 * each series appears once however many processes feed it: Prometheus
 * rejects a scrape with duplicate series.  Counters stay monotonic because
 * the session keeps exited processes in the report until pymemtrace exits.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "hash.h"
#include "lost.h"
#include "output.h"
#include "units.h"
#include "version.h"

/* GC pause buckets.  The kernel counts pauses in whole nanoseconds in log2
 * slots [2^k, 2^(k+1)), so "pause <= (2^(k+1) - 1) ns" is exactly "in slot
 * k or below": with le = (2^k - 1) ns every bucket count is exact, not an
 * estimate.  k = 13 gives 8.191 us, the last bound below 10 us; k = 34 gives
 * 17.18 s, the first above 10 s. */
#define BUCKET_FIRST_SHIFT 13
#define BUCKET_LAST_SHIFT  34

#define LABELS_MAX      512   /* one group's labels, escaped */
#define STACK_TEXT_MAX  1024  /* a stack's label text, cut at a frame boundary */
#define STACK_ID_HEX    12    /* digits of the stack id: 48 bits of FNV-1a */
#define DEFAULT_TOP     10

struct pstack {
	char *text;               /* full text, unescaped: the merge key */
	uint64_t live_bytes;
};

/* Everything the exposition says about one label set. */
struct pgroup {
	char labels[LABELS_MAX];  /* `interpreter="cpython-3.11.2",pid="12"`, escaped */
	unsigned by_state[4];     /* processes per enum proc_state */
	struct pmt_proc_stats st; /* summed (pause_max_ns: the largest) */
	uint64_t faults_minor, faults_major, rss_bytes;
	bool cache_supported;     /* every process in the group */
	uint64_t cache_refs, cache_misses;
	uint64_t probes_failed;
	uint64_t lost[LOST_NR];   /* by enum lost_reason */
	bool lost_applies[LOST_NR]; /* for some process of the group */
	bool alloc;
	uint64_t alloc_count, alloc_bytes, frees, freed_bytes, live_bytes, live_count;
	bool live_unknown;        /* a process traced with --sampled: no frees seen */
	bool coverage_known;      /* every process in the group */
	double coverage;          /* the lowest */
	struct pstack *stacks;
	unsigned n_stacks, cap_stacks, top;
	bool growth;
	bool growth_pools;        /* a member probed pool refills (else no pool series) */
	uint64_t growth_bytes[PMT_GROWTH_KINDS], growth_events[PMT_GROWTH_KINDS];
};

struct pw {
	FILE *f;
	bool om;
};

enum ptype { P_COUNTER, P_GAUGE, P_HISTOGRAM, P_INFO };

const char *prom_content_type(enum prom_format format)
{
	return format == PROM_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
					  : "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- escaping ----------------------------------------------------------------- */

/* Appends s (n bytes at most) to out as a label value: backslash, quote and
 * newline escaped, bytes that are not UTF-8 (the target controls file and
 * function names) replaced by '?'.  Never overflows; false if cut short. */
static bool put_label_value(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i]) {
		uint32_t cp;
		unsigned k = units_utf8_seq((const unsigned char *)s + i, n - i, &cp);
		char esc[3] = "";
		const char *src = s + i;
		size_t m = k;

		if (!k) {
			src = "?";
			m = 1;
			k = 1;
		} else if (s[i] == '\\' || s[i] == '"' || s[i] == '\n') {
			esc[0] = '\\';
			esc[1] = s[i] == '\n' ? 'n' : s[i];
			src = esc;
			m = 2;
		}
		if (*len + m + 1 > cap)
			return false;
		memcpy(out + *len, src, m);
		*len += m;
		out[*len] = '\0';
		i += k;
	}
	return true;
}

bool prom_label_value(char *out, size_t cap, const char *s)
{
	size_t len = 0;

	if (!cap)
		return false;
	out[0] = '\0';
	return put_label_value(out, cap, &len, s, strlen(s));
}

/* Appends `name="value"` (with a leading comma unless out is empty).  When
 * it does not fit, out is left as it was and false returned; callers size
 * out so that it always fits (--group is limited in length). */
static bool put_label(char *out, size_t cap, const char *name, const char *value, size_t n)
{
	size_t len0 = strlen(out), len = len0;
	int w = snprintf(out + len, cap - len, "%s%s=\"", len ? "," : "", name);

	if (w < 0 || (size_t)w >= cap - len)
		goto undo;
	len += w;
	if (!put_label_value(out, cap, &len, value, n) || len + 2 > cap)
		goto undo;
	out[len++] = '"';
	out[len] = '\0';
	return true;
undo:
	out[len0] = '\0';
	return false;
}

/* ---- numbers ------------------------------------------------------------------- */

/* The shortest %g form that reads back as the same double: bucket bounds
 * stay short ("8.191e-06") yet exact. */
static void fmt_double(char *buf, size_t len, double v)
{
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static double bucket_bound_seconds(unsigned shift)
{
	return (double)((1ULL << shift) - 1) / 1e9;
}

/* ---- families and samples ---------------------------------------------------------- */

/* The metadata lines.  fam is the family name; counters' samples add
 * "_total", which 0.0.4 puts in the metadata too and OpenMetrics does not;
 * info families are gauges named fam_info in 0.0.4. */
static void family(struct pw *w, const char *fam, enum ptype t, const char *unit, const char *help)
{
	static const char *const om_type[] = { "counter", "gauge", "histogram", "info" };
	static const char *const text_type[] = { "counter", "gauge", "histogram", "gauge" };
	static const char *const text_suffix[] = { "_total", "", "", "_info" };

	if (w->om) {
		fprintf(w->f, "# TYPE %s %s\n", fam, om_type[t]);
		if (unit)
			fprintf(w->f, "# UNIT %s %s\n", fam, unit);
		fprintf(w->f, "# HELP %s %s\n", fam, help);
	} else {
		fprintf(w->f, "# HELP %s%s %s\n", fam, text_suffix[t], help);
		fprintf(w->f, "# TYPE %s%s %s\n", fam, text_suffix[t], text_type[t]);
	}
}

static void name_and_labels(struct pw *w, const char *fam, const char *suffix,
			    const char *labels, const char *extra)
{
	bool a = labels && *labels, b = extra && *extra;

	fprintf(w->f, "%s%s", fam, suffix);
	if (a || b)
		fprintf(w->f, "{%s%s%s}", a ? labels : "", a && b ? "," : "", b ? extra : "");
}

static void sample_u64(struct pw *w, const char *fam, const char *suffix, const char *labels,
		       const char *extra, uint64_t v)
{
	name_and_labels(w, fam, suffix, labels, extra);
	fprintf(w->f, " %" PRIu64 "\n", v);
}

static void sample_i64(struct pw *w, const char *fam, const char *labels, const char *extra,
		       int64_t v)
{
	name_and_labels(w, fam, "", labels, extra);
	fprintf(w->f, " %" PRId64 "\n", v);
}

static void sample_f64(struct pw *w, const char *fam, const char *suffix, const char *labels,
		       const char *extra, double v)
{
	char num[40];

	fmt_double(num, sizeof(num), v);
	name_and_labels(w, fam, suffix, labels, extra);
	fprintf(w->f, " %s\n", num);
}

/* ---- grouping -------------------------------------------------------------------- */

static void labels_of(const struct proc_report *p, const struct prom_opts *o, char *out, size_t cap)
{
	char v[64];

	out[0] = '\0';
	if (o->group) {
		put_label(out, cap, "group", o->group, strlen(o->group));
	} else {
		snprintf(v, sizeof(v), "cpython-%.*s", (int)strnlen(p->version, sizeof(p->version)),
			 p->version);
		put_label(out, cap, "interpreter", v, strlen(v));
	}
	if (o->label_pid) {
		snprintf(v, sizeof(v), "%d", (int)p->pid);
		put_label(out, cap, "pid", v, strlen(v));
	}
}


/* "file:line function;...;[native] symbol", innermost first, as the text
 * report lists a stack.  NULL when out of memory. */
static char *stack_text(const struct alloc_stack *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	bool first = true;

	if (!m)
		return NULL;
	for (unsigned i = 0; s->python && i < s->n_python; i++, first = false) {
		const struct py_frame_info *fr = &s->python[i];

		fprintf(m, "%s%s:", first ? "" : ";", fr->file ? fr->file : "?");
		if (fr->line >= 0)
			fprintf(m, "%d", fr->line);
		else
			fputc('?', m);
		fprintf(m, " %s", fr->function ? fr->function : "?");
	}
	for (unsigned i = 0; s->native && i < s->n_native; i++, first = false)
		fprintf(m, "%s[native] %s", first ? "" : ";", s->native[i] ? s->native[i] : "?");
	if (first)
		fputs("(no frames)", m);
	if (s->truncated)
		fputs(";(truncated)", m);
	if (fclose(m)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int add_stacks(struct pgroup *g, const struct alloc_report *a)
{
	for (unsigned i = 0; a->stacks && i < a->n_stacks; i++) {
		const struct alloc_stack *s = &a->stacks[i];
		char *text;
		unsigned k;

		if (!s->live_bytes)
			continue;
		text = stack_text(s);
		if (!text)
			return -ENOMEM;
		/* The same code in two processes of a group is one series. */
		for (k = 0; k < g->n_stacks; k++)
			if (!strcmp(g->stacks[k].text, text))
				break;
		if (k < g->n_stacks) {
			g->stacks[k].live_bytes += s->live_bytes;
			free(text);
			continue;
		}
		if (g->n_stacks == g->cap_stacks) {
			unsigned cap = g->cap_stacks ? 2 * g->cap_stacks : 16;
			struct pstack *v = realloc(g->stacks, cap * sizeof(*v));

			if (!v) {
				free(text);
				return -ENOMEM;
			}
			g->stacks = v;
			g->cap_stacks = cap;
		}
		g->stacks[g->n_stacks++] = (struct pstack){ text, s->live_bytes };
	}
	return 0;
}

static int add_proc(struct pgroup *g, const struct proc_report *p)
{
	const struct alloc_report *a = &p->alloc;

	if ((unsigned)p->state < 4)
		g->by_state[p->state]++;
	proc_stats_add(&g->st, &p->stats);
	if (p->faults.valid) {
		g->faults_minor += p->faults.minor;
		g->faults_major += p->faults.major;
	}
	if (p->state == PROC_RUNNING)
		g->rss_bytes += p->rss.end;
	g->cache_supported = g->cache_supported && p->cache.supported;
	g->cache_refs += p->cache.references;
	g->cache_misses += p->cache.misses;
	g->probes_failed += p->lost.probes_failed;
	for (unsigned r = 0; r < LOST_NR; r++) {
		g->lost[r] += lost_count(p, r);
		g->lost_applies[r] = g->lost_applies[r] || lost_applies(p, r);
	}
	if (a->enabled) {
		g->alloc = true;
		g->alloc_count += a->count;
		g->alloc_bytes += a->bytes;
		g->frees += a->frees;
		g->freed_bytes += a->freed_bytes;
		g->live_bytes += a->live_bytes;
		g->live_count += a->live_count;
		g->live_unknown |= a->windowed;
		if (!a->coverage_known)
			g->coverage_known = false;
		else if (a->coverage < g->coverage)
			g->coverage = a->coverage;
		if (a->top_n > g->top)
			g->top = a->top_n;
		if (add_stacks(g, a))
			return -ENOMEM;
	}
	if (p->growth.enabled) {
		g->growth = true;
		g->growth_pools |= p->growth.pools_probed;
		for (unsigned k = 0; k < PMT_GROWTH_KINDS; k++) {
			g->growth_bytes[k] += p->growth.bytes[k];
			g->growth_events[k] += p->growth.events[k];
		}
	}
	return 0;
}

static void free_groups(struct pgroup *v, unsigned n)
{
	for (unsigned i = 0; v && i < n; i++) {
		for (unsigned k = 0; k < v[i].n_stacks; k++)
			free(v[i].stacks[k].text);
		free(v[i].stacks);
	}
	free(v);
}

/* One group per distinct label set, in the order the processes came. */
static int build_groups(const struct report *r, const struct prom_opts *o,
			struct pgroup **out, unsigned *n_out)
{
	struct pgroup *v = calloc(r->n_procs ? r->n_procs : 1, sizeof(*v));
	unsigned n = 0;

	if (!v)
		return -ENOMEM;
	for (unsigned i = 0; i < r->n_procs; i++) {
		char labels[LABELS_MAX];
		unsigned k;

		labels_of(&r->procs[i], o, labels, sizeof(labels));
		for (k = 0; k < n; k++)
			if (!strcmp(v[k].labels, labels))
				break;
		if (k == n) {
			memcpy(v[n].labels, labels, sizeof(labels));
			v[n].cache_supported = true;
			v[n].coverage_known = true;
			v[n].coverage = 1.0;
			n++;
		}
		if (add_proc(&v[k], &r->procs[i])) {
			free_groups(v, n);
			return -ENOMEM;
		}
	}
	/* Retired processes keep counting in their label set (a per-pid
	 * series just ends with its process). */
	for (unsigned i = 0; !o->label_pid && i < r->retired.n_groups; i++) {
		const struct proc_report *p = &r->retired.groups[i];
		char labels[LABELS_MAX];
		struct pgroup *nv;
		unsigned k;

		labels_of(p, o, labels, sizeof(labels));
		for (k = 0; k < n; k++)
			if (!strcmp(v[k].labels, labels))
				break;
		if (k == n) {
			nv = realloc(v, (n + 1) * sizeof(*v));
			if (!nv) {
				free_groups(v, n);
				return -ENOMEM;
			}
			v = nv;
			memset(&v[n], 0, sizeof(v[n]));
			memcpy(v[n].labels, labels, sizeof(labels));
			v[n].cache_supported = true;
			v[n].coverage_known = true;
			v[n].coverage = 1.0;
			n++;
		}
		if (add_proc(&v[k], p)) {
			free_groups(v, n);
			return -ENOMEM;
		}
		v[k].by_state[PROC_EXITED] += r->retired.group_procs[i] - 1;
	}
	*out = v;
	*n_out = n;
	return 0;
}

static int by_live_desc(const void *a, const void *b)
{
	const struct pstack *x = a, *y = b;

	if (x->live_bytes != y->live_bytes)
		return x->live_bytes < y->live_bytes ? 1 : -1;
	return strcmp(x->text, y->text); /* a stable order for equal weights */
}

/* ---- the families ------------------------------------------------------------------ */

static const char *const gen_label[PMT_GENERATIONS] = {
	"generation=\"0\"", "generation=\"1\"", "generation=\"2\"",
};
static const char *const state_label[4] = {
	"state=\"running\"", "state=\"exited\"", "state=\"exec\"", "state=\"detached\"",
};
static const char *const growth_label[PMT_GROWTH_KINDS] = {
	"kind=\"pool\"", "kind=\"arena\"", "kind=\"mmap\"", "kind=\"brk\"",
};

static void write_gc(struct pw *w, const struct pgroup *gs, unsigned n)
{
	family(w, "pymemtrace_gc_pause_seconds", P_HISTOGRAM, "seconds",
	       "Pause of each garbage collection, by generation (exact log2 buckets)");
	for (unsigned i = 0; i < n; i++) {
		for (unsigned g = 0; g < PMT_GENERATIONS; g++) {
			const struct pmt_gc_gen_stats *s = &gs[i].st.gc[g];
			uint64_t cum = 0, total;
			unsigned slot = 0;

			for (unsigned k = BUCKET_FIRST_SHIFT; k <= BUCKET_LAST_SHIFT; k++) {
				char le[80], num[40];

				/* le = 2^k - 1 ns holds slots 0 .. k-1. */
				for (; slot < k && slot < PMT_HIST_SLOTS; slot++)
					cum += s->hist[slot];
				fmt_double(num, sizeof(num), bucket_bound_seconds(k));
				snprintf(le, sizeof(le), "%s,le=\"%s\"", gen_label[g], num);
				sample_u64(w, "pymemtrace_gc_pause_seconds", "_bucket", gs[i].labels, le, cum);
			}
			for (; slot < PMT_HIST_SLOTS; slot++)
				cum += s->hist[slot];
			total = cum;
			{
				char le[80];

				snprintf(le, sizeof(le), "%s,le=\"+Inf\"", gen_label[g]);
				sample_u64(w, "pymemtrace_gc_pause_seconds", "_bucket", gs[i].labels, le, total);
			}
			sample_u64(w, "pymemtrace_gc_pause_seconds", "_count", gs[i].labels, gen_label[g], total);
			sample_f64(w, "pymemtrace_gc_pause_seconds", "_sum", gs[i].labels, gen_label[g],
				   s->pause_total_ns / 1e9);
		}
	}

	family(w, "pymemtrace_gc_collections", P_COUNTER, NULL, "Garbage collections, by generation");
	for (unsigned i = 0; i < n; i++)
		for (unsigned g = 0; g < PMT_GENERATIONS; g++)
			sample_u64(w, "pymemtrace_gc_collections", "_total", gs[i].labels, gen_label[g],
				   gs[i].st.gc[g].collections);
	family(w, "pymemtrace_gc_collected_objects", P_COUNTER, NULL,
	       "Objects the garbage collector freed or found uncollectable, by generation");
	for (unsigned i = 0; i < n; i++)
		for (unsigned g = 0; g < PMT_GENERATIONS; g++)
			sample_u64(w, "pymemtrace_gc_collected_objects", "_total", gs[i].labels,
				   gen_label[g], gs[i].st.gc[g].collected);
	family(w, "pymemtrace_gc_pause_max_seconds", P_GAUGE, "seconds",
	       "Longest garbage-collection pause since tracing started, by generation");
	for (unsigned i = 0; i < n; i++)
		for (unsigned g = 0; g < PMT_GENERATIONS; g++)
			sample_f64(w, "pymemtrace_gc_pause_max_seconds", "", gs[i].labels, gen_label[g],
				   gs[i].st.gc[g].pause_max_ns / 1e9);
}

/* A counter family with one sample per group: expr is its value, and may
 * use g_, the group. */
/* A counter family with one sample per group for which `cond` holds: a
 * group whose value is unknown is left out, never written as 0. */
#define COUNTER_FAMILY_IF(w, gs, n, fam, unit, help, cond, expr)                         \
	do {                                                                             \
		family(w, fam, P_COUNTER, unit, help);                                   \
		for (unsigned i_ = 0; i_ < (n); i_++) {                                  \
			const struct pgroup *g_ = &(gs)[i_];                             \
			if (cond)                                                        \
				sample_u64(w, fam, "_total", g_->labels, NULL, (expr));  \
		}                                                                        \
	} while (0)
#define COUNTER_FAMILY(w, gs, n, fam, unit, help, expr) \
	COUNTER_FAMILY_IF(w, gs, n, fam, unit, help, true, expr)

static void write_heap(struct pw *w, const struct pgroup *gs, unsigned n)
{
	COUNTER_FAMILY(w, gs, n, "pymemtrace_arena_allocations", NULL,
		       "pymalloc arenas allocated", g_->st.arena_allocs);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_arena_allocated_bytes", "bytes",
		       "Bytes of pymalloc arenas allocated", g_->st.arena_alloc_bytes);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_arena_frees", NULL,
		       "pymalloc arenas given back to the system", g_->st.arena_frees);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_arena_freed_bytes", "bytes",
		       "Bytes of pymalloc arenas given back to the system", g_->st.arena_free_bytes);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_arena_alloc_failures", NULL,
		       "pymalloc arena allocations that failed", g_->st.arena_alloc_failed);

	family(w, "pymemtrace_mmap_calls", P_COUNTER, NULL, "Successful mmap calls, anonymous or file-backed");
	for (unsigned i = 0; i < n; i++) {
		sample_u64(w, "pymemtrace_mmap_calls", "_total", gs[i].labels, "kind=\"anon\"",
			   gs[i].st.mmap_anon.calls);
		sample_u64(w, "pymemtrace_mmap_calls", "_total", gs[i].labels, "kind=\"file\"",
			   gs[i].st.mmap_file.calls);
	}
	family(w, "pymemtrace_mmap_bytes", P_COUNTER, "bytes", "Bytes mapped by successful mmap calls");
	for (unsigned i = 0; i < n; i++) {
		sample_u64(w, "pymemtrace_mmap_bytes", "_total", gs[i].labels, "kind=\"anon\"",
			   (uint64_t)gs[i].st.mmap_anon.bytes);
		sample_u64(w, "pymemtrace_mmap_bytes", "_total", gs[i].labels, "kind=\"file\"",
			   (uint64_t)gs[i].st.mmap_file.bytes);
	}
	COUNTER_FAMILY(w, gs, n, "pymemtrace_munmap_calls", NULL, "Successful munmap calls",
		       g_->st.munmap.calls);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_munmap_bytes", "bytes", "Bytes unmapped by munmap",
		       (uint64_t)g_->st.munmap.bytes);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_mremap_calls", NULL, "Successful mremap calls",
		       g_->st.mremap.calls);
	/* mremap and brk move both ways: their net change is a gauge. */
	family(w, "pymemtrace_mremap_net_bytes", P_GAUGE, "bytes",
	       "Net size change by mremap since tracing started (new minus old length)");
	for (unsigned i = 0; i < n; i++)
		sample_i64(w, "pymemtrace_mremap_net_bytes", gs[i].labels, NULL, gs[i].st.mremap.bytes);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_brk_calls", NULL, "Successful brk calls that moved the break",
		       g_->st.brk.calls);
	family(w, "pymemtrace_brk_net_bytes", P_GAUGE, "bytes",
	       "Net move of the program break since tracing started");
	for (unsigned i = 0; i < n; i++)
		sample_i64(w, "pymemtrace_brk_net_bytes", gs[i].labels, NULL, gs[i].st.brk.bytes);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_syscall_failures", NULL,
		       "mmap, munmap, mremap and brk calls that returned an error", g_->st.syscalls_failed);

	family(w, "pymemtrace_page_faults", P_COUNTER, NULL, "Page faults since tracing started");
	for (unsigned i = 0; i < n; i++) {
		sample_u64(w, "pymemtrace_page_faults", "_total", gs[i].labels, "type=\"minor\"",
			   gs[i].faults_minor);
		sample_u64(w, "pymemtrace_page_faults", "_total", gs[i].labels, "type=\"major\"",
			   gs[i].faults_major);
	}
	family(w, "pymemtrace_rss_bytes", P_GAUGE, "bytes",
	       "Resident memory of the traced processes that are running (sampled every 100 ms)");
	for (unsigned i = 0; i < n; i++)
		sample_u64(w, "pymemtrace_rss_bytes", "", gs[i].labels, NULL, gs[i].rss_bytes);

	family(w, "pymemtrace_cache_supported", P_GAUGE, NULL,
	       "1 when hardware cache counters are available for every process of the series");
	for (unsigned i = 0; i < n; i++)
		sample_u64(w, "pymemtrace_cache_supported", "", gs[i].labels, NULL, gs[i].cache_supported);
	/* Without a PMU there is no number to give: the series are left out
	 * rather than exported as zeros. */
	bool any_cache = false;

	for (unsigned i = 0; i < n; i++)
		any_cache |= gs[i].cache_supported;
	if (any_cache) {
		family(w, "pymemtrace_cache_references", P_COUNTER, NULL, "Hardware cache references");
		for (unsigned i = 0; i < n; i++)
			if (gs[i].cache_supported)
				sample_u64(w, "pymemtrace_cache_references", "_total", gs[i].labels, NULL,
					   gs[i].cache_refs);
		family(w, "pymemtrace_cache_misses", P_COUNTER, NULL, "Hardware cache misses");
		for (unsigned i = 0; i < n; i++)
			if (gs[i].cache_supported)
				sample_u64(w, "pymemtrace_cache_misses", "_total", gs[i].labels, NULL,
					   gs[i].cache_misses);
	}
}

static void write_lost(struct pw *w, const struct report *r, const struct pgroup *gs, unsigned n)
{
	family(w, "pymemtrace_lost_events", P_COUNTER, NULL,
	       "Data pymemtrace could not record, by reason (the fix for each: README.md, "
	       "\"Nothing lost silently\")");
	for (unsigned i = 0; i < n; i++) {
		const struct pgroup *g = &gs[i];

		/* One series per reason of the loss table (lost.h) that applies
		 * to the group; probes_failed is a gauge of its own below. */
		for (unsigned k = 0; k < LOST_NR; k++) {
			char reason[64];

			if (!lost_reasons[k].counter || !g->lost_applies[k])
				continue;
			snprintf(reason, sizeof(reason), "reason=\"%s\"", lost_reasons[k].key);
			sample_u64(w, "pymemtrace_lost_events", "_total", g->labels, reason, g->lost[k]);
		}
	}
	/* Losses of no process, so no label set owns them: drops before the
	 * process was known, children gone before their probes were attached
	 * (report.h forks_missed), --all processes not traced (all_untracked). */
	sample_u64(w, "pymemtrace_lost_events", "_total", NULL, "reason=\"ringbuf_drops_unattributed\"",
		   r->ringbuf_drops);
	sample_u64(w, "pymemtrace_lost_events", "_total", NULL, "reason=\"forks_missed\"",
		   r->forks_missed);
	if (r->all_path)
		sample_u64(w, "pymemtrace_lost_events", "_total", NULL, "reason=\"all_untracked\"",
			   r->all_untracked);
	family(w, "pymemtrace_probes_failed", P_GAUGE, NULL,
	       "Probes that should have attached but did not (pymemtrace -v says why)");
	for (unsigned i = 0; i < n; i++)
		sample_u64(w, "pymemtrace_probes_failed", "", gs[i].labels, NULL, gs[i].probes_failed);
}

static void write_stacks(struct pw *w, struct pgroup *gs, unsigned n)
{
	family(w, "pymemtrace_stack_live_bytes", P_GAUGE, "bytes",
	       "Live bytes allocated by each of the top --top stacks (--alloc)");
	for (unsigned i = 0; i < n; i++) {
		struct pgroup *g = &gs[i];
		unsigned top = g->top ? g->top : DEFAULT_TOP;

		if (g->n_stacks > 1) /* qsort(NULL, 0) is undefined */
			qsort(g->stacks, g->n_stacks, sizeof(*g->stacks), by_live_desc);
		/* only the top ones are shown; free_groups frees up to n_stacks */
		while (g->n_stacks > top)
			free(g->stacks[--g->n_stacks].text);
		for (unsigned k = 0; k < g->n_stacks; k++) {
			char id[64];
			uint64_t h = fnv1a64(FNV1A64_INIT, g->stacks[k].text, strlen(g->stacks[k].text));

			snprintf(id, sizeof(id), "stack_id=\"%0*" PRIx64 "\"", STACK_ID_HEX,
				 h >> (64 - 4 * STACK_ID_HEX));
			sample_u64(w, "pymemtrace_stack_live_bytes", "", g->labels, id, g->stacks[k].live_bytes);
		}
	}
	family(w, "pymemtrace_stack", P_INFO, NULL,
	       "The frames of each stack_id, innermost first (file:line function;...)");
	for (unsigned i = 0; i < n; i++) {
		const struct pgroup *g = &gs[i];

		for (unsigned k = 0; k < g->n_stacks; k++) {
			const char *text = g->stacks[k].text;
			uint64_t h = fnv1a64(FNV1A64_INIT, text, strlen(text));
			/* Escaping at most doubles the text. */
			char extra[2 * STACK_TEXT_MAX + 128];
			size_t cut = strlen(text), len;

			/* Long stacks are cut at a frame boundary; the id
			 * still hashes the whole stack. */
			if (cut > STACK_TEXT_MAX) {
				cut = STACK_TEXT_MAX;
				while (cut && text[cut] != ';')
					cut--;
				if (!cut)
					cut = STACK_TEXT_MAX;
			}
			snprintf(extra, sizeof(extra), "stack_id=\"%0*" PRIx64 "\"", STACK_ID_HEX,
				 h >> (64 - 4 * STACK_ID_HEX));
			put_label(extra, sizeof(extra), "stack", text, cut);
			if (cut < strlen(text)) {
				len = strlen(extra) - 1; /* over the closing quote */
				snprintf(extra + len, sizeof(extra) - len, ";...\"");
			}
			sample_u64(w, "pymemtrace_stack", "_info", g->labels, extra, 1);
		}
	}
}

static void write_alloc(struct pw *w, struct pgroup *gs, unsigned n)
{
	bool any = false, any_cov = false;

	for (unsigned i = 0; i < n; i++) {
		any |= gs[i].alloc;
		any_cov |= gs[i].alloc && gs[i].coverage_known;
	}
	if (!any)
		return;
	COUNTER_FAMILY(w, gs, n, "pymemtrace_alloc_allocations", NULL,
		       "Allocations seen (--alloc; estimates when sampled)", g_->alloc_count);
	COUNTER_FAMILY(w, gs, n, "pymemtrace_alloc_allocated_bytes", "bytes",
		       "Bytes allocated (--alloc; estimates when sampled)", g_->alloc_bytes);
	/* --sampled sees no frees: its groups are left out, not shown as 0 */
	COUNTER_FAMILY_IF(w, gs, n, "pymemtrace_alloc_frees", NULL,
			  "Frees of allocations seen (--alloc; left out under --sampled)",
			  !g_->live_unknown, g_->frees);
	COUNTER_FAMILY_IF(w, gs, n, "pymemtrace_alloc_freed_bytes", "bytes",
			  "Bytes freed of allocations seen (--alloc; left out under --sampled)",
			  !g_->live_unknown, g_->freed_bytes);
	family(w, "pymemtrace_alloc_live_bytes", P_GAUGE, "bytes",
	       "Bytes allocated while traced and not freed yet (--alloc)");
	for (unsigned i = 0; i < n; i++)
		if (!gs[i].live_unknown) /* left out when unknown, like coverage */
			sample_u64(w, "pymemtrace_alloc_live_bytes", "", gs[i].labels, NULL,
				   gs[i].live_bytes);
	if (any_cov) {
		family(w, "pymemtrace_alloc_coverage_ratio", P_GAUGE, NULL,
		       "Share of the interpreter's allocations pymemtrace sees (left out when unknown)");
		for (unsigned i = 0; i < n; i++)
			if (gs[i].alloc && gs[i].coverage_known)
				sample_f64(w, "pymemtrace_alloc_coverage_ratio", "", gs[i].labels, NULL,
					   gs[i].coverage);
	}
	write_stacks(w, gs, n);
}

static void write_growth(struct pw *w, const struct pgroup *gs, unsigned n)
{
	bool any = false;

	for (unsigned i = 0; i < n; i++)
		any |= gs[i].growth;
	if (!any)
		return;
	family(w, "pymemtrace_heap_growth_bytes", P_COUNTER, "bytes",
	       "Heap growth by kind: pymalloc pools and arenas, anonymous mmap and mremap, brk (--heap-growth)");
	/* no pool series where no pool probe ran: a 0 would read as data */
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; gs[i].growth && k < PMT_GROWTH_KINDS; k++)
			if (k != PMT_GROWTH_POOL || gs[i].growth_pools)
				sample_u64(w, "pymemtrace_heap_growth_bytes", "_total", gs[i].labels,
					   growth_label[k], gs[i].growth_bytes[k]);
	family(w, "pymemtrace_heap_growth_events", P_COUNTER, NULL,
	       "Heap growth events by kind (--heap-growth)");
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; gs[i].growth && k < PMT_GROWTH_KINDS; k++)
			if (k != PMT_GROWTH_POOL || gs[i].growth_pools)
				sample_u64(w, "pymemtrace_heap_growth_events", "_total", gs[i].labels,
					   growth_label[k], gs[i].growth_events[k]);
}


/* What the probes cost the traced processes (report.h): absent when not
 * measured, never zeros that look like data. */
static void write_overhead(struct pw *w, const struct overhead_report *o)
{
	char label[64];

	if (!o->counted)
		return;
	family(w, "pymemtrace_probe_hits", P_COUNTER, NULL,
	       "Probe hits in the traced processes, by handler: each one a trap");
	for (unsigned h = PMT_H_NONE + 1; h < PMT_H_NR; h++) {
		if (trap_cost__is_own(h))
			continue;
		snprintf(label, sizeof(label), "handler=\"%s\"", trap_cost__handler_name(h));
		sample_u64(w, "pymemtrace_probe_hits", "_total", NULL, label, o->hits[h]);
	}
	family(w, "pymemtrace_probe_hits_uncounted", P_GAUGE, NULL,
	       "1 for a handler with probes attached by libbpf past the dispatcher: their "
	       "hits are not in pymemtrace_probe_hits_total");
	for (unsigned h = PMT_H_NONE + 1; h < PMT_H_NR; h++) {
		if (trap_cost__is_own(h))
			continue;
		snprintf(label, sizeof(label), "handler=\"%s\"", trap_cost__handler_name(h));
		sample_u64(w, "pymemtrace_probe_hits_uncounted", "", NULL, label,
			   !!(o->uncounted & (1u << h)));
	}
	if (!o->cost.measured)
		return;
	family(w, "pymemtrace_probe_hit_cost_seconds", P_GAUGE, "seconds",
	       "A probe hit's trap and dispatch (entry), and what a return probe adds, "
	       "measured on pymemtrace itself at start-up");
	sample_f64(w, "pymemtrace_probe_hit_cost_seconds", "", NULL, "kind=\"entry\"",
		   o->cost.entry_ns / 1e9);
	sample_f64(w, "pymemtrace_probe_hit_cost_seconds", "", NULL, "kind=\"return\"",
		   o->cost.return_ns / 1e9);
	family(w, "pymemtrace_overhead_seconds", P_COUNTER, "seconds",
	       "CPU time the probes cost the traced processes, a lower bound: hits times "
	       "their cost, plus the BPF programs' time if kernel.bpf_stats_enabled");
	sample_f64(w, "pymemtrace_overhead_seconds", "_total", NULL, NULL, o->estimate_seconds);
	if (o->target_cpu_valid) {
		family(w, "pymemtrace_traced_cpu_seconds", P_COUNTER, "seconds",
		       "CPU time (user and system) the traced processes used while traced");
		sample_f64(w, "pymemtrace_traced_cpu_seconds", "_total", NULL, NULL,
			   o->target_cpu_seconds);
	}
	if (!o->budget_pct)
		return;
	family(w, "pymemtrace_overhead_budget_ratio", P_GAUGE, "ratio",
	       "--max-overhead: the share of the traced processes' CPU at which the trace "
	       "ends; compare rate(pymemtrace_overhead_seconds_total) over "
	       "rate(pymemtrace_traced_cpu_seconds_total)");
	sample_f64(w, "pymemtrace_overhead_budget_ratio", "", NULL, NULL, o->budget_pct / 100.0);
	family(w, "pymemtrace_overhead_budget_exceeded", P_GAUGE, NULL,
	       "1 once a second's probes cost more than --max-overhead (the trace then ends, "
	       "exit code 9; the share is pymemtrace_overhead_budget_exceeded_ratio)");
	sample_u64(w, "pymemtrace_overhead_budget_exceeded", "", NULL, NULL, o->budget_exceeded);
	if (o->budget_exceeded) {
		family(w, "pymemtrace_overhead_budget_exceeded_ratio", P_GAUGE, "ratio",
		       "The share of their CPU the probes cost the traced processes in the "
		       "window that exceeded --max-overhead");
		sample_f64(w, "pymemtrace_overhead_budget_exceeded_ratio", "", NULL, NULL,
			   o->budget_share);
	}
}

/* --gc-budget: how much of the time the GC probes are armed. */
static void write_gc_budget(struct pw *w, const struct gc_budget_report *b)
{
	if (!b->on)
		return;
	family(w, "pymemtrace_gc_probes_armed_ratio", P_GAUGE, "ratio",
	       "Share of the time the GC probes are armed: 1 while every collection is timed; "
	       "less in --gc-budget windows (pymemtrace_gc_pause_seconds_count then counts the "
	       "timed collections only, pymemtrace_gc_collections_total all of them)");
	sample_f64(w, "pymemtrace_gc_probes_armed_ratio", "", NULL, NULL, b->duty);
	family(w, "pymemtrace_gc_windows", P_COUNTER, NULL,
	       "--gc-budget windows in which collections were timed");
	sample_u64(w, "pymemtrace_gc_windows", "_total", NULL, NULL, b->windows);
}

int output_prom(FILE *f, const struct report *r, const struct prom_opts *o)
{
	struct pw w = { .f = f, .om = o->format == PROM_OPENMETRICS };
	struct pgroup *gs = NULL;
	unsigned n = 0;
	char build[64];

	if (build_groups(r, o, &gs, &n))
		return -ENOMEM;

	family(&w, "pymemtrace_up", P_GAUGE, NULL,
	       "1 while pymemtrace traces; 0 in the last textfile it writes");
	sample_u64(&w, "pymemtrace_up", "", NULL, NULL, o->up);
	family(&w, "pymemtrace_build", P_INFO, NULL, "pymemtrace's version");
	snprintf(build, sizeof(build), "version=\"%s\"", PMT_VERSION);
	sample_u64(&w, "pymemtrace_build", "_info", NULL, build, 1);
	if (r->tracer.valid) {
		family(&w, "pymemtrace_tracer_cpu_seconds", P_COUNTER, "seconds",
		       "CPU time pymemtrace itself used (user and system)");
		sample_f64(&w, "pymemtrace_tracer_cpu_seconds", "_total", NULL, NULL, r->tracer.cpu_seconds);
		family(&w, "pymemtrace_tracer_max_resident_bytes", P_GAUGE, "bytes",
		       "pymemtrace's own peak resident memory");
		sample_u64(&w, "pymemtrace_tracer_max_resident_bytes", "", NULL, NULL,
			   r->tracer.peak_rss_bytes);
	}
	write_overhead(&w, &r->overhead);
	write_gc_budget(&w, &r->gc_budget);
	family(&w, "pymemtrace_processes", P_GAUGE, NULL, "Traced processes by state");
	for (unsigned i = 0; i < n; i++)
		for (unsigned s = 0; s < 4; s++)
			sample_u64(&w, "pymemtrace_processes", "", gs[i].labels, state_label[s],
				   gs[i].by_state[s]);

	write_gc(&w, gs, n);
	write_heap(&w, gs, n);
	write_lost(&w, r, gs, n);
	write_alloc(&w, gs, n);
	write_growth(&w, gs, n);
	if (o->extra && o->extra(f, o->extra_ctx)) {
		free_groups(gs, n);
		return -EIO;
	}
	if (w.om)
		fputs("# EOF\n", f);
	free_groups(gs, n);
	return ferror(f) ? -EIO : 0;
}
