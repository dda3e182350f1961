/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The Python stack walker, for BPF programs only.  Include after vmlinux.h,
 * bpf_helpers.h and bpf_core_read.h.
 *
 *   pmt_pystack_walk(o, out)
 *
 * walks the current thread's Python frames, innermost first, into *out (see
 * bpf/pystack.h).  It never fails the program: what went wrong is in
 * out->flags.  The loop is bpf_loop() (kernel 5.17+), bounded by
 * PMT_PYWALK_BUDGET frames, and all target memory is read with
 * bpf_probe_read_user, so a hostile or torn stack costs at most the budget.
 * Stack use is about 40 bytes: `out` is expected to live in a map (a per-CPU
 * array or a ring buffer record).
 *
 * Cost: this runs at every traced allocation, and a read of target memory
 * is its largest part (a fixed cost per bpf_probe_read_user, whatever its
 * size up to a few KiB: tools/bench-notes.md).  So each frame's fields come
 * from one read of o->frame_read bytes (back, code, instruction and owner at
 * once), and on 3.11+ (frames in the thread's data stack, each caller right
 * below its callee) from a window of PMT_FRAME_WINDOW bytes ending at the
 * frame: one read then usually serves several frames.  The code object's
 * type is checked only where it decides whether a frame is skipped (3.13):
 * the walk reads the current thread's own frames while that thread is
 * stopped in the probe, and user space checks every code object's type
 * before naming it.
 */
#ifndef PMT_PYSTACK_BPF_H
#define PMT_PYSTACK_BPF_H

#include "pystack.h"

/* Frames visited at most, shim frames included: 3.12+ puts one C-stack shim
 * frame below each nested eval loop, so real frames are at least about half. */
#define PMT_PYWALK_BUDGET (2 * PMT_MAX_PYFRAMES)

static __always_inline int pmt__read_u64(__u64 addr, __u64 *v)
{
	return bpf_probe_read_user(v, sizeof(*v), (const void *)addr);
}

/* fsbase is pthread_self() on x86_64 glibc: the thread's struct pthread. */
static __always_inline __u64 pmt__fsbase(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, thread.fsbase);
}

/* The thread state in this thread's TSS slot (PyGILState's key), 0 if none.
 * The slot's place is glibc's struct pthread layout. */
static __always_inline __u64 pmt__tstate_tss(const struct pmt_pyoffsets *o, __u64 fsbase,
					      __u32 *flags)
{
	volatile __s32 *seen = (volatile __s32 *)&o->tss_key_seen;
	__u64 ts = 0;
	int key = *seen, tss[2] = { 0, -1 };

	/* The key is created during start-up, possibly after user space filled
	 * the offsets: Py_tss_t { int _is_initialized; key } is read from the
	 * target until it is initialized (before that the key reads 0, a real
	 * key number), then the key is kept in the map value (o points into a
	 * map; threads racing store the same key), which spares a read of
	 * target memory at every allocation. */
	if (key < 0 || (__u32)key >= o->tls_keys) {
		if (bpf_probe_read_user(tss, sizeof(tss), (const void *)(o->runtime + o->tss_key - 4))) {
			*flags |= PMT_PYSTACK_ERROR;
			return 0;
		}
		key = tss[1];
		if (!tss[0] || key < 0 || (__u32)key >= o->tls_keys)
			return 0;
		*seen = key;
	}
	if (pmt__read_u64(fsbase + o->tls_specific + (__u64)key * o->tls_stride + o->tls_data, &ts))
		*flags |= PMT_PYSTACK_ERROR;
	return ts;
}

/* ts if it is this thread's (its thread_id is our pthread_self), else 0:
 * the GIL holder may be another thread, a TSS slot may be stale or, under
 * another C library's layout, not a slot at all. */
static __always_inline __u64 pmt__if_ours(const struct pmt_pyoffsets *o, __u64 ts, __u64 fsbase,
					  __u32 *flags)
{
	__u64 tid = 0;

	if (!ts)
		return 0;
	if (pmt__read_u64(ts + o->tstate_thread_id, &tid)) {
		*flags |= PMT_PYSTACK_ERROR;
		return 0;
	}
	return tid == fsbase ? ts : 0;
}

/* The current thread's PyThreadState, 0 when it has none.  The TSS slot
 * first (it holds the state with or without the GIL); then, up to 3.11,
 * the GIL holder that _PyRuntime publishes, which serves a C library whose
 * thread-specific layout is not glibc's (musl) while the thread holds the
 * GIL. */
static __always_inline __u64 pmt__tstate(const struct pmt_pyoffsets *o, __u64 fsbase,
					  __u32 *flags)
{
	__u64 ts = 0;

	if (o->tstate_from == PMT_TSTATE_TSS) {
		ts = pmt__if_ours(o, pmt__tstate_tss(o, fsbase, flags), fsbase, flags);
		if (ts || o->tstate_current == PMT_NO_OFFSET)
			return ts;
	}
	if (pmt__read_u64(o->runtime + o->tstate_current, &ts)) {
		*flags |= PMT_PYSTACK_ERROR;
		return 0;
	}
	return pmt__if_ours(o, ts, fsbase, flags);
}

/* The innermost frame of tstate, 0 if none. */
static __always_inline __u64 pmt__top_frame(const struct pmt_pyoffsets *o, __u64 ts, __u32 *flags)
{
	__u64 f = 0;

	if (pmt__read_u64(ts + o->tstate_frame, &f))
		goto err;
	if (o->cframe_frame == PMT_NO_OFFSET || !f)
		return f;
	if (pmt__read_u64(f + o->cframe_frame, &f))
		goto err;
	return f;
err:
	*flags |= PMT_PYSTACK_ERROR;
	return 0;
}

/* Bytes read at once below a 3.11+ frame (a power of two). */
#define PMT_FRAME_WINDOW 1024

/* The target memory [w->win, w->win + w->win_len) of the current walk, per
 * CPU: too big for the callback's stack once the verifier needs variable
 * offsets into it.  Uprobe programs run with migration disabled but may be
 * preempted on a preemptible kernel (this VM boots "Dynamic Preempt: none");
 * another task's walk on the same CPU in between would mix windows.  Not
 * checked here: the caller must tell, as pymemtrace.bpf.c's python_stack()
 * does by marking its per-CPU output with the walking thread and dropping
 * a walk whose mark another thread replaced. */
struct pmt__frame_buf {
	__u8 b[PMT_FRAME_WINDOW];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pmt__frame_buf);
} pmt_frame_buf SEC(".maps");

/* Fields of the window at byte off; an offset past the buffer gives 0 (and
 * PMT_NO_OFFSET is past it). */
static __always_inline __u64 pmt__buf_u64(const struct pmt__frame_buf *fb, __u32 off)
{
	if (off > PMT_FRAME_WINDOW - 8)
		return 0;
	return *(const __u64 *)&fb->b[off];
}

static __always_inline __u32 pmt__buf_u32(const struct pmt__frame_buf *fb, __u32 off)
{
	if (off > PMT_FRAME_WINDOW - 4)
		return 0;
	return *(const __u32 *)&fb->b[off];
}

static __always_inline __u8 pmt__buf_u8(const struct pmt__frame_buf *fb, __u32 off)
{
	if (off > PMT_FRAME_WINDOW - 1)
		return 0;
	return fb->b[off];
}

/* A field of the frame at byte `at` of the window; PMT_NO_OFFSET stays past
 * the buffer. */
static __always_inline __u32 pmt__field(__u32 at, __u32 field)
{
	return field == PMT_NO_OFFSET ? PMT_NO_OFFSET : at + field;
}

/* Byte offset of the frame's current instruction in code's bytecode; -1
 * for an offset that cannot be real.  The frame starts at byte `at`. */
static __always_inline long long pmt__frame_offset(const struct pmt_pyoffsets *o,
						   const struct pmt__frame_buf *fb, __u32 at,
						   __u64 code)
{
	__u64 ip;
	int lasti;
	long long off;

	if (o->frame_kind == PMT_FRAME_OBJECT) {
		lasti = (int)pmt__buf_u32(fb, pmt__field(at, o->frame_instr));
		/* -1: not started yet */
		return lasti < 0 ? 0 : (long long)lasti << o->lasti_shift;
	}
	ip = pmt__buf_u64(fb, pmt__field(at, o->frame_instr));
	off = (long long)(ip - (code + o->code_adaptive));
	/* 3.11/3.12 point one instruction before the code while a frame is
	 * being set up ("incomplete" frames): show its first line. */
	if (off < 0)
		return off >= -2 ? 0 : -1;
	return off > 0x7fffffffLL ? -1 : off;
}

/* 1: skip this frame, 0: record it, -1: stop with ERROR. */
static __always_inline int pmt__frame_check(const struct pmt_pyoffsets *o,
					    const struct pmt__frame_buf *fb, __u32 at, __u64 code)
{
	__u64 type = 0;

	if (o->frame_owner != PMT_NO_OFFSET &&
	    pmt__buf_u8(fb, pmt__field(at, o->frame_owner)) == o->owner_cstack)
		return 1;
	if (!code || (code & 7))
		return -1;
	if (!o->skip_non_code)
		return 0;
	if (pmt__read_u64(code + o->ob_type, &type))
		return -1;
	return type == o->code_type ? 0 : 1;
}

/* The walk's state, on the BPF stack, shared with the bpf_loop callback. */
struct pmt__pywalk {
	const struct pmt_pyoffsets *o;
	struct pmt_pystack *out;
	__u64 frame;
	__u64 win;                /* target address of the window's first byte */
	__u32 win_len;            /* bytes of the window read; 0: none yet */
	__u32 no_window;          /* a window read failed: single frames from here */
	__u32 depth;
	__u32 flags;
};

/* Makes the window hold [frame, frame + len): from the window already read
 * when it does, else by a read.  Returns the frame's byte in the window, or
 * -1 when the frame cannot be read. */
static __always_inline long pmt__frame_in_window(struct pmt__pywalk *w, struct pmt__frame_buf *fb,
						 __u64 frame, __u32 len)
{
	__u64 start;

	if (w->win_len >= len && frame >= w->win && frame - w->win <= w->win_len - len)
		return (long)(frame - w->win);
	/* 3.11+: the callers sit below, so read up to the frame's end.  A
	 * window that reaches an unmapped page fails as a whole: then single
	 * frames for the rest of this walk. */
	if (w->o->frame_kind == PMT_FRAME_INTERP && !w->no_window && frame + len > PMT_FRAME_WINDOW) {
		start = frame + len - PMT_FRAME_WINDOW;
		if (!bpf_probe_read_user(fb->b, PMT_FRAME_WINDOW, (const void *)start)) {
			w->win = start;
			w->win_len = PMT_FRAME_WINDOW;
			return PMT_FRAME_WINDOW - len;
		}
		w->no_window = 1;
	}
	w->win_len = 0;
	if (bpf_probe_read_user(fb->b, len, (const void *)frame))
		return -1;
	w->win = frame;
	w->win_len = len;
	return 0;
}

/* One frame: record it (or skip a shim) and move to the caller.  A bpf_loop
 * callback, so the verifier checks the body once instead of once per frame
 * and depth.  Returns 1 to stop. */
static __attribute__((unused)) long pmt__pywalk_step(__u32 i, void *arg)
{
	struct pmt__pywalk *w = arg;
	const struct pmt_pyoffsets *o = w->o;
	struct pmt__frame_buf *fb;
	__u64 frame = w->frame, code;
	__u32 zero = 0, len = o->frame_read, at;
	long long off;
	long pos;
	int c;

	if (!frame)
		return 1;
	fb = bpf_map_lookup_elem(&pmt_frame_buf, &zero);
	if (!fb || !len || len > PMT_FRAME_READ_MAX)
		goto err;
	pos = pmt__frame_in_window(w, fb, frame, len);
	if (pos < 0 || pos > PMT_FRAME_WINDOW)
		goto err;
	at = (__u32)pos;
	code = pmt__buf_u64(fb, pmt__field(at, o->frame_code));
	c = pmt__frame_check(o, fb, at, code);
	if (c < 0)
		goto err;
	if (!c) {
		if (w->depth >= PMT_MAX_PYFRAMES) {
			w->flags |= PMT_PYSTACK_TRUNCATED;
			return 1;
		}
		off = pmt__frame_offset(o, fb, at, code);
		if (off < 0)
			goto err;
		w->out->frames[w->depth & (PMT_MAX_PYFRAMES - 1)].code = code;
		w->out->frames[w->depth & (PMT_MAX_PYFRAMES - 1)].offset = (__u32)off;
		w->out->frames[w->depth & (PMT_MAX_PYFRAMES - 1)]._pad = 0;
		w->depth++;
	}
	w->frame = pmt__buf_u64(fb, pmt__field(at, o->frame_back));
	/* the budget ran out with frames left */
	if (i == PMT_PYWALK_BUDGET - 1 && w->frame)
		w->flags |= PMT_PYSTACK_TRUNCATED;
	return 0;
err:
	w->flags |= PMT_PYSTACK_ERROR;
	return 1;
}

static __always_inline void pmt_pystack_walk(const struct pmt_pyoffsets *o, struct pmt_pystack *out)
{
	struct pmt__pywalk w = { .o = o, .out = out };
	__u64 fsbase, ts;

	out->depth = 0;
	out->flags = 0;
	if (!o->runtime || !o->frame_kind)
		goto no_tstate;
	fsbase = pmt__fsbase();
	ts = pmt__tstate(o, fsbase, &w.flags);
	if (!ts)
		goto no_tstate;
	w.frame = pmt__top_frame(o, ts, &w.flags);
	if (w.frame)
		bpf_loop(PMT_PYWALK_BUDGET, pmt__pywalk_step, &w, 0);
	out->depth = w.depth;
	out->flags = w.flags;
	return;
no_tstate:
	out->flags = w.flags | PMT_PYSTACK_NO_TSTATE;
}

#endif
