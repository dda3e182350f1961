/* Small formatters shared by the report writers: byte sizes in binary units,
 * durations, and UTF-8 checking for strings that come from the target.
 *
 * Contract:
 *  - The units_* formatters write into the caller's buffer (at least
 *    UNITS_BUFSZ bytes), always NUL-terminate it, and return it, so that they
 *    can be used directly as printf arguments:
 *        char a[UNITS_BUFSZ], b[UNITS_BUFSZ];
 *        printf("%s of %s\n", units_bytes(a, sizeof(a), x), units_ns(b, sizeof(b), t));
 *  - Byte sizes: "512 B", "1.5 KiB", "12.0 MiB", "3.2 GiB", ... (powers of 1024).
 *  - Durations: "850 ns", "12.3 us", "1.2 ms", "3.01 s".
 *  - The formatted number is never rounded up into "1024.0 KiB" or
 *    "1000.0 us": it moves to the next unit instead.
 */
#ifndef PMT_UNITS_H
#define PMT_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define UNITS_BUFSZ 32

/* Unsigned byte count, e.g. "12.0 MiB". */
const char *units_bytes(char *buf, size_t len, uint64_t bytes);
/* Signed byte count with an explicit sign, e.g. "+9.0 MiB", "-4.0 KiB", "0 B". */
const char *units_sbytes(char *buf, size_t len, int64_t bytes);
/* Duration in nanoseconds, e.g. "1.2 ms". */
const char *units_ns(char *buf, size_t len, uint64_t ns);
/* Duration in seconds (negative, NaN and infinite values print as "?"). */
const char *units_seconds(char *buf, size_t len, double seconds);

/* Length of the well-formed UTF-8 sequence at the start of s (n > 0 bytes
 * available), storing its code point in *cp; 0 if the bytes there are not
 * well-formed UTF-8 (stray continuation bytes, overlong forms, surrogates,
 * code points above U+10FFFF, or a sequence cut short by n). */
unsigned units_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);

/* Copies at most n bytes of s (up to a NUL) into out (outlen bytes), so that
 * a string from the target cannot move a terminal's cursor or recolour it:
 * control characters, C1 controls and bytes that are not UTF-8 become \xNN,
 * a backslash becomes two.  Stops early rather than overflow out (4*n + 1
 * bytes always hold the whole string); NUL-terminates when outlen > 0 and
 * returns out. */
const char *units_sanitize(char *out, size_t outlen, const char *s, size_t n);

#endif
