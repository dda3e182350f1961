// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* CPython layouts for the Python stack walker and pysym: see pyoffsets.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "interp.h"
#include "pyoffsets.h"

/* One row per minor version, x86_64.  Every number was printed by offsetof()
 * or sizeof() in a program built with -DPy_BUILD_CORE against that pyenv
 * version's include/python3.X and include/python3.X/internal (3.8.18, 3.9.18,
 * 3.10.13, 3.11.7, 3.12.1, 3.13.0); Debian's 3.11.2 headers
 * (/usr/include/python3.11) give the same 3.11 row. */
struct pytable {
	int mm;
	uint32_t tstate_current;  /* _PyRuntimeState.gilstate.tstate_current (<= 3.11) */
	uint32_t autotss;         /* _PyRuntimeState.gilstate.autoTSSkey (<= 3.11) or .autoTSSkey */
	uint32_t thread_id;       /* PyThreadState.thread_id */
	uint32_t ts_frame;        /* PyThreadState.frame (<= 3.10), .cframe (3.11, 3.12),
	                           * .current_frame (3.13) */
	uint32_t cframe_frame;    /* _PyCFrame.current_frame (3.11, 3.12) */
	uint32_t f_back;          /* PyFrameObject.f_back / _PyInterpreterFrame.previous */
	uint32_t f_code;          /* PyFrameObject.f_code / _PyInterpreterFrame.f_code,
	                           * .f_executable (3.13) */
	uint32_t f_instr;         /* PyFrameObject.f_lasti (int) / _PyInterpreterFrame.prev_instr,
	                           * .instr_ptr (3.13) */
	uint32_t f_owner;         /* _PyInterpreterFrame.owner (char, 3.11+) */
	uint32_t co_argcount;     /* PyCodeObject.co_argcount (int) */
	uint32_t co_flags;        /* PyCodeObject.co_flags (int) */
	uint32_t co_firstlineno;  /* PyCodeObject.co_firstlineno (int) */
	uint32_t co_filename;     /* PyCodeObject.co_filename */
	uint32_t co_name;         /* PyCodeObject.co_name */
	uint32_t co_qualname;     /* PyCodeObject.co_qualname (3.11+) */
	uint32_t co_linetable;    /* PyCodeObject.co_lnotab (3.8, 3.9) / .co_linetable */
	uint32_t co_adaptive;     /* PyCodeObject.co_code_adaptive (3.11+) */
	uint32_t ascii_size;      /* sizeof(PyASCIIObject): compact ASCII data follows */
	uint32_t compact_size;    /* sizeof(PyCompactUnicodeObject): other compact data follows */
};

#define NO PMT_NO_OFFSET

static const struct pytable tables[] = {
	{ 308, 1368, 1392, 176, 24, NO, 24, 32, 104, NO, 16, 36, 40, 104, 112, NO, 120, NO, 48, 72 },
	{ 309,  568,  584, 176, 24, NO, 24, 32, 104, NO, 16, 36, 40, 104, 112, NO, 120, NO, 48, 72 },
	{ 310,  568,  584, 176, 24, NO, 24, 32,  96, NO, 16, 36, 40, 104, 112, NO, 120, NO, 48, 72 },
	{ 311,  576,  592, 152, 56,  8, 48, 32,  56, 69, 56, 48, 72, 112, 120, 128, 136, 184, 48, 72 },
	{ 312,   NO, 1544, 136, 56,  0,  8,  0,  56, 70, 52, 48, 68, 112, 120, 128, 136, 192, 40, 56 },
	{ 313,   NO, 2160, 152, 72, NO,  8,  0,  56, 70, 52, 48, 68, 112, 120, 128, 136, 200, 40, 56 },
};

/* Fields that did not move in 3.8-3.13. */
#define OB_TYPE       8   /* PyObject.ob_type */
#define BYTES_SIZE   16   /* PyVarObject.ob_size */
#define BYTES_DATA   32   /* PyBytesObject.ob_sval */
#define STR_LENGTH   16   /* PyASCIIObject.length */
#define STR_STATE    32   /* PyASCIIObject.state */
#define TSS_KEY       4   /* Py_tss_t._key, after int _is_initialized */

/* _PyInterpreterFrame.owner of the C stack shim frames (FRAME_OWNED_BY_CSTACK,
 * pycore_frame.h 3.12+); 3.11 has no shim frames. */
#define OWNER_CSTACK 3

/* glibc x86_64: struct pthread (at fsbase) keeps the first
 * PTHREAD_KEY_2NDLEVEL_SIZE (32) keys' values in specific_1stblock, an array
 * of { uintptr_t seq; void *data; } at offset 784. */
#define GLIBC_SPECIFIC 784
#define GLIBC_STRIDE   16
#define GLIBC_DATA     8
#define GLIBC_KEYS     32

/* _Py_DebugOffsets (pycore_runtime.h 3.13): byte offsets of the fields we
 * use, checked with offsetof() against 3.13.0's header. */
static const struct {
	const char *name;
	size_t dbg;                   /* where in _Py_DebugOffsets */
	size_t field;                 /* offsetof(struct py_layout, ...) */
} dbg_fields[] = {
	{ "thread_state.current_frame", 184, offsetof(struct py_layout, ts_frame) },
	{ "thread_state.thread_id", 192, offsetof(struct py_layout, ts_thread_id) },
	{ "interpreter_frame.previous", 232, offsetof(struct py_layout, f_back) },
	{ "interpreter_frame.executable", 240, offsetof(struct py_layout, f_code) },
	{ "interpreter_frame.instr_ptr", 248, offsetof(struct py_layout, f_instr) },
	{ "interpreter_frame.owner", 264, offsetof(struct py_layout, f_owner) },
	{ "code_object.filename", 280, offsetof(struct py_layout, co_filename) },
	{ "code_object.name", 288, offsetof(struct py_layout, co_name) },
	{ "code_object.qualname", 296, offsetof(struct py_layout, co_qualname) },
	{ "code_object.linetable", 304, offsetof(struct py_layout, co_linetable) },
	{ "code_object.firstlineno", 312, offsetof(struct py_layout, co_firstlineno) },
	{ "code_object.argcount", 320, offsetof(struct py_layout, co_argcount) },
	{ "code_object.co_code_adaptive", 344, offsetof(struct py_layout, co_code_adaptive) },
	{ "pyobject.ob_type", 360, offsetof(struct py_layout, ob_type) },
	{ "unicode_object.state", 544, offsetof(struct py_layout, str_state) },
	{ "unicode_object.length", 552, offsetof(struct py_layout, str_length) },
	{ "unicode_object.asciiobject_size", 560, offsetof(struct py_layout, str_ascii_data) },
};

/* Offsets beyond this are not believed from a debug-offsets table. */
#define DBG_MAX_OFFSET 4096

static int fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -ENOTSUP;
}

int pyoffsets__table(int mm, struct py_layout *out)
{
	const struct pytable *t = NULL;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (tables[i].mm == mm)
			t = &tables[i];
	if (!t)
		return -ENOTSUP;
	memset(out, 0, sizeof(*out));
	out->version_mm = mm;
	snprintf(out->source, sizeof(out->source), "table %d.%d", mm / 100, mm % 100);
	out->rt_tstate_current = t->tstate_current;
	out->rt_autotss_key = t->autotss + TSS_KEY;
	out->ts_thread_id = t->thread_id;
	out->ts_frame = t->ts_frame;
	out->cframe_frame = t->cframe_frame;
	out->f_back = t->f_back;
	out->f_code = t->f_code;
	out->f_instr = t->f_instr;
	out->f_owner = t->f_owner;
	out->frame_kind = mm >= 311 ? PMT_FRAME_INTERP : PMT_FRAME_OBJECT;
	/* 3.10's f_lasti counts 2-byte code units; 3.8/3.9's counts bytes */
	out->lasti_shift = mm == 310;
	out->owner_cstack = mm >= 312 ? OWNER_CSTACK : 0xff;
	/* 3.13 frames may hold Py_None as f_executable (pycore_frame.h) */
	out->skip_non_code = mm >= 313;
	out->ob_type = OB_TYPE;
	out->co_argcount = t->co_argcount;
	out->co_flags = t->co_flags;
	out->co_firstlineno = t->co_firstlineno;
	out->co_filename = t->co_filename;
	out->co_name = t->co_name;
	out->co_qualname = t->co_qualname;
	out->co_linetable = t->co_linetable;
	out->co_code_adaptive = t->co_adaptive;
	out->bytes_size = BYTES_SIZE;
	out->bytes_data = BYTES_DATA;
	out->str_length = STR_LENGTH;
	out->str_state = STR_STATE;
	out->str_ascii_data = t->ascii_size;
	out->str_compact_data = t->compact_size;
	return 0;
}

static uint32_t *layout_field(struct py_layout *l, size_t off)
{
	return (uint32_t *)((char *)l + off);
}

/* Replaces the table's numbers by the interpreter's own.  0, -ENOENT without
 * debug offsets, -ENOTSUP for values that cannot be offsets. */
static int apply_debug_offsets(struct interp *in, struct py_layout *l, int *differ)
{
	struct py_layout d = *l;
	uint64_t v;
	int err;

	*differ = 0;
	for (size_t i = 0; i < sizeof(dbg_fields) / sizeof(dbg_fields[0]); i++) {
		err = interp__debug_offset(in, dbg_fields[i].dbg, &v);
		if (err)
			return err;
		if (v >= DBG_MAX_OFFSET)
			return -ENOTSUP;
		if (*layout_field(&d, dbg_fields[i].field) != v)
			(*differ)++;
		*layout_field(&d, dbg_fields[i].field) = (uint32_t)v;
	}
	/* compact non-ASCII data follows the ASCII header and two more words */
	d.str_compact_data = d.str_ascii_data + (l->str_compact_data - l->str_ascii_data);
	*l = d;
	return 0;
}

int pyoffsets__cross_check(struct interp *in, char *buf, size_t len)
{
	struct py_layout t;
	size_t used = 0;
	uint64_t v;
	int differ = 0, err;

	if (pyoffsets__table(pyversion_mm(&in->version), &t))
		return -ENOTSUP;
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(dbg_fields) / sizeof(dbg_fields[0]); i++) {
		uint32_t want = *layout_field(&t, dbg_fields[i].field);

		err = interp__debug_offset(in, dbg_fields[i].dbg, &v);
		if (err)
			return err;
		differ += v != want;
		if (used < len)
			used += snprintf(buf + used, len - used, "%s %llu %u %s\n", dbg_fields[i].name,
					 (unsigned long long)v, want, v == want ? "ok" : "DIFFERS");
	}
	return differ;
}

static int find_addr(struct interp *in, const char *name, uint64_t *addr)
{
	struct elf_sym s;
	int err = interp__symbol(in, name, &s);

	if (err)
		return err;
	*addr = s.vaddr + in->load_bias;
	return 0;
}

int pyoffsets__layout(struct interp *in, struct py_layout *out, char *why, size_t whylen)
{
	int mm = pyversion_mm(&in->version), differ, err;

	if (in->free_threaded)
		return fail(why, whylen, "Python stacks: free-threaded CPython %s is not supported "
			    "(its objects have another layout)", in->version_str);
	if (pyoffsets__table(mm, out))
		return fail(why, whylen, "Python stacks: no struct offsets for CPython %s "
			    "(3.8 to 3.13 are supported)", in->version_str);
#ifndef __x86_64__
	return fail(why, whylen, "Python stacks: the offsets tables are for x86_64 only");
#endif
	if (find_addr(in, "_PyRuntime", &out->runtime))
		return fail(why, whylen, "Python stacks: no symbol '_PyRuntime' in '%s'", in->map_path);
	if (find_addr(in, "PyCode_Type", &out->code_type))
		return fail(why, whylen, "Python stacks: no symbol 'PyCode_Type' in '%s'", in->map_path);
	if (mm < 313)
		return 0;
	err = apply_debug_offsets(in, out, &differ);
	if (err == -ENOENT)
		return fail(why, whylen, "Python stacks: CPython %s without _Py_DebugOffsets at "
			    "_PyRuntime", in->version_str);
	if (err)
		return fail(why, whylen, "Python stacks: _Py_DebugOffsets of '%s' are not plausible",
			    in->map_path);
	snprintf(out->source, sizeof(out->source), "_Py_DebugOffsets (%s table %d.%d)",
		 differ ? "differs from" : "matches", mm / 100, mm % 100);
	return 0;
}

static uint32_t span_end(uint32_t off, uint32_t size, uint32_t end)
{
	return off != PMT_NO_OFFSET && off + size > end ? off + size : end;
}

/* The walker reads each frame once, from its start to the end of the last
 * field it needs. */
static uint32_t frame_read_len(const struct pmt_pyoffsets *o)
{
	uint32_t end = 0;

	end = span_end(o->frame_back, 8, end);
	end = span_end(o->frame_code, 8, end);
	end = span_end(o->frame_instr, o->frame_kind == PMT_FRAME_OBJECT ? 4 : 8, end);
	end = span_end(o->frame_owner, 1, end);
	return end;
}

int pyoffsets__fill(struct interp *in, struct pmt_pyoffsets *out, char *why, size_t whylen)
{
	struct py_layout l;
	int err = pyoffsets__layout(in, &l, why, whylen);

	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	out->runtime = l.runtime;
	out->code_type = l.code_type;
	out->frame_kind = l.frame_kind;
	/* The thread's own TSS slot (the autoTSSkey of PyGILState, set for every
	 * thread that ran Python) names its thread state whether or not it
	 * holds the GIL, so C code that released the GIL (ctypes, numpy, I/O)
	 * still has the Python stack that called it.  The GIL holder that 3.8-
	 * 3.11 publish in _PyRuntime is the fallback: without the GIL it is
	 * another thread, or none (3.12 keeps it in a C thread-local). */
	out->tstate_from = l.rt_autotss_key != PMT_NO_OFFSET ? PMT_TSTATE_TSS
							      : PMT_TSTATE_GILSTATE;
	out->lasti_shift = l.lasti_shift;
	out->owner_cstack = l.owner_cstack;
	out->skip_non_code = l.skip_non_code;
	out->tstate_current = l.rt_tstate_current;
	out->tss_key = l.rt_autotss_key;
	out->tls_specific = GLIBC_SPECIFIC;
	out->tls_stride = GLIBC_STRIDE;
	out->tls_data = GLIBC_DATA;
	out->tls_keys = GLIBC_KEYS;
	out->tss_key_seen = -1;
	out->tstate_thread_id = l.ts_thread_id;
	out->tstate_frame = l.ts_frame;
	out->cframe_frame = l.cframe_frame;
	out->frame_back = l.f_back;
	out->frame_code = l.f_code;
	out->frame_instr = l.f_instr;
	/* 3.11 frames have an owner, but no shim frames to skip by it */
	out->frame_owner = l.owner_cstack != 0xff ? l.f_owner : PMT_NO_OFFSET;
	out->code_adaptive = l.co_code_adaptive;
	out->ob_type = l.ob_type;
	out->frame_read = frame_read_len(out);
	if (out->frame_read > PMT_FRAME_READ_MAX) {
		snprintf(why, whylen, "frame fields span %u bytes, the walker reads at most %u",
			 out->frame_read, PMT_FRAME_READ_MAX);
		return -ENOTSUP;
	}
	return 0;
}

/* ---- the GC lists, for the heap census ------------------------------------ */

/* Printed by offsetof()/sizeof() as the table above (same headers, with
 * internal/pycore_runtime.h, pycore_interp.h and pycore_gc.h; 3.8's from
 * pycore_pystate.h and pycore_pymem.h).  Debian's 3.11.2 gives the 3.11 row. */
static const struct {
	int mm;
	uint32_t interp_head;     /* _PyRuntimeState.interpreters.head */
	uint32_t gc_state;        /* _PyRuntimeState.gc (3.8) / PyInterpreterState.gc */
	uint32_t interp_next;     /* PyInterpreterState.next */
} gc_tables[] = {
	{ 308,  32,  344,    0 },
	{ 309,  32,  616,    0 },
	{ 310,  32,  616,    0 },
	{ 311,  40,  648,    0 },
	{ 312,  40,  112,    0 },
	{ 313, 632, 7400, 7264 },
};

/* The same in every row: struct _gc_runtime_state.generations and
 * .permanent_generation, sizeof(struct gc_generation) (PyGC_Head, int
 * threshold, int count), sizeof(PyGC_Head), and PyTypeObject's fields. */
#define GC_GENERATIONS    24
#define GC_GENERATION_SZ  24
#define GC_N_GENERATIONS   3
#define GC_PERMANENT     104
#define GC_HEAD_SIZE      16
#define OB_SIZE           16
#define TP_NAME           24
#define TP_BASICSIZE      32
#define TP_ITEMSIZE       40
#define TP_FLAGS         168
#define TPF_MANAGED_WEAKREF (1ul << 3)   /* 3.12+ */
#define TPF_MANAGED_DICT    (1ul << 4)   /* 3.11+ */

/* Where in _Py_DebugOffsets (3.13.0 header, offsetof()). */
#define DBG_INTERPRETERS_HEAD 40
#define DBG_INTERP_NEXT       64
#define DBG_INTERP_GC         80
#define DBG_OB_TYPE          360
#define DBG_TP_NAME          376
#define DBG_TP_FLAGS         392

/* Takes the interpreter's own value for *field; counts those that differ. */
static int dbg_u32(struct interp *in, size_t at, uint32_t *field, int *differ)
{
	uint64_t v;
	int err = interp__debug_offset(in, at, &v);

	if (err)
		return err;
	/* the GC state lies 7400 bytes into 3.13's interpreter state */
	if (v >= DBG_MAX_OFFSET * 4)
		return -ENOTSUP;
	*differ += v != *field;
	*field = (uint32_t)v;
	return 0;
}

int pyoffsets__gc_layout(struct interp *in, struct py_gc_layout *out, char *why, size_t whylen)
{
	int mm = pyversion_mm(&in->version), differ = 0, err = 0;
	size_t i, n = sizeof(gc_tables) / sizeof(gc_tables[0]);

	if (in->free_threaded)
		return fail(why, whylen, "heap census: free-threaded CPython %s is not supported "
			    "(it has no GC lists)", in->version_str);
	for (i = 0; i < n && gc_tables[i].mm != mm; i++)
		;
	if (i == n)
		return fail(why, whylen, "heap census: no GC offsets for CPython %s (3.8 to 3.13 "
			    "are supported)", in->version_str);
#ifndef __x86_64__
	return fail(why, whylen, "heap census: the offsets tables are for x86_64 only");
#endif
	memset(out, 0, sizeof(*out));
	out->version_mm = mm;
	if (find_addr(in, "_PyRuntime", &out->runtime))
		return fail(why, whylen, "heap census: no symbol '_PyRuntime' in '%s'", in->map_path);
	out->rt_interp = gc_tables[i].interp_head;
	out->interp_next = gc_tables[i].interp_next;
	out->gc_in_runtime = mm == 308;
	out->gc_state = gc_tables[i].gc_state;
	out->gc_generations = GC_GENERATIONS;
	out->gc_generation_size = GC_GENERATION_SZ;
	out->gc_n_generations = GC_N_GENERATIONS;
	out->gc_permanent = GC_PERMANENT;
	/* right after the permanent generation, 3.8 to 3.13 */
	out->gc_stats = GC_PERMANENT + GC_GENERATION_SZ;
	out->gc_head_size = GC_HEAD_SIZE;
	out->ob_type = OB_TYPE;
	out->ob_size = OB_SIZE;
	out->tp_name = TP_NAME;
	out->tp_basicsize = TP_BASICSIZE;
	out->tp_itemsize = TP_ITEMSIZE;
	out->tp_flags = TP_FLAGS;
	out->preheader_flags = mm >= 312 ? TPF_MANAGED_DICT | TPF_MANAGED_WEAKREF :
			       mm == 311 ? TPF_MANAGED_DICT : 0;
	out->long_tag = mm >= 312;
	snprintf(out->source, sizeof(out->source), "table %d.%d", mm / 100, mm % 100);
	if (mm < 313)
		return 0;
	/* The debug offsets locate the GC state; its inner layout is the table's. */
	if (!err)
		err = dbg_u32(in, DBG_INTERPRETERS_HEAD, &out->rt_interp, &differ);
	if (!err)
		err = dbg_u32(in, DBG_INTERP_NEXT, &out->interp_next, &differ);
	if (!err)
		err = dbg_u32(in, DBG_INTERP_GC, &out->gc_state, &differ);
	if (!err)
		err = dbg_u32(in, DBG_OB_TYPE, &out->ob_type, &differ);
	if (!err)
		err = dbg_u32(in, DBG_TP_NAME, &out->tp_name, &differ);
	if (!err)
		err = dbg_u32(in, DBG_TP_FLAGS, &out->tp_flags, &differ);
	if (err == -ENOENT)
		return fail(why, whylen, "heap census: CPython %s without _Py_DebugOffsets at "
			    "_PyRuntime", in->version_str);
	if (err)
		return fail(why, whylen, "heap census: _Py_DebugOffsets of '%s' are not plausible",
			    in->map_path);
	snprintf(out->source, sizeof(out->source), "_Py_DebugOffsets (%s table %d.%d)",
		 differ ? "differs from" : "matches", mm / 100, mm % 100);
	return 0;
}
