/* Report writers.  Each takes a finished struct report and only formats it. */
#ifndef PMT_OUTPUT_H
#define PMT_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>
#include "report.h"

/* Human-readable report (stdout).  Interval reports are shorter. */
void output_text(FILE *f, const struct report *r);
/* The JSON report; key paths are documented in README.md ("JSON report"). */
void output_json(FILE *f, const struct report *r);

/* What a stack weighs in the flame-graph formats. */
enum stack_weight {
	WEIGHT_LIVE = 0,          /* bytes still live at the end (leaks) */
	WEIGHT_ALLOC = 1,         /* bytes allocated during the trace (churn) */
};

/* Folded ("collapsed") stacks for flamegraph.pl, inferno and speedscope:
 * one line per stack, "frame;frame;...;frame BYTES", root first: the
 * process ("python3.11 (pid 123)"), then Python frames outermost to
 * innermost ("function (file:line)"), then native frames outermost to
 * innermost.  Stacks of weight 0 are left out.  Frame text never contains
 * ';' or a newline (they are replaced).  0 or -errno. */
int output_folded(FILE *f, const struct report *r, enum stack_weight w);

/* speedscope's JSON file format, with bytes as the weight: one "sampled"
 * profile per process and weight (live, allocated).  0 or -errno. */
int output_speedscope(FILE *f, const struct report *r);

/* Prometheus exposition (README.md "Prometheus").  Only formats: the caller
 * collects the report (at scrape time) and owns the I/O. */
enum prom_format {
	PROM_TEXT = 0,            /* text format 0.0.4 (also node_exporter's textfile) */
	PROM_OPENMETRICS = 1,     /* OpenMetrics 1.0.0, ends with "# EOF" */
};

struct prom_opts {
	enum prom_format format;
	/* The labels that tell series apart, kept bounded: group="NAME" when a
	 * group is named (every process in it summed), otherwise
	 * interpreter="cpython-X.Y.Z" (processes of one version summed); plus
	 * pid="N" only when label_pid is set. */
	const char *group;
	bool label_pid;
	bool up;                  /* pymemtrace_up: false in the last textfile, at exit */
	/* More families (--census's gauges), written last, before OpenMetrics'
	 * "# EOF": 0 or -errno.  NULL: none. */
	int (*extra)(FILE *f, void *ctx);
	void *extra_ctx;
};

/* Escapes s as a Prometheus label value into out (cap bytes, always
 * terminated): backslash, quote and newline escaped, bytes that are not
 * UTF-8 as '?'.  false if it was cut short. */
bool prom_label_value(char *out, size_t cap, const char *s);
/* The Content-Type header for a format. */
const char *prom_content_type(enum prom_format format);
/* The whole exposition: every metric family once, no timestamps.  Stack
 * metrics (--alloc) are the top alloc.top_n stacks of each label set by live
 * bytes.  0 or -errno (-ENOMEM, or a write error on f). */
int output_prom(FILE *f, const struct report *r, const struct prom_opts *o);

#endif
