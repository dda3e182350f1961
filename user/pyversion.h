/* CPython version numbers. */
#ifndef PMT_PYVERSION_H
#define PMT_PYVERSION_H

#include <stdint.h>

struct pyversion {
	int major, minor, micro;
	char level;               /* 'f' final, 'a', 'b', 'c' */
	int serial;
};

/* Decodes PY_VERSION_HEX (0xMMmmuuLS). */
void pyversion_from_hex(uint64_t hex, struct pyversion *v);
/* Parses the start of a version string, "3.9.18 (main, ...)" or "3.13.0rc1".
 * 0 or -EINVAL. */
int pyversion_parse(const char *s, struct pyversion *v);
/* "3.11.7", "3.13.0rc1". */
void pyversion_format(const struct pyversion *v, char *buf, unsigned long len);
/* 0x030b00f0-style comparison key: (major, minor). */
static inline int pyversion_mm(const struct pyversion *v) { return v->major * 100 + v->minor; }

#endif
