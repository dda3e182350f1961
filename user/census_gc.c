// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Heap census, objects by type: see census_gc.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "census_gc.h"
#include "interp.h"
#include "pyoffsets.h"
#include "remote_mem.h"

#define DEFAULT_MAX_OBJECTS 20000000ull
#define DEFAULT_MAX_MS      30000ull
#define CLOCK_EVERY         4096      /* nodes between clock checks */
#define RESYNC_TRIES        2
#define LIST_ATTEMPTS       3
#define RETRY_PAUSE_NS      5000000       /* 5 ms */
#define BACKWARD_TAG        0x80000000u   /* nodes first counted walking backwards */
#define MAX_LISTS           CENSUS_MAX_LISTS
#define MAX_INTERPRETERS    256          /* subinterpreters followed to the main one */
#define NODE_READ_MAX       64
#define TYPE_READ           176       /* PyTypeObject up to tp_flags, all versions */
#define MAX_BASICSIZE       (1u << 24)
#define MAX_ITEMSIZE        (1u << 16)
#define MAX_ITEMS           (1ull << 40)
/* x86_64 user space ends below 2^47; objects are at least 8-aligned. */
#define USER_ADDR_END       (1ull << 47)

/* An open-addressing map of node address -> the walk that first counted it;
 * address 0 is the empty slot. */
struct addr_set {
	uint64_t *slot;
	uint32_t *tag;
	size_t cap, used;                 /* cap a power of two */
};

struct type_entry {
	uint64_t addr;                    /* 0: empty slot */
	bool valid;
	bool no_ob_size;                  /* has tp_itemsize but no ob_size field */
	uint32_t basicsize, itemsize, preheader;
	uint64_t flags;
	uint64_t count, bytes;
	char name[CENSUS_TYPE_NAME_MAX];
};

struct type_cache {
	struct type_entry *slot;
	size_t cap, used;
};

struct walk {
	pid_t pid;
	const struct py_gc_layout *l;
	struct addr_set seen;
	struct type_cache types;
	struct census_gc *out;
	uint64_t nodes, max_objects;      /* objects counted, and the limit */
	uint64_t steps;                   /* nodes visited, counted or not */
	uint32_t pass;                    /* tags the nodes a forward walk counts */
	uint64_t heads[MAX_LISTS];        /* every list head: a link to one ends a list */
	unsigned n_heads;
	struct timespec start;
	uint64_t max_ms;
	const bool *cancel;               /* opts->cancel, or NULL */
	int fatal;                        /* -ESRCH/-EPERM/-ENOMEM: stop everything */
};

/* A node as read: its PyGC_Head links and the object header. */
struct node {
	uint64_t next, prev;              /* link bits masked off */
	uint64_t ob_type;
	int64_t ob_size;
	bool has_size;
};

static int fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return err;
}

static uint64_t mix(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	return a;
}

static bool plausible_addr(uint64_t a)
{
	return a >= 4096 && a < USER_ADDR_END && !(a & 7);
}

/* 1 if added with tag, 0 if it was there (*old its tag), -ENOMEM. */
static int set_add(struct addr_set *s, uint64_t a, uint32_t tag, uint32_t *old)
{
	size_t i;

	if ((s->used + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1u << 16;
		uint64_t *n = calloc(ncap, sizeof(*n));
		uint32_t *t = calloc(ncap, sizeof(*t));

		if (!n || !t) {
			free(n);
			free(t);
			return -ENOMEM;
		}
		for (size_t j = 0; j < s->cap; j++) {
			if (!s->slot[j])
				continue;
			for (i = mix(s->slot[j]) & (ncap - 1); n[i]; i = (i + 1) & (ncap - 1))
				;
			n[i] = s->slot[j];
			t[i] = s->tag[j];
		}
		free(s->slot);
		free(s->tag);
		s->slot = n;
		s->tag = t;
		s->cap = ncap;
	}
	for (i = mix(a) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1)) {
		if (s->slot[i] == a) {
			*old = s->tag[i];
			return 0;
		}
	}
	s->slot[i] = a;
	s->tag[i] = tag;
	s->used++;
	return 1;
}

/* The slot for addr (existing or empty), or NULL without memory. */
static struct type_entry *type_slot(struct type_cache *c, uint64_t addr)
{
	size_t i;

	if ((c->used + 1) * 2 > c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		struct type_entry *n = calloc(ncap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t j = 0; j < c->cap; j++) {
			if (!c->slot[j].addr)
				continue;
			for (i = mix(c->slot[j].addr) & (ncap - 1); n[i].addr; i = (i + 1) & (ncap - 1))
				;
			n[i] = c->slot[j];
		}
		free(c->slot);
		c->slot = n;
		c->cap = ncap;
	}
	for (i = mix(addr) & (c->cap - 1); c->slot[i].addr; i = (i + 1) & (c->cap - 1))
		if (c->slot[i].addr == addr)
			return &c->slot[i];
	return &c->slot[i];
}

static uint64_t get_u64(const unsigned char *b, uint32_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* A type name must be a non-empty string without control characters. */
static bool plausible_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* 3.11+ generators and coroutines embed their frame: the type has an
 * itemsize, but the object no ob_size (its slot count is the code's). */
static bool frame_owner(const struct py_gc_layout *l, const struct type_entry *e)
{
	static const char *const names[] = { "generator", "coroutine", "async_generator" };

	if (l->version_mm < 311 || (e->flags & PY_TPFLAGS_HEAPTYPE))
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(e->name, names[i]))
			return true;
	return false;
}

/* Reads and checks the type at addr into e (e->addr already set). */
static void validate_type(struct walk *w, struct type_entry *e)
{
	const struct py_gc_layout *l = w->l;
	unsigned char t[TYPE_READ], m[TYPE_READ];
	uint64_t meta, basic, item;

	e->valid = false;
	if (!plausible_addr(e->addr) || remote_read(w->pid, e->addr, t, sizeof(t)))
		return;
	/* the type of a type is `type` or a metatype: a type whose instances are types */
	meta = get_u64(t, l->ob_type);
	if (!plausible_addr(meta) || remote_read(w->pid, meta, m, sizeof(m)) ||
	    !(get_u64(m, l->tp_flags) & PY_TPFLAGS_TYPE_SUBCLASS))
		return;
	e->flags = get_u64(t, l->tp_flags);
	basic = get_u64(t, l->tp_basicsize);
	item = get_u64(t, l->tp_itemsize);
	/* it sits on a GC list, so it must be a GC type */
	if (!(e->flags & PY_TPFLAGS_HAVE_GC) || basic < 16 || basic > MAX_BASICSIZE ||
	    item > MAX_ITEMSIZE)
		return;
	if (remote_read_str(w->pid, get_u64(t, l->tp_name), e->name, sizeof(e->name)) < 0 ||
	    !plausible_name(e->name))
		return;
	e->basicsize = (uint32_t)basic;
	e->itemsize = (uint32_t)item;
	e->preheader = l->gc_head_size + (e->flags & l->preheader_flags ? 16 : 0);
	e->no_ob_size = item && frame_owner(l, e);
	e->valid = true;
}

static struct type_entry *lookup_type(struct walk *w, uint64_t addr)
{
	struct type_entry *e = type_slot(&w->types, addr);

	if (!e) {
		w->fatal = -ENOMEM;
		return NULL;
	}
	if (!e->addr) {
		e->addr = addr;
		w->types.used++;
		validate_type(w, e);
	}
	return e;
}

/* Counts the object of node n; a bad type or size counts it as skipped. */
static void count_object(struct walk *w, const struct node *n)
{
	struct type_entry *e = lookup_type(w, n->ob_type);
	uint64_t items = 0, bytes;

	if (!e || !e->valid) {
		w->out->skipped++;
		return;
	}
	if (e->no_ob_size) {
		w->out->frame_objects++;
	} else if (e->itemsize) {
		if (!n->has_size) {
			w->out->skipped++;
			return;
		}
		items = n->ob_size < 0 ? -(uint64_t)n->ob_size : (uint64_t)n->ob_size;
		/* 3.12+ int subclasses keep lv_tag, the digit count shifted by 3 */
		if (w->l->long_tag && (e->flags & PY_TPFLAGS_LONG_SUBCLASS))
			items = (uint64_t)n->ob_size >> 3;
		if (items > MAX_ITEMS) {
			w->out->skipped++;
			return;
		}
	}
	bytes = e->preheader + e->basicsize + items * e->itemsize;
	e->count++;
	e->bytes += bytes;
	w->out->objects++;
	w->out->bytes += bytes;
	if (bytes <= CENSUS_PYMALLOC_MAX)
		w->out->pymalloc_bytes += bytes;
}

/* Reads the node whose PyGC_Head is at a: links and object header in one
 * read, or without ob_size if the longer read runs off the mapping. */
static int read_node(struct walk *w, uint64_t a, struct node *n)
{
	const struct py_gc_layout *l = w->l;
	unsigned char b[NODE_READ_MAX];
	uint32_t type_end = l->gc_head_size + l->ob_type + 8;
	uint32_t size_end = l->gc_head_size + l->ob_size + 8;
	uint32_t len = size_end > type_end ? size_end : type_end;
	int err;

	if (len > sizeof(b))
		return -EINVAL;
	n->has_size = true;
	err = remote_read(w->pid, a, b, len);
	if (err == -EFAULT && type_end < len) {
		n->has_size = false;
		len = type_end;
		err = remote_read(w->pid, a, b, len);
	}
	if (err)
		return err;
	n->next = get_u64(b, 0) & ~3ull;      /* _gc_next: bit 0 flags during a collection */
	n->prev = get_u64(b, 8) & ~3ull;      /* _gc_prev: bits 0-1 are flags */
	n->ob_type = get_u64(b, l->gc_head_size + l->ob_type);
	n->ob_size = n->has_size ? (int64_t)get_u64(b, l->gc_head_size + l->ob_size) : 0;
	return 0;
}

static uint64_t elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)((now.tv_sec - start->tv_sec) * 1000000 +
			  (now.tv_nsec - start->tv_nsec) / 1000);
}

/* false once the object or time budget is spent */
static bool budget_left(struct walk *w)
{
	if (w->fatal || w->out->stopped_early)
		return false;
	if (w->nodes >= w->max_objects ||
	    (w->steps % CLOCK_EVERY == 0 &&
	     ((w->cancel && __atomic_load_n(w->cancel, __ATOMIC_RELAXED)) ||
	      elapsed_us(&w->start) >= w->max_ms * 1000))) {
		w->out->stopped_early = true;
		return false;
	}
	return true;
}

static bool is_head(const struct walk *w, uint64_t a)
{
	for (unsigned i = 0; i < w->n_heads; i++)
		if (w->heads[i] == a)
			return true;
	return false;
}

static bool fatal_err(int err)
{
	return err == -ESRCH || err == -EPERM || err == -EACCES;
}

/* Visits node a, reached from `from` going `forward` (whose link must point
 * back to `from`).  n is filled unless the result is 0.  1: counted now,
 * 2: counted before by this pass's forward walk, 3: counted before by another
 * walk (another list's, before a collection moved it), 0: the link is
 * broken here. */
static int visit(struct walk *w, uint64_t a, uint64_t from, bool forward, struct node *n)
{
	uint32_t old;
	int err;

	w->steps++;
	if (!plausible_addr(a) || is_head(w, a))
		return 0;   /* a list head other than ours: spliced by a collection */
	err = read_node(w, a, n);
	if (err) {
		if (fatal_err(err))
			w->fatal = err;
		return 0;
	}
	if ((forward ? n->prev : n->next) != from)
		return 0;
	err = set_add(&w->seen, a, forward ? w->pass : w->pass | BACKWARD_TAG, &old);
	if (err < 0) {
		w->fatal = err;
		return 0;
	}
	if (!err)
		return old == w->pass ? 2 : 3;
	w->nodes++;
	count_object(w, n);
	return 1;
}

/* The link of node `at` in the given direction, re-read now. */
static int reread_link(struct walk *w, uint64_t at, bool forward, uint64_t *link)
{
	struct node n;
	int err = read_node(w, at, &n);

	if (err)
		return err;
	*link = forward ? n.next : n.prev;
	return 0;
}

/* Follows the list from its head in one direction until it returns to the
 * head, breaks for good, or the budget ends.  Going forward it passes through
 * nodes counted before (a retry), counting only new ones; going backward it
 * stops at the first one (it met the forward walk).  Every step is bounded:
 * a walk that passes more nodes than the set holds is in a cycle.  true when
 * it ended at the head or met the forward walk. */
static bool walk_dir(struct walk *w, uint64_t head, uint64_t link, bool forward)
{
	uint64_t at = head, passed = 0;
	struct node n;
	int tries = 0, r;

	while (budget_left(w)) {
		if (link == head)
			return true;
		r = visit(w, link, at, forward, &n);
		if (r == 2 && !forward)
			return true;   /* met this list's forward walk */
		if (r >= 2 && ++passed > w->seen.used)
			return false;
		if (r > 0) {
			at = link;
			link = forward ? n.next : n.prev;
			tries = 0;
			continue;
		}
		/* Broken: the target may have just unlinked the next node.  Our
		 * node's link, read again, may lead on consistently. */
		if (tries++ >= RESYNC_TRIES || reread_link(w, at, forward, &link))
			return false;
		w->out->resyncs++;
	}
	return false;
}

/* One pass or more over the list whose PyGC_Head is at head: a walk that
 * breaks for good going forward is met from the tail; if that breaks too,
 * the list is walked again (counting only objects not seen yet).  true when
 * one pass saw the whole list. */
static bool walk_list_passes(struct walk *w, uint64_t head)
{
	uint64_t link;

	for (int attempt = 0; attempt < LIST_ATTEMPTS; attempt++) {
		w->pass++;
		if (attempt) {
			/* a collection moving the lists may be under way: let it end */
			struct timespec pause = { .tv_nsec = RETRY_PAUSE_NS };

			nanosleep(&pause, NULL);
			w->out->retries++;
		}
		if (!reread_link(w, head, true, &link) && walk_dir(w, head, link, true))
			return true;
		if (w->fatal || w->out->stopped_early)
			return false;
		if (!reread_link(w, head, false, &link) && walk_dir(w, head, link, false))
			return true;
		if (w->fatal || w->out->stopped_early)
			return false;
	}
	return false;
}

static void walk_list(struct walk *w, uint64_t head)
{
	uint64_t before = w->nodes;
	unsigned idx = (unsigned)w->out->lists;

	w->out->lists++;
	if (walk_list_passes(w, head)) {
		w->out->lists_complete++;
		w->out->per_list[idx].complete = true;
	} else if (!w->fatal && !w->out->stopped_early) {
		w->out->gaps++;
	}
	w->out->per_list[idx].objects = w->nodes - before;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct census_type *)a)->name, ((const struct census_type *)b)->name);
}

static int by_count(const void *a, const void *b)
{
	const struct census_type *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Types of the same name (e.g. two classes both called Node) are one row. */
static int merge_types(struct walk *w)
{
	struct census_gc *out = w->out;
	size_t n = 0, k = 0;

	out->types = calloc(w->types.used ? w->types.used : 1, sizeof(*out->types));
	if (!out->types)
		return -ENOMEM;
	for (size_t i = 0; i < w->types.cap; i++) {
		const struct type_entry *e = &w->types.slot[i];

		if (!e->addr || !e->valid || !e->count)
			continue;
		memcpy(out->types[n].name, e->name, sizeof(e->name));
		out->types[n].count = e->count;
		out->types[n].bytes = e->bytes;
		n++;
	}
	qsort(out->types, n, sizeof(*out->types), by_name);
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(out->types[k - 1].name, out->types[i].name)) {
			out->types[k - 1].count += out->types[i].count;
			out->types[k - 1].bytes += out->types[i].bytes;
			continue;
		}
		out->types[k++] = out->types[i];
	}
	qsort(out->types, k, sizeof(*out->types), by_count);
	out->n_types = k;
	return 0;
}

int census_gc__find_state(pid_t pid, const struct py_gc_layout *l, uint64_t *gc, char *why,
			  size_t whylen)
{
	uint64_t interp = 0, links[2];
	int err;

	if (l->gc_in_runtime) {
		*gc = l->runtime + l->gc_state;
	} else {
		err = remote_read(pid, l->runtime + l->rt_interp, &interp, sizeof(interp));
		if (err)
			return fail(why, whylen, fatal_err(err) ? err : -EIO,
				    "cannot read _PyRuntime in pid %d: %s", (int)pid,
				    strerror(-err));
		if (!interp)
			return fail(why, whylen, -EIO, "pid %d: the interpreter is not initialised "
				    "yet (or is finalising)", (int)pid);
		/* New interpreters are pushed at the head: the main one is last. */
		for (int hops = 0; hops < MAX_INTERPRETERS && plausible_addr(interp); hops++) {
			uint64_t next;

			if (remote_read(pid, interp + l->interp_next, &next, sizeof(next)) || !next)
				break;
			interp = next;
		}
		if (!plausible_addr(interp))
			return fail(why, whylen, -EIO, "pid %d: implausible interpreter state "
				    "pointer 0x%llx", (int)pid, (unsigned long long)interp);
		*gc = interp + l->gc_state;
	}
	err = remote_read(pid, *gc + l->gc_generations, links, sizeof(links));
	if (err)
		return fail(why, whylen, fatal_err(err) ? err : -EIO,
			    "cannot read the GC state of pid %d: %s", (int)pid, strerror(-err));
	if (!plausible_addr(links[0] & ~3ull) || !plausible_addr(links[1] & ~3ull))
		return fail(why, whylen, -EIO, "pid %d: the GC lists make no sense (offsets %s)",
			    (int)pid, l->source);
	return 0;
}

/* Every field must lie inside the buffers the walk reads: the offsets may
 * come from the target's own _Py_DebugOffsets. */
static bool layout_fits(const struct py_gc_layout *l)
{
	uint32_t type_fields[] = { l->ob_type, l->tp_name, l->tp_basicsize, l->tp_itemsize,
				   l->tp_flags };

	for (size_t i = 0; i < sizeof(type_fields) / sizeof(type_fields[0]); i++)
		if (type_fields[i] > TYPE_READ - 8)
			return false;
	return l->gc_head_size >= 16 && l->gc_head_size + l->ob_type + 8 <= NODE_READ_MAX &&
	       l->gc_head_size + l->ob_size + 8 <= NODE_READ_MAX &&
	       l->gc_n_generations < MAX_LISTS;
}

int census_gc__take(struct interp *in, pid_t pid, const struct census_gc_opts *opts,
		    struct census_gc *out, char *why, size_t whylen)
{
	struct py_gc_layout l;
	struct walk w = { .pid = pid, .l = &l, .out = out };
	uint64_t gc = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = pyoffsets__gc_layout(in, &l, why, whylen);
	if (err)
		return err;
	if (!layout_fits(&l))
		return fail(why, whylen, -ENOTSUP, "heap census: the object and type offsets of "
			    "'%s' (%s) are out of range", in->map_path, l.source);
	snprintf(out->source, sizeof(out->source), "%s", l.source);
	w.max_objects = opts && opts->max_objects ? opts->max_objects : DEFAULT_MAX_OBJECTS;
	w.max_ms = opts && opts->max_ms ? opts->max_ms : DEFAULT_MAX_MS;
	w.cancel = opts ? opts->cancel : NULL;
	clock_gettime(CLOCK_MONOTONIC, &w.start);
	err = census_gc__find_state(w.pid, w.l, &gc, why, whylen);
	if (err)
		return err;
	for (uint32_t g = 0; g < l.gc_n_generations && w.n_heads < MAX_LISTS - 1; g++)
		w.heads[w.n_heads++] = gc + l.gc_generations + g * l.gc_generation_size;
	w.heads[w.n_heads++] = gc + l.gc_permanent;
	for (unsigned i = 0; i < w.n_heads; i++)
		walk_list(&w, w.heads[i]);
	out->elapsed_us = elapsed_us(&w.start);
	err = w.fatal;
	if (!err)
		err = merge_types(&w);
	free(w.seen.slot);
	free(w.seen.tag);
	free(w.types.slot);
	if (err == -ESRCH)
		return fail(why, whylen, err, "pid %d exited during the census", (int)pid);
	if (err)
		return fail(why, whylen, err, "census of pid %d failed: %s", (int)pid,
			    strerror(-err));
	return 0;
}

void census_gc__free(struct census_gc *c)
{
	if (!c)
		return;
	free(c->types);
	c->types = NULL;
	c->n_types = 0;
}

bool census_gc__complete(const struct census_gc *c)
{
	return !c->stopped_early && !c->gaps && !c->skipped;
}

double census_gc__skipped_share(const struct census_gc *c)
{
	uint64_t reached = c->objects + c->skipped;

	return reached ? (double)c->skipped / (double)reached : 0.0;
}

const struct census_type *census_gc__find(const struct census_gc *c, const char *name)
{
	for (size_t i = 0; i < c->n_types; i++)
		if (!strcmp(c->types[i].name, name))
			return &c->types[i];
	return NULL;
}
