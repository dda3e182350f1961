/* CPython version numbers: see pyversion.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "numparse.h"
#include "pyversion.h"

void pyversion_from_hex(uint64_t hex, struct pyversion *v)
{
	static const char levels[16] = { [0xa] = 'a', [0xb] = 'b', [0xc] = 'c', [0xf] = 'f' };
	char l = levels[(hex >> 4) & 0xf];

	v->major = (int)((hex >> 24) & 0xff);
	v->minor = (int)((hex >> 16) & 0xff);
	v->micro = (int)((hex >> 8) & 0xff);
	v->level = l ? l : '?';
	v->serial = (int)(hex & 0xf);
}

/* A decimal component: 1 to 3 digits, at most 255 (PY_VERSION_HEX bytes). */
static bool parse_num(const char **p, int *out)
{
	uint64_t v;
	size_t n = numparse_dec(*p, 4, 255, &v);

	if (!n || n > 3)
		return false;
	*p += n;
	*out = (int)v;
	return true;
}

int pyversion_parse(const char *s, struct pyversion *v)
{
	struct pyversion r = { .level = 'f' };
	const char *p = s;

	if (!s || !parse_num(&p, &r.major) || *p++ != '.' || !parse_num(&p, &r.minor))
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (!parse_num(&p, &r.micro))
			return -EINVAL;
	}
	if (!strncmp(p, "rc", 2) || *p == 'a' || *p == 'b' || *p == 'c') {
		r.level = *p == 'r' ? 'c' : *p;
		p += *p == 'r' ? 2 : 1;
		if (!parse_num(&p, &r.serial) || r.serial > 15)
			return -EINVAL;
	}
	/* "3.12.1+" (a build between releases) is fine; glued letters or
	 * digits ("3.11.7x1") are not a version */
	if (*p == '+')
		p++;
	if (*p && *p != ' ' && *p != '\n' && *p != '(')
		return -EINVAL;
	*v = r;
	return 0;
}

void pyversion_format(const struct pyversion *v, char *buf, unsigned long len)
{
	if (!buf || !len)
		return;
	if (v->level == 'f')
		snprintf(buf, len, "%d.%d.%d", v->major, v->minor, v->micro);
	else
		snprintf(buf, len, "%d.%d.%d%s%d", v->major, v->minor, v->micro,
			 v->level == 'c' ? "rc" : v->level == 'a' ? "a" : v->level == 'b' ? "b" : "?",
			 v->serial);
}
