/* Command-line options (struct env) and their parser.
 *
 * Exit codes are part of the interface (README.md "Exit codes", --help):
 */
#ifndef PMT_ENV_H
#define PMT_ENV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum pmt_exit {
	EXIT_OK          = 0, /* traced and reported (also when targets exited) */
	EXIT_RUNTIME     = 1, /* BPF load/attach or another runtime failure */
	EXIT_USAGE       = 2, /* bad command line */
	EXIT_NO_PROCESS  = 3, /* a pid that does not exist */
	EXIT_NOT_PYTHON  = 4, /* a process that does not run CPython */
	EXIT_UNSUPPORTED = 5, /* CPython too old (< 3.8) or free-threaded */
	EXIT_PRIVILEGE   = 6, /* not root / missing capabilities, or target not readable */
	EXIT_KERNEL      = 7, /* the kernel lacks BTF, BPF or uprobes */
	EXIT_CMD_FAILED  = 8, /* the command after -- could not be started */
	EXIT_OVERHEAD    = 9, /* --max-overhead ended the trace (reported as usual) */
};

#define PMT_MAX_PIDS 64

/* --sampled: the windows that keep --alloc within 5% on tools/bench
 * (README "Overhead"). */
#define PMT_WINDOW_MS_DEFAULT 1
#define PMT_PERIOD_MS_DEFAULT 1000
#define PMT_STR_(x) #x
#define PMT_STR(x) PMT_STR_(x)

struct env {
	pid_t pids[PMT_MAX_PIDS];
	unsigned n_pids;
	char **cmd;               /* argv after "--", NULL-terminated, or NULL */
	const char *all_path;     /* --all PATH: every process of this interpreter file */
	bool no_follow;           /* --no-follow: forked children are not traced */
	double duration;          /* -d: seconds, 0 = until Ctrl-C/SIGTERM/all exited */
	double interval;          /* -i: seconds, 0 = no interval reports */
	const char *json_path;    /* --json FILE, "-" = stdout */
	const char *events_path;  /* --events FILE, "-" = stdout: JSON lines */
	bool dry_run;
	bool quiet;               /* -q: no progress on stderr */
	int verbose;              /* -v count */
	unsigned max_procs;       /* --max-procs: size of the per-process map */
	unsigned ringbuf_kb;      /* --ringbuf-kb */
	unsigned max_threads;     /* --max-threads: size of per-thread pending maps */

	bool alloc;               /* --alloc: allocations by stack, live bytes */
	bool heap_growth;         /* --heap-growth: pools, arenas, mmap, brk growth by stack */
	bool growth_arenas;       /* --heap-growth[=arenas] (not =pools): by arena, no pool probe */
	unsigned sample_every;    /* --sample N: 1 in N allocations (1: all) */
	unsigned window_ms;       /* --sample-window / --sampled: 0 = probes always armed */
	unsigned period_ms;       /* --sample-period: mean gap between windows */
	unsigned native_depth;    /* --native-depth: native frames per stack (1: the caller) */
	unsigned max_live;        /* --max-live: live allocations tracked */
	unsigned max_stacks;      /* --max-stacks: distinct stacks recorded */
	unsigned max_overhead_pct; /* --max-overhead: 1..100, 0 none */
	double gc_budget_pct;      /* --gc-budget: 0.01..100, 0 off */
	unsigned top;             /* --top N: stacks in the text report */
	const char *folded_path;  /* --folded FILE */
	int folded_weight;        /* --folded-weight: enum stack_weight */
	const char *speedscope_path; /* --speedscope FILE */
	bool live;                /* --live: a top-like view (live_view.h) */

	const char *prom_listen;  /* --prometheus [ADDR:]PORT, or NULL */
	const char *textfile_dir; /* --textfile DIR, or NULL */
	const char *group;        /* --group NAME: the series' label, or NULL */
	bool prom_label_pid;      /* --prom-label-pid */

	bool census;              /* --census: census_trace.h */
	double census_interval;   /* --census-interval, 0: the default */
	unsigned census_top;      /* --census-top, 0: the default */
	uint64_t census_max_objects, census_max_ms; /* the walk's limits, 0: defaults */
};

extern struct env env;

/* Parses argv into env.  Returns 0, or an exit code (EXIT_USAGE, or EXIT_OK
 * after --help/--version were printed) for main() to return. */
int env_parse(int argc, char **argv);

#endif
