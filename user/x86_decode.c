/* x86-64 code analyses on Capstone: see x86_decode.h.
 *
 * The bytes come from a file the target controls, so every walk is bounded by
 * both len and max_insns and stops at the first byte sequence that does not
 * decode.  The analyses are linear (they follow fall-through only): good enough
 * for the short, well-known prologues they are used on, and every result is
 * checked by the caller against the file or the target before it is trusted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <capstone/capstone.h>
#include "probe_site.h"
#include "x86_decode.h"

#define NGPR 16

/* One decoding pass: a Capstone handle with details on, and the cursor. */
struct walk {
	csh cs;
	cs_insn *insn;
	const uint8_t *code;
	size_t left;
	uint64_t pc;
	unsigned budget;
};

static int walk__init(struct walk *w, const uint8_t *code, size_t len, uint64_t vaddr,
		      unsigned max_insns)
{
	memset(w, 0, sizeof(*w));
	if (!code && len)
		return -EINVAL;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &w->cs) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(w->cs, CS_OPT_DETAIL, CS_OPT_ON);
	w->insn = cs_malloc(w->cs);
	if (!w->insn) {
		cs_close(&w->cs);
		return -ENOMEM;
	}
	w->code = code;
	w->left = len;
	w->pc = vaddr;
	w->budget = max_insns;
	return 0;
}

/* Decodes the next instruction into w->insn; false at the end of the budget,
 * the end of the bytes, or an undecodable sequence. */
static bool walk__next(struct walk *w)
{
	if (!w->budget || !w->left)
		return false;
	w->budget--;
	return cs_disasm_iter(w->cs, &w->code, &w->left, &w->pc, w->insn);
}

static void walk__fini(struct walk *w)
{
	if (w->insn)
		cs_free(w->insn, 1);
	if (w->cs)
		cs_close(&w->cs);
}

/* Index 0..15 (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15) of the 64-bit
 * register that contains reg, or -1 for anything that is not a GPR. */
static int gpr_index(unsigned reg)
{
	static const unsigned short map[][5] = {
		{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH },
		{ X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH },
		{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH },
		{ X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH },
		{ X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL, 0 },
		{ X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL, 0 },
		{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL, 0 },
		{ X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL, 0 },
		{ X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B, 0 },
		{ X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B, 0 },
		{ X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B, 0 },
		{ X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B, 0 },
		{ X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B, 0 },
		{ X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B, 0 },
		{ X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B, 0 },
		{ X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B, 0 },
	};

	if (reg == X86_REG_INVALID)
		return -1;
	for (int i = 0; i < NGPR; i++)
		for (int j = 0; j < 5; j++)
			if (map[i][j] == reg)
				return i;
	return -1;
}

static bool in_group(const cs_insn *insn, unsigned group)
{
	const cs_detail *d = insn->detail;

	for (unsigned i = 0; i < d->groups_count; i++)
		if (d->groups[i] == group)
			return true;
	return false;
}

/* The absolute address of a memory operand that names static data: RIP-relative,
 * or a bare 32-bit displacement (non-PIE code).  Segment-relative operands
 * (%fs:0x28, the stack protector's canary) are thread-local, not static. */
static bool mem_static_addr(const cs_insn *insn, const cs_x86_op *op, uint64_t *addr)
{
	if (op->type != X86_OP_MEM || op->mem.segment != X86_REG_INVALID)
		return false;
	if (op->mem.base == X86_REG_RIP && op->mem.index == X86_REG_INVALID) {
		*addr = insn->address + insn->size + (uint64_t)op->mem.disp;
		return true;
	}
	if (op->mem.base == X86_REG_INVALID && op->mem.index == X86_REG_INVALID) {
		*addr = (uint64_t)op->mem.disp;
		return true;
	}
	return false;
}

int x86_first_data_ref(const uint8_t *code, size_t len, uint64_t vaddr,
		       unsigned max_insns, uint64_t *addr)
{
	struct walk w;
	int err = walk__init(&w, code, len, vaddr, max_insns);

	if (err)
		return err;
	err = -ENOENT;
	while (err == -ENOENT && walk__next(&w)) {
		const cs_x86 *x = &w.insn->detail->x86;

		/* lea and nop name an address without touching memory */
		if (w.insn->id == X86_INS_LEA || w.insn->id == X86_INS_NOP)
			continue;
		for (unsigned i = 0; i < x->op_count; i++)
			if (mem_static_addr(w.insn, &x->operands[i], addr)) {
				err = 0;
				break;
			}
	}
	walk__fini(&w);
	return err;
}

/* Constant tracking over the 16 GPRs, enough to follow
 * `lea X(%rip),%rbx; ...; mov %rbx,%rdi; call f`. */
struct regfile {
	bool known[NGPR];
	uint64_t val[NGPR];
};

static void regs_forget_written(struct regfile *rf, const cs_insn *insn, csh cs)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;

	if (cs_regs_access(cs, insn, rd, &nrd, wr, &nwr) != CS_ERR_OK) {
		/* unknown effects: forget everything rather than guess */
		memset(rf->known, 0, sizeof(rf->known));
		return;
	}
	for (unsigned i = 0; i < nwr; i++) {
		int g = gpr_index(wr[i]);

		if (g >= 0)
			rf->known[g] = false;
	}
}

/* The value an instruction gives its destination register, if it is a
 * constant we can compute: lea of a static address, mov of an immediate, or a
 * copy of a known register.  Returns the destination GPR index or -1. */
static int regs_const_result(const struct regfile *rf, const cs_insn *insn, uint64_t *val)
{
	const cs_x86 *x = &insn->detail->x86;
	const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
	int d, s;

	if (x->op_count != 2 || dst->type != X86_OP_REG)
		return -1;
	d = gpr_index(dst->reg);
	if (d < 0 || (dst->size != 8 && dst->size != 4))
		return -1;
	if (insn->id == X86_INS_LEA && src->type == X86_OP_MEM) {
		if (!mem_static_addr(insn, src, val)) {
			/* lea disp(%known) */
			s = gpr_index(src->mem.base);
			if (s < 0 || s == 4 || !rf->known[s] || src->mem.index != X86_REG_INVALID)
				return -1;
			*val = rf->val[s] + (uint64_t)src->mem.disp;
		}
	} else if ((insn->id == X86_INS_MOV || insn->id == X86_INS_MOVABS) &&
		   src->type == X86_OP_IMM) {
		*val = (uint64_t)src->imm;
	} else if (insn->id == X86_INS_MOV && src->type == X86_OP_REG) {
		s = gpr_index(src->reg);
		if (s < 0 || !rf->known[s] || src->size != dst->size)
			return -1;
		*val = rf->val[s];
	} else {
		return -1;
	}
	if (dst->size == 4)     /* 32-bit writes zero-extend */
		*val &= 0xffffffffull;
	return d;
}

static void regs_clobber_caller_saved(struct regfile *rf)
{
	/* SysV: rax rcx rdx rsi rdi r8-r11 do not survive a call */
	static const int clobbered[] = { 0, 1, 2, 6, 7, 8, 9, 10, 11 };

	for (unsigned i = 0; i < sizeof(clobbered) / sizeof(clobbered[0]); i++)
		rf->known[clobbered[i]] = false;
}

/* GPR indexes of the SysV integer argument registers: rdi rsi rdx rcx r8 r9 */
static const int arg_gpr[] = { 7, 6, 2, 1, 8, 9 };

int x86_call_arg_addr(const uint8_t *code, size_t len, uint64_t vaddr,
		      unsigned max_insns, unsigned argidx, uint64_t *addr)
{
	struct regfile rf = { 0 };
	struct walk w;
	int err, g;

	if (argidx >= sizeof(arg_gpr) / sizeof(arg_gpr[0]))
		return -EINVAL;
	g = arg_gpr[argidx];
	err = walk__init(&w, code, len, vaddr, max_insns);
	if (err)
		return err;
	err = -ENOENT;
	while (walk__next(&w)) {
		const cs_insn *insn = w.insn;
		uint64_t val;
		int d;

		if (in_group(insn, X86_GRP_CALL)) {
			if (rf.known[g]) {
				*addr = rf.val[g];
				err = 0;
				break;
			}
			regs_clobber_caller_saved(&rf);
			continue;
		}
		/* the fall-through path ends here; what follows is another path */
		if (in_group(insn, X86_GRP_RET) || insn->id == X86_INS_JMP)
			break;
		d = regs_const_result(&rf, insn, &val);
		regs_forget_written(&rf, insn, w.cs);
		if (d >= 0) {
			rf.known[d] = true;
			rf.val[d] = val;
		}
	}
	walk__fini(&w);
	return err;
}

int x86_first_call_arg0_addr(const uint8_t *code, size_t len, uint64_t vaddr,
			     unsigned max_insns, uint64_t *addr)
{
	return x86_call_arg_addr(code, len, vaddr, max_insns, 0, addr);
}

/* ---- a struct copied out of an object reached through a pointer ---------- */

/* What a register is known to hold, for x86_struct_copy_via_ptr. */
enum vkind {
	V_UNKNOWN = 0,
	V_DEST,       /* the function's first argument: where the struct goes */
	V_PTR,        /* a pointer loaded from static memory at .slot */
	V_FIELD,      /* a value loaded from [V_PTR register + .disp] */
};

struct vtag {
	enum vkind kind;
	uint64_t slot;
	int64_t disp;
};

#define NVEC 32
#define NTAGS (NGPR + NVEC)

/* Index of reg among the 16 GPRs followed by xmm0..31 (ymm and zmm alias
 * their xmm), or -1. */
static int tag_index(unsigned reg)
{
	int g = gpr_index(reg);

	if (g >= 0)
		return g;
	if (reg >= X86_REG_XMM0 && reg <= X86_REG_XMM31)
		return NGPR + (int)(reg - X86_REG_XMM0);
	if (reg >= X86_REG_YMM0 && reg <= X86_REG_YMM31)
		return NGPR + (int)(reg - X86_REG_YMM0);
	if (reg >= X86_REG_ZMM0 && reg <= X86_REG_ZMM31)
		return NGPR + (int)(reg - X86_REG_ZMM0);
	return -1;
}

/* Plain whole-register moves between a register and memory. */
static bool is_plain_move(unsigned id)
{
	switch (id) {
	case X86_INS_MOV:
	case X86_INS_MOVQ:
	case X86_INS_MOVDQU:
	case X86_INS_MOVDQA:
	case X86_INS_MOVUPS:
	case X86_INS_MOVAPS:
	case X86_INS_MOVUPD:
	case X86_INS_MOVAPD:
	case X86_INS_LDDQU:
	case X86_INS_VMOVDQU:
	case X86_INS_VMOVDQA:
	case X86_INS_VMOVUPS:
	case X86_INS_VMOVAPS:
	case X86_INS_VMOVQ:
		return true;
	default:
		return false;
	}
}

/* The register tag of the base of a [base + disp] operand with no index, or
 * NULL. */
static const struct vtag *mem_base_tag(const struct vtag *t, const cs_x86_op *op)
{
	int b;

	if (op->type != X86_OP_MEM || op->mem.segment != X86_REG_INVALID ||
	    op->mem.index != X86_REG_INVALID)
		return NULL;
	b = gpr_index(op->mem.base);
	return b >= 0 ? &t[b] : NULL;
}

/* The tag a plain move from memory gives its destination register. */
static struct vtag load_tag(const struct vtag *t, const cs_insn *insn, const cs_x86_op *dst,
			    const cs_x86_op *src)
{
	struct vtag r = { V_UNKNOWN, 0, 0 };
	const struct vtag *base = mem_base_tag(t, src);
	uint64_t a;

	if (gpr_index(dst->reg) >= 0 && dst->size == 8 && mem_static_addr(insn, src, &a)) {
		r.kind = V_PTR;
		r.slot = a;
	} else if (base && base->kind == V_PTR) {
		r.kind = V_FIELD;
		r.slot = base->slot;
		r.disp = src->mem.disp;
	}
	return r;
}

static void tags_forget_written(struct vtag *t, const cs_insn *insn, csh cs)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;

	if (cs_regs_access(cs, insn, rd, &nrd, wr, &nwr) != CS_ERR_OK) {
		memset(t, 0, NTAGS * sizeof(*t));
		return;
	}
	for (unsigned i = 0; i < nwr; i++) {
		int k = tag_index(wr[i]);

		if (k >= 0)
			t[k].kind = V_UNKNOWN;
	}
}

static void tags_clobber_call(struct vtag *t)
{
	/* SysV: the caller-saved GPRs and every vector register */
	static const int clobbered[] = { 0, 1, 2, 6, 7, 8, 9, 10, 11 };

	for (unsigned i = 0; i < sizeof(clobbered) / sizeof(clobbered[0]); i++)
		t[clobbered[i]].kind = V_UNKNOWN;
	for (int i = NGPR; i < NTAGS; i++)
		t[i].kind = V_UNKNOWN;
}

/* A store into the destination: 1 and the result if it copies a field,
 * -ENOENT if it stores anything else (not the pattern), 0 if insn is not
 * such a store. */
static int dest_store(const struct vtag *t, const cs_insn *insn, uint64_t *slot, int64_t *disp)
{
	const cs_x86 *x = &insn->detail->x86;
	const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
	const struct vtag *base;
	int s;

	if (x->op_count < 1)
		return 0;
	base = mem_base_tag(t, dst);
	if (!base || base->kind != V_DEST)
		return 0;
	if (!is_plain_move(insn->id) || x->op_count != 2 || src->type != X86_OP_REG ||
	    dst->mem.disp < 0 || dst->mem.disp > 64)
		return -ENOENT;
	s = tag_index(src->reg);
	if (s < 0 || t[s].kind != V_FIELD || t[s].disp < dst->mem.disp)
		return -ENOENT;
	*slot = t[s].slot;
	/* the store may copy a later member first: the struct starts that much earlier */
	*disp = t[s].disp - dst->mem.disp;
	return 1;
}

/* Tracks one instruction's effect on the tags. */
static void tags_step(struct vtag *t, const cs_insn *insn, csh cs)
{
	const cs_x86 *x = &insn->detail->x86;
	const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
	struct vtag nt = { V_UNKNOWN, 0, 0 };
	int d = -1, s;

	if (in_group(insn, X86_GRP_CALL)) {
		tags_clobber_call(t);
		return;
	}
	if (is_plain_move(insn->id) && x->op_count == 2 && dst->type == X86_OP_REG) {
		d = tag_index(dst->reg);
		if (src->type == X86_OP_MEM) {
			nt = load_tag(t, insn, dst, src);
		} else if (src->type == X86_OP_REG && insn->id == X86_INS_MOV && dst->size == 8) {
			s = tag_index(src->reg);
			if (s >= 0)
				nt = t[s];
		}
	}
	tags_forget_written(t, insn, cs);
	if (d >= 0)
		t[d] = nt;
}

int x86_struct_copy_via_ptr(const uint8_t *code, size_t len, uint64_t vaddr,
			    unsigned max_insns, uint64_t *slot, int64_t *disp)
{
	struct vtag t[NTAGS];
	struct walk w;
	int err = walk__init(&w, code, len, vaddr, max_insns);

	if (err)
		return err;
	memset(t, 0, sizeof(t));
	t[7].kind = V_DEST;
	err = -ENOENT;
	while (walk__next(&w)) {
		int r = dest_store(t, w.insn, slot, disp);

		if (r) {
			err = r > 0 ? 0 : r;
			break;
		}
		if (in_group(w.insn, X86_GRP_RET) || w.insn->id == X86_INS_JMP)
			break;
		tags_step(t, w.insn, w.cs);
	}
	walk__fini(&w);
	return err;
}

/* xor %edi,%edi and friends only write their register. */
static bool is_zeroing_idiom(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	if (insn->id != X86_INS_XOR && insn->id != X86_INS_SUB)
		return false;
	return x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
	       x->operands[1].type == X86_OP_REG && x->operands[0].reg == x->operands[1].reg;
}

/* Bits (1 << arg) of the 32-bit reads of edi (arg 0) and esi (arg 1) made by
 * explicit register operands of insn. */
static unsigned int32_reads_of(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;
	unsigned bits = 0;

	if (is_zeroing_idiom(insn))
		return 0;
	for (unsigned i = 0; i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];

		if (op->type != X86_OP_REG || !(op->access & CS_AC_READ))
			continue;
		if (op->reg == X86_REG_EDI)
			bits |= 1;
		else if (op->reg == X86_REG_ESI)
			bits |= 2;
	}
	return bits;
}

static unsigned arg_writes_of(const cs_insn *insn, csh cs)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;
	unsigned bits = 0;

	if (in_group(insn, X86_GRP_CALL))
		return 3;
	if (cs_regs_access(cs, insn, rd, &nrd, wr, &nwr) != CS_ERR_OK)
		return 3;
	for (unsigned i = 0; i < nwr; i++) {
		int g = gpr_index(wr[i]);

		if (g == 7)
			bits |= 1;
		else if (g == 6)
			bits |= 2;
	}
	return bits;
}

unsigned x86_int32_arg_reads(const uint8_t *code, size_t len, uint64_t vaddr,
			     unsigned max_insns)
{
	unsigned live = 3, found = 0;
	struct walk w;

	if (walk__init(&w, code, len, vaddr, max_insns))
		return 0;
	while (live && walk__next(&w)) {
		const cs_insn *insn = w.insn;

		/* reads happen before the instruction's own writes */
		found |= int32_reads_of(insn) & live;
		live &= ~arg_writes_of(insn, w.cs);
		if (in_group(insn, X86_GRP_RET) || insn->id == X86_INS_JMP)
			break;
	}
	walk__fini(&w);
	return found;
}


/* ---- the flat instruction view (x86v) --------------------------------------- */

struct x86v {
	csh cs;
	cs_insn *insn;
};

struct x86v *x86v__new(void)
{
	struct x86v *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &d->cs) != CS_ERR_OK) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	cs_option(d->cs, CS_OPT_DETAIL, CS_OPT_ON);
	d->insn = cs_malloc(d->cs);
	if (!d->insn) {
		cs_close(&d->cs);
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

void x86v__free(struct x86v *d)
{
	if (!d)
		return;
	cs_free(d->insn, 1);
	cs_close(&d->cs);
	free(d);
}

const char *x86v_gpr_name(int gpr)
{
	static const char *const names[NGPR] = {
		"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
	};

	return gpr >= 0 && gpr < NGPR ? names[gpr] : "?";
}

static enum x86v_cc x86v_cc_of(unsigned id)
{
	switch (id) {
	case X86_INS_JE: return X86V_CC_E;
	case X86_INS_JNE: return X86V_CC_NE;
	case X86_INS_JA: return X86V_CC_A;
	case X86_INS_JAE: return X86V_CC_AE;
	case X86_INS_JB: return X86V_CC_B;
	case X86_INS_JBE: return X86V_CC_BE;
	default: return X86V_CC_OTHER;
	}
}

static bool x86v_is_jcc(unsigned id)
{
	switch (id) {
	case X86_INS_JAE: case X86_INS_JA: case X86_INS_JBE: case X86_INS_JB:
	case X86_INS_JE: case X86_INS_JGE: case X86_INS_JG: case X86_INS_JLE:
	case X86_INS_JL: case X86_INS_JNE: case X86_INS_JNO: case X86_INS_JNP:
	case X86_INS_JNS: case X86_INS_JO: case X86_INS_JP: case X86_INS_JS:
		return true;
	default:
		return false;
	}
}

static int x86v_base_index(unsigned reg)
{
	if (reg == X86_REG_RIP)
		return X86V_RIP;
	if (reg == X86_REG_INVALID)
		return X86V_NOREG;
	return gpr_index(reg);
}

static void x86v_fill_op(const cs_insn *insn, const cs_x86_op *src, struct x86v_op *op)
{
	memset(op, 0, sizeof(*op));
	op->size = src->size;
	op->reg = op->base = op->index = X86V_NOREG;
	switch (src->type) {
	case X86_OP_REG:
		op->type = X86V_OP_REG;
		op->reg = gpr_index(src->reg);
		break;
	case X86_OP_IMM:
		op->type = X86V_OP_IMM;
		op->imm = src->imm;
		break;
	case X86_OP_MEM:
		op->type = X86V_OP_MEM;
		op->base = x86v_base_index(src->mem.base);
		op->index = x86v_base_index(src->mem.index);
		op->scale = (unsigned)src->mem.scale;
		op->disp = src->mem.disp;
		op->seg = src->mem.segment != X86_REG_INVALID;
		op->is_static = mem_static_addr(insn, src, &op->addr);
		break;
	default:
		op->type = X86V_OP_NONE;
	}
}

static enum x86v_class x86v_class_of(const cs_insn *insn, bool direct)
{
	unsigned id = insn->id;

	if (x86v_is_jcc(id))
		return direct ? X86V_JCC : X86V_OTHER;
	switch (id) {
	case X86_INS_MOV:
	case X86_INS_MOVABS:
		return X86V_MOV;
	case X86_INS_LEA: return X86V_LEA;
	case X86_INS_CMP: return X86V_CMP;
	case X86_INS_TEST: return X86V_TEST;
	case X86_INS_AND: return X86V_AND;
	case X86_INS_JMP: return direct ? X86V_JMP : X86V_JMP_IND;
	case X86_INS_CALL: return direct ? X86V_CALL : X86V_CALL_IND;
	case X86_INS_NOP: return X86V_NOP;
	case X86_INS_UD2: case X86_INS_INT3: case X86_INS_HLT:
		return X86V_UD;
	default:
		return in_group(insn, X86_GRP_RET) ? X86V_RET : X86V_OTHER;
	}
}

static uint32_t x86v_written(const cs_insn *insn, csh cs)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0;
	uint32_t bits = 0;

	if (cs_regs_access(cs, insn, rd, &nrd, wr, &nwr) != CS_ERR_OK)
		return 0xffff;
	for (unsigned i = 0; i < nwr; i++) {
		int g = gpr_index(wr[i]);

		if (g >= 0)
			bits |= 1u << g;
	}
	return bits;
}

int x86v__decode(struct x86v *d, const uint8_t *code, size_t len, uint64_t vaddr,
		 struct x86v_insn *out)
{
	const uint8_t *p = code;
	size_t left = len;
	uint64_t pc = vaddr;
	const cs_x86 *x;
	bool direct, emu;

	if (!d || !code || !len || !cs_disasm_iter(d->cs, &p, &left, &pc, d->insn))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	x = &d->insn->detail->x86;
	out->vaddr = vaddr;
	out->len = d->insn->size;
	out->nops = x->op_count < 3 ? x->op_count : 3;
	for (unsigned i = 0; i < out->nops; i++)
		x86v_fill_op(d->insn, &x->operands[i], &out->op[i]);
	direct = x->op_count == 1 && x->operands[0].type == X86_OP_IMM;
	out->cls = x86v_class_of(d->insn, direct);
	if (direct && out->cls != X86V_OTHER)
		out->target = (uint64_t)x->operands[0].imm;
	if (out->cls == X86V_JCC)
		out->cc = x86v_cc_of(d->insn->id);
	out->gpr_written = x86v_written(d->insn, d->cs);
	/* probe_site.c is the one place that knows what the kernel emulates */
	if (probe_site_is_emulated(d->insn->bytes, d->insn->size, d->insn->address, &emu, NULL, 0))
		emu = false;
	out->emulated = emu;
	/* long operand strings are cut: the text is for people, not matching */
	snprintf(out->text, sizeof(out->text), "%.31s%s%.31s", d->insn->mnemonic,
		 d->insn->op_str[0] ? " " : "", d->insn->op_str);
	return 0;
}
