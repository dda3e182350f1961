/* Strict decimal parsing: see numparse.h. */
#include <errno.h>
#include <stdlib.h>
#include "numparse.h"

size_t numparse_dec(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	for (; n < len && s[n] >= '0' && s[n] <= '9'; n++)
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[n] - '0'), &v) || v > max)
			return 0;
	if (n)
		*out = v;
	return n;
}

bool numparse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	size_t n;

	if (!s)
		return false;
	n = numparse_dec(s, SIZE_MAX, max, &v);
	if (!n || s[n] || v < min)
		return false;
	*out = v;
	return true;
}

bool numparse_seconds(const char *s, double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > max)
		return false;
	*out = v;
	return true;
}
