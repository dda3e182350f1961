/* Probe plan: see plan.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "lto_sites.h"
#include "mapped_elf.h"
#include "plan.h"
#include "probe_site.h"
#include "procmaps.h"
#include "pymalloc_site.h"
#include "remote_mem.h"
#include "usdt_args.h"
#include "pymemtrace.h"
#include "x86_decode.h"

static struct plan_probe *plan_add(struct plan *p, enum plan_prog prog, const char *name)
{
	struct plan_probe *pp;

	if (p->n_probes >= PLAN_MAX_PROBES) {
		/* a probe left out unsaid would be a silent gap in the counts */
		pr_warn("probe plan full (%d probes): %s not planned", PLAN_MAX_PROBES,
			name ? name : "a probe");
		return NULL;
	}
	pp = &p->probes[p->n_probes++];
	memset(pp, 0, sizeof(*pp));
	pp->prog = prog;
	pp->name = name;
	return pp;
}

/* Fills vaddr/file_offset for a probe at an ELF vaddr; false if the address
 * is not in a file-backed segment (then the probe is marked unavailable). */
static bool plan_locate(struct plan *p, struct plan_probe *pp, uint64_t vaddr)
{
	uint64_t off;
	int err = elf_file__vaddr_to_offset(p->interp.elf, vaddr, &off);

	if (err) {
		pp->available = false;
		fmt_msg(pp->reason, sizeof(pp->reason),
			"address 0x%llx is not in a loaded segment of '%s'",
			(unsigned long long)vaddr, p->interp.map_path);
		return false;
	}
	pp->vaddr = vaddr;
	pp->file_offset = off;
	pp->available = true;
	return true;
}

/* ---- GC ------------------------------------------------------------------ */

/* A USDT probe's argument 0 and semaphore, for a uprobe_multi link: sets
 * usdt_decoded, or leaves it false (libbpf's attach_usdt then reads the
 * note itself) and says why in what. */
static void plan_usdt_arg(struct plan *p, struct plan_probe *pp, const struct usdt_note *note,
			  char *what, size_t whatlen)
{
	struct usdt_arg arg;
	char why[160] = "";
	const char *knob = getenv(PLAN_ENV_LIBBPF_USDT);

	/* the test and debug knob: libbpf's reader, as for a spec ours refuses */
	if (knob && !strcmp(knob, "1")) {
		fmt_msg(what, whatlen, "argument not decoded (%s=1): libbpf's USDT attach",
			PLAN_ENV_LIBBPF_USDT);
		return;
	}
	if (usdt_arg_parse(note->args, 0, &arg, why, sizeof(why)) ||
	    usdt_arg_cookie(&arg, &pp->cookie)) {
		fmt_msg(what, whatlen, "argument not decoded (%s): libbpf's USDT attach",
			why[0] ? why : "displacement out of range");
		return;
	}
	if (note->semaphore &&
	    elf_file__vaddr_to_offset(p->interp.elf, note->semaphore, &pp->ref_ctr_offset)) {
		fmt_msg(what, whatlen, "semaphore not in a loaded segment: libbpf's USDT attach");
		return;
	}
	usdt_arg_describe(&arg, what, whatlen);
	pp->usdt_decoded = true;
}

/* PMT_GC_SERIAL (bpf/pymemtrace.h) for the GC probes' cookies: before 3.12
 * a process has one GIL, so its collections and their probes never overlap.
 * From 3.12 a subinterpreter may own a GIL (and 3.13t has none): the
 * per-thread hash then. */
static uint64_t gc_serial_bit(const struct plan *p)
{
	return pyversion_mm(&p->interp.version) < 312 ? PMT_GC_SERIAL : 0;
}

static bool plan_gc_usdt(struct plan *p)
{
	const struct usdt_note *start = interp__usdt(&p->interp, "gc__start");
	const struct usdt_note *done = interp__usdt(&p->interp, "gc__done");
	struct plan_probe *a, *b;
	char wa[192], wb[192];

	if (!start || !done)
		return false;
	a = plan_add(p, PLAN_USDT_GC_START, "gc_start");
	b = plan_add(p, PLAN_USDT_GC_DONE, "gc_done");
	if (!a || !b)
		return false;
	snprintf(a->target, sizeof(a->target), "python:gc__start");
	snprintf(b->target, sizeof(b->target), "python:gc__done");
	plan_locate(p, a, start->pc);
	plan_locate(p, b, done->pc);
	plan_usdt_arg(p, a, start, wa, sizeof(wa));
	plan_usdt_arg(p, b, done, wb, sizeof(wb));
	/* both or neither: a start in the slot needs its end to look there */
	if (a->usdt_decoded && b->usdt_decoded) {
		a->cookie |= gc_serial_bit(p);
		b->cookie |= gc_serial_bit(p);
	}
	fmt_msg(a->how, sizeof(a->how), "usdt python:gc__start @0x%llx, semaphore 0x%llx, args '%s' "
		"(generation: %s)", (unsigned long long)start->pc,
		(unsigned long long)start->semaphore, start->args, wa);
	fmt_msg(b->how, sizeof(b->how), "usdt python:gc__done @0x%llx, semaphore 0x%llx, args '%s' "
		"(collected: %s)", (unsigned long long)done->pc,
		(unsigned long long)done->semaphore, done->args, wb);
	snprintf(a->reason, sizeof(a->reason), "the interpreter has USDT gc probes (preferred: stable, cheap)");
	snprintf(b->reason, sizeof(b->reason), "the interpreter has USDT gc probes (preferred: stable, cheap)");
	return true;
}

struct gc_candidates {
	struct elf_sym syms[8];
	unsigned n;
	const char *base;
};

/* Collects `base` and its GCC clones (`base.constprop.N`, `base.isra.N`);
 * `.part.N` and `.cold` pieces are not entry points and are skipped. */
static int collect_gc_candidate(const struct elf_sym *sym, void *ctx)
{
	struct gc_candidates *c = ctx;
	size_t n = strlen(c->base);

	if (sym->type != 2 /* STT_FUNC */ || !sym->vaddr || strncmp(sym->name, c->base, n))
		return 0;
	if (sym->name[n] != '\0' && strncmp(sym->name + n, ".constprop.", 11) &&
	    strncmp(sym->name + n, ".isra.", 6))
		return 0;
	for (unsigned i = 0; i < c->n; i++)
		if (c->syms[i].vaddr == sym->vaddr)
			return 0;
	if (c->n < sizeof(c->syms) / sizeof(c->syms[0]))
		c->syms[c->n++] = *sym;
	return 0;
}

/* Where does this function take `int generation`?  The plain function takes
 * it as its second argument.  A clone may have dropped the first (constant)
 * argument, or folded the generation into a constant: the prologue tells. */
static int gc_generation_source(struct plan *p, const struct elf_sym *sym, const char **what)
{
	uint8_t code[96];
	unsigned reads;

	if (!strchr(sym->name, '.')) {
		*what = "arg1 (signature: tstate/state, int generation, ...)";
		return PMT_GEN_ARG1;
	}
	if (elf_file__read_vaddr(p->interp.elf, sym->vaddr, code, sizeof(code))) {
		*what = "clone whose code could not be read";
		return -1;
	}
	reads = x86_int32_arg_reads(code, sizeof(code), sym->vaddr, 24);
	if (reads == 1) {
		*what = "arg0 (clone reads %edi as an int: the constant first argument was dropped)";
		return PMT_GEN_ARG0;
	}
	if (reads == 2) {
		*what = "arg1 (clone reads %esi as an int)";
		return PMT_GEN_ARG1;
	}
	if (reads == 0) {
		*what = "constant 2 (clone reads no int argument: GCC folded the generation, "
			"which only full collections pass as a constant)";
		return PMT_GEN_CONST2;
	}
	*what = "ambiguous clone prologue";
	return -1;
}

/* _Py_DebugOffsets fields (3.13 layout, checked against
 * Include/internal/pycore_runtime.h with offsetof by tests/15-interp.bats). */
#define DBG_THREAD_STATE_INTERP 176
#define DBG_INTERP_GC           80
/* offsetof(struct _gc_runtime_state, generation_stats) in 3.13 (pycore_gc.h);
 * the debug offsets do not carry it. */
#define GC_STATE_GENERATION_STATS_313 128

/* 3.13's _Py_RunGC calls gc_collect_main with generation -1: the collector
 * picks one, or none.  Give the BPF side what it needs to find out which:
 * where generation_stats lives, from the interpreter's own debug offsets. */
static uint64_t gc_auto_cookie(struct plan *p, const char **what)
{
	uint64_t interp_off, gc_off;

	if (pyversion_mm(&p->interp.version) < 313)
		return 0;
	if (interp__debug_offset(&p->interp, DBG_THREAD_STATE_INTERP, &interp_off) ||
	    interp__debug_offset(&p->interp, DBG_INTERP_GC, &gc_off) ||
	    interp_off > 0xffff || gc_off + GC_STATE_GENERATION_STATS_313 > 0xffffff) {
		*what = "arg1; automatic collections (generation -1) cannot be attributed: "
			"no usable _Py_DebugOffsets";
		return 0;
	}
	*what = "arg1; for automatic collections (generation -1) the generation whose "
		"generation_stats counter grew (offsets from _Py_DebugOffsets)";
	return PMT_GEN_AUTO | (interp_off << 16) | ((gc_off + GC_STATE_GENERATION_STATS_313) << 32);
}

static bool plan_gc_uprobe(struct plan *p, const char **why_not)
{
	static const char *const names[] = { "gc_collect_main", "collect" };
	struct gc_candidates c = {};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]) && !c.n; i++) {
		c.base = names[i];
		elf_file__foreach_symbol(p->interp.elf, collect_gc_candidate, &c);
	}
	if (!c.n) {
		*why_not = p->interp.has_symtab
			? "no collection function (gc_collect_main, collect) in .symtab"
			: "no USDT gc probes, and .symtab is stripped, so the static collection "
			  "function cannot be found";
		return false;
	}
	for (unsigned i = 0; i < c.n; i++) {
		const struct elf_sym *s = &c.syms[i];
		struct plan_probe *e = plan_add(p, PLAN_GC_ENTRY, "gc_collect");
		struct plan_probe *r = plan_add(p, PLAN_GC_RETURN, "gc_collect_return");
		const char *what = "";
		int src = gc_generation_source(p, s, &what);

		if (!e || !r)
			break;
		snprintf(e->target, sizeof(e->target), "%s", s->name);
		snprintf(r->target, sizeof(r->target), "%s", s->name);
		if (src < 0) {
			fmt_msg(e->reason, sizeof(e->reason), "cannot tell where '%s' takes the generation: %s",
				s->name, what);
			memcpy(r->reason, e->reason, sizeof(r->reason));
			continue;
		}
		if (!plan_locate(p, e, s->vaddr))
			continue;
		plan_locate(p, r, s->vaddr);
		e->cookie = (uint64_t)src;
		if (src == PMT_GEN_ARG1)
			e->cookie |= gc_auto_cookie(p, &what);
		e->cookie |= gc_serial_bit(p);
		r->cookie = gc_serial_bit(p);
		fmt_msg(e->how, sizeof(e->how), "uprobe %s @0x%llx, generation: %s", s->name,
			(unsigned long long)s->vaddr, what);
		fmt_msg(r->how, sizeof(r->how), "uretprobe %s @0x%llx (returns collected + uncollectable)",
			s->name, (unsigned long long)s->vaddr);
		snprintf(e->reason, sizeof(e->reason), "no USDT gc probes; '%s' found in .symtab", s->name);
		memcpy(r->reason, e->reason, sizeof(r->reason));
	}
	return true;
}

static void plan_gc(struct plan *p)
{
	const char *why_not = NULL;
	struct plan_probe *pp;

	if (plan_gc_usdt(p) || plan_gc_uprobe(p, &why_not))
		return;
	pp = plan_add(p, PLAN_GC_ENTRY, "gc_collect");
	if (!pp)
		return;
	snprintf(pp->target, sizeof(pp->target), "gc_collect_main/collect");
	pp->available = false;
	fmt_msg(pp->reason, sizeof(pp->reason), "GC pauses unavailable: %s", why_not);
}

/* ---- arenas ---------------------------------------------------------------- */

/* The cheapest safe probe address in the function at vaddr (probe_site.h),
 * or vaddr itself when its code cannot be read. */
static uint64_t cheap_site(struct plan *p, uint64_t vaddr, unsigned keep, bool for_return)
{
	struct probe_site site;
	uint8_t code[128];
	uint64_t off = 1, len = sizeof(code);
	struct elf_sym fs;

	/* the function's size bounds the branch-target scan, when known */
	if (!elf_file__symbolize(p->interp.elf, vaddr, &fs, &off) && off == 0 && fs.size &&
	    fs.size < len)
		len = fs.size;
	if (elf_file__read_vaddr(p->interp.elf, vaddr, code, len) ||
	    probe_site_choose(code, len, vaddr, keep, for_return, &site))
		return vaddr;
	return site.vaddr;
}

/* The arena allocator's call to mmap, when its size argument (%rsi) reaches
 * it untouched: one emulated probe there, completed at the mmap syscall's
 * exit, replaces an entry probe and a uretprobe.  0 or -ENOENT. */
static int arena_mmap_call(struct plan *p, uint64_t alloc_va, struct probe_site *site)
{
	uint8_t code[128];

	if (elf_file__read_vaddr(p->interp.elf, alloc_va, code, sizeof(code)) ||
	    probe_site_first_call(code, sizeof(code), alloc_va, PS_RSI, site))
		return -ENOENT;
	/* Only a call set up as mmap(NULL, size, PROT_READ|PROT_WRITE,
	 * MAP_PRIVATE|MAP_ANONYMOUS, ...) is trusted to be the arena's mmap. */
	return site->mmap_args ? 0 : -ENOENT;
}

static void plan_arenas(struct plan *p)
{
	uint64_t alloc_va = 0, free_va = 0;
	char how[256] = "";
	struct probe_site site;
	struct plan_probe *a, *ar = NULL, *f;
	int ret = interp__arena_functions(&p->interp, &alloc_va, &free_va, how, sizeof(how));
	bool by_call = !ret && !arena_mmap_call(p, alloc_va, &site);

	a = plan_add(p, by_call ? PLAN_ARENA_MMAP_CALL : PLAN_ARENA_ALLOC, "arena_alloc");
	if (!by_call)
		ar = plan_add(p, PLAN_ARENA_ALLOC_RET, "arena_alloc_return");
	f = plan_add(p, PLAN_ARENA_FREE, "arena_free");
	if (!a || (!by_call && !ar) || !f)
		return;
	snprintf(a->target, sizeof(a->target), "arena allocator alloc()");
	if (ar)
		snprintf(ar->target, sizeof(ar->target), "arena allocator alloc() return");
	snprintf(f->target, sizeof(f->target), "arena allocator free()");
	if (ret) {
		fmt_msg(a->reason, sizeof(a->reason), "pymalloc arenas unavailable: %s", how);
		if (ar)
			memcpy(ar->reason, a->reason, sizeof(ar->reason));
		memcpy(f->reason, a->reason, sizeof(f->reason));
		return;
	}
	if (by_call) {
		plan_locate(p, a, site.vaddr);
		fmt_msg(a->how, sizeof(a->how), "uprobe at its mmap call @0x%llx ('%s', emulated; "
			"function @0x%llx; size: %%rsi), completed at the mmap syscall's exit",
			(unsigned long long)site.vaddr, site.insn, (unsigned long long)alloc_va);
	} else {
		if (plan_locate(p, a, alloc_va))
			plan_locate(p, ar, alloc_va);
		fmt_msg(a->how, sizeof(a->how), "uprobe @0x%llx (size: arg1)", (unsigned long long)alloc_va);
		fmt_msg(ar->how, sizeof(ar->how), "uretprobe @0x%llx (NULL: failed)",
			(unsigned long long)alloc_va);
		snprintf(ar->reason, sizeof(ar->reason), "%s", how);
	}
	/* free(ctx, ptr, size) needs no return probe, and only the size (%rdx)
	 * where it fires: it can move to a cheaper, emulated instruction. */
	plan_locate(p, f, cheap_site(p, free_va, PS_RDX, false));
	fmt_msg(f->how, sizeof(f->how), "uprobe @0x%llx (function @0x%llx; size: arg2)",
		(unsigned long long)f->vaddr, (unsigned long long)free_va);
	snprintf(a->reason, sizeof(a->reason), "%s", how);
	snprintf(f->reason, sizeof(f->reason), "%s", how);
}

/* ---- allocations ----------------------------------------------------------- */

enum { FN_MALLOC, FN_CALLOC, FN_REALLOC, FN_FREE, FN_NR };

static const struct alloc_fn {
	const char *pymalloc;     /* static pymalloc function (.symtab) */
	const char *libc;         /* libc's function (.dynsym) */
	const char *name;         /* report name prefix */
	uint64_t kind;            /* enum pmt_alloc_kind */
	unsigned keep;            /* argument registers the entry probe reads */
} alloc_fns[FN_NR] = {
	[FN_MALLOC]  = { "_PyObject_Malloc",  "malloc",  "malloc",  PMT_ALLOC_MALLOC,  PS_RDI | PS_RSI },
	[FN_CALLOC]  = { "_PyObject_Calloc",  "calloc",  "calloc",  PMT_ALLOC_CALLOC,  PS_RDI | PS_RSI | PS_RDX },
	[FN_REALLOC] = { "_PyObject_Realloc", "realloc", "realloc", PMT_ALLOC_REALLOC, PS_RDI | PS_RSI | PS_RDX },
	[FN_FREE]    = { "_PyObject_Free",    "free",    "free",    PMT_ALLOC_FREE,    PS_RDI | PS_RSI },
};

/* Allocating functions only the C library (or an allocator preloaded ahead
 * of it) has; free() frees their blocks.  PyTorch's CPU tensors and other
 * aligned buffers come from posix_memalign.  keep: as in alloc_fns, in
 * pymalloc's register order (plan_alloc_fn shifts it for libc's). */
static const struct alloc_fn raw_only_fns[] = {
	{ NULL, "posix_memalign", "posix_memalign", PMT_ALLOC_POSIX_MEMALIGN, PS_RSI | PS_RDX | PS_RCX },
	{ NULL, "aligned_alloc",  "aligned_alloc",  PMT_ALLOC_MEMALIGN,       PS_RSI | PS_RDX },
	{ NULL, "memalign",       "memalign",       PMT_ALLOC_MEMALIGN,       PS_RSI | PS_RDX },
	{ NULL, "valloc",         "valloc",         PMT_ALLOC_MALLOC,         PS_RSI },
	{ NULL, "pvalloc",        "pvalloc",        PMT_ALLOC_MALLOC,         PS_RSI },
};

#define PYMEM_ALLOCATOR_SIZE 40 /* PyMemAllocatorEx: ctx, malloc, calloc, realloc, free */

/* The functions pymalloc's object domain really calls, from the allocator
 * struct (_PyObject) that the exported PyObject_Malloc loads: its first data
 * reference is the struct or its malloc slot.  Read from the target, so a
 * replaced allocator (debug hooks, tracemalloc) is seen as it is. */
static int pymalloc_from_struct(struct plan *p, uint64_t fns[FN_NR], char *how, size_t howlen)
{
	struct interp *in = &p->interp;
	struct elf_sym sym;
	uint8_t code[128];
	uint64_t ref, v[5], off;

	if (interp__symbol(in, "PyObject_Malloc", &sym) ||
	    elf_file__read_vaddr(in->elf, sym.vaddr, code, sizeof(code)) ||
	    x86_first_data_ref(code, sizeof(code), sym.vaddr, 16, &ref)) {
		fmt_msg(how, howlen, "PyObject_Malloc's code does not show the allocator struct");
		return -ENOENT;
	}
	for (int back = 8; back >= 0; back -= 8) {
		uint64_t base = ref - back;
		bool ok;

		if (remote_read(in->pid, base + in->load_bias, v, sizeof(v)))
			continue;
		ok = true;
		for (int i = 1; i <= 4; i++)
			ok = ok && v[i] > in->load_bias &&
			     !elf_file__vaddr_to_offset(in->elf, v[i] - in->load_bias, &off);
		if (!ok)
			continue;
		for (int i = 0; i < FN_NR; i++)
			fns[i] = v[i + 1] - in->load_bias;
		fmt_msg(how, howlen, "the object allocator struct at 0x%llx, read from the process "
			"(found by decoding PyObject_Malloc)", (unsigned long long)base);
		return 0;
	}
	fmt_msg(how, howlen, "the object allocator struct near 0x%llx does not point into the "
		"interpreter (a custom allocator or debug hooks?)", (unsigned long long)ref);
	return -ENOENT;
}

static int pymalloc_functions(struct plan *p, uint64_t fns[FN_NR], char *how, size_t howlen)
{
	struct elf_sym sym;
	int found = 0;

	for (int i = 0; i < FN_NR; i++)
		if (!interp__symbol(&p->interp, alloc_fns[i].pymalloc, &sym) &&
		    sym.source == ELF_SRC_SYMTAB) {
			fns[i] = sym.vaddr;
			found++;
		}
	if (found == FN_NR) {
		fmt_msg(how, howlen, "pymalloc functions from .symtab");
		return 0;
	}
	return pymalloc_from_struct(p, fns, how, howlen);
}

/* Plans the entry (+ return) probes of one allocator function. */
static void plan_alloc_fn(struct plan *p, struct elf_file *ef, const char *path, uint64_t vaddr,
			  uint64_t size, const struct alloc_fn *fn, bool raw, const char *where)
{
	uint64_t kind = fn->kind | (raw ? PMT_ALLOC_RAW : 0);
	bool is_free = fn->kind == PMT_ALLOC_FREE;
	/* libc's functions take no ctx: the arguments start one register earlier */
	unsigned keep = raw ? fn->keep >> 1 : fn->keep;
	struct probe_site site = {};
	uint8_t code[256];
	size_t len = size && size < sizeof(code) ? size : sizeof(code);
	struct plan_probe *e, *r = NULL;
	uint64_t off;

	e = plan_add(p, is_free ? PLAN_FREE : PLAN_ALLOC_ENTRY, NULL);
	if (!is_free)
		r = plan_add(p, PLAN_ALLOC_RETURN, NULL);
	if (!e || (!is_free && !r))
		return;
	e->path = r ? (r->path = path) : path;
	e->name = raw ? (is_free ? "raw_free" : "raw_alloc") : (is_free ? "pymalloc_free" : "pymalloc_alloc");
	if (r)
		r->name = raw ? "raw_alloc_return" : "pymalloc_alloc_return";
	snprintf(e->target, sizeof(e->target), "%s", raw ? fn->libc : fn->pymalloc);
	if (r)
		memcpy(r->target, e->target, sizeof(r->target));
	if (elf_file__read_vaddr(ef, vaddr, code, len) ||
	    probe_site_choose(code, len, vaddr, keep, !is_free, &site)) {
		fmt_msg(e->reason, sizeof(e->reason), "cannot read the code of '%s'", e->target);
		if (r)
			memcpy(r->reason, e->reason, sizeof(r->reason));
		return;
	}
	if (elf_file__vaddr_to_offset(ef, site.vaddr, &off)) {
		fmt_msg(e->reason, sizeof(e->reason), "'%s' is not in a loaded segment", e->target);
		return;
	}
	e->vaddr = site.vaddr;
	e->file_offset = off;
	e->cookie = kind;
	e->available = true;
	fmt_msg(e->how, sizeof(e->how), "uprobe %s+%llu @0x%llx ('%s', %s)", e->target,
		(unsigned long long)(site.vaddr - vaddr), (unsigned long long)site.vaddr, site.insn,
		site.emulated ? "emulated" : "single-stepped");
	fmt_msg(e->reason, sizeof(e->reason), "%s; %s", where, site.why);
	if (r) {
		r->vaddr = e->vaddr;
		r->file_offset = off;
		r->cookie = kind;
		r->available = true;
		fmt_msg(r->how, sizeof(r->how), "uretprobe %s+%llu @0x%llx", r->target,
			(unsigned long long)(site.vaddr - vaddr), (unsigned long long)site.vaddr);
		memcpy(r->reason, e->reason, sizeof(r->reason));
	}
}

/* LTO's tail merging makes several inlined sites share one fast path, so
 * two sites can name the same probe instruction: it must be probed once, or
 * every allocation there counts twice.  A site-constant size class may not
 * hold for the other site: then the class is read from the pool.  True when
 * off was already planned. */
static bool lto_merge_duplicate(struct plan_lto *lto, uint64_t off, uint64_t cookie)
{
	const uint64_t sc_mask = 0xffULL << 13;

	for (size_t i = 0; i < lto->n; i++) {
		if (lto->offsets[i] != off)
			continue;
		if ((lto->cookies[i] & sc_mask) != (cookie & sc_mask))
			lto->cookies[i] &= ~sc_mask;
		return true;
	}
	return false;
}

/* LTO builds: probes inside the inlined copies of pymalloc (lto_sites.h),
 * attached as one uprobe_multi link.  Returns true when they replace the
 * malloc, calloc and free entry probes of pymalloc. */
static bool plan_lto(struct plan *p, const struct plan_opts *opts)
{
	struct lto_sites *ls = NULL;
	struct plan_probe *sites, *newpool;
	char err[256] = "";
	uint64_t off, cookie;

	if (lto_sites__scan(&p->interp, &ls, err, sizeof(err)) || !ls)
		return false;
	for (int k = 0; k < LTO_NKINDS; k++) {
		p->lto.sites_found += ls->total[k].found;
		p->lto.sites_handled += ls->total[k].handled;
	}
	if (!ls->total[LTO_MALLOC].found || !ls->new_pool_fn) {
		lto_sites__free(ls);
		return false; /* not an LTO build: the entry probes see everything */
	}
	if (!opts->uprobe_multi) {
		/* Hundreds of perf-event uprobes would take tens of seconds to
		 * remove: only the entry probes, as on a kernel before 6.6. */
		sites = plan_add(p, PLAN_LTO_SITES, "lto_sites");
		if (sites) {
			snprintf(sites->target, sizeof(sites->target), "inlined pymalloc");
			fmt_msg(sites->reason, sizeof(sites->reason), "%u inlined allocator sites "
				"not probed: they need a uprobe_multi link, and %s; pymalloc's "
				"entry probes see only the calls that were not inlined",
				p->lto.sites_found, opts->no_multi_why ? opts->no_multi_why : "?");
		}
		p->lto.sites_found = p->lto.sites_handled = 0;
		lto_sites__free(ls);
		return false;
	}
	p->lto.offsets = calloc(ls->probes + 1, sizeof(uint64_t));
	p->lto.cookies = calloc(ls->probes + 1, sizeof(uint64_t));
	if (!p->lto.offsets || !p->lto.cookies) {
		lto_sites__free(ls);
		return false;
	}
	for (size_t i = 0; i < ls->n_sites; i++) {
		const struct lto_site *site = &ls->site[i];

		for (unsigned j = 0; j < site->n_probes; j++) {
			const struct lto_probe *pr = &site->probe[j];

			/* Raw-domain calls are seen by the C library's probes. */
			if (pr->role != LTO_PROBE_BLOCK && pr->role != LTO_PROBE_FREE_CHECK)
				continue;
			if (elf_file__vaddr_to_offset(p->interp.elf, pr->vaddr, &off) ||
			    p->lto.n >= ls->probes)
				continue;
			cookie = PMT_LTO_COOKIE(pr->role, pr->reg & 15,
						pr->reg2 >= 0 ? pr->reg2 + 1 : 0,
						site->size_class >= 0 ? site->size_class + 1 : 0);
			if (lto_merge_duplicate(&p->lto, off, cookie))
				continue;
			p->lto.offsets[p->lto.n] = off;
			p->lto.cookies[p->lto.n++] = cookie;
		}
	}
	p->lto.hook_free = ls->hook_fn[LTO_FREE];
	p->lto.pool_size = ls->pool_size;
	sites = plan_add(p, PLAN_LTO_SITES, "lto_sites");
	newpool = plan_add(p, PLAN_LTO_NEWPOOL, "lto_newpool");
	if (sites && newpool) {
		sites->available = p->lto.n > 0;
		snprintf(sites->target, sizeof(sites->target), "inlined pymalloc");
		fmt_msg(sites->how, sizeof(sites->how), "uprobe_multi, %zu probes in %u of %u "
			"inlined allocator sites (%u malloc, %u calloc, %u free; realloc sites: "
			"via the functions they call)", p->lto.n, p->lto.sites_handled,
			p->lto.sites_found, ls->total[LTO_MALLOC].handled,
			ls->total[LTO_CALLOC].handled, ls->total[LTO_FREE].handled);
		fmt_msg(sites->reason, sizeof(sites->reason), "LTO inlined pymalloc's fast path "
			"into its callers: the probes sit inside the inlined copies, on jcc "
			"instructions the kernel emulates");
		if (!elf_file__vaddr_to_offset(p->interp.elf, ls->new_pool_probe.vaddr, &off)) {
			newpool->available = true;
			newpool->file_offset = off;
			newpool->vaddr = ls->new_pool_probe.vaddr;
			newpool->cookie = PMT_LTO_COOKIE(PMT_LTO_NEWPOOL_RET, 0, 0, 0);
		}
		snprintf(newpool->target, sizeof(newpool->target), "allocate_from_new_pool");
		fmt_msg(newpool->how, sizeof(newpool->how), "uretprobe allocate_from_new_pool "
			"@0x%llx (decoded)", (unsigned long long)ls->new_pool_fn);
		fmt_msg(newpool->reason, sizeof(newpool->reason), "blocks from a fresh pool");
	}
	lto_sites__free(ls);
	return true;
}

/* Non-inlined builds with a .symtab (pyenv's shared libpython): one probe per
 * allocation inside _PyObject_Malloc (pymalloc_site.h) instead of an entry
 * probe and a uretprobe.  Attached like the LTO sites, as a uprobe_multi
 * link on uprobe_lto, with the requested size read from a register.  True
 * when they replace the malloc entry and return probes; false with *why
 * (the entry and return probes stay, and say why). */
static bool plan_pymalloc_site(struct plan *p, const struct plan_opts *opts, uint64_t fn,
			       uint64_t size, char *why, size_t whylen)
{
	static const char *const block_fn_names[] = {
		"allocate_from_new_pool", "pymalloc_alloc", "pymalloc_alloc.constprop.0",
	};
	uint64_t block_fns[PMS_MAX_BLOCK_FNS], raw_fns[1], off;
	unsigned nb = 0, nr = 0;
	struct pms_sites ps;
	struct plan_probe *sites;
	struct elf_sym sym;
	uint8_t *code;
	int err;

	if (!opts->uprobe_multi) {
		fmt_msg(why, whylen, "no uprobe_multi link (%s)",
			opts->no_multi_why ? opts->no_multi_why : "?");
		return false;
	}
	if (!size || size > 4096) {
		fmt_msg(why, whylen, "the size of _PyObject_Malloc is unknown or absurd (%llu)",
			(unsigned long long)size);
		return false;
	}
	if (!interp__symbol(&p->interp, "_PyObject_Malloc.cold", &sym)) {
		fmt_msg(why, whylen, "_PyObject_Malloc has a .cold part: its paths cannot "
			"all be followed");
		return false;
	}
	for (unsigned i = 0; i < sizeof(block_fn_names) / sizeof(block_fn_names[0]); i++)
		if (!interp__symbol(&p->interp, block_fn_names[i], &sym) &&
		    sym.source == ELF_SRC_SYMTAB && nb < PMS_MAX_BLOCK_FNS)
			block_fns[nb++] = sym.vaddr;
	if (!interp__symbol(&p->interp, "PyMem_RawMalloc", &sym))
		raw_fns[nr++] = sym.vaddr;
	code = malloc(size);
	if (!code || elf_file__read_vaddr(p->interp.elf, fn, code, size)) {
		free(code);
		fmt_msg(why, whylen, "cannot read the code of _PyObject_Malloc");
		return false;
	}
	err = pms_find(code, size, fn, block_fns, nb, raw_fns, nr, &ps, why, whylen);
	free(code);
	if (err)
		return false;
	p->lto.offsets = calloc(ps.n, sizeof(uint64_t));
	p->lto.cookies = calloc(ps.n, sizeof(uint64_t));
	if (!p->lto.offsets || !p->lto.cookies) {
		free(p->lto.offsets);
		free(p->lto.cookies);
		p->lto.offsets = p->lto.cookies = NULL;
		fmt_msg(why, whylen, "out of memory");
		return false;
	}
	for (unsigned i = 0; i < ps.n; i++) {
		const struct pms_probe *pr = &ps.probe[i];

		if (elf_file__vaddr_to_offset(p->interp.elf, pr->vaddr, &off))
			continue;
		p->lto.offsets[p->lto.n] = off;
		p->lto.cookies[p->lto.n++] = PMT_LTO_COOKIE(PMT_LTO_BLOCK, pr->reg & 15,
				pr->pool_reg >= 0 ? pr->pool_reg + 1 : 0, 0) |
			PMT_LTO_SIZE_REG(pr->size_reg & 15);
	}
	if (p->lto.n != ps.n) {
		free(p->lto.offsets);
		free(p->lto.cookies);
		p->lto.offsets = p->lto.cookies = NULL;
		p->lto.n = 0;
		fmt_msg(why, whylen, "a probe site is not in a loaded segment");
		return false;
	}
	/* not inlined: every allocation passes here, so coverage stays known */
	p->lto.sites_found = p->lto.sites_handled = 0;
	sites = plan_add(p, PLAN_LTO_SITES, "pymalloc_sites");
	if (!sites)
		return true;
	sites->available = true;
	sites->path = p->interp.open_path;
	sites->vaddr = ps.probe[0].vaddr;
	sites->file_offset = p->lto.offsets[0];
	snprintf(sites->target, sizeof(sites->target), "_PyObject_Malloc");
	{
		char list[160] = "";
		size_t used = 0;

		for (unsigned i = 0; i < ps.n && used < sizeof(list); i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s @0x%llx (+%llu '%s')",
				i ? ", " : "", pms_role_name(ps.probe[i].role),
				(unsigned long long)ps.probe[i].vaddr,
				(unsigned long long)(ps.probe[i].vaddr - fn), ps.probe[i].insn);
		fmt_msg(sites->how, sizeof(sites->how), "uprobe_multi, %u emulated jcc's in "
			"_PyObject_Malloc: %s", ps.n, list);
	}
	fmt_msg(sites->reason, sizeof(sites->reason), "one trap per pymalloc allocation, block "
		"and requested size in registers (proven on %u paths); requests over 512 "
		"bytes are seen by the malloc family's probes", ps.paths);
	return true;
}

/* The process's C library: the executable mapping whose file defines the
 * malloc family.  File names only pick candidates; the symbols decide.
 * *at: its mapping in m. */
static struct elf_file *open_libc(struct plan *p, const struct procmaps *m, char *path,
				  size_t pathlen, const struct procmap_entry **at)
{
	struct elf_file *ef = NULL;
	struct elf_sym sym;
	bool via_map_files;

	for (size_t i = 0; i < m->n && !ef; i++) {
		const char *base = strrchr(m->v[i].path, '/');

		if (!(m->v[i].perms & PM_X) || !base || strncmp(base + 1, "libc", 4) ||
		    (base[5] != '.' && base[5] != '-'))
			continue;
		ef = mapped_elf_open(p->interp.pid, &m->v[i], path, pathlen, &via_map_files,
				     NULL, 0);
		if (ef && elf_file__find_symbol(ef, "malloc", &sym)) {
			elf_file__free(ef);
			ef = NULL;
		}
		if (ef) {
			*at = &m->v[i];
			if (via_map_files)
				mapped_elf_say_replaced(p->interp.pid, &m->v[i], path);
		}
	}
	return ef;
}

static bool same_mapped_file(const struct procmap_entry *a, const struct procmap_entry *b)
{
	return a->inode == b->inode && a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

/* The library that the interpreter's own calls to malloc reach.  The
 * dynamic linker binds them to the first definition in its search order:
 * libc's, unless an allocator such as jemalloc or tcmalloc comes ahead of it
 * (LD_PRELOAD, or linked before libc).  Its probes must then sit in that
 * library, or every raw-domain and native allocation goes unseen.  The
 * bound address is read from the import's slot in the process, and the
 * mapping that holds it names the file; the file must define malloc at
 * that address, or the answer is no.  NULL, with why in note, when it is
 * libc (libc_at) or cannot be told. */
static struct elf_file *open_bound_allocator(struct plan *p, const struct procmaps *m,
					     const struct procmap_entry *libc_at, char *path,
					     size_t pathlen, char *name, size_t namelen,
					     char *note, size_t notelen)
{
	struct interp *in = &p->interp;
	const struct procmap_entry *e = NULL;
	struct elf_file *ef;
	struct elf_sym sym;
	uint64_t slot, addr;
	bool via_map_files;

	if (elf_file__import_slot(in->elf, "malloc", &slot)) {
		fmt_msg(note, notelen, "the interpreter imports no malloc");
		return NULL;
	}
	if (remote_read(in->pid, slot + in->load_bias, &addr, sizeof(addr))) {
		fmt_msg(note, notelen, "its malloc import slot cannot be read");
		return NULL;
	}
	for (size_t i = 0; i < m->n && !e; i++)
		if (addr >= m->v[i].start && addr < m->v[i].end && (m->v[i].perms & PM_X) &&
		    m->v[i].path[0] == '/')
			e = &m->v[i];
	if (!e) {
		fmt_msg(note, notelen, "its malloc is bound to 0x%llx, in no mapped file",
			(unsigned long long)addr);
		return NULL;
	}
	if (libc_at && same_mapped_file(e, libc_at)) {
		fmt_msg(note, notelen, "bound to the C library's");
		return NULL;
	}
	/* not resolved yet (lazy binding): the slot points back into our PLT */
	if (!strcmp(e->path, in->map_path)) {
		fmt_msg(note, notelen, "not bound yet (lazy binding)");
		return NULL;
	}
	ef = mapped_elf_open(in->pid, e, path, pathlen, &via_map_files, NULL, 0);
	if (!ef || elf_file__find_symbol(ef, "malloc", &sym) || ((addr - sym.vaddr) & 0xfff)) {
		fmt_msg(note, notelen, "its malloc is bound into %s, which does not define it there",
			e->path);
		elf_file__free(ef);
		return NULL;
	}
	if (via_map_files)
		mapped_elf_say_replaced(in->pid, e, path);
	fmt_msg(name, namelen, "%s", strrchr(e->path, '/') + 1);
	return ef;
}

/* Plans the probes of one library's malloc family (libc's, or a preloaded
 * allocator's).  Aliases (glibc's aligned_alloc is memalign) share an
 * address: each address is probed once, or its calls would count twice. */
static void plan_raw_fns(struct plan *p, struct elf_file *ef, const char *path, const char *where)
{
	const unsigned n_all = FN_NR + sizeof(raw_only_fns) / sizeof(raw_only_fns[0]);
	uint64_t planned[FN_NR + sizeof(raw_only_fns) / sizeof(raw_only_fns[0])];
	unsigned n = 0;
	struct elf_sym sym;

	for (unsigned i = 0; i < n_all; i++) {
		const struct alloc_fn *fn = i < FN_NR ? &alloc_fns[i] : &raw_only_fns[i - FN_NR];
		bool dup = false;

		if (elf_file__find_symbol(ef, fn->libc, &sym))
			continue;
		for (unsigned j = 0; j < n; j++)
			dup |= planned[j] == sym.vaddr;
		if (dup)
			continue;
		planned[n++] = sym.vaddr;
		plan_alloc_fn(p, ef, path, sym.vaddr, sym.size, fn, true, where);
	}
}

static void plan_alloc(struct plan *p, const struct plan_opts *opts)
{
	uint64_t fns[FN_NR] = {};
	char how[256] = "", note[256] = "", where[320], bound_name[128] = "";
	const struct procmap_entry *libc_at = NULL;
	struct elf_file *libc, *bound;
	struct procmaps m = {};

	if (!pymalloc_functions(p, fns, how, sizeof(how))) {
		bool lto = !p->interp.has_symtab && plan_lto(p, opts);
		bool one_trap = false;
		char why[192] = "";
		unsigned first;

		for (int i = 0; i < FN_NR; i++) {
			uint64_t off = 1, size = 0;
			struct elf_sym fs;

			/* the function's size bounds the branch-target scan */
			if (!elf_file__symbolize(p->interp.elf, fns[i], &fs, &off) && off == 0)
				size = fs.size;
			/* With LTO, the inlined-site probes include these functions'
			 * own bodies: only realloc keeps its entry probe. */
			if (lto && i != FN_REALLOC)
				continue;
			if (!lto && i == FN_MALLOC && p->interp.has_symtab) {
				one_trap = plan_pymalloc_site(p, opts, fns[i], size, why, sizeof(why));
				if (one_trap)
					continue;
			}
			first = p->n_probes;
			plan_alloc_fn(p, p->interp.elf, p->interp.open_path, fns[i], size,
				      &alloc_fns[i], false, how);
			if (i == FN_MALLOC && why[0] && p->n_probes > first) {
				/* say why the one-trap site was not used, never silently */
				struct plan_probe *e = &p->probes[first];

				if (e->prog == PLAN_ALLOC_ENTRY && e->available)
					fmt_msg(e->reason + strlen(e->reason),
						sizeof(e->reason) - strlen(e->reason),
						"; no one-trap site: %s", why);
			}
		}
	} else {
		struct plan_probe *pp = plan_add(p, PLAN_ALLOC_ENTRY, "pymalloc_alloc");

		if (pp)
			fmt_msg(pp->reason, sizeof(pp->reason), "pymalloc allocations unavailable: %s", how);
	}
	if (procmaps__load(p->interp.pid, &m, NULL)) {
		struct plan_probe *pp = plan_add(p, PLAN_ALLOC_ENTRY, "raw_alloc");

		if (pp)
			fmt_msg(pp->reason, sizeof(pp->reason), "the process's mappings cannot be "
				"read: raw-domain and native allocations are not seen");
		return;
	}
	libc = open_libc(p, &m, p->libc_path, sizeof(p->libc_path), &libc_at);
	bound = open_bound_allocator(p, &m, libc_at, p->bound_path, sizeof(p->bound_path),
				     bound_name, sizeof(bound_name), note, sizeof(note));
	procmaps__release(&m);
	if (!libc && !bound) {
		struct plan_probe *pp = plan_add(p, PLAN_ALLOC_ENTRY, "raw_alloc");

		if (pp)
			fmt_msg(pp->reason, sizeof(pp->reason), "no C library with malloc found in the "
				"process's mappings, and the interpreter's malloc: %s: raw-domain "
				"and native allocations are not seen", note);
		return;
	}
	if (bound) {
		fmt_msg(where, sizeof(where), "raw domain and native code: the interpreter's "
			"malloc is bound to %s's%s", bound_name, libc ? ", ahead of the C library's" : "");
		plan_raw_fns(p, bound, p->bound_path, where);
		/* libc's stay probed: code bound to it directly still reaches
		 * them, and a call nested in another probed one counts once */
		fmt_msg(where, sizeof(where), "native code bound to the C library's allocator "
			"(the interpreter's is bound to %s's)", bound_name);
	} else {
		fmt_msg(where, sizeof(where), "raw domain and native code: the C library's "
			"allocator (the interpreter's malloc: %s)", note);
	}
	if (libc)
		plan_raw_fns(p, libc, p->libc_path, where);
	elf_file__free(bound);
	elf_file__free(libc);
}

/* ---- heap growth (--heap-growth) -------------------------------------------- */

/* allocate_from_new_pool (Py_NO_INLINE since 3.9): pymalloc gives a size
 * class a new pool there, so each call is POOL_SIZE bytes of pymalloc
 * growth.  Found in .symtab, or decoded on LTO builds (lto_sites.h). */
static void plan_growth(struct plan *p, const struct plan_opts *opts)
{
	struct plan_probe *pp = plan_add(p, PLAN_GROWTH_POOL, "growth_pool");
	const struct pyversion *v = &p->interp.version;
	struct lto_sites *ls = NULL;
	uint64_t fn = 0, pool = 0, site;
	const char *from = "";
	struct elf_sym sym;
	char err[256] = "";

	if (!pp)
		return;
	snprintf(pp->target, sizeof(pp->target), "allocate_from_new_pool");
	if (opts->growth_arenas) {
		/* a choice, not a failure: one trap and stack walk per pool
		 * refill is what --heap-growth costs on code that churns pools */
		fmt_msg(pp->reason, sizeof(pp->reason), "pool refills not probed "
			"(--heap-growth counts arenas; =pools probes them): pymalloc's "
			"growth is charged by arena, to the stack that needed a new one");
		return;
	}
	if (!elf_file__find_symbol(p->interp.elf, "allocate_from_new_pool", &sym)) {
		fn = sym.vaddr;
		/* POOL_BITS: 14 with the radix tree of 3.10+ on 64-bit, else 12 */
		pool = v->major == 3 && v->minor < 10 ? 4096 : 16384;
		from = ".symtab";
	} else if (!p->interp.has_symtab && !lto_sites__scan(&p->interp, &ls, err, sizeof(err)) &&
		   ls && ls->new_pool_fn && ls->pool_size) {
		fn = ls->new_pool_fn;
		pool = ls->pool_size;
		from = "decoded: the only direct call of the inlined allocation paths";
	}
	lto_sites__free(ls);
	if (!fn) {
		fmt_msg(pp->reason, sizeof(pp->reason), "pool refills unavailable: "
			"allocate_from_new_pool not found (%s); heap growth is still "
			"attributed at arenas, mmap and brk",
			v->major == 3 && v->minor < 9 ? "3.8 inlines it into pymalloc_alloc" :
			*err ? err : "no .symtab and not a decodable LTO build");
		return;
	}
	/* before any push: the return address is at the stack pointer */
	site = cheap_site(p, fn, 0, true);
	if (!plan_locate(p, pp, site))
		return;
	pp->cookie = pool;
	fmt_msg(pp->how, sizeof(pp->how), "uprobe allocate_from_new_pool+%llu @0x%llx "
		"(%s; %llu-byte pools)", (unsigned long long)(site - fn),
		(unsigned long long)site, from, (unsigned long long)pool);
	snprintf(pp->reason, sizeof(pp->reason), "each call gives a size class a new pool");
}

/* ---- plan ----------------------------------------------------------------- */

/* The probes of an interpreter found (plan__build, plan__build_file). */
static void plan_probes(const struct plan_opts *opts, struct plan *p)
{
	plan_gc(p);
	plan_arenas(p);
	if (opts && opts->alloc)
		plan_alloc(p, opts);
	if (opts && opts->heap_growth)
		plan_growth(p, opts);
	for (unsigned i = 0; i < p->n_probes; i++)
		if (!p->probes[i].path)
			p->probes[i].path = p->interp.open_path;
}

int plan__build(pid_t pid, const struct plan_opts *opts, struct plan *p, char *err,
		size_t errlen)
{
	int ret;

	memset(p, 0, sizeof(*p));
	ret = interp__find(pid, &p->interp, err, errlen);
	if (ret)
		return ret;
	plan_probes(opts, p);
	return 0;
}

int plan__build_file(const char *path, const struct plan_opts *opts, struct plan *p,
		     char *err, size_t errlen)
{
	int ret;

	memset(p, 0, sizeof(*p));
	ret = interp__find_file(path, &p->interp, err, errlen);
	if (ret)
		return ret;
	plan_probes(opts, p);
	/* Attached for every process of the file (attach.c reads the pid). */
	p->interp.pid = -1;
	return 0;
}

void plan__release(struct plan *p)
{
	if (!p)
		return;
	free(p->lto.offsets);
	free(p->lto.cookies);
	interp__release(&p->interp);
	memset(p, 0, sizeof(*p));
}

void plan__move(struct plan *dst, struct plan *src)
{
	uintptr_t lo = (uintptr_t)src, hi = lo + sizeof(*src);

	memcpy(dst, src, sizeof(*dst));
	for (unsigned i = 0; i < dst->n_probes; i++) {
		uintptr_t at = (uintptr_t)dst->probes[i].path;

		if (at >= lo && at < hi)
			dst->probes[i].path = (const char *)dst + (at - lo);
	}
	memset(src, 0, sizeof(*src));
}

/* The inlined sites' file offsets, eight to a line: the report names only
 * their count, and tools/bench rebuilds the same trap set from these. */
static void print_lto_offsets(FILE *f, const struct plan_lto *lto)
{
	for (size_t i = 0; i < lto->n; i++)
		fprintf(f, "%s0x%llx%s", i % 8 ? " " : "        lto site file offsets: ",
			(unsigned long long)lto->offsets[i], i % 8 == 7 || i + 1 == lto->n ? "\n" : "");
}

void plan__print(FILE *f, const struct plan *p)
{
	const struct interp *in = &p->interp;

	fprintf(f, "pid %d: CPython %s (%s)\n", (int)in->pid, in->version_str, in->version_source);
	fprintf(f, "  interpreter: %s (%s), opened as %s, load bias 0x%llx\n", in->map_path,
		in->kind == INTERP_STATIC ? "statically linked executable" : "shared libpython",
		in->open_path, (unsigned long long)in->load_bias);
	fprintf(f, "  symbol sources: .dynsym %s, .symtab %s, USDT notes: %zu\n",
		in->has_dynsym ? "yes" : "no", in->has_symtab ? "yes" : "no (stripped)", in->n_usdt);
	for (unsigned i = 0; i < p->n_probes; i++) {
		const struct plan_probe *pp = &p->probes[i];

		fprintf(f, "  probe %-18s %s\n", pp->name, pp->available ? pp->how : "UNAVAILABLE");
		if (pp->reason[0])
			fprintf(f, "        %-18s why: %s\n", "", pp->reason);
		if (pp->prog == PLAN_LTO_SITES && pp->available)
			print_lto_offsets(f, &p->lto);
	}
	fprintf(f, "  probe %-18s %s\n", "mmap/munmap/mremap/brk",
		"raw_tp sys_enter/sys_exit (syscall tracepoints; no kprobes, no tracefs needed)");
	fprintf(f, "  probe %-18s %s\n", "process_exit/exec", "raw_tp sched_process_exit/sched_process_exec");
	fprintf(f, "  probe %-18s %s\n", "page_faults", "/proc/PID/stat minflt/majflt (no probe: free)");
	fprintf(f, "  probe %-18s %s\n", "rss", "/proc/PID/status VmRSS/VmHWM, sampled");
	fprintf(f, "  probe %-18s %s\n", "cache", "perf_event_open hardware counters, if the machine has a PMU");
}
