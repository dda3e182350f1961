/* CPython struct layouts for reading Python stacks from outside the process.
 *
 * CPython has no BTF, so the offsets of its thread state, frames, code and
 * string objects come from a table per minor version (3.8-3.13, x86_64, each
 * number checked with offsetof() against that version's internal headers; see
 * user/pyoffsets.c), or on 3.13+ from the interpreter's own _Py_DebugOffsets,
 * which is preferred and cross-checked against the table.
 *
 * Two consumers: the BPF walker gets struct pmt_pyoffsets (bpf/pystack.h);
 * user/pysym.c reads code objects and strings through struct py_layout.
 */
#ifndef PMT_PYOFFSETS_H
#define PMT_PYOFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pystack.h"

struct interp;

/* Everything either side needs, for one interpreter.  Offsets in bytes;
 * PMT_NO_OFFSET where the version has no such field. */
struct py_layout {
	int version_mm;               /* 308 .. 313 */
	uint64_t runtime;             /* runtime address of _PyRuntime (0 for a file) */
	uint64_t code_type;           /* runtime address of PyCode_Type */
	char source[96];              /* "table 3.11" or "_Py_DebugOffsets (matches table 3.13)" */

	/* thread state and frames */
	uint32_t rt_tstate_current;   /* _PyRuntime.gilstate.tstate_current */
	uint32_t rt_autotss_key;      /* _PyRuntime...autoTSSkey._key (the int) */
	uint32_t ts_thread_id, ts_frame, cframe_frame;
	uint32_t f_back, f_code, f_instr, f_owner;
	uint8_t frame_kind;           /* PMT_FRAME_OBJECT / PMT_FRAME_INTERP */
	uint8_t lasti_shift;
	uint8_t owner_cstack;         /* 0xff: none */
	uint8_t skip_non_code;

	/* objects */
	uint32_t ob_type;
	uint32_t co_argcount, co_flags, co_firstlineno;   /* ints */
	uint32_t co_filename, co_name, co_qualname;       /* str pointers */
	uint32_t co_linetable;        /* bytes: co_lnotab (3.8/3.9) or co_linetable */
	uint32_t co_code_adaptive;
	uint32_t bytes_size, bytes_data;                  /* PyBytesObject ob_size, ob_sval */
	uint32_t str_length, str_state;                   /* PyASCIIObject length, state */
	uint32_t str_ascii_data;      /* sizeof(PyASCIIObject) */
	uint32_t str_compact_data;    /* sizeof(PyCompactUnicodeObject) */
};

/* PyASCIIObject.state bits, the same in 3.8-3.13 (checked per version). */
#define PY_STATE_KIND_SHIFT 2
#define PY_STATE_KIND_MASK  7
#define PY_STATE_COMPACT    0x20
#define PY_STATE_ASCII      0x40

/* Fills *out for the interpreter.  0, or -ENOTSUP with the reason in `why`
 * (a version without a table, a free-threaded build, _PyRuntime or
 * PyCode_Type missing, debug offsets that make no sense). */
int pyoffsets__layout(struct interp *in, struct py_layout *out, char *why, size_t whylen);

/* The walker's offsets, from pyoffsets__layout.  0, or -ENOTSUP with the
 * reason (e.g. version without a table). */
int pyoffsets__fill(struct interp *in, struct pmt_pyoffsets *out, char *why, size_t whylen);

/* The table alone, for a version: 0 or -ENOTSUP.  runtime and code_type are 0. */
int pyoffsets__table(int version_mm, struct py_layout *out);

/* Where the GC keeps its lists, and what the census reads of each object and
 * type (user/census_gc.c).  Addresses are runtime addresses in the target. */
struct py_gc_layout {
	int version_mm;
	uint64_t runtime;             /* &_PyRuntime */
	uint32_t rt_interp;           /* _PyRuntime.interpreters.head (an interpreter state *) */
	uint32_t interp_next;         /* PyInterpreterState.next: the list ends at the main one */
	bool gc_in_runtime;           /* 3.8: the GC state is _PyRuntime.gc, not per interpreter */
	uint32_t gc_state;            /* offset of struct _gc_runtime_state in _PyRuntime (3.8)
	                               * or in PyInterpreterState (3.9+) */
	uint32_t gc_generations;      /* _gc_runtime_state.generations[0] */
	uint32_t gc_generation_size;  /* sizeof(struct gc_generation) */
	uint32_t gc_n_generations;    /* NUM_GENERATIONS */
	uint32_t gc_permanent;        /* _gc_runtime_state.permanent_generation */
	uint32_t gc_stats;            /* _gc_runtime_state.generation_stats[0]: collections,
	                               * collected, uncollectable (Py_ssize_t each) */
	uint32_t gc_head_size;        /* sizeof(PyGC_Head): the object follows it */
	uint32_t ob_type, ob_size;    /* PyObject.ob_type, PyVarObject.ob_size */
	uint32_t tp_name, tp_basicsize, tp_itemsize, tp_flags;  /* PyTypeObject */
	uint64_t preheader_flags;     /* tp_flags bits that add two words before the GC head
	                               * (managed dict 3.11+, managed weakref 3.12+) */
	bool long_tag;                /* 3.12+: an int's ob_size is lv_tag (digits << 3) */
	char source[96];
};

/* Py_TPFLAGS_* bits the census checks, the same in 3.8-3.13. */
#define PY_TPFLAGS_LONG_SUBCLASS (1ul << 24)
#define PY_TPFLAGS_HAVE_GC       (1ul << 14)
#define PY_TPFLAGS_HEAPTYPE      (1ul << 9)
#define PY_TPFLAGS_TYPE_SUBCLASS (1ul << 31)

/* Fills *out for the interpreter: the table, and on 3.13+ the interpreter's
 * _Py_DebugOffsets for what they cover (interpreters_head, the interpreter's
 * next and GC state, tp_name, tp_flags, ob_type).  0, or -ENOTSUP with the reason. */
int pyoffsets__gc_layout(struct interp *in, struct py_gc_layout *out, char *why, size_t whylen);

/* On 3.13+, compares _Py_DebugOffsets with the table and writes one line per
 * field into buf ("current_frame 72 72 ok").  Returns the number of fields
 * that differ, or -ENOENT when the interpreter has no debug offsets. */
int pyoffsets__cross_check(struct interp *in, char *buf, size_t len);

#endif
