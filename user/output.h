/* Report writers.  Each takes a finished struct report and only formats it. */
#ifndef PMT_OUTPUT_H
#define PMT_OUTPUT_H

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

#endif
