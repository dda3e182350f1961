/* A small streaming JSON writer.
 *
 * The writer tracks nesting and commas itself and pretty-prints with a 2-space
 * indent; callers only say what comes next:
 *
 *	struct jw *w = jw_new(stdout);
 *	jw_object_begin(w);
 *	jw_key(w, "pid");     jw_u64(w, 1234);
 *	jw_key(w, "comm");    jw_string(w, comm);
 *	jw_key(w, "hist");    jw_array_begin_inline(w);
 *	for (i = 0; i < n; i++)
 *		jw_u64(w, hist[i]);
 *	jw_array_end(w);
 *	jw_object_end(w);
 *	err = jw_free(w);     (0, or -EINVAL if it was used unbalanced)
 *
 * Contract:
 *  - Strings may come from the traced process (comm, paths) and hold any
 *    bytes: quotes, backslashes and control characters are escaped, and each
 *    byte that is not part of well-formed UTF-8 is written as \ufffd.  The
 *    output is always valid UTF-8 JSON.
 *  - Doubles are written with the fewest digits that read back as the same
 *    value; NaN and infinities, which JSON cannot express, are written as null.
 *  - Misuse (a value where a key is due, a key outside an object, an end that
 *    does not match its begin, nesting deeper than JW_MAX_DEPTH, an unclosed
 *    document) never crashes and never writes invalid text silently: the
 *    writer stops writing at the first mistake and jw_error()/jw_free()
 *    return -EINVAL.  A write error on the FILE gives -EIO.
 *  - Exactly one top-level value is allowed.
 *  - "Inline" containers print on one line (used for long numeric arrays);
 *    everything inside an inline container is inline too.
 */
#ifndef PMT_JSON_WRITER_H
#define PMT_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 32

struct jw;

/* NULL (errno set) if out of memory. */
struct jw *jw_new(FILE *f);
/* Checks the document is complete, flushes nothing, frees the writer.
 * 0, -EINVAL (misuse or unclosed containers) or -EIO.  jw_free(NULL) is 0. */
int jw_free(struct jw *w);
/* The first error so far: 0, -EINVAL or -EIO. */
int jw_error(const struct jw *w);

void jw_object_begin(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array_begin(struct jw *w);
void jw_array_begin_inline(struct jw *w);
void jw_array_end(struct jw *w);

/* Object key; the next call must write its value. */
void jw_key(struct jw *w, const char *key);

void jw_string(struct jw *w, const char *s);          /* NULL writes null */
/* At most n bytes of s, stopping at a NUL: for fixed-size char arrays that
 * may lack a terminator. */
void jw_string_n(struct jw *w, const char *s, size_t n);
void jw_u64(struct jw *w, uint64_t v);
void jw_s64(struct jw *w, int64_t v);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);

/* Key and value in one call. */
void jw_kv_string(struct jw *w, const char *key, const char *s);
void jw_kv_string_n(struct jw *w, const char *key, const char *s, size_t n);
void jw_kv_u64(struct jw *w, const char *key, uint64_t v);
void jw_kv_s64(struct jw *w, const char *key, int64_t v);
void jw_kv_double(struct jw *w, const char *key, double v);
void jw_kv_bool(struct jw *w, const char *key, bool v);
void jw_kv_null(struct jw *w, const char *key);

#endif
