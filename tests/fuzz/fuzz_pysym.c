/* Code objects, strings and line tables read out of the target's memory
 * (pysym.h), through a fake address space made of the input.
 *
 * Input: byte 0 picks the layout (3.8 + byte % 6), bytes 1-4 the instruction
 * offset, the rest is memory at FAKE_BASE.  The code objects looked up are at
 * FAKE_BASE and a few addresses after it; every pointer inside them is
 * followed only if it lands in the input.  Each lookup runs twice, the second
 * time from the cache with the header re-read, as pynames does. */
#include <errno.h>
#include "fuzz.h"
#include "pyoffsets.h"
#include "pysym.h"

#define FAKE_BASE 0x10000ull

struct fake_mem {
	const uint8_t *bytes;
	size_t len;
};

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct fake_mem *m = ctx;

	if (addr < FAKE_BASE || addr - FAKE_BASE > m->len || len > m->len - (addr - FAKE_BASE))
		return -EFAULT;
	memcpy(buf, m->bytes + (addr - FAKE_BASE), len);
	return 0;
}

static void frame(struct pysym *ps, uint64_t code, uint32_t offset)
{
	struct py_frame_info fi = { 0 };

	if (!pysym__frame(ps, code, offset, &fi))
		fuzz_use(fi.file, strlen(fi.file) + strlen(fi.function) + fi.line);
	free(fi.file);
	free(fi.function);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_mem m;
	struct py_layout l;
	struct pysym *ps;
	uint32_t offset;
	uint8_t *copy;

	if (size < 5)
		return 0;
	if (pyoffsets__table(308 + data[0] % 6, &l))
		return 0;
	l.code_type = 0;	/* no type check: the fuzzer need not guess an address */
	memcpy(&offset, data + 1, sizeof(offset));
	m.len = size - 5;
	/* an exact-size copy, so that ASan sees any read past it */
	copy = malloc(m.len ? m.len : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 5, m.len);
	m.bytes = copy;

	ps = pysym__new_reader(&l, fake_read, &m);
	if (!ps) {
		free(copy);
		return 0;
	}
	for (int round = 0; round < 2; round++) {
		pysym__new_round(ps);
		for (uint64_t code = FAKE_BASE; code < FAKE_BASE + 64; code += 16)
			frame(ps, code, offset);
	}
	pysym__free(ps);
	free(copy);
	return 0;
}
