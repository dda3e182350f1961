/* Read-only access to an ELF file that a traced process maps.
 *
 * The file belongs to the target and may be hostile: truncated, lying about
 * section sizes, changing under us.  Every accessor bounds-checks against the
 * real file size and returns an error instead of reading out of range.  The
 * file is read into our own memory once at open (never mmap'ed), so that a
 * file shrinking later cannot fault us.
 *
 * Errors: functions returning int return 0 or -errno; pointer functions return
 * NULL and set errno.  elf_file__open also fills `err` with a readable reason.
 */
#ifndef PMT_ELF_H
#define PMT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct elf_file;

enum elf_sym_source {
	ELF_SRC_DYNSYM = 1,
	ELF_SRC_SYMTAB = 2,
};

struct elf_sym {
	const char *name;         /* points into the elf_file; valid until __free */
	uint64_t vaddr;           /* st_value */
	uint64_t size;            /* st_size */
	int type;                 /* STT_FUNC, STT_OBJECT, ... */
	int bind;                 /* STB_LOCAL, STB_GLOBAL, STB_WEAK */
	enum elf_sym_source source;
};

/* One `stapsdt` note (SystemTap USDT probe descriptor). */
struct usdt_note {
	char provider[64];
	char name[64];
	uint64_t pc;              /* probe address (vaddr), already adjusted for prelink
	                           * using the .stapsdt.base section, as libbpf does */
	uint64_t base;            /* the note's base field, as written */
	uint64_t semaphore;       /* semaphore vaddr, 0 if none */
	char args[256];           /* argument spec, e.g. "-4@%edi" */
};

/* Opens and validates `path` (ELF64, little-endian x86-64/aarch64 only).
 * `err`/`errlen` may be NULL.  errno: ENOENT, EACCES, ENOEXEC (not ELF or
 * malformed, with the reason in err), ... */
struct elf_file *elf_file__open(const char *path, char *err, size_t errlen);
/* The same, validated alike, for symbolizing: only the ELF header, the
 * program and section header tables and the symbol and string tables are
 * read (files of 1 MiB or more); every other byte of the image reads as
 * zero and costs no memory.  Use it where only symbols, segments and
 * offset/vaddr conversions are needed, never for code or notes. */
struct elf_file *elf_file__open_symbols(const char *path, char *err, size_t errlen);
void elf_file__free(struct elf_file *ef);               /* NULL is a no-op */

int elf_file__type(const struct elf_file *ef);          /* ET_EXEC or ET_DYN */
uint64_t elf_file__entry(const struct elf_file *ef);    /* e_entry (vaddr) */
uint64_t elf_file__size(const struct elf_file *ef);     /* bytes in the file */
uint64_t elf_file__resident(const struct elf_file *ef); /* bytes of it read into memory */
bool elf_file__has_symtab(const struct elf_file *ef);   /* a non-empty .symtab */
bool elf_file__has_dynsym(const struct elf_file *ef);   /* a non-empty .dynsym */
/* Lowest p_vaddr of PT_LOAD segments rounded down to page (0 for typical DSOs). */
uint64_t elf_file__base_vaddr(const struct elf_file *ef);

/* Looks a symbol up by exact name: .dynsym first, then .symtab.  Skips
 * undefined symbols (st_shndx == SHN_UNDEF).  0, or -ENOENT. */
int elf_file__find_symbol(struct elf_file *ef, const char *name, struct elf_sym *out);

/* Where the dynamic linker stores the address of the imported function or
 * object `name` for this file's code: the r_offset (a vaddr in this file) of
 * a JUMP_SLOT or GLOB_DAT relocation against that .dynsym symbol.  Reading
 * that slot in a process gives the definition it was bound to, which may be
 * another library's than expected (an allocator preloaded ahead of libc).
 * 0, or -ENOENT (no such import). */
int elf_file__import_slot(struct elf_file *ef, const char *name, uint64_t *slot);
/* Calls cb for every defined symbol of both tables (dynsym first); stops when cb
 * returns non-zero and returns that value.  0 when all were visited. */
int elf_file__foreach_symbol(struct elf_file *ef,
			     int (*cb)(const struct elf_sym *sym, void *ctx), void *ctx);

/* The function (STT_FUNC, either table) that contains vaddr, and the offset
 * into it.  Functions without a size cover up to the next function.  0 or
 * -ENOENT. */
int elf_file__symbolize(struct elf_file *ef, uint64_t vaddr, struct elf_sym *out, uint64_t *off);

/* Translates a virtual address to a file offset through the PT_LOAD segment
 * that contains it.  0, -ENOENT (not in a file-backed part of a segment). */
int elf_file__vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr, uint64_t *off);

/* The reverse: the vaddr of file offset off in a PT_LOAD segment.  0 or -ENOENT. */
int elf_file__offset_to_vaddr(const struct elf_file *ef, uint64_t off, uint64_t *vaddr);

/* Copies len bytes that live at vaddr in the file image (code, .rodata, .data).
 * Returns 0, -ENOENT (not file-backed, e.g. .bss) or -ERANGE (runs past EOF). */
int elf_file__read_vaddr(const struct elf_file *ef, uint64_t vaddr, void *buf, size_t len);

/* Parses .note.stapsdt.  *notes is malloc'ed (free() it); *n may be 0.
 * Malformed notes are skipped and counted in *skipped (may be NULL). */
int elf_file__usdt_notes(const struct elf_file *ef, struct usdt_note **notes, size_t *n,
			 size_t *skipped);

/* Parses an ELF image already in memory (for the fuzzers and unit tests).  The
 * buffer is copied. */
struct elf_file *elf_file__open_mem(const void *buf, size_t len, char *err, size_t errlen);
/* elf_file__open_symbols's reader on a memory image, whatever its size:
 * only the parts it would read from a file are copied. */
struct elf_file *elf_file__open_mem_symbols(const void *buf, size_t len, char *err,
					    size_t errlen);

#endif
