/* Line tables read out of the target's code objects (co_lnotab,
 * co_linetable).  Input: one byte picks the version (3.8 + byte % 6), four
 * give co_firstlineno, the rest is the table.  Every even offset up to past
 * the table's end is looked up (at most 512 of them, every walk being linear
 * in the table), as pysym does for each frame. */
#include "fuzz.h"
#include "linetable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int32_t first;
	int mm, line;
	size_t len, max, step;
	uint8_t *table;

	if (size < 5)
		return 0;
	mm = 308 + data[0] % 6;
	memcpy(&first, data + 1, sizeof(first));
	len = size - 5;
	/* an exact-size copy, so that ASan sees any read past the table */
	table = malloc(len ? len : 1);
	if (!table)
		return 0;
	memcpy(table, data + 5, len);
	max = len * 16 + 16;
	step = max / 512 > 2 ? (max / 512) & ~(size_t)1 : 2;
	for (uint32_t off = 0; off < max; off += step)
		if (!linetable_line(mm, table, len, first, off, &line))
			fuzz_use(&line, sizeof(line));
	linetable_line(mm, table, len, first, UINT32_MAX - 1, &line);
	free(table);
	return 0;
}
