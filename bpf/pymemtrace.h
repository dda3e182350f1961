/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Data structures shared between the BPF programs and the user-space loader.
 *
 * Contract:
 *  - Only __u8/__u16/__u32/__u64/__s64 and fixed arrays, so that both sides see
 *    the same layout.  Sizes are checked with _Static_assert below.
 *  - Hot events (GC, arenas, syscalls) are aggregated in the kernel, in the
 *    `procs` hash map (key: tgid, value: struct pmt_proc_stats).  User space
 *    inserts a zeroed entry for each traced process before attaching; BPF
 *    programs only ever update existing entries, so the map doubles as the
 *    "is this process traced?" filter.
 *  - Rare events (process exit, exec) go through the `events` ring buffer as
 *    struct pmt_event.  With --events, the GC, arena, mmap/munmap/mremap and
 *    brk events go there too, from the points that aggregate them (the
 *    aggregates stay); records that do not fit are counted by type in
 *    events_dropped[].
 */
#ifndef PYMEMTRACE_H
#define PYMEMTRACE_H

#ifndef __bpf__
#include <linux/types.h>  /* the BPF side gets these from vmlinux.h */
#endif

#define PMT_GENERATIONS   3
/* Event types are below this (enum pmt_event_type): per-type counters. */
#define PMT_EV_TYPES      16
/* log2 histogram of GC pause in nanoseconds: slot i counts pauses in
 * [2^i, 2^(i+1)) ns; slot 0 also holds 0 ns.  40 slots reach 2^40 ns (18 min). */
#define PMT_HIST_SLOTS    40

/* Where a GC-collection uprobe finds the generation.  Passed as the attach
 * cookie (bpf_get_attach_cookie) so one program serves every symbol shape:
 * `collect`/`gc_collect_main` take it as arg 1, but GCC's constprop clones in
 * 3.8 move it to arg 0 or fold it into a constant (see user/plan.c). */
enum pmt_gen_source {
	PMT_GEN_ARG0    = 0,
	PMT_GEN_ARG1    = 1,
	PMT_GEN_CONST2  = 2, /* generation was constant-propagated: always 2 */
};

/* The whole cookie of the GC-collection uprobe:
 *   bits 0..7    enum pmt_gen_source
 *   bit  8       PMT_GEN_AUTO: a negative generation means "the collector
 *                picks one" (3.13's _Py_RunGC passes -1), and the call may
 *                collect nothing.  The generation is then found afterwards:
 *                the one whose gcstate->generation_stats[g].collections grew.
 *   bit  13      PMT_GC_SERIAL (below)
 *   bits 16..31  offsetof(PyThreadState, interp)            (with PMT_GEN_AUTO)
 *   bits 32..55  offset of interp->gc.generation_stats      (with PMT_GEN_AUTO)
 * The thread state is the collection function's first argument. */
#define PMT_GEN_AUTO            (1ULL << 8)
/* In the cookies of both GC probes (collection function or USDT): the
 * process runs one collection at a time, and its probes fire under its one
 * GIL (interpreters before 3.12, whose subinterpreters share it).  Then no
 * two threads of the process are ever inside the GC handlers at once, so a
 * collection's start can wait in the process's own stats (gc_slot) instead
 * of the per-thread gc_pending hash: a hash update and delete per collection
 * were a third of the default mode's cost on a GC-heavy loop. */
#define PMT_GC_SERIAL           (1ULL << 13)
#define PMT_COOKIE_SRC(c)       ((c) & 0xff)
#define PMT_COOKIE_INTERP_OFF(c) (((c) >> 16) & 0xffff)
#define PMT_COOKIE_STATS_OFF(c) (((c) & PMT_COOKIE_PAYLOAD) >> 32)
#define PMT_GC_STATS_STRIDE     24 /* sizeof(struct gc_generation_stats), 3.8-3.13 */

/* Through uprobe_multi links, every probe of a process in one file and
 * direction shares one link and one program, uprobe_dispatch, which
 * tail-calls the handler that the top byte of the cookie names: removing a
 * link waits for the kernel's grace periods, once per link (user/attach.h).
 * The other 56 bits are the handler's own cookie (PMT_COOKIE_PAYLOAD), so
 * no handler cookie may use bits 56..63.  Perf-event uprobes call their
 * handler directly, with a top byte of 0. */
enum pmt_handler {
	PMT_H_NONE = 0,
	PMT_H_GC_ENTRY,
	PMT_H_GC_RETURN,
	PMT_H_ARENA_ALLOC,
	PMT_H_ARENA_ALLOC_RET,
	PMT_H_ARENA_FREE,
	PMT_H_ARENA_MMAP_CALL,
	PMT_H_ALLOC_ENTRY,
	PMT_H_ALLOC_RETURN,
	PMT_H_FREE,
	PMT_H_LTO,
	PMT_H_USDT_GC_START,
	PMT_H_USDT_GC_DONE,
	PMT_H_GROWTH_POOL,
	PMT_H_LTO_RET,            /* uprobe_lto at a uretprobe (PLAN_LTO_NEWPOOL) */
	PMT_H_TRAP_COST,          /* user/trap_cost.c: the tracer's own entry probe */
	PMT_H_TRAP_COST_RET,      /* and its return probe */
	PMT_H_NR,
};
#define PMT_HANDLER_SHIFT   56
#define PMT_COOKIE_PAYLOAD  ((1ULL << PMT_HANDLER_SHIFT) - 1)

/* The cookie of a USDT probe attached through a uprobe_multi link: where
 * its one argument is (user/usdt_args.c decodes the note's spec).
 *   bits 0..1    PMT_USDT_REG, PMT_USDT_DEREF or PMT_USDT_CONST
 *   bits 4..7    register, x86 encoding (rax 0, rcx 1, ... r15 15)
 *   bits 8..11   size in bytes: 1, 2, 4 or 8
 *   bit  12      PMT_USDT_SIGNED: sign-extend from size
 *   bit  13      PMT_GC_SERIAL (above), on the gc__start and gc__done probes
 *   bits 32..55  displacement (DEREF) or value (CONST), signed 24 bits */
#define PMT_USDT_REG     0ULL
#define PMT_USDT_DEREF   1ULL
#define PMT_USDT_CONST   2ULL
#define PMT_USDT_SIGNED  (1ULL << 12)

struct pmt_gc_gen_stats {
	__u64 collections;
	__u64 pause_total_ns;
	__u64 pause_max_ns;
	__u64 collected;          /* objects collected + uncollectable, as CPython's gc__done */
	__u64 hist[PMT_HIST_SLOTS];
};

struct pmt_sys_stats {
	__u64 calls;              /* successful calls only */
	__s64 bytes;              /* see each field's comment in pmt_proc_stats */
};

/* A collection's start, while it runs, for a PMT_GC_SERIAL process. */
struct pmt_gc_slot {
	__u32 tid;                /* the collecting thread; 0: no collection pending */
	__u32 generation;
	__u64 start_ns;
	__u32 gc_window;          /* gc_window (pymemtrace.bpf.c) when it started */
	__u32 _pad;
};

struct pmt_proc_stats {
	struct pmt_gc_gen_stats gc[PMT_GENERATIONS];
	struct pmt_gc_slot gc_slot; /* BPF's own state, not a counter */
	__u64 gc_bad_generation;  /* generation outside 0..2: probe misconfigured */
	__u64 gc_unmatched_done;  /* gc end seen without its start (attached mid-collection) */
	__u64 gc_window_cuts;     /* --gc-budget: a collection cut by a window's edge (its
	                           * start or end fell while the GC probes were disarmed) */

	__u64 arena_allocs;
	__u64 arena_alloc_bytes;
	__u64 arena_alloc_failed; /* the arena allocator returned NULL */
	__u64 arena_frees;
	__u64 arena_free_bytes;

	struct pmt_sys_stats mmap_anon;   /* bytes: length mapped */
	struct pmt_sys_stats mmap_file;   /* bytes: length mapped */
	struct pmt_sys_stats munmap;      /* bytes: length unmapped */
	struct pmt_sys_stats mremap;      /* bytes: new_len - old_len, summed (signed) */
	struct pmt_sys_stats brk;         /* bytes: change of the program break (signed) */
	__u64 syscalls_failed;            /* any of the above that returned an error */

	/* --alloc (all zero otherwise).  Raw counts: with sampling, only
	 * sampled allocations are counted here and user space scales them. */
	__u64 alloc_count;        /* allocations seen (sampled ones when sampling) */
	__u64 alloc_bytes;
	__u64 free_count;         /* frees of tracked (live) allocations */
	__u64 free_bytes;
	__s64 live_bytes;         /* running total of tracked live bytes */
	__s64 peak_live_bytes;    /* its high-water mark */
	__s64 pm_live_bytes;      /* the part of live_bytes in pymalloc's pools (<= 512 bytes) */
	__u64 alloc_failed;       /* the allocator returned NULL */
	__u64 live_map_full;      /* allocation not tracked as live: --max-live */
	__u64 stack_map_full;     /* stack not recorded: --max-stacks (a native stack: also
	                           * its stack map's slot taken by another) */
	__u64 pystack_truncated;  /* Python stack deeper than PMT_MAX_PYFRAMES */
	__u64 pystack_errors;     /* Python stack could not be read (partly or at all) */
	__u64 native_stack_errors;/* bpf_get_stackid failed (other than a full or taken slot) */

	__u64 pending_full;       /* a per-thread pending map was full: an event was lost */
	__u64 ringbuf_drops;      /* an exit or exec event could not be reserved in the ring */
	__u64 growth_no_stack;    /* --heap-growth: growth events whose stack was not taken */
	__u32 exec_seen;          /* the process exec'd: its later events are not counted */
	__u32 _pad;

	/* --events (all zero otherwise) */
	__u64 events_sent;        /* records submitted to the ring, every type */
	/* By enum pmt_event_type: no room in the ring; for PMT_EV_ARENA_FREE
	 * also a free whose munmap was not seen (its address is unknown). */
	__u64 events_dropped[PMT_EV_TYPES];

	/* Fork following: children of this process that could not be traced
	 * because `procs` was full (--max-procs). */
	__u64 forks_untracked;

	/* --alloc on LTO builds: blocks seen at an inlined allocation site
	 * whose size could not be read from the target (its pool header, or
	 * the probe's registers): not counted. */
	__u64 alloc_unreadable;
};

enum pmt_event_type {
	PMT_EV_EXIT = 1,          /* the whole thread group exited (always sent) */
	PMT_EV_EXEC = 2,          /* the process called execve (always sent) */
	/* Only with --events: */
	PMT_EV_GC = 3,            /* a collection ended */
	PMT_EV_ARENA_ALLOC = 4,   /* pymalloc got an arena */
	PMT_EV_ARENA_FREE = 5,    /* pymalloc gave an arena back (seen at its munmap) */
	PMT_EV_MMAP = 6,
	PMT_EV_MUNMAP = 7,
	PMT_EV_MREMAP = 8,
	PMT_EV_BRK = 9,
	/* Sent when fork following is on (always, like exit and exec): */
	PMT_EV_FORK = 10,         /* a traced process forked: pid is the child */
	/* Sent with --all (always): */
	PMT_EV_NEW = 11,          /* a process of the --all file was seen first (a probe hit) */
	/* Sent when stacks are walked (--alloc, --heap-growth); never written
	 * to --events: */
	PMT_EV_PYSTACK = 12,      /* a Python stack was stored for the first time */
};

/* One record of the `events` ring buffer.  ts_ns is bpf_ktime_get_ns()
 * (CLOCK_MONOTONIC), taken after the record was reserved.  Every byte is
 * written (padding zeroed). */
struct pmt_event {
	__u32 type;               /* enum pmt_event_type */
	__u32 pid;                /* tgid */
	__u32 tid;
	__u32 _pad;
	__u64 ts_ns;
	union {
		struct {                  /* PMT_EV_EXIT */
			__s32 exit_code;  /* task->exit_code (a wait status) */
			__u32 _pad;
			__u64 min_flt;    /* the group's minor faults so far */
			__u64 maj_flt;    /* the group's major faults so far */
			__u64 cpu_ns;     /* the group's CPU time (scheduler runtime) */
		} exit;
		struct {                  /* PMT_EV_EXEC */
			char comm[16];    /* the new comm, not always NUL-terminated */
		} exec;
		struct {                  /* PMT_EV_FORK */
			__u32 parent_pid; /* the traced tgid that forked */
			__u32 _pad;
		} fork;
		struct {                  /* PMT_EV_PYSTACK */
			__u64 hash;       /* its key in `pystacks`, with pid */
		} pystack;
		struct {                  /* PMT_EV_GC */
			__u32 generation; /* 0..2 */
			__u32 _pad;
			__u64 pause_ns;
			__s64 collected;  /* collected + uncollectable, as gc__done */
		} gc;
		struct {                  /* PMT_EV_ARENA_ALLOC, PMT_EV_ARENA_FREE */
			__u64 addr;
			__u64 bytes;
		} arena;
		/* PMT_EV_MMAP: addr = the mapping (0 if failed), len, anon.
		 * PMT_EV_MUNMAP: addr, len.
		 * PMT_EV_MREMAP: addr, len = old; new_addr, new_len.
		 * PMT_EV_BRK: addr = old break, new_addr = new break.
		 * Lengths are the arguments as passed (not rounded to pages). */
		struct {
			__u64 addr;
			__u64 len;
			__u64 new_addr;
			__u64 new_len;
			__s32 result;     /* 0, or -errno */
			__u32 anon;       /* PMT_EV_MMAP: MAP_ANONYMOUS was set */
		} mem;
	};
};

/* Allocation probes: the attach cookie says which function was probed. */
enum pmt_alloc_kind {
	PMT_ALLOC_MALLOC  = 1,    /* void *f(void *ctx, size_t size) (pymalloc) */
	PMT_ALLOC_CALLOC  = 2,    /* void *f(void *ctx, size_t nelem, size_t elsize) */
	PMT_ALLOC_REALLOC = 3,    /* void *f(void *ctx, void *ptr, size_t size) */
	PMT_ALLOC_FREE    = 4,    /* void f(void *ctx, void *ptr) */
	PMT_ALLOC_MEMALIGN = 5,   /* void *f(size_t align, size_t size): memalign,
	                           * aligned_alloc (libc only) */
	PMT_ALLOC_POSIX_MEMALIGN = 6, /* int f(void **out, size_t align, size_t size):
	                               * the block is written to *out (libc only) */
	PMT_ALLOC_RAW     = 0x10, /* flag: libc malloc family, no ctx argument */
};

/* The key of an allocation stack: a Python stack (by the hash under which
 * its frames are stored in `pystacks`, 0 when there was none) and a native
 * stack id from the `native_stacks` stack-trace map (negative: none). */
struct pmt_stack_key {
	__u64 pyhash;
	__s32 native_id;          /* native_stacks id (--native-depth > 1), else -1 */
	__u32 pid;                /* tgid: stacks of different processes never merge */
	__u64 caller;             /* with native_id -1: the allocator's caller (the
	                           * return address, or the inlined site) */
};

/* Key of the `pystacks` map: a Python stack's frames, by hash and process. */
struct pmt_pystack_key {
	__u64 hash;
	__u32 pid;
	__u32 _pad;
};

/* --heap-growth: what made the heap grow. */
enum pmt_growth_kind {
	PMT_GROWTH_POOL = 0,      /* pymalloc gave a size class a new pool */
	PMT_GROWTH_ARENA,         /* pymalloc mapped a new arena */
	PMT_GROWTH_MMAP,          /* any other anonymous mmap, or mremap growth */
	PMT_GROWTH_BRK,           /* the program break moved up (C malloc's heap) */
	PMT_GROWTH_KINDS,
};

struct pmt_growth_key {
	struct pmt_stack_key stack;
	__u32 kind;               /* enum pmt_growth_kind */
	__u32 _pad;
};

struct pmt_growth_stats {
	__u64 events, bytes;
};

struct pmt_stack_stats {
	__u64 alloc_count, alloc_bytes;
	__u64 free_count, free_bytes;
};

/* Key of the `live` map.  The process is part of it: forked workers start
 * from one copy of the heap, so their blocks sit at the same addresses, and
 * one worker's free must never meet another's allocation. */
struct pmt_live_key {
	__u32 pid;                /* tgid */
	__u32 _pad;
	__u64 addr;
};

/* A live allocation, by process and address.  size carries PMT_LIVE_RAW in its top bit
 * for blocks from libc (raw domain, native code) rather than pymalloc. */
struct pmt_live {
	__u64 size;
	struct pmt_stack_key key;
};
#define PMT_LIVE_RAW (1ULL << 63)
/* pymalloc serves requests up to this size from its pools (SMALL_REQUEST_THRESHOLD, 3.8-3.13). */
#define PMT_SMALL_REQUEST_MAX 512

#define PMT_MAX_NATIVE_FRAMES 32

/* Probes inside allocator code that LTO inlined into its callers
 * (user/lto_sites.h says what each role means).  Cookie:
 *   bits 0..3   enum pmt_lto_role
 *   bits 4..7   GPR index (x86 encoding: 0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp,
 *               5 rbp, 6 rsi, 7 rdi, 8..15 r8..r15) of the block or pointer
 *   bits 8..12  GPR index + 1 of the hook value to check (0: none)
 *   bits 13..20 constant size class + 1 (0: read it from the pool header)
 *   bits 21..25 BLOCK: GPR index + 1 of the requested size (0: none, count
 *               the block's size class); user/pymalloc_site.h's sites */
enum pmt_lto_role {
	PMT_LTO_BLOCK = 1,        /* a block was just taken from a pool */
	PMT_LTO_NEWPOOL_RET = 5,  /* allocate_from_new_pool() returned (uretprobe) */
	PMT_LTO_FREE_CHECK = 4,   /* a free, if the hook is still pymalloc's */
};
#define PMT_LTO_COOKIE(role, reg, reg2p1, sc1) \
	((__u64)(role) | ((__u64)(reg) << 4) | ((__u64)(reg2p1) << 8) | ((__u64)(sc1) << 13))
#define PMT_LTO_SIZE_REG(reg) (((__u64)(reg) + 1) << 21)

/* Per process, under --gc-budget: the interpreter's GC counters read at its
 * end (exit, or execve), so that collections after the tracer's last
 * periodic read (up to 100 ms of them) are counted too.  User space fills
 * the addresses when it finds the counters; the hooks read the target's
 * memory, which at an exit they can only where the kernel fires
 * sched_process_exit before the address space is released (6.18 does);
 * elsewhere `read` stays 0 and the report says how old the last read was. */
#define PMT_GC_EXIT_STATS 1u      /* raw holds generation_stats */
#define PMT_GC_EXIT_HEAD  2u      /* head holds _PyRuntime.interpreters.head */
struct pmt_gc_exit_read {
	__u64 stats_addr;         /* &generation_stats[0] of the main interpreter */
	__u64 head_addr;          /* &_PyRuntime.interpreters.head; 0 on 3.8 */
	__s64 raw[9];             /* generation_stats[3]: 3 Py_ssize_t each */
	__u64 head;
	__u32 read;               /* PMT_GC_EXIT_*: what the read at the end got */
	__u32 _pad;
};

/* Per process, for the LTO probes. */
struct pmt_lto_cfg {
	__u64 pool_mask;          /* ~(pool size - 1) */
	__u64 hook_free;          /* runtime address of _PyObject_Free */
};
#define PMT_POOL_SZIDX_OFF 0x24   /* struct pool_header.szidx, 3.8-3.13, 64-bit */

#ifndef __bpf__
_Static_assert(sizeof(struct pmt_gc_gen_stats) == 8 * (4 + PMT_HIST_SLOTS), "gc stats layout");
_Static_assert(sizeof(struct pmt_event) == 64, "event layout");
_Static_assert(PMT_EV_BRK < PMT_EV_TYPES, "event types fit events_dropped[]");
#endif

#endif /* PYMEMTRACE_H */
