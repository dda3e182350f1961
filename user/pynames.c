/* Python stack names: see pynames.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "pymemtrace.h"
#include "pynames.h"
#include "pystack.h"
#include "pysym.h"

struct named_stack {
	uint64_t hash;            /* 0: empty slot */
	struct py_frame_info *frames;
	unsigned n;
	bool truncated;
	unsigned unresolved;
};

struct pynames {
	struct pysym *sym;
	struct named_stack *slots; /* open addressing, power-of-two size */
	size_t cap, used;
	uint64_t unresolved;       /* sum of the named stacks' unresolved frames */
};

struct pynames *pynames__new(struct interp *in)
{
	struct pynames *pn = calloc(1, sizeof(*pn));

	if (!pn)
		return NULL;
	pn->sym = pysym__new(in);
	if (!pn->sym) {
		int e = errno;

		free(pn);
		errno = e;
		return NULL;
	}
	return pn;
}

static void frames_free(struct py_frame_info *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(f[i].file);
		free(f[i].function);
	}
	free(f);
}

void pynames__free(struct pynames *pn)
{
	if (!pn)
		return;
	for (size_t i = 0; i < pn->cap; i++)
		if (pn->slots[i].hash)
			frames_free(pn->slots[i].frames, pn->slots[i].n);
	free(pn->slots);
	pysym__free(pn->sym);
	free(pn);
}

static struct named_stack *slot_for(struct pynames *pn, uint64_t hash)
{
	size_t i;

	if (!pn->cap)
		return NULL;
	for (i = hash & (pn->cap - 1);; i = (i + 1) & (pn->cap - 1))
		if (!pn->slots[i].hash || pn->slots[i].hash == hash)
			return &pn->slots[i];
}

static int grow(struct pynames *pn)
{
	size_t ncap = pn->cap ? 2 * pn->cap : 256;
	struct named_stack *old = pn->slots;
	size_t ocap = pn->cap;

	pn->slots = calloc(ncap, sizeof(*pn->slots));
	if (!pn->slots) {
		pn->slots = old;
		return -ENOMEM;
	}
	pn->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].hash)
			*slot_for(pn, old[i].hash) = old[i];
	free(old);
	return 0;
}

/* The slot of a stack not named yet, taken, with room for n frames; NULL
 * when memory runs out (the stack then stays unnamed). */
static struct named_stack *claim_slot(struct pynames *pn, uint64_t hash, unsigned n)
{
	struct named_stack *ns;

	if (pn->used * 2 >= pn->cap && grow(pn))
		return NULL;
	ns = slot_for(pn, hash);
	ns->frames = calloc(n ? n : 1, sizeof(*ns->frames));
	if (!ns->frames)
		return NULL;
	ns->hash = hash;
	pn->used++;
	return ns;
}

/* A frame that cannot be named keeps its place: a gap would misplace the
 * rest.  It counts once among the unresolved. */
static void frame_unnamed(struct pynames *pn, struct named_stack *ns, const char *function)
{
	struct py_frame_info *f = &ns->frames[ns->n++];

	f->file = strdup("?");
	f->function = strdup(function);
	f->line = -1;
	ns->unresolved++;
	pn->unresolved++;
}

static void name_stack(struct pynames *pn, uint64_t hash, const struct pmt_pystack *ps)
{
	unsigned depth = ps->depth < PMT_MAX_PYFRAMES ? ps->depth : PMT_MAX_PYFRAMES;
	struct named_stack *ns = claim_slot(pn, hash, depth);

	if (!ns)
		return;
	ns->truncated = ps->flags & PMT_PYSTACK_TRUNCATED;
	for (unsigned i = 0; i < depth; i++) {
		if (pysym__frame(pn->sym, ps->frames[i].code, ps->frames[i].offset,
				 &ns->frames[ns->n]))
			frame_unnamed(pn, ns, "?");
		else
			ns->n++;
	}
}

/* Names the stack under key unless it is named already; true if it did. */
static bool name_key(struct pynames *pn, int fd, const struct pmt_pystack_key *key)
{
	struct named_stack *ns = slot_for(pn, key->hash);
	struct pmt_pystack ps;

	if ((ns && ns->hash) || bpf_map_lookup_elem(fd, key, &ps))
		return false;
	name_stack(pn, key->hash, &ps);
	return true;
}

unsigned pynames__update(struct pynames *pn, int fd, pid_t pid)
{
	struct pmt_pystack_key key, next, *prev = NULL;
	unsigned named = 0;

	pysym__new_round(pn->sym);
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (key.pid == (__u32)pid && name_key(pn, fd, &key))
			named++;
	}
	return named;
}

bool pynames__name_one(struct pynames *pn, int fd, pid_t pid, uint64_t hash)
{
	struct pmt_pystack_key key = { .pid = (__u32)pid, .hash = hash };

	pysym__new_round(pn->sym);
	return name_key(pn, fd, &key);
}

void pynames__mark_unnamed(struct pynames *pn, uint64_t hash)
{
	struct named_stack *ns = slot_for(pn, hash);

	if (ns && ns->hash)
		return;
	ns = claim_slot(pn, hash, 1);
	if (ns)
		frame_unnamed(pn, ns, "? (not named before the process exited)");
}

uint64_t pynames__unresolved(const struct pynames *pn)
{
	return pn ? pn->unresolved : 0;
}

bool pynames__get(struct pynames *pn, uint64_t hash, struct alloc_stack *out)
{
	struct named_stack *ns = slot_for(pn, hash);

	if (!ns || !ns->hash)
		return false;
	out->python = calloc(ns->n ? ns->n : 1, sizeof(*out->python));
	if (!out->python)
		return false;
	for (unsigned i = 0; i < ns->n; i++) {
		out->python[i].file = strdup(ns->frames[i].file ? ns->frames[i].file : "?");
		out->python[i].function = strdup(ns->frames[i].function ? ns->frames[i].function : "?");
		out->python[i].line = ns->frames[i].line;
	}
	out->n_python = ns->n;
	if (ns->truncated)
		out->truncated = true;
	return true;
}
