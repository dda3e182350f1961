/* What the probes cost the traced processes, counted and measured here.
 *
 * A probe hit's main cost is the trap, paid in the kernel on the target's
 * CPU before any BPF program runs, so no program can time it.  Instead:
 *  - uprobe_dispatch counts every hit by handler (the BPF map probe_hits),
 *    the trace's own probes on the traced processes only (their links are
 *    pid-filtered);
 *  - at start-up pymemtrace probes two functions of its own through the
 *    same dispatcher, with a handler that does nothing: one whose probed
 *    first instruction the kernel emulates (`push`, as the plan's sites
 *    are), one with a return probe.  It calls each a few thousand times on
 *    one thread and takes the extra thread CPU time per call, which counts
 *    the kernel's trap handling (CLOCK_THREAD_CPUTIME_ID);
 *  - hits times those costs give the target's time in traps and dispatch.
 *    Entry hits are charged the entry cost, return hits what a return probe
 *    adds to it.  A return probe whose function has no entry probe of ours
 *    at the same address (trap_cost__return_only) pays the entry trap too,
 *    where the kernel takes the return address: its hits are charged both.
 *    A lower bound still: a single-stepped site would cost ~12 us (the plan
 *    picks emulated ones), and the handlers' own work is left out, except
 *    the GC handlers': they time themselves (trap_cost__handler_ns), since
 *    --gc-budget charges them and their cold maps cost half a trap again.
 *    All handlers' work is measured when kernel.bpf_stats_enabled is 1 (the
 *    kernel then times every BPF program of the machine; pymemtrace does not
 *    turn it on): the dispatcher's run time, which includes its tail-called
 *    handlers, minus the calibration's.
 * Both paths go through the dispatcher: uprobe_multi links, and the
 * perf-event uprobes pymemtrace opens itself (a BPF link to the dispatcher
 * with the handler in the cookie, as a uprobe_multi probe's).  A probe
 * libbpf attached to its handler directly (a USDT argument spec
 * pymemtrace does not decode, a kernel without the uprobe PMU) is not
 * counted: probe_status.uncounted, and the report names it.  If the
 * calibration fails, `measured` is false and `why` says so.
 */
#ifndef PMT_TRAP_COST_H
#define PMT_TRAP_COST_H

#include <stdbool.h>
#include <stdint.h>
#include "../bpf/pymemtrace.h"

struct pymemtrace_bpf;

/* A test knob: set, the costs are not measured (why says so), as when the
 * calibration fails; tests/22-overhead.bats takes the paths that follow. */
#define PMT_ENV_NO_TRAP_COST "PYMEMTRACE_TEST_NO_TRAP_COST"

struct trap_cost {
	bool measured;
	char why[160];            /* when not measured */
	double entry_ns;          /* per entry hit: trap, dispatch, empty handler */
	double return_ns;         /* what a return probe adds to its function's entry trap */
	unsigned calls;           /* calls per measurement */
	/* kernel.bpf_stats_enabled: the dispatcher's time before and after
	 * the calibration, so that its own runs can be taken out */
	bool bpf_stats;
	uint64_t calib_bpf_ns, calib_bpf_runs;
};

/* Measures the costs (a few ms of pymemtrace's CPU) and leaves the
 * calibration probes closing in the background.  Needs the dispatcher's
 * table filled (attach__fill_handlers).  multi: through a uprobe_multi
 * link, else a perf-event uprobe, as the targets' probes are attached.
 * Never fails the trace: on any error out->measured is false with the
 * reason. */
void trap_cost__measure(struct pymemtrace_bpf *skel, bool multi, struct trap_cost *out);

/* Probe hits by handler so far, all CPUs added up; the calibration's own
 * hits are in their slots (PMT_H_TRAP_COST*), not in the others.  0 or
 * -errno. */
int trap_cost__hits(struct pymemtrace_bpf *skel, uint64_t hits[PMT_H_NR]);

/* The GC handlers' own run time so far (ns, all CPUs added up), which each
 * of them times in BPF (the map handler_ns); 0 for the other handlers.
 * 0 or -errno. */
int trap_cost__handler_ns(struct pymemtrace_bpf *skel, uint64_t ns[PMT_H_NR]);

/* Whether a handler is one of the GC probes' (the ones that time themselves). */
bool trap_cost__is_gc(unsigned handler);

/* Whether a handler's probes are return probes. */
bool trap_cost__is_return(unsigned handler);

/* Whether a handler's return probe is alone at its function's entry (no
 * entry probe of ours shares its trap). */
bool trap_cost__return_only(unsigned handler);

/* What one hit of a handler's probe costs, in ns: the entry cost, what a
 * return probe adds to it, or both for a return probe alone at its entry;
 * 0 when not measured. */
double trap_cost__hit_ns(const struct trap_cost *c, unsigned handler);

/* Whether a handler is the calibration's own (its hits are pymemtrace's,
 * never the targets'): reports skip it. */
bool trap_cost__is_own(unsigned handler);

/* The dispatcher's BPF run time and runs so far, if the kernel times BPF
 * programs (kernel.bpf_stats_enabled); false otherwise. */
bool trap_cost__bpf_time(struct pymemtrace_bpf *skel, uint64_t *ns, uint64_t *runs);

/* A handler's name for reports ("gc_entry", ...), NULL for none. */
const char *trap_cost__handler_name(unsigned handler);

#endif
