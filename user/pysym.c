// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Code objects to names and lines: see pysym.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "hash.h"
#include "interp.h"
#include "linetable.h"
#include "log.h"
#include "pysym.h"
#include "remote_mem.h"

/* Direct-mapped: a collision just evicts, as any cache miss costs only reads. */
#define CACHE_SLOTS 2048
/* The code object's fixed part that we read at once. */
#define CODE_HDR_MAX 512

struct pysym_entry {
	uint64_t code;            /* 0: empty */
	uint64_t sum;
	char *file, *func;
	int firstlineno;
	uint8_t *table;           /* NULL when unreadable */
	size_t table_len;
	uint64_t checked;         /* the round its header was last compared in */
};

struct pysym {
	struct py_layout l;
	pysym_read_fn read;
	void *ctx;
	pid_t pid;                /* for the remote_read reader */
	size_t hdr_len;
	uint64_t round;           /* pysym__new_round(): 1, 2, ... */
	struct pysym_stats stats;
	struct pysym_entry slots[CACHE_SLOTS];
};

/* What a code object's header says. */
struct code_hdr {
	uint64_t type, filename, name, qualname, table;
	int32_t argcount, flags, firstlineno;
};

static int remote_reader(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return remote_read(((struct pysym *)ctx)->pid, addr, buf, len);
}

static void hdr_max(size_t *max, uint32_t off, size_t size)
{
	if (off != PMT_NO_OFFSET && off + size > *max)
		*max = off + size;
}

struct pysym *pysym__new_reader(const struct py_layout *l, pysym_read_fn read, void *ctx)
{
	struct pysym *ps;
	size_t max = 0;

	hdr_max(&max, l->ob_type, 8);
	hdr_max(&max, l->co_argcount, 4);
	hdr_max(&max, l->co_flags, 4);
	hdr_max(&max, l->co_firstlineno, 4);
	hdr_max(&max, l->co_filename, 8);
	hdr_max(&max, l->co_name, 8);
	hdr_max(&max, l->co_qualname, 8);
	hdr_max(&max, l->co_linetable, 8);
	if (!read || max > CODE_HDR_MAX || l->str_compact_data > 128 ||
	    l->str_ascii_data > l->str_compact_data) {
		errno = EINVAL;
		return NULL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->l = *l;
	ps->read = read;
	ps->ctx = ctx;
	ps->hdr_len = max;
	return ps;
}

struct pysym *pysym__new(struct interp *in)
{
	struct py_layout l;
	struct pysym *ps;

	if (!in || pyoffsets__layout(in, &l, NULL, 0)) {
		errno = ENOTSUP;
		return NULL;
	}
	ps = pysym__new_reader(&l, remote_reader, NULL);
	if (ps) {
		ps->ctx = ps;
		ps->pid = in->pid;
	}
	return ps;
}

static void entry_clear(struct pysym_entry *e)
{
	free(e->file);
	free(e->func);
	free(e->table);
	memset(e, 0, sizeof(*e));
}

void pysym__free(struct pysym *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		entry_clear(&ps->slots[i]);
	free(ps);
}

void pysym__stats(const struct pysym *ps, struct pysym_stats *out)
{
	*out = ps->stats;
}

/* ---- target reads -------------------------------------------------------- */

static uint64_t get_u64(const uint8_t *b, uint32_t off)
{
	uint64_t v = 0;

	if (off != PMT_NO_OFFSET)
		memcpy(&v, b + off, sizeof(v));
	return v;
}

static int32_t get_i32(const uint8_t *b, uint32_t off)
{
	int32_t v = 0;

	if (off != PMT_NO_OFFSET)
		memcpy(&v, b + off, sizeof(v));
	return v;
}

static int read_code_hdr(struct pysym *ps, uint64_t code, struct code_hdr *h)
{
	uint8_t b[CODE_HDR_MAX];
	const struct py_layout *l = &ps->l;
	int err = ps->read(ps->ctx, code, b, ps->hdr_len);

	if (err)
		return err;
	h->type = get_u64(b, l->ob_type);
	h->filename = get_u64(b, l->co_filename);
	h->name = get_u64(b, l->co_name);
	h->qualname = get_u64(b, l->co_qualname);
	h->table = get_u64(b, l->co_linetable);
	h->argcount = get_i32(b, l->co_argcount);
	h->flags = get_i32(b, l->co_flags);
	h->firstlineno = get_i32(b, l->co_firstlineno);
	if (l->code_type && h->type != l->code_type)
		return -EINVAL;
	return 0;
}

/* FNV-1a over the fields that identify a code object. */
static uint64_t hdr_sum(const struct code_hdr *h)
{
	const uint64_t v[] = { (uint32_t)h->argcount, (uint32_t)h->flags, (uint32_t)h->firstlineno,
			       h->filename, h->name, h->qualname, h->table };

	return fnv1a64(FNV1A64_INIT, v, sizeof(v));
}

/* ---- strings ------------------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* One code point as UTF-8; surrogates, NUL and values past U+10FFFF become
 * U+FFFD (the target may hold anything). */
static int sb_put_cp(struct sbuf *b, uint32_t c)
{
	char u[4];

	if (!c || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		c = 0xfffd;
	if (c < 0x80) {
		u[0] = (char)c;
		return sb_put(b, u, 1);
	}
	if (c < 0x800) {
		u[0] = (char)(0xc0 | c >> 6);
		u[1] = (char)(0x80 | (c & 0x3f));
		return sb_put(b, u, 2);
	}
	if (c < 0x10000) {
		u[0] = (char)(0xe0 | c >> 12);
		u[1] = (char)(0x80 | (c >> 6 & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		return sb_put(b, u, 3);
	}
	u[0] = (char)(0xf0 | c >> 18);
	u[1] = (char)(0x80 | (c >> 12 & 0x3f));
	u[2] = (char)(0x80 | (c >> 6 & 0x3f));
	u[3] = (char)(0x80 | (c & 0x3f));
	return sb_put(b, u, 4);
}

static uint32_t char_at(const uint8_t *d, unsigned kind, size_t i)
{
	uint16_t c2;
	uint32_t c4;

	if (kind == 1)
		return d[i];
	if (kind == 2) {
		memcpy(&c2, d + 2 * i, 2);
		return c2;
	}
	memcpy(&c4, d + 4 * i, 4);
	return c4;
}

/* Reads the str object at addr as UTF-8: compact ASCII or compact kind 1/2/4.
 * 0 with *out malloc'ed, or -errno. */
static int read_str(struct pysym *ps, uint64_t addr, char **out)
{
	const struct py_layout *l = &ps->l;
	uint8_t hdr[128], *data = NULL;
	struct sbuf b = { 0 };
	unsigned kind, state;
	int64_t length;
	size_t n;
	bool ascii;
	int err;

	if (!addr)
		return -EINVAL;
	err = ps->read(ps->ctx, addr, hdr, l->str_compact_data);
	if (err)
		return err;
	memcpy(&length, hdr + l->str_length, sizeof(length));
	memcpy(&state, hdr + l->str_state, sizeof(state));
	kind = state >> PY_STATE_KIND_SHIFT & PY_STATE_KIND_MASK;
	ascii = state & PY_STATE_ASCII;
	if (!(state & PY_STATE_COMPACT) || length < 0 || (kind != 1 && kind != 2 && kind != 4) ||
	    (ascii && kind != 1))
		return -EINVAL;
	n = length > PYSYM_MAX_STR ? PYSYM_MAX_STR : (size_t)length;
	data = malloc(n * kind + 1);
	if (!data)
		return -ENOMEM;
	err = ps->read(ps->ctx, addr + (ascii ? l->str_ascii_data : l->str_compact_data), data,
		       n * kind);
	for (size_t i = 0; !err && i < n; i++) {
		uint32_t c = char_at(data, kind, i);

		/* an "ASCII" string with high bytes is lying: keep it printable */
		err = sb_put_cp(&b, ascii && c > 0x7f ? 0xfffd : c);
	}
	if (!err && (size_t)length > n)
		err = sb_put(&b, "...", 3);
	if (!err && !b.p)
		err = sb_put(&b, "", 0);
	free(data);
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	return 0;
}

static char *str_or_unknown(struct pysym *ps, uint64_t addr)
{
	char *s = NULL;

	if (read_str(ps, addr, &s))
		s = strdup("?");
	return s;
}

/* The line table's bytes, or NULL when unreadable. */
static uint8_t *read_table(struct pysym *ps, uint64_t addr, size_t *len)
{
	const struct py_layout *l = &ps->l;
	int64_t size;
	uint8_t *t;

	if (!addr || ps->read(ps->ctx, addr + l->bytes_size, &size, sizeof(size)) ||
	    size < 0 || size > PYSYM_MAX_TABLE)
		return NULL;
	t = malloc(size ? size : 1);
	if (t && ps->read(ps->ctx, addr + l->bytes_data, t, size)) {
		free(t);
		return NULL;
	}
	*len = size;
	return t;
}

/* ---- the cache ------------------------------------------------------------------ */

static struct pysym_entry *slot_of(struct pysym *ps, uint64_t code)
{
	uint64_t h = code * 0x9e3779b97f4a7c15ULL;

	return &ps->slots[(h >> 40) % CACHE_SLOTS];
}

static int entry_fill(struct pysym *ps, struct pysym_entry *e, uint64_t code,
		      const struct code_hdr *h)
{
	uint64_t fn = ps->l.co_qualname != PMT_NO_OFFSET ? h->qualname : h->name;

	e->file = str_or_unknown(ps, h->filename);
	e->func = str_or_unknown(ps, fn);
	if (!e->file || !e->func) {
		entry_clear(e);
		return -ENOMEM;
	}
	e->table = read_table(ps, h->table, &e->table_len);
	e->firstlineno = h->firstlineno;
	e->code = code;
	e->sum = hdr_sum(h);
	return 0;
}

static struct pysym_entry *lookup(struct pysym *ps, uint64_t code, int *err)
{
	struct pysym_entry *e = slot_of(ps, code);
	struct code_hdr h = { 0 };
	uint64_t sum;

	/* Checked already in this round: one naming round asks for the same
	 * few code objects thousands of times. */
	if (e->code == code && ps->round && e->checked == ps->round) {
		ps->stats.hits++;
		*err = 0;
		return e;
	}
	*err = read_code_hdr(ps, code, &h);
	if (*err) {
		/* -v: what an unnamed ('?') frame pointed at, for a bug report */
		if (*err == -EINVAL)
			pr_debug("pid %d: frame's code 0x%llx is not a code object (type 0x%llx)",
				 (int)ps->pid, (unsigned long long)code, (unsigned long long)h.type);
		else
			pr_debug("pid %d: frame's code 0x%llx is unreadable: %s", (int)ps->pid,
				 (unsigned long long)code, strerror(-*err));
		return NULL;
	}
	sum = hdr_sum(&h);
	if (e->code == code && e->sum == sum) {
		ps->stats.hits++;
		e->checked = ps->round;
		return e;
	}
	if (e->code == code)
		ps->stats.stale++;
	else
		ps->stats.misses++;
	entry_clear(e);
	*err = entry_fill(ps, e, code, &h);
	if (*err)
		return NULL;
	e->checked = ps->round;
	return e;
}

void pysym__new_round(struct pysym *ps)
{
	if (ps)
		ps->round++;
}

int pysym__frame(struct pysym *ps, __u64 code, __u32 offset, struct py_frame_info *out)
{
	struct pysym_entry *e;
	int err, line = -1;

	if (!ps || !out || !code)
		return -EINVAL;
	e = lookup(ps, code, &err);
	if (!e)
		return err;
	if (!e->table || linetable_line(ps->l.version_mm, e->table, e->table_len, e->firstlineno,
					offset, &line))
		line = -1;
	out->file = strdup(e->file);
	out->function = strdup(e->func);
	out->line = line;
	if (!out->file || !out->function) {
		free(out->file);
		free(out->function);
		out->file = out->function = NULL;
		return -ENOMEM;
	}
	return 0;
}
