/* One trap per pymalloc allocation: see pymalloc_site.h.
 *
 * The function's bytes come from the traced interpreter's file: every walk is
 * bounded (instructions per path, paths, total work) and anything unexpected
 * refuses the sites rather than guessing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pymalloc_site.h"
#include "x86_decode.h"

#define RAX 0
#define RSI 6
#define PATH_INSNS 256           /* one path; pymalloc functions have ~60 */
#define MAX_PENDING 64           /* forks waiting to be explored */
#define TOTAL_INSNS 40000        /* all paths together */
#define MAX_FN_BYTES 4096        /* the functions probed are a few hundred */
/* System V caller-saved GPRs: rax rcx rdx rsi rdi r8-r11 */
#define CALLER_SAVED ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 6) | (1u << 7) | \
		      (0xfu << 8))

const char *pms_role_name(enum pms_role r)
{
	return r == PMS_FAST ? "fast" : r == PMS_RESULT ? "result" : "?";
}

/* What one path knows at its current instruction. */
struct pstate {
	uint64_t pc;
	unsigned insns;
	uint32_t size_mask;       /* GPRs holding the requested size */
	int lea_dst;              /* holds size - 1 (`lea D, [S - 1]`), or -1 */
	int pool, block, next;    /* the fast path's registers, -1 until seen */
	uint32_t result_mask;     /* GPRs holding a block function's result */
	bool small, block_call, raw_called;
	unsigned probes_passed;
	struct x86v_insn prev;    /* the instruction before pc on this path */
};

struct finder {
	struct x86v *dec;
	const uint8_t *code;
	size_t len;
	uint64_t vaddr;
	const uint64_t *block_fns, *raw_fns;
	unsigned n_block_fns, n_raw_fns;
	bool verify;              /* second pass: check against out */
	struct pms_sites *out;
	unsigned total;
	uint8_t visited[MAX_FN_BYTES / 8]; /* instruction starts the paths reached */
	char *why;
	size_t whylen;
};

static bool in_list(const uint64_t *v, unsigned n, uint64_t x)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static bool is_reg(const struct x86v_op *op, int reg)
{
	return op->type == X86V_OP_REG && op->reg >= 0 && op->reg < 16 &&
	       (reg < 0 || op->reg == reg) && op->size == 8;
}

static int lowest(uint32_t mask)
{
	for (int i = 0; i < 16; i++)
		if (mask & (1u << i))
			return i;
	return -1;
}

static int fail(struct finder *f, const char *msg, uint64_t at)
{
	snprintf(f->why, f->whylen, "%s at 0x%llx", msg, (unsigned long long)at);
	return -ENOENT;
}

/* The probe that this path sees at jcc `in`, if any: fills *pr. */
static bool recognise(const struct pstate *st, const struct x86v_insn *in, struct pms_probe *pr)
{
	const struct x86v_insn *pv = &st->prev;
	int r;

	if (in->cls != X86V_JCC || pv->cls != X86V_TEST || !st->size_mask ||
	    !is_reg(&pv->op[0], -1) || !is_reg(&pv->op[1], pv->op[0].reg) ||
	    pv->vaddr + pv->len != in->vaddr)
		return false;
	r = pv->op[0].reg;
	memset(pr, 0, sizeof(*pr));
	pr->vaddr = in->vaddr;
	pr->size_reg = lowest(st->size_mask);
	snprintf(pr->insn, sizeof(pr->insn), "%s", in->text);
	if (st->block >= 0 && st->next == r) {
		pr->role = PMS_FAST;
		pr->reg = st->block;
		pr->pool_reg = st->pool;
		return true;
	}
	if (st->result_mask & (1u << r)) {
		pr->role = PMS_RESULT;
		pr->reg = r;
		pr->pool_reg = -1;
		return true;
	}
	return false;
}

static const struct pms_probe *probe_at(const struct pms_sites *out, uint64_t vaddr)
{
	for (unsigned i = 0; i < out->n; i++)
		if (out->probe[i].vaddr == vaddr)
			return &out->probe[i];
	return NULL;
}

static bool same_probe(const struct pms_probe *a, const struct pms_probe *b)
{
	return a->role == b->role && a->reg == b->reg && a->pool_reg == b->pool_reg &&
	       a->size_reg == b->size_reg;
}

/* Pass 1 records the probe; pass 2 requires every path at a probe address
 * to see the very same probe. */
static int at_probe_address(struct finder *f, struct pstate *st, const struct x86v_insn *in)
{
	struct pms_probe pr;
	bool seen = recognise(st, in, &pr);
	const struct pms_probe *known = probe_at(f->out, in->vaddr);

	if (!f->verify) {
		if (!seen)
			return 0;
		if (known)
			return same_probe(known, &pr) ? 0 :
				fail(f, "two paths see different registers at the probe", in->vaddr);
		if (!in->emulated)
			return fail(f, "the probe instruction is not emulated", in->vaddr);
		if (f->out->n >= PMS_MAX_PROBES)
			return fail(f, "too many probe sites", in->vaddr);
		f->out->probe[f->out->n++] = pr;
		return 0;
	}
	if (!known)
		return 0;
	if (!seen || !same_probe(known, &pr))
		return fail(f, "a path reaches the probe without its block and size in "
			    "the same registers", in->vaddr);
	st->probes_passed++;
	return 0;
}

/* A path returns (ret, or a tail jump out of the function). */
static int path_end(struct finder *f, const struct pstate *st, uint64_t at)
{
	if (!f->verify)
		return 0;
	if (st->probes_passed > 1)
		return fail(f, "a path passes two probes (would count twice)", at);
	if ((st->small || st->block_call) && !st->raw_called && !st->probes_passed)
		return fail(f, "a small request returns without passing a probe", at);
	return 0;
}

static void clobber(struct pstate *st, uint32_t written)
{
	int *regs[] = { &st->lea_dst, &st->pool, &st->block, &st->next };

	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (*regs[i] >= 0 && (written & (1u << *regs[i])))
			*regs[i] = -1;
	st->size_mask &= ~written;
	st->result_mask &= ~written;
}

/* The size check `cmp D, 0x1ff` (D = size - 1) + jcc: which side is small.
 * 1 taken side small, 0 fall-through small, -1 not a size check. */
static int size_check_side(const struct pstate *st, const struct x86v_insn *in)
{
	const struct x86v_insn *c = &st->prev;

	if (in->cls != X86V_JCC || c->cls != X86V_CMP || st->lea_dst < 0 ||
	    !is_reg(&c->op[0], st->lea_dst) || c->op[1].type != X86V_OP_IMM ||
	    c->op[1].imm != 0x1ff)
		return -1;
	if (in->cc == X86V_CC_A || in->cc == X86V_CC_AE)
		return 0;
	if (in->cc == X86V_CC_B || in->cc == X86V_CC_BE)
		return 1;
	return -1;
}

/* Updates the path's knowledge for an ordinary (non-branch) instruction. */
static void track(struct pstate *st, const struct x86v_insn *in)
{
	const struct x86v_op *d = &in->op[0], *s = &in->op[1];
	int new_lea = -1, new_pool = -1, new_block = -1, new_next = -1;
	uint32_t add_size = 0;

	if (in->cls == X86V_MOV && in->nops == 2 && is_reg(d, -1) && is_reg(s, -1) &&
	    (st->size_mask & (1u << s->reg)))
		add_size = 1u << d->reg;
	if (in->cls == X86V_LEA && is_reg(d, -1) && s->type == X86V_OP_MEM && s->disp == -1 &&
	    s->base >= 0 && s->base < 16 && s->index == X86V_NOREG && !s->seg &&
	    (st->size_mask & (1u << s->base)))
		new_lea = d->reg;
	if (in->cls == X86V_MOV && in->nops == 2 && is_reg(d, -1) && s->type == X86V_OP_MEM &&
	    !s->seg) {
		if (st->small && st->pool < 0 && s->index >= 0 && s->index < 16 && s->scale == 8 &&
		    s->base != X86V_NOREG)
			new_pool = d->reg;        /* usedpools[2 * class] */
		else if (st->pool >= 0 && st->block < 0 && s->base == st->pool &&
			 s->index == X86V_NOREG && s->disp == 8)
			new_block = d->reg;       /* pool->freeblock */
		else if (st->block >= 0 && st->next < 0 && s->base == st->block &&
			 s->index == X86V_NOREG && s->disp == 0)
			new_next = d->reg;        /* *(block **)block */
	}
	clobber(st, in->gpr_written);
	st->size_mask |= add_size;
	if (new_lea >= 0)
		st->lea_dst = new_lea;
	if (new_pool >= 0) {
		st->pool = new_pool;
		st->block = st->next = -1;
	}
	if (new_block >= 0)
		st->block = new_block;
	if (new_next >= 0)
		st->next = new_next;
}

static int explore(struct finder *f)
{
	struct pstate *stack = calloc(MAX_PENDING, sizeof(*stack));
	unsigned depth = 0;
	int err = 0;

	if (!stack)
		return -ENOMEM;
	stack[depth] = (struct pstate){ .pc = f->vaddr, .size_mask = 1u << RSI,
					.lea_dst = -1, .pool = -1, .block = -1, .next = -1 };
	depth++;
	if (f->out)
		f->out->paths = 0;
	while (depth && !err) {
		struct pstate st = stack[--depth];
		bool done = false;

		f->out->paths += f->verify;
		while (!done && !err) {
			struct x86v_insn in;
			uint64_t off = st.pc - f->vaddr;
			int side;

			if (st.pc < f->vaddr || off >= f->len) {
				err = fail(f, "a path leaves the function", st.pc);
				break;
			}
			if (++st.insns > PATH_INSNS || ++f->total > TOTAL_INSNS) {
				err = fail(f, "the path budget ran out", st.pc);
				break;
			}
			if (x86v__decode(f->dec, f->code + off, f->len - off, st.pc, &in)) {
				err = fail(f, "undecodable bytes", st.pc);
				break;
			}
			f->visited[off / 8] |= (uint8_t)(1u << (off % 8));
			err = at_probe_address(f, &st, &in);
			if (err)
				break;
			switch (in.cls) {
			case X86V_RET:
			case X86V_UD:
				err = in.cls == X86V_RET ? path_end(f, &st, in.vaddr) : 0;
				done = true;
				continue;
			case X86V_JMP_IND:
				err = fail(f, "an indirect jump", in.vaddr);
				continue;
			case X86V_JMP:
				if (in.target >= f->vaddr && in.target - f->vaddr < f->len) {
					st.prev = in;
					st.pc = in.target;
					continue;
				}
				/* a tail call */
				if (in_list(f->raw_fns, f->n_raw_fns, in.target))
					st.raw_called = true;
				err = path_end(f, &st, in.vaddr);
				done = true;
				continue;
			case X86V_CALL:
			case X86V_CALL_IND: {
				bool block_fn = in.cls == X86V_CALL &&
					in_list(f->block_fns, f->n_block_fns, in.target);

				if (in.cls == X86V_CALL &&
				    in_list(f->raw_fns, f->n_raw_fns, in.target))
					st.raw_called = true;
				clobber(&st, CALLER_SAVED | in.gpr_written);
				if (block_fn) {
					st.result_mask = 1u << RAX;
					st.block_call = true;
				}
				break;
			}
			case X86V_JCC:
				if (in.target < f->vaddr || in.target - f->vaddr >= f->len) {
					err = fail(f, "a conditional jump out of the function", in.vaddr);
					continue;
				}
				if (depth >= MAX_PENDING) {
					err = fail(f, "too many pending paths", in.vaddr);
					continue;
				}
				side = size_check_side(&st, &in);
				stack[depth] = st;
				stack[depth].prev = in;
				stack[depth].pc = in.target;
				if (side >= 0) {
					stack[depth].small = side == 1;
					st.small = side == 0;
				}
				depth++;
				break;
			default:
				track(&st, &in);
				break;
			}
			st.prev = in;
			st.pc = in.vaddr + in.len;
		}
	}
	free(stack);
	return err;
}

/* Linear sweep of the whole function: no indirect jump, no direct branch
 * target strictly inside a probe instruction, and every probe on an
 * instruction boundary. */
static int sweep(struct finder *f)
{
	unsigned boundaries = 0;
	uint64_t pc = f->vaddr;

	while (pc - f->vaddr < f->len) {
		uint64_t off = pc - f->vaddr;
		struct x86v_insn in;

		if (x86v__decode(f->dec, f->code + off, f->len - off, pc, &in))
			return fail(f, "undecodable bytes in the function", pc);
		if (in.cls == X86V_JMP_IND)
			return fail(f, "an indirect jump in the function", pc);
		if (probe_at(f->out, pc))
			boundaries++;
		if (in.cls == X86V_JCC || in.cls == X86V_JMP || in.cls == X86V_CALL)
			for (unsigned i = 0; i < f->out->n; i++) {
				const struct pms_probe *p = &f->out->probe[i];
				struct x86v_insn pi;
				uint64_t poff = p->vaddr - f->vaddr;

				if (x86v__decode(f->dec, f->code + poff, f->len - poff, p->vaddr, &pi))
					return fail(f, "undecodable probe", p->vaddr);
				if (in.target > p->vaddr && in.target < p->vaddr + pi.len)
					return fail(f, "a jump lands inside the probe instruction",
						    in.vaddr);
				/* a branch to the probe from code no explored path
				 * runs (reached from elsewhere) was not proven */
				if (in.target == p->vaddr && !(f->visited[off / 8] & (1u << (off % 8))))
					return fail(f, "a jump from unexplored code lands on the probe",
						    in.vaddr);
			}
		pc += in.len;
	}
	if (boundaries != f->out->n)
		return fail(f, "a probe is not on an instruction boundary of the sweep", f->vaddr);
	return 0;
}

int pms_find(const uint8_t *code, size_t len, uint64_t vaddr,
	     const uint64_t *block_fns, unsigned n_block_fns,
	     const uint64_t *raw_fns, unsigned n_raw_fns,
	     struct pms_sites *out, char *why, size_t whylen)
{
	char dummy[8];
	struct finder f = {
		.code = code, .len = len, .vaddr = vaddr,
		.block_fns = block_fns, .n_block_fns = n_block_fns,
		.raw_fns = raw_fns, .n_raw_fns = n_raw_fns, .out = out,
	};
	int err;

	if (!why || !whylen) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	why[0] = 0;
	f.why = why;
	f.whylen = whylen;
	if (!code || !len || len > MAX_FN_BYTES || !out || n_block_fns > PMS_MAX_BLOCK_FNS)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	f.dec = x86v__new();
	if (!f.dec) {
		snprintf(why, whylen, "cannot start the x86 decoder");
		return -ENOMEM;
	}
	err = explore(&f);
	if (!err && !out->n)
		err = fail(&f, "no pool pop or block-function result test", vaddr);
	if (!err) {
		f.verify = true;
		f.total = 0;
		err = explore(&f);
	}
	if (!err)
		err = sweep(&f);
	x86v__free(f.dec);
	if (err)
		out->n = 0;
	return err;
}
