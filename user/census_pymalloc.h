/* An out-of-process census of pymalloc, in the shape of
 * sys._debugmallocstats(): per size class, the pools, blocks in use and free
 * blocks; the arenas, and where their bytes go.
 *
 * pymalloc_census__take() finds pymalloc's arena table in the target and
 * walks it with reads only (process_vm_readv): no stop, no code injected.
 *   3.8-3.11  file statics `arenas`, `maxarenas` (.symtab), or, in stripped
 *             LTO builds, the two static loads that _Py_GetAllocatedBlocks
 *             (.dynsym) makes, told apart and checked against the target;
 *   3.12      the main interpreter's embedded obmalloc state, inside
 *             _PyRuntime; 3.13 the state its `obmalloc` pointer names.
 *             Only the main interpreter's: 3.12+ subinterpreters that have
 *             their own obmalloc state are not counted.
 * Arena and pool sizes: 256 KiB and 4 KiB up to 3.9, 1 MiB and 16 KiB from
 * 3.10 (64-bit radix-tree builds); blocks are 16-byte aligned, 32 classes.
 *
 * The target runs on while it is walked.  Every count and pointer read is
 * validated (table size capped, arena records plausible, each pool header's
 * arena index, size class and count); the arena table is re-read after each
 * arena's pools and an arena that changed under the walk is walked again (a
 * few times) or counted as skipped.  Pools whose header makes no sense are
 * counted as skipped too.  `complete` is false whenever anything was
 * skipped, and `note` says how much: a census never passes a partial walk
 * off as whole.
 */
#ifndef PMT_CENSUS_PYMALLOC_H
#define PMT_CENSUS_PYMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct interp;
struct jw;

#define PYMALLOC_MAX_CLASSES 64

struct pymalloc_class {
	uint32_t block_size;      /* bytes, (index + 1) * alignment */
	uint64_t pools;           /* pools in use for this class (count > 0) */
	uint64_t blocks_in_use;   /* allocated blocks in those pools */
	uint64_t free_blocks;     /* blocks those pools could still hand out */
};

struct pymalloc_census {
	int version_mm;           /* 308 .. 313 */
	uint32_t arena_size, pool_size, pool_overhead, alignment;
	uint32_t nclasses;
	uint64_t table_addr;      /* where the arena table was read (target) */
	uint32_t maxarenas;       /* its length */
	char source[128];         /* how the table was found */

	struct pymalloc_class cls[PYMALLOC_MAX_CLASSES];

	/* arenas */
	uint64_t arenas;          /* allocated (address != 0) */
	uint64_t arenas_used;     /* with a pool in use (or a pool unreadable) */
	uint64_t arenas_free;     /* allocated, every pool read and none in use */
	int64_t arenas_reported;  /* pymalloc's own narenas_currently_allocated, -1 unknown */
	uint64_t arena_bytes;     /* arenas * arena_size */

	/* where arena_bytes go (they add up when complete) */
	uint64_t used_bytes;      /* sum of blocks in use * block size */
	uint64_t free_block_bytes;/* sum of free blocks * block size, in used pools */
	uint64_t pools_used;
	uint64_t empty_pools;     /* carved pools with no block in use: retained for reuse */
	uint64_t empty_pool_bytes;
	uint64_t untouched_pools; /* never carved from their arena yet */
	uint64_t untouched_pool_bytes;
	uint64_t pool_header_bytes;   /* used pools * pool header */
	uint64_t quantization_bytes;  /* used pools' tails too small for a block */
	uint64_t alignment_bytes;     /* a pool lost by arenas not pool-aligned */

	/* the walk */
	uint64_t pools_walked;
	uint64_t pools_skipped;   /* header unreadable or invalid */
	uint64_t arenas_skipped;  /* record invalid, or kept changing under the walk */
	uint64_t arenas_rewalked; /* changed under the walk, walked again */
	uint64_t nfree_mismatch;  /* arenas whose nfreepools disagrees with the walk */
	bool complete;
	char note[256];
};

/* Takes the census of process pid, whose interpreter `in` describes
 * (interp__find).  0 and *out filled (possibly incomplete: see complete and
 * note), or -errno with the reason in why:
 *   -ENOTSUP  a version or build whose arena table cannot be found
 *             (free-threaded, no symbol, no decodable accessor)
 *   -ESRCH    the process is gone; -EPERM/-EACCES no permission to read it
 *   -EIO      the table read back as nonsense every time */
int pymalloc_census__take(struct interp *in, pid_t pid, struct pymalloc_census *out,
			  char *why, size_t whylen);

/* The same walk for a table whose head the caller located: arenas_ptr is the
 * target address of the `struct arena_object *arenas` pointer, maxarenas of
 * its uint length, version_mm (308-313) sets arena and pool sizes.  For
 * tests (a synthetic table in a process of known layout) and for callers
 * that found the table another way.  Returns as pymalloc_census__take. */
int pymalloc_census__take_at(pid_t pid, int version_mm, uint64_t arenas_ptr,
			     uint64_t maxarenas, struct pymalloc_census *out,
			     char *why, size_t whylen);

/* A table like sys._debugmallocstats()'s, then the byte breakdown. */
void pymalloc_census__write_text(FILE *f, const struct pymalloc_census *c);

/* One JSON object, the value of the "pymalloc" key: size_classes[],
 * arena_bytes, used_bytes, ... (README "pymalloc census"). */
void pymalloc_census__write_json(struct jw *w, const struct pymalloc_census *c);

/* The share of arena bytes not in live blocks, 0..1 (0 without arenas). */
double pymalloc_census__fragmentation(const struct pymalloc_census *c);

/* Bytes in live blocks (c->used_bytes). */
uint64_t pymalloc_census__used_bytes(const struct pymalloc_census *c);

#endif
