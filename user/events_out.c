/* The --events writer: see events_out.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "events_out.h"
#include "json_writer.h"
#include "log.h"

/* stdio's buffer: big enough that writing costs one write(2) per ~16k lines. */
#define WRITE_BUFFER   (1u << 20)
#define FLUSH_EVERY_NS 100000000ULL  /* a reader tailing the file lags at most this */
#define HOLD_INITIAL   4096u
/* Events held for reordering: at 2 M events/s, 10 ms plus a 100 ms poll
 * period is 220 k.  Past this, the oldest half is written at once. */
#define HOLD_MAX       (1u << 20)

struct events_out {
	FILE *f;
	char *path;
	char *buf;                /* stdio buffer */
	uint64_t t0_ns;
	uint64_t last_flush_ns;
	uint64_t last_written_ts; /* kernel time of the newest line written */
	/* Held events, sorted by ts_ns, in hold[head..n). */
	struct pmt_event *hold;
	size_t head, n, cap;
	struct events_out_stats st;
};

static const char *const type_names[PMT_EV_TYPES] = {
	[PMT_EV_EXIT] = "exit",
	[PMT_EV_EXEC] = "exec",
	[PMT_EV_FORK] = "fork",
	[PMT_EV_NEW] = "new_process",
	[PMT_EV_GC] = "gc",
	[PMT_EV_ARENA_ALLOC] = "arena_alloc",
	[PMT_EV_ARENA_FREE] = "arena_free",
	[PMT_EV_MMAP] = "mmap",
	[PMT_EV_MUNMAP] = "munmap",
	[PMT_EV_MREMAP] = "mremap",
	[PMT_EV_BRK] = "brk",
};

const char *events_out__type_name(uint32_t type)
{
	return type < PMT_EV_TYPES ? type_names[type] : NULL;
}

/* ---- formatting ------------------------------------------------------------
 * A line is built in a buffer by hand: printf would cost more than the rest
 * of the path together, and the drain rate is what --events is judged by.
 * Every field is bounded (numbers, a 16-byte comm), so EVENTS_LINE_MAX holds
 * any line; the appenders still check the end. */

struct line {
	char *p, *end;
	bool overflow;
};

static void put_mem(struct line *l, const char *s, size_t n)
{
	if ((size_t)(l->end - l->p) < n) {
		l->overflow = true;
		return;
	}
	memcpy(l->p, s, n);
	l->p += n;
}

static void put_str(struct line *l, const char *s)
{
	put_mem(l, s, strlen(s));
}

static void put_u64(struct line *l, uint64_t v)
{
	char tmp[24];
	int i = sizeof(tmp);

	do {
		tmp[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	put_mem(l, tmp + i, sizeof(tmp) - i);
}

static void put_s64(struct line *l, int64_t v)
{
	if (v < 0) {
		put_mem(l, "-", 1);
		put_u64(l, -(uint64_t)v);
	} else {
		put_u64(l, v);
	}
}

static void put_hex(struct line *l, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[20];
	int i = sizeof(tmp);

	tmp[--i] = '"';
	do {
		tmp[--i] = digits[v & 15];
		v >>= 4;
	} while (v);
	tmp[--i] = 'x';
	tmp[--i] = '0';
	tmp[--i] = '"';
	put_mem(l, tmp + i, sizeof(tmp) - i);
}

/* ,"key":value for the three kinds of value */
static void kv_u64(struct line *l, const char *key, uint64_t v)
{
	put_str(l, ",\"");
	put_str(l, key);
	put_str(l, "\":");
	put_u64(l, v);
}

static void kv_s64(struct line *l, const char *key, int64_t v)
{
	put_str(l, ",\"");
	put_str(l, key);
	put_str(l, "\":");
	put_s64(l, v);
}

static void kv_hex(struct line *l, const char *key, uint64_t v)
{
	put_str(l, ",\"");
	put_str(l, key);
	put_str(l, "\":");
	put_hex(l, v);
}

/* The comm comes from the target: json_writer escapes it (rare: exec only). */
static void kv_comm(struct line *l, const char *key, const char *comm, size_t n)
{
	char tmp[128];
	FILE *m = fmemopen(tmp, sizeof(tmp), "w");
	struct jw *w;
	long len = -1;

	if (m) {
		w = jw_new(m);
		if (w) {
			jw_string_n(w, comm, n);
			if (!jw_free(w))
				len = ftell(m);
		}
		fclose(m);
	}
	put_str(l, ",\"");
	put_str(l, key);
	put_str(l, "\":");
	if (len <= 0 || len >= (long)sizeof(tmp))
		put_str(l, "null");
	else
		put_mem(l, tmp, len);
}

size_t events_out__format(const struct pmt_event *e, uint64_t t0_ns, char *buf, size_t cap)
{
	const char *name = events_out__type_name(e->type);
	struct line l = { buf, buf + cap - 1, false };

	if (!name || cap < EVENTS_LINE_MAX)
		return 0;
	put_str(&l, "{\"t_ns\":");
	put_u64(&l, e->ts_ns > t0_ns ? e->ts_ns - t0_ns : 0);
	put_str(&l, ",\"type\":\"");
	put_str(&l, name);
	put_str(&l, "\"");
	kv_u64(&l, "pid", e->pid);
	kv_u64(&l, "tid", e->tid);
	switch (e->type) {
	case PMT_EV_GC:
		kv_u64(&l, "generation", e->gc.generation);
		kv_u64(&l, "pause_ns", e->gc.pause_ns);
		kv_s64(&l, "collected", e->gc.collected);
		break;
	case PMT_EV_ARENA_ALLOC:
	case PMT_EV_ARENA_FREE:
		kv_hex(&l, "address", e->arena.addr);
		kv_u64(&l, "bytes", e->arena.bytes);
		break;
	case PMT_EV_MMAP:
		kv_hex(&l, "address", e->mem.addr);
		kv_u64(&l, "length", e->mem.len);
		put_str(&l, e->mem.anon ? ",\"mapping\":\"anon\"" : ",\"mapping\":\"file\"");
		kv_s64(&l, "result", e->mem.result);
		break;
	case PMT_EV_MUNMAP:
		kv_hex(&l, "address", e->mem.addr);
		kv_u64(&l, "length", e->mem.len);
		kv_s64(&l, "result", e->mem.result);
		break;
	case PMT_EV_MREMAP:
		kv_hex(&l, "address", e->mem.addr);
		kv_u64(&l, "length", e->mem.len);
		kv_hex(&l, "new_address", e->mem.new_addr);
		kv_u64(&l, "new_length", e->mem.new_len);
		kv_s64(&l, "result", e->mem.result);
		break;
	case PMT_EV_BRK:
		kv_hex(&l, "old", e->mem.addr);
		kv_hex(&l, "new", e->mem.new_addr);
		kv_s64(&l, "bytes", (int64_t)(e->mem.new_addr - e->mem.addr));
		break;
	case PMT_EV_EXIT:
		kv_s64(&l, "wait_status", e->exit.exit_code);
		break;
	case PMT_EV_EXEC:
		kv_comm(&l, "comm", e->exec.comm, sizeof(e->exec.comm));
		break;
	case PMT_EV_FORK:
		kv_s64(&l, "parent_pid", e->fork.parent_pid);
		break;
	}
	put_str(&l, "}");
	if (l.overflow)
		return 0;
	*l.p = '\0';
	return l.p - buf;
}

/* ---- the writer -------------------------------------------------------------- */

struct events_out *events_out__open(const char *path, uint64_t t0_ns, char *err, size_t errlen)
{
	struct events_out *eo;
	int fd = -1, saved;

	errno = 0;
	eo = calloc(1, sizeof(*eo));
	if (!eo)
		goto fail;
	eo->t0_ns = t0_ns;
	eo->path = strdup(path);
	eo->buf = malloc(WRITE_BUFFER);
	eo->cap = HOLD_INITIAL;
	eo->hold = malloc(eo->cap * sizeof(*eo->hold));
	if (!eo->path || !eo->buf || !eo->hold)
		goto fail;
	if (!strcmp(path, "-")) {
		/* A FILE of its own on fd 1: its buffer is not stdout's. */
		fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		eo->f = fd < 0 ? NULL : fdopen(fd, "w");
	} else {
		eo->f = fopen(path, "we");
	}
	if (!eo->f)
		goto fail;
	setvbuf(eo->f, eo->buf, _IOFBF, WRITE_BUFFER);
	return eo;
fail:
	saved = errno ? errno : ENOMEM;
	if (fd >= 0 && (!eo || !eo->f))
		close(fd);
	fmt_msg(err, errlen, "cannot write events to '%s': %s", path, strerror(saved));
	events_out__free(eo);
	errno = saved;
	return NULL;
}

static void write_event(struct events_out *eo, const struct pmt_event *e)
{
	char line[EVENTS_LINE_MAX];
	size_t n;

	if (e->ts_ns < eo->last_written_ts)
		eo->st.late++;
	else
		eo->last_written_ts = e->ts_ns;
	n = events_out__format(e, eo->t0_ns, line, sizeof(line));
	if (!n) {
		eo->st.bad_records++;
		return;
	}
	eo->st.written++;
	eo->st.by_type[e->type]++;
	if (eo->st.error || !eo->f)
		return;
	line[n++] = '\n';
	if (fwrite_unlocked(line, 1, n, eo->f) != n)
		eo->st.error = -(errno ? errno : EIO);
}

/* Writes hold[head..head+k) and forgets them. */
static void write_held(struct events_out *eo, size_t k)
{
	for (size_t i = 0; i < k; i++)
		write_event(eo, &eo->hold[eo->head + i]);
	eo->head += k;
	if (eo->head == eo->n)
		eo->head = eo->n = 0;
}

/* Room for one more at hold[n]: compact, grow, or write the oldest half. */
static void make_room(struct events_out *eo)
{
	struct pmt_event *v;

	if (eo->n < eo->cap)
		return;
	if (eo->head) {
		memmove(eo->hold, eo->hold + eo->head, (eo->n - eo->head) * sizeof(*eo->hold));
		eo->n -= eo->head;
		eo->head = 0;
		if (eo->n < eo->cap)
			return;
	}
	if (eo->cap < HOLD_MAX) {
		v = realloc(eo->hold, 2 * eo->cap * sizeof(*v));
		if (v) {
			eo->hold = v;
			eo->cap *= 2;
			return;
		}
	}
	/* Out of room (or memory): order gives way, never data. */
	write_held(eo, eo->n / 2);
	make_room(eo);
}

void events_out__add(struct events_out *eo, const void *data, size_t len)
{
	const struct pmt_event *e = data;
	size_t i;

	if (!eo)
		return;
	if (len < sizeof(*e) || !events_out__type_name(e->type)) {
		eo->st.bad_records++;
		return;
	}
	make_room(eo);
	/* Insertion from the end: records arrive almost sorted, so this
	 * moves an event past a few neighbours at most. */
	i = eo->n;
	while (i > eo->head && eo->hold[i - 1].ts_ns > e->ts_ns) {
		eo->hold[i] = eo->hold[i - 1];
		i--;
	}
	memcpy(&eo->hold[i], e, sizeof(*e));
	eo->n++;
}

void events_out__drain(struct events_out *eo, uint64_t now_ns)
{
	size_t k = 0;

	if (!eo)
		return;
	while (eo->head + k < eo->n && eo->hold[eo->head + k].ts_ns + EVENTS_REORDER_NS <= now_ns)
		k++;
	write_held(eo, k);
	if (eo->f && !eo->st.error && now_ns - eo->last_flush_ns >= FLUSH_EVERY_NS) {
		eo->last_flush_ns = now_ns;
		if (fflush(eo->f))
			eo->st.error = -(errno ? errno : EIO);
	}
}

int events_out__close(struct events_out *eo)
{
	if (!eo)
		return 0;
	write_held(eo, eo->n - eo->head);
	if (eo->f) {
		if (fclose(eo->f) && !eo->st.error)
			eo->st.error = -(errno ? errno : EIO);
		eo->f = NULL;
	}
	return eo->st.error;
}

void events_out__stats(const struct events_out *eo, struct events_out_stats *st)
{
	if (eo)
		*st = eo->st;
	else
		memset(st, 0, sizeof(*st));
}

const char *events_out__path(const struct events_out *eo)
{
	return eo ? eo->path : NULL;
}

void events_out__free(struct events_out *eo)
{
	if (!eo)
		return;
	if (eo->f)
		fclose(eo->f);
	free(eo->hold);
	free(eo->buf);
	free(eo->path);
	free(eo);
}
