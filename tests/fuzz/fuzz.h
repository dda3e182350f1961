/* Shared bits of the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
 *
 * Each harness feeds target-controlled bytes to one parser and exercises what
 * its callers do with the result.  A harness never checks answers (the unit
 * tests do): it only has to reach the code, and ASan/UBSan catch the bugs.
 */
#ifndef PMT_FUZZ_H
#define PMT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input, for parsers of C strings.  NULL on
 * ENOMEM (the harness then returns: libFuzzer reports real OOMs itself). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

/* Keeps the compiler from dropping a result the harness only computes. */
static inline void fuzz_use(const void *p, size_t n)
{
	__asm__ volatile("" : : "r"(p), "r"(n) : "memory");
}

#endif
