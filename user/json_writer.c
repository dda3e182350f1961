/* Streaming JSON writer: see json_writer.h. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "json_writer.h"
#include "units.h"

struct jw_level {
	char close;               /* '}' or ']' */
	bool inline_;
	bool want_value;          /* objects: a key was written, its value is due */
	unsigned n;               /* members written so far */
};

struct jw {
	FILE *f;
	int err;
	bool done;                /* the top-level value is complete */
	unsigned depth;
	struct jw_level st[JW_MAX_DEPTH];
};

struct jw *jw_new(FILE *f)
{
	struct jw *w;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->f = f;
	return w;
}

int jw_error(const struct jw *w)
{
	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	return ferror(w->f) ? -EIO : 0;
}

int jw_free(struct jw *w)
{
	int err;

	if (!w)
		return 0;
	err = jw_error(w);
	if (!err && (w->depth || !w->done))
		err = -EINVAL;
	free(w);
	return err;
}

static bool misuse(struct jw *w)
{
	if (!w->err)
		w->err = -EINVAL;
	return false;
}

static struct jw_level *top(struct jw *w)
{
	return w->depth ? &w->st[w->depth - 1] : NULL;
}

static void newline(struct jw *w)
{
	fputc('\n', w->f);
	for (unsigned i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* Separator before a new member of the current container. */
static void separate(struct jw *w, struct jw_level *l)
{
	if (l->n)
		fputc(',', w->f);
	if (!l->inline_)
		newline(w);
	else if (l->n)
		fputc(' ', w->f);
	l->n++;
}

/* Checks that a value may come here and writes what goes before it. */
static bool begin_value(struct jw *w)
{
	struct jw_level *l;

	if (!w || w->err)
		return false;
	l = top(w);
	if (!l)
		return w->done ? misuse(w) : true;
	if (l->close == '}') {
		if (!l->want_value)
			return misuse(w);
		l->want_value = false;
		return true;
	}
	separate(w, l);
	return true;
}

static void end_value(struct jw *w)
{
	if (!w->depth)
		w->done = true;
}

static void escape_bytes(FILE *f, const unsigned char *s, size_t n)
{
	static const char short_esc[] = "btn\0fr";  /* for \b \t \n, \f \r */
	size_t i = 0;

	fputc('"', f);
	while (i < n && s[i]) {
		unsigned char c = s[i];
		unsigned len;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c >= '\b' && c <= '\r' && short_esc[c - '\b']) {
			fputc('\\', f);
			fputc(short_esc[c - '\b'], f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else if (c < 0x80) {
			fputc(c, f);
		} else if ((len = units_utf8_seq(s + i, n - i, NULL)) != 0) {
			fwrite(s + i, 1, len, f);
			i += len;
			continue;
		} else {
			/* One U+FFFD per bad byte: simpler than Unicode's
			 * "maximal subpart" rule, and just as valid. */
			fputs("\\ufffd", f);
		}
		i++;
	}
	fputc('"', f);
}

static void open_container(struct jw *w, char open, char close, bool inline_)
{
	struct jw_level *parent;

	if (!begin_value(w))
		return;
	if (w->depth >= JW_MAX_DEPTH) {
		misuse(w);
		return;
	}
	parent = top(w);
	fputc(open, w->f);
	w->st[w->depth++] = (struct jw_level){
		.close = close,
		.inline_ = inline_ || (parent && parent->inline_),
	};
}

static void close_container(struct jw *w, char close)
{
	struct jw_level *l;

	if (!w || w->err)
		return;
	l = top(w);
	if (!l || l->close != close || l->want_value) {
		misuse(w);
		return;
	}
	w->depth--;
	if (l->n && !l->inline_)
		newline(w);
	fputc(close, w->f);
	end_value(w);
}

void jw_object_begin(struct jw *w)
{
	open_container(w, '{', '}', false);
}

void jw_object_end(struct jw *w)
{
	close_container(w, '}');
}

void jw_array_begin(struct jw *w)
{
	open_container(w, '[', ']', false);
}

void jw_array_begin_inline(struct jw *w)
{
	open_container(w, '[', ']', true);
}

void jw_array_end(struct jw *w)
{
	close_container(w, ']');
}

void jw_key(struct jw *w, const char *key)
{
	struct jw_level *l;

	if (!w || w->err)
		return;
	l = top(w);
	if (!l || l->close != '}' || l->want_value || !key) {
		misuse(w);
		return;
	}
	separate(w, l);
	escape_bytes(w->f, (const unsigned char *)key, strlen(key));
	fputs(": ", w->f);
	l->want_value = true;
}

void jw_string_n(struct jw *w, const char *s, size_t n)
{
	if (!s) {
		jw_null(w);
		return;
	}
	if (!begin_value(w))
		return;
	escape_bytes(w->f, (const unsigned char *)s, n);
	end_value(w);
}

void jw_string(struct jw *w, const char *s)
{
	jw_string_n(w, s, s ? strlen(s) : 0);
}

void jw_u64(struct jw *w, uint64_t v)
{
	if (!begin_value(w))
		return;
	fprintf(w->f, "%" PRIu64, v);
	end_value(w);
}

void jw_s64(struct jw *w, int64_t v)
{
	if (!begin_value(w))
		return;
	fprintf(w->f, "%" PRId64, v);
	end_value(w);
}

void jw_double(struct jw *w, double v)
{
	char buf[40];

	if (!isfinite(v)) {
		jw_null(w);
		return;
	}
	if (!begin_value(w))
		return;
	/* Shortest of the two precisions that reads back exactly, so 3.01
	 * stays "3.01" rather than "3.0099999999999998". */
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	/* A locale with a decimal comma would make this invalid JSON. */
	for (char *p = buf; *p; p++)
		if (*p == ',')
			*p = '.';
	/* Keep doubles typed as such for readers that care: 3 -> 3.0. */
	if (!strpbrk(buf, ".e"))
		strcat(buf, ".0");
	fputs(buf, w->f);
	end_value(w);
}

void jw_bool(struct jw *w, bool v)
{
	if (!begin_value(w))
		return;
	fputs(v ? "true" : "false", w->f);
	end_value(w);
}

void jw_null(struct jw *w)
{
	if (!begin_value(w))
		return;
	fputs("null", w->f);
	end_value(w);
}

void jw_kv_string(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_string(w, s);
}

void jw_kv_string_n(struct jw *w, const char *key, const char *s, size_t n)
{
	jw_key(w, key);
	jw_string_n(w, s, n);
}

void jw_kv_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	jw_u64(w, v);
}

void jw_kv_s64(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	jw_s64(w, v);
}

void jw_kv_double(struct jw *w, const char *key, double v)
{
	jw_key(w, key);
	jw_double(w, v);
}

void jw_kv_bool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

void jw_kv_null(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_null(w);
}
