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

/* Whether the kernel's uprobe code emulates the instruction at the start of
 * code (push, nop, ...) rather than single-stepping it; *mnemonic receives the
 * decoded mnemonic (cap bytes).  -EINVAL if it does not decode. */
int x86_insn_is_emulated(const uint8_t *code, size_t len, uint64_t vaddr,
			 bool *emulated, char *mnemonic, size_t cap);

#endif
