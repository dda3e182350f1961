// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * pymemtrace BPF programs: GC pauses, pymalloc arenas, mmap/munmap/mremap/brk
 * and process exit/exec for the processes listed in the `procs` map.
 *
 * Everything hot is aggregated here, in struct pmt_proc_stats; only process
 * exit and exec (rare) are streamed through the ring buffer, and with
 * --events the GC, arena and mmap/brk events as well.  See
 * bpf/pymemtrace.h for the shared layouts.
 *
 * Uprobes are attached per pid by user space, so they only fire in traced
 * processes.  The syscall and sched hooks are system-wide tracepoints, so they
 * test the syscall number first and the `procs` map second, to cost other
 * processes as little as possible.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "pymemtrace.h"
#include "pystack.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#define NR_mmap    9
#define NR_munmap  11
#define NR_brk     12
#define NR_mremap  25
#define NR_execve  59
#define NR_execveat 322
#define MAP_ANONYMOUS_FLAG 0x20
#define PAGE_SZ 4096ULL

/* Sizes are set by user space before load (--max-procs, --max-threads, --ringbuf-kb). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);                     /* tgid */
	__type(value, struct pmt_proc_stats);
} procs SEC(".maps");

#define GEN_PENDING_AUTO 0xff

struct gc_pending {
	__u64 start_ns;
	__u32 generation;             /* GEN_PENDING_AUTO: found at the end */
	__u32 gc_window;              /* gc_window when it started */
	__u64 stats_addr;             /* with AUTO: &generation_stats[0] */
	__u64 before[PMT_GENERATIONS];/* with AUTO: collections counters at entry */
};

/* A collection's start, by thread, until its end is seen. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);                     /* tid */
	__type(value, struct gc_pending);
} gc_pending SEC(".maps");

/* An arena allocation's requested size, by thread, until it returns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} arena_pending SEC(".maps");

struct sys_pending {
	__u64 nr;
	__u64 len;                              /* mmap/munmap len, mremap old_len, brk: old break */
	__u64 new_len;                          /* mremap */
	__u64 flags;                            /* mmap flags */
	__u64 addr;                             /* --events: munmap/mremap address */
	struct pmt_stack_key stack;             /* --heap-growth: who made the call */
	__u32 has_stack;
	__u32 _pad;
};

/* A syscall's arguments, by thread, until it returns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct sys_pending);
} sys_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Drops that cannot be charged to a process (no entry for it). */
__u64 global_ringbuf_drops = 0;

/* The value a new `procs` entry starts from (raw_process_fork): the struct
 * is too big for the BPF stack.  Never written. */
const struct pmt_proc_stats zero_proc_stats = {};

static __always_inline __u32 current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* A handler's own cookie: without the dispatch byte (pymemtrace.h). */
static __always_inline __u64 handler_cookie(void *ctx)
{
	return bpf_get_attach_cookie(ctx) & PMT_COOKIE_PAYLOAD;
}

/* Set by user space when detaching starts: the trace has ended.  Probes go
 * away one after another (a perf uprobe takes 100-300 ms), so without it a
 * collection could end after its start probe was gone: a "GC end without a
 * start" that only the detaching made. */
volatile bool trace_ended = false;

static __always_inline struct pmt_proc_stats *traced_proc(__u32 tgid)
{
	struct pmt_proc_stats *st;

	if (trace_ended)
		return NULL;
	st = bpf_map_lookup_elem(&procs, &tgid);

	if (st && st->exec_seen)
		return NULL; /* a new program image: not what the user asked to trace */
	return st;
}

/* --all PATH: the interpreter's probes are attached for every process
 * (pid -1), and a probe hit from a process not in `procs` yet enters it
 * there (probed_proc).  Fixed at load: false prunes that path. */
const volatile bool all_mode = false;
/* --all: processes not entered because `procs` was full (--max-procs). */
__u64 all_untracked = 0;

static __always_inline void emit(struct pmt_proc_stats *st, struct pmt_event *src);

/* traced_proc() for the uprobe handlers that may see a process first (GC
 * start, arena entry).  With --all, an unknown tgid is entered with zeroed
 * counters and announced to user space (PMT_EV_NEW), then counted at once.
 * Only uprobe handlers call this: the probes are on the --all file, so only
 * its processes reach here (the syscall hooks see every process). */
static __always_inline struct pmt_proc_stats *probed_proc(__u32 tgid)
{
	struct pmt_proc_stats *st = traced_proc(tgid);
	struct pmt_event ev;

	if (st || !all_mode)
		return st;
	if (bpf_map_lookup_elem(&procs, &tgid))
		return NULL; /* known, but exec'd */
	if (bpf_map_update_elem(&procs, &tgid, &zero_proc_stats, BPF_NOEXIST)) {
		/* Another thread of the process may have entered it first. */
		st = bpf_map_lookup_elem(&procs, &tgid);
		if (!st)
			__sync_fetch_and_add(&all_untracked, 1);
		return st;
	}
	st = bpf_map_lookup_elem(&procs, &tgid);
	if (!st)
		return NULL;
	__builtin_memset(&ev, 0, sizeof(ev));
	ev.type = PMT_EV_NEW;
	ev.pid = tgid;
	ev.tid = current_tid();
	ev.ts_ns = bpf_ktime_get_ns();
	emit(st, &ev);
	return st;
}

/* floor(log2(v)), 0 for v <= 1; matches hist_slot() in user/hist.c. */
static __always_inline __u32 pmt_log2(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* ---- the event stream (--events) ----------------------------------------- */

/* Read-only data, fixed at load: with stream_events false the verifier
 * prunes every stream branch, so the default mode runs the same code as
 * before the stream existed. */
const volatile bool stream_events = false;
/* Batching: records are submitted without waking the reader, which drains
 * on its own timer (user/session.c), unless this many bytes already wait
 * in the ring (a quarter of it): then it is woken to make room. */
const volatile __u64 wakeup_bytes = 64 * 1024;

/* A zeroed record of `type` for the current thread, or NULL (counted). */
static __always_inline struct pmt_event *stream_reserve(struct pmt_proc_stats *st, __u32 type)
{
	struct pmt_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e) {
		__sync_fetch_and_add(&st->events_dropped[type & (PMT_EV_TYPES - 1)], 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	/* After the reservation: records then reach the ring almost in time
	 * order, which keeps the reader's reordering short. */
	e->ts_ns = bpf_ktime_get_ns();
	return e;
}

static __always_inline void stream_submit(struct pmt_proc_stats *st, struct pmt_event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	__sync_fetch_and_add(&st->events_sent, 1);
}

/* ---- GC pauses ---------------------------------------------------------- */

/* The GC handlers' own run time (ns), by handler, per CPU: what a GC hit
 * costs past its trap and dispatch, which the start-up calibration measures
 * with an empty handler (user/trap_cost.h).  Collections run between the
 * hits, so the handlers' maps are cold each time: 0.33-0.37 us a hit here,
 * a third to a half of the trap, and --gc-budget must charge it.  Timed only on
 * the GC handlers: two clock reads a hit, too dear on the allocation path.
 * Atomic: a uprobe program can be preempted by another thread's on the
 * same CPU; a run longer than PMT_HANDLER_NS_MAX was preempted (no handler
 * of ours takes that long) and is left out. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PMT_H_NR);
	__type(key, __u32);
	__type(value, __u64);
} handler_ns SEC(".maps");

#define PMT_HANDLER_NS_MAX 100000

static __always_inline void handler_timed(__u32 handler, __u64 t0)
{
	__u64 d = bpf_ktime_get_ns() - t0;
	__u64 *ns = bpf_map_lookup_elem(&handler_ns, &handler);

	if (ns && d < PMT_HANDLER_NS_MAX)
		__sync_fetch_and_add(ns, d);
}

static __always_inline int read_gen_counters(__u64 stats_addr, __u64 *out)
{
	for (int g = 0; g < PMT_GENERATIONS; g++)
		if (bpf_probe_read_user(&out[g], sizeof(out[g]),
					(void *)(stats_addr + g * PMT_GC_STATS_STRIDE)))
			return -1;
	return 0;
}

/* --gc-budget: user space adds one at each edge of a window, before it
 * arms or disarms the GC probes of every traced process.  A collection
 * whose start was seen under another value was cut by an edge (its end
 * may pair with a start seen while the links came out one after the
 * other, or be the first end of a window opened mid-collection): not
 * timed, counted as a cut.  0 until the first window: then an end without
 * its start is a loss (gc_unmatched_done), as without --gc-budget. */
volatile __u32 gc_window = 0;

/* --gc-budget: the processes whose GC probes stay armed across every
 * window's edge (their collections cannot be counted without the probes:
 * gc_may_window in user space).  An edge cuts none of their collections.
 * User space adds a process before the edge that would have cut it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);              /* --max-procs */
	__type(key, __u32);                     /* tgid */
	__type(value, __u8);
} gc_kept SEC(".maps");

/* --gc-budget: where each process's GC counters are, and what the read at
 * its end found there (struct pmt_gc_exit_read). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);              /* --max-procs */
	__type(key, __u32);                     /* tgid */
	__type(value, struct pmt_gc_exit_read);
} gc_exit_reads SEC(".maps");

/* A process's GC counters at its end: its exit (sched_process_exit, before
 * the exit event is sent) or its execve (sys_enter, while the old image is
 * still there; an exec that fails leaves a read nobody looks at, and its
 * process goes on to be read again).  This runs in the process itself, so
 * the reads are of its own memory, where it still has any: a read that
 * fails leaves its flag clear.  The counters first, then the head: a head
 * still set vouches that the counters were the live interpreter's
 * (user/gc_counters.c). */
static __always_inline void read_gc_counters_at_end(__u32 tgid)
{
	struct pmt_gc_exit_read *r = bpf_map_lookup_elem(&gc_exit_reads, &tgid);

	if (!r || !r->stats_addr)
		return;
	r->read = 0;
	if (!bpf_probe_read_user(r->raw, sizeof(r->raw), (void *)r->stats_addr))
		r->read |= PMT_GC_EXIT_STATS;
	if (r->head_addr && !bpf_probe_read_user(&r->head, sizeof(r->head), (void *)r->head_addr))
		r->read |= PMT_GC_EXIT_HEAD;
}

/* Whether an edge since start_window cut the collection ending now. */
static __always_inline bool gc_cut(__u32 start_window)
{
	__u32 tgid = current_tgid();

	return start_window != gc_window && !bpf_map_lookup_elem(&gc_kept, &tgid);
}

/* stats_addr is non-zero only for a collection whose generation is chosen
 * by the collector itself (PMT_GEN_AUTO). */
static __always_inline void gc_begin(__u32 generation, __u64 stats_addr, bool serial)
{
	__u32 tid = current_tid();
	struct pmt_proc_stats *st = probed_proc(current_tgid());
	struct gc_pending p = {};

	if (!st)
		return;
	/* PMT_GC_SERIAL: no other thread of the process is in here now (the
	 * GIL), so the slot is ours if free, or still ours from a collection
	 * whose end was never seen (that one is lost, as in the hash).  A slot
	 * held by another thread (a subinterpreter collecting while a
	 * finalizer of this one let the GIL go) sends us to the hash. */
	if (serial && !stats_addr && (st->gc_slot.tid == 0 || st->gc_slot.tid == tid)) {
		st->gc_slot.tid = tid;
		st->gc_slot.generation = generation;
		st->gc_slot.gc_window = gc_window;
		st->gc_slot.start_ns = bpf_ktime_get_ns();
		return;
	}
	p.generation = generation;
	p.gc_window = gc_window;
	if (stats_addr) {
		p.generation = GEN_PENDING_AUTO;
		p.stats_addr = stats_addr;
		if (read_gen_counters(stats_addr, p.before))
			return; /* counted as gc_unmatched_done at the end */
	}
	p.start_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&gc_pending, &tid, &p, BPF_ANY))
		__sync_fetch_and_add(&st->pending_full, 1);
}

/* For an AUTO collection: the generation whose counter grew, or -1 when the
 * collector decided not to collect (or another collection was running). */
static __always_inline int auto_generation(struct gc_pending *p)
{
	__u64 after[PMT_GENERATIONS] = {};

	if (read_gen_counters(p->stats_addr, after))
		return -1;
	for (int g = PMT_GENERATIONS - 1; g >= 0; g--)
		if (after[g] != p->before[g])
			return g;
	return -1;
}

static __always_inline void gc_end(__s64 collected, bool serial)
{
	__u32 tid = current_tid();
	struct pmt_proc_stats *st = traced_proc(current_tgid());
	struct gc_pending *p;
	struct pmt_gc_gen_stats *g;
	__u64 pause;
	__u32 slot, gen;

	if (!st)
		return;
	if (serial && st->gc_slot.tid == tid) {
		pause = bpf_ktime_get_ns() - st->gc_slot.start_ns;
		gen = st->gc_slot.generation;
		st->gc_slot.tid = 0;
		if (gc_cut(st->gc_slot.gc_window)) {
			__sync_fetch_and_add(&st->gc_window_cuts, 1);
			return;
		}
		goto found;
	}
	p = bpf_map_lookup_elem(&gc_pending, &tid);
	if (!p) {
		/* once windows are in use, a window opened in mid-collection */
		if (gc_cut(0))
			__sync_fetch_and_add(&st->gc_window_cuts, 1);
		else
			__sync_fetch_and_add(&st->gc_unmatched_done, 1);
		return;
	}
	if (gc_cut(p->gc_window)) {
		bpf_map_delete_elem(&gc_pending, &tid);
		__sync_fetch_and_add(&st->gc_window_cuts, 1);
		return;
	}
	pause = bpf_ktime_get_ns() - p->start_ns;
	gen = p->generation;
	if (gen == GEN_PENDING_AUTO) {
		int g = auto_generation(p);

		if (g < 0) {
			bpf_map_delete_elem(&gc_pending, &tid);
			return; /* nothing was collected: not a GC pause */
		}
		gen = g;
	}
	bpf_map_delete_elem(&gc_pending, &tid);
found:
	if (gen >= PMT_GENERATIONS) {
		__sync_fetch_and_add(&st->gc_bad_generation, 1);
		return;
	}
	g = &st->gc[gen];
	/* A process collects on one thread at a time (CPython's `collecting`
	 * flag, under the GIL), so these updates do not race each other. */
	g->collections++;
	g->pause_total_ns += pause;
	if (pause > g->pause_max_ns)
		g->pause_max_ns = pause;
	if (collected > 0)
		g->collected += collected;
	slot = pmt_log2(pause);
	if (slot >= PMT_HIST_SLOTS)
		slot = PMT_HIST_SLOTS - 1;
	g->hist[slot]++;
	if (stream_events) {
		struct pmt_event *e = stream_reserve(st, PMT_EV_GC);

		if (e) {
			e->gc.generation = gen;
			e->gc.pause_ns = pause;
			e->gc.collected = collected;
			stream_submit(st, e);
		}
	}
}

/* USDT python:gc__start(int generation), python:gc__done(Py_ssize_t collected).
 * The probes are semaphore-guarded; libbpf sets ref_ctr_offset, so the kernel
 * raises the semaphore only while we are attached. */
SEC("usdt")
int BPF_USDT(usdt_gc_start, int generation)
{
	/* libbpf's USDT path has no cookie of ours: the per-thread hash */
	gc_begin((__u32)generation, 0, false);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_gc_done, long collected)
{
	gc_end(collected, false);
	return 0;
}

/* uprobe on the collection function (collect / gc_collect_main).  The attach
 * cookie says where the generation is (enum pmt_gen_source). */
static __always_inline void gc_entry(struct pt_regs *ctx)
{
	__u64 cookie = handler_cookie(ctx);
	__u64 src = PMT_COOKIE_SRC(cookie);
	__u64 arg0 = PT_REGS_PARM1(ctx), arg1 = PT_REGS_PARM2(ctx);
	__u64 interp = 0, stats_addr = 0;
	__u32 gen;

	/* Read both registers first: selecting the ctx offset by the cookie
	 * makes clang compute a modified ctx pointer, which the verifier
	 * rejects. */
	barrier_var(arg0);
	barrier_var(arg1);
	if (src == PMT_GEN_ARG0)
		gen = (__u32)arg0;
	else if (src == PMT_GEN_ARG1)
		gen = (__u32)arg1;
	else
		gen = 2;
	if ((cookie & PMT_GEN_AUTO) && (int)gen < 0) {
		/* arg0 is the thread state: tstate->interp->gc.generation_stats */
		if (bpf_probe_read_user(&interp, sizeof(interp),
					(void *)(arg0 + PMT_COOKIE_INTERP_OFF(cookie))) || !interp)
			return;
		stats_addr = interp + PMT_COOKIE_STATS_OFF(cookie);
	}
	gc_begin(gen, stats_addr, cookie & PMT_GC_SERIAL);
}

SEC("uprobe")
int uprobe_gc_entry(struct pt_regs *ctx)
{
	__u64 t0 = bpf_ktime_get_ns();

	gc_entry(ctx);
	handler_timed(PMT_H_GC_ENTRY, t0);
	return 0;
}

/* The collection function returns collected + uncollectable, like gc__done. */
SEC("uretprobe")
int uretprobe_gc_return(struct pt_regs *ctx)
{
	__u64 t0 = bpf_ktime_get_ns();

	gc_end((__s64)PT_REGS_RC(ctx), handler_cookie(ctx) & PMT_GC_SERIAL);
	handler_timed(PMT_H_GC_RETURN, t0);
	return 0;
}

/* ---- pymalloc arenas ---------------------------------------------------- */

static __always_inline void stream_arena(struct pmt_proc_stats *st, __u32 type, __u64 addr,
					 __u64 bytes)
{
	struct pmt_event *e = stream_reserve(st, type);

	if (!e)
		return;
	e->arena.addr = addr;
	e->arena.bytes = bytes;
	stream_submit(st, e);
}

/* void *alloc(void *ctx, size_t size) */
SEC("uprobe")
int uprobe_arena_alloc(struct pt_regs *ctx)
{
	__u32 tid = current_tid();
	struct pmt_proc_stats *st = probed_proc(current_tgid());
	__u64 size = PT_REGS_PARM2(ctx);

	if (!st)
		return 0;
	if (bpf_map_update_elem(&arena_pending, &tid, &size, BPF_ANY))
		__sync_fetch_and_add(&st->pending_full, 1);
	return 0;
}

SEC("uretprobe")
int uretprobe_arena_alloc(struct pt_regs *ctx)
{
	__u32 tid = current_tid();
	struct pmt_proc_stats *st = traced_proc(current_tgid());
	__u64 *size;

	if (!st)
		return 0;
	size = bpf_map_lookup_elem(&arena_pending, &tid);
	if (!size)
		return 0; /* attached while an allocation was in flight */
	if (PT_REGS_RC(ctx)) {
		__sync_fetch_and_add(&st->arena_allocs, 1);
		__sync_fetch_and_add(&st->arena_alloc_bytes, *size);
		if (stream_events)
			stream_arena(st, PMT_EV_ARENA_ALLOC, PT_REGS_RC(ctx), *size);
	} else {
		__sync_fetch_and_add(&st->arena_alloc_failed, 1);
	}
	bpf_map_delete_elem(&arena_pending, &tid);
	return 0;
}

/* The arena allocator's mmap in flight, by thread: its size.  Set by a probe
 * on the allocator's own `call mmap` (an emulated instruction, unlike the
 * single-stepped first instruction of some builds), completed by the mmap
 * syscall's exit: no uretprobe needed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} arena_mmap_pending SEC(".maps");

/* At the arena allocator's `call mmap(NULL, size, ...)`: size is in %rsi. */
SEC("uprobe")
int uprobe_arena_mmap_call(struct pt_regs *ctx)
{
	__u32 tid = current_tid();
	struct pmt_proc_stats *st = probed_proc(current_tgid());
	__u64 size = PT_REGS_PARM2(ctx);

	if (!st)
		return 0;
	if (bpf_map_update_elem(&arena_mmap_pending, &tid, &size, BPF_ANY))
		__sync_fetch_and_add(&st->pending_full, 1);
	return 0;
}

/* --events: an arena free's size, by thread, until its munmap.  The free
 * probe may sit past the instruction that moves the pointer out of %rsi
 * (user/plan.c keeps only the size there), and pymalloc's free is
 * munmap(ptr, size) itself: the munmap's arguments give the address. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} arena_munmap_pending SEC(".maps");

/* void free(void *ctx, void *ptr, size_t size) */
SEC("uprobe")
int uprobe_arena_free(struct pt_regs *ctx)
{
	struct pmt_proc_stats *st = traced_proc(current_tgid());
	__u64 size = PT_REGS_PARM3(ctx);

	if (!st)
		return 0;
	__sync_fetch_and_add(&st->arena_frees, 1);
	__sync_fetch_and_add(&st->arena_free_bytes, size);
	if (stream_events) {
		__u32 tid = current_tid();

		if (bpf_map_update_elem(&arena_munmap_pending, &tid, &size, BPF_ANY))
			__sync_fetch_and_add(&st->events_dropped[PMT_EV_ARENA_FREE], 1);
	}
	return 0;
}

/* ---- heap growth (--heap-growth): maps the syscall hooks need ----------- */

/* --heap-growth: attribute pools, arenas, mmap and brk growth to stacks. */
const volatile bool heap_growth = false;

/* Bytes and events of heap growth, by stack and kind (--max-stacks). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pmt_growth_key);
	__type(value, struct pmt_growth_stats);
} growth_stats SEC(".maps");

/* Slot 0: raw_growth_stack, loaded only with --heap-growth.  The syscall
 * hook tail-calls it for the few syscalls that grow a traced heap, so the
 * default programs need no stack walker (bpf_loop, 5.17+) and every other
 * syscall on the machine costs nothing more. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} growth_tail SEC(".maps");

static __always_inline void growth_add(struct pmt_proc_stats *st, const struct pmt_stack_key *stack,
				       __u32 kind, __u64 bytes)
{
	struct pmt_growth_key k = { .stack = *stack, .kind = kind };
	struct pmt_growth_stats zero = {}, *gs;

	gs = bpf_map_lookup_elem(&growth_stats, &k);
	if (!gs) {
		/* Whatever the error (E2BIG when full, ENOMEM), a row that is
		 * still missing is a lost row: count that, not one errno. */
		bpf_map_update_elem(&growth_stats, &k, &zero, BPF_NOEXIST);
		gs = bpf_map_lookup_elem(&growth_stats, &k);
	}
	if (!gs) {
		__sync_fetch_and_add(&st->stack_map_full, 1);
		return;
	}
	__sync_fetch_and_add(&gs->events, 1);
	__sync_fetch_and_add(&gs->bytes, bytes);
}

/* ---- mmap, munmap, mremap, brk ------------------------------------------ */

static __always_inline __u64 page_round_up(__u64 len)
{
	return (len + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
}

static __always_inline __u64 current_brk(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, mm, brk);
}

/* raw_tp needs no tracefs (classic syscalls:* tracepoints do), and one
 * program covers all four syscalls. */
SEC("raw_tp/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = (long)ctx->args[1];
	struct pt_regs *regs;
	struct pmt_proc_stats *st;
	struct sys_pending p = {};
	__u32 tid;

	if (nr == NR_execve || nr == NR_execveat) {
		read_gc_counters_at_end(current_tgid());
		return 0;
	}
	if (nr != NR_mmap && nr != NR_munmap && nr != NR_mremap && nr != NR_brk)
		return 0;
	st = traced_proc(current_tgid());
	if (!st)
		return 0;
	regs = (struct pt_regs *)ctx->args[0];
	p.nr = nr;
	switch (nr) {
	case NR_mmap:   /* addr, len, prot, flags, fd, off */
		p.len = BPF_CORE_READ(regs, si);
		p.flags = BPF_CORE_READ(regs, r10);
		break;
	case NR_munmap: /* addr, len */
		p.len = BPF_CORE_READ(regs, si);
		if (stream_events)
			p.addr = BPF_CORE_READ(regs, di);
		break;
	case NR_mremap: /* old_addr, old_len, new_len, flags, new_addr */
		p.len = BPF_CORE_READ(regs, si);
		p.new_len = BPF_CORE_READ(regs, dx);
		if (stream_events)
			p.addr = BPF_CORE_READ(regs, di);
		break;
	case NR_brk:
		p.len = current_brk();
		break;
	}
	tid = current_tid();
	if (bpf_map_update_elem(&sys_pending, &tid, &p, BPF_ANY)) {
		__sync_fetch_and_add(&st->pending_full, 1);
		return 0;
	}
	/* Calls that may grow the heap get their stack (file mappings don't). */
	if (heap_growth && nr != NR_munmap && (nr != NR_mmap || (p.flags & MAP_ANONYMOUS_FLAG)))
		bpf_tail_call(ctx, &growth_tail, 0);
	return 0;
}

/* An mmap returned (at addr, when ok): if the arena allocator made it, an
 * arena was allocated (or the allocation failed); true then. */
static __always_inline bool arena_mmap_done(struct pmt_proc_stats *st, __u32 tid, bool ok,
					    __u64 addr)
{
	__u64 *size = bpf_map_lookup_elem(&arena_mmap_pending, &tid);

	if (!size)
		return false;
	if (ok) {
		__sync_fetch_and_add(&st->arena_allocs, 1);
		__sync_fetch_and_add(&st->arena_alloc_bytes, *size);
		if (stream_events)
			stream_arena(st, PMT_EV_ARENA_ALLOC, addr, *size);
	} else {
		__sync_fetch_and_add(&st->arena_alloc_failed, 1);
	}
	bpf_map_delete_elem(&arena_mmap_pending, &tid);
	return true;
}

static __always_inline void sys_account(struct pmt_sys_stats *s, __s64 bytes)
{
	__sync_fetch_and_add(&s->calls, 1);
	__sync_fetch_and_add(&s->bytes, bytes);
}

/* --events: a munmap returned; if an arena free is waiting for it (same
 * length), that arena is gone from this address. */
static __always_inline void arena_munmap_done(struct pmt_proc_stats *st, __u32 tid,
					      const struct sys_pending *p)
{
	__u64 *size = bpf_map_lookup_elem(&arena_munmap_pending, &tid);

	if (!size)
		return;
	if (*size == p->len)
		stream_arena(st, PMT_EV_ARENA_FREE, p->addr, *size);
	else    /* the free did not unmap: its address is unknown */
		__sync_fetch_and_add(&st->events_dropped[PMT_EV_ARENA_FREE], 1);
	bpf_map_delete_elem(&arena_munmap_pending, &tid);
}

/* --events: one record per mmap/munmap/mremap/brk, failed calls included. */
static __always_inline void stream_sys(struct pmt_proc_stats *st, const struct sys_pending *p,
				       long ret, __u64 brk_now)
{
	bool failed = p->nr != NR_brk && ret < 0 && ret > -4096;
	struct pmt_event *e;
	__u32 type;

	switch (p->nr) {
	case NR_mmap:   type = PMT_EV_MMAP; break;
	case NR_munmap: type = PMT_EV_MUNMAP; break;
	case NR_mremap: type = PMT_EV_MREMAP; break;
	default:        type = PMT_EV_BRK; break;
	}
	e = stream_reserve(st, type);
	if (!e)
		return;
	e->mem.result = failed ? (__s32)ret : 0;
	switch (p->nr) {
	case NR_mmap:
		e->mem.addr = failed ? 0 : (__u64)ret;
		e->mem.len = p->len;
		e->mem.anon = !!(p->flags & MAP_ANONYMOUS_FLAG);
		break;
	case NR_munmap:
		e->mem.addr = p->addr;
		e->mem.len = p->len;
		break;
	case NR_mremap:
		e->mem.addr = p->addr;
		e->mem.len = p->len;
		e->mem.new_addr = failed ? 0 : (__u64)ret;
		e->mem.new_len = p->new_len;
		break;
	default:
		e->mem.addr = p->len;  /* the break before the call */
		e->mem.new_addr = brk_now;
		break;
	}
	stream_submit(st, e);
}

SEC("raw_tp/sys_exit")
int raw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	long ret = (long)ctx->args[1];
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = BPF_CORE_READ(regs, orig_ax);
	struct pmt_proc_stats *st;
	struct sys_pending *p;
	__u64 grown = 0;
	bool arena = false;
	__s64 delta;
	__u32 tid;

	/* This runs at every syscall exit on the machine: the syscall number
	 * (still in orig_ax) rules out almost all of them before the map
	 * lookups.  The pending entry, made only for our four syscalls in
	 * traced processes, is the real filter. */
	if (nr != NR_mmap && nr != NR_munmap && nr != NR_mremap && nr != NR_brk)
		return 0;
	st = traced_proc(current_tgid());
	if (!st)
		return 0;
	tid = current_tid();
	p = bpf_map_lookup_elem(&sys_pending, &tid);
	if (!p)
		return 0;
	if (stream_events) {
		if (p->nr == NR_munmap)
			arena_munmap_done(st, tid, p);
		stream_sys(st, p, ret, p->nr == NR_brk ? current_brk() : 0);
	}
	if (p->nr != NR_brk && ret < 0 && ret > -4096) {
		__sync_fetch_and_add(&st->syscalls_failed, 1);
		if (p->nr == NR_mmap)
			arena_mmap_done(st, tid, false, 0);
		goto out;
	}
	switch (p->nr) {
	case NR_mmap:
		arena = arena_mmap_done(st, tid, true, (__u64)ret);
		if (p->flags & MAP_ANONYMOUS_FLAG) {
			sys_account(&st->mmap_anon, page_round_up(p->len));
			grown = page_round_up(p->len);
		} else {
			sys_account(&st->mmap_file, page_round_up(p->len));
		}
		break;
	case NR_munmap:
		sys_account(&st->munmap, page_round_up(p->len));
		break;
	case NR_mremap:
		delta = (__s64)page_round_up(p->new_len) - (__s64)page_round_up(p->len);
		sys_account(&st->mremap, delta);
		grown = delta > 0 ? delta : 0;
		break;
	case NR_brk:
		/* brk returns the new break, or the old one on failure. */
		delta = (__s64)(current_brk() - p->len);
		sys_account(&st->brk, delta);
		grown = delta > 0 ? delta : 0;
		break;
	}
	if (heap_growth && grown && p->has_stack)
		growth_add(st, &p->stack, arena ? PMT_GROWTH_ARENA :
			   p->nr == NR_brk ? PMT_GROWTH_BRK : PMT_GROWTH_MMAP, grown);
	else if (heap_growth && grown)
		__sync_fetch_and_add(&st->growth_no_stack, 1);
out:
	bpf_map_delete_elem(&sys_pending, &tid);
	return 0;
}

/* ---- allocations (--alloc) ---------------------------------------------- */

/* 1: every allocation; N: a random 1 in N (user space scales the counts). */
const volatile __u32 sample_every = 1;
/* --native-depth: 1 records the caller's address only (no stack walk). */
const volatile __u32 native_depth = 1;
/* 0 with --sample-window: the frees are not probed, so the live map would
 * only fill up; counts and bytes by stack are all a windowed trace keeps. */
const volatile __u32 track_live = 1;
/* --sample-window: user space opens the gate once all of a window's links
 * are armed and closes it before it disarms them.  Links arm and disarm one
 * after the other, and a disarm may first wait a grace period with its
 * breakpoints still in: outside the gate a partial probe set (libc's
 * entries without pymalloc's, say) would count some blocks twice. */
volatile __u32 alloc_gate = 0;

static __always_inline bool alloc_gate_closed(void)
{
	return !track_live && !alloc_gate;
}

struct alloc_pending {
	__u64 size;
	__u64 old_ptr;                          /* realloc */
	__u64 out;                              /* posix_memalign: where the block goes */
	__u32 kind;
	__u32 sampled;
};

/* A pymalloc call in flight, by thread.  Also tells the libc probes that
 * their malloc is pymalloc's own large-object path (counted once, here). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct alloc_pending);
} pm_pending SEC(".maps");

/* A libc malloc-family call in flight, by thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct alloc_pending);
} raw_pending SEC(".maps");

/* Live allocations by process and address (--max-live). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, struct pmt_live_key);
	__type(value, struct pmt_live);
} live SEC(".maps");

/* Per-stack totals (--max-stacks). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pmt_stack_key);
	__type(value, struct pmt_stack_stats);
} stack_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PMT_MAX_NATIVE_FRAMES * sizeof(__u64));
} native_stacks SEC(".maps");

/* Where the Python stack walker finds things, per process (user/pyoffsets.c). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct pmt_pyoffsets);
} pyoffsets SEC(".maps");

/* Python stacks by hash (--max-stacks): user space names their frames. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pmt_pystack_key);
	__type(value, struct pmt_pystack);
} pystacks SEC(".maps");

/* One access the compiler may not merge or move: a field another program
 * run may change under us. */
#define READ_ONCE(x)     (*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* A Python stack is 520 bytes: more than the BPF stack can hold, so it is
 * walked into per-CPU scratch.  A uprobe program runs with migration
 * disabled but not preemption: on a kernel that preempts kernel code
 * (preempt=full or lazy) another thread's walk on this CPU can overwrite the
 * scratch half-way through ours.  `owner` is the thread walking now; a walk
 * that finds another owner at its end is dropped and counted as a stack
 * error, never stored as a stack made of two threads' frames. */
struct pystack_scratch {
	struct pmt_pystack ps;
	__u64 owner;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pystack_scratch);
} pystack_scratch SEC(".maps");

/* Stacks this CPU has already stored in `pystacks`, so that the common case
 * (the same few stacks allocating over and over) skips the map update: a
 * BPF_NOEXIST update of an existing key still hashes the 520-byte-valued
 * entry's key and takes the bucket lock.  (Profiles showed the gain small:
 * the live map's insert is the big cost, tools/bench-notes.md.)
 * Direct-mapped by tag; a slot holds the tag of a stack known to be stored.
 * Only whole 8-byte tags are stored, so two threads preempting each other on
 * one CPU can replace a slot but never tear it, and a slot is written only
 * after its stack was stored: a hit always means "stored".  A collision
 * evicts, it never pretends. */
#define PMT_SEEN_SLOTS 256
struct pystack_seen {
	__u64 tag[PMT_SEEN_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pystack_seen);
} pystack_seen SEC(".maps");

/* Bumped by user space after it deletes `pystacks` entries (retired
 * processes): every tag cached before then stops matching, so a stack of a
 * reused pid is stored again. */
volatile __u32 pystacks_gen = 0;

static __always_inline __u64 pystack_seen_tag(__u64 hash, __u32 tgid)
{
	__u64 tag = hash ^ ((__u64)tgid * 0x9e3779b97f4a7c15ULL) ^ ((__u64)pystacks_gen << 40);

	return tag ? tag : 1;
}

/* FNV-1a over the frames; never 0 (0 means "no Python stack"). */
static __always_inline __u64 pystack_hash(const struct pmt_pystack *ps)
{
	__u64 h = 0xcbf29ce484222325ULL;
	__u32 depth = ps->depth;

#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < PMT_MAX_PYFRAMES && i < depth; i++) {
		h = (h ^ ps->frames[i].code) * 0x100000001b3ULL;
		h = (h ^ ps->frames[i].offset) * 0x100000001b3ULL;
	}
	h = (h ^ (ps->flags & PMT_PYSTACK_TRUNCATED)) * 0x100000001b3ULL;
	return h ? h : 1;
}

/* Tells user space that a stack was stored, so that it names the stack's
 * code objects now, while they exist: the periodic naming pass comes up to
 * 0.2 s later, and the body of a lazily imported module dies as soon as the
 * import is done.  Best effort, and never at the cost of the records that
 * must not be lost (exit, exec, fork, --events): once the ring is a quarter
 * full it is left to them, and the periodic pass names the stack.  Flags 0:
 * the reader is woken only if it had caught up. */
static __always_inline void announce_pystack(__u32 tgid, __u64 hash)
{
	struct pmt_event *e;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->type = PMT_EV_PYSTACK;
	e->pid = tgid;
	e->pystack.hash = hash;
	bpf_ringbuf_submit(e, 0);
}

/* Walks the current Python stack and stores it; returns its hash, or 0.
 * st: tgid's `procs` entry, which the caller already looked up. */
static __always_inline __u64 python_stack(struct pmt_proc_stats *st, __u32 tgid)
{
	const struct pmt_pyoffsets *o = bpf_map_lookup_elem(&pyoffsets, &tgid);
	struct pmt_pystack_key pk = { .pid = tgid };
	__u64 me = bpf_get_current_pid_tgid();
	struct pystack_scratch *sc;
	struct pmt_pystack *ps;
	struct pystack_seen *seen;
	__u32 zero = 0, flags, depth;
	__u64 tag;
	long err;

	if (!o)
		return 0;
	sc = bpf_map_lookup_elem(&pystack_scratch, &zero);
	if (!sc)
		return 0;
	WRITE_ONCE(sc->owner, me);
	ps = &sc->ps;
	pmt_pystack_walk(o, ps);
	flags = ps->flags;
	depth = ps->depth;
	if (depth)
		pk.hash = pystack_hash(ps);
	/* Everything read from the scratch above is ours only if no other walk
	 * took it meanwhile: an interrupted walk counts once, as an error. */
	if (READ_ONCE(sc->owner) != me)
		goto interrupted;
	if (flags & PMT_PYSTACK_TRUNCATED)
		__sync_fetch_and_add(&st->pystack_truncated, 1);
	if (flags & PMT_PYSTACK_ERROR)
		__sync_fetch_and_add(&st->pystack_errors, 1);
	if (!depth)
		return 0; /* no Python frames: a thread without Python code, or a raw call outside it */
	seen = bpf_map_lookup_elem(&pystack_seen, &zero);
	tag = pystack_seen_tag(pk.hash, tgid);
	if (seen && seen->tag[tag % PMT_SEEN_SLOTS] == tag)
		return pk.hash;
	err = bpf_map_update_elem(&pystacks, &pk, ps, BPF_NOEXIST);
	if (READ_ONCE(sc->owner) != me) {
		/* overwritten while the map copied it: what we stored is mixed */
		if (!err)
			bpf_map_delete_elem(&pystacks, &pk);
		goto interrupted;
	}
	if (err && err != -EEXIST) {
		__sync_fetch_and_add(&st->stack_map_full, 1);
		return 0;
	}
	if (!err)
		announce_pystack(tgid, pk.hash);
	if (seen)
		seen->tag[tag % PMT_SEEN_SLOTS] = tag;
	return pk.hash;
interrupted:
	__sync_fetch_and_add(&st->pystack_errors, 1);
	return 0;
}

static __always_inline void add_max(__s64 *max, __s64 v)
{
	/* Racy between threads of one process; the GIL serialises almost all
	 * allocations, and a lost update only lowers the mark by one block. */
	if (v > *max)
		*max = v;
}

/* ip: the allocator's caller, kept when native_depth is 1. */
static __always_inline void stack_key_fill(void *ctx, struct pmt_proc_stats *st,
					   struct pmt_stack_key *key, __u32 tgid, __u64 ip)
{
	long id;

	key->pid = tgid;
	key->pyhash = python_stack(st, tgid);
	if (native_depth <= 1) {
		key->native_id = -1;
		key->caller = ip;
		return;
	}
	id = bpf_get_stackid(ctx, &native_stacks, BPF_F_USER_STACK);
	key->caller = 0;
	if (id < 0) {
		/* A stack map keeps one stack per bucket and never replaces it
		 * (BPF_F_REUSE_STACKID would give old ids a new stack): a
		 * different stack hashing to a taken bucket is -EEXIST, long
		 * before the map is full.  Either way more room is the fix. */
		if (id == -ENOMEM || id == -EEXIST)
			__sync_fetch_and_add(&st->stack_map_full, 1);
		else
			__sync_fetch_and_add(&st->native_stack_errors, 1);
	}
	key->native_id = (__s32)id;
}

static __always_inline void record_alloc(void *ctx, struct pmt_proc_stats *st, __u32 tgid,
					 __u64 addr, __u64 size, bool raw)
{
	struct pmt_live_key lk = { .pid = tgid, .addr = addr };
	struct pmt_live lv = {};
	struct pmt_stack_stats zero = {}, *ss;
	__s64 now;

	/* At a uretprobe the ip is the return address, at an inlined site
	 * the site itself: the allocator's caller either way. */
	stack_key_fill(ctx, st, &lv.key, tgid, PT_REGS_IP((struct pt_regs *)ctx));
	lv.size = size | (raw ? PMT_LIVE_RAW : 0);
	ss = bpf_map_lookup_elem(&stack_stats, &lv.key);
	if (!ss) {
		/* As in growth_add: any failure that leaves no row is counted. */
		bpf_map_update_elem(&stack_stats, &lv.key, &zero, BPF_NOEXIST);
		ss = bpf_map_lookup_elem(&stack_stats, &lv.key);
	}
	if (ss) {
		__sync_fetch_and_add(&ss->alloc_count, 1);
		__sync_fetch_and_add(&ss->alloc_bytes, size);
	} else {
		__sync_fetch_and_add(&st->stack_map_full, 1);
	}
	__sync_fetch_and_add(&st->alloc_count, 1);
	__sync_fetch_and_add(&st->alloc_bytes, size);
	if (!track_live)
		return;
	if (bpf_map_update_elem(&live, &lk, &lv, BPF_ANY)) {
		__sync_fetch_and_add(&st->live_map_full, 1);
		return;
	}
	now = __sync_fetch_and_add(&st->live_bytes, (__s64)size) + (__s64)size;
	add_max(&st->peak_live_bytes, now);
	if (!raw)
		__sync_fetch_and_add(&st->pm_live_bytes, (__s64)size);
}

static __always_inline void record_free(struct pmt_proc_stats *st, __u32 tgid, __u64 addr)
{
	struct pmt_live_key lk = { .pid = tgid, .addr = addr };
	struct pmt_live *lv;
	struct pmt_stack_stats *ss;
	__u64 size;

	if (!addr)
		return;
	lv = bpf_map_lookup_elem(&live, &lk);
	if (!lv)
		return; /* allocated before the trace, unsampled, or already freed */
	size = lv->size & ~PMT_LIVE_RAW;
	if (!(lv->size & PMT_LIVE_RAW))
		__sync_fetch_and_sub(&st->pm_live_bytes, (__s64)size);
	ss = bpf_map_lookup_elem(&stack_stats, &lv->key);
	if (ss) {
		__sync_fetch_and_add(&ss->free_count, 1);
		__sync_fetch_and_add(&ss->free_bytes, size);
	}
	bpf_map_delete_elem(&live, &lk);
	__sync_fetch_and_add(&st->free_count, 1);
	__sync_fetch_and_add(&st->free_bytes, size);
	__sync_fetch_and_sub(&st->live_bytes, (__s64)size);
}

static __always_inline bool sample_this(void)
{
	return sample_every <= 1 || bpf_get_prandom_u32() % sample_every == 0;
}

/* Entry of an allocating function; cookie = enum pmt_alloc_kind.  The
 * arguments are read here, the result at the return. */
SEC("uprobe")
int uprobe_alloc_entry(struct pt_regs *ctx)
{
	__u64 cookie = handler_cookie(ctx);
	__u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx), a2 = PT_REGS_PARM3(ctx);
	struct alloc_pending p = {};
	struct pmt_proc_stats *st;
	bool raw = cookie & PMT_ALLOC_RAW;
	__u32 tid = current_tid();
	__u64 r0 = a0, r2 = a2;   /* libc's first and third arguments */

	barrier_var(a0);
	barrier_var(a1);
	barrier_var(a2);
	if (alloc_gate_closed())
		return 0;
	st = traced_proc(current_tgid());
	if (!st)
		return 0;
	/* pymalloc's large objects come from libc malloc: counted at pymalloc */
	if (raw && bpf_map_lookup_elem(&pm_pending, &tid))
		return 0;
	if (raw) { /* malloc(size), calloc(n, size), realloc(ptr, size) */
		a2 = a1;
		a1 = a0;
	}
	p.kind = cookie;
	p.sampled = sample_this();
	switch (cookie & ~PMT_ALLOC_RAW) {
	case PMT_ALLOC_MALLOC:
		p.size = a1;
		break;
	case PMT_ALLOC_CALLOC:
		p.size = a1 * a2;
		break;
	case PMT_ALLOC_REALLOC:
		p.old_ptr = a1;
		p.size = a2;
		break;
	case PMT_ALLOC_MEMALIGN:  /* (align, size) */
		p.size = a2;
		break;
	case PMT_ALLOC_POSIX_MEMALIGN:  /* (out, align, size) */
		p.out = r0;
		p.size = r2;
		break;
	default:
		return 0;
	}
	if (bpf_map_update_elem(raw ? (void *)&raw_pending : (void *)&pm_pending, &tid, &p, BPF_ANY))
		__sync_fetch_and_add(&st->pending_full, 1);
	return 0;
}

SEC("uretprobe")
int uretprobe_alloc_return(struct pt_regs *ctx)
{
	__u64 cookie = handler_cookie(ctx);
	void *pending = (cookie & PMT_ALLOC_RAW) ? (void *)&raw_pending : (void *)&pm_pending;
	__u64 ret = PT_REGS_RC(ctx);
	__u32 tid = current_tid(), tgid = current_tgid();
	struct pmt_proc_stats *st = traced_proc(tgid);
	struct alloc_pending *p, copy;

	if (!st)
		return 0;
	p = bpf_map_lookup_elem(pending, &tid);
	if (!p)
		return 0; /* nested in pymalloc, or attached mid-call */
	copy = *p;
	bpf_map_delete_elem(pending, &tid);
	if (alloc_gate_closed())
		return 0; /* entered in the window, returned after it */
	if (copy.kind == (PMT_ALLOC_POSIX_MEMALIGN | PMT_ALLOC_RAW)) {
		/* it returns 0 or an error number; the block is in *out */
		if ((int)ret != 0)
			ret = 0;
		else if (bpf_probe_read_user(&ret, sizeof(ret), (const void *)copy.out)) {
			__sync_fetch_and_add(&st->alloc_unreadable, 1);
			return 0;
		}
	}
	if (copy.kind == PMT_ALLOC_REALLOC || copy.kind == (PMT_ALLOC_REALLOC | PMT_ALLOC_RAW)) {
		/* A failed realloc leaves the old block alive. */
		if (!ret && copy.size)
			goto failed;
		record_free(st, tgid, copy.old_ptr);
	}
	if (!ret)
		goto failed;
	/* pymalloc hands requests over 512 bytes to the raw allocator: those
	 * blocks live outside its arenas, like libc's own. */
	if (copy.sampled)
		record_alloc(ctx, st, tgid, ret, copy.size,
			     (cookie & PMT_ALLOC_RAW) || copy.size > PMT_SMALL_REQUEST_MAX);
	return 0;
failed:
	if (copy.size)
		__sync_fetch_and_add(&st->alloc_failed, 1);
	return 0;
}

/* free(ctx, ptr) in pymalloc; free(ptr) in libc (cookie has PMT_ALLOC_RAW).
 * Frees of sampled-out or pre-trace blocks miss the live map: harmless. */
SEC("uprobe")
int uprobe_free(struct pt_regs *ctx)
{
	__u64 cookie = handler_cookie(ctx);
	__u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx);
	__u32 tgid = current_tgid();
	struct pmt_proc_stats *st;

	barrier_var(a0);
	barrier_var(a1);
	st = traced_proc(tgid);
	if (!st)
		return 0;
	record_free(st, tgid, (cookie & PMT_ALLOC_RAW) ? a0 : a1);
	return 0;
}

/* ---- allocations LTO inlined (user/lto_sites.h) -------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct pmt_lto_cfg);
} lto_cfg SEC(".maps");

/* The general-purpose registers into regs[], at their struct pt_regs slots
 * (the ones gpr() picks from; the rest are left alone).  Direct loads from
 * ctx, each at an offset the verifier sees as a constant: 44 ns a hit
 * cheaper than a bpf_probe_read_kernel() of the whole struct at Debian's
 * allocation sites, 48 ns at its GC USDT sites (tools/bench-notes.md, "The
 * registers loaded from ctx"). */
static __always_inline void copy_gprs(__u64 *regs, const struct pt_regs *ctx)
{
	regs[0] = ctx->r15;
	regs[1] = ctx->r14;
	regs[2] = ctx->r13;
	regs[3] = ctx->r12;
	regs[4] = ctx->bp;
	regs[5] = ctx->bx;
	regs[6] = ctx->r11;
	regs[7] = ctx->r10;
	regs[8] = ctx->r9;
	regs[9] = ctx->r8;
	regs[10] = ctx->ax;
	regs[11] = ctx->cx;
	regs[12] = ctx->dx;
	regs[13] = ctx->si;
	regs[14] = ctx->di;
	regs[19] = ctx->sp;
}

/* A general-purpose register by its x86 encoding index, from copy_gprs()'s
 * copy: a ctx offset computed at run time (which is what clang makes of a
 * switch over fields) is rejected by the verifier. */
static __always_inline __u64 gpr(const __u64 *regs, __u32 idx)
{
	/* struct pt_regs slot of each register, packed 5 bits apiece: rax 10,
	 * rcx 11, rdx 12, rbx 5, rsp 19, rbp 4, rsi 13, rdi 14, r8 9, r9 8,
	 * r10 7, r11 6, r12 3, r13 2, r14 1, r15 0.  (A static table would be
	 * read from .rodata; arithmetic keeps the program self-contained.) */
	static const __u64 lo = 10ULL | 11ULL << 5 | 12ULL << 10 | 5ULL << 15 | 19ULL << 20 |
				4ULL << 25 | 13ULL << 30 | 14ULL << 35;
	static const __u64 hi = 9ULL | 8ULL << 5 | 7ULL << 10 | 6ULL << 15 | 3ULL << 20 |
				2ULL << 25 | 1ULL << 30 | 0ULL << 35;
	__u32 i = idx & 15;
	__u32 k = ((i < 8 ? lo : hi) >> (5 * (i & 7))) & 31;

	if (k > 20) /* for the verifier: no slot is larger */
		k = 20;
	return regs[k];
}

/* A pymalloc block's size: its pool's size class, or the site's constant. */
static __always_inline __u64 block_size(const struct pmt_lto_cfg *cfg, __u64 block, __u64 sc1)
{
	__u32 szidx = 0;

	if (sc1)
		return sc1 * 16;
	if (bpf_probe_read_user(&szidx, sizeof(szidx),
				(void *)((block & cfg->pool_mask) + PMT_POOL_SZIDX_OFF)) ||
	    szidx >= PMT_SMALL_REQUEST_MAX / 16)
		return 0;
	return (szidx + 1) * 16;
}

SEC("uprobe")
int uprobe_lto(struct pt_regs *ctx)
{
	__u64 cookie = handler_cookie(ctx);
	__u32 tgid = current_tgid(), tid = current_tid();
	__u32 role = cookie & 15, reg2p1 = (cookie >> 8) & 31;
	__u64 sc1 = (cookie >> 13) & 0xff, v, size;
	__u32 sizep1 = (cookie >> 21) & 31;
	__u64 regs[sizeof(struct pt_regs) / sizeof(__u64)] = {};
	struct pmt_proc_stats *st = traced_proc(tgid);
	const struct pmt_lto_cfg *cfg;

	if (!st)
		return 0;
	/* pymalloc_site.h's allocation sites (sizep1) need no per-process
	 * configuration (with --all a new process is traced from its first
	 * hit), so they skip the lookup: it runs at every allocation. */
	cfg = sizep1 && role != PMT_LTO_FREE_CHECK ? NULL : bpf_map_lookup_elem(&lto_cfg, &tgid);
	if (!cfg && !sizep1)
		return 0;
	copy_gprs(regs, ctx);
	v = role == PMT_LTO_NEWPOOL_RET ? PT_REGS_RC(ctx) : gpr(regs, (cookie >> 4) & 15);
	if (!v)
		return 0;
	if (role == PMT_LTO_FREE_CHECK) {
		/* With another hook installed (tracemalloc...) the call goes
		 * there, and its own call into pymalloc is counted there. */
		if (!cfg || (reg2p1 && gpr(regs, reg2p1 - 1) != cfg->hook_free))
			return 0;
		record_free(st, tgid, v);
		return 0;
	}
	/* Inside a probed pymalloc call (realloc): that call counts it. */
	if (alloc_gate_closed() || bpf_map_lookup_elem(&pm_pending, &tid) || !sample_this())
		return 0;
	/* pymalloc_site.h's sites know the requested size, as the entry
	 * probe did; the inlined LTO sites only the block's class */
	size = sizep1 ? gpr(regs, sizep1 - 1) : cfg ? block_size(cfg, v, sc1) : 0;
	if (size)
		record_alloc(ctx, st, tgid, v, size, false);
	else
		__sync_fetch_and_add(&st->alloc_unreadable, 1);
	return 0;
}

/* ---- USDT probes through uprobe_multi links -------------------------------- */

/* libbpf's BPF_USDT programs (usdt_gc_start/done above) read their arguments
 * through the specs bpf_program__attach_usdt stores, and that makes perf-event
 * uprobes.  Through a uprobe_multi link user space decodes the note's spec
 * itself and passes it as the cookie (PMT_USDT_*, user/usdt_args.h).
 * The argument's value, or -1 when the memory it names cannot be read. */
static __always_inline int usdt_cookie_arg(struct pt_regs *ctx, __u64 spec, __s64 *out)
{
	__u64 regs[sizeof(struct pt_regs) / sizeof(__u64)] = {};
	__u32 kind = spec & 3, size = (spec >> 8) & 15, shift;
	__s64 disp = (__s64)(spec << 8) >> 40; /* bits 32..55, sign-extended */
	__u64 v;

	if (kind == PMT_USDT_CONST) {
		*out = disp;
		return 0;
	}
	if (size == 0 || size > 8)
		return -1;
	copy_gprs(regs, ctx);
	v = gpr(regs, (spec >> 4) & 15);
	if (kind == PMT_USDT_DEREF) {
		void *addr = (void *)(v + disp);

		v = 0; /* little-endian: size bytes fill its low end */
		if (bpf_probe_read_user(&v, size, addr))
			return -1;
	}
	/* keep the low size bytes, sign-extended if the spec says so */
	shift = 64 - 8 * size;
	v <<= shift;
	*out = (spec & PMT_USDT_SIGNED) ? (__s64)v >> shift : (__s64)(v >> shift);
	return 0;
}

/* python:gc__start(int generation).  An argument that cannot be read (only
 * a memory operand can fail) is counted as gc_bad_generation, as a probe
 * that is misconfigured: lost, and said so in the report. */
SEC("uprobe")
int uprobe_usdt_gc_start(struct pt_regs *ctx)
{
	__u64 t0 = bpf_ktime_get_ns(), cookie = handler_cookie(ctx);
	__s64 generation;

	if (usdt_cookie_arg(ctx, cookie, &generation))
		generation = PMT_GENERATIONS; /* gc_end counts it as bad */
	gc_begin((__u32)generation, 0, cookie & PMT_GC_SERIAL);
	handler_timed(PMT_H_USDT_GC_START, t0);
	return 0;
}

/* python:gc__done(Py_ssize_t collected) */
SEC("uprobe")
int uprobe_usdt_gc_done(struct pt_regs *ctx)
{
	__u64 t0 = bpf_ktime_get_ns(), cookie = handler_cookie(ctx);
	__s64 collected;

	if (usdt_cookie_arg(ctx, cookie, &collected)) {
		struct pmt_proc_stats *st = traced_proc(current_tgid());

		if (st)
			__sync_fetch_and_add(&st->gc_bad_generation, 1);
		collected = 0;
	}
	gc_end(collected, cookie & PMT_GC_SERIAL);
	handler_timed(PMT_H_USDT_GC_DONE, t0);
	return 0;
}

/* ---- holding a launched command -------------------------------------------- */

/* `pymemtrace -- CMD` attaches this to CMD's entry point (_start) for the
 * child's pid only.  By then the dynamic loader has mapped libpython but no
 * Python code has run; stopping the child here lets user space find the
 * interpreter and attach every probe before the first Python instruction. */
__u32 hold_tgid = 0;

SEC("uprobe")
int uprobe_hold_at_entry(struct pt_regs *ctx)
{
	if (hold_tgid && current_tgid() == hold_tgid)
		bpf_send_signal(19 /* SIGSTOP */);
	return 0;
}

/* ---- process exit and exec (rare: streamed) ------------------------------ */

/* Exit and exec wake the reader as usual (flags 0): the session acts on
 * them.  Counted as sent so that, with --events, sent == written. */
static __always_inline void emit(struct pmt_proc_stats *st, struct pmt_event *src)
{
	struct pmt_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		if (st)
			__sync_fetch_and_add(&st->ringbuf_drops, 1);
		else
			__sync_fetch_and_add(&global_ringbuf_drops, 1);
		return;
	}
	__builtin_memcpy(e, src, sizeof(*e));
	bpf_ringbuf_submit(e, 0);
	if (stream_events && st)
		__sync_fetch_and_add(&st->events_sent, 1);
}

SEC("raw_tp/sched_process_exit")
int raw_process_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	struct pmt_proc_stats *st;
	struct pmt_event ev;
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct task_struct *leader;

	/* The whole record, union padding included, reaches user space. */
	__builtin_memset(&ev, 0, sizeof(ev));
	st = bpf_map_lookup_elem(&procs, &tgid);
	if (!st)
		return 0;
	/* do_exit() drops signal->live before this tracepoint: 0 means the
	 * whole thread group is gone with this thread. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	ev.type = PMT_EV_EXIT;
	ev.pid = tgid;
	ev.tid = BPF_CORE_READ(task, pid);
	ev.exit.exit_code = BPF_CORE_READ(task, exit_code);
	ev.ts_ns = bpf_ktime_get_ns();
	/* Faults of threads already released are in signal; this thread's and
	 * a zombie leader's are still in their task structs. */
	ev.exit.min_flt = BPF_CORE_READ(task, signal, min_flt) + BPF_CORE_READ(task, min_flt);
	ev.exit.maj_flt = BPF_CORE_READ(task, signal, maj_flt) + BPF_CORE_READ(task, maj_flt);
	/* CPU the same way: released threads' runtime is summed in signal */
	ev.exit.cpu_ns = BPF_CORE_READ(task, signal, sum_sched_runtime) +
			 BPF_CORE_READ(task, se.sum_exec_runtime);
	leader = BPF_CORE_READ(task, group_leader);
	if (leader && leader != task) {
		ev.exit.min_flt += BPF_CORE_READ(leader, min_flt);
		ev.exit.maj_flt += BPF_CORE_READ(leader, maj_flt);
		ev.exit.cpu_ns += BPF_CORE_READ(leader, se.sum_exec_runtime);
	}
	read_gc_counters_at_end(tgid);
	emit(st, &ev);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int raw_process_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct pmt_proc_stats *st;
	struct pmt_event ev;

	__builtin_memset(&ev, 0, sizeof(ev));
	st = bpf_map_lookup_elem(&procs, &tgid);
	if (!st || st->exec_seen)
		return 0;
	st->exec_seen = 1;
	ev.type = PMT_EV_EXEC;
	ev.pid = tgid;
	ev.tid = BPF_CORE_READ(task, pid);
	ev.ts_ns = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&ev.exec.comm, task, comm);
	emit(st, &ev);
	return 0;
}

/* Fork following (default; --no-follow leaves this program unloaded): a
 * child of a traced process is traced from its first instant.  Its `procs`
 * entry is made here, before the child runs, so that its syscalls count at
 * once; its uprobes (per pid) come later, when user space has read the
 * event and attached them.  Threads fire this tracepoint too: they share
 * their parent's tgid and are skipped. */
SEC("raw_tp/sched_process_fork")
int raw_process_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct pmt_proc_stats *st = traced_proc(ptgid);
	struct pmt_event ev;

	if (!st || ctgid == ptgid)
		return 0;
	/* A fresh entry: the child's counts start at zero, not at its
	 * parent's.  NOEXIST: a pid reused while its old entry is still
	 * reported keeps that entry (user space retires it first). */
	if (bpf_map_update_elem(&procs, &ctgid, &zero_proc_stats, BPF_NOEXIST)) {
		__sync_fetch_and_add(&st->forks_untracked, 1);
		return 0;
	}
	__builtin_memset(&ev, 0, sizeof(ev));
	ev.type = PMT_EV_FORK;
	ev.pid = ctgid;
	ev.tid = BPF_CORE_READ(child, pid);
	ev.ts_ns = bpf_ktime_get_ns();
	ev.fork.parent_pid = ptgid;
	emit(st, &ev);
	return 0;
}

/* ---- heap growth (--heap-growth) ----------------------------------------- */

/* Tail-called by raw_sys_enter for an anonymous mmap, mremap or brk of a
 * traced process, after it stored the call in sys_pending: adds the
 * caller's stack, which raw_sys_exit charges with the growth. */
SEC("raw_tp")
int raw_growth_stack(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *uregs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 tid = current_tid(), tgid = current_tgid();
	struct pmt_proc_stats *st = traced_proc(tgid);
	struct sys_pending *p;

	if (!st)
		return 0;
	p = bpf_map_lookup_elem(&sys_pending, &tid);
	if (!p)
		return 0;
	/* the user ip is the C library's syscall wrapper: the best native
	 * frame there is without frame pointers */
	stack_key_fill(ctx, st, &p->stack, tgid, BPF_CORE_READ(uregs, ip));
	p->has_stack = 1;
	return 0;
}

/* allocate_from_new_pool(size class): pymalloc is about to give a size
 * class a pool, from its free pools or carved from an arena.  cookie: the
 * pool size in the low 32 bits, and in bits 32-39 the bytes the function
 * pushed before the probed instruction, to find the return address. */
SEC("uprobe")
int uprobe_growth_pool(struct pt_regs *ctx)
{
	__u64 cookie = handler_cookie(ctx);
	__u32 tgid = current_tgid();
	struct pmt_proc_stats *st = traced_proc(tgid);
	struct pmt_stack_key key = {};
	__u64 ret = 0;

	if (!st)
		return 0;
	if (bpf_probe_read_user(&ret, sizeof(ret),
				(const void *)(PT_REGS_SP(ctx) + ((cookie >> 32) & 0xff))))
		ret = PT_REGS_IP(ctx);
	stack_key_fill(ctx, st, &key, tgid, ret);
	growth_add(st, &key, PMT_GROWTH_POOL, cookie & 0xffffffff);
	return 0;
}

/* ---- one program per uprobe_multi link ------------------------------------ */

/* The handlers by enum pmt_handler; user space fills the slots of the
 * programs it loaded (only with uprobe_multi). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, PMT_H_NR);
	__type(key, __u32);
	__type(value, __u32);
} uprobe_handlers SEC(".maps");

/* Misses: a hit whose handler slot was empty.  Reported at exit; never
 * expected, since user space only attaches what it loaded. */
__u64 dispatch_misses = 0;

/* Probe hits by handler, per CPU: every hit is a trap the traced process
 * paid for, whatever its handler then did, so user space can say what the
 * trace cost the target (user/trap_cost.h).  Per CPU so that counting adds
 * no shared cache line to the hot path; atomic because a uprobe program can
 * be preempted by another thread's on the same CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PMT_H_NR);
	__type(key, __u32);
	__type(value, __u64);
} probe_hits SEC(".maps");

/* Every probe of a uprobe_multi link lands here: the top byte of its cookie
 * names the handler, which then sees the same ctx and cookie. */
SEC("uprobe")
int uprobe_dispatch(struct pt_regs *ctx)
{
	__u32 h = (__u32)(bpf_get_attach_cookie(ctx) >> PMT_HANDLER_SHIFT);
	__u64 *hits = bpf_map_lookup_elem(&probe_hits, &h);

	if (hits)
		__sync_fetch_and_add(hits, 1);
	bpf_tail_call(ctx, &uprobe_handlers, h);
	__sync_fetch_and_add(&dispatch_misses, 1);
	return 0;
}

/* The handler of the tracer's own calibration probes (user/trap_cost.c):
 * nothing, so that what they measure is the trap and the dispatch. */
SEC("uprobe")
int uprobe_trap_cost(struct pt_regs *ctx)
{
	return 0;
}
