/* Decimal numbers in text pymemtrace reads: command-line values, and fields
 * of /proc and sysfs files, some of which the target controls.
 *
 * Contract:
 *  - Digits only ('0'-'9'): no sign, no leading space, no "0x".  strtoul
 *    would take " +12" and wrap "-1" to ULONG_MAX; these do not.
 *  - A value above the caller's max (or above UINT64_MAX) is rejected, never
 *    clamped or wrapped, and *out is then left untouched.
 *  - Nothing is read past the first non-digit, so a field inside a larger
 *    buffer need not be NUL-terminated.
 */
#ifndef PMT_NUMPARSE_H
#define PMT_NUMPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The run of digits at the start of s, looking at no more than len bytes
 * (SIZE_MAX for a NUL-terminated string).  Returns the number of digits
 * used, with their value in *out; 0 when s does not start with a digit or
 * the value is above max. */
size_t numparse_dec(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Whether the whole NUL-terminated s is one decimal number in [min, max]. */
bool numparse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Whether the whole s is a number of seconds (strtod's syntax: "0.5",
 * "2e3"), above 0 and at most max. */
bool numparse_seconds(const char *s, double max, double *out);

#endif
