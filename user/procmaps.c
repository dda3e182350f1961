/* /proc/PID/maps parsing: see procmaps.h.
 *
 * A line is "START-END PERMS OFFSET MAJ:MIN INODE[ PADDING PATH]".  The kernel
 * pads the path column with spaces and escapes newlines in names, so a path
 * is the rest of the line after the padding: it may contain spaces.  Every
 * numeric field is parsed by hand with overflow checks; sscanf would accept
 * signs, skip whitespace anywhere and overflow silently.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "numparse.h"
#include "procmaps.h"

#define DELETED_SUFFIX " (deleted)"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses a non-empty run of hex digits that fits in 64 bits. */
static bool parse_hex(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int d, n = 0;

	while ((d = hexval(*s)) >= 0) {
		if (v >> 60)
			return false;
		v = v << 4 | (uint64_t)d;
		s++;
		n++;
	}
	if (!n)
		return false;
	*p = s;
	*out = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static bool parse_perms(const char **p, unsigned *perms)
{
	const char *s = *p;

	*perms = 0;
	if (s[0] == 'r')
		*perms |= PM_R;
	else if (s[0] != '-')
		return false;
	if (s[1] == 'w')
		*perms |= PM_W;
	else if (s[1] != '-')
		return false;
	if (s[2] == 'x')
		*perms |= PM_X;
	else if (s[2] != '-')
		return false;
	if (s[3] == 'p')
		*perms |= PM_P;
	else if (s[3] != 's')
		return false;
	*p = s + 4;
	return true;
}

/* Copies the path column (rest of the line, newline excluded) and strips a
 * " (deleted)" suffix. */
static int parse_path(const char *s, struct procmap_entry *e)
{
	size_t n = strcspn(s, "\n");
	size_t sl = sizeof(DELETED_SUFFIX) - 1;

	if (s[n] == '\n' && s[n + 1] != '\0')
		return -EINVAL;	/* two lines in one */
	if (n >= sizeof(e->path))
		return -EINVAL;
	memcpy(e->path, s, n);
	e->path[n] = '\0';
	if (n > sl && !strcmp(e->path + n - sl, DELETED_SUFFIX)) {
		e->deleted = 1;
		e->path[n - sl] = '\0';
	}
	return 0;
}

int procmaps__parse_line(const char *line, struct procmap_entry *e)
{
	const char *p = line;
	uint64_t maj, min;
	size_t n = 0;

	memset(e, 0, offsetof(struct procmap_entry, path));
	e->path[0] = '\0';
	if (!parse_hex(&p, &e->start) || !expect(&p, '-') || !parse_hex(&p, &e->end) ||
	    !expect(&p, ' ') || !parse_perms(&p, &e->perms) || !expect(&p, ' ') ||
	    !parse_hex(&p, &e->offset) || !expect(&p, ' ') ||
	    !parse_hex(&p, &maj) || !expect(&p, ':') || !parse_hex(&p, &min) ||
	    !expect(&p, ' ') || !(n = numparse_dec(p, SIZE_MAX, UINT64_MAX, &e->inode)))
		return -EINVAL;
	p += n;
	if (e->start > e->end || maj > UINT32_MAX || min > UINT32_MAX)
		return -EINVAL;
	e->dev_major = (unsigned)maj;
	e->dev_minor = (unsigned)min;
	if (*p == '\0' || !strcmp(p, "\n"))
		return 0;
	if (*p != ' ')
		return -EINVAL;	/* e.g. "123abc": junk glued to the inode */
	while (*p == ' ')
		p++;
	return parse_path(p, e);
}

int procmaps__load_file(FILE *f, struct procmaps *out, size_t *bad)
{
	struct procmap_entry *v = NULL;
	size_t n = 0, cap = 0, nbad = 0, linecap = 0;
	char *line = NULL;
	int ret = 0;

	out->v = NULL;
	out->n = 0;
	while (getline(&line, &linecap, f) >= 0) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct procmap_entry *nv = reallocarray(v, ncap, sizeof(*v));

			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		/* getline stops at the first newline, but a NUL inside a line
		 * would hide the rest: parse_line sees a shorter line, which
		 * is still validated field by field. */
		if (procmaps__parse_line(line, &v[n]))
			nbad++;
		else
			n++;
	}
	if (!ret && ferror(f))
		ret = -EIO;
	free(line);
	if (ret) {
		free(v);
		return ret;
	}
	out->v = v;
	out->n = n;
	if (bad)
		*bad = nbad;
	return 0;
}

int procmaps__load(pid_t pid, struct procmaps *out, size_t *bad)
{
	char path[64];
	FILE *f;
	int ret;

	out->v = NULL;
	out->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	ret = procmaps__load_file(f, out, bad);
	fclose(f);
	return ret;
}

void procmaps__release(struct procmaps *m)
{
	if (!m)
		return;
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

bool procmaps__same_file(const struct stat *st, const struct procmap_entry *e)
{
	return major(st->st_dev) == e->dev_major && minor(st->st_dev) == e->dev_minor &&
	       (uint64_t)st->st_ino == e->inode;
}
