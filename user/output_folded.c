/* Folded ("collapsed") stacks: see output.h for the line format.
 *
 * Frame text comes from the target (file names, function names, symbols).
 * The format has no escaping, so characters that would break a line are
 * replaced: ';' by ',', and control characters and bytes that are not
 * well-formed UTF-8 by U+FFFD (one per byte, as in the JSON writer).  The
 * output is always valid UTF-8 with exactly one line per stack. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "output.h"
#include "units.h"

/* A frame longer than this is cut: no flame graph shows it whole anyway. */
#define FRAME_TEXT_MAX 4096

static const char replacement[] = "\xef\xbf\xbd";   /* U+FFFD */

/* Writes at most n bytes of s (up to a NUL) as frame text. */
static void put_text(FILE *f, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n && u[i]) {
		uint32_t cp = 0;
		unsigned len = units_utf8_seq(u + i, n - i, &cp);

		if (!len) {
			fputs(replacement, f);
			i++;
		} else if (cp == ';') {
			fputc(',', f);
			i++;
		} else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			fputs(replacement, f);
			i += len;
		} else {
			fwrite(u + i, 1, len, f);
			i += len;
		}
	}
}

/* A frame string held by pointer; "?" when missing or empty. */
static void put_str(FILE *f, const char *s)
{
	if (!s || !s[0])
		s = "?";
	put_text(f, s, strnlen(s, FRAME_TEXT_MAX));
}

static void put_root(FILE *f, const struct proc_report *p)
{
	size_t n = strnlen(p->comm, sizeof(p->comm));

	if (n)
		put_text(f, p->comm, n);
	else
		fputc('?', f);
	fprintf(f, " (pid %d)", (int)p->pid);
}

static void put_stack(FILE *f, const struct proc_report *p, const struct alloc_stack *s,
		      uint64_t weight)
{
	unsigned n_py = s->python ? s->n_python : 0, n_nat = s->native ? s->n_native : 0;

	put_root(f, p);
	/* The report holds innermost first; folded lines go root first. */
	for (unsigned i = n_py; i-- > 0;) {
		const struct py_frame_info *fr = &s->python[i];

		fputc(';', f);
		put_str(f, fr->function);
		fputs(" (", f);
		put_str(f, fr->file);
		if (fr->line >= 0)
			fprintf(f, ":%d)", fr->line);
		else
			fputs(":?)", f);
	}
	for (unsigned i = n_nat; i-- > 0;) {
		fputc(';', f);
		put_str(f, s->native[i]);
	}
	fprintf(f, " %" PRIu64 "\n", weight);
}

int output_folded(FILE *f, const struct report *r, enum stack_weight w)
{
	if (!f || !r || (w != WEIGHT_LIVE && w != WEIGHT_ALLOC))
		return -EINVAL;
	for (unsigned i = 0; r->procs && i < r->n_procs; i++) {
		const struct proc_report *p = &r->procs[i];
		const struct alloc_report *a = &p->alloc;

		for (unsigned k = 0; a->enabled && a->stacks && k < a->n_stacks; k++) {
			const struct alloc_stack *s = &a->stacks[k];
			uint64_t weight = w == WEIGHT_LIVE ? s->live_bytes : s->bytes;

			if (weight)
				put_stack(f, p, s, weight);
		}
	}
	return ferror(f) ? -EIO : 0;
}
