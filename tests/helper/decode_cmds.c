/* Subcommands of pmt-test-tool for x86 decoding and interpreter discovery
 * (see tool.h).  The x86-* commands decode a function of an ELF file on disk;
 * `interp PID` runs interp__find on a live process. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "elf.h"
#include "interp.h"
#include "tool.h"
#include "probe_site.h"
#include "x86_decode.h"

#define CODE_MAX 4096

struct func {
	uint8_t code[CODE_MAX];
	size_t len;
	uint64_t vaddr;
};

/* Loads SYMBOL[+OFF]'s code from FILE: st_size bytes (capped) from OFF on. */
static int load_func(const char *file, const char *spec, struct func *fn)
{
	char name[256], err[256];
	const char *plus = strchr(spec, '+');
	struct elf_sym sym;
	struct elf_file *ef;
	uint64_t off = 0, n;
	int ret;

	snprintf(name, sizeof(name), "%.*s", plus ? (int)(plus - spec) : (int)strlen(spec), spec);
	if (plus)
		off = strtoull(plus + 1, NULL, 0);
	ef = elf_file__open(file, err, sizeof(err));
	if (!ef) {
		fprintf(stderr, "cannot open '%s': %s\n", file, err);
		return -errno;
	}
	ret = elf_file__find_symbol(ef, name, &sym);
	if (ret) {
		fprintf(stderr, "no symbol '%s' in '%s'\n", name, file);
		goto out;
	}
	n = sym.size > off ? sym.size - off : 0;
	if (!sym.size)
		n = 64;
	if (n > CODE_MAX)
		n = CODE_MAX;
	fn->vaddr = sym.vaddr + off;
	while (n && (ret = elf_file__read_vaddr(ef, fn->vaddr, fn->code, n)) == -ERANGE)
		n /= 2;
	if (!ret && !n)
		ret = -ENOENT;
	if (ret)
		fprintf(stderr, "cannot read '%s' at 0x%" PRIx64 ": %s\n", name, fn->vaddr,
			strerror(-ret));
	fn->len = n;
out:
	elf_file__free(ef);
	return ret;
}

static int usage_err(const char *u)
{
	fprintf(stderr, "usage: %s\n", u);
	return 2;
}

static int cmd_first_data_ref(int argc, char **argv)
{
	struct func fn;
	uint64_t addr;

	if (argc != 3)
		return usage_err("x86-first-data-ref FILE SYMBOL[+OFF]");
	if (load_func(argv[1], argv[2], &fn))
		return 1;
	if (x86_first_data_ref(fn.code, fn.len, fn.vaddr, 64, &addr)) {
		printf("none\n");
		return 1;
	}
	printf("0x%" PRIx64 "\n", addr);
	return 0;
}

static int cmd_call_arg0(int argc, char **argv)
{
	struct func fn;
	uint64_t addr;

	if (argc != 3)
		return usage_err("x86-call-arg0 FILE SYMBOL[+OFF]");
	if (load_func(argv[1], argv[2], &fn))
		return 1;
	if (x86_first_call_arg0_addr(fn.code, fn.len, fn.vaddr, 64, &addr)) {
		printf("none\n");
		return 1;
	}
	printf("0x%" PRIx64 "\n", addr);
	return 0;
}

static int cmd_call_arg(int argc, char **argv)
{
	struct func fn;
	uint64_t addr;

	if (argc != 4)
		return usage_err("x86-call-arg FILE SYMBOL[+OFF] ARGIDX");
	if (load_func(argv[1], argv[2], &fn))
		return 1;
	if (x86_call_arg_addr(fn.code, fn.len, fn.vaddr, 64, (unsigned)atoi(argv[3]), &addr)) {
		printf("none\n");
		return 1;
	}
	printf("0x%" PRIx64 "\n", addr);
	return 0;
}

static int cmd_struct_via_ptr(int argc, char **argv)
{
	struct func fn;
	uint64_t slot;
	int64_t disp;

	if (argc != 3)
		return usage_err("x86-struct-via-ptr FILE SYMBOL[+OFF]");
	if (load_func(argv[1], argv[2], &fn))
		return 1;
	if (x86_struct_copy_via_ptr(fn.code, fn.len, fn.vaddr, 64, &slot, &disp)) {
		printf("none\n");
		return 1;
	}
	printf("slot=0x%" PRIx64 " disp=%s0x%" PRIx64 "\n", slot, disp < 0 ? "-" : "",
	       disp < 0 ? -(uint64_t)disp : (uint64_t)disp);
	return 0;
}

static int cmd_int32_args(int argc, char **argv)
{
	struct func fn;
	unsigned bits;

	if (argc != 3)
		return usage_err("x86-int32-args FILE SYMBOL[+OFF]");
	if (load_func(argv[1], argv[2], &fn))
		return 1;
	bits = x86_int32_arg_reads(fn.code, fn.len, fn.vaddr, 32);
	printf("%u%s%s\n", bits, bits & 1 ? " edi" : "", bits & 2 ? " esi" : "");
	return 0;
}

static int cmd_emulated(int argc, char **argv)
{
	char mnem[32];
	struct func fn;
	bool emu;

	if (argc != 3)
		return usage_err("x86-emulated FILE SYMBOL[+OFF]");
	if (load_func(argv[1], argv[2], &fn))
		return 1;
	if (probe_site_is_emulated(fn.code, fn.len, fn.vaddr, &emu, mnem, sizeof(mnem))) {
		printf("undecodable\n");
		return 1;
	}
	printf("%s %s\n", emu ? "emulated" : "single-stepped", mnem);
	return 0;
}

static void print_interp(struct interp *in)
{
	uint64_t a = 0, f = 0;
	char how[256];
	int ret;

	printf("kind: %s\n", in->kind == INTERP_STATIC ? "static" : "libpython");
	printf("map_path: %s\n", in->map_path);
	printf("open_path: %s\n", in->open_path);
	printf("load_bias: 0x%" PRIx64 "\n", in->load_bias);
	printf("version: %s\n", in->version_str);
	printf("version_source: %s\n", in->version_source);
	printf("symtab: %s\n", in->has_symtab ? "yes" : "no");
	printf("dynsym: %s\n", in->has_dynsym ? "yes" : "no");
	printf("usdt_notes: %zu\n", in->n_usdt);
	for (size_t i = 0; i < in->n_usdt; i++)
		printf("usdt: %s:%s pc=0x%" PRIx64 " sema=0x%" PRIx64 " args=%s\n",
		       in->usdt[i].provider, in->usdt[i].name, in->usdt[i].pc,
		       in->usdt[i].semaphore, in->usdt[i].args);
	ret = interp__arena_functions(in, &a, &f, how, sizeof(how));
	if (ret) {
		printf("arena: none (%s)\n", strerrorname_np(-ret));
	} else {
		printf("arena_alloc: 0x%" PRIx64 "\n", a);
		printf("arena_free: 0x%" PRIx64 "\n", f);
	}
	printf("arena_how: %s\n", how);
}

static int cmd_interp(int argc, char **argv)
{
	struct interp in;
	char err[512];
	int ret;

	if (argc != 2)
		return usage_err("interp PID");
	ret = interp__find((pid_t)atoi(argv[1]), &in, err, sizeof(err));
	if (ret) {
		printf("error: %s: %s\n", strerrorname_np(-ret), err);
		return 1;
	}
	print_interp(&in);
	interp__release(&in);
	return 0;
}

/* The file-only part of interp: what can be known before the interpreter runs. */
static int cmd_interp_version_file(int argc, char **argv)
{
	struct interp in;
	char err[512];
	int ret;

	if (argc != 2)
		return usage_err("interp-version-file PATH");
	ret = interp__find_file(argv[1], &in, err, sizeof(err));
	if (ret) {
		printf("error: %s: %s\n", strerrorname_np(-ret), err);
		return 1;
	}
	printf("kind: %s\n", in.kind == INTERP_STATIC ? "static" : "libpython");
	printf("version: %s\n", in.version_str);
	printf("version_source: %s\n", in.version_source);
	interp__release(&in);
	return 0;
}

const struct tool_cmd decode_cmds[] = {
	{ "x86-first-data-ref", "FILE SYMBOL[+OFF]: first static data address the code uses",
	  cmd_first_data_ref },
	{ "x86-call-arg0", "FILE SYMBOL[+OFF]: constant address in rdi at the first call",
	  cmd_call_arg0 },
	{ "x86-call-arg", "FILE SYMBOL[+OFF] N: constant address in argument N (0-5) at a call",
	  cmd_call_arg },
	{ "x86-struct-via-ptr", "FILE SYMBOL[+OFF]: GOT slot and offset of a struct copied to *rdi",
	  cmd_struct_via_ptr },
	{ "x86-int32-args", "FILE SYMBOL[+OFF]: edi/esi read as int before being overwritten",
	  cmd_int32_args },
	{ "x86-emulated", "FILE SYMBOL[+OFF]: is the first instruction emulated by uprobes",
	  cmd_emulated },
	{ "interp", "PID: find the CPython interpreter in a process", cmd_interp },
	{ "interp-version-file", "PATH: the version of an interpreter file, from the file alone",
	  cmd_interp_version_file },
	{ NULL, NULL, NULL },
};
