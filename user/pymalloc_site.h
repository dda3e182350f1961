/* One trap per pymalloc allocation in a non-inlined _PyObject_Malloc
 * (shared-libpython builds such as pyenv's, PIC, 3.8-3.13, x86-64).
 *
 * An entry uprobe plus a uretprobe on _PyObject_Malloc costs two traps per
 * allocation, and the uretprobe is the dearer one (DESIGN-NOTES section 2).
 * Inside the function there are places where one emulated jcc sees both the
 * new block and the requested size in registers:
 *
 *   PMS_FAST:   after the pool pop of the inlined fast path
 *                   mov  POOL, [BASE + IDX*8 (+disp)]   # usedpools[2*class]
 *                   mov  BLOCK, [POOL + 8]              # pool->freeblock
 *                   mov  NEXT, [BLOCK]
 *                   ...
 *                   test NEXT, NEXT
 *                   jcc                                 # <- probe: BLOCK, size
 *               Both ways of this jcc return BLOCK.
 *   PMS_RESULT: after a call to a function that returns a pool block or NULL
 *               (allocate_from_new_pool, 3.8's pymalloc_alloc.constprop):
 *                   call F ; test R, R ; jcc            # <- probe: R, size
 *               R == NULL means no block: the caller goes on to the raw
 *               allocator, which the C library's probes see.
 *
 * The requested size is followed from %rsi (_PyObject_Malloc(ctx, nbytes))
 * through register copies; calls clobber the caller-saved registers.
 *
 * The finder proves each site by exploring every path through the function
 * (bounded; running out of budget refuses everything):
 *   - every path that reaches a probe address recognises it there, with the
 *     same registers (no other route, with other values, falls into it);
 *   - no path passes two counting probes (nothing counted twice);
 *   - every path that took the small-request side of the size check, and
 *     did not call the raw allocator, passes a probe before it returns
 *     (nothing missed);
 *   - every probe instruction is one the kernel emulates;
 *   - a linear sweep of the whole function finds no direct branch that lands
 *     inside a probe instruction, none that lands on it from code that no
 *     explored path runs, and no indirect jump (which could).
 * The caller must refuse functions that GCC split (a `.cold` part jumps back
 * in from outside: those paths are not explored).
 * Anything else is refused with the reason, and the caller keeps the entry
 * and return probes.
 */
#ifndef PMT_PYMALLOC_SITE_H
#define PMT_PYMALLOC_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMS_MAX_PROBES 4
#define PMS_MAX_BLOCK_FNS 4

enum pms_role {
	PMS_FAST = 1,
	PMS_RESULT,
};

struct pms_probe {
	enum pms_role role;
	uint64_t vaddr;           /* ELF vaddr of the jcc */
	int reg;                  /* GPR (x86 encoding) of the block, NULL for none */
	int pool_reg;             /* PMS_FAST: the pool's GPR, else -1 */
	int size_reg;             /* GPR holding the requested size */
	char insn[64];            /* the jcc's text */
};

struct pms_sites {
	unsigned n;
	struct pms_probe probe[PMS_MAX_PROBES];
	unsigned paths;           /* paths explored to prove them */
};

/* code/len: the whole function (its .symtab size), entry at vaddr.
 * block_fns: entry vaddrs of the functions whose result is a pool block or
 * NULL (allocate_from_new_pool, pymalloc_alloc*); raw_fns: the ones that go
 * to the raw allocator (PyMem_RawMalloc's PLT entry...), whose paths need no
 * probe.  0 and *out with at least one probe; -ENOENT with the reason in why
 * when the code has another shape or a proof fails; -EINVAL on bad input
 * (len over 4096 bytes included). */
int pms_find(const uint8_t *code, size_t len, uint64_t vaddr,
	     const uint64_t *block_fns, unsigned n_block_fns,
	     const uint64_t *raw_fns, unsigned n_raw_fns,
	     struct pms_sites *out, char *why, size_t whylen);

const char *pms_role_name(enum pms_role r);   /* "fast", "result" */

#endif
