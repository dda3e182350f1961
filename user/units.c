/* Formatters for the reports: see units.h. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "units.h"

static const char *const byte_units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
#define N_BYTE_UNITS (sizeof(byte_units) / sizeof(byte_units[0]))

/* 1023.95 and up would print as "1024.0" with one decimal: move on instead. */
#define ROUNDS_UP_BINARY 1023.95
#define ROUNDS_UP_DECIMAL 999.95

static void fmt_bytes(char *buf, size_t len, const char *sign, uint64_t bytes)
{
	double v = bytes / 1024.0;
	unsigned u = 0;

	if (bytes < 1024) {
		snprintf(buf, len, "%s%" PRIu64 " B", sign, bytes);
		return;
	}
	while (v >= ROUNDS_UP_BINARY && u + 1 < N_BYTE_UNITS) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%s%.1f %s", sign, v, byte_units[u]);
}

const char *units_bytes(char *buf, size_t len, uint64_t bytes)
{
	if (!buf || !len)
		return "";
	fmt_bytes(buf, len, "", bytes);
	return buf;
}

const char *units_sbytes(char *buf, size_t len, int64_t bytes)
{
	uint64_t mag;

	if (!buf || !len)
		return "";
	if (bytes == 0) {
		snprintf(buf, len, "0 B");
		return buf;
	}
	/* -(INT64_MIN) overflows; the unsigned negation does not. */
	mag = bytes < 0 ? -(uint64_t)bytes : (uint64_t)bytes;
	fmt_bytes(buf, len, bytes < 0 ? "-" : "+", mag);
	return buf;
}

const char *units_ns(char *buf, size_t len, uint64_t ns)
{
	double v = ns / 1000.0;

	if (!buf || !len)
		return "";
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (v < ROUNDS_UP_DECIMAL)
		snprintf(buf, len, "%.1f us", v);
	else if ((v /= 1000.0) < ROUNDS_UP_DECIMAL)
		snprintf(buf, len, "%.1f ms", v);
	else
		snprintf(buf, len, "%.2f s", v / 1000.0);
	return buf;
}

const char *units_seconds(char *buf, size_t len, double seconds)
{
	if (!buf || !len)
		return "";
	if (!isfinite(seconds) || seconds < 0)
		snprintf(buf, len, "?");
	else if (seconds < 1.0)
		units_ns(buf, len, (uint64_t)(seconds * 1e9));
	else
		snprintf(buf, len, "%.2f s", seconds);
	return buf;
}

static int is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

unsigned units_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned need, i;
	uint32_t c, min;

	if (!n)
		return 0;
	c = s[0];
	if (c < 0x80) {
		need = 1;
		min = 0;
	} else if ((c & 0xe0) == 0xc0) {
		need = 2;
		min = 0x80;
		c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		need = 3;
		min = 0x800;
		c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		need = 4;
		min = 0x10000;
		c &= 0x07;
	} else {
		return 0;	/* continuation byte or 0xf8..0xff */
	}
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if (!is_cont(s[i]))
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and values past Unicode are not
	 * UTF-8 (RFC 3629), and strict decoders such as Python's reject them. */
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp)
		*cp = c;
	return need;
}

/* See units.h.  Every escape is 4 bytes, so 5 free bytes (with the NUL)
 * decide whether one more fits. */
const char *units_sanitize(char *out, size_t outlen, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	while (i < n && u[i] && o + 5 <= outlen) {
		uint32_t cp = 0;
		unsigned len = units_utf8_seq(u + i, n - i, &cp);

		/* The escape character itself is escaped: no output is ambiguous. */
		if (u[i] == '\\') {
			o += snprintf(out + o, outlen - o, "\\\\");
			i++;
			continue;
		}
		if (len && cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp >= 0xa0)) {
			if (o + len + 1 > outlen)
				break;
			memcpy(out + o, u + i, len);
			o += len;
			i += len;
			continue;
		}
		/* A C1 control is two bytes, a bad byte one: escape them all. */
		for (unsigned k = 0; k < (len ? len : 1) && o + 5 <= outlen; k++, i++)
			o += snprintf(out + o, outlen - o, "\\x%02x", u[i]);
	}
	if (outlen)
		out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}
