/* Opening the ELF file that a process maps, as that process maps it.
 *
 * The path in /proc/PID/maps is the target's: the file there may have been
 * replaced since it was mapped (a package upgrade under a running service:
 * libc, libpython, a preloaded allocator), or swapped on purpose.  Probes
 * and offsets must come from the mapped inode, never from whatever the path
 * names now.
 *
 *   mapped_elf_open(pid, e, open_path, cap, &via_map_files, err, errlen)
 *
 * opens the file behind mapping e through /proc/PID/root + its path when that
 * is still the mapped file (same device and inode), else through
 * /proc/PID/map_files/START-END, which is the mapped inode itself (root
 * only), deleted or not.  open_path receives the path used, for attaching
 * uprobes (the kernel resolves it to the same inode); *via_map_files says
 * which.  The file is opened through /proc/self/fd of an O_PATH descriptor
 * checked with fstat, so nothing can be swapped between the check and the
 * read.  NULL with errno (ENOEXEC: not ELF) and err filled on failure.
 */
#ifndef PMT_MAPPED_ELF_H
#define PMT_MAPPED_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "elf.h"
#include "procmaps.h"

struct elf_file *mapped_elf_open(pid_t pid, const struct procmap_entry *e, char *open_path,
				 size_t cap, bool *via_map_files, char *err, size_t errlen);
/* The same through elf_file__open_symbols: for naming frames only. */
struct elf_file *mapped_elf_open_symbols(pid_t pid, const struct procmap_entry *e,
					 char *open_path, size_t cap, bool *via_map_files,
					 char *err, size_t errlen);

/* The warning for a file opened through map_files: the user should know
 * that the process runs a file its path no longer names (an upgrade). */
void mapped_elf_say_replaced(pid_t pid, const struct procmap_entry *e, const char *open_path);

#endif
