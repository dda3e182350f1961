/* Finding the CPython interpreter inside a running process.
 *
 * interp__find() reads /proc/PID/maps, finds the object that carries the
 * interpreter (a shared libpython3.X.so, or an executable with libpython
 * linked in statically), opens it through /proc/PID/root so that processes in
 * containers work, and establishes the version from the binary itself, never
 * from a file name:
 *   1. Py_Version (.dynsym, 3.11+): PY_VERSION_HEX read from the file image;
 *   2. _Py_DebugOffsets at _PyRuntime+0 (3.13+), from the file image;
 *   3. the PY_VERSION literal that Py_GetVersion's code passes to
 *      PyOS_snprintf (found by decoding it), from the file image;
 *   4. the static buffer that Py_GetVersion() fills at start-up, read from
 *      target memory.
 * Every source present is cross-checked against the first.  1-3 need no
 * running interpreter, so a process held at its entry point (the buffer still
 * all zeros, which is "not started yet", not an error) is identified too.
 */
#ifndef PMT_INTERP_H
#define PMT_INTERP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "elf.h"
#include "pyversion.h"

enum interp_kind {
	INTERP_LIBPYTHON = 1,     /* shared libpython3.X.so mapped by the process */
	INTERP_STATIC = 2,        /* the executable itself carries the interpreter */
};

struct interp {
	pid_t pid;
	enum interp_kind kind;
	char map_path[PATH_MAX];  /* the path as /proc/PID/maps shows it */
	char open_path[PATH_MAX]; /* what we open and attach to: /proc/PID/root/... */
	uint64_t load_bias;       /* runtime address = ELF vaddr + load_bias */
	/* the mapped file's identity, from /proc/PID/maps (interp__recheck_image) */
	uint64_t map_inode;
	unsigned map_dev_major, map_dev_minor;
	struct elf_file *elf;

	struct pyversion version;
	char version_str[32];     /* "3.11.2" */
	char version_source[160]; /* how it was found, for --dry-run and -v */
	bool free_threaded;       /* 3.13t+: detected, and refused (no pymalloc) */

	bool has_symtab, has_dynsym;
	struct usdt_note *usdt;   /* the python provider's notes (malloc'ed) */
	size_t n_usdt;
};

/* Returns 0 and fills *out, or -errno with a readable reason in err:
 *   -ESRCH            no such process
 *   -EACCES / -EPERM  not allowed to read its maps or files
 *   -ENOEXEC          the process does not run CPython
 *   -EPROTONOSUPPORT  CPython older than 3.8, or a free-threaded build
 *   -EIO              the interpreter's ELF file is malformed or unreadable */
int interp__find(pid_t pid, struct interp *out, char *err, size_t errlen);
void interp__release(struct interp *in);

/* Frees the copy of the interpreter file that interp__find read (6.5 MB
 * for pyenv's libpython3.11 without its DWARF), keeping what was found in
 * it: paths, kind, load bias, version, USDT notes.  Afterwards the lookups
 * in the file (interp__symbol, interp__debug_offset) fail until
 * interp__recheck_image reads it again; interp__release is still due. */
void interp__drop_image(struct interp *in);

/* Before probing a process planned a while ago: checks that in->pid still
 * maps the interpreter file interp__find found, at the same load bias, and
 * reads the file again if interp__drop_image dropped it (through the
 * mapping, as interp__find did: open_path may change to map_files if the
 * path no longer names that file).  The file's identity is its device and
 * inode, not its path.  0; -ESTALE when the process is gone or exec'd since
 * (a new image: even the same file may lie elsewhere) or its maps cannot be
 * read; another -errno when the file cannot be read again. */
int interp__recheck_image(struct interp *in);

/* interp__find for an interpreter file that need not be running: an
 * executable with libpython linked in, or a libpython3.X.so.  Everything comes
 * from the file, so it works before any process exists: pid is 0, load_bias 0,
 * open_path and map_path are path, and the version is Py_Version,
 * _Py_DebugOffsets or the PY_VERSION literal in Py_GetVersion's code (there is
 * no runtime buffer to check).  kind is INTERP_STATIC for an ET_EXEC or a file
 * that defines main, INTERP_LIBPYTHON otherwise.  interp__arena_functions on
 * the result can use .symtab only.  Errors as interp__find, plus -ENOENT,
 * -EACCES, -EISDIR... for a path that is not a readable regular file. */
int interp__find_file(const char *path, struct interp *out, char *err, size_t errlen);

/* Symbol lookup in the interpreter (.dynsym, then .symtab). */
int interp__symbol(struct interp *in, const char *name, struct elf_sym *out);
/* Reads the u64 at byte `field` of _Py_DebugOffsets (3.13+, at _PyRuntime+0)
 * from the file image, where it is statically initialised.  0, -ENOENT when
 * the interpreter has no debug offsets, -EINVAL for a field out of range. */
int interp__debug_offset(struct interp *in, size_t field, uint64_t *val);

/* The python:<name> USDT note, or NULL. */
const struct usdt_note *interp__usdt(const struct interp *in, const char *name);

/* Finds the functions pymalloc uses to get and release arenas.
 * Prefers .symtab names (_PyObject_ArenaMmap/_PyObject_ArenaMunmap up to
 * 3.11, _PyMem_ArenaAlloc/_PyMem_ArenaFree from 3.12).  Without a symtab
 * (stripped LTO builds), decodes PyObject_GetArenaAllocator to find the
 * hidden allocator struct and reads its function pointers from the target.
 * On success, *alloc_vaddr and *free_vaddr are ELF vaddrs in in->elf, and
 * `how` says which way was used.  -ENOENT with the reason in `how` otherwise
 * (e.g. a custom arena allocator that lives outside the interpreter). */
int interp__arena_functions(struct interp *in, uint64_t *alloc_vaddr, uint64_t *free_vaddr,
			    char *how, size_t howlen);

#endif
