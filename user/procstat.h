/* Per-process numbers from /proc: RSS, its high-water mark, page faults.
 * Reading /proc costs the target nothing, so pymemtrace polls instead of
 * tracing RSS changes or faults. */
#ifndef PMT_PROCSTAT_H
#define PMT_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct procstat_sample {
	char state;               /* 'R', 'S', 'T' (stopped), 'Z' (zombie), ... */
	uint64_t min_flt;         /* whole thread group */
	uint64_t maj_flt;
	uint64_t cpu_ticks;       /* utime + stime of the thread group, clock ticks */
	bool cpu_valid;           /* cpu_ticks was read */
	uint64_t rss_bytes;       /* VmRSS */
	uint64_t hwm_bytes;       /* VmHWM: peak RSS over the process's life */
	char comm[16];
};

/* Reads /proc/PID/stat and /proc/PID/status.  0, -ESRCH, -EACCES, -EINVAL. */
int procstat__read(pid_t pid, struct procstat_sample *s);
/* Parses the text of /proc/PID/stat.  The comm field may hold spaces and ')',
 * so the parser splits at the last ')'.  0 or -EINVAL. */
int procstat__parse_stat(const char *buf, struct procstat_sample *s);
/* Parses VmRSS and VmHWM out of the text of /proc/PID/status.  0 or -EINVAL. */
int procstat__parse_status(const char *buf, struct procstat_sample *s);

#endif
