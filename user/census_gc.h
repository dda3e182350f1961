/* Heap census, objects by type: a read-only walk of the target's GC lists.
 *
 * census_gc__take() finds the main interpreter's GC state from _PyRuntime
 * (user/pyoffsets.c), and walks each generation's PyGC_Head list (three
 * generations and the permanent one) with process_vm_readv, one read per
 * object (its PyGC_Head and object header together).  The target keeps
 * running: every link is checked (the next node's prev must point back),
 * every type validated once (its own type must be a type, tp_name readable,
 * sizes sane, Py_TPFLAGS_HAVE_GC set), and nodes are remembered so that no
 * object is counted twice and no cycle is followed.  A broken link is bridged
 * by re-reading the previous node, then by walking the list backwards from
 * its tail, then by walking it again (up to three times, counting only new
 * objects); what still cannot be reached is reported, never guessed.
 *
 * Bytes per object (the "size rule"): the object's own allocation, i.e.
 *   pre-header (PyGC_Head, plus two words for managed dict/weakref on
 *   3.11+/3.12+) + tp_basicsize + tp_itemsize * |ob_size|
 * which is sys.getsizeof() for types that do not override __sizeof__.
 * 3.11+ generators and coroutines count tp_basicsize only (their frame's
 * slots depend on the code object; see frame_objects).
 * Separately allocated buffers (a list's item array, a dict's tables) are not
 * included.  Objects that are not GC-tracked (ints, strs, floats, atomic
 * tuples...) are not on the lists and not counted here.
 */
#ifndef PMT_CENSUS_GC_H
#define PMT_CENSUS_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct interp;

#define CENSUS_TYPE_NAME_MAX 128
/* Objects of at most this many bytes are served by pymalloc. */
#define CENSUS_PYMALLOC_MAX 512
#define CENSUS_MAX_LISTS 8

struct census_type {
	char name[CENSUS_TYPE_NAME_MAX];   /* tp_name, from the target */
	uint64_t count;
	uint64_t bytes;                    /* by the size rule */
};

struct census_gc_opts {
	uint64_t max_objects;              /* stop after this many nodes (0: default) */
	uint64_t max_ms;                   /* stop after this long (0: default) */
	/* Another thread sets *cancel (atomically) to stop the walk early
	 * (stopped_early, as at a limit); NULL: never. */
	const bool *cancel;
};

struct census_gc {
	struct census_type *types;         /* merged by name, largest count first */
	size_t n_types;
	uint64_t objects;                  /* counted */
	uint64_t bytes;
	uint64_t pymalloc_bytes;           /* of counted objects of <= CENSUS_PYMALLOC_MAX bytes */
	uint64_t skipped;                  /* nodes reached but not counted (torn, bad type) */
	uint64_t gaps;                     /* list stretches that could not be reached */
	uint64_t frame_objects;            /* 3.11+ generators/coroutines: basicsize only */
	uint64_t resyncs;                  /* broken links bridged by re-reading */
	uint64_t retries;                  /* lists walked again after both ends broke */
	uint64_t lists, lists_complete;    /* generation lists, walked end to end */
	struct {
		uint64_t objects;              /* counted first in this list */
		bool complete;
	} per_list[CENSUS_MAX_LISTS];      /* generations 0..2, then the permanent one */
	bool stopped_early;                /* max_objects or max_ms reached */
	uint64_t elapsed_us;
	char source[96];                   /* where the offsets came from */
};

/* Takes one snapshot.  0, or -errno with the reason in why: -ESRCH (process
 * gone), -EPERM/-EACCES, -ENOTSUP (no offsets for this interpreter), -EIO
 * (the GC state is unreadable or makes no sense).  A walk that had to skip
 * objects still returns 0: see skipped, gaps, stopped_early. */
int census_gc__take(struct interp *in, pid_t pid, const struct census_gc_opts *opts,
		    struct census_gc *out, char *why, size_t whylen);
void census_gc__free(struct census_gc *c);

struct py_gc_layout;
/* Where the main interpreter's GC state (struct _gc_runtime_state) is in
 * pid, from the layout (pyoffsets__gc_layout), with a check that its first
 * list head is sane.  0, or -errno with the reason in why. */
int census_gc__find_state(pid_t pid, const struct py_gc_layout *l, uint64_t *gc, char *why,
			  size_t whylen);

/* The share of the walk that was skipped, 0..1: skipped nodes over the nodes
 * reached.  Gaps and an early stop are not in it (their size is unknown). */
double census_gc__skipped_share(const struct census_gc *c);

/* True when every list was walked end to end: no early stop, no gap, nothing
 * skipped. */
bool census_gc__complete(const struct census_gc *c);

/* The entry named name, or NULL. */
const struct census_type *census_gc__find(const struct census_gc *c, const char *name);

#endif
