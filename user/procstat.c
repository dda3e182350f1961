/* /proc/PID/stat and /proc/PID/status sampling: see procstat.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "numparse.h"
#include "procstat.h"

/* /proc/PID/stat is a few hundred bytes.  status is 1-2 KiB and the Vm*
 * lines come early, so a cut-off tail (long Cpus_allowed lists) is harmless. */
#define STAT_BUFSZ   4096
#define STATUS_BUFSZ 8192

/* Reads up to len-1 bytes and NUL-terminates.  Returns 0 or -errno, with
 * -ESRCH when the process is gone (or going) and -EACCES when not ours. */
static int read_proc_file(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	size_t got = 0;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		err = -errno;
	while (!err && got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		else if (n == 0)
			break;
		else
			got += n;
	}
	if (fd >= 0)
		close(fd);
	buf[got] = '\0';
	if (err == -ENOENT)
		return -ESRCH;
	if (err == -EPERM)
		return -EACCES;
	return err;
}

/* Moves *p past blanks to the next field; stores its start and length. */
static bool next_field(const char **p, const char **start, size_t *len)
{
	const char *q = *p;

	while (*q == ' ')
		q++;
	if (!*q || *q == '\n')
		return false;
	*start = q;
	while (*q && *q != ' ' && *q != '\n')
		q++;
	*len = q - *start;
	*p = q;
	return true;
}

int procstat__parse_stat(const char *buf, struct procstat_sample *s)
{
	const char *open, *close, *p, *f;
	struct procstat_sample tmp;
	size_t len, n;

	if (!buf || !s)
		return -EINVAL;
	tmp = *s;
	/* comm is "(...)" and may itself hold ") (": only the last ')' ends it. */
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (!open || !close || close < open)
		return -EINVAL;
	n = close - open - 1;
	if (n > sizeof(tmp.comm) - 1)
		n = sizeof(tmp.comm) - 1;
	memcpy(tmp.comm, open + 1, n);
	tmp.comm[n] = '\0';

	p = close + 1;
	if (!next_field(&p, &f, &len) || len != 1)   /* field 3: state */
		return -EINVAL;
	tmp.state = f[0];
	/* Fields 4 (ppid) to 12 (majflt), counting pid as field 1. */
	for (unsigned field = 4; field <= 12; field++) {
		if (!next_field(&p, &f, &len))
			return -EINVAL;
		if (field == 10 && numparse_dec(f, len, UINT64_MAX, &tmp.min_flt) != len)
			return -EINVAL;
		if (field == 12 && numparse_dec(f, len, UINT64_MAX, &tmp.maj_flt) != len)
			return -EINVAL;
	}
	/* Fields 14 (utime) and 15 (stime), in clock ticks: optional, so that
	 * a short line still gives the faults. */
	tmp.cpu_valid = false;
	{
		uint64_t utime, stime;

		if (next_field(&p, &f, &len) &&                       /* 13: cmajflt */
		    next_field(&p, &f, &len) && numparse_dec(f, len, UINT64_MAX, &utime) == len &&
		    next_field(&p, &f, &len) && numparse_dec(f, len, UINT64_MAX, &stime) == len &&
		    utime <= UINT64_MAX - stime) {
			tmp.cpu_ticks = utime + stime;
			tmp.cpu_valid = true;
		}
	}
	*s = tmp;
	return 0;
}

/* "Key:\t   1234 kB" -> bytes.  false if the line is not of that form. */
static bool parse_kb_line(const char *p, uint64_t *bytes)
{
	uint64_t kb;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	n = numparse_dec(p, SIZE_MAX, UINT64_MAX / 1024, &kb);
	if (!n)
		return false;
	p += n;
	while (*p == ' ')
		p++;
	if (strncmp(p, "kB", 2) || (p[2] && p[2] != '\n'))
		return false;
	*bytes = kb * 1024;
	return true;
}

int procstat__parse_status(const char *buf, struct procstat_sample *s)
{
	bool have_rss = false, have_hwm = false;
	uint64_t rss = 0, hwm = 0;
	const char *line = buf, *nl;

	if (!buf || !s)
		return -EINVAL;
	for (; *line; line = nl + 1) {
		if (!have_rss && !strncmp(line, "VmRSS:", 6)) {
			if (!parse_kb_line(line + 6, &rss))
				return -EINVAL;
			have_rss = true;
		} else if (!have_hwm && !strncmp(line, "VmHWM:", 6)) {
			if (!parse_kb_line(line + 6, &hwm))
				return -EINVAL;
			have_hwm = true;
		}
		nl = strchr(line, '\n');
		if (!nl)
			break;
	}
	if (!have_rss || !have_hwm)
		return -EINVAL;
	s->rss_bytes = rss;
	s->hwm_bytes = hwm;
	return 0;
}

int procstat__read(pid_t pid, struct procstat_sample *s)
{
	char buf[STATUS_BUFSZ];
	int err;

	if (pid <= 0 || !s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	err = read_proc_file(pid, "stat", buf, STAT_BUFSZ);
	if (!err)
		err = procstat__parse_stat(buf, s);
	if (err)
		return err;
	err = read_proc_file(pid, "status", buf, sizeof(buf));
	if (err)
		return err;
	err = procstat__parse_status(buf, s);
	/* A zombie has no mm, hence no Vm* lines; its fault counts are still
	 * worth having, and its memory is gone: report 0 rather than fail. */
	if (err == -EINVAL && (s->state == 'Z' || s->state == 'X'))
		return 0;
	return err;
}
