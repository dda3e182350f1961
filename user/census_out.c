// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Heap census, objects by type, presentation: see census_out.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "census_out.h"
#include "census_pymalloc.h"
#include "json_writer.h"
#include "output.h"
#include "units.h"

#define NAME_SHOWN 48    /* text column; longer names are cut */

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct census_type *)a)->name, ((const struct census_type *)b)->name);
}

static int by_growth(const void *a, const void *b)
{
	const struct census_growth *x = a, *y = b;

	if (x->delta != y->delta)
		return x->delta < y->delta ? 1 : -1;
	return strcmp(x->name, y->name);
}

struct census_growth *census_out__growth(const struct census_view *v, size_t *n)
{
	const struct census_gc *a = v->before, *b = v->gc;
	struct census_type *old = NULL;
	struct census_growth *g;
	size_t k = 0;

	*n = 0;
	if (!a || !b || !b->n_types)
		return NULL;
	g = calloc(b->n_types, sizeof(*g));
	if (a->n_types)
		old = malloc(a->n_types * sizeof(*old));
	if (!g || (a->n_types && !old)) {
		free(g);
		free(old);
		errno = ENOMEM;
		return NULL;
	}
	if (old) {
		memcpy(old, a->types, a->n_types * sizeof(*old));
		qsort(old, a->n_types, sizeof(*old), by_name);
	}
	for (size_t i = 0; i < b->n_types; i++) {
		const struct census_type *t = &b->types[i];
		const struct census_type *o =
			old ? bsearch(t, old, a->n_types, sizeof(*old), by_name) : NULL;
		int64_t d = (int64_t)t->count - (int64_t)(o ? o->count : 0);

		if (d <= 0)
			continue;
		g[k].name = t->name;
		g[k].count = t->count;
		g[k].delta = d;
		g[k].bytes_delta = (int64_t)t->bytes - (int64_t)(o ? o->bytes : 0);
		k++;
	}
	free(old);
	if (!k) {
		free(g);
		return NULL;
	}
	qsort(g, k, sizeof(*g), by_growth);
	*n = k;
	return g;
}

static void text_walk(FILE *f, const char *label, const struct census_gc *c)
{
	char b[UNITS_BUFSZ];

	fprintf(f, "%s: %llu GC-tracked objects, %s, in %llu types; walked %llu/%llu lists "
		"end to end in %.1f ms\n", label, (unsigned long long)c->objects,
		units_bytes(b, sizeof(b), c->bytes), (unsigned long long)c->n_types,
		(unsigned long long)c->lists_complete, (unsigned long long)c->lists,
		c->elapsed_us / 1000.0);
	fprintf(f, "  skipped %llu objects (%.2f%% of those reached: torn reads or bad types), "
		"%llu unreachable list stretches, %llu links re-read%s\n",
		(unsigned long long)c->skipped, 100.0 * census_gc__skipped_share(c),
		(unsigned long long)c->gaps, (unsigned long long)c->resyncs,
		c->stopped_early ? "; STOPPED EARLY at --max-objects/--max-time" : "");
}

void census_out__text(FILE *f, const struct census_view *v)
{
	const struct census_gc *c = v->gc;
	char name[4 * NAME_SHOWN + 1], b[UNITS_BUFSZ];

	fprintf(f, "Heap census of pid %d (CPython %s, offsets: %s)\n", (int)v->pid,
		v->version ? v->version : "?", c->source);
	if (v->before)
		text_walk(f, "first snapshot", v->before);
	text_walk(f, v->before ? "second snapshot" : "objects by type", c);
	if (v->before) {
		size_t n;
		struct census_growth *g = census_out__growth(v, &n);

		fprintf(f, "\nGrowth over %.1f s (types whose count grew, largest first):\n",
			v->growth_s);
		fprintf(f, "  %-48s %12s %10s %12s\n", "type", "count", "+count", "+bytes");
		for (size_t i = 0; i < n && i < v->top; i++) {
			units_sanitize(name, sizeof(name), g[i].name, NAME_SHOWN);
			fprintf(f, "  %-48s %12llu %+10lld %12s\n", name,
				(unsigned long long)g[i].count, (long long)g[i].delta,
				units_sbytes(b, sizeof(b), g[i].bytes_delta));
		}
		if (!n)
			fprintf(f, "  (no type grew)\n");
		free(g);
		return;
	}
	fprintf(f, "\n  %-48s %12s %12s\n", "type", "count", "bytes");
	for (size_t i = 0; i < c->n_types && i < v->top; i++) {
		units_sanitize(name, sizeof(name), c->types[i].name, NAME_SHOWN);
		fprintf(f, "  %-48s %12llu %12s\n", name, (unsigned long long)c->types[i].count,
			units_bytes(b, sizeof(b), c->types[i].bytes));
	}
	if (c->n_types > v->top)
		fprintf(f, "  (%zu more types; --top N shows more)\n", c->n_types - v->top);
}

static void json_walk(struct jw *w, const struct census_gc *c)
{
	jw_object_begin(w);
	jw_kv_u64(w, "objects", c->objects);
	jw_kv_u64(w, "bytes", c->bytes);
	jw_kv_u64(w, "pymalloc_bytes", c->pymalloc_bytes);
	jw_kv_u64(w, "skipped", c->skipped);
	jw_kv_double(w, "skipped_share", census_gc__skipped_share(c));
	jw_kv_u64(w, "gaps", c->gaps);
	jw_kv_u64(w, "resyncs", c->resyncs);
	jw_kv_u64(w, "retries", c->retries);
	jw_kv_u64(w, "frame_objects", c->frame_objects);
	jw_kv_u64(w, "lists", c->lists);
	jw_kv_u64(w, "lists_complete", c->lists_complete);
	jw_key(w, "per_list");
	jw_array_begin(w);
	for (uint64_t i = 0; i < c->lists && i < CENSUS_MAX_LISTS; i++) {
		jw_object_begin(w);
		jw_kv_string(w, "list", i + 1 < c->lists ? (const char *[]){ "generation 0",
			     "generation 1", "generation 2" }[i < 3 ? i : 2] : "permanent");
		jw_kv_u64(w, "objects", c->per_list[i].objects);
		jw_kv_bool(w, "complete", c->per_list[i].complete);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_kv_bool(w, "stopped_early", c->stopped_early);
	jw_kv_bool(w, "complete", census_gc__complete(c));
	jw_kv_double(w, "elapsed_ms", c->elapsed_us / 1000.0);
	jw_object_end(w);
}

void census_out__json_types(struct jw *w, const struct census_gc *c, size_t top)
{
	if (top > c->n_types)
		top = c->n_types;
	jw_key(w, "types");
	jw_array_begin(w);
	for (size_t i = 0; i < top; i++) {
		jw_object_begin(w);
		jw_kv_string(w, "type", c->types[i].name);
		jw_kv_u64(w, "count", c->types[i].count);
		jw_kv_u64(w, "bytes", c->types[i].bytes);
		jw_object_end(w);
	}
	jw_array_end(w);
}

void census_out__json(struct jw *w, const struct census_view *v)
{
	const struct census_gc *c = v->gc;

	jw_kv_string(w, "offsets", c->source);
	jw_key(w, "walk");
	json_walk(w, c);
	census_out__json_types(w, c, c->n_types);
	if (v->before) {
		size_t n;
		struct census_growth *g = census_out__growth(v, &n);

		jw_key(w, "growth");
		jw_object_begin(w);
		jw_kv_double(w, "interval_s", v->growth_s);
		jw_key(w, "first_walk");
		json_walk(w, v->before);
		jw_key(w, "types");
		jw_array_begin(w);
		for (size_t i = 0; i < n; i++) {
			jw_object_begin(w);
			jw_kv_string(w, "type", g[i].name);
			jw_kv_u64(w, "count", g[i].count);
			jw_kv_s64(w, "delta", g[i].delta);
			jw_kv_s64(w, "bytes_delta", g[i].bytes_delta);
			jw_object_end(w);
		}
		jw_array_end(w);
		jw_object_end(w);
		free(g);
	}
}

/* One gauge family: its HELP and TYPE once, then one sample per view that
 * has a value (value() false: no sample for that view). */
static void prom_family(FILE *f, const char *fam, const char *help,
			const struct census_view *v, size_t n,
			bool (*value)(const struct census_view *, double *))
{
	char num[40];
	double x;

	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", fam, help, fam);
	for (size_t i = 0; i < n; i++) {
		if (!value(&v[i], &x))
			continue;
		if (x >= 0 && x < 1e15 && x == (double)(uint64_t)x)
			snprintf(num, sizeof(num), "%llu", (unsigned long long)x);
		else
			snprintf(num, sizeof(num), "%.6f", x);
		fprintf(f, "%s{pid=\"%d\"} %s\n", fam, (int)v[i].pid, num);
	}
}

static bool g_tracked(const struct census_view *v, double *x)
{
	*x = (double)v->gc->objects;
	return true;
}

static bool g_skipped(const struct census_view *v, double *x)
{
	*x = census_gc__skipped_share(v->gc);
	return true;
}

static bool g_complete(const struct census_view *v, double *x)
{
	*x = census_gc__complete(v->gc);
	return true;
}

static bool g_age(const struct census_view *v, double *x)
{
	*x = v->age_s;
	return v->has_age;
}

static bool g_arena(const struct census_view *v, double *x)
{
	*x = v->pymalloc ? (double)v->pymalloc->arena_bytes : 0;
	return v->pymalloc;
}

static bool g_used(const struct census_view *v, double *x)
{
	*x = v->pymalloc ? (double)v->pymalloc->used_bytes : 0;
	return v->pymalloc;
}

static bool g_empty_pools(const struct census_view *v, double *x)
{
	*x = v->pymalloc ? (double)v->pymalloc->empty_pool_bytes : 0;
	return v->pymalloc;
}

static bool g_fragmentation(const struct census_view *v, double *x)
{
	const struct pymalloc_census *p = v->pymalloc;

	*x = p ? pymalloc_census__fragmentation(p) : 0;
	return p && p->arena_bytes;
}

static bool g_pymalloc_complete(const struct census_view *v, double *x)
{
	*x = v->pymalloc && v->pymalloc->complete;
	return v->pymalloc;
}

static bool any_pymalloc(const struct census_view *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pymalloc)
			return true;
	return false;
}

int census_out__prom(FILE *f, const struct census_view *v, size_t n)
{
	char label[4 * CENSUS_TYPE_NAME_MAX + 1];
	unsigned top = n ? v[0].top : 0;

	/* Every family once, whatever the number of processes: Prometheus
	 * rejects a family whose metadata appears twice. */
	fprintf(f, "# HELP pymemtrace_census_objects GC-tracked objects of a type (top %u by "
		"count), from the last heap census.\n# TYPE pymemtrace_census_objects gauge\n",
		top);
	for (size_t k = 0; k < n; k++) {
		const struct census_gc *c = v[k].gc;

		for (size_t i = 0; i < c->n_types && i < v[k].top; i++) {
			prom_label_value(label, sizeof(label), c->types[i].name);
			fprintf(f, "pymemtrace_census_objects{pid=\"%d\",type=\"%s\"} %llu\n",
				(int)v[k].pid, label, (unsigned long long)c->types[i].count);
		}
	}
	fprintf(f, "# HELP pymemtrace_census_bytes Bytes of those objects by the size rule "
		"(README: Heap census).\n# TYPE pymemtrace_census_bytes gauge\n");
	for (size_t k = 0; k < n; k++) {
		const struct census_gc *c = v[k].gc;

		for (size_t i = 0; i < c->n_types && i < v[k].top; i++) {
			prom_label_value(label, sizeof(label), c->types[i].name);
			fprintf(f, "pymemtrace_census_bytes{pid=\"%d\",type=\"%s\"} %llu\n",
				(int)v[k].pid, label, (unsigned long long)c->types[i].bytes);
		}
	}
	prom_family(f, "pymemtrace_census_tracked_objects", "All GC-tracked objects counted.",
		    v, n, g_tracked);
	prom_family(f, "pymemtrace_census_skipped_ratio", "Share of the objects reached that "
		    "could not be counted (torn reads).", v, n, g_skipped);
	prom_family(f, "pymemtrace_census_complete", "1 when every GC list was walked end to "
		    "end with nothing skipped.", v, n, g_complete);
	for (size_t i = 0; i < n; i++)
		if (v[i].has_age) {
			prom_family(f, "pymemtrace_census_age_seconds", "Seconds since the census "
				    "was taken (--census in a trace).", v, n, g_age);
			break;
		}
	if (any_pymalloc(v, n)) {
		prom_family(f, "pymemtrace_census_pymalloc_arena_bytes", "Bytes of pymalloc "
			    "arenas allocated (pymalloc census).", v, n, g_arena);
		prom_family(f, "pymemtrace_census_pymalloc_used_bytes", "Bytes in live pymalloc "
			    "blocks.", v, n, g_used);
		prom_family(f, "pymemtrace_census_pymalloc_empty_pools_bytes", "Bytes of carved "
			    "pools with no block in use, kept for reuse.", v, n, g_empty_pools);
		prom_family(f, "pymemtrace_census_pymalloc_fragmentation_ratio", "1 - used_bytes "
			    "/ arena_bytes.", v, n, g_fragmentation);
		prom_family(f, "pymemtrace_census_pymalloc_complete", "1 when the pymalloc census "
			    "read every arena and pool.", v, n, g_pymalloc_complete);
	}
	return ferror(f) ? -EIO : 0;
}
