/* Assembling the --alloc part of a process's report from the BPF maps:
 * totals scaled for sampling, coverage and pymalloc-retained memory with
 * their reasons, and the top stacks (by live and by allocated bytes) with
 * their Python and native frames named.  It only reads; it prints nothing.
 */
#ifndef PMT_ALLOC_COLLECT_H
#define PMT_ALLOC_COLLECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "report.h"

struct symbolizer;
struct pynames;

/* Where one process's allocation data lives, and what is known about how it
 * was probed. */
struct alloc_sources {
	pid_t pid;
	int stack_stats_fd;       /* the stack_stats map */
	int native_stacks_fd;     /* the native_stacks stack-trace map */
	unsigned native_depth;    /* --native-depth: frames per native_stacks entry */
	struct symbolizer *syms;  /* may be NULL: native frames as addresses */
	struct pynames *pynames;  /* may be NULL: no Python frames */
	int pystacks_fd;          /* the pystacks map, to name a stack stored late */
	bool can_name;            /* the process can still be read */
	unsigned sample_every;    /* --sample (1: every allocation) */
	/* --sample-window: window_ms > 0, and what this process's windows were */
	unsigned window_ms, period_ms, windows;
	double windows_s;
	uint64_t window_failures;
	unsigned top;             /* --top */
	bool pymalloc_probed;     /* pymalloc's allocation probes attached */
	bool libc_probed;         /* the C library's allocation probes attached */
	bool arenas_probed;       /* the arena probes attached */
	bool has_symtab;          /* the interpreter keeps its .symtab */
	unsigned lto_sites_found; /* inlined allocator sites (0: not an LTO build) */
	unsigned lto_sites_handled;
};

/* Names key's Python frames and native frames into out->python/native
 * (malloc'ed; report_release frees them); counts nothing. */
void alloc_stack_name(const struct alloc_sources *src, const struct pmt_stack_key *key,
		      struct alloc_stack *out);

/* Fills *a (a->stacks is malloc'ed: report_release frees it). */
void alloc_collect(const struct alloc_sources *src, const struct pmt_proc_stats *st,
		   double traced_seconds, struct alloc_report *a);

#endif
