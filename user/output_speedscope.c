/* speedscope's file format (https://www.speedscope.app/file-format-schema.json,
 * documented in speedscope's src/lib/file-format-spec.ts): every frame once in
 * shared.frames, then one "sampled" profile per process and weight whose
 * samples are lists of frame indices, root first, with bytes as weights
 * (allocated bytes only for a --sample-window trace: live is unknown).
 *
 * Frames are deduplicated across stacks and processes: a Python frame is
 * (function, file, line), a native one its symbol text.  All frames are
 * interned before anything is written, so running out of memory leaves no
 * half-written file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hash.h"
#include "json_writer.h"
#include "output.h"
#include "version.h"

#define SCHEMA_URL "https://www.speedscope.app/file-format-schema.json"

struct frame_key {
	const char *name;         /* function, or the native symbol text */
	const char *file;         /* NULL for native frames */
	int line;                 /* -1: none */
};

/* Open addressing over an array of keys; slots hold index + 1, 0 is free. */
struct frame_table {
	struct frame_key *keys;
	size_t n, cap;
	unsigned *slots;
	size_t n_slots;           /* a power of two, at least twice n */
};

static const char *or_unknown(const char *s)
{
	return s && s[0] ? s : "?";
}

static struct frame_key py_key(const struct py_frame_info *fr)
{
	return (struct frame_key){ or_unknown(fr->function), or_unknown(fr->file),
				   fr->line >= 0 ? fr->line : -1 };
}

static struct frame_key native_key(const char *sym)
{
	return (struct frame_key){ or_unknown(sym), NULL, -1 };
}

static uint64_t key_hash(const struct frame_key *k)
{
	uint64_t h = FNV1A64_INIT;

	/* The NULs keep ("ab", "c") apart from ("a", "bc"); native frames
	 * hash differently from a Python frame of the same name. */
	h = fnv1a64(h, k->name, strlen(k->name) + 1);
	if (k->file)
		h = fnv1a64(h, k->file, strlen(k->file) + 1);
	return fnv1a64(h, &k->line, sizeof(k->line));
}

static bool key_eq(const struct frame_key *a, const struct frame_key *b)
{
	if (a->line != b->line || !a->file != !b->file || strcmp(a->name, b->name))
		return false;
	return !a->file || !strcmp(a->file, b->file);
}

/* The slot holding k, or the free slot where it belongs. */
static size_t slot_of(const struct frame_table *t, const struct frame_key *k)
{
	size_t mask = t->n_slots - 1, i = key_hash(k) & mask;

	while (t->slots[i] && !key_eq(&t->keys[t->slots[i] - 1], k))
		i = (i + 1) & mask;
	return i;
}

static int grow_slots(struct frame_table *t)
{
	size_t n_slots = t->n_slots ? t->n_slots * 2 : 64;
	unsigned *old = t->slots;
	size_t old_n = t->n_slots;

	if (n_slots > SIZE_MAX / sizeof(*old) || n_slots / 2 > UINT32_MAX)
		return -ENOMEM;
	t->slots = calloc(n_slots, sizeof(*old));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->n_slots = n_slots;
	for (size_t i = 0; i < old_n; i++)
		if (old[i])
			t->slots[slot_of(t, &t->keys[old[i] - 1])] = old[i];
	free(old);
	return 0;
}

static int intern(struct frame_table *t, struct frame_key k)
{
	size_t i;
	int err;

	if ((t->n + 1) * 2 > t->n_slots && (err = grow_slots(t)))
		return err;
	i = slot_of(t, &k);
	if (t->slots[i])
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct frame_key *keys = reallocarray(t->keys, cap, sizeof(*keys));

		if (!keys)
			return -ENOMEM;
		t->keys = keys;
		t->cap = cap;
	}
	t->keys[t->n++] = k;
	t->slots[i] = t->n;
	return 0;
}

/* Only called for keys interned before. */
static unsigned index_of(const struct frame_table *t, struct frame_key k)
{
	return t->slots[slot_of(t, &k)] - 1;
}

static void frame_table_free(struct frame_table *t)
{
	free(t->keys);
	free(t->slots);
}

static unsigned n_py(const struct alloc_stack *s)
{
	return s->python ? s->n_python : 0;
}

static unsigned n_native(const struct alloc_stack *s)
{
	return s->native ? s->n_native : 0;
}

static const struct alloc_report *alloc_of(const struct report *r, unsigned i)
{
	const struct alloc_report *a = &r->procs[i].alloc;

	return a->enabled && a->stacks ? a : NULL;
}

static int intern_all(struct frame_table *t, const struct report *r)
{
	for (unsigned i = 0; r->procs && i < r->n_procs; i++) {
		const struct alloc_report *a = alloc_of(r, i);

		for (unsigned k = 0; a && k < a->n_stacks; k++) {
			const struct alloc_stack *s = &a->stacks[k];
			int err = 0;

			for (unsigned j = 0; !err && j < n_py(s); j++)
				err = intern(t, py_key(&s->python[j]));
			for (unsigned j = 0; !err && j < n_native(s); j++)
				err = intern(t, native_key(s->native[j]));
			if (err)
				return err;
		}
	}
	return 0;
}

static void write_frames(struct jw *w, const struct frame_table *t)
{
	jw_key(w, "shared");
	jw_object_begin(w);
	jw_key(w, "frames");
	jw_array_begin(w);
	for (size_t i = 0; i < t->n; i++) {
		jw_object_begin(w);
		jw_kv_string(w, "name", t->keys[i].name);
		/* Optional in the schema, and numbers when present: left out,
		 * never null, when unknown. */
		if (t->keys[i].file)
			jw_kv_string(w, "file", t->keys[i].file);
		if (t->keys[i].line >= 0)
			jw_kv_s64(w, "line", t->keys[i].line);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

/* Root first: Python outermost to innermost, then native likewise (the
 * report holds both innermost first). */
static void write_sample(struct jw *w, const struct frame_table *t, const struct alloc_stack *s)
{
	jw_array_begin_inline(w);
	for (unsigned j = n_py(s); j-- > 0;)
		jw_u64(w, index_of(t, py_key(&s->python[j])));
	for (unsigned j = n_native(s); j-- > 0;)
		jw_u64(w, index_of(t, native_key(s->native[j])));
	jw_array_end(w);
}

static uint64_t weight_of(const struct alloc_stack *s, enum stack_weight wt)
{
	return wt == WEIGHT_LIVE ? s->live_bytes : s->bytes;
}

static void write_profile(struct jw *w, const struct frame_table *t, const struct proc_report *p,
			  enum stack_weight wt)
{
	const struct alloc_report *a = &p->alloc;
	uint64_t total = 0;
	char name[96];

	snprintf(name, sizeof(name), "%.*s (pid %d): %s", (int)strnlen(p->comm, sizeof(p->comm)),
		 p->comm, (int)p->pid, wt == WEIGHT_LIVE ? "live bytes" : "allocated bytes");
	for (unsigned k = 0; k < a->n_stacks; k++) {
		uint64_t v = weight_of(&a->stacks[k], wt);

		total = total + v < total ? UINT64_MAX : total + v;
	}
	jw_object_begin(w);
	jw_kv_string(w, "type", "sampled");
	jw_kv_string(w, "name", name);
	jw_kv_string(w, "unit", "bytes");
	jw_kv_u64(w, "startValue", 0);
	jw_kv_u64(w, "endValue", total);
	jw_key(w, "samples");
	jw_array_begin(w);
	for (unsigned k = 0; k < a->n_stacks; k++)
		if (weight_of(&a->stacks[k], wt))
			write_sample(w, t, &a->stacks[k]);
	jw_array_end(w);
	jw_key(w, "weights");
	jw_array_begin_inline(w);
	for (unsigned k = 0; k < a->n_stacks; k++)
		if (weight_of(&a->stacks[k], wt))
			jw_u64(w, weight_of(&a->stacks[k], wt));
	jw_array_end(w);
	jw_object_end(w);
}

/* Returns the number of profiles written. */
static unsigned write_profiles(struct jw *w, const struct frame_table *t, const struct report *r)
{
	unsigned n = 0;

	jw_key(w, "profiles");
	jw_array_begin(w);
	for (unsigned i = 0; r->procs && i < r->n_procs; i++) {
		if (!alloc_of(r, i))
			continue;
		/* --sample-window sees no frees: nothing is known live, and an
		 * empty "live bytes" profile would read as "nothing live" */
		if (!r->procs[i].alloc.windowed) {
			write_profile(w, t, &r->procs[i], WEIGHT_LIVE);
			n++;
		}
		write_profile(w, t, &r->procs[i], WEIGHT_ALLOC);
		n++;
	}
	jw_array_end(w);
	return n;
}

int output_speedscope(FILE *f, const struct report *r)
{
	struct frame_table t = { 0 };
	struct jw *w;
	int err;

	if (!f || !r)
		return -EINVAL;
	err = intern_all(&t, r);
	if (err) {
		frame_table_free(&t);
		return err;
	}
	w = jw_new(f);
	if (!w) {
		frame_table_free(&t);
		return -ENOMEM;
	}
	jw_object_begin(w);
	jw_kv_string(w, "$schema", SCHEMA_URL);
	write_frames(w, &t);
	/* activeProfileIndex must name a profile: left out when there is none. */
	if (write_profiles(w, &t, r))
		jw_kv_u64(w, "activeProfileIndex", 0);
	jw_kv_string(w, "name", "pymemtrace allocations");
	jw_kv_string(w, "exporter", "pymemtrace " PMT_VERSION);
	jw_object_end(w);
	fputc('\n', f);
	err = jw_free(w);
	frame_table_free(&t);
	return err;
}
