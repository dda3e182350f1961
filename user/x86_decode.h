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

/* Finds the address passed as the first argument (rdi) to the first call in
 * the code: `lea X(%rip),%rdi` or `mov $X,%edi`.  Used on Py_GetVersion, which
 * snprintf()s into a static buffer.  0 or -ENOENT. */
int x86_first_call_arg0_addr(const uint8_t *code, size_t len, uint64_t vaddr,
			     unsigned max_insns, uint64_t *addr);

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
