/* The probe plan for one process: which CPython functions and USDT probes
 * pymemtrace attaches to, found in the process's own interpreter, with the
 * reason for every choice.  Building a plan attaches nothing (--dry-run
 * prints it and stops).
 *
 * GC pauses, in order of preference:
 *   1. USDT python:gc__start / gc__done (distro builds --with-dtrace);
 *   2. uprobe + uretprobe on the collection function from .symtab:
 *      `collect` (3.8, 3.9; GCC may clone it as collect.constprop.N),
 *      `gc_collect_main` (3.10-3.13);
 *   3. unavailable, with the reason.
 * Arenas: the functions the arena allocator really calls (interp.h).
 * Allocations (--alloc): pymalloc's _PyObject_Malloc/Calloc/Realloc/Free
 * (from .symtab, or from the allocator struct the exported PyObject_Malloc
 * loads, read from the target) and libc's malloc/calloc/realloc/free for the
 * raw domain and native code, plus those of the library the interpreter's
 * malloc is bound to when that is not libc (jemalloc, tcmalloc, ...
 * preloaded), each at the cheapest safe instruction (probe_site.h).
 */
#ifndef PMT_PLAN_H
#define PMT_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "interp.h"

enum plan_prog {
	PLAN_USDT_GC_START,
	PLAN_USDT_GC_DONE,
	PLAN_GC_ENTRY,        /* uprobe, cookie = enum pmt_gen_source */
	PLAN_GC_RETURN,       /* uretprobe */
	PLAN_ARENA_ALLOC,     /* uprobe */
	PLAN_ARENA_ALLOC_RET, /* uretprobe */
	PLAN_ARENA_FREE,      /* uprobe */
	PLAN_ARENA_MMAP_CALL, /* uprobe on the arena allocator's own call to mmap */
	PLAN_ALLOC_ENTRY,     /* uprobe, cookie = enum pmt_alloc_kind */
	PLAN_ALLOC_RETURN,    /* uretprobe, same cookie */
	PLAN_FREE,            /* uprobe, cookie = PMT_ALLOC_FREE [| PMT_ALLOC_RAW] */
	PLAN_LTO_SITES,       /* uprobe_multi: the inlined allocator sites (plan->lto) */
	PLAN_LTO_NEWPOOL,     /* uretprobe on allocate_from_new_pool (plan->lto) */
	PLAN_GROWTH_POOL,     /* uprobe on allocate_from_new_pool, cookie = pool size */
};

#define PLAN_MAX_PROBES 64

/* A test and debug knob: "1" leaves the GC's USDT argument specs undecoded,
 * so that libbpf's own USDT support attaches them (its reader, not ours;
 * their hits are then past the dispatcher that counts them). */
#define PLAN_ENV_LIBBPF_USDT "PYMEMTRACE_LIBBPF_USDT"

struct plan_opts {
	bool alloc;           /* plan the allocation probes too (--alloc) */
	bool heap_growth;     /* and the pool-refill probe (--heap-growth) */
	bool growth_arenas;   /* ... planned unavailable: --heap-growth counts arenas (not =pools) */
	/* uprobe_multi links can be used (uprobe_multi.h); without them the
	 * hundreds of LTO site probes are not planned (unavailable, with
	 * no_multi_why), and pymalloc's entry probes are used instead. */
	bool uprobe_multi;
	const char *no_multi_why;
};

struct plan_probe {
	enum plan_prog prog;
	const char *name;       /* report name: "gc_start", "arena_alloc", ... */
	char target[160];       /* symbol name, or "python:gc__start" */
	uint64_t vaddr;         /* ELF vaddr of the probed instruction */
	uint64_t file_offset;   /* what the uprobe is attached at */
	uint64_t cookie;        /* USDT: the decoded argument (PMT_USDT_*), if usdt_decoded */
	uint64_t ref_ctr_offset;/* USDT: file offset of its semaphore, 0 if none */
	bool usdt_decoded;      /* USDT: its argument spec is read by usdt_args.h, so it can
	                         * go through uprobe_multi (else libbpf's perf-event USDT) */
	const char *path;       /* the file to attach to (the interpreter's or libc's open path) */
	bool available;
	char how[192];          /* "uprobe collect.constprop.1+0 @0x1d43d0 (generation: arg0)" */
	char reason[256];       /* why this choice, or why unavailable */
};

/* The probes inside allocator code that LTO inlined (user/lto_sites.h). */
struct plan_lto {
	uint64_t *offsets, *cookies;  /* file offsets and cookies of the site probes */
	size_t n;
	uint64_t hook_free;           /* ELF vaddr of _PyObject_Free */
	uint64_t pool_size;
	unsigned sites_found, sites_handled; /* malloc + calloc + realloc + free */
};

struct plan {
	struct interp interp;
	struct plan_lto lto;        /* n == 0: not an LTO build, or not planned */
	char libc_path[PATH_MAX];   /* /proc/PID/root/... of the process's libc, if planned */
	char bound_path[PATH_MAX];  /* ... of the library malloc is bound to, if not libc */
	struct plan_probe probes[PLAN_MAX_PROBES];
	unsigned n_probes;
};

/* Finds the interpreter of pid and decides the probes.  Returns 0, or the
 * -errno of interp__find() with its reason in err. */
int plan__build(pid_t pid, const struct plan_opts *opts, struct plan *p, char *err,
		size_t errlen);
/* --all: the probes of an interpreter file (interp__find_file), to attach
 * for every process that maps it: interp.pid is -1.  What needs a running
 * process (arena functions of a stripped build, read from its memory) is
 * planned unavailable, with the reason. */
int plan__build_file(const char *path, const struct plan_opts *opts, struct plan *p,
		     char *err, size_t errlen);
void plan__release(struct plan *p);
/* Moves a plan to dst (uninitialised), src left empty.  A plan's probes
 * point into the plan itself (their paths): a copy would keep pointing at
 * src. */
void plan__move(struct plan *dst, struct plan *src);
/* Prints the plan as --dry-run and -v show it. */
void plan__print(FILE *f, const struct plan *p);

#endif
