/* The x86 code analyses run on function bytes taken from the target's ELF
 * file (x86_decode.h, probe_site.h).  Input: the first 8 bytes give the
 * function's vaddr, the rest are its bytes. */
#include "fuzz.h"
#include "probe_site.h"
#include "x86_decode.h"

/* The flat view lto_sites.c scans with: instruction after instruction. */
static void walk(const uint8_t *code, size_t len, uint64_t vaddr)
{
	static struct x86v *d;
	struct x86v_insn in;
	size_t off = 0;

	if (!d)
		d = x86v__new();	/* one handle for the run, as lto_sites keeps one */
	if (!d)
		return;
	while (off < len && !x86v__decode(d, code + off, len - off, vaddr + off, &in)) {
		if (!in.len || in.len > len - off)
			abort();	/* the view must never claim bytes it was not given */
		fuzz_use(x86v_gpr_name(in.op[0].reg), in.nops);
		off += in.len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_site site;
	uint64_t vaddr, addr, slot;
	int64_t disp;
	const uint8_t *code;
	uint8_t *copy;
	char insn[64];
	size_t len;
	bool emu;

	if (size < 8)
		return 0;
	memcpy(&vaddr, data, sizeof(vaddr));
	len = size - 8;
	/* an exact-size copy, so that ASan sees any read past the code */
	copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 8, len);
	code = copy;

	if (!x86_first_data_ref(code, len, vaddr, 64, &addr))
		fuzz_use(&addr, sizeof(addr));
	for (unsigned arg = 0; arg <= 6; arg++)
		if (!x86_call_arg_addr(code, len, vaddr, 64, arg, &addr))
			fuzz_use(&addr, sizeof(addr));
	if (!x86_struct_copy_via_ptr(code, len, vaddr, 64, &slot, &disp))
		fuzz_use(&disp, sizeof(disp));
	fuzz_use(code, x86_int32_arg_reads(code, len, vaddr, 32));
	if (!probe_site_is_emulated(code, len, vaddr, &emu, insn, sizeof(insn)))
		fuzz_use(insn, emu);
	if (!probe_site_choose(code, len, vaddr, PS_RDI | PS_RSI, false, &site))
		fuzz_use(&site, sizeof(site));
	if (!probe_site_choose(code, len, vaddr, PS_RDI, true, &site))
		fuzz_use(&site, sizeof(site));
	if (!probe_site_first_call(code, len, vaddr, PS_RDI | PS_RSI | PS_RDX | PS_RCX, &site))
		fuzz_use(&site, sizeof(site));
	walk(code, len, vaddr);
	free(copy);
	return 0;
}
