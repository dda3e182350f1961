/* Native symbolization for one traced process: runtime address ->
 * "function+0xoff (object)".
 *
 * The process's mappings are snapshotted (symbolizer__refresh) while it runs,
 * so that stacks can still be named after it has exited.  ELF files are opened
 * through /proc/PID/root (containers) and cached by path; they are hostile
 * input, parsed by user/elf.c.
 */
#ifndef PMT_SYMBOLIZE_H
#define PMT_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct symbolizer;

struct symbolizer *symbolizer__new(pid_t pid);
void symbolizer__free(struct symbolizer *s);
/* Re-reads /proc/PID/maps and opens the ELF files of its executable
 * mappings (once each); keeps the old snapshot if the process is gone.
 * 0 or -errno. */
int symbolizer__refresh(struct symbolizer *s);
/* Writes a name for addr into buf: "PyObject_Malloc+0x1c (python3.11)",
 * "0x7f12... (libfoo.so)" without a symbol, "0x... (?)" outside any
 * mapping.  Always NUL-terminates. */
void symbolizer__name(struct symbolizer *s, uint64_t addr, char *buf, size_t len);

#endif
