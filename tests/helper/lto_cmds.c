/* pmt-test-tool commands for user/lto_sites.c (see tool.h):
 *   lto-sites FILE      the inlined allocator sites of an interpreter file, one
 *                       line each, then totals.
 * Output lines (space-separated key=value after the first fields):
 *   site CMP KIND DOMAIN handled=0|1 class=N|var size=REG|- probes=ROLE@ADDR:REG[/REG2]:emu|step,...
 *        [reason="..."]
 *   total KIND found=N handled=N
 *   ... and a few "key: value" lines for what the scan learned.
 *   pymalloc-site FILE [OFF=HEX]
 *                       the one-trap probe sites in FILE's _PyObject_Malloc
 *                       (user/pymalloc_site.h), after optionally overwriting
 *                       the function's bytes at offset OFF with HEX (to test
 *                       that unsafe code is refused).  Prints
 *                       "probe ROLE+OFF REG size=REG pool=REG|- 'INSN'" lines
 *                       and "paths: N", or "refused: WHY" (status 3). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "elf.h"
#include "interp.h"
#include "lto_sites.h"
#include "pymalloc_site.h"
#include "tool.h"
#include "x86_decode.h"

static void print_probe(const struct lto_probe *p, bool first)
{
	printf("%s%s@0x%" PRIx64 ":%s", first ? "" : ",", lto_role_name(p->role), p->vaddr,
	       x86v_gpr_name(p->reg));
	if (p->reg2 >= 0)
		printf("/%s", x86v_gpr_name(p->reg2));
	printf(":%s", p->emulated ? "emu" : "step");
}

static void print_site(const struct lto_site *st)
{
	printf("site 0x%" PRIx64 " %s %s handled=%d", st->cmp_vaddr, lto_kind_name(st->kind),
	       lto_domain_name(st->domain), st->handled);
	if (st->size_class >= 0)
		printf(" class=%d", st->size_class);
	else
		printf(" class=var");
	printf(" size=%s probes=", st->size_reg >= 0 ? x86v_gpr_name(st->size_reg) : "-");
	for (unsigned i = 0; i < st->n_probes; i++)
		print_probe(&st->probe[i], i == 0);
	if (!st->n_probes)
		printf("-");
	if (st->reason[0])
		printf(" reason=\"%s\"", st->reason);
	printf("\n");
}

static void print_summary(const struct lto_sites *ls)
{
	printf("obj_struct: 0x%" PRIx64 "\nmem_struct: 0x%" PRIx64 "\nraw_struct: 0x%" PRIx64 "\n",
	       ls->obj_struct, ls->mem_struct, ls->raw_struct);
	for (unsigned k = 0; k < LTO_NKINDS; k++)
		printf("hook_%s: 0x%" PRIx64 "\n", lto_kind_name(k), ls->hook_fn[k]);
	printf("libc_malloc: 0x%" PRIx64 "\nlibc_calloc: 0x%" PRIx64 "\n", ls->libc_malloc,
	       ls->libc_calloc);
	printf("usedpools: 0x%" PRIx64 "\nnew_pool_fn: 0x%" PRIx64 "\npool_size: 0x%" PRIx64 "\n",
	       ls->usedpools, ls->new_pool_fn, ls->pool_size);
	for (unsigned k = 0; k < LTO_NKINDS; k++)
		printf("total %s found=%u handled=%u\n", lto_kind_name(k), ls->total[k].found,
		       ls->total[k].handled);
	printf("raw_sites: %u\nprobes: %u\nemulated_probes: %u\n", ls->raw_sites, ls->probes,
	       ls->emulated_probes);
}

static int cmd_lto_sites(int argc, char **argv)
{
	struct lto_sites *ls;
	struct interp in;
	char err[256];
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: lto-sites FILE\n");
		return 2;
	}
	ret = interp__find_file(argv[1], &in, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "lto-sites: '%s': %s\n", argv[1], err);
		return 1;
	}
	ret = lto_sites__scan(&in, &ls, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "lto-sites: '%s': %s (%s)\n", argv[1], err, strerror(-ret));
		interp__release(&in);
		return 1;
	}
	for (size_t i = 0; i < ls->n_sites; i++)
		print_site(&ls->site[i]);
	print_summary(ls);
	lto_sites__free(ls);
	interp__release(&in);
	return 0;
}

/* Applies "OFF=HEXBYTES" to code[0..len): 0, or -1 when malformed or out of range. */
static int patch_code(uint8_t *code, size_t len, const char *spec)
{
	char *end;
	unsigned long off = strtoul(spec, &end, 0);
	size_t n;

	if (*end != '=' || off >= len)
		return -1;
	end++;
	n = strlen(end);
	if (n % 2 || off + n / 2 > len)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned b;

		if (sscanf(end + 2 * i, "%2x", &b) != 1)
			return -1;
		code[off + i] = (uint8_t)b;
	}
	return 0;
}

static int cmd_pymalloc_site(int argc, char **argv)
{
	static const char *const block_names[] = {
		"allocate_from_new_pool", "pymalloc_alloc", "pymalloc_alloc.constprop.0",
	};
	uint64_t block_fns[PMS_MAX_BLOCK_FNS];
	unsigned nb = 0;
	struct pms_sites ps;
	struct elf_sym fn, sym;
	struct interp in;
	uint8_t *code = NULL;
	char err[256];
	int ret = 1;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: pymalloc-site FILE [OFF=HEX]\n");
		return 2;
	}
	if (interp__find_file(argv[1], &in, err, sizeof(err))) {
		fprintf(stderr, "pymalloc-site: '%s': %s\n", argv[1], err);
		return 1;
	}
	if (interp__symbol(&in, "_PyObject_Malloc", &fn) || !fn.size || fn.size > 4096) {
		fprintf(stderr, "pymalloc-site: no sized _PyObject_Malloc in '%s'\n", argv[1]);
		goto out;
	}
	for (unsigned i = 0; i < sizeof(block_names) / sizeof(block_names[0]); i++)
		if (!interp__symbol(&in, block_names[i], &sym) && nb < PMS_MAX_BLOCK_FNS)
			block_fns[nb++] = sym.vaddr;
	code = malloc(fn.size);
	if (!code || elf_file__read_vaddr(in.elf, fn.vaddr, code, fn.size)) {
		fprintf(stderr, "pymalloc-site: cannot read _PyObject_Malloc\n");
		goto out;
	}
	if (argc == 3 && patch_code(code, fn.size, argv[2])) {
		fprintf(stderr, "pymalloc-site: bad patch '%s'\n", argv[2]);
		ret = 2;
		goto out;
	}
	if (pms_find(code, fn.size, fn.vaddr, block_fns, nb, NULL, 0, &ps, err, sizeof(err))) {
		printf("refused: %s\n", err);
		ret = 3;
		goto out;
	}
	for (unsigned i = 0; i < ps.n; i++) {
		const struct pms_probe *p = &ps.probe[i];

		printf("probe %s+%" PRIu64 " %s size=%s pool=%s '%s'\n", pms_role_name(p->role),
		       p->vaddr - fn.vaddr, x86v_gpr_name(p->reg), x86v_gpr_name(p->size_reg),
		       p->pool_reg >= 0 ? x86v_gpr_name(p->pool_reg) : "-", p->insn);
	}
	printf("paths: %u\n", ps.paths);
	ret = 0;
out:
	free(code);
	interp__release(&in);
	return ret;
}

const struct tool_cmd lto_cmds[] = {
	{ "lto-sites", "FILE: inlined allocator sites and their probes", cmd_lto_sites },
	{ "pymalloc-site", "FILE [OFF=HEX]: one-trap sites in _PyObject_Malloc", cmd_pymalloc_site },
	{ NULL, NULL, NULL },
};
