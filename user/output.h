/* Report writers.  Each takes a finished struct report and only formats it. */
#ifndef PMT_OUTPUT_H
#define PMT_OUTPUT_H

#include <stdio.h>
#include "report.h"

/* Human-readable report (stdout).  Interval reports are shorter. */
void output_text(FILE *f, const struct report *r);
/* The JSON report; key paths are documented in README.md ("JSON report"). */
void output_json(FILE *f, const struct report *r);

#endif
