/* Probe-site choice: see probe_site.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <capstone/capstone.h>
#include "log.h"
#include "probe_site.h"

#define MAX_PREFIX_INSNS 16     /* how far past the entry we look for an emulated site */
#define MAX_CALL_INSNS 16       /* ... and for the first call (probe_site_first_call) */
#define MAX_SCAN_INSNS 4096     /* branch-target scan of the whole function */

static bool is_branch(const cs_insn *in)
{
	const cs_detail *d = in->detail;

	for (unsigned i = 0; i < d->groups_count; i++)
		if (d->groups[i] == CS_GRP_JUMP || d->groups[i] == CS_GRP_CALL ||
		    d->groups[i] == CS_GRP_RET || d->groups[i] == CS_GRP_INT)
			return true;
	return false;
}

static bool has_rel_target(const cs_insn *in, uint64_t *target)
{
	const cs_x86 *x = &in->detail->x86;

	if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
		*target = (uint64_t)x->operands[0].imm;
		return true;
	}
	return false;
}

/* What the kernel's uprobe code emulates rather than single-steps
 * (arch/x86/kernel/uprobes.c: branch_setup_xol_ops, push_setup_xol_ops). */
static bool insn_emulated(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	uint64_t t;

	switch (in->id) {
	case X86_INS_NOP:
		return true;
	case X86_INS_PUSH:
		return x->op_count == 1 && x->operands[0].type == X86_OP_REG &&
		       x->operands[0].size == 8;
	case X86_INS_JMP:
	case X86_INS_CALL:
		return has_rel_target(in, &t);
	default:
		/* jcc rel8/rel32 */
		return is_branch(in) && in->id != X86_INS_RET && has_rel_target(in, &t) &&
		       in->id != X86_INS_LOOP && in->id != X86_INS_JRCXZ &&
		       in->id != X86_INS_JECXZ && in->id != X86_INS_LOOPE &&
		       in->id != X86_INS_LOOPNE;
	}
}

static unsigned reg_bit(x86_reg r)
{
	switch (r) {
	case X86_REG_RDI: case X86_REG_EDI: case X86_REG_DI: case X86_REG_DIL:
		return PS_RDI;
	case X86_REG_RSI: case X86_REG_ESI: case X86_REG_SI: case X86_REG_SIL:
		return PS_RSI;
	case X86_REG_RDX: case X86_REG_EDX: case X86_REG_DX: case X86_REG_DL: case X86_REG_DH:
		return PS_RDX;
	case X86_REG_RCX: case X86_REG_ECX: case X86_REG_CX: case X86_REG_CL: case X86_REG_CH:
		return PS_RCX;
	default:
		return 0;
	}
}

static bool writes_rsp(const cs_insn *in)
{
	const cs_detail *d = in->detail;

	if (in->id == X86_INS_PUSH || in->id == X86_INS_POP)
		return true;
	for (unsigned i = 0; i < d->regs_write_count; i++)
		if (d->regs_write[i] == X86_REG_RSP)
			return true;
	for (unsigned i = 0; i < d->x86.op_count; i++) {
		const cs_x86_op *op = &d->x86.operands[i];

		if (op->type == X86_OP_REG && op->reg == X86_REG_RSP && (op->access & CS_AC_WRITE))
			return true;
	}
	return false;
}

static unsigned regs_written(const cs_insn *in)
{
	const cs_detail *d = in->detail;
	unsigned bits = 0;

	for (unsigned i = 0; i < d->regs_write_count; i++)
		bits |= reg_bit(d->regs_write[i]);
	for (unsigned i = 0; i < d->x86.op_count; i++) {
		const cs_x86_op *op = &d->x86.operands[i];

		if (op->type == X86_OP_REG && (op->access & CS_AC_WRITE))
			bits |= reg_bit(op->reg);
	}
	return bits;
}

/* True if a branch anywhere in code lands in (entry, site]. */
static bool branch_into(csh h, const uint8_t *code, size_t len, uint64_t vaddr, uint64_t site)
{
	const uint8_t *p = code;
	size_t left = len;
	uint64_t a = vaddr, t;
	cs_insn *in = cs_malloc(h);
	bool hit = false;

	if (!in)
		return true;
	for (unsigned n = 0; n < MAX_SCAN_INSNS && cs_disasm_iter(h, &p, &left, &a, in); n++)
		if (is_branch(in) && has_rel_target(in, &t) && t > vaddr && t <= site) {
			hit = true;
			break;
		}
	cs_free(in, 1);
	return hit;
}

static void set_site(struct probe_site *out, const cs_insn *in, bool emulated)
{
	out->vaddr = in->address;
	out->emulated = emulated;
	fmt_msg(out->insn, sizeof(out->insn), "%s %s", in->mnemonic, in->op_str);
}

int probe_site_choose(const uint8_t *code, size_t len, uint64_t vaddr, unsigned keep,
		      bool for_return, struct probe_site *out)
{
	const uint8_t *p = code;
	size_t left = len;
	uint64_t a = vaddr;
	cs_insn *in;
	csh h;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -EINVAL;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	if (!in)
		goto out;
	for (unsigned n = 0; n < MAX_PREFIX_INSNS && cs_disasm_iter(h, &p, &left, &a, in); n++) {
		bool emu = insn_emulated(in);

		if (n == 0) {
			set_site(out, in, emu);
			fmt_msg(out->why, sizeof(out->why), "entry instruction '%s' is %s",
				 out->insn, emu ? "emulated" : "single-stepped (no better site found)");
			ret = 0;
		}
		if (emu) {
			if (n > 0 && branch_into(h, code, len, vaddr, in->address))
				break;
			if (n > 0) {
				set_site(out, in, true);
				fmt_msg(out->why, sizeof(out->why),
					 "first emulated instruction '%s' at +%llu; the %u before it "
					 "keep the arguments%s", out->insn,
					 (unsigned long long)(in->address - vaddr), n,
					 for_return ? " and %rsp" : "");
			}
			break;
		}
		/* Going past this instruction must keep what the probe reads. */
		if (is_branch(in) || (regs_written(in) & keep) || (for_return && writes_rsp(in)))
			break;
	}
out:
	if (in)
		cs_free(in, 1);
	cs_close(&h);
	return ret;
}

int probe_site_first_call(const uint8_t *code, size_t len, uint64_t vaddr, unsigned keep,
			  struct probe_site *out)
{
	const uint8_t *p = code;
	size_t left = len;
	uint64_t a = vaddr, t;
	cs_insn *in;
	csh h;
	int ret = -ENOENT;
	bool prot_rw = false, map_anon = false;

	memset(out, 0, sizeof(*out));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -EINVAL;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	for (unsigned n = 0; in && n < MAX_CALL_INSNS && cs_disasm_iter(h, &p, &left, &a, in); n++) {
		if (in->id == X86_INS_CALL && has_rel_target(in, &t)) {
			if (!branch_into(h, code, len, vaddr, in->address)) {
				set_site(out, in, true);
				fmt_msg(out->why, sizeof(out->why), "its first call, '%s' at +%llu, "
					"with the arguments intact", out->insn,
					(unsigned long long)(in->address - vaddr));
				ret = 0;
			}
			break;
		}
		if (in->id == X86_INS_MOV && !strcmp(in->op_str, "edx, 3"))
			prot_rw = true;
		if (in->id == X86_INS_MOV && !strcmp(in->op_str, "ecx, 0x22"))
			map_anon = true;
		if (is_branch(in) || (regs_written(in) & keep))
			break;
	}
	out->mmap_args = prot_rw && map_anon;
	if (in)
		cs_free(in, 1);
	cs_close(&h);
	return ret;
}

int probe_site_is_emulated(const uint8_t *code, size_t len, uint64_t vaddr, bool *emulated,
			   char *insn, size_t cap)
{
	const uint8_t *p = code;
	size_t left = len;
	uint64_t a = vaddr;
	cs_insn *in;
	csh h;
	int ret = -EINVAL;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -EINVAL;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	if (in && cs_disasm_iter(h, &p, &left, &a, in)) {
		*emulated = insn_emulated(in);
		if (insn && cap)
			fmt_msg(insn, cap, "%s", in->mnemonic);
		ret = 0;
	}
	if (in)
		cs_free(in, 1);
	cs_close(&h);
	return ret;
}
