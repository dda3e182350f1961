/* Logging for pymemtrace.
 *
 * Contract: the report goes to stdout; everything written here goes to stderr.
 * Messages are lowercase, say what failed first and quote the subject:
 *   pr_err("cannot open '%s': %s", path, strerror(errno));
 * pr_info is printed unless -q; pr_debug only with -v.  A trailing newline is
 * added by the functions, so callers never pass one.
 */
#ifndef PMT_LOG_H
#define PMT_LOG_H

#include <stdarg.h>

extern int log_verbosity; /* 0 = quiet, 1 = normal (default), 2 = -v, 3 = -vv */

void pr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copies a formatted message into buf (always NUL-terminated, never overflows). */
void fmt_msg(char *buf, unsigned long len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
