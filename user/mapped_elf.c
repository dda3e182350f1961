/* Opening the ELF file a process maps: see mapped_elf.h. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "log.h"
#include "mapped_elf.h"

/* Opens path if it is the regular file that mapping e maps.  The path is
 * first opened O_PATH (which opens nothing: no device driver runs) and
 * checked with fstat; only that very inode is then opened for reading,
 * through /proc/self/fd, so the target cannot swap a device node or a FIFO in
 * (a symlink anywhere in path) between the check and the open.  fd or
 * -errno; -ESTALE when path is not the mapped file. */
static int open_checked(const char *path, const struct procmap_entry *e)
{
	unsigned char magic[4];
	char fdpath[64];
	struct stat st;
	int pfd, fd;

	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) || !S_ISREG(st.st_mode) || !procmaps__same_file(&st, e)) {
		close(pfd);
		return -ESTALE;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", pfd);
	fd = open(fdpath, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	fd = fd < 0 ? -errno : fd;
	close(pfd);
	if (fd < 0)
		return fd;
	/* cheap rejection before elf_file__open reads the whole file */
	if (pread(fd, magic, sizeof(magic), 0) != sizeof(magic) || memcmp(magic, ELFMAG, SELFMAG)) {
		close(fd);
		return -ENOEXEC;
	}
	return fd;
}

static struct elf_file *open_mapped(pid_t pid, const struct procmap_entry *e, char *open_path,
				    size_t cap, bool *via_map_files, bool symbols_only,
				    char *err, size_t errlen)
{
	char fdpath[64];
	struct elf_file *ef;
	int fd = -ENOENT, n, saved;

	*via_map_files = false;
	if (!e->deleted) {
		n = snprintf(open_path, cap, "/proc/%d/root%s", (int)pid, e->path);
		if (n > 0 && (size_t)n < cap)
			fd = open_checked(open_path, e);
	}
	if (fd < 0 && fd != -ENOEXEC) {
		snprintf(open_path, cap, "/proc/%d/map_files/%llx-%llx", (int)pid,
			 (unsigned long long)e->start, (unsigned long long)e->end);
		fd = open_checked(open_path, e);
		*via_map_files = fd >= 0;
	}
	if (fd < 0) {
		fmt_msg(err, errlen, "cannot open '%s' as mapped by process %d: %s", e->path,
			(int)pid, strerror(-fd));
		errno = -fd;
		return NULL;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	ef = symbols_only ? elf_file__open_symbols(fdpath, err, errlen)
			  : elf_file__open(fdpath, err, errlen);
	saved = errno;
	close(fd);
	errno = saved;
	return ef;
}

struct elf_file *mapped_elf_open(pid_t pid, const struct procmap_entry *e, char *open_path,
				 size_t cap, bool *via_map_files, char *err, size_t errlen)
{
	return open_mapped(pid, e, open_path, cap, via_map_files, false, err, errlen);
}

struct elf_file *mapped_elf_open_symbols(pid_t pid, const struct procmap_entry *e,
					 char *open_path, size_t cap, bool *via_map_files,
					 char *err, size_t errlen)
{
	return open_mapped(pid, e, open_path, cap, via_map_files, true, err, errlen);
}

void mapped_elf_say_replaced(pid_t pid, const struct procmap_entry *e, const char *open_path)
{
	pr_warn("'%s' in process %d is deleted or is not the mapped file; using '%s'", e->path,
		(int)pid, open_path);
}
