/* Where to probe the allocations that LTO inlined (Debian's python3.11 and
 * other stripped LTO builds, x86-64).
 *
 * In such a build, speculative devirtualisation turned most calls through the
 * allocator hooks (_PyObject.malloc, _PyMem.free, ...) into
 *     mov   HOOK_SLOT,%rax
 *     cmp   $_PyObject_Malloc,%rax     # is the hook still pymalloc?
 *     jne   call_the_hook              # (or je fast_path)
 *     ...   inlined pymalloc fast path
 * so uprobes on PyObject_Malloc or _PyObject_Malloc see a small share of the
 * allocations (DESIGN-NOTES section 4).  lto_sites__scan finds every such
 * site in the interpreter's file and, for each, instructions inside the
 * inlined code where a uprobe sees the block or the pointer in a register.
 * The instructions chosen are jcc's, which the kernel emulates (~0.5 us a
 * hit, not ~12 us for a single-stepped one: DESIGN-NOTES section 2).
 *
 * What the BPF programs must do, per probe role (registers are given as GPR
 * indexes, see lto_pt_regs_off for struct pt_regs offsets on x86-64):
 *
 *   LTO_PROBE_BLOCK (malloc and calloc sites, and inside the hook functions
 *     _PyObject_Malloc/_PyObject_Calloc themselves): a block was just popped
 *     from a used pool's free list; it is allocated, whichever way the jcc
 *     goes.  block = regs[reg].  The size class is the pool's: read the u32
 *     szidx at (block & ~(pool_size - 1)) + LTO_POOL_SZIDX_OFF, size =
 *     (szidx + 1) * 16 (LTO_ALIGNMENT) bytes; regs[reg2] is that pool too.
 *     When site.size_class >= 0 the class is a constant of the site.  The
 *     requested size is not kept by the inlined code; the block size is what
 *     the allocation costs.  Count one allocation of that block.
 *
 *   LTO_PROBE_NEWPOOL_RET (one per file, on sites->new_pool_fn, a uretprobe):
 *     allocate_from_new_pool() returned block regs[rax] (NULL: failed, the
 *     caller falls back to the raw allocator).  Covers every allocation that
 *     found no used pool, from inlined sites and from _PyObject_Malloc alike.
 *     Size class as for BLOCK (its arg0 %edi is the class, too).
 *
 *   LTO_PROBE_LARGE_CALL / LTO_PROBE_LARGE_RET (malloc/calloc sites with a
 *     variable size): requests over 512 bytes go to the raw allocator by a
 *     direct `call malloc@plt` (calloc@plt).  At LARGE_CALL stash regs[reg]
 *     (the size, %rdi) per thread; at LARGE_RET (the jcc testing the result)
 *     regs[reg] is the block: pair it with the stash, then clear the stash.
 *     A LARGE_RET with nothing stashed is a bug; count it.
 *
 *   LTO_PROBE_FREE_CHECK (free sites, and in _PyObject_Free): the jcc that
 *     follows `cmp $_PyObject_Free,%reg2`; regs[reg] is the pointer being
 *     freed, NULL included (ignore NULL).  Both ways of the jcc pass here, so
 *     first check the hook: when reg2 >= 0 and regs[reg2] != site.expect (or,
 *     reg2 < 0, the u64 at site.hook_slot != site.expect), a hook such as
 *     tracemalloc is installed and the call goes to it: do not count here (the
 *     hook's own call into _PyObject_Free is counted at that function's
 *     probe).  Otherwise count a free of regs[reg]: a pymalloc block or a
 *     large raw block, both are released through this path.
 *
 * Realloc sites are found and counted but get no probe: their inlined code
 * keeps a block that still fits, and otherwise makes direct calls to
 * _PyObject_Malloc and _PyObject_Free (seen by those functions' probes).  A
 * raw (over 512 bytes) block that libc's realloc moves is not seen.
 *
 * Hook checks that are not allocations (e.g. _PyObject_DebugMallocStats
 * asking whether pymalloc is in use) come out as sites that are not handled,
 * with the reason.
 */
#ifndef PMT_LTO_SITES_H
#define PMT_LTO_SITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "interp.h"

#define LTO_POOL_SZIDX_OFF 0x24   /* struct pool_header.szidx, 3.8-3.13, 64-bit */
#define LTO_ALIGNMENT 16          /* pymalloc ALIGNMENT on 64-bit */
#define LTO_MAX_PROBES 4

enum lto_kind {
	LTO_MALLOC = 0,
	LTO_CALLOC,
	LTO_REALLOC,
	LTO_FREE,
	LTO_NKINDS,
};

enum lto_domain {
	LTO_DOM_UNKNOWN = 0,      /* the hook slot could not be decoded */
	LTO_DOM_OBJ,              /* _PyObject (PyObject_Malloc ...) */
	LTO_DOM_MEM,              /* _PyMem (PyMem_Malloc ...): the same functions in release builds */
	LTO_DOM_FUNC,             /* not a site: the hook function itself, probed inside */
};

enum lto_role {
	LTO_PROBE_BLOCK = 1,
	LTO_PROBE_LARGE_CALL,
	LTO_PROBE_LARGE_RET,
	LTO_PROBE_FREE_CHECK,
	LTO_PROBE_NEWPOOL_RET,
};

struct lto_probe {
	enum lto_role role;
	uint64_t vaddr;           /* ELF vaddr of the probed instruction */
	bool emulated;            /* the kernel emulates it (cheap probe) */
	char insn[64];            /* its text, Intel syntax */
	int reg;                  /* GPR index of the value, see the roles above */
	int reg2;                 /* BLOCK: the pool; FREE_CHECK: the hook; else -1 */
};

struct lto_site {
	uint64_t cmp_vaddr;       /* the `cmp $hook_fn` (the function's entry for DOM_FUNC) */
	enum lto_kind kind;
	enum lto_domain domain;
	uint64_t hook_slot;       /* the hook pointer compared, 0 when unknown */
	uint64_t expect;          /* the hook function the inlined code stands in for */
	uint64_t fast_vaddr;      /* first instruction of the inlined fast path */
	int size_class;           /* pymalloc size class when constant, else -1 */
	int size_reg;             /* GPR with the requested size at the hook check
	                           * (the jcc after the cmp), -1 if not found */
	bool handled;             /* the probes see every call through this site */
	unsigned n_probes;
	struct lto_probe probe[LTO_MAX_PROBES];
	char reason[160];         /* why not handled, or a note */
};

struct lto_sites {
	/* what the scan learned from the file */
	uint64_t obj_struct, mem_struct, raw_struct; /* PyMemAllocatorEx of each domain */
	uint64_t hook_fn[LTO_NKINDS];                /* _PyObject_Malloc ... _PyObject_Free */
	uint64_t raw_malloc_fn;                      /* _PyMem_RawMalloc */
	uint64_t libc_malloc, libc_calloc;           /* the PLT entries it reaches */
	uint64_t usedpools;                          /* pymalloc's usedpools[] */
	uint64_t new_pool_fn;                        /* allocate_from_new_pool, 0 if not found */
	uint64_t pool_size;                          /* from the free path's mask */
	struct lto_probe new_pool_probe;             /* role NEWPOOL_RET on new_pool_fn */

	struct lto_site *site;
	size_t n_sites;
	struct {
		unsigned found, handled;
	} total[LTO_NKINDS];
	unsigned raw_sites;       /* cmp $_PyMem_RawMalloc/$_PyMem_RawFree: libc, not probed */
	unsigned probes, emulated_probes;
};

/* Scans the interpreter's executable segments.  Needs PyObject_Malloc,
 * PyObject_Free, PyMem_Malloc and PyMem_RawMalloc in .dynsym or .symtab and
 * non-PIE code (the hook functions are compared as 32-bit immediates; the
 * position-independent form `lea fn(%rip),%r; cmp %r,%rax` is not matched).
 * 0 and *out (free with lto_sites__free), also when the build has no inlined
 * sites (n_sites counts only the hook functions then); -ENOENT with a reason
 * in err when the allocator wrappers cannot be decoded; -ENOMEM; -EIO for an
 * unreadable file image. */
int lto_sites__scan(struct interp *in, struct lto_sites **out, char *err, size_t errlen);
void lto_sites__free(struct lto_sites *ls);             /* NULL is a no-op */

const char *lto_kind_name(enum lto_kind k);             /* "malloc", ... */
const char *lto_domain_name(enum lto_domain d);         /* "obj", "mem", "func", "?" */
const char *lto_role_name(enum lto_role r);             /* "block", ... */
/* Byte offset in x86-64 struct pt_regs of GPR index gpr (0 rax .. 15 r15),
 * or -1. */
int lto_pt_regs_off(int gpr);

#endif
