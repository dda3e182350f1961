/* USDT argument specs (the third string of a stapsdt note, e.g.
 * "-4@112(%rsp) 8@%rax -4@$5"), decoded so that a BPF program attached
 * through a uprobe_multi link can read an argument from pt_regs itself:
 * libbpf's bpf_program__attach_usdt does this only for the perf-event
 * uprobes it creates (libbpf 1.1).
 *
 * Each argument is "[-]SIZE@OPERAND": SIZE 1, 2, 4 or 8 bytes, '-' for
 * signed.  Operands read here (x86-64, as GCC's sdt.h writes them):
 *   %reg           a general-purpose register, any width (%edi, %r12, %r9d...)
 *   $imm           a constant
 *   disp(%reg)     memory at reg + disp (disp may be empty or negative)
 * Other forms (symbols, index registers, %rip, %ah-style high bytes) are
 * refused with -ENOTSUP: the caller then keeps libbpf's perf-event path.
 *
 * The notes come from the target's file: the parser is bounds-checked and
 * never trusts a length.
 */
#ifndef PMT_USDT_ARGS_H
#define PMT_USDT_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum usdt_arg_kind {
	USDT_ARG_REG,             /* the register's value */
	USDT_ARG_DEREF,           /* memory at register + off */
	USDT_ARG_CONST,           /* off is the value */
};

struct usdt_arg {
	enum usdt_arg_kind kind;
	int reg;                  /* x86 GPR index (x86_decode.h: rax 0 ... r15 15) */
	unsigned size;            /* bytes: 1, 2, 4 or 8 */
	bool is_signed;
	int64_t off;              /* DEREF: displacement; CONST: the value */
};

/* Decodes argument idx (from 0) of args.  0; -ENOENT: fewer arguments;
 * -EINVAL: malformed; -ENOTSUP: a form not read here.  why (may be NULL)
 * receives the reason on error. */
int usdt_arg_parse(const char *args, unsigned idx, struct usdt_arg *out, char *why,
		   size_t whylen);

/* The attach cookie the BPF side decodes (pymemtrace.h PMT_USDT_*).
 * 0, or -ERANGE when off does not fit its 24 bits. */
int usdt_arg_cookie(const struct usdt_arg *a, uint64_t *cookie);

/* "4 bytes signed at 112(%rsp)", for the plan's how strings. */
void usdt_arg_describe(const struct usdt_arg *a, char *buf, size_t len);

#endif
