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
 *
 * Finalisation (3.9+) unlinks the main interpreter from the list: the head
 * becomes NULL, and on 3.9 and 3.10 its state, counters included, is then
 * freed.  So every read takes the counters first and the head after: a head
 * still set vouches for the counters read before it.  Once the head is NULL
 * the counts are final (no collection runs after that); a read then is
 * believed only where the main interpreter is static (3.11+: it lives in
 * _PyRuntime), and never invalidates.
 */
#ifndef PMT_GC_COUNTERS_H
#define PMT_GC_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct interp;

#define GC_COUNTERS_GENERATIONS 3

/* A test knob: set, gc_counters__open finds no counters, as for an
 * interpreter whose counters are out of reach. */
#define PMT_ENV_HIDE_GC_COUNTERS "PYMEMTRACE_TEST_HIDE_GC_COUNTERS"

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
	bool static_interp;       /* the counters' memory outlives finalisation */
	bool final;               /* the main interpreter was seen unlinked */
	bool final_taken;         /* and a read after that was taken: last is all */
	struct gc_gen_counts base[GC_COUNTERS_GENERATIONS]; /* at open */
	struct gc_gen_counts last[GC_COUNTERS_GENERATIONS]; /* at the last good read */
};

/* Finds the counters of pid's main interpreter and reads them as the base.
 * 0, or -errno with c->valid false and the reason in c->why. */
int gc_counters__open(struct gc_counters *c, struct interp *in, pid_t pid);

/* Reads them again into c->last, and sets c->others if another interpreter
 * runs.  0 when last now holds every collection so far; 1 when finalisation
 * left the counters unreadable: last stands, as of an earlier read;
 * -errno when the read failed (last unchanged, still valid: the process
 * may be gone); -EIO when they went backwards or jumped beyond belief
 * (then c->valid is false, with why). */
int gc_counters__read(struct gc_counters *c);

/* Takes one read made elsewhere (the BPF exit hook's): raw as
 * gc_counters__accept's, then the head when head_read.  lenient: a read
 * that makes no sense is dropped (-EIO) and leaves the counters valid, as
 * at an exit, where a wrong figure must not throw away the good ones.
 * Returns as gc_counters__read. */
int gc_counters__take(struct gc_counters *c, const int64_t raw[GC_COUNTERS_GENERATIONS * 3],
		      bool head_read, uint64_t head, bool lenient);

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
