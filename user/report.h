/* The report: everything pymemtrace knows about each traced process at one
 * moment.  Filled by the session (user/session.c) from the BPF maps and from
 * /proc; printed by the output modules (output_text.c, output_json.c), which
 * never look anything up themselves.
 */
#ifndef PMT_REPORT_H
#define PMT_REPORT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "pymemtrace.h"

#define PMT_MAX_PROBES 24

struct probe_status {
	char name[48];            /* "gc_start", "gc_done", "arena_alloc", "mmap", ... */
	bool attached;            /* false: "unavailable" in JSON */
	char how[192];            /* what was attached, e.g. "usdt python:gc__start @0x426fc1" */
	char reason[256];         /* why this way, or why unavailable */
};

enum proc_state {
	PROC_RUNNING = 0,
	PROC_EXITED,              /* exit_status holds the wait status if known */
	PROC_EXECED,              /* replaced itself by execve: tracing stopped then */
	PROC_DETACHED,            /* tracing stopped because pymemtrace stopped */
};

struct proc_report {
	pid_t pid;
	char comm[16];
	char interp_path[PATH_MAX];
	const char *interp_kind;  /* "libpython" or "static" */
	char version[32];         /* "3.11.2" */
	char version_source[160];

	struct probe_status probes[PMT_MAX_PROBES];
	unsigned n_probes;

	struct pmt_proc_stats stats; /* from the BPF map */

	struct {
		uint64_t start, end, peak;
		bool peak_exact;      /* true: from VmHWM growth; false: max of samples */
	} rss;
	struct {
		uint64_t minor, major;
		bool valid;
	} faults;
	struct {
		bool supported;
		uint64_t references, misses;
		char reason[192];     /* why unsupported */
	} cache;

	enum proc_state state;
	int exit_status;          /* wait status, -1 if unknown */
	char state_detail[192];   /* "exited with code 0", "exec'd 'ls'" ... */
	double traced_seconds;

	/* Lost data, always reported (the total is processes[].lost in JSON). */
	struct {
		uint64_t ringbuf_drops;
		uint64_t pending_full;    /* per-thread pending map full */
		uint64_t gc_unmatched;    /* a GC end without its start */
		uint64_t gc_bad_generation;
		unsigned probes_failed;   /* probes that should have attached but did not */
	} lost;
};

struct report {
	bool final;               /* false for an interval report */
	double elapsed_seconds;
	struct proc_report *procs;
	unsigned n_procs;
	uint64_t ringbuf_drops;   /* global, not attributable to a process */
};

/* Sum of a process's lost-data counters (what JSON prints as `lost`). */
uint64_t proc_report_lost_total(const struct proc_report *p);
/* "running", "exited", "exec", "detached" */
const char *proc_state_name(enum proc_state s);

#endif
