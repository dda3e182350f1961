/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The Python stack walker, for BPF programs only.  Include after vmlinux.h,
 * bpf_helpers.h and bpf_core_read.h.
 *
 *   pmt_pystack_walk(o, out)
 *
 * walks the current thread's Python frames, innermost first, into *out (see
 * bpf/pystack.h).  It never fails the program: what went wrong is in
 * out->flags.  The loop is bounded (PMT_PYWALK_BUDGET frame reads) and all
 * target memory is read with bpf_probe_read_user, so a hostile or torn stack
 * costs at most the budget.  Stack use is a few scalars: `out` is expected to
 * live in a map (a per-CPU array or a ring buffer record).
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

/* The current thread's PyThreadState, 0 when it has none. */
static __always_inline __u64 pmt__tstate(const struct pmt_pyoffsets *o, __u64 fsbase,
					  __u32 *flags)
{
	__u64 ts = 0;
	int key = -1;

	if (o->tstate_from == PMT_TSTATE_GILSTATE) {
		if (pmt__read_u64(o->runtime + o->tstate_current, &ts))
			*flags |= PMT_PYSTACK_ERROR;
		return ts;
	}
	/* The key is read every time: it is created during start-up, possibly
	 * after user space filled the offsets. */
	if (bpf_probe_read_user(&key, sizeof(key), (const void *)(o->runtime + o->tss_key))) {
		*flags |= PMT_PYSTACK_ERROR;
		return 0;
	}
	if (key < 0 || (__u32)key >= o->tls_keys)
		return 0;
	if (pmt__read_u64(fsbase + o->tls_specific + (__u64)key * o->tls_stride + o->tls_data, &ts))
		*flags |= PMT_PYSTACK_ERROR;
	return ts;
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

/* Byte offset of frame's current instruction in code's bytecode; -1 on a
 * failed read or an offset that cannot be real. */
static __always_inline long long pmt__frame_offset(const struct pmt_pyoffsets *o, __u64 frame,
						   __u64 code)
{
	__u64 ip = 0;
	int lasti = 0;
	long long off;

	if (o->frame_kind == PMT_FRAME_OBJECT) {
		if (bpf_probe_read_user(&lasti, sizeof(lasti), (const void *)(frame + o->frame_instr)))
			return -1;
		/* -1: not started yet */
		return lasti < 0 ? 0 : (long long)lasti << o->lasti_shift;
	}
	if (pmt__read_u64(frame + o->frame_instr, &ip))
		return -1;
	off = (long long)(ip - (code + o->code_adaptive));
	/* 3.11/3.12 point one instruction before the code while a frame is
	 * being set up ("incomplete" frames): show its first line. */
	if (off < 0)
		return off >= -2 ? 0 : -1;
	return off > 0x7fffffffLL ? -1 : off;
}

/* 1: skip this frame, 0: record it, -1: stop with ERROR. */
static __always_inline int pmt__frame_check(const struct pmt_pyoffsets *o, __u64 frame, __u64 code)
{
	__u64 type = 0;
	__u8 owner = 0;

	if (o->frame_owner != PMT_NO_OFFSET) {
		if (bpf_probe_read_user(&owner, sizeof(owner), (const void *)(frame + o->frame_owner)))
			return -1;
		if (owner == o->owner_cstack)
			return 1;
	}
	if (!code || pmt__read_u64(code + o->ob_type, &type))
		return -1;
	if (type != o->code_type)
		return o->skip_non_code ? 1 : -1;
	return 0;
}

static __always_inline void pmt_pystack_walk(const struct pmt_pyoffsets *o, struct pmt_pystack *out)
{
	__u64 fsbase, ts, frame, code;
	__u32 flags = 0, depth = 0;
	long long off;
	int i, c;

	out->depth = 0;
	out->flags = 0;
	if (!o->runtime || !o->frame_kind)
		goto no_tstate;
	fsbase = pmt__fsbase();
	ts = pmt__tstate(o, fsbase, &flags);
	if (!ts)
		goto no_tstate;
	/* Under gilstate, tstate_current is the GIL holder, maybe another
	 * thread; under TSS a stale slot must not be walked either. */
	if (pmt__read_u64(ts + o->tstate_thread_id, &code)) {
		flags |= PMT_PYSTACK_ERROR;
		goto out;
	}
	if (code != fsbase)
		goto no_tstate;
	frame = pmt__top_frame(o, ts, &flags);

#pragma clang loop unroll(disable)
	for (i = 0; i < PMT_PYWALK_BUDGET && frame; i++) {
		code = 0;
		if (pmt__read_u64(frame + o->frame_code, &code)) {
			flags |= PMT_PYSTACK_ERROR;
			break;
		}
		c = pmt__frame_check(o, frame, code);
		if (c < 0) {
			flags |= PMT_PYSTACK_ERROR;
			break;
		}
		if (!c) {
			if (depth >= PMT_MAX_PYFRAMES) {
				flags |= PMT_PYSTACK_TRUNCATED;
				break;
			}
			off = pmt__frame_offset(o, frame, code);
			if (off < 0) {
				flags |= PMT_PYSTACK_ERROR;
				break;
			}
			out->frames[depth & (PMT_MAX_PYFRAMES - 1)].code = code;
			out->frames[depth & (PMT_MAX_PYFRAMES - 1)].offset = (__u32)off;
			out->frames[depth & (PMT_MAX_PYFRAMES - 1)]._pad = 0;
			depth++;
		}
		if (pmt__read_u64(frame + o->frame_back, &frame)) {
			flags |= PMT_PYSTACK_ERROR;
			break;
		}
	}
	/* The budget ran out with frames left. */
	if (i >= PMT_PYWALK_BUDGET && frame)
		flags |= PMT_PYSTACK_TRUNCATED;
out:
	out->depth = depth;
	out->flags = flags;
	return;
no_tstate:
	out->flags = flags | PMT_PYSTACK_NO_TSTATE;
}

#endif
