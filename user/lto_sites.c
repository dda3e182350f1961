/* Finding the allocator code that LTO inlined: see lto_sites.h.
 *
 * The code comes from the traced interpreter's file, so every walk is bounded
 * (instructions, followed jumps, bytes) and every pattern is matched exactly:
 * a site whose code has another shape is reported as not handled, never
 * guessed at.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lto_sites.h"
#include "x86_decode.h"

#define MAX_SEGS 8
#define MAX_TEXT (512u << 20)    /* refuse absurd executable segments */
#define WALK_INSNS 64
#define WALK_JUMPS 6
#define BACK_BYTES 48            /* how far before a cmp to look for the hook load */
#define NCLASSES 32              /* 512 / ALIGNMENT size classes (3.8-3.13, 64-bit) */
#define MAX_SITES 100000
#define RAX 0
#define RDI 7

struct seg {
	uint64_t vaddr;
	uint8_t *buf;
	size_t len;
};

struct scan {
	struct elf_file *ef;
	struct x86v *dec;
	struct seg seg[MAX_SEGS];
	unsigned nseg;
	struct lto_sites *ls;
	size_t cap;
};

static const char *const kind_names[] = { "malloc", "calloc", "realloc", "free" };

const char *lto_kind_name(enum lto_kind k)
{
	return (unsigned)k < LTO_NKINDS ? kind_names[k] : "?";
}

const char *lto_domain_name(enum lto_domain d)
{
	switch (d) {
	case LTO_DOM_OBJ: return "obj";
	case LTO_DOM_MEM: return "mem";
	case LTO_DOM_FUNC: return "func";
	default: return "?";
	}
}

const char *lto_role_name(enum lto_role r)
{
	switch (r) {
	case LTO_PROBE_BLOCK: return "block";
	case LTO_PROBE_LARGE_CALL: return "large-call";
	case LTO_PROBE_LARGE_RET: return "large-ret";
	case LTO_PROBE_FREE_CHECK: return "free-check";
	case LTO_PROBE_NEWPOOL_RET: return "newpool-ret";
	default: return "?";
	}
}

int lto_pt_regs_off(int gpr)
{
	/* struct pt_regs: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi */
	static const signed char slot[16] = {
		10, 11, 12, 5, 19, 4, 13, 14, 9, 8, 7, 6, 3, 2, 1, 0,
	};

	return gpr >= 0 && gpr < 16 ? slot[gpr] * 8 : -1;
}

/* ---- the file image ------------------------------------------------------ */

/* The executable PT_LOAD segments, read through the program headers in the
 * first page of the image (elf.h has no segment iterator). */
static int scan__load_text(struct scan *s)
{
	uint64_t base = elf_file__base_vaddr(s->ef);
	Elf64_Ehdr eh;
	int err = elf_file__read_vaddr(s->ef, base, &eh, sizeof(eh));

	if (err)
		return -EIO;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum == 0 || eh.e_phnum > 256)
		return -EIO;
	for (unsigned i = 0; i < eh.e_phnum && s->nseg < MAX_SEGS; i++) {
		Elf64_Phdr ph;
		struct seg *sg = &s->seg[s->nseg];

		if (elf_file__read_vaddr(s->ef, base + eh.e_phoff + i * sizeof(ph), &ph, sizeof(ph)))
			return -EIO;
		if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || !ph.p_filesz)
			continue;
		if (ph.p_filesz > MAX_TEXT)
			return -EIO;
		sg->buf = malloc(ph.p_filesz);
		if (!sg->buf)
			return -ENOMEM;
		sg->vaddr = ph.p_vaddr;
		sg->len = ph.p_filesz;
		s->nseg++;
		if (elf_file__read_vaddr(s->ef, sg->vaddr, sg->buf, sg->len))
			return -EIO;
	}
	return s->nseg ? 0 : -EIO;
}

/* The code bytes at vaddr and how many follow in its segment, or NULL. */
static const uint8_t *scan__code(const struct scan *s, uint64_t vaddr, size_t *len)
{
	for (unsigned i = 0; i < s->nseg; i++) {
		const struct seg *sg = &s->seg[i];

		if (vaddr >= sg->vaddr && vaddr - sg->vaddr < sg->len) {
			*len = sg->len - (vaddr - sg->vaddr);
			return sg->buf + (vaddr - sg->vaddr);
		}
	}
	return NULL;
}

static int scan__decode(const struct scan *s, uint64_t vaddr, struct x86v_insn *out)
{
	size_t len;
	const uint8_t *code = scan__code(s, vaddr, &len);

	return code ? x86v__decode(s->dec, code, len, vaddr, out) : -EINVAL;
}

static int scan__read_u64(const struct scan *s, uint64_t vaddr, uint64_t *val)
{
	return elf_file__read_vaddr(s->ef, vaddr, val, sizeof(*val));
}

/* ---- the allocator structs --------------------------------------------- */

/* In a wrapper such as PyObject_Malloc: the first `cmp $fn,%reg` where reg
 * was loaded from a static slot.  The fall-through path only. */
static int wrapper_hook(const struct scan *s, uint64_t entry, uint64_t *slot, uint64_t *fn)
{
	uint64_t loaded[16] = { 0 }, pc = entry;
	struct x86v_insn in;

	for (unsigned n = 0; n < WALK_INSNS && !scan__decode(s, pc, &in); n++) {
		const struct x86v_op *d = &in.op[0], *src = &in.op[1];

		if (in.cls == X86V_CMP && in.nops == 2 && d->type == X86V_OP_REG &&
		    d->reg >= 0 && src->type == X86V_OP_IMM && loaded[d->reg]) {
			*slot = loaded[d->reg];
			*fn = (uint64_t)src->imm;
			return 0;
		}
		if (in.cls == X86V_RET || in.cls == X86V_JMP || in.cls == X86V_JMP_IND)
			break;
		for (int r = 0; r < 16; r++)
			if (in.gpr_written & (1u << r))
				loaded[r] = 0;
		if (in.cls == X86V_MOV && in.nops == 2 && d->type == X86V_OP_REG && d->reg >= 0 &&
		    d->size == 8 && src->type == X86V_OP_MEM && src->is_static && !src->seg)
			loaded[d->reg] = src->addr;
		pc += in.len;
	}
	return -ENOENT;
}

/* The struct that holds the hook at field `field` (1 malloc .. 4 free), from
 * wrapper `name`, cross-checked against the file's static initial value. */
static int domain_struct(struct scan *s, struct interp *in, const char *name, unsigned field,
			 uint64_t *base, uint64_t *fn, char *err, size_t errlen)
{
	struct elf_sym sym;
	uint64_t slot, init;

	if (interp__symbol(in, name, &sym)) {
		snprintf(err, errlen, "no symbol '%s'", name);
		return -ENOENT;
	}
	if (wrapper_hook(s, sym.vaddr, &slot, fn)) {
		snprintf(err, errlen, "'%s' does not compare its hook with a function "
			 "(not an LTO build, or a PIE one)", name);
		return -ENOENT;
	}
	if (scan__read_u64(s, slot, &init) || init != *fn) {
		snprintf(err, errlen, "'%s' compares hook 0x%llx with 0x%llx, but the "
			 "slot's initial value differs", name, (unsigned long long)slot,
			 (unsigned long long)*fn);
		return -ENOENT;
	}
	*base = slot - 8 * field;
	return 0;
}

/* The target of the first direct call or jmp in a function. */
static uint64_t first_branch_target(const struct scan *s, uint64_t entry)
{
	struct x86v_insn in;
	uint64_t pc = entry;

	for (unsigned n = 0; n < 16 && !scan__decode(s, pc, &in); n++) {
		if (in.cls == X86V_CALL || in.cls == X86V_JMP)
			return in.target;
		if (in.cls == X86V_RET || in.cls == X86V_JMP_IND || in.cls == X86V_UD)
			break;
		pc += in.len;
	}
	return 0;
}

/* usedpools: the table that _PyObject_Malloc indexes with size class * 16. */
static uint64_t find_usedpools(const struct scan *s, uint64_t malloc_fn)
{
	struct x86v_insn in;
	uint64_t pc = malloc_fn;

	for (unsigned n = 0; n < 24 && !scan__decode(s, pc, &in); n++) {
		const struct x86v_op *src = &in.op[1];

		if (in.cls == X86V_MOV && in.nops == 2 && src->type == X86V_OP_MEM &&
		    src->base == X86V_NOREG && src->index >= 0 && src->scale == 8 &&
		    src->disp > 0 && !src->seg)
			return (uint64_t)src->disp;
		if (in.cls == X86V_RET || in.cls == X86V_CALL)
			break;
		pc += in.len;
	}
	return 0;
}

static int scan__structs(struct scan *s, struct interp *in, char *err, size_t errlen)
{
	struct lto_sites *ls = s->ls;
	uint64_t fn, rawbase, v;
	int e;

	e = domain_struct(s, in, "PyObject_Malloc", 1, &ls->obj_struct, &fn, err, errlen);
	if (!e)
		e = domain_struct(s, in, "PyMem_Malloc", 1, &ls->mem_struct, &v, err, errlen);
	if (!e)
		e = domain_struct(s, in, "PyMem_RawMalloc", 1, &rawbase, &ls->raw_malloc_fn,
				  err, errlen);
	if (e)
		return e;
	ls->raw_struct = rawbase;
	for (unsigned k = 0; k < LTO_NKINDS; k++)
		if (scan__read_u64(s, ls->obj_struct + 8 * (k + 1), &ls->hook_fn[k])) {
			snprintf(err, errlen, "cannot read the object allocator at 0x%llx",
				 (unsigned long long)ls->obj_struct);
			return -EIO;
		}
	ls->libc_malloc = first_branch_target(s, ls->raw_malloc_fn);
	if (!scan__read_u64(s, rawbase + 16, &v) && v)
		ls->libc_calloc = first_branch_target(s, v);
	ls->usedpools = find_usedpools(s, ls->hook_fn[LTO_MALLOC]);
	if (!ls->usedpools) {
		snprintf(err, errlen, "no usedpools load in _PyObject_Malloc at 0x%llx",
			 (unsigned long long)ls->hook_fn[LTO_MALLOC]);
		return -ENOENT;
	}
	return 0;
}

/* ---- walking an inlined path ------------------------------------------- */

/* A bounded walk along one path: follows direct jmps, and at a jcc the way
 * the caller picks; stops at anything that leaves (call, ret, indirect). */
struct path {
	const struct scan *s;
	uint64_t pc;
	unsigned insns, jumps;
	struct x86v_insn in, prev;
	uint32_t written;         /* GPRs written since the walk began */
};

static void path__init(struct path *p, const struct scan *s, uint64_t pc)
{
	memset(p, 0, sizeof(*p));
	p->s = s;
	p->pc = pc;
}

/* Decodes the next instruction on the path into p->in, following jmps.
 * false at the budget's end or on undecodable bytes. */
static bool path__next(struct path *p)
{
	p->prev = p->in;
	while (p->insns < WALK_INSNS) {
		p->insns++;
		if (scan__decode(p->s, p->pc, &p->in))
			return false;
		if (p->in.cls != X86V_JMP)
			return true;
		if (++p->jumps > WALK_JUMPS)
			return false;
		p->pc = p->in.target;
	}
	return false;
}

/* Moves on: to the jcc's target when `taken`, else to the next instruction. */
static void path__advance(struct path *p, bool taken)
{
	p->written |= p->in.gpr_written;
	p->pc = taken ? p->in.target : p->in.vaddr + p->in.len;
}

static bool leaves(const struct x86v_insn *in)
{
	switch (in->cls) {
	case X86V_CALL: case X86V_CALL_IND: case X86V_JMP_IND: case X86V_RET: case X86V_UD:
		return true;
	default:
		return false;
	}
}

static bool is_reg(const struct x86v_op *op, int reg)
{
	return op->type == X86V_OP_REG && op->reg >= 0 && (reg < 0 || op->reg == reg);
}

/* `mov reg, [base + disp]`: the destination, or -1. */
static int load_from(const struct x86v_insn *in, int base, int64_t disp)
{
	const struct x86v_op *d = &in->op[0], *src = &in->op[1];

	if (in->cls != X86V_MOV || in->nops != 2 || !is_reg(d, -1) || d->size != 8 ||
	    src->type != X86V_OP_MEM || src->base != base || src->index != X86V_NOREG ||
	    src->disp != disp || src->seg)
		return -1;
	return d->reg;
}

static void set_probe(struct lto_probe *pr, enum lto_role role, const struct x86v_insn *in,
		      int reg, int reg2)
{
	pr->role = role;
	pr->vaddr = in->vaddr;
	pr->emulated = in->emulated;
	snprintf(pr->insn, sizeof(pr->insn), "%s", in->text);
	pr->reg = reg;
	pr->reg2 = reg2;
}

static struct lto_probe *site_probe(struct lto_site *st)
{
	return st->n_probes < LTO_MAX_PROBES ? &st->probe[st->n_probes++] : NULL;
}

/* The large path of a variable-size site: `call malloc@plt` with the size in
 * %rdi, then the jcc testing the result (or a copy of it). */
static void walk_large(const struct scan *s, uint64_t start, struct lto_site *st)
{
	const struct lto_sites *ls = s->ls;
	struct lto_probe *call = NULL;
	uint32_t result = 0;      /* GPRs holding the call's result */
	struct path p;

	path__init(&p, s, start);
	while (path__next(&p)) {
		struct x86v_insn *in = &p.in;

		if (!call && in->cls == X86V_CALL && in->target &&
		    (in->target == ls->libc_malloc || in->target == ls->libc_calloc)) {
			call = site_probe(st);
			if (!call)
				return;
			set_probe(call, LTO_PROBE_LARGE_CALL, in, RDI, -1);
			result = 1u << RAX;
			p.pc = in->vaddr + in->len;
			continue;
		}
		if (leaves(in))
			break;
		if (call && in->cls == X86V_JCC && p.prev.cls == X86V_TEST &&
		    is_reg(&p.prev.op[0], -1) && is_reg(&p.prev.op[1], p.prev.op[0].reg) &&
		    (result & (1u << p.prev.op[0].reg))) {
			struct lto_probe *ret = site_probe(st);

			if (ret)
				set_probe(ret, LTO_PROBE_LARGE_RET, in, p.prev.op[0].reg, -1);
			return;
		}
		if (call && in->cls == X86V_MOV && is_reg(&in->op[0], -1) && in->op[0].size == 8 &&
		    is_reg(&in->op[1], -1) && (result & (1u << in->op[1].reg))) {
			result |= 1u << in->op[0].reg;
			path__advance(&p, false);
			continue;
		}
		result &= ~in->gpr_written;
		/* the raw hook check and failure tests branch off; go on straight */
		path__advance(&p, false);
	}
	if (call)
		st->n_probes--;   /* a call without its result jcc is of no use */
}

/* The usedpools load that starts pymalloc's fast path: the pool's register,
 * and the size class when the index is a constant. */
static int usedpools_load(const struct lto_sites *ls, const struct x86v_insn *in, int *cls)
{
	const struct x86v_op *d = &in->op[0], *src = &in->op[1];

	if (in->cls != X86V_MOV || in->nops != 2 || !is_reg(d, -1) || d->size != 8 ||
	    src->type != X86V_OP_MEM || src->seg)
		return -1;
	if (src->is_static && src->addr >= ls->usedpools &&
	    src->addr < ls->usedpools + NCLASSES * 16 && !((src->addr - ls->usedpools) % 16)) {
		*cls = (int)((src->addr - ls->usedpools) / 16);
		return d->reg;
	}
	if (src->base == X86V_NOREG && src->index >= 0 && src->scale == 8 &&
	    (uint64_t)src->disp == ls->usedpools) {
		*cls = -1;
		return d->reg;
	}
	return -1;
}

/* What the malloc walk has seen so far. */
struct mstate {
	int pool, block, next;    /* GPRs, -1 until seen */
	int lea_src, lea_dst;     /* `lea dst, [src - 1]` before the size check */
	uint32_t block_written;   /* writes since block was loaded */
};

/* The size check `cmp R, 0x1ff|0x200` + ja/jbe: follows the small side,
 * records the large side and the size register. */
static bool size_check(struct path *p, struct lto_site *st, struct mstate *m,
		       uint64_t *large)
{
	const struct x86v_insn *c = &p->prev, *j = &p->in;
	int r;

	if (j->cls != X86V_JCC || c->cls != X86V_CMP || !is_reg(&c->op[0], -1) ||
	    c->op[1].type != X86V_OP_IMM || (c->op[1].imm != 0x1ff && c->op[1].imm != 0x200))
		return false;
	r = c->op[0].reg;
	if (c->op[1].imm == 0x1ff && m->lea_dst == r)
		r = m->lea_src;       /* lea -1(%size) first */
	else if (c->op[1].imm == 0x1ff)
		r = -1;
	if (st->size_reg < 0 && r >= 0 && !(p->written & (1u << r)))
		st->size_reg = r;
	if (j->cc == X86V_CC_A || j->cc == X86V_CC_AE) {
		*large = j->target;
		path__advance(p, false);
	} else if (j->cc == X86V_CC_B || j->cc == X86V_CC_BE) {
		*large = j->vaddr + j->len;
		path__advance(p, true);
	} else {
		return false;
	}
	return true;
}

/* Follows a malloc/calloc fast path from start to the jcc that tests the
 * pool's next free block; there, the popped block is in m.block. */
static int walk_malloc(const struct scan *s, uint64_t start, struct lto_site *st)
{
	struct mstate m = { -1, -1, -1, -1, -1, 0 };
	uint64_t large = 0;
	struct path p;

	path__init(&p, s, start);
	while (path__next(&p)) {
		struct x86v_insn *in = &p.in;
		int r, cls;

		if (leaves(in) && m.pool < 0 && in->cls == X86V_CALL && in->target &&
		    (in->target == s->ls->libc_malloc || in->target == s->ls->libc_calloc)) {
			/* a size known to be over 512 bytes: only the raw path is left */
			walk_large(s, start, st);
			return st->n_probes == 2 ? 0 : -ENOENT;
		}
		if (leaves(in)) {
			snprintf(st->reason, sizeof(st->reason),
				 "the path leaves at 0x%llx (%s) before the pool pop",
				 (unsigned long long)in->vaddr, in->text);
			return -ENOENT;
		}
		if (m.block >= 0 && (m.block_written & (1u << m.block)))
			break;
		if (m.pool < 0 && size_check(&p, st, &m, &large))
			continue;
		if (in->cls == X86V_LEA && is_reg(&in->op[0], -1) && in->op[1].disp == -1 &&
		    in->op[1].base >= 0 && in->op[1].base < 16 && in->op[1].index == X86V_NOREG) {
			m.lea_dst = in->op[0].reg;
			m.lea_src = in->op[1].base;
		}
		if (m.pool < 0 && (r = usedpools_load(s->ls, in, &cls)) >= 0) {
			m.pool = r;
			st->size_class = cls;
		} else if (m.pool >= 0 && m.block < 0 && (r = load_from(in, m.pool, 8)) >= 0) {
			m.block = r;
			m.block_written = 0;
			path__advance(&p, false);
			continue;
		} else if (m.block >= 0 && m.next < 0 && (r = load_from(in, m.block, 0)) >= 0) {
			m.next = r;
		} else if (in->cls == X86V_JCC && m.next >= 0 && p.prev.cls == X86V_TEST &&
			   is_reg(&p.prev.op[0], m.next) && is_reg(&p.prev.op[1], m.next)) {
			struct lto_probe *pr = site_probe(st);

			if (!pr)
				return -ENOSPC;
			set_probe(pr, LTO_PROBE_BLOCK, in, m.block, m.pool);
			if (large)
				walk_large(s, large, st);
			return 0;
		} else if (in->cls == X86V_JCC && m.pool >= 0 && m.block < 0) {
			/* `cmp pool, pool->nextpool`: equal means no used pool, the
			 * new-pool path; the fast path is the other way */
			path__advance(&p, in->cc == X86V_CC_NE);
			continue;
		}
		if (m.block >= 0)
			m.block_written |= in->gpr_written;
		path__advance(&p, false);
	}
	snprintf(st->reason, sizeof(st->reason), "no pool pop (usedpools load, freeblock "
		 "test) on the fast path within %u instructions", WALK_INSNS);
	return -ENOENT;
}

/* A free fast path as walked: its instructions, up to the one that shows
 * which register holds the pointer. */
struct fwalk {
	struct x86v_insn insn[WALK_INSNS];
	unsigned n;
	int ptr;                  /* the pointer's GPR */
	unsigned copy;            /* index of the `mov R, ptr` that the match used */
	uint64_t pool_size;       /* from `and $-POOL_SIZE`, 0 when matched by shr */
};

/* Whether a copy R of the pointer gets the pool mask (`and $-POOL_SIZE, R`)
 * or the arena-map shift (`shr $imm >= 32, R`, 3.10+'s radix tree): both
 * happen first thing in pymalloc_free's address_in_range. */
static bool free_marker(const struct x86v_insn *in, uint64_t *pool_size)
{
	const struct x86v_op *d = &in->op[0], *src = &in->op[1];
	uint64_t size;

	if (!is_reg(d, -1) || d->size != 8 || src->type != X86V_OP_IMM)
		return false;
	*pool_size = 0;
	if (in->cls == X86V_AND && src->imm < 0) {
		size = -(uint64_t)src->imm;
		/* a power of two between 4 KiB and 1 MiB */
		if (size < 4096 || size > (1u << 20) || (size & (size - 1)))
			return false;
		*pool_size = size;
		return true;
	}
	return !strncmp(in->text, "shr ", 4) && src->imm >= 32 && src->imm < 64;
}

/* Follows a free fast path from start to the first copy of a register that
 * gets a free marker, and on to the first jcc; fills fw.  0, or -ENOENT. */
static int walk_free(const struct scan *s, uint64_t start, struct fwalk *fw)
{
	int copy_of[16], copied_at[16];
	bool matched = false;
	uint64_t size;
	struct path p;

	for (int i = 0; i < 16; i++)
		copy_of[i] = copied_at[i] = -1;
	fw->n = 0;
	fw->pool_size = 0;
	path__init(&p, s, start);
	while (fw->n < WALK_INSNS && path__next(&p)) {
		struct x86v_insn *in = &p.in;
		const struct x86v_op *d = &in->op[0], *src = &in->op[1];

		if (leaves(in))
			return matched ? 0 : -ENOENT;
		fw->insn[fw->n] = *in;
		if (matched && in->cls == X86V_JCC) {
			fw->n++;
			return 0;
		}
		if (is_reg(d, -1) && copy_of[d->reg] >= 0 && free_marker(in, &size)) {
			if (!matched) {
				fw->ptr = copy_of[d->reg];
				fw->copy = (unsigned)copied_at[d->reg];
				matched = true;
			}
			/* the shift may come first; the mask gives the pool size */
			if (copy_of[d->reg] == fw->ptr && size && !fw->pool_size)
				fw->pool_size = size;
		}
		for (int i = 0; i < 16; i++)
			if ((copy_of[i] >= 0 && (in->gpr_written & (1u << copy_of[i]))) ||
			    (in->gpr_written & (1u << i)))
				copy_of[i] = -1;
		if (in->cls == X86V_MOV && is_reg(d, -1) && d->size == 8 && is_reg(src, -1)) {
			copy_of[d->reg] = src->reg;
			copied_at[d->reg] = (int)fw->n;
		}
		fw->n++;
		path__advance(&p, false);
	}
	return matched ? 0 : -ENOENT;
}

/* No instruction strictly between indexes a and b (a may be -1) writes reg. */
static bool reg_kept(const struct fwalk *fw, int a, int b, int reg)
{
	if (a > b) {
		int t = a;

		a = b;
		b = t;
	}
	for (int i = a + 1; i < b; i++)
		if (fw->insn[i].gpr_written & (1u << reg))
			return false;
	return true;
}

/* The cheap instruction where the pointer is in fw->ptr on every pass: the
 * first emulated one (the first jcc, for a site) with no branch before it.
 * Its index, or -1. */
static int free_probe_index(const struct fwalk *fw, bool any_emulated)
{
	for (unsigned i = 0; i < fw->n; i++) {
		const struct x86v_insn *in = &fw->insn[i];

		if (in->emulated && (any_emulated || in->cls == X86V_JCC))
			return reg_kept(fw, (int)i, (int)fw->copy, fw->ptr) ? (int)i : -1;
		if (in->cls == X86V_JCC)
			return -1;
	}
	return -1;
}

/* ---- sites ---------------------------------------------------------------- */

static struct lto_site *scan__new_site(struct scan *s)
{
	struct lto_sites *ls = s->ls;

	if (ls->n_sites == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct lto_site *n;

		if (cap > MAX_SITES)
			return NULL;
		n = realloc(ls->site, cap * sizeof(*n));
		if (!n)
			return NULL;
		ls->site = n;
		s->cap = cap;
	}
	memset(&ls->site[ls->n_sites], 0, sizeof(ls->site[0]));
	ls->site[ls->n_sites].size_class = -1;
	ls->site[ls->n_sites].size_reg = -1;
	return &ls->site[ls->n_sites++];
}

/* The static slot the compared register was loaded from: decodes forward
 * from a little before the cmp, from the nearest start that lands on it. */
static uint64_t hook_slot_before(const struct scan *s, uint64_t cmp, int reg)
{
	for (uint64_t back = 2; back <= BACK_BYTES && back <= cmp; back++) {
		uint64_t pc = cmp - back, slot = 0;
		struct x86v_insn in;

		while (pc < cmp && !scan__decode(s, pc, &in)) {
			if (in.gpr_written & (1u << reg))
				slot = 0;
			if (in.cls == X86V_MOV && is_reg(&in.op[0], reg) && in.op[0].size == 8 &&
			    in.op[1].type == X86V_OP_MEM && in.op[1].is_static && !in.op[1].seg)
				slot = in.op[1].addr;
			pc += in.len;
		}
		if (pc == cmp && slot)
			return slot;
	}
	return 0;
}

static enum lto_domain domain_of(const struct lto_sites *ls, uint64_t slot)
{
	if (slot >= ls->obj_struct && slot < ls->obj_struct + 40)
		return LTO_DOM_OBJ;
	if (slot >= ls->mem_struct && slot < ls->mem_struct + 40)
		return LTO_DOM_MEM;
	return LTO_DOM_UNKNOWN;
}

static void analyse_malloc(struct scan *s, struct lto_site *st)
{
	if (walk_malloc(s, st->fast_vaddr, st))
		return;
	st->handled = true;
	if (st->size_class < 0 && st->n_probes == 1)
		snprintf(st->reason, sizeof(st->reason), "requests over 512 bytes not seen "
			 "(no direct libc call found on the large path)");
}

static void analyse_free(struct scan *s, struct lto_site *st, const struct x86v_insn *check,
			 int hook_reg)
{
	struct fwalk *fw = malloc(sizeof(*fw));
	int at;

	if (!fw || walk_free(s, st->fast_vaddr, fw)) {
		snprintf(st->reason, sizeof(st->reason), "no pointer copy that gets the pool "
			 "mask or the arena-map shift on the fast path");
		goto out;
	}
	if (fw->pool_size && !s->ls->pool_size)
		s->ls->pool_size = fw->pool_size;
	if (fw->pool_size && fw->pool_size != s->ls->pool_size) {
		snprintf(st->reason, sizeof(st->reason), "pool mask 0x%llx differs from 0x%llx",
			 (unsigned long long)fw->pool_size, (unsigned long long)s->ls->pool_size);
		goto out;
	}
	if (check && reg_kept(fw, -1, (int)fw->copy, fw->ptr)) {
		/* the pointer is already in place at the hook check */
		set_probe(site_probe(st), LTO_PROBE_FREE_CHECK, check, fw->ptr, hook_reg);
		st->handled = true;
		goto out;
	}
	at = free_probe_index(fw, !check);
	if (at < 0) {
		snprintf(st->reason, sizeof(st->reason), "the pointer is not in a register at "
			 "an emulated instruction before the first branch");
		goto out;
	}
	/* past the hook check: only the fast path gets here, no hook test needed */
	set_probe(site_probe(st), LTO_PROBE_FREE_CHECK, &fw->insn[at], fw->ptr, -1);
	st->handled = true;
out:
	free(fw);
}

static void analyse_realloc(struct lto_site *st)
{
	snprintf(st->reason, sizeof(st->reason), "realloc: moves call _PyObject_Malloc and "
		 "_PyObject_Free (probed there); raw blocks moved by libc are not seen");
}

/* One `cmp $hook_fn, X` at vaddr: the kind, the jcc after it, the fast path. */
static int scan__site(struct scan *s, uint64_t vaddr, const struct x86v_insn *cmp,
		      enum lto_kind kind)
{
	struct lto_site *st = scan__new_site(s);
	struct x86v_insn j;
	int hook_reg = -1;

	if (!st)
		return -ENOMEM;
	st->cmp_vaddr = vaddr;
	st->kind = kind;
	st->expect = s->ls->hook_fn[kind];
	if (is_reg(&cmp->op[0], -1)) {
		hook_reg = cmp->op[0].reg;
		st->hook_slot = hook_slot_before(s, vaddr, hook_reg);
	} else if (cmp->op[0].type == X86V_OP_MEM && cmp->op[0].is_static) {
		st->hook_slot = cmp->op[0].addr;
	}
	st->domain = domain_of(s->ls, st->hook_slot);
	if (scan__decode(s, vaddr + cmp->len, &j) || j.cls != X86V_JCC ||
	    (j.cc != X86V_CC_E && j.cc != X86V_CC_NE)) {
		snprintf(st->reason, sizeof(st->reason), "no je/jne after the hook compare");
		return 0;
	}
	st->fast_vaddr = j.cc == X86V_CC_E ? j.target : j.vaddr + j.len;
	if (st->domain == LTO_DOM_UNKNOWN && st->hook_slot) {
		snprintf(st->reason, sizeof(st->reason), "compares slot 0x%llx, not an allocator "
			 "hook", (unsigned long long)st->hook_slot);
		return 0;
	}
	switch (kind) {
	case LTO_MALLOC:
	case LTO_CALLOC:
		analyse_malloc(s, st);
		break;
	case LTO_FREE:
		analyse_free(s, st, &j, hook_reg);
		break;
	default:
		analyse_realloc(st);
	}
	return 0;
}

/* The hook functions themselves: callers that LTO did not inline call them
 * directly (realloc's moves, PyObject_Malloc when a hook chains to it...). */
static int scan__functions(struct scan *s)
{
	for (unsigned k = 0; k < LTO_NKINDS; k++) {
		struct lto_site *st = scan__new_site(s);

		if (!st)
			return -ENOMEM;
		st->cmp_vaddr = st->fast_vaddr = st->expect = s->ls->hook_fn[k];
		st->kind = k;
		st->domain = LTO_DOM_FUNC;
		if (k == LTO_FREE)
			analyse_free(s, st, NULL, -1);
		else if (k == LTO_REALLOC)
			snprintf(st->reason, sizeof(st->reason), "realloc: not probed; see the "
				 "malloc and free functions");
		else
			analyse_malloc(s, st);
	}
	return 0;
}

/* The compare that ends at imm (the 4 bytes of a hook function's address),
 * if a `cmp $imm32, r/m64` does. */
static bool cmp_ending_at(const struct scan *s, uint64_t imm_vaddr, uint64_t fn,
			  struct x86v_insn *cmp, uint64_t *start)
{
	for (unsigned back = 2; back <= 10 && back <= imm_vaddr; back++) {
		if (scan__decode(s, imm_vaddr - back, cmp))
			continue;
		if (cmp->len != back + 4 || cmp->cls != X86V_CMP || cmp->nops != 2 ||
		    cmp->op[1].type != X86V_OP_IMM || (uint64_t)cmp->op[1].imm != fn ||
		    cmp->op[0].size != 8)
			continue;
		*start = imm_vaddr - back;
		return true;
	}
	return false;
}

/* Every `cmp $fn, ...` in the executable segments: kind k, or a raw site. */
static int scan__compares(struct scan *s, uint64_t fn, int kind)
{
	uint8_t pat[4];

	if (!fn || fn > UINT32_MAX)
		return 0;
	for (int i = 0; i < 4; i++)
		pat[i] = (uint8_t)(fn >> (8 * i));
	for (unsigned g = 0; g < s->nseg; g++) {
		const struct seg *sg = &s->seg[g];
		const uint8_t *p = sg->buf, *end = sg->buf + sg->len;

		while (p < end && (p = memmem(p, (size_t)(end - p), pat, 4))) {
			uint64_t at = sg->vaddr + (uint64_t)(p - sg->buf), start;
			struct x86v_insn cmp;
			int err;

			p++;
			if (!cmp_ending_at(s, at, fn, &cmp, &start))
				continue;
			if (kind < 0) {
				s->ls->raw_sites++;
				continue;
			}
			err = scan__site(s, start, &cmp, (enum lto_kind)kind);
			if (err)
				return err;
		}
	}
	return 0;
}

/* The function that _PyObject_Malloc calls when no used pool has room:
 * allocate_from_new_pool (Py_NO_INLINE since 3.9), the only direct call on
 * its path before the raw fallback. */
static void scan__new_pool(struct scan *s)
{
	struct lto_sites *ls = s->ls;
	struct x86v_insn in;
	uint64_t pc = ls->hook_fn[LTO_MALLOC];

	for (unsigned n = 0; n < 128 && !scan__decode(s, pc, &in); n++) {
		if (in.cls == X86V_CALL && in.target && in.target != ls->libc_malloc) {
			ls->new_pool_fn = in.target;
			break;
		}
		pc += in.len;
	}
	if (!ls->new_pool_fn)
		return;
	ls->new_pool_probe.role = LTO_PROBE_NEWPOOL_RET;
	ls->new_pool_probe.vaddr = ls->new_pool_fn;
	ls->new_pool_probe.emulated = false;
	snprintf(ls->new_pool_probe.insn, sizeof(ls->new_pool_probe.insn), "(uretprobe)");
	ls->new_pool_probe.reg = RAX;
	ls->new_pool_probe.reg2 = -1;
}

static void scan__totals(struct lto_sites *ls)
{
	for (size_t i = 0; i < ls->n_sites; i++) {
		const struct lto_site *st = &ls->site[i];

		if (st->domain == LTO_DOM_FUNC)
			continue;
		ls->total[st->kind].found++;
		ls->total[st->kind].handled += st->handled;
	}
	for (size_t i = 0; i < ls->n_sites; i++)
		for (unsigned j = 0; j < ls->site[i].n_probes; j++) {
			ls->probes++;
			ls->emulated_probes += ls->site[i].probe[j].emulated;
		}
}

static int scan__run(struct scan *s, struct interp *in, char *err, size_t errlen)
{
	struct lto_sites *ls = s->ls;
	int e = scan__load_text(s);

	if (e) {
		snprintf(err, errlen, "cannot read the executable segments of '%s'",
			 in->open_path);
		return e;
	}
	e = scan__structs(s, in, err, errlen);
	if (e)
		return e;
	scan__new_pool(s);
	e = scan__functions(s);
	for (unsigned k = 0; !e && k < LTO_NKINDS; k++)
		e = scan__compares(s, ls->hook_fn[k], (int)k);
	if (!e)
		e = scan__compares(s, ls->raw_malloc_fn, -1);
	if (e) {
		snprintf(err, errlen, "out of memory listing sites");
		return e;
	}
	scan__totals(ls);
	return 0;
}

int lto_sites__scan(struct interp *in, struct lto_sites **out, char *err, size_t errlen)
{
	struct scan s = { .ef = in->elf };
	char dummy[8];
	int e;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = 0;
	s.ls = calloc(1, sizeof(*s.ls));
	s.dec = x86v__new();
	if (!s.ls || !s.dec) {
		snprintf(err, errlen, "out of memory");
		e = -ENOMEM;
	} else {
		e = scan__run(&s, in, err, errlen);
	}
	for (unsigned i = 0; i < s.nseg; i++)
		free(s.seg[i].buf);
	x86v__free(s.dec);
	if (e) {
		lto_sites__free(s.ls);
		return e;
	}
	*out = s.ls;
	return 0;
}

void lto_sites__free(struct lto_sites *ls)
{
	if (!ls)
		return;
	free(ls->site);
	free(ls);
}
