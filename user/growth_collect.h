/* --heap-growth: reads the growth_stats map for one process into a
 * growth_report (user/report.h).  A stack's bytes are its pools (or, where
 * pools are not probed, its arenas) plus its mmap and brk growth: arenas
 * and pools are the same memory counted twice.
 *
 * The BPF side charges each pool refill, arena, anonymous mmap, mremap
 * growth and brk increase to the stack that caused it (bpf/pymemtrace.bpf.c,
 * "heap growth").  Here the kinds of one stack are merged into one row, the
 * rows sorted by bytes, and named like allocation stacks (alloc_collect.h).
 */
#ifndef PMT_GROWTH_COLLECT_H
#define PMT_GROWTH_COLLECT_H

#include "alloc_collect.h"
#include "report.h"

/* Fills *g from the map at growth_fd for src->pid.  pools_reason: why pool
 * refills are not probed ("" when they are).  g->stacks is malloc'ed
 * (report_release frees it). */
void growth_collect(const struct alloc_sources *src, int growth_fd, const struct pmt_proc_stats *st,
		    bool pools_probed, const char *pools_reason, struct growth_report *g);

#endif
