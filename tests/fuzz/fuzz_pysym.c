/* Code objects, strings and line tables read out of the target's memory
 * (pysym.h), through a fake address space made of the input.
 *
 * Input: byte 0 picks the layout (3.8 + byte % 6) and the mode, bytes 1-4
 * the instruction offset.  Raw mode (byte 0 < 128): the rest is memory at
 * FAKE_BASE, and the code objects looked up are at FAKE_BASE and a few
 * addresses after it; every pointer inside them is followed only if it lands
 * in the input.  Built mode: a well-formed code object whose str and bytes
 * objects get their length, state and contents from the input (lengths may
 * lie), so that the fuzzer starts deep in the string and table decoders.
 * Each lookup runs twice, the second time from the cache with the header
 * re-read, as pynames does. */
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

/* Input fields, consumed in order; zeros once the input runs out. */
struct cursor {
	const uint8_t *p;
	size_t left;
};

static void take(struct cursor *c, void *out, size_t n)
{
	size_t k = n < c->left ? n : c->left;

	memset(out, 0, n);
	memcpy(out, c->p, k);
	c->p += k;
	c->left -= k;
}

static void put(uint8_t *mem, size_t cap, uint32_t off, const void *v, size_t n)
{
	if (off != PMT_NO_OFFSET && off <= cap && n <= cap - off)
		memcpy(mem + off, v, n);
}

#define BUILT_SIZE	0x8000u
#define SLOT		0x1000u	/* each object gets 4 KiB */

/* A str at slot `at`: length and state from the input (lying or not), then
 * up to 255 bytes of contents after the header of the kind state claims. */
static void built_str(uint8_t *mem, const struct py_layout *l, uint32_t at, struct cursor *c)
{
	int64_t length;
	uint32_t state;
	uint8_t n, bytes[255];

	take(c, &length, sizeof(length));
	take(c, &state, sizeof(state));
	take(c, &n, 1);
	take(c, bytes, n);
	put(mem, BUILT_SIZE, at + l->str_length, &length, sizeof(length));
	put(mem, BUILT_SIZE, at + l->str_state, &state, sizeof(state));
	put(mem, BUILT_SIZE, at + (state & PY_STATE_ASCII ? l->str_ascii_data : l->str_compact_data),
	    bytes, n);
}

static uint8_t *built(const struct py_layout *l, struct cursor *c, size_t *len)
{
	uint8_t *mem = calloc(1, BUILT_SIZE);
	uint64_t ptr;
	int64_t size;
	uint32_t v;
	uint16_t n;

	if (!mem)
		return NULL;
	take(c, &v, sizeof(v));
	put(mem, BUILT_SIZE, l->co_argcount, &v, sizeof(v));
	take(c, &v, sizeof(v));
	put(mem, BUILT_SIZE, l->co_flags, &v, sizeof(v));
	take(c, &v, sizeof(v));
	put(mem, BUILT_SIZE, l->co_firstlineno, &v, sizeof(v));
	ptr = FAKE_BASE + 1 * SLOT;
	put(mem, BUILT_SIZE, l->co_filename, &ptr, sizeof(ptr));
	ptr = FAKE_BASE + 2 * SLOT;
	put(mem, BUILT_SIZE, l->co_name, &ptr, sizeof(ptr));
	ptr = FAKE_BASE + 3 * SLOT;
	put(mem, BUILT_SIZE, l->co_qualname, &ptr, sizeof(ptr));
	ptr = FAKE_BASE + 4 * SLOT;
	put(mem, BUILT_SIZE, l->co_linetable, &ptr, sizeof(ptr));
	built_str(mem, l, 1 * SLOT, c);
	built_str(mem, l, 2 * SLOT, c);
	built_str(mem, l, 3 * SLOT, c);
	/* the line table: a bytes object whose ob_size may lie */
	take(c, &size, sizeof(size));
	put(mem, BUILT_SIZE, 4 * SLOT + l->bytes_size, &size, sizeof(size));
	take(c, &n, sizeof(n));
	n = n > 3 * SLOT ? 3 * SLOT : n;
	if (n > c->left)
		n = (uint16_t)c->left;
	put(mem, BUILT_SIZE, 4 * SLOT + l->bytes_data, c->p, n);
	*len = BUILT_SIZE;
	return mem;
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
	if (pyoffsets__table(308 + (data[0] & 0x7f) % 6, &l))
		return 0;
	l.code_type = 0;	/* no type check: the fuzzer need not guess an address */
	memcpy(&offset, data + 1, sizeof(offset));
	if (data[0] & 0x80) {
		struct cursor c = { data + 5, size - 5 };

		copy = built(&l, &c, &m.len);
	} else {
		m.len = size - 5;
		/* an exact-size copy, so that ASan sees any read past it */
		copy = malloc(m.len ? m.len : 1);
		if (copy)
			memcpy(copy, data + 5, m.len);
	}
	if (!copy)
		return 0;
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
