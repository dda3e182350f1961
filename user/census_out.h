/* Heap census: the objects-by-type part as text, JSON and Prometheus
 * gauges.  Presentation only: the numbers come from census_gc__take().
 *
 * With `before` set, the view is a growth report (objgraph's show_growth):
 * the types whose counts grew most from `before` to `gc`, matched by name.
 */
#ifndef PMT_CENSUS_OUT_H
#define PMT_CENSUS_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "census_gc.h"

struct jw;

struct pymalloc_census;

struct census_view {
	pid_t pid;
	const char *version;                 /* "3.11.2" */
	const struct census_gc *gc;          /* the snapshot (the second one for growth) */
	const struct census_gc *before;      /* the first snapshot, or NULL */
	double growth_s;                     /* seconds between the two */
	unsigned top;                        /* rows in text and Prometheus output */
	/* the pymalloc census taken with it, or NULL with the reason in pymalloc_why */
	const struct pymalloc_census *pymalloc;
	const char *pymalloc_why;
	bool has_age;                        /* age_s is set (a trace's --census) */
	double age_s;                        /* seconds since the snapshot was taken */
};

/* One grown type. */
struct census_growth {
	const char *name;                    /* points into view->gc */
	uint64_t count;
	int64_t delta;
	int64_t bytes_delta;
};

/* The types whose count grew, largest growth first (ties by name); *n set.
 * NULL with *n = 0 when nothing grew or out of memory (errno ENOMEM). */
struct census_growth *census_out__growth(const struct census_view *v, size_t *n);

void census_out__text(FILE *f, const struct census_view *v);
/* Writes the members of the JSON "census" object that this part owns
 * (walk, types, growth) into an object the caller has begun. */
/* The "types" key and its array: the first `top` types of c (largest count
 * first), each {type, count, bytes}. */
void census_out__json_types(struct jw *w, const struct census_gc *c, size_t top);
void census_out__json(struct jw *w, const struct census_view *v);
/* pymemtrace_census_objects{pid=...,type=...} and _bytes gauges for the top
 * types of each of the n views (processes, each told by its pid label), plus
 * the walk's own gauges, the census's age (has_age) and the pymalloc
 * gauges (views with a pymalloc census).  Each family's HELP and TYPE are
 * written once, before all its samples; no "# EOF" (the caller ends the
 * exposition).  0 or -EIO. */
int census_out__prom(FILE *f, const struct census_view *v, size_t n);

#endif
