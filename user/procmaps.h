/* /proc/PID/maps parsing.
 *
 * The path column is controlled by the target (it names its own files, which
 * may contain spaces or " (deleted)"), so the parser never trusts field widths
 * and rejects malformed lines instead of guessing.
 */
#ifndef PMT_PROCMAPS_H
#define PMT_PROCMAPS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define PM_R 1u
#define PM_W 2u
#define PM_X 4u
#define PM_P 8u  /* private (copy-on-write) */

struct procmap_entry {
	uint64_t start, end;      /* [start, end) */
	uint64_t offset;          /* file offset of start */
	unsigned perms;           /* PM_* bits */
	unsigned dev_major, dev_minor;
	uint64_t inode;
	int deleted;              /* path ended in " (deleted)" (stripped from path) */
	char path[PATH_MAX];      /* "" for anonymous mappings; "[heap]" etc. kept */
};

struct procmaps {
	struct procmap_entry *v;
	size_t n;
};

/* Parses one line (with or without the trailing newline).  0 or -EINVAL. */
int procmaps__parse_line(const char *line, struct procmap_entry *e);
/* Reads all lines from f; malformed lines are skipped and counted in *bad
 * (may be NULL).  0 or -errno (ENOMEM). */
int procmaps__load_file(FILE *f, struct procmaps *out, size_t *bad);
/* Reads /proc/PID/maps.  -ESRCH when the process does not exist, -EACCES, ... */
int procmaps__load(pid_t pid, struct procmaps *out, size_t *bad);
void procmaps__release(struct procmaps *m);

struct stat;
/* Whether mapping e maps the file st describes (device and inode). */
bool procmaps__same_file(const struct stat *st, const struct procmap_entry *e);

#endif
