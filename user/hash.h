/* FNV-1a, 64 bit: a fast, stable hash for cache keys and short ids.  Not
 * collision-resistant against an adversary: never use it where a collision
 * would merge data that must stay apart without also comparing the data. */
#ifndef PMT_HASH_H
#define PMT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_INIT 0xcbf29ce484222325ULL

/* Folds n bytes at p into h (start with FNV1A64_INIT). */
static inline uint64_t fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

#endif
