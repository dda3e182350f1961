/* --textfile DIR: see prom_textfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "log.h"
#include "prom_textfile.h"

#define GROUP_NAME_MAX 64 /* of the group part of the file name */

void prom_textfile_name(char *buf, size_t len, const char *group)
{
	char g[GROUP_NAME_MAX + 1];
	size_t i;

	if (!group || !*group) {
		snprintf(buf, len, "pymemtrace.prom");
		return;
	}
	for (i = 0; group[i] && i < GROUP_NAME_MAX; i++) {
		char c = group[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '-' || (c == '.' && i > 0);

		g[i] = ok ? c : '_';
	}
	g[i] = '\0';
	snprintf(buf, len, "pymemtrace-%s.prom", g);
}

int prom_textfile_write(const char *dir, const struct report *r, const struct prom_opts *o,
			char *err, size_t errlen)
{
	struct prom_opts text = *o;
	char name[GROUP_NAME_MAX + 32], tmp[PATH_MAX], dst[PATH_MAX];
	FILE *f = NULL;
	int fd, ret;

	text.format = PROM_TEXT;
	prom_textfile_name(name, sizeof(name), o->group);
	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= sizeof(dst) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp)) {
		fmt_msg(err, errlen, "cannot write '%s/%s': path too long", dir, name);
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		fmt_msg(err, errlen, "cannot create a file in '%s': %s", dir, strerror(errno));
		return ret;
	}
	/* mkstemp makes it 0600; the collector must be able to read it. */
	if (fchmod(fd, 0644) || !(f = fdopen(fd, "w"))) {
		ret = -errno;
		close(fd);
		goto fail;
	}
	ret = output_prom(f, r, &text);
	if (fflush(f) && !ret)
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (ret)
		goto fail;
	if (rename(tmp, dst)) {
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	fmt_msg(err, errlen, "cannot write '%s': %s", dst, strerror(-ret));
	unlink(tmp);
	return ret;
}
