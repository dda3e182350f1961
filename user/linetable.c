// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* CPython line tables: see linetable.h.  The formats are described in
 * CPython's Objects/lnotab_notes.txt (3.8-3.10) and
 * InternalDocs/locations.md, formerly Objects/locations.md (3.11+). */
#include <errno.h>
#include <limits.h>
#include "linetable.h"

/* Line arithmetic in long, so that a hostile table cannot overflow an int
 * before we notice. */
static int to_line(long l, int *line)
{
	if (l < INT_MIN || l > INT_MAX)
		return -EBADMSG;
	*line = (int)l;
	return 0;
}

/* 3.8, 3.9: the line of the last entry whose address is <= offset. */
static int lnotab_line(const uint8_t *t, size_t len, int first, uint32_t offset, int *line)
{
	uint64_t addr = 0;
	long cur = first;

	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += t[i];
		if (addr > offset)
			break;
		cur += (int8_t)t[i + 1];
	}
	return to_line(cur, line);
}

/* 3.10: ranges [start, end) in bytes, each with a line or "none" (-128). */
static int linetable310_line(const uint8_t *t, size_t len, int first, uint32_t offset, int *line)
{
	uint64_t start, end = 0;
	long cur = first;

	for (size_t i = 0; i + 1 < len; i += 2) {
		int8_t ld = (int8_t)t[i + 1];

		start = end;
		end += t[i];
		if (ld != -128)
			cur += ld;
		if (offset >= start && offset < end) {
			if (ld == -128) {
				*line = -1;
				return 0;
			}
			return to_line(cur, line);
		}
	}
	return -ENOENT;
}

/* A 6-bit-chunk varint of the location table (bit 6 continues). */
static int read_varint(const uint8_t *t, size_t len, size_t *i, uint32_t *out)
{
	uint32_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (*i >= len || shift > 30)
			return -EBADMSG;
		b = t[(*i)++];
		v |= (uint32_t)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	*out = v;
	return 0;
}

static int read_svarint(const uint8_t *t, size_t len, size_t *i, long *out)
{
	uint32_t u;
	int err = read_varint(t, len, i, &u);

	if (err)
		return err;
	*out = u & 1 ? -(long)(u >> 1) : (long)(u >> 1);
	return 0;
}

enum {
	LOC_NONE = 15,            /* no location: line None */
	LOC_LONG = 14,            /* svarint line delta, then end line, columns */
	LOC_NO_COLUMNS = 13,      /* svarint line delta only */
	LOC_ONE_LINE0 = 10,       /* 10..12: line delta 0..2, two column bytes */
};

/* One entry of the 3.11+ table starting at t[*i]: its length in code units
 * and its line (-1: none); *cur carries the line from entry to entry. */
static int loc_entry(const uint8_t *t, size_t len, size_t *i, long *cur, uint32_t *units,
		     long *line)
{
	uint8_t b = t[(*i)++];
	int code = (b >> 3) & 15, err = 0;
	uint32_t skip;
	long delta = 0;

	if (!(b & 0x80))
		return -EBADMSG;
	*units = (b & 7) + 1;
	if (code == LOC_NONE) {
		*line = -1;
		return 0;
	}
	if (code == LOC_LONG || code == LOC_NO_COLUMNS)
		err = read_svarint(t, len, i, &delta);
	else if (code >= LOC_ONE_LINE0)
		delta = code - LOC_ONE_LINE0;
	for (int k = 0; !err && code == LOC_LONG && k < 3; k++)
		err = read_varint(t, len, i, &skip);
	if (err)
		return err;
	/* short forms carry one column byte, one-line forms two */
	*i += code < LOC_ONE_LINE0 ? 1 : code < LOC_NO_COLUMNS ? 2 : 0;
	if (*i > len)
		return -EBADMSG;
	*cur += delta;
	*line = *cur;
	return 0;
}

static int location_line(const uint8_t *t, size_t len, int first, uint32_t offset, int *line)
{
	uint64_t addr = 0, unit = offset / 2;
	uint32_t units;
	long cur = first, l;
	size_t i = 0;
	int err;

	while (i < len) {
		err = loc_entry(t, len, &i, &cur, &units, &l);
		if (err)
			return err;
		if (cur < INT_MIN || cur > INT_MAX)
			return -EBADMSG;
		if (unit < addr + units) {
			*line = (int)l;
			return 0;
		}
		addr += units;
	}
	return -ENOENT;
}

int linetable_line(int version_mm, const uint8_t *table, size_t len, int firstlineno,
		   uint32_t offset, int *line)
{
	if (!table && len)
		return -EINVAL;
	if (version_mm == 308 || version_mm == 309)
		return lnotab_line(table, len, firstlineno, offset, line);
	if (version_mm == 310)
		return linetable310_line(table, len, firstlineno, offset, line);
	if (version_mm >= 311 && version_mm <= 313)
		return location_line(table, len, firstlineno, offset, line);
	return -EINVAL;
}
