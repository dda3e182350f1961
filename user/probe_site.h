/* Choosing where in a function to put a uprobe.
 *
 * On x86-64 the kernel emulates a few instructions in place (push of a
 * register, nop, jmp/call/jcc with a relative target) and single-steps every
 * other one out of line, which costs about 16 times more (DESIGN-NOTES
 * section 2: ~0.5 us against ~12 us).  A probe may move from the entry to the
 * first emulated instruction if every call still passes there with what the
 * BPF program reads intact:
 *   - no instruction before it branches, or writes a register in `keep`;
 *   - with `for_return`, none changes %rsp either (a uretprobe swaps the
 *     return address at *%rsp);
 *   - no branch inside the function lands between the entry and the site.
 */
#ifndef PMT_PROBE_SITE_H
#define PMT_PROBE_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bits for `keep`: the System V argument registers. */
#define PS_RDI (1u << 0)
#define PS_RSI (1u << 1)
#define PS_RDX (1u << 2)
#define PS_RCX (1u << 3)

struct probe_site {
	uint64_t vaddr;           /* where to probe */
	bool emulated;            /* the instruction there is emulated */
	char insn[48];            /* its text, e.g. "push rbx" */
	char why[160];
	bool mmap_args;           /* probe_site_first_call: before the call, %edx was set
	                           * to PROT_READ|PROT_WRITE (3) and %ecx to
	                           * MAP_PRIVATE|MAP_ANONYMOUS (0x22): an anonymous mmap */
};

/* code/len: the function's bytes from its entry at vaddr (len = its size
 * when known, else a window; branch targets are only checked inside it).
 * Always succeeds for decodable code: falls back to the entry.  0, or
 * -EINVAL when the first instruction does not decode. */
int probe_site_choose(const uint8_t *code, size_t len, uint64_t vaddr, unsigned keep,
		      bool for_return, struct probe_site *out);

/* Whether the kernel emulates the instruction at the start of code rather
 * than single-stepping it; *insn receives its text.  0, or -EINVAL when it
 * does not decode.  The one place that knows which instructions are cheap. */
int probe_site_is_emulated(const uint8_t *code, size_t len, uint64_t vaddr, bool *emulated,
			   char *insn, size_t cap);

/* The first direct call in the function, if every path from the entry
 * reaches it with the registers in `keep` unchanged (no branch or write to
 * them before it).  A direct call is emulated.  0, or -ENOENT. */
int probe_site_first_call(const uint8_t *code, size_t len, uint64_t vaddr, unsigned keep,
			  struct probe_site *out);

#endif
