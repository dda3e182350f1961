/* pymalloc census from outside the process: see census_pymalloc.h. */
#include <errno.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include "census_pymalloc.h"
#include "interp.h"
#include "json_writer.h"
#include "log.h"
#include "remote_mem.h"
#include "x86_decode.h"

/* Layouts, the same in 3.8-3.13 on 64-bit (offsetof() against each
 * version's Objects/obmalloc.c or Include/internal/pycore_obmalloc.h):
 *   struct arena_object: address 0, pool_address 8, nfreepools 16 (uint),
 *     ntotalpools 20 (uint), freepools 24, nextarena 32, prevarena 40; 48 bytes
 *   struct pool_header: ref.count 0 (uint), freeblock 8, nextpool 16,
 *     prevpool 24, arenaindex 32, szidx 36, nextoffset 40, maxnextoffset 44;
 *     48 bytes, which is also POOL_OVERHEAD (a multiple of ALIGNMENT) */
#define AO_SIZE 48
#define PH_SIZE 48
#define ALIGNMENT 16
#define NCLASSES 32               /* SMALL_REQUEST_THRESHOLD 512 / ALIGNMENT */
#define MAXARENAS_CAP (1u << 20)  /* 1 TiB of 1 MiB arenas: more is nonsense */
#define TABLE_TRIES 3             /* re-reads when the table moves under us */
#define ARENA_TRIES 3             /* re-walks of an arena that changed */
#define PAGE 4096u
#define CODE_MAX 512
#define DECODE_INSNS 48

/* 3.12 embeds the main interpreter's obmalloc state in _PyRuntime
 * (_main_interpreter.obmalloc); 3.13 points at it from there.  Offsets from
 * the pyenv builds' internal headers, checked with offsetof(). */
#define RT312_OBMALLOC (76392u + 3960u)       /* state, embedded */
#define RT313_OBMALLOC_PTR (88352u + 10800u)  /* pointer to the state */
#define ST_ARENAS 512u                        /* mgmt.arenas */
#define ST_MAXARENAS 520u                     /* mgmt.maxarenas (uint) */
#define ST_NARENAS_CUR 1064u                  /* mgmt.narenas_currently_allocated (size_t) */

struct arena_rec {
	uint64_t address, pool_address;
	uint32_t nfreepools, ntotalpools;
};

/* Where the table and its length live in the target. */
struct table_loc {
	uint64_t arenas_ptr;      /* address of the `arenas` pointer */
	uint64_t maxarenas;       /* address of the uint length */
	uint64_t narenas_cur;     /* address of narenas_currently_allocated, 0 unknown */
};

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void rec_from(const uint8_t *p, struct arena_rec *r)
{
	r->address = get_u64(p);
	r->pool_address = get_u64(p + 8);
	r->nfreepools = get_u32(p + 16);
	r->ntotalpools = get_u32(p + 20);
}

/* A record pymalloc could have written: no address, or a page-aligned mmap
 * whose carved pools stay inside the arena. */
static bool rec_plausible(const struct arena_rec *r, const struct pymalloc_census *c)
{
	uint32_t full = c->arena_size / c->pool_size;

	if (!r->address)
		return true;
	if (r->address % PAGE || r->address > UINT64_MAX - c->arena_size)
		return false;
	if (r->pool_address < r->address || r->pool_address > r->address + c->arena_size)
		return false;
	return (r->ntotalpools == full || r->ntotalpools == full - 1) &&
	       r->nfreepools <= r->ntotalpools;
}

static int read_table(pid_t pid, uint64_t table, uint32_t n, struct arena_rec *recs)
{
	enum { CHUNK = 1024 };
	uint8_t buf[CHUNK * AO_SIZE];

	for (uint32_t i = 0; i < n; i += CHUNK) {
		uint32_t k = n - i < CHUNK ? n - i : CHUNK;
		int err = remote_read(pid, table + (uint64_t)i * AO_SIZE, buf, (size_t)k * AO_SIZE);

		if (err)
			return err;
		for (uint32_t j = 0; j < k; j++)
			rec_from(buf + (size_t)j * AO_SIZE, &recs[i + j]);
	}
	return 0;
}

/* Reads the table pointer and length: 0, or -errno. */
static int read_head(pid_t pid, const struct table_loc *loc, uint64_t *table, uint32_t *n)
{
	int err = remote_read(pid, loc->arenas_ptr, table, sizeof(*table));

	return err ? err : remote_read(pid, loc->maxarenas, n, sizeof(*n));
}

static void set_geometry(struct pymalloc_census *c, int mm)
{
	c->version_mm = mm;
	/* ARENA_BITS 18 / pool = page size before 3.10; USE_LARGE_ARENAS and
	 * USE_LARGE_POOLS (20 and 14 bits) from 3.10 on 64-bit */
	c->arena_size = mm < 310 ? 256u << 10 : 1u << 20;
	c->pool_size = mm < 310 ? 4u << 10 : 16u << 10;
	c->pool_overhead = PH_SIZE;
	c->alignment = ALIGNMENT;
	c->nclasses = NCLASSES;
	for (unsigned i = 0; i < NCLASSES; i++)
		c->cls[i].block_size = (i + 1) * ALIGNMENT;
}

/* ---- finding the table -------------------------------------------------- */

static int sym_addr(struct interp *in, const char *name, uint64_t *addr)
{
	struct elf_sym s;

	if (interp__symbol(in, name, &s))
		return -ENOENT;
	*addr = s.vaddr + in->load_bias;
	return 0;
}

/* Does the candidate (pointer slot, length slot) name a table of plausible
 * records with at least one arena in it? */
static bool candidate_ok(pid_t pid, const struct table_loc *loc, const struct pymalloc_census *c)
{
	struct arena_rec *recs;
	uint64_t table;
	uint32_t n, used = 0;
	bool ok;

	if (read_head(pid, loc, &table, &n) || !table || !n || n > MAXARENAS_CAP)
		return false;
	recs = calloc(n, sizeof(*recs));
	if (!recs)
		return false;
	ok = !read_table(pid, table, n, recs);
	for (uint32_t i = 0; ok && i < n; i++) {
		ok = rec_plausible(&recs[i], c);
		used += recs[i].address != 0;
	}
	free(recs);
	return ok && used > 0;
}

/* Stripped LTO 3.8-3.11: _Py_GetAllocatedBlocks loops `i < maxarenas` over
 * `arenas[i]`, so its static loads include a 4-byte one (maxarenas) and an
 * 8-byte one (arenas; raw_allocated_blocks is another 8-byte load).  Every
 * pairing is checked against the running target; exactly one must fit. */
static int locate_by_decoding(struct interp *in, pid_t pid, const struct pymalloc_census *c,
			      struct table_loc *loc, char *why, size_t whylen)
{
	uint64_t u32s[8], u64s[8], fn;
	unsigned n32 = 0, n64 = 0, fits = 0;
	uint8_t code[CODE_MAX];
	struct x86v_insn ins;
	struct elf_sym s;
	struct x86v *d;
	size_t len, at = 0;

	if (interp__symbol(in, "_Py_GetAllocatedBlocks", &s) || s.type != STT_FUNC) {
		fmt_msg(why, whylen, "no 'arenas' symbol and no _Py_GetAllocatedBlocks to decode");
		return -ENOTSUP;
	}
	fn = s.vaddr;
	len = s.size && s.size < CODE_MAX ? s.size : CODE_MAX;
	while (len && elf_file__read_vaddr(in->elf, fn, code, len) == -ERANGE)
		len /= 2;
	if (!len || elf_file__read_vaddr(in->elf, fn, code, len)) {
		fmt_msg(why, whylen, "cannot read _Py_GetAllocatedBlocks' code at 0x%llx",
			(unsigned long long)fn);
		return -ENOTSUP;
	}
	d = x86v__new();
	if (!d) {
		fmt_msg(why, whylen, "cannot start the x86 decoder");
		return -ENOTSUP;
	}
	for (unsigned k = 0; k < DECODE_INSNS && at < len; k++) {
		if (x86v__decode(d, code + at, len - at, fn + at, &ins))
			break;
		at += ins.len;
		if (ins.cls == X86V_RET || ins.cls == X86V_JMP_IND || ins.cls == X86V_UD)
			break;
		if (ins.cls != X86V_MOV || ins.nops != 2 || ins.op[0].type != X86V_OP_REG ||
		    ins.op[1].type != X86V_OP_MEM || !ins.op[1].is_static || ins.op[1].seg)
			continue;
		if (ins.op[1].size == 4 && n32 < 8)
			u32s[n32++] = ins.op[1].addr;
		else if (ins.op[1].size == 8 && n64 < 8)
			u64s[n64++] = ins.op[1].addr;
	}
	x86v__free(d);
	for (unsigned i = 0; i < n64; i++) {
		for (unsigned j = 0; j < n32; j++) {
			struct table_loc t = {
				.arenas_ptr = u64s[i] + in->load_bias,
				.maxarenas = u32s[j] + in->load_bias,
			};

			if (candidate_ok(pid, &t, c)) {
				if (!fits++)
					*loc = t;
			}
		}
	}
	if (fits != 1) {
		fmt_msg(why, whylen, "_Py_GetAllocatedBlocks at 0x%llx: %u of %u x %u static loads "
			"fit an arena table with an arena in process %d (need exactly one; "
			"is pymalloc in use?)",
			(unsigned long long)fn, fits, n64, n32, (int)pid);
		return -ENOTSUP;
	}
	return 0;
}

static int locate(struct interp *in, pid_t pid, struct pymalloc_census *c,
		  struct table_loc *loc, char *why, size_t whylen)
{
	int mm = c->version_mm;
	uint64_t rt, state;
	int err;

	memset(loc, 0, sizeof(*loc));
	if (mm < 312) {
		if (!sym_addr(in, "arenas", &loc->arenas_ptr) &&
		    !sym_addr(in, "maxarenas", &loc->maxarenas)) {
			if (sym_addr(in, "narenas_currently_allocated", &loc->narenas_cur))
				loc->narenas_cur = 0;
			fmt_msg(c->source, sizeof(c->source),
				".symtab statics arenas/maxarenas");
			return 0;
		}
		err = locate_by_decoding(in, pid, c, loc, why, whylen);
		if (!err)
			fmt_msg(c->source, sizeof(c->source),
				"static loads of _Py_GetAllocatedBlocks, checked against the process");
		return err;
	}
	if (mm > 313) {
		fmt_msg(why, whylen, "no obmalloc layout for Python %d.%d", mm / 100, mm % 100);
		return -ENOTSUP;
	}
	if (sym_addr(in, "_PyRuntime", &rt)) {
		fmt_msg(why, whylen, "no _PyRuntime symbol");
		return -ENOTSUP;
	}
	if (mm == 312) {
		state = rt + RT312_OBMALLOC;
		fmt_msg(c->source, sizeof(c->source),
			"_PyRuntime._main_interpreter.obmalloc (3.12 layout)");
	} else {
		err = remote_read(pid, rt + RT313_OBMALLOC_PTR, &state, sizeof(state));
		if (err) {
			fmt_msg(why, whylen, "cannot read the main interpreter's obmalloc pointer: %s",
				strerror(-err));
			return err;
		}
		if (!state || state % 8) {
			fmt_msg(why, whylen, "the main interpreter's obmalloc pointer is 0x%llx",
				(unsigned long long)state);
			return -EIO;
		}
		fmt_msg(c->source, sizeof(c->source),
			"*_PyRuntime._main_interpreter.obmalloc (3.13 layout)");
	}
	loc->arenas_ptr = state + ST_ARENAS;
	loc->maxarenas = state + ST_MAXARENAS;
	loc->narenas_cur = state + ST_NARENAS_CUR;
	return 0;
}

/* ---- the walk ------------------------------------------------------------- */

struct arena_tally {
	uint64_t cls_pools[NCLASSES], cls_used[NCLASSES], cls_free[NCLASSES];
	uint64_t pools_used, empty, untouched, walked, skipped;
	bool misaligned;
	uint32_t nfree_seen;
};

/* Walks the carved pools of arena index idx (record r).  0, or -errno when
 * none of its pool headers could be read. */
static int walk_arena(pid_t pid, const struct pymalloc_census *c, uint32_t idx,
		      const struct arena_rec *r, struct arena_tally *t,
		      uint64_t *addrs, uint8_t *hdrs, unsigned char *ok)
{
	uint64_t first = (r->address + c->pool_size - 1) & ~((uint64_t)c->pool_size - 1);
	uint64_t carved = 0, cap_pools;
	int got;

	memset(t, 0, sizeof(*t));
	t->misaligned = first != r->address;
	cap_pools = c->arena_size / c->pool_size;
	for (uint64_t p = first; p < r->pool_address && carved < cap_pools; p += c->pool_size)
		addrs[carved++] = p;
	t->untouched = r->ntotalpools > carved ? r->ntotalpools - carved : 0;
	t->nfree_seen = (uint32_t)t->untouched;
	if (!carved)
		return 0;
	memset(ok, 0, carved);
	got = remote_read_many(pid, addrs, PH_SIZE, hdrs, carved, ok);
	if (got < 0)
		return got;
	for (uint64_t i = 0; i < carved; i++) {
		const uint8_t *h = hdrs + i * PH_SIZE;
		uint32_t count = get_u32(h), arenaindex = get_u32(h + 32), szidx = get_u32(h + 36);
		uint32_t size, capacity;

		t->walked++;
		if (!ok[i] || arenaindex != idx) {
			t->skipped++;
			continue;
		}
		if (count == 0) {
			t->empty++;
			t->nfree_seen++;
			continue;
		}
		if (szidx >= NCLASSES) {
			t->skipped++;
			continue;
		}
		size = (szidx + 1) * ALIGNMENT;
		capacity = (c->pool_size - PH_SIZE) / size;
		if (count > capacity) {
			t->skipped++;
			continue;
		}
		t->pools_used++;
		t->cls_pools[szidx]++;
		t->cls_used[szidx] += count;
		t->cls_free[szidx] += capacity - count;
	}
	return 0;
}

static void add_tally(struct pymalloc_census *c, const struct arena_tally *t,
		      const struct arena_rec *r)
{
	c->arenas++;
	/* an arena whose pools could not all be read is not known to be free */
	if (!t->pools_used && !t->skipped)
		c->arenas_free++;
	else
		c->arenas_used++;
	for (unsigned k = 0; k < NCLASSES; k++) {
		c->cls[k].pools += t->cls_pools[k];
		c->cls[k].blocks_in_use += t->cls_used[k];
		c->cls[k].free_blocks += t->cls_free[k];
	}
	c->pools_used += t->pools_used;
	c->empty_pools += t->empty;
	c->untouched_pools += t->untouched;
	c->pools_walked += t->walked;
	c->pools_skipped += t->skipped;
	c->alignment_bytes += t->misaligned ? c->pool_size : 0;
	/* pymalloc's count of free pools covers both kinds we tell apart */
	if (!t->skipped && t->nfree_seen != r->nfreepools)
		c->nfree_mismatch++;
}

static bool same_rec(const struct arena_rec *a, const struct arena_rec *b)
{
	return a->address == b->address && a->pool_address == b->pool_address &&
	       a->nfreepools == b->nfreepools && a->ntotalpools == b->ntotalpools;
}

/* One pass over a table of n records at `table`.  0, -EAGAIN when the table
 * itself moved (pymalloc grew it), or -errno. */
static int walk_table(pid_t pid, struct pymalloc_census *c, const struct table_loc *loc,
		      uint64_t table, uint32_t n)
{
	uint64_t cap_pools = c->arena_size / c->pool_size;
	uint64_t *addrs = calloc(cap_pools, sizeof(*addrs));
	uint8_t *hdrs = calloc(cap_pools, PH_SIZE);
	unsigned char *ok = calloc(cap_pools, 1);
	struct arena_rec *recs = calloc(n, sizeof(*recs));
	int err = -ENOMEM;

	if (!addrs || !hdrs || !ok || !recs)
		goto out;
	err = read_table(pid, table, n, recs);
	if (err)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		struct arena_rec r = recs[i], again;
		uint8_t raw[AO_SIZE];
		struct arena_tally t;
		bool done = false;

		for (unsigned try = 0; try < ARENA_TRIES && !done; try++) {
			if (!r.address)
				break;
			if (!rec_plausible(&r, c))
				break;
			err = walk_arena(pid, c, i, &r, &t, addrs, hdrs, ok);
			if (err == -ESRCH)
				goto out;
			/* the record after the walk must be the one we walked by */
			if (remote_read(pid, table + (uint64_t)i * AO_SIZE, raw, AO_SIZE))
				break;
			rec_from(raw, &again);
			if (!err && same_rec(&r, &again)) {
				done = true;
			} else {
				c->arenas_rewalked++;
				r = again;
			}
		}
		err = 0;
		if (done)
			add_tally(c, &t, &r);
		else if (r.address)
			c->arenas_skipped++;
	}
	/* did pymalloc replace the table while we read it? */
	{
		uint64_t table2;
		uint32_t n2;

		err = read_head(pid, loc, &table2, &n2);
		if (!err && (table2 != table || n2 != n))
			err = -EAGAIN;
	}
out:
	free(addrs);
	free(hdrs);
	free(ok);
	free(recs);
	return err;
}

static void finish(struct pymalloc_census *c)
{
	uint64_t used = 0, freeb = 0, quant = 0;

	for (unsigned k = 0; k < c->nclasses; k++) {
		const struct pymalloc_class *k_ = &c->cls[k];

		used += k_->blocks_in_use * k_->block_size;
		freeb += k_->free_blocks * k_->block_size;
		quant += k_->pools * ((c->pool_size - c->pool_overhead) % k_->block_size);
	}
	c->used_bytes = used;
	c->free_block_bytes = freeb;
	c->quantization_bytes = quant;
	c->arena_bytes = c->arenas * c->arena_size;
	c->empty_pool_bytes = c->empty_pools * c->pool_size;
	c->untouched_pool_bytes = c->untouched_pools * c->pool_size;
	c->pool_header_bytes = c->pools_used * c->pool_overhead;
	c->complete = !c->pools_skipped && !c->arenas_skipped;
	if (c->complete)
		fmt_msg(c->note, sizeof(c->note), "complete walk of %llu pools in %llu arenas",
			(unsigned long long)c->pools_walked, (unsigned long long)c->arenas);
	else
		fmt_msg(c->note, sizeof(c->note),
			"incomplete: %llu of %llu pools and %llu arenas skipped (torn or invalid "
			"while the target ran); counts cover the rest",
			(unsigned long long)c->pools_skipped, (unsigned long long)c->pools_walked,
			(unsigned long long)c->arenas_skipped);
}

/* The walk proper, once the table's head is located; out->source is kept. */
static int take_at(pid_t pid, int mm, const struct table_loc *loc, struct pymalloc_census *out,
		   char *why, size_t whylen)
{
	char source[sizeof(out->source)];
	int err = -EIO;

	memcpy(source, out->source, sizeof(source));
	for (unsigned try = 0; try < TABLE_TRIES; try++) {
		uint64_t table;
		uint32_t n;

		memset(out, 0, sizeof(*out));
		set_geometry(out, mm);
		memcpy(out->source, source, sizeof(source));
		out->arenas_reported = -1;
		err = read_head(pid, loc, &table, &n);
		if (err) {
			fmt_msg(why, whylen, "cannot read the arena table's head at 0x%llx: %s",
				(unsigned long long)loc->arenas_ptr, strerror(-err));
			return err;
		}
		if (!table && !n) {
			/* pymalloc has not made its table: no arena yet, or
			 * another allocator (PYTHONMALLOC=malloc) does the work */
			out->complete = true;
			fmt_msg(out->note, sizeof(out->note),
				"pymalloc has no arena table: no arena allocated "
				"(PYTHONMALLOC=malloc, or nothing small allocated yet)");
			return 0;
		}
		if (!table || !n || n > MAXARENAS_CAP || table % 8) {
			fmt_msg(why, whylen, "implausible arena table: %u records at 0x%llx",
				n, (unsigned long long)table);
			err = -EIO;
			continue;
		}
		out->table_addr = table;
		out->maxarenas = n;
		err = walk_table(pid, out, loc, table, n);
		if (err == -EAGAIN)
			continue;
		if (err) {
			fmt_msg(why, whylen, "reading the arena table at 0x%llx: %s",
				(unsigned long long)table, strerror(-err));
			return err;
		}
		if (loc->narenas_cur) {
			uint64_t v;

			if (!remote_read(pid, loc->narenas_cur, &v, sizeof(v)) && v <= MAXARENAS_CAP)
				out->arenas_reported = (int64_t)v;
		}
		finish(out);
		return 0;
	}
	if (err == -EAGAIN)
		fmt_msg(why, whylen, "the arena table moved under %u walks", TABLE_TRIES);
	return err == -EAGAIN ? -EIO : err;
}

int pymalloc_census__take(struct interp *in, pid_t pid, struct pymalloc_census *out,
			  char *why, size_t whylen)
{
	struct table_loc loc;
	int mm, err;

	if (!in || !out || pid <= 0) {
		fmt_msg(why, whylen, "invalid arguments");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (in->free_threaded) {
		fmt_msg(why, whylen, "free-threaded build: mimalloc, no pymalloc arenas");
		return -ENOTSUP;
	}
	mm = in->version.major * 100 + in->version.minor;
	if (mm < 308) {
		fmt_msg(why, whylen, "no pymalloc layout for Python %s", in->version_str);
		return -ENOTSUP;
	}
	set_geometry(out, mm);
	err = locate(in, pid, out, &loc, why, whylen);
	return err ? err : take_at(pid, mm, &loc, out, why, whylen);
}

int pymalloc_census__take_at(pid_t pid, int version_mm, uint64_t arenas_ptr,
			     uint64_t maxarenas, struct pymalloc_census *out,
			     char *why, size_t whylen)
{
	struct table_loc loc = { .arenas_ptr = arenas_ptr, .maxarenas = maxarenas };

	if (!out || pid <= 0 || version_mm < 308 || version_mm > 313 || !arenas_ptr || !maxarenas) {
		fmt_msg(why, whylen, "invalid arguments");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	fmt_msg(out->source, sizeof(out->source), "given: arenas at 0x%llx, maxarenas at 0x%llx",
		(unsigned long long)arenas_ptr, (unsigned long long)maxarenas);
	return take_at(pid, version_mm, &loc, out, why, whylen);
}

double pymalloc_census__fragmentation(const struct pymalloc_census *c)
{
	if (!c->arena_bytes || c->used_bytes > c->arena_bytes)
		return 0.0;
	return (double)(c->arena_bytes - c->used_bytes) / (double)c->arena_bytes;
}

uint64_t pymalloc_census__used_bytes(const struct pymalloc_census *c)
{
	return c ? c->used_bytes : 0;
}

/* ---- presentation ------------------------------------------------------------ */

void pymalloc_census__write_text(FILE *f, const struct pymalloc_census *c)
{
	char label[64];

	fprintf(f, "pymalloc census (Python %d.%d, %u KiB arenas, %u KiB pools; %s)\n",
		c->version_mm / 100, c->version_mm % 100, c->arena_size >> 10,
		c->pool_size >> 10, c->source);
	fprintf(f, "class   size   num pools   blocks in use  avail blocks\n");
	fprintf(f, "-----   ----   ---------   -------------  ------------\n");
	for (unsigned k = 0; k < c->nclasses; k++) {
		const struct pymalloc_class *s = &c->cls[k];

		if (!s->pools)
			continue;
		fprintf(f, "%5u  %5u  %10llu  %14llu  %12llu\n", k, s->block_size,
			(unsigned long long)s->pools, (unsigned long long)s->blocks_in_use,
			(unsigned long long)s->free_blocks);
	}
	fprintf(f, "\narenas allocated %llu (%llu with blocks in use, %llu entirely free)",
		(unsigned long long)c->arenas, (unsigned long long)c->arenas_used,
		(unsigned long long)c->arenas_free);
	if (c->arenas_reported >= 0)
		fprintf(f, "; pymalloc counts %lld", (long long)c->arenas_reported);
	fprintf(f, "\n%-36s %14llu\n", "arena bytes", (unsigned long long)c->arena_bytes);
	fprintf(f, "%-40s %14llu\n", "  in blocks in use (used_bytes)",
		(unsigned long long)c->used_bytes);
	fprintf(f, "%-40s %14llu\n", "  in free blocks of used pools",
		(unsigned long long)c->free_block_bytes);
	snprintf(label, sizeof(label), "  %llu empty pools, retained for reuse",
		 (unsigned long long)c->empty_pools);
	fprintf(f, "%-40s %14llu\n", label, (unsigned long long)c->empty_pool_bytes);
	snprintf(label, sizeof(label), "  %llu pools not carved yet",
		 (unsigned long long)c->untouched_pools);
	fprintf(f, "%-40s %14llu\n", label, (unsigned long long)c->untouched_pool_bytes);
	fprintf(f, "%-40s %14llu\n", "  pool headers", (unsigned long long)c->pool_header_bytes);
	fprintf(f, "%-40s %14llu\n", "  quantization", (unsigned long long)c->quantization_bytes);
	fprintf(f, "%-40s %14llu\n", "  arena alignment", (unsigned long long)c->alignment_bytes);
	if (c->arena_bytes)
		fprintf(f, "fragmentation: %.1f%% of arena bytes are not in live blocks\n",
			100.0 * pymalloc_census__fragmentation(c));
	fprintf(f, "%s%s\n", c->note,
		c->nfree_mismatch ? " (some arenas' free-pool counts moved during the walk)" : "");
}

void pymalloc_census__write_json(struct jw *w, const struct pymalloc_census *c)
{
	jw_object_begin(w);
	jw_kv_string(w, "source", c->source);
	jw_kv_u64(w, "arena_size", c->arena_size);
	jw_kv_u64(w, "pool_size", c->pool_size);
	jw_kv_u64(w, "pool_overhead", c->pool_overhead);
	jw_key(w, "size_classes");
	jw_array_begin(w);
	for (unsigned k = 0; k < c->nclasses; k++) {
		const struct pymalloc_class *s = &c->cls[k];

		if (!s->pools)
			continue;
		jw_object_begin(w);
		jw_kv_u64(w, "class", k);
		jw_kv_u64(w, "block_size", s->block_size);
		jw_kv_u64(w, "pools", s->pools);
		jw_kv_u64(w, "blocks_in_use", s->blocks_in_use);
		jw_kv_u64(w, "free_blocks", s->free_blocks);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_kv_u64(w, "arenas", c->arenas);
	jw_kv_u64(w, "arenas_used", c->arenas_used);
	jw_kv_u64(w, "arenas_free", c->arenas_free);
	if (c->arenas_reported >= 0)
		jw_kv_s64(w, "arenas_reported", c->arenas_reported);
	else
		jw_kv_null(w, "arenas_reported");
	jw_kv_u64(w, "arena_bytes", c->arena_bytes);
	jw_kv_u64(w, "used_bytes", c->used_bytes);
	jw_kv_u64(w, "free_block_bytes", c->free_block_bytes);
	jw_kv_u64(w, "pools_used", c->pools_used);
	jw_kv_u64(w, "empty_pools", c->empty_pools);
	jw_kv_u64(w, "empty_pool_bytes", c->empty_pool_bytes);
	jw_kv_u64(w, "untouched_pools", c->untouched_pools);
	jw_kv_u64(w, "untouched_pool_bytes", c->untouched_pool_bytes);
	jw_kv_u64(w, "pool_header_bytes", c->pool_header_bytes);
	jw_kv_u64(w, "quantization_bytes", c->quantization_bytes);
	jw_kv_u64(w, "alignment_bytes", c->alignment_bytes);
	jw_kv_double(w, "fragmentation", pymalloc_census__fragmentation(c));
	jw_kv_u64(w, "pools_walked", c->pools_walked);
	jw_kv_u64(w, "pools_skipped", c->pools_skipped);
	jw_kv_u64(w, "arenas_skipped", c->arenas_skipped);
	jw_kv_u64(w, "arenas_rewalked", c->arenas_rewalked);
	jw_kv_u64(w, "nfree_mismatch", c->nfree_mismatch);
	jw_kv_bool(w, "complete", c->complete);
	jw_kv_string(w, "note", c->note);
	jw_object_end(w);
}
