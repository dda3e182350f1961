/* The interpreter's own GC counters, read from outside.
 *
 * CPython counts every collection it runs in its GC state:
 * generation_stats[g] = { collections, collected, uncollectable } for each
 * generation, the figures gc.get_stats() returns.  Under --gc-budget the GC
 * probes are disarmed between windows, so the probes no longer see every
 * collection; these counters still do.  They are the main interpreter's,
 * read with one process_vm_readv: the target is never stopped.  From 3.9 on
 * every subinterpreter keeps counters of its own, which these do not hold:
 * each read also looks at the head of the interpreters' list, and a head
 * that is not the main interpreter means others run (c->others).  The
 * caller decides what that makes of the counts (on 3.8 the collector is
 * process-wide, and so are its counters).
 *
 * The target controls what is read: a read that goes backwards, or makes
 * no sense, invalidates the counters (with the reason) rather than being
 * believed.
 */
#ifndef PMT_GC_COUNTERS_H
#define PMT_GC_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct interp;

#define GC_COUNTERS_GENERATIONS 3

struct gc_gen_counts {
	uint64_t collections;
	uint64_t collected;       /* objects collected + uncollectable */
};

struct gc_counters {
	pid_t pid;
	bool valid;               /* base and last were read, and make sense */
	char why[160];            /* when not */
	uint64_t addr;            /* &generation_stats[0] in the target */
	uint64_t head_addr;       /* &_PyRuntime.interpreters.head; 0 on 3.8 */
	uint64_t main_interp;     /* the main interpreter's state */
	bool others;              /* another interpreter was seen at a read */
	struct gc_gen_counts base[GC_COUNTERS_GENERATIONS]; /* at open */
	struct gc_gen_counts last[GC_COUNTERS_GENERATIONS]; /* at the last good read */
};

/* Finds the counters of pid's main interpreter and reads them as the base.
 * 0, or -errno with c->valid false and the reason in c->why. */
int gc_counters__open(struct gc_counters *c, struct interp *in, pid_t pid);

/* Reads them again into c->last, and sets c->others if another interpreter
 * runs.  0; -errno when the read failed (last unchanged, still valid: the
 * process may be gone); -EIO when they went backwards or jumped beyond
 * belief (then c->valid is false, with why). */
int gc_counters__read(struct gc_counters *c);

/* What the interpreter counted since open, per generation, up to the last
 * good read; false when not valid. */
bool gc_counters__since_open(const struct gc_counters *c,
			     struct gc_gen_counts out[GC_COUNTERS_GENERATIONS]);

/* The check on one raw read, against the previous one (exposed for the
 * unit test): raw[g * 3 + k] is generation_stats[g]'s k-th Py_ssize_t.
 * true, with out filled, when every field is non-negative and none went
 * backwards. */
bool gc_counters__accept(const struct gc_gen_counts prev[GC_COUNTERS_GENERATIONS],
			 const int64_t raw[GC_COUNTERS_GENERATIONS * 3],
			 struct gc_gen_counts out[GC_COUNTERS_GENERATIONS]);

#endif
