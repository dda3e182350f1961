/* Read-only ELF access: see elf.h.
 *
 * The whole file is read into a private malloc'ed buffer (capped) and handed
 * to libelf with elf_memory().  Nothing is mmap'ed from the file, so a file
 * truncated or rewritten under us cannot raise SIGBUS; we parse the bytes we
 * read.  elf_file__open_symbols reads only the headers and the symbol tables
 * into a file-sized anonymous mapping: the pages it does not read stay zero
 * and take no memory.
 * Everything libelf would trust (header tables, section and segment extents,
 * symbol and string tables) is validated against the buffer size at open, so
 * the accessors below can index into the buffer without re-checking extents.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "elf.h"
#include "log.h"

/* libpython is ~30 MiB; anything near this cap is not an interpreter. */
#define ELF_MAX_FILE_SIZE	(1ULL << 30)
/* Smaller files are read whole by elf_file__open_symbols too: one read. */
#define ELF_SPARSE_MIN		(1U << 20)

#define USDT_NOTE_SEC		".note.stapsdt"
#define USDT_BASE_SEC		".stapsdt.base"
#define USDT_NOTE_OWNER		"stapsdt"
#define USDT_NOTE_TYPE		3

enum { TAB_DYNSYM, TAB_SYMTAB, TAB_NR };

struct symtab {
	Elf_Data *data;			/* libelf view of the symbols */
	size_t count;
	const char *str;		/* its string table, inside buf */
	size_t strsz;
};

/* One entry of the by-name index, built on the first lookup. */
struct sym_ref {
	const char *name;
	uint32_t idx;
	uint8_t tab;
};

/* One entry of the by-address index of functions, for the symbolizer. */
struct addr_ref {
	uint64_t vaddr, size;
	uint32_t idx;
	uint8_t tab;
};

struct elf_file {
	unsigned char *buf;
	size_t size;
	bool buf_mapped;		/* buf is an anonymous mapping (munmap), else malloc'ed */
	size_t resident;		/* bytes of the file read into buf */
	Elf *elf;
	Elf64_Ehdr ehdr;
	size_t shnum, shstrndx, phnum;
	GElf_Phdr *phdrs;
	uint64_t base_vaddr;
	struct symtab tabs[TAB_NR];
	struct sym_ref *index;
	size_t nindex;
	struct addr_ref *aindex;	/* functions by address, built on first use */
	size_t naindex;
};

static uint64_t end_of(uint64_t off, uint64_t n, uint64_t entsize)
{
	uint64_t bytes, end;

	if (__builtin_mul_overflow(n, entsize, &bytes) ||
	    __builtin_add_overflow(off, bytes, &end))
		return UINT64_MAX;
	return end;
}

/* True if [off, off + n * entsize) lies inside the buffer. */
static bool in_file(const struct elf_file *ef, uint64_t off, uint64_t n, uint64_t entsize)
{
	return end_of(off, n, entsize) <= ef->size;
}

static int malformed(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Formats the reason into err and returns -ENOEXEC, the "malformed" errno. */
static int malformed(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -ENOEXEC;
}

static int elf__check_ident(struct elf_file *ef, const char *name, char *err, size_t errlen)
{
	const unsigned char *id = ef->buf;

	if (ef->size < SELFMAG || memcmp(id, ELFMAG, SELFMAG))
		return malformed(err, errlen, "'%s' is not an ELF file", name);
	if (ef->size < EI_NIDENT)
		return malformed(err, errlen, "'%s' is truncated: %zu bytes, shorter than an ELF header",
			   name, ef->size);
	if (id[EI_CLASS] != ELFCLASS64)
		return malformed(err, errlen, "'%s' is not a 64-bit ELF file (class %u)",
			   name, id[EI_CLASS]);
	if (id[EI_DATA] != ELFDATA2LSB)
		return malformed(err, errlen, "'%s' is not a little-endian ELF file", name);
	if (ef->size < sizeof(Elf64_Ehdr))
		return malformed(err, errlen, "'%s' is truncated: %zu bytes, shorter than an ELF header",
			   name, ef->size);
	memcpy(&ef->ehdr, ef->buf, sizeof(ef->ehdr));
	if (ef->ehdr.e_machine != EM_X86_64 && ef->ehdr.e_machine != EM_AARCH64)
		return malformed(err, errlen, "'%s' is for an unsupported machine (e_machine %u)",
			   name, ef->ehdr.e_machine);
	if (ef->ehdr.e_type != ET_EXEC && ef->ehdr.e_type != ET_DYN)
		return malformed(err, errlen, "'%s' is not an executable or shared object (e_type %u)",
			   name, ef->ehdr.e_type);
	return 0;
}

/* Works out the section and segment counts, including the extended
 * numbering kept in section 0, and checks both tables lie inside the file. */
static int elf__check_tables(struct elf_file *ef, const char *name, char *err, size_t errlen)
{
	const Elf64_Ehdr *eh = &ef->ehdr;
	Elf64_Shdr sh0 = { 0 };
	uint64_t end;

	ef->shnum = eh->e_shoff ? eh->e_shnum : 0;
	if (eh->e_shoff) {
		if (eh->e_shentsize != sizeof(Elf64_Shdr))
			return malformed(err, errlen, "'%s' has a bad section header size %u",
				   name, eh->e_shentsize);
		if (!in_file(ef, eh->e_shoff, 1, sizeof(Elf64_Shdr)))
			return malformed(err, errlen, "'%s' is truncated: section headers start at %llu, past the file's end (%zu bytes)",
				   name, (unsigned long long)eh->e_shoff, ef->size);
		memcpy(&sh0, ef->buf + eh->e_shoff, sizeof(sh0));
		if (eh->e_shnum == 0)
			ef->shnum = sh0.sh_size;
		end = end_of(eh->e_shoff, ef->shnum, sizeof(Elf64_Shdr));
		if (end > ef->size)
			return malformed(err, errlen, "'%s' is truncated: section headers end at %llu, past the file's end (%zu bytes)",
				   name, (unsigned long long)end, ef->size);
	}
	ef->shstrndx = eh->e_shstrndx == SHN_XINDEX ? sh0.sh_link : eh->e_shstrndx;
	if (ef->shnum && (ef->shstrndx == SHN_UNDEF || ef->shstrndx >= ef->shnum))
		return malformed(err, errlen, "'%s' has a bad section name table index %zu (%zu sections)",
			   name, ef->shstrndx, ef->shnum);

	ef->phnum = eh->e_phoff ? eh->e_phnum : 0;
	if (ef->phnum == PN_XNUM) {
		if (!eh->e_shoff)
			return malformed(err, errlen, "'%s' uses extended program header numbering without sections",
				   name);
		ef->phnum = sh0.sh_info;
	}
	if (ef->phnum) {
		if (eh->e_phentsize != sizeof(Elf64_Phdr))
			return malformed(err, errlen, "'%s' has a bad program header size %u",
				   name, eh->e_phentsize);
		end = end_of(eh->e_phoff, ef->phnum, sizeof(Elf64_Phdr));
		if (end > ef->size)
			return malformed(err, errlen, "'%s' is truncated: program headers end at %llu, past the file's end (%zu bytes)",
				   name, (unsigned long long)end, ef->size);
	}
	return 0;
}

static int elf__load_segments(struct elf_file *ef, const char *name, char *err, size_t errlen)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t lowest = UINT64_MAX;
	size_t n;

	if (elf_getphdrnum(ef->elf, &n) || n != ef->phnum)
		return malformed(err, errlen, "'%s' has an unreadable program header table", name);
	if (!ef->phnum)
		return 0;
	ef->phdrs = calloc(ef->phnum, sizeof(*ef->phdrs));
	if (!ef->phdrs)
		return -ENOMEM;
	for (size_t i = 0; i < ef->phnum; i++) {
		GElf_Phdr *ph = &ef->phdrs[i];

		if (!gelf_getphdr(ef->elf, (int)i, ph))
			return malformed(err, errlen, "'%s': cannot read program header %zu: %s",
				   name, i, elf_errmsg(-1));
		if (ph->p_type != PT_LOAD)
			continue;
		if (!in_file(ef, ph->p_offset, ph->p_filesz, 1))
			return malformed(err, errlen, "'%s' is truncated: segment %zu (offset %llu, size %llu) runs past the file's end (%zu bytes)",
				   name, i, (unsigned long long)ph->p_offset,
				   (unsigned long long)ph->p_filesz, ef->size);
		if (ph->p_filesz > ph->p_memsz || end_of(ph->p_vaddr, ph->p_memsz, 1) == UINT64_MAX)
			return malformed(err, errlen, "'%s' has a malformed segment %zu", name, i);
		if (ph->p_vaddr < lowest)
			lowest = ph->p_vaddr;
	}
	if (lowest != UINT64_MAX && page)
		ef->base_vaddr = lowest & ~(page - 1);
	return 0;
}

static const char *elf__sec_name(const struct elf_file *ef, const GElf_Shdr *sh)
{
	const char *s = ef->shnum ? elf_strptr(ef->elf, ef->shstrndx, sh->sh_name) : NULL;

	return s ? s : "";
}

/* Reads section header i and checks that its bytes lie inside the file. */
static int elf__check_section(struct elf_file *ef, size_t i, GElf_Shdr *sh,
			      const char *name, char *err, size_t errlen)
{
	const char *sname;

	if (!gelf_getshdr(elf_getscn(ef->elf, i), sh))
		return malformed(err, errlen, "'%s': cannot read section header %zu: %s",
			   name, i, elf_errmsg(-1));
	if (sh->sh_type == SHT_NOBITS || in_file(ef, sh->sh_offset, sh->sh_size, 1))
		return 0;
	/* the name table is checked first: never look names up in it before */
	sname = i == ef->shstrndx ? ".shstrtab" : elf__sec_name(ef, sh);
	return malformed(err, errlen, "'%s' is truncated: section %zu '%s' (offset %llu, size %llu) runs past the file's end (%zu bytes)",
		   name, i, sname, (unsigned long long)sh->sh_offset,
		   (unsigned long long)sh->sh_size, ef->size);
}

static int elf__load_symtab(struct elf_file *ef, Elf_Scn *scn, const GElf_Shdr *sh,
			    const char *name, char *err, size_t errlen)
{
	struct symtab *t = &ef->tabs[sh->sh_type == SHT_DYNSYM ? TAB_DYNSYM : TAB_SYMTAB];
	const char *sname = elf__sec_name(ef, sh);
	GElf_Shdr strsh;
	int ret;

	if (t->data)	/* a second table of the same kind: keep the first */
		return 0;
	if (sh->sh_entsize != sizeof(Elf64_Sym) || sh->sh_size % sizeof(Elf64_Sym))
		return malformed(err, errlen, "'%s': symbol table '%s' has entry size %llu and size %llu, expected multiples of %zu",
			   name, sname, (unsigned long long)sh->sh_entsize,
			   (unsigned long long)sh->sh_size, sizeof(Elf64_Sym));
	if (sh->sh_link == SHN_UNDEF || sh->sh_link >= ef->shnum)
		return malformed(err, errlen, "'%s': symbol table '%s' links to section %u, which is not a string table",
			   name, sname, sh->sh_link);
	ret = elf__check_section(ef, sh->sh_link, &strsh, name, err, errlen);
	if (ret)
		return ret;
	if (strsh.sh_type != SHT_STRTAB)
		return malformed(err, errlen, "'%s': symbol table '%s' links to section %u, which is not a string table",
			   name, sname, sh->sh_link);
	t->data = elf_getdata(scn, NULL);
	if (!t->data || t->data->d_size != sh->sh_size)
		return malformed(err, errlen, "'%s': cannot read symbol table '%s': %s",
			   name, sname, elf_errmsg(-1));
	t->count = sh->sh_size / sizeof(Elf64_Sym);
	t->str = (const char *)ef->buf + strsh.sh_offset;
	t->strsz = strsh.sh_size;
	return 0;
}

/* Checks every section's extent, the name table first so that the other
 * messages can name their section, then picks up the symbol tables. */
static int elf__load_sections(struct elf_file *ef, const char *name, char *err, size_t errlen)
{
	GElf_Shdr sh;
	size_t n;
	int ret;

	if (elf_getshdrnum(ef->elf, &n) || n != ef->shnum)
		return malformed(err, errlen, "'%s' has an unreadable section header table", name);
	if (!ef->shnum)
		return 0;
	ret = elf__check_section(ef, ef->shstrndx, &sh, name, err, errlen);
	if (ret)
		return ret;
	if (sh.sh_type != SHT_STRTAB)
		return malformed(err, errlen, "'%s': section name table %zu is not a string table",
			   name, ef->shstrndx);
	for (size_t i = 1; i < ef->shnum; i++) {
		ret = elf__check_section(ef, i, &sh, name, err, errlen);
		if (ret)
			return ret;
		if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)
			continue;
		ret = elf__load_symtab(ef, elf_getscn(ef->elf, i), &sh, name, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

static void elf__free_buf(unsigned char *buf, size_t size, bool mapped)
{
	if (mapped)
		munmap(buf, size ? size : 1);   /* as elf__sparse_buf mapped it */
	else
		free(buf);
}

/* Takes buf (size bytes of the file, of which resident were read). */
static struct elf_file *elf__parse(unsigned char *buf, size_t size, bool mapped, size_t resident,
				   const char *name, char *err, size_t errlen)
{
	struct elf_file *ef;
	int ret;

	ef = calloc(1, sizeof(*ef));
	if (!ef) {
		elf__free_buf(buf, size, mapped);
		errno = ENOMEM;
		return NULL;
	}
	ef->buf = buf;
	ef->size = size;
	ef->buf_mapped = mapped;
	ef->resident = resident;
	elf_version(EV_CURRENT);
	ret = elf__check_ident(ef, name, err, errlen);
	if (!ret)
		ret = elf__check_tables(ef, name, err, errlen);
	if (!ret) {
		ef->elf = elf_memory((char *)ef->buf, ef->size);
		if (!ef->elf)
			ret = malformed(err, errlen, "'%s' is malformed: %s", name, elf_errmsg(-1));
	}
	if (!ret)
		ret = elf__load_segments(ef, name, err, errlen);
	if (!ret)
		ret = elf__load_sections(ef, name, err, errlen);
	if (ret) {
		if (ret == -ENOMEM)
			fmt_msg(err, errlen, "'%s': out of memory", name);
		elf_file__free(ef);
		errno = -ret;
		return NULL;
	}
	return ef;
}

/* Opens path for reading if it is a regular file within the size cap.
 * Returns the fd, or -errno with err filled. */
static int elf__open_regular(const char *path, struct stat *st, char *err, size_t errlen)
{
	int fd, ret;

	/* O_NONBLOCK: a FIFO put where a file was expected must not block us
	 * (it is then refused as not a regular file) */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		fmt_msg(err, errlen, "cannot open '%s': %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, st)) {
		ret = -errno;
		fmt_msg(err, errlen, "cannot stat '%s': %s", path, strerror(-ret));
	} else if (!S_ISREG(st->st_mode)) {
		ret = malformed(err, errlen, "'%s' is not a regular file", path);
	} else if ((uint64_t)st->st_size > ELF_MAX_FILE_SIZE) {
		ret = -EFBIG;
		fmt_msg(err, errlen, "'%s' is too large (%lld bytes, the limit is %llu)",
			path, (long long)st->st_size, ELF_MAX_FILE_SIZE);
	} else {
		return fd;
	}
	close(fd);
	return ret;
}

/* Where an image is read from: a file, or memory (elf_file__open_mem and
 * its sparse twin, which the fuzz harness drives). */
struct elf_src {
	int fd;
	const unsigned char *mem;	/* non-NULL: read from here, mem_len bytes */
	size_t mem_len;
};

/* Reads [off, off + len) of the source into the same place in buf (size
 * bytes), clipped to buf; adds the bytes read to *got.  A file that shrank
 * since its size was taken simply yields fewer bytes: validation then
 * judges what we got. */
static int elf__read_range(const struct elf_src *src, unsigned char *buf, size_t size,
			   uint64_t off, uint64_t len, size_t *got)
{
	if (off >= size)
		return 0;
	if (len > size - off)
		len = size - off;
	if (src->mem) {
		size_t n = off < src->mem_len ? src->mem_len - off : 0;

		n = n < len ? n : len;
		memcpy(buf + off, src->mem + off, n);
		*got += n;
		return 0;
	}
	while (len) {
		ssize_t r = pread(src->fd, buf + off, len, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		off += (uint64_t)r;
		len -= (uint64_t)r;
		*got += (size_t)r;
	}
	return 0;
}

/* A zeroed anonymous mapping of size bytes: pages never written take no
 * memory.  NULL on failure. */
static unsigned char *elf__sparse_buf(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The section header i of the (possibly sparse) image, if it lies inside. */
static bool elf__raw_shdr(const unsigned char *buf, size_t size, const Elf64_Ehdr *eh,
			  uint64_t i, Elf64_Shdr *out)
{
	uint64_t at = end_of(eh->e_shoff, i, sizeof(Elf64_Shdr));

	if (at == UINT64_MAX || end_of(at, 1, sizeof(Elf64_Shdr)) > size)
		return false;
	memcpy(out, buf + at, sizeof(*out));
	return true;
}

/* Reads what the symbolizer uses: the ELF header, the program and section
 * header tables, the section name table, the symbol tables and their string
 * tables.  Offsets come from the file and are only used to place reads
 * inside buf; elf__parse validates the result as it validates any image. */
static int elf__read_symbol_parts(const struct elf_src *src, unsigned char *buf, size_t size,
				  size_t *got)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, sh0 = { 0 }, link;
	uint64_t shnum, shstrndx;
	int ret;

	ret = elf__read_range(src, buf, size, 0, sizeof(eh), got);
	if (ret || size < sizeof(eh))
		return ret;     /* too short: elf__parse says so */
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return 0;       /* refused by elf__parse */
	ret = elf__read_range(src, buf, size, eh.e_phoff,
			      (uint64_t)eh.e_phnum * eh.e_phentsize, got);
	/* no section headers (or a size elf__parse refuses): no symbols */
	if (ret || !eh.e_shoff || eh.e_shentsize != sizeof(Elf64_Shdr))
		return ret;
	ret = elf__read_range(src, buf, size, eh.e_shoff, sizeof(Elf64_Shdr), got);
	if (ret || !elf__raw_shdr(buf, size, &eh, 0, &sh0))
		return ret;
	shnum = eh.e_shnum ? eh.e_shnum : sh0.sh_size;
	shstrndx = eh.e_shstrndx == SHN_XINDEX ? sh0.sh_link : eh.e_shstrndx;
	if (eh.e_phnum == PN_XNUM)
		ret = elf__read_range(src, buf, size, eh.e_phoff,
				      (uint64_t)sh0.sh_info * sizeof(Elf64_Phdr), got);
	if (!ret && shnum <= size / sizeof(Elf64_Shdr))
		ret = elf__read_range(src, buf, size, eh.e_shoff, shnum * sizeof(Elf64_Shdr), got);
	for (uint64_t i = 1; !ret && i < shnum && elf__raw_shdr(buf, size, &eh, i, &sh); i++) {
		if (sh.sh_type == SHT_NOBITS)
			continue;
		if (i == shstrndx || sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM)
			ret = elf__read_range(src, buf, size, sh.sh_offset, sh.sh_size, got);
		if (!ret && (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) &&
		    sh.sh_link < shnum && elf__raw_shdr(buf, size, &eh, sh.sh_link, &link) &&
		    link.sh_type != SHT_NOBITS)
			ret = elf__read_range(src, buf, size, link.sh_offset, link.sh_size, got);
	}
	return ret;
}

/* DWARF sections (.debug_*, and the compressed .zdebug_*), which nothing
 * here reads: in pyenv's libpython3.11 they are 16 of its 23 MB. */
static bool elf__is_dwarf(const unsigned char *buf, size_t size, const Elf64_Shdr *names,
			  const Elf64_Shdr *sh)
{
	static const char *const prefixes[] = { ".debug_", ".zdebug_" };
	uint64_t at = names->sh_offset + sh->sh_name;

	if (sh->sh_flags & SHF_ALLOC || sh->sh_type == SHT_NOBITS ||
	    at < names->sh_offset || sh->sh_name >= names->sh_size || at >= size)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);

		if (size - at >= n && names->sh_size - sh->sh_name >= n &&
		    !memcmp(buf + at, prefixes[i], n))
			return true;
	}
	return false;
}

/* Reads the whole file but its DWARF sections, whose bytes stay zero.
 * The section headers and names are read first (elf__read_symbol_parts,
 * into the same buffer) to find them; the offsets are the file's, used only
 * to skip reads, and elf__parse validates the image as any other.  Only
 * the first DWARF_SKIP_MAX such sections are skipped: the rest is read. */
#define DWARF_SKIP_MAX 64
static int elf__read_without_dwarf(const struct elf_src *src, unsigned char *buf, size_t size,
				   size_t *got)
{
	struct { uint64_t off, end; } skip[DWARF_SKIP_MAX];
	unsigned n = 0;
	size_t scratch = 0;
	uint64_t pos = 0, shnum, shstrndx;
	Elf64_Ehdr eh;
	Elf64_Shdr sh0, names, sh;
	int ret = elf__read_symbol_parts(src, buf, size, &scratch);

	if (ret)
		return ret;
	if (size >= sizeof(eh)) {
		memcpy(&eh, buf, sizeof(eh));
		if (eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_shoff &&
		    eh.e_shentsize == sizeof(Elf64_Shdr) && elf__raw_shdr(buf, size, &eh, 0, &sh0)) {
			shnum = eh.e_shnum ? eh.e_shnum : sh0.sh_size;
			shstrndx = eh.e_shstrndx == SHN_XINDEX ? sh0.sh_link : eh.e_shstrndx;
			if (shstrndx < shnum && elf__raw_shdr(buf, size, &eh, shstrndx, &names)) {
				for (uint64_t i = 1; i < shnum && n < DWARF_SKIP_MAX &&
				     elf__raw_shdr(buf, size, &eh, i, &sh); i++) {
					if (!elf__is_dwarf(buf, size, &names, &sh) ||
					    sh.sh_offset >= size)
						continue;
					skip[n].off = sh.sh_offset;
					skip[n].end = sh.sh_size > size - sh.sh_offset ?
						      size : sh.sh_offset + sh.sh_size;
					n++;
				}
			}
		}
	}
	/* in file order (the list is short), reading the gaps between them */
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && skip[j - 1].off > skip[j].off; j--) {
			typeof(skip[0]) t = skip[j];

			skip[j] = skip[j - 1];
			skip[j - 1] = t;
		}
	for (unsigned i = 0; !ret && i < n; i++) {
		if (skip[i].off > pos)
			ret = elf__read_range(src, buf, size, pos, skip[i].off - pos, got);
		if (skip[i].end > pos)
			pos = skip[i].end;
	}
	if (!ret && pos < size)
		ret = elf__read_range(src, buf, size, pos, size - pos, got);
	return ret;
}

/* Opens path and reads all of it, or (symbols_only, files of ELF_SPARSE_MIN
 * or more) only what elf__read_symbol_parts reads, then parses it.  A whole
 * read of a file that large leaves out its DWARF (elf__read_without_dwarf):
 * those pages are never touched, so they cost no memory. */
static struct elf_file *elf__open_file(const char *path, bool symbols_only, char *err,
				       size_t errlen)
{
	unsigned char *buf;
	struct stat st;
	size_t size, got = 0;
	bool sparse;
	int fd, ret;

	if (err && errlen)
		err[0] = '\0';
	fd = elf__open_regular(path, &st, err, errlen);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	size = (size_t)st.st_size;
	sparse = size >= ELF_SPARSE_MIN;
	buf = sparse ? elf__sparse_buf(size) : malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		fmt_msg(err, errlen, "'%s': out of memory", path);
		errno = ENOMEM;
		return NULL;
	}
	if (!sparse)
		ret = elf__read_range(&(struct elf_src){ .fd = fd }, buf, size, 0, size, &got);
	else if (symbols_only)
		ret = elf__read_symbol_parts(&(struct elf_src){ .fd = fd }, buf, size, &got);
	else
		ret = elf__read_without_dwarf(&(struct elf_src){ .fd = fd }, buf, size, &got);
	close(fd);
	if (ret) {
		elf__free_buf(buf, size, sparse);
		fmt_msg(err, errlen, "cannot read '%s': %s", path, strerror(-ret));
		errno = -ret;
		return NULL;
	}
	/* A whole read that came short (the file shrank) parses what it got;
	 * a sparse image keeps the file's size, its unread parts zero. */
	return elf__parse(buf, sparse ? size : got, sparse, got, path, err, errlen);
}

struct elf_file *elf_file__open(const char *path, char *err, size_t errlen)
{
	return elf__open_file(path, false, err, errlen);
}

struct elf_file *elf_file__open_symbols(const char *path, char *err, size_t errlen)
{
	return elf__open_file(path, true, err, errlen);
}

/* elf__open_file's twin for an image in memory (the fuzz harness's way
 * in): a sparse copy whatever its size, of all of it but its DWARF, or of
 * its symbols only. */
static struct elf_file *elf__open_memory(const void *mem, size_t len, bool symbols_only,
					 char *err, size_t errlen)
{
	struct elf_src src = { .fd = -1, .mem = mem, .mem_len = len };
	unsigned char *buf;
	size_t got = 0;

	if (err && errlen)
		err[0] = '\0';
	if (len > ELF_MAX_FILE_SIZE) {
		fmt_msg(err, errlen, "'<memory>' is too large (%zu bytes)", len);
		errno = EFBIG;
		return NULL;
	}
	buf = elf__sparse_buf(len);
	if (!buf) {
		errno = ENOMEM;
		return NULL;
	}
	if (symbols_only)
		elf__read_symbol_parts(&src, buf, len, &got);   /* memory reads cannot fail */
	else
		elf__read_without_dwarf(&src, buf, len, &got);
	return elf__parse(buf, len, true, got, "<memory>", err, errlen);
}

struct elf_file *elf_file__open_mem(const void *buf, size_t len, char *err, size_t errlen)
{
	return elf__open_memory(buf, len, false, err, errlen);
}

struct elf_file *elf_file__open_mem_symbols(const void *buf, size_t len, char *err, size_t errlen)
{
	return elf__open_memory(buf, len, true, err, errlen);
}

void elf_file__free(struct elf_file *ef)
{
	if (!ef)
		return;
	if (ef->elf)
		elf_end(ef->elf);
	free(ef->index);
	free(ef->aindex);
	free(ef->phdrs);
	elf__free_buf(ef->buf, ef->size, ef->buf_mapped);
	free(ef);
}

int elf_file__type(const struct elf_file *ef)
{
	return ef->ehdr.e_type;
}

uint64_t elf_file__entry(const struct elf_file *ef)
{
	return ef->ehdr.e_entry;
}

uint64_t elf_file__size(const struct elf_file *ef)
{
	return ef->size;
}

uint64_t elf_file__resident(const struct elf_file *ef)
{
	return ef->resident;
}

bool elf_file__has_symtab(const struct elf_file *ef)
{
	return ef->tabs[TAB_SYMTAB].count > 1;	/* entry 0 is always the null symbol */
}

bool elf_file__has_dynsym(const struct elf_file *ef)
{
	return ef->tabs[TAB_DYNSYM].count > 1;
}

uint64_t elf_file__base_vaddr(const struct elf_file *ef)
{
	return ef->base_vaddr;
}

/* ---- symbols ------------------------------------------------------------- */

/* A symbol's name, or NULL when st_name points outside its string table or
 * the string runs off its end. */
static const char *sym_name(const struct symtab *t, uint32_t st_name)
{
	if (st_name >= t->strsz || !memchr(t->str + st_name, '\0', t->strsz - st_name))
		return NULL;
	return t->str + st_name;
}

/* Reads symbol idx of table tab; false when it is undefined or unnamed.
 * Unnamed (section, malformed) symbols are of no use to a name lookup or a
 * symbolizer, so they count as absent. */
static bool sym_get(const struct elf_file *ef, int tab, size_t idx, struct elf_sym *out)
{
	const struct symtab *t = &ef->tabs[tab];
	GElf_Sym s;

	if (!t->data || !gelf_getsym(t->data, (int)idx, &s) || s.st_shndx == SHN_UNDEF)
		return false;
	out->name = sym_name(t, s.st_name);
	if (!out->name || !out->name[0])
		return false;
	out->vaddr = s.st_value;
	out->size = s.st_size;
	out->type = GELF_ST_TYPE(s.st_info);
	out->bind = GELF_ST_BIND(s.st_info);
	out->source = tab == TAB_DYNSYM ? ELF_SRC_DYNSYM : ELF_SRC_SYMTAB;
	return true;
}

int elf_file__foreach_symbol(struct elf_file *ef,
			     int (*cb)(const struct elf_sym *sym, void *ctx), void *ctx)
{
	struct elf_sym s;
	int ret;

	for (int tab = 0; tab < TAB_NR; tab++) {
		/* gelf_getsym takes an int index */
		for (size_t i = 1; i < ef->tabs[tab].count && i <= INT32_MAX; i++) {
			if (!sym_get(ef, tab, i, &s))
				continue;
			ret = cb(&s, ctx);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Dynsym before symtab, then table order: the first definition wins. */
static int sym_ref_cmp(const void *pa, const void *pb)
{
	const struct sym_ref *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	if (a->tab != b->tab)
		return a->tab < b->tab ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int index_add(const struct elf_sym *sym, void *ctx)
{
	(void)sym;
	(*(size_t *)ctx)++;
	return 0;
}

static int elf__build_index(struct elf_file *ef)
{
	struct elf_sym s;
	size_t n = 0;

	elf_file__foreach_symbol(ef, index_add, &n);
	ef->index = malloc((n ? n : 1) * sizeof(*ef->index));
	if (!ef->index)
		return -ENOMEM;
	for (int tab = 0; tab < TAB_NR; tab++)
		for (size_t i = 1; i < ef->tabs[tab].count && i <= INT32_MAX; i++)
			if (sym_get(ef, tab, i, &s) && ef->nindex < n)
				ef->index[ef->nindex++] = (struct sym_ref){ s.name, (uint32_t)i, (uint8_t)tab };
	qsort(ef->index, ef->nindex, sizeof(*ef->index), sym_ref_cmp);
	return 0;
}

int elf_file__find_symbol(struct elf_file *ef, const char *name, struct elf_sym *out)
{
	size_t lo = 0, hi;
	int ret;

	if (!ef->index) {
		ret = elf__build_index(ef);
		if (ret)
			return ret;
	}
	/* lower bound: the first entry whose name is >= name */
	hi = ef->nindex;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ef->index[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ef->nindex || strcmp(ef->index[lo].name, name))
		return -ENOENT;
	if (!sym_get(ef, ef->index[lo].tab, ef->index[lo].idx, out))
		return -ENOENT;
	return 0;
}

static int addr_ref_cmp(const void *pa, const void *pb)
{
	const struct addr_ref *a = pa, *b = pb;

	if (a->vaddr != b->vaddr)
		return a->vaddr < b->vaddr ? -1 : 1;
	/* sized before unsized, then symtab (local names) after dynsym */
	if ((a->size == 0) != (b->size == 0))
		return a->size ? -1 : 1;
	return a->tab < b->tab ? -1 : a->tab > b->tab;
}

static int elf__build_addr_index(struct elf_file *ef)
{
	struct elf_sym s;
	size_t n = 0, cap = 0;

	for (int tab = 0; tab < TAB_NR; tab++)
		cap += ef->tabs[tab].count;
	ef->aindex = malloc((cap ? cap : 1) * sizeof(*ef->aindex));
	if (!ef->aindex)
		return -ENOMEM;
	for (int tab = 0; tab < TAB_NR; tab++)
		for (size_t i = 1; i < ef->tabs[tab].count && i <= INT32_MAX && n < cap; i++)
			if (sym_get(ef, tab, i, &s) && s.type == STT_FUNC && s.vaddr)
				ef->aindex[n++] = (struct addr_ref){ s.vaddr, s.size, (uint32_t)i,
								     (uint8_t)tab };
	qsort(ef->aindex, n, sizeof(*ef->aindex), addr_ref_cmp);
	ef->naindex = n;
	return 0;
}

int elf_file__symbolize(struct elf_file *ef, uint64_t vaddr, struct elf_sym *out, uint64_t *off)
{
	size_t lo = 0, hi;
	const struct addr_ref *r;
	int ret;

	if (!ef->aindex) {
		ret = elf__build_addr_index(ef);
		if (ret)
			return ret;
	}
	/* the last function starting at or before vaddr */
	hi = ef->naindex;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ef->aindex[mid].vaddr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	r = &ef->aindex[lo - 1];
	/* go back to the first entry at that address: the sized one */
	while (r > ef->aindex && r[-1].vaddr == r->vaddr)
		r--;
	if (r->size && vaddr >= r->vaddr + r->size)
		return -ENOENT;
	/* An unsized symbol (_fini, hand-written asm) is trusted only nearby:
	 * past the last function it would swallow everything. */
	if (!r->size && vaddr - r->vaddr >= 4096)
		return -ENOENT;
	if (!sym_get(ef, r->tab, r->idx, out))
		return -ENOENT;
	*off = vaddr - r->vaddr;
	return 0;
}

/* ---- addresses ----------------------------------------------------------- */

static const GElf_Phdr *elf__load_seg(const struct elf_file *ef, uint64_t vaddr)
{
	for (size_t i = 0; i < ef->phnum; i++) {
		const GElf_Phdr *ph = &ef->phdrs[i];

		if (ph->p_type == PT_LOAD && vaddr >= ph->p_vaddr &&
		    vaddr - ph->p_vaddr < ph->p_memsz)
			return ph;
	}
	return NULL;
}

int elf_file__vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr, uint64_t *off)
{
	const GElf_Phdr *ph = elf__load_seg(ef, vaddr);

	if (!ph || vaddr - ph->p_vaddr >= ph->p_filesz)
		return -ENOENT;
	*off = ph->p_offset + (vaddr - ph->p_vaddr);
	return 0;
}

int elf_file__offset_to_vaddr(const struct elf_file *ef, uint64_t off, uint64_t *vaddr)
{
	for (size_t i = 0; i < ef->phnum; i++) {
		const GElf_Phdr *ph = &ef->phdrs[i];

		if (ph->p_type == PT_LOAD && off >= ph->p_offset && off - ph->p_offset < ph->p_filesz) {
			*vaddr = ph->p_vaddr + (off - ph->p_offset);
			return 0;
		}
	}
	return -ENOENT;
}

int elf_file__read_vaddr(const struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
	const GElf_Phdr *ph = elf__load_seg(ef, vaddr);
	uint64_t rel;

	if (!ph)
		return -ENOENT;
	rel = vaddr - ph->p_vaddr;
	if (rel >= ph->p_filesz)
		return -ENOENT;
	if (len > ph->p_filesz - rel)
		return -ERANGE;
	/* segments were checked to lie inside the buffer at open */
	memcpy(buf, ef->buf + ph->p_offset + rel, len);
	return 0;
}

/* ---- imports ------------------------------------------------------------- */

static bool is_import_reloc(const struct elf_file *ef, uint32_t type)
{
	if (ef->ehdr.e_machine == EM_AARCH64)
		return type == R_AARCH64_JUMP_SLOT || type == R_AARCH64_GLOB_DAT;
	return type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT;
}

int elf_file__import_slot(struct elf_file *ef, const char *name, uint64_t *slot)
{
	const struct symtab *dyn = &ef->tabs[TAB_DYNSYM];
	GElf_Shdr sh, link;

	if (!dyn->data)
		return -ENOENT;
	for (size_t i = 1; i < ef->shnum; i++) {
		Elf_Scn *scn = elf_getscn(ef->elf, i);
		Elf_Data *d;
		size_t n;

		/* section extents were checked at open (elf__load_sections) */
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA ||
		    sh.sh_entsize != sizeof(Elf64_Rela) || sh.sh_link >= ef->shnum ||
		    !gelf_getshdr(elf_getscn(ef->elf, sh.sh_link), &link) ||
		    link.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || d->d_size != sh.sh_size)
			continue;
		n = sh.sh_size / sizeof(Elf64_Rela);
		for (size_t j = 0; j < n && j <= INT_MAX; j++) {
			GElf_Rela r;
			GElf_Sym s;
			const char *sname;

			if (!gelf_getrela(d, (int)j, &r) ||
			    !is_import_reloc(ef, (uint32_t)GELF_R_TYPE(r.r_info)) ||
			    GELF_R_SYM(r.r_info) > INT_MAX ||
			    !gelf_getsym(dyn->data, (int)GELF_R_SYM(r.r_info), &s))
				continue;
			sname = sym_name(dyn, s.st_name);
			if (sname && !strcmp(sname, name)) {
				*slot = r.r_offset;
				return 0;
			}
		}
	}
	return -ENOENT;
}

/* ---- USDT notes ---------------------------------------------------------- */

static bool elf__find_section(const struct elf_file *ef, const char *name, GElf_Shdr *out)
{
	for (size_t i = 1; i < ef->shnum; i++) {
		if (!gelf_getshdr(elf_getscn(ef->elf, i), out))
			continue;
		if (!strcmp(elf__sec_name(ef, out), name))
			return true;
	}
	return false;
}

/* Copies the NUL-terminated string at *p (inside [*p, end)) into dst and
 * advances *p past it.  False if it is unterminated or does not fit. */
static bool take_str(const unsigned char **p, const unsigned char *end, char *dst, size_t cap)
{
	const unsigned char *nul = memchr(*p, '\0', (size_t)(end - *p));
	size_t n;

	if (!nul)
		return false;
	n = (size_t)(nul - *p);
	if (n >= cap)
		return false;
	memcpy(dst, *p, n + 1);
	*p = nul + 1;
	return true;
}

/* Decodes one stapsdt descriptor: pc, base, semaphore, then three strings. */
static bool usdt_decode(const unsigned char *desc, size_t len, uint64_t base_sec,
			bool has_base_sec, struct usdt_note *n)
{
	const unsigned char *p = desc + 3 * sizeof(uint64_t), *end = desc + len;

	if (len < 3 * sizeof(uint64_t))
		return false;
	memset(n, 0, sizeof(*n));
	memcpy(&n->pc, desc, 8);
	memcpy(&n->base, desc + 8, 8);
	memcpy(&n->semaphore, desc + 16, 8);
	if (!take_str(&p, end, n->provider, sizeof(n->provider)) ||
	    !take_str(&p, end, n->name, sizeof(n->name)) ||
	    !take_str(&p, end, n->args, sizeof(n->args)))
		return false;
	if (!n->provider[0] || !n->name[0])
		return false;
	/* Prelink moves the code but not the notes; .stapsdt.base moves with the
	 * code, so the difference is the displacement (as libbpf computes it). */
	if (has_base_sec && base_sec)
		n->pc += base_sec - n->base;
	return true;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static int usdt_push(struct usdt_note **v, size_t *n, size_t *cap, const struct usdt_note *note)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct usdt_note *nv = reallocarray(*v, ncap, sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = *note;
	return 0;
}

int elf_file__usdt_notes(const struct elf_file *ef, struct usdt_note **notes, size_t *n,
			 size_t *skipped)
{
	GElf_Shdr sec, base;
	const unsigned char *d;
	struct usdt_note note, *v = NULL;
	size_t cnt = 0, cap = 0, bad_notes = 0;
	uint64_t size, off = 0, align;
	bool has_base;

	*notes = NULL;
	*n = 0;
	if (skipped)
		*skipped = 0;
	if (!elf__find_section(ef, USDT_NOTE_SEC, &sec) || sec.sh_type != SHT_NOTE)
		return 0;
	has_base = elf__find_section(ef, USDT_BASE_SEC, &base);
	d = ef->buf + sec.sh_offset;	/* checked to lie inside the file at open */
	size = sec.sh_size;
	align = sec.sh_addralign == 8 ? 8 : 4;

	while (size - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, d + off, sizeof(nh));
		name_off = off + sizeof(nh);
		desc_off = name_off + align_up(nh.n_namesz, align);
		next = desc_off + align_up(nh.n_descsz, align);
		/* A header that lies about sizes leaves no way to find the next
		 * note: count it and stop. */
		if (desc_off > size || nh.n_descsz > size - desc_off) {
			bad_notes++;
			break;
		}
		off = next < size ? next : size;
		if (nh.n_type != USDT_NOTE_TYPE || nh.n_namesz != sizeof(USDT_NOTE_OWNER) ||
		    memcmp(d + name_off, USDT_NOTE_OWNER, sizeof(USDT_NOTE_OWNER)))
			continue;
		if (!usdt_decode(d + desc_off, nh.n_descsz, base.sh_addr, has_base, &note)) {
			bad_notes++;
			continue;
		}
		if (usdt_push(&v, &cnt, &cap, &note)) {
			free(v);
			return -ENOMEM;
		}
	}
	if (off < size && size - off < sizeof(Elf64_Nhdr) && size - off >= align)
		bad_notes++;	/* trailing bytes too short for a header */
	*notes = v;
	*n = cnt;
	if (skipped)
		*skipped = bad_notes;
	return 0;
}
