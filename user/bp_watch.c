/* Watching a target's probed instructions for our breakpoints: see bp_watch.h. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "bp_watch.h"
#include "procmaps.h"
#include "remote_mem.h"

#define INT3 0xCC

static int push(struct bp_watch *w, uint64_t addr, const struct procmap_entry *e)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		uint64_t *v = reallocarray(w->addrs, cap, sizeof(*v));
		struct bp_file *f;

		if (!v)
			return -ENOMEM;
		w->addrs = v;
		f = reallocarray(w->files, cap, sizeof(*f));
		if (!f)
			return -ENOMEM;
		w->files = f;
		w->cap = cap;
	}
	w->files[w->n] = (struct bp_file){ e->inode, e->dev_major, e->dev_minor };
	w->addrs[w->n++] = addr;
	return 0;
}

static bool maps_file(const struct procmap_entry *e, const struct bp_file *f)
{
	return e->inode == f->inode && e->dev_major == f->dev_major &&
	       e->dev_minor == f->dev_minor;
}

int bp_watch__add(struct bp_watch *w, const struct procmaps *m, const char *path,
		  const uint64_t *offs, size_t n)
{
	struct stat st;
	int ret = 0;

	if (w->pid <= 0 || !n)
		return 0;
	if (stat(path, &st))
		return -errno;
	/* A uprobe at a file offset goes into every executable mapping of
	 * that offset; text is mapped once, but nothing here relies on it. */
	for (size_t i = 0; i < m->n && !ret; i++) {
		const struct procmap_entry *e = &m->v[i];
		uint64_t len = e->end - e->start;

		if (!(e->perms & PM_X) || !procmaps__same_file(&st, e))
			continue;
		for (size_t k = 0; k < n && !ret; k++)
			if (offs[k] >= e->offset && offs[k] - e->offset < len)
				ret = push(w, e->start + (offs[k] - e->offset), e);
	}
	return ret;
}

static void keep_at(struct bp_watch *w, size_t to, size_t from)
{
	w->addrs[to] = w->addrs[from];
	w->files[to] = w->files[from];
}

/* Keeps the addresses whose byte is read and is (want_int3) or is not an
 * int3; counts the int3s and the unreadable ones it drops, if asked. */
static size_t keep(struct bp_watch *w, bool want_int3, unsigned *dropped_int3,
		   unsigned *dropped_unread)
{
	unsigned char *bytes, *ok;
	size_t kept = 0;

	if (!w->n)
		return 0;
	bytes = calloc(w->n, 1);
	ok = calloc(w->n, 1);
	if (!bytes || !ok || remote_read_many(w->pid, w->addrs, 1, bytes, w->n, ok) < 0) {
		if (dropped_unread)
			*dropped_unread += (unsigned)w->n;
		w->n = 0; /* cannot be watched: say nothing rather than guess */
		goto out;
	}
	for (size_t i = 0; i < w->n; i++) {
		bool int3 = ok[i] && bytes[i] == INT3;

		if (ok[i] && int3 == want_int3)
			keep_at(w, kept++, i);
		else if (int3 && dropped_int3)
			(*dropped_int3)++;
		else if (!ok[i] && dropped_unread)
			(*dropped_unread)++;
	}
	w->n = kept;
out:
	free(bytes);
	free(ok);
	return w->n;
}

void bp_watch__before(struct bp_watch *w)
{
	keep(w, false, &w->others, &w->unread);
}

size_t bp_watch__confirm(struct bp_watch *w)
{
	return keep(w, true, NULL, NULL);
}

bool bp_watch__recheck(struct bp_watch *w)
{
	struct procmaps m = { 0 };
	size_t kept = 0;
	bool moved;

	if (!w->n)
		return false;
	if (procmaps__load(w->pid, &m, NULL)) {
		/* gone (then nothing of ours is left in it) or unreadable: either
		 * way nothing can be claimed; unreadable while alive is "moved" */
		w->n = 0;
		return kill(w->pid, 0) == 0;
	}
	for (size_t i = 0; i < w->n; i++) {
		bool same = false;

		for (size_t j = 0; j < m.n && !same; j++)
			same = (m.v[j].perms & PM_X) && w->addrs[i] >= m.v[j].start &&
			       w->addrs[i] < m.v[j].end && maps_file(&m.v[j], &w->files[i]);
		if (same)
			keep_at(w, kept++, i);
	}
	moved = kept < w->n && m.n > 0;
	w->n = kept;
	procmaps__release(&m);
	return moved;
}

size_t bp_watch__count_in(const struct bp_watch *w)
{
	unsigned char bytes[64], ok[64];
	size_t in = 0;

	/* in slices: this runs in a loop while the links close */
	for (size_t i = 0; i < w->n; i += sizeof(bytes)) {
		size_t k = w->n - i < sizeof(bytes) ? w->n - i : sizeof(bytes);

		memset(ok, 0, k);
		if (remote_read_many(w->pid, w->addrs + i, 1, bytes, k, ok) == -ESRCH)
			return 0;
		for (size_t j = 0; j < k; j++)
			in += ok[j] && bytes[j] == INT3;
	}
	return in;
}

void bp_watch__release(struct bp_watch *w)
{
	free(w->addrs);
	free(w->files);
	w->addrs = NULL;
	w->files = NULL;
	w->n = w->cap = 0;
}
