/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Python stacks: types shared between the BPF walker (bpf/pystack.bpf.h) and
 * user space (user/pyoffsets.c fills struct pmt_pyoffsets, user/pysym.c
 * resolves struct pmt_pyframe).
 *
 * Contract:
 *  - The walker records, per frame, the code object's runtime address and the
 *    byte offset of the current instruction in its bytecode, innermost frame
 *    first.  Names and lines are decoded later, in user space, from target
 *    memory: BPF never reads strings.
 *  - CPython structs have no BTF, so every offset the walker needs comes from
 *    struct pmt_pyoffsets, filled per process by pyoffsets__fill() and handed
 *    to BPF through a map or rodata.
 *  - Only __u8/__u32/__u64 and fixed arrays, explicit padding; sizes asserted.
 */
#ifndef PMT_PYSTACK_H
#define PMT_PYSTACK_H

#ifndef __bpf__
#include <linux/types.h>  /* the BPF side gets these from vmlinux.h */
#endif

#define PMT_MAX_PYFRAMES 32

/* struct pmt_pystack.flags */
#define PMT_PYSTACK_TRUNCATED 1   /* more frames than PMT_MAX_PYFRAMES */
#define PMT_PYSTACK_ERROR     2   /* a read failed or a check failed mid-walk */
#define PMT_PYSTACK_NO_TSTATE 4   /* no current thread state (thread without the GIL, or not Python) */

struct pmt_pyframe {
	__u64 code;               /* code object runtime address */
	__u32 offset;             /* byte offset of the current instruction in the
	                           * bytecode, as co_lines()/PyCode_Addr2Line take it */
	__u32 _pad;
};

struct pmt_pystack {
	__u32 depth;              /* frames[0..depth) are valid, innermost first */
	__u32 flags;              /* PMT_PYSTACK_* */
	struct pmt_pyframe frames[PMT_MAX_PYFRAMES];
};

/* struct pmt_pyoffsets.frame_kind */
#define PMT_FRAME_OBJECT 1        /* 3.8-3.10: PyFrameObject chain, f_lasti is an int */
#define PMT_FRAME_INTERP 2        /* 3.11+: _PyInterpreterFrame chain, an instruction pointer */

/* struct pmt_pyoffsets.tstate_from */
#define PMT_TSTATE_GILSTATE 1     /* *(_PyRuntime + tstate_current): the GIL holder (3.8-3.11) */
#define PMT_TSTATE_TSS      2     /* the thread's pthread TSS slot for autoTSSkey (any version) */

#define PMT_NO_OFFSET 0xffffffffu /* "this version has no such field" */

/* Everything the walker needs for one process.  Offsets are in bytes, from
 * the start of the named CPython struct (see user/pyoffsets.c for where each
 * number comes from). */
struct pmt_pyoffsets {
	__u64 runtime;            /* runtime address of _PyRuntime */
	__u64 code_type;          /* runtime address of PyCode_Type */

	__u8 frame_kind;          /* PMT_FRAME_* */
	__u8 tstate_from;         /* PMT_TSTATE_* */
	__u8 lasti_shift;         /* f_lasti << lasti_shift = byte offset (1 on 3.10) */
	__u8 owner_cstack;        /* owner value of C-stack shim frames to skip, 0xff: none */
	__u8 skip_non_code;       /* 1: frames whose executable is not a code object are
	                           * skipped (3.13: Py_None); 0: they end the walk with ERROR */
	__u8 _pad0[3];

	__u32 tstate_current;     /* _PyRuntime: gilstate.tstate_current (GILSTATE) */
	__u32 tss_key;            /* _PyRuntime: the int key inside autoTSSkey (TSS),
	                           * 4 bytes after its int _is_initialized */
	/* glibc x86_64 struct pthread: specific_1stblock[key].data is at
	 * fsbase + tls_specific + key * tls_stride + tls_data, for key < tls_keys */
	__u32 tls_specific;
	__u32 tls_stride;
	__u32 tls_data;
	__u32 tls_keys;

	__u32 tstate_thread_id;   /* PyThreadState.thread_id: pthread_self() == fsbase */
	__u32 tstate_frame;       /* PyThreadState.frame / .cframe / .current_frame */
	__u32 cframe_frame;       /* _PyCFrame.current_frame, PMT_NO_OFFSET: tstate_frame
	                           * points straight at the frame */
	__u32 frame_back;         /* f_back / previous */
	__u32 frame_code;         /* f_code / f_executable */
	__u32 frame_instr;        /* f_lasti (int) or prev_instr / instr_ptr (pointer) */
	__u32 frame_owner;        /* owner (char), PMT_NO_OFFSET before 3.11 */
	__u32 code_adaptive;      /* PyCodeObject.co_code_adaptive (INTERP) */
	__u32 ob_type;            /* PyObject.ob_type */
	__u32 frame_read;         /* bytes from a frame's start that cover back, code,
	                           * instr and owner: one read per frame (at most
	                           * PMT_FRAME_READ_MAX) */
	__s32 tss_key_seen;       /* -1 from user space; the walker stores the TSS key
	                           * here once the target has created it */
	__u32 _pad1;
};

#define PMT_FRAME_READ_MAX 128

#ifndef __bpf__
_Static_assert(sizeof(struct pmt_pyframe) == 16, "pmt_pyframe layout");
_Static_assert(sizeof(struct pmt_pystack) == 8 + 16 * PMT_MAX_PYFRAMES, "pmt_pystack layout");
_Static_assert(sizeof(struct pmt_pyoffsets) == 96, "pmt_pyoffsets layout");
#endif

#endif
