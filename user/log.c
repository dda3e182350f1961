/* Logging: see log.h. */
#include <stdio.h>
#include <stdarg.h>
#include "log.h"

int log_verbosity = 1;

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "pymemtrace: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define DEFINE_LOG(fn, level, prefix)                   \
	void fn(const char *fmt, ...)                   \
	{                                               \
		va_list ap;                             \
		if (log_verbosity < (level))            \
			return;                         \
		va_start(ap, fmt);                      \
		vlog(prefix, fmt, ap);                  \
		va_end(ap);                             \
	}

DEFINE_LOG(pr_err, 0, "error: ")
DEFINE_LOG(pr_warn, 1, "warning: ")
DEFINE_LOG(pr_info, 1, "")
DEFINE_LOG(pr_debug, 2, "")

void fmt_msg(char *buf, unsigned long len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}
