/* Capabilities: which ones pymemtrace holds, and giving up those it no
 * longer needs once its probes are attached.
 *
 * To start, pymemtrace needs CAP_BPF (load programs, create maps),
 * CAP_PERFMON (tracing programs, perf-event and uprobe_multi attachments) and
 * CAP_SYS_PTRACE (read other users' /proc/PID/maps, mem and root).  CAP_SYS_ADMIN
 * stands in for the first two, as the kernel allows (preflight.h checks).
 *
 * After the attach (privileges__drop) it keeps:
 *   CAP_SYS_PTRACE  always: interval and final reports read /proc/PID;
 *   CAP_DAC_READ_SEARCH  if held: the target's files (libraries loaded
 *                   later, exec'd images) in directories closed to uid 0;
 *   CAP_BPF, CAP_PERFMON  only while it may attach again (fork/exec
 *                   following, --all); with --no-follow they go too;
 *   CAP_DAC_OVERRIDE  only with --textfile, which creates a file in its
 *                   directory at every interval.
 * Everything else leaves the effective, permitted, inheritable, ambient
 * and bounding sets, so nothing can raise it back, not even an exec.
 */
#ifndef PMT_PRIVILEGES_H
#define PMT_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* The effective set, one bit per capability number: 0 or -errno. */
int privileges__effective(uint64_t *caps);

static inline bool privileges__has(uint64_t caps, int cap)
{
	return cap >= 0 && cap < 64 && (caps & (1ULL << cap));
}

/* What the rest of the run still needs (see above). */
struct privileges_keep {
	bool attach_later;   /* fork/exec following or --all */
	bool create_files;   /* --textfile */
};

/* Lowers every capability set to what keep needs.  0, or -errno with the
 * reason in err; on failure the sets may be partly lowered (never raised). */
int privileges__drop(const struct privileges_keep *keep, char *err, size_t errlen);

/* "CAP_BPF CAP_PERFMON ..." for caps, into buf (names of 0-40, else
 * "cap_N"): for messages. */
void privileges__names(uint64_t caps, char *buf, size_t len);

#endif
