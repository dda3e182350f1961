/* Small x86-64 code analyses built on Capstone, for choosing probe sites and
 * for finding data addresses that a stripped, LTO-built interpreter only
 * reveals through its exported functions' code.
 *
 * All functions take the raw bytes of a function (read from the ELF file) and
 * the vaddr of its first byte; they never touch the target.
 */
#ifndef PMT_X86_DECODE_H
#define PMT_X86_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Finds the first data address the code loads or stores through a RIP-relative
 * memory operand or an absolute 32-bit immediate/displacement used as a memory
 * operand (non-PIE), within the first max_insns instructions.  Used on
 * PyObject_GetArenaAllocator, whose first load reads the hidden allocator
 * struct.  0 and *addr set, or -ENOENT. */
int x86_first_data_ref(const uint8_t *code, size_t len, uint64_t vaddr,
		       unsigned max_insns, uint64_t *addr);

/* Finds the constant that integer argument argidx (0 rdi, 1 rsi, 2 rdx, 3 rcx,
 * 4 r8, 5 r9) holds at the first call where it holds one, following the
 * fall-through path only: `lea X(%rip),%reg`, `mov $X,%reg32`, or a copy of a
 * register set that way (`lea X(%rip),%rbx; ...; mov %rbx,%rdi`).  Used on
 * Py_GetVersion, whose PyOS_snprintf call gets the static version buffer as
 * arg 0 and the PY_VERSION literal as arg 3.  0, -EINVAL (argidx > 5) or
 * -ENOENT. */
int x86_call_arg_addr(const uint8_t *code, size_t len, uint64_t vaddr,
		      unsigned max_insns, unsigned argidx, uint64_t *addr);

/* x86_call_arg_addr(..., 0, addr). */
int x86_first_call_arg0_addr(const uint8_t *code, size_t len, uint64_t vaddr,
			     unsigned max_insns, uint64_t *addr);

/* Finds where a getter that copies a struct into *arg0 reads it from, when
 * the struct lives inside an object reached through a pointer loaded from
 * static memory (a GOT slot in PIC code):
 *     mov  G(%rip),%rbp           # the pointer, *slot = G
 *     ...                         # anything else, calls included
 *     movdqu D(%rbp),%xmm0
 *     movups %xmm0,(%rbx)         # %rbx is a copy of %rdi: *disp = D
 * The first store through (a copy of) the incoming rdi decides: it must store
 * a value loaded from [pointer + D] at offset K of *arg0 (0 <= K <= 64), and
 * the struct then starts at D - K.  Loads and stores that go elsewhere, such
 * as a lock taken first, are not mistaken for the struct.  Fall-through path
 * only.  Used on 3.12+'s PyObject_GetArenaAllocator, which copies an
 * allocator struct out of _PyRuntime.  0, or -ENOENT when the first store
 * into *arg0 is anything else (e.g. a struct read from a static address,
 * which x86_first_data_ref finds). */
int x86_struct_copy_via_ptr(const uint8_t *code, size_t len, uint64_t vaddr,
			    unsigned max_insns, uint64_t *slot, int64_t *disp);

/* Argument-register use in a function prologue: which of the first two
 * integer argument registers (rdi, rsi) are read as 32-bit (edi/esi) before
 * being overwritten, within max_insns instructions.  Bit 0: edi, bit 1: esi.
 * Used to tell where GCC's constprop clones of CPython 3.8's collect() keep
 * the `int generation` argument. */
unsigned x86_int32_arg_reads(const uint8_t *code, size_t len, uint64_t vaddr,
			     unsigned max_insns);


/* ---- a flat instruction view, for pattern scanners ----------------------
 * lto_sites.c matches allocator code shapes instruction by instruction; it
 * sees instructions through this view so that Capstone stays in this file.
 * Registers are GPR indexes 0..15 (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi,
 * r8..r15), whatever the width used; X86V_NOREG for none, X86V_RIP for a
 * RIP-relative base (the operand's `addr` is then already absolute). */
#define X86V_NOREG (-1)
#define X86V_RIP 16

enum x86v_class {
	X86V_OTHER = 0,
	X86V_MOV,       /* mov/movabs, same width (no extension) */
	X86V_LEA,
	X86V_CMP,
	X86V_TEST,
	X86V_AND,
	X86V_JCC,       /* conditional jump with a direct target */
	X86V_JMP,       /* direct jmp */
	X86V_JMP_IND,   /* indirect jmp (tail calls through a pointer, tables) */
	X86V_CALL,      /* direct call */
	X86V_CALL_IND,
	X86V_RET,
	X86V_NOP,
	X86V_UD,        /* ud2, int3, hlt: the path ends */
};

enum x86v_cc {
	X86V_CC_OTHER = 0,
	X86V_CC_E, X86V_CC_NE,   /* je/jz, jne/jnz */
	X86V_CC_A, X86V_CC_AE,   /* unsigned >, >= */
	X86V_CC_B, X86V_CC_BE,   /* unsigned <, <= */
};

enum x86v_op_type { X86V_OP_NONE = 0, X86V_OP_REG, X86V_OP_IMM, X86V_OP_MEM };

struct x86v_op {
	enum x86v_op_type type;
	unsigned size;           /* bytes */
	int reg;                 /* X86V_OP_REG: GPR index, or X86V_NOREG (not a GPR) */
	int64_t imm;             /* X86V_OP_IMM, sign-extended */
	int base, index;         /* X86V_OP_MEM: GPR index, X86V_RIP or X86V_NOREG */
	unsigned scale;
	int64_t disp;
	bool seg;                /* %fs/%gs-relative: thread-local, never static */
	bool is_static;          /* X86V_OP_MEM with no base (or RIP) and no index */
	uint64_t addr;           /* is_static: the absolute address */
};

struct x86v_insn {
	uint64_t vaddr;
	unsigned len;
	enum x86v_class cls;
	enum x86v_cc cc;         /* X86V_JCC: the condition */
	uint64_t target;         /* JCC, JMP, CALL: the direct target */
	unsigned nops;           /* explicit operands, Intel order (destination first) */
	struct x86v_op op[3];
	uint32_t gpr_written;    /* bit i: GPR i written (implicit writes included);
	                          * all bits set when Capstone cannot tell */
	bool emulated;           /* the kernel's uprobe code emulates it in place:
	                          * push reg, nop, direct jmp/call, jcc rel8/rel32
	                          * (arch/x86/kernel/uprobes.c branch_setup_xol_ops,
	                          * since Linux 3.15); everything else is single-stepped */
	char text[64];           /* "mnemonic operands", Intel syntax */
};

struct x86v;

/* A reusable decoder (one Capstone handle).  NULL and errno on failure. */
struct x86v *x86v__new(void);
void x86v__free(struct x86v *d);                         /* NULL is a no-op */

/* Decodes the one instruction at the start of code (vaddr is its address).
 * 0, or -EINVAL when the bytes do not decode. */
int x86v__decode(struct x86v *d, const uint8_t *code, size_t len, uint64_t vaddr,
		 struct x86v_insn *out);

/* "rax".."r15" for a GPR index, "?" otherwise. */
const char *x86v_gpr_name(int gpr);

#endif
