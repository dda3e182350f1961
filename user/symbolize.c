/* Native symbolization: see symbolize.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "elf.h"
#include "log.h"
#include "mapped_elf.h"
#include "procmaps.h"
#include "symbolize.h"

#define MAX_OBJECTS 512  /* distinct files opened per process */
/* What of each ELF file names frames is kept in memory (elf.h reads, never
 * maps, so that a file truncated under us cannot SIGBUS): its headers and
 * symbol tables, read alone from files of 1 MiB or more (a 1 GiB
 * libtorch_cpu.so costs its tables, not its code).  The target decides
 * how many and how big its mappings are, so the total is bounded.  Past
 * it, frames in the other objects are named by address, and a warning
 * says so. */
#define MAX_IMAGE_BYTES (512ULL << 20)

struct object {
	char path[PATH_MAX];
	struct elf_file *elf;     /* NULL when it could not be opened (cached too) */
};

struct symbolizer {
	pid_t pid;
	struct procmaps maps;
	struct object *objs;
	size_t nobjs;
	uint64_t image_bytes;     /* sum of what the open images read into memory */
	bool warned_full;         /* the "named by address" warning was given */
};

static struct elf_file *object_for(struct symbolizer *s, const struct procmap_entry *e);

/* Once per process: frames are never named by address unsaid. */
static void say_full(struct symbolizer *s, const char *path)
{
	if (s->warned_full)
		return;
	s->warned_full = true;
	pr_warn("pid %d: native frames in '%s' and in other objects not opened yet are named "
		"by address: symbols already fill %llu MiB of %llu in %zu objects (of %d)",
		(int)s->pid, path, (unsigned long long)(s->image_bytes >> 20),
		(unsigned long long)(MAX_IMAGE_BYTES >> 20), s->nobjs, MAX_OBJECTS);
}

struct symbolizer *symbolizer__new(pid_t pid)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pid = pid;
	symbolizer__refresh(s);
	return s;
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nobjs; i++)
		elf_file__free(s->objs[i].elf);
	free(s->objs);
	procmaps__release(&s->maps);
	free(s);
}

int symbolizer__refresh(struct symbolizer *s)
{
	struct procmaps m = {};
	int ret = procmaps__load(s->pid, &m, NULL);

	if (ret)
		return ret;
	/* An exiting process shows an empty map: keep what we had. */
	if (!m.n) {
		procmaps__release(&m);
		return -ESRCH;
	}
	procmaps__release(&s->maps);
	s->maps = m;
	/* Open every executable object now: once the process has exited,
	 * /proc/PID/root is gone and they could not be opened any more. */
	for (size_t i = 0; i < s->maps.n; i++)
		if ((s->maps.v[i].perms & PM_X) && s->maps.v[i].path[0] == '/')
			object_for(s, &s->maps.v[i]);
	return 0;
}

/* The ELF file behind mapping e, opened once per path.  Opened as mapped
 * (mapped_elf.h): after an upgrade the path names another file, whose
 * symbols would name our frames wrongly, and the target may have put a FIFO
 * there, whose open would block. */
static struct elf_file *object_for(struct symbolizer *s, const struct procmap_entry *e)
{
	char full[PATH_MAX + 64];
	const char *path = e->path;
	struct object *o;
	bool via_map_files;

	for (size_t i = 0; i < s->nobjs; i++)
		if (!strcmp(s->objs[i].path, path))
			return s->objs[i].elf;
	if (s->nobjs >= MAX_OBJECTS) {
		say_full(s, path);
		return NULL;
	}
	o = realloc(s->objs, (s->nobjs + 1) * sizeof(*o));
	if (!o)
		return NULL;
	s->objs = o;
	o = &s->objs[s->nobjs++];
	snprintf(o->path, sizeof(o->path), "%s", path);
	if (s->image_bytes >= MAX_IMAGE_BYTES) {
		say_full(s, path);
		o->elf = NULL;
		return NULL;
	}
	o->elf = mapped_elf_open_symbols(s->pid, e, full, sizeof(full), &via_map_files, NULL, 0);
	if (o->elf)
		s->image_bytes += elf_file__resident(o->elf);
	return o->elf;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

void symbolizer__name(struct symbolizer *s, uint64_t addr, char *buf, size_t len)
{
	const struct procmap_entry *e = NULL;
	struct elf_file *ef;
	struct elf_sym sym;
	uint64_t vaddr, off;

	for (size_t i = 0; i < s->maps.n; i++)
		if (addr >= s->maps.v[i].start && addr < s->maps.v[i].end) {
			e = &s->maps.v[i];
			break;
		}
	if (!e) {
		snprintf(buf, len, "0x%llx (?)", (unsigned long long)addr);
		return;
	}
	if (e->path[0] != '/') {
		snprintf(buf, len, "0x%llx (%s)", (unsigned long long)addr,
			 e->path[0] ? e->path : "[anon]");
		return;
	}
	ef = object_for(s, e);
	if (ef && !elf_file__offset_to_vaddr(ef, addr - e->start + e->offset, &vaddr) &&
	    !elf_file__symbolize(ef, vaddr, &sym, &off)) {
		snprintf(buf, len, "%s+0x%llx (%s)", sym.name, (unsigned long long)off,
			 base_name(e->path));
		return;
	}
	snprintf(buf, len, "0x%llx (%s)", (unsigned long long)addr, base_name(e->path));
}
