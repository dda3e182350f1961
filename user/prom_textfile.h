/* --textfile DIR: the exposition as a file for node_exporter's textfile
 * collector (text format 0.0.4, no timestamps).
 *
 * The file is written whole to a temporary file in DIR whose name does not
 * end in ".prom" (the collector skips it), made readable by all (the
 * collector usually runs as another user), then renamed over the old one:
 * a reader sees either the old file or the new one, never half of one.
 */
#ifndef PMT_PROM_TEXTFILE_H
#define PMT_PROM_TEXTFILE_H

#include <stddef.h>
#include "output.h"
#include "report.h"

/* The file's name in DIR: "pymemtrace.prom", or "pymemtrace-GROUP.prom" with
 * --group (bytes other than [A-Za-z0-9_.-] become '_'), so that one
 * pymemtrace per group can share a directory. */
void prom_textfile_name(char *buf, size_t len, const char *group);

/* Writes r into DIR (o->format is ignored: always 0.0.4).  0, or -errno
 * with the reason in err; no temporary file is left behind either way. */
int prom_textfile_write(const char *dir, const struct report *r, const struct prom_opts *o,
			char *err, size_t errlen);

#endif
