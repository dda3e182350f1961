/* Line numbers from CPython line tables, read out of the target's memory.
 *
 * Three formats, by version:
 *   3.8, 3.9   co_lnotab: (byte delta, signed line delta) pairs
 *   3.10       co_linetable: (byte delta of the range end, signed line delta)
 *              pairs; a line delta of -128 means "no line"
 *   3.11+      co_linetable, the location table: entries of 1..8 code units
 *              (2 bytes each) with varint-encoded line deltas and columns
 * The table comes from the traced process: every read is bounds-checked and
 * the walk is linear in len, so any bytes give an answer or an error.
 */
#ifndef PMT_LINETABLE_H
#define PMT_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* The line of the instruction at byte `offset` (what PyCode_Addr2Line and
 * co_lines() give).  version_mm is 308..313.  0 with *line set (-1 when the
 * instruction has no line, as co_lines() says None), -EINVAL for an unknown
 * version or NULL table with len > 0, -ENOENT when the offset is past the
 * table's end (3.10+; lnotab has no end), -EBADMSG for a malformed table. */
int linetable_line(int version_mm, const uint8_t *table, size_t len, int firstlineno,
		   uint32_t offset, int *line);

#endif
