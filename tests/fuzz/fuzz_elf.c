/* ELF files the target maps: headers, program and section headers, symbol
 * tables, .note.stapsdt and the USDT argument specs inside it.  Through
 * elf_file__open_mem, the in-memory half of elf_file__open (both go through
 * the same parser), then every accessor the interpreter discovery uses; and
 * through elf_file__open_mem_symbols, the symbolizer's sparse reader (it
 * places its reads by the file's own header fields), then the symbolizer's
 * accessors. */
#include <errno.h>
#include "fuzz.h"
#include "elf.h"
#include "usdt_args.h"

struct walk {
	struct elf_file *ef;
	unsigned n;
};

/* For the first symbols: look each up by name and by address, and read its
 * first bytes, as interp.c does for the functions it analyses. */
static int visit(const struct elf_sym *sym, void *ctx)
{
	struct walk *w = ctx;
	struct elf_sym found;
	uint64_t off, v;
	uint8_t bytes[64];

	if (w->n++ >= 64)
		return 1;
	if (!elf_file__find_symbol(w->ef, sym->name, &found))
		fuzz_use(found.name, strlen(found.name));
	if (!elf_file__symbolize(w->ef, sym->vaddr + sym->size / 2, &found, &off))
		fuzz_use(found.name, off);
	if (!elf_file__vaddr_to_offset(w->ef, sym->vaddr, &off) &&
	    !elf_file__offset_to_vaddr(w->ef, off, &v))
		fuzz_use(&v, sizeof(v));
	if (!elf_file__read_vaddr(w->ef, sym->vaddr, bytes, sizeof(bytes)))
		fuzz_use(bytes, sizeof(bytes));
	return 0;
}

static void notes(struct elf_file *ef)
{
	struct usdt_note *nv = NULL;
	struct usdt_arg a;
	size_t n = 0, skipped = 0;

	if (elf_file__usdt_notes(ef, &nv, &n, &skipped))
		return;
	for (size_t i = 0; i < n; i++) {
		fuzz_use(nv[i].provider, strlen(nv[i].provider) + strlen(nv[i].name));
		for (unsigned idx = 0; idx < 4; idx++)
			if (usdt_arg_parse(nv[i].args, idx, &a, NULL, 0) == -ENOENT)
				break;
	}
	free(nv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"PyObject_Malloc", "_PyRuntime", "Py_GetVersion", "PyCode_Type", "malloc", "free", "",
	};
	struct walk w = { 0 };
	struct elf_sym sym;
	uint64_t off;
	char err[256];
	uint8_t b[16];
	struct elf_file *ef;

	ef = elf_file__open_mem_symbols(data, size, err, sizeof(err));
	if (ef) {
		w.ef = ef;
		elf_file__foreach_symbol(ef, visit, &w);
		fuzz_use(ef, elf_file__resident(ef) + elf_file__base_vaddr(ef));
		elf_file__free(ef);
		w.n = 0;
	}
	ef = elf_file__open_mem(data, size, err, sizeof(err));
	if (!ef) {
		fuzz_use(err, strlen(err));
		return 0;
	}
	fuzz_use(ef, elf_file__type(ef) + elf_file__entry(ef) + elf_file__size(ef) +
		 elf_file__has_symtab(ef) + elf_file__has_dynsym(ef) +
		 elf_file__base_vaddr(ef));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!elf_file__find_symbol(ef, names[i], &sym))
			fuzz_use(sym.name, sym.size);
		if (!elf_file__import_slot(ef, names[i], &off))
			fuzz_use(&off, sizeof(off));
	}
	w.ef = ef;
	elf_file__foreach_symbol(ef, visit, &w);
	if (!elf_file__symbolize(ef, elf_file__entry(ef), &sym, &off))
		fuzz_use(sym.name, off);
	if (!elf_file__read_vaddr(ef, elf_file__entry(ef), b, sizeof(b)))
		fuzz_use(b, sizeof(b));
	if (!elf_file__read_vaddr(ef, UINT64_MAX - 4, b, sizeof(b)))
		fuzz_use(b, sizeof(b));
	notes(ef);
	elf_file__free(ef);
	return 0;
}
