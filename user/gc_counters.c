/* The interpreter's GC counters, read from outside (gc_counters.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "census_gc.h"
#include "gc_counters.h"
#include "pyoffsets.h"
#include "remote_mem.h"

/* No process makes a collection a nanosecond for a year: a counter this
 * large was not written by CPython. */
#define MAX_PLAUSIBLE (1ll << 55)

bool gc_counters__accept(const struct gc_gen_counts prev[GC_COUNTERS_GENERATIONS],
			 const int64_t raw[GC_COUNTERS_GENERATIONS * 3],
			 struct gc_gen_counts out[GC_COUNTERS_GENERATIONS])
{
	struct gc_gen_counts v[GC_COUNTERS_GENERATIONS];

	for (int g = 0; g < GC_COUNTERS_GENERATIONS; g++) {
		const int64_t *f = raw + g * 3;

		for (int k = 0; k < 3; k++)
			if (f[k] < 0 || f[k] > MAX_PLAUSIBLE)
				return false;
		v[g].collections = (uint64_t)f[0];
		v[g].collected = (uint64_t)f[1] + (uint64_t)f[2];
		if (prev && (v[g].collections < prev[g].collections ||
			     v[g].collected < prev[g].collected))
			return false;
	}
	memcpy(out, v, sizeof(v));
	return true;
}

static int read_raw(const struct gc_counters *c, int64_t raw[GC_COUNTERS_GENERATIONS * 3])
{
	return remote_read(c->pid, c->addr, raw, GC_COUNTERS_GENERATIONS * 3 * sizeof(*raw));
}

/* The head of the interpreters' list; false when it cannot be read (or
 * there is none to read: 3.8). */
static bool read_head(const struct gc_counters *c, uint64_t *head)
{
	return c->head_addr && !remote_read(c->pid, c->head_addr, head, sizeof(*head));
}

int gc_counters__open(struct gc_counters *c, struct interp *in, pid_t pid)
{
	struct py_gc_layout l;
	int64_t raw[GC_COUNTERS_GENERATIONS * 3];
	uint64_t gc, head;
	int err;

	memset(c, 0, sizeof(*c));
	c->pid = pid;
	/* The paths for counters out of reach, which no interpreter here takes
	 * (tests/23-gc-budget.bats). */
	if (getenv(PMT_ENV_HIDE_GC_COUNTERS)) {
		snprintf(c->why, sizeof(c->why), "hidden by %s", PMT_ENV_HIDE_GC_COUNTERS);
		return -ENOENT;
	}
	err = pyoffsets__gc_layout(in, &l, c->why, sizeof(c->why));
	if (err)
		return err;
	if (l.gc_n_generations != GC_COUNTERS_GENERATIONS) {
		snprintf(c->why, sizeof(c->why), "%u GC generations, not %d", l.gc_n_generations,
			 GC_COUNTERS_GENERATIONS);
		return -ENOTSUP;
	}
	err = census_gc__find_state(pid, &l, &gc, c->why, sizeof(c->why));
	if (err)
		return err;
	c->addr = gc + l.gc_stats;
	/* 3.8's state is in _PyRuntime; from 3.11 the main interpreter is
	 * _PyRuntime._main_interpreter; 3.9 and 3.10 allocate it. */
	c->static_interp = l.gc_in_runtime || l.version_mm >= 311;
	if (!l.gc_in_runtime) {
		c->head_addr = l.runtime + l.rt_interp;
		c->main_interp = gc - l.gc_state;
	}
	err = read_raw(c, raw);
	if (err) {
		snprintf(c->why, sizeof(c->why), "cannot read the GC counters of pid %d: %s",
			 (int)pid, strerror(-err));
		return err;
	}
	if (!gc_counters__accept(NULL, raw, c->base)) {
		snprintf(c->why, sizeof(c->why), "pid %d: the GC counters make no sense",
			 (int)pid);
		return -EIO;
	}
	memcpy(c->last, c->base, sizeof(c->last));
	c->valid = true;
	if (read_head(c, &head) && head && head != c->main_interp)
		c->others = true;
	return 0;
}

int gc_counters__take(struct gc_counters *c, const int64_t raw[GC_COUNTERS_GENERATIONS * 3],
		      bool head_read, uint64_t head, bool lenient)
{
	bool other = false;

	if (!c->valid)
		return -EIO;
	if (c->final)
		return c->final_taken ? 0 : 1;
	/* New interpreters are pushed at the head of the list and the main
	 * one is its last: a head other than the main one is a
	 * subinterpreter; none is the end of finalisation. */
	if (head_read && c->head_addr) {
		if (!head) {
			c->final = true;
			if (!c->static_interp)
				return 1; /* maybe freed: the last read stands */
			lenient = true;
		} else if (head != c->main_interp) {
			other = true;
		}
	}
	if (!gc_counters__accept(c->last, raw, c->last)) {
		if (lenient)
			return -EIO;
		c->valid = false;
		snprintf(c->why, sizeof(c->why), "pid %d: the GC counters went backwards or make "
			 "no sense", (int)c->pid);
		return -EIO;
	}
	c->others |= other;
	c->final_taken = c->final;
	return 0;
}

int gc_counters__read(struct gc_counters *c)
{
	int64_t raw[GC_COUNTERS_GENERATIONS * 3];
	uint64_t head = 0;
	bool head_read;
	int err;

	if (!c->valid)
		return -EIO;
	if (c->final)
		return c->final_taken ? 0 : 1;
	err = read_raw(c, raw);
	if (err)
		return err;
	head_read = read_head(c, &head); /* after the counters: it vouches for them */
	return gc_counters__take(c, raw, head_read, head, false);
}

bool gc_counters__since_open(const struct gc_counters *c,
			     struct gc_gen_counts out[GC_COUNTERS_GENERATIONS])
{
	if (!c->valid)
		return false;
	for (int g = 0; g < GC_COUNTERS_GENERATIONS; g++) {
		out[g].collections = c->last[g].collections - c->base[g].collections;
		out[g].collected = c->last[g].collected - c->base[g].collected;
	}
	return true;
}
