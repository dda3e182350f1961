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
#include "trap_cost.h"

struct census_trace;

/* A process's probe list: every probe of its plan (PLAN_MAX_PROBES), the
 * Python stack walker's status and the hooks the report adds (mmap, brk,
 * process events, counters).  session.c asserts that they fit. */
#define PMT_MAX_PROBES 80

struct probe_status {
	char name[48];            /* "gc_start", "gc_done", "arena_alloc", "mmap", ... */
	bool attached;            /* false: "unavailable" in JSON */
	char link[16];            /* a uprobe's link: "uprobe_multi" or "perf uprobe";
	                           * "" for the other hooks */
	unsigned uncounted;       /* PMT_H_* of a probe libbpf attached to its handler,
	                           * past the dispatcher that counts hits (trap_cost.h);
	                           * PMT_H_NONE: counted, or not a uprobe */
	char how[192];            /* what was attached, e.g. "usdt python:gc__start @0x426fc1" */
	char reason[256];         /* why this way, or why unavailable */
};

enum proc_state {
	PROC_RUNNING = 0,
	PROC_EXITED,              /* exit_status holds the wait status if known */
	PROC_EXECED,              /* replaced itself by execve: tracing stopped then */
	PROC_DETACHED,            /* tracing stopped because pymemtrace stopped */
};

/* One Python frame, resolved from (code object, instruction offset). */
struct py_frame_info {
	char *file;               /* co_filename; "?" when unreadable */
	char *function;           /* co_qualname (3.11+) or co_name */
	int line;                 /* -1 when the line table gave none */
};

/* Allocations attributed to one stack (Python + native). */
struct alloc_stack {
	uint64_t bytes, count;            /* allocated during the trace */
	uint64_t live_bytes, live_count;  /* of those, still live at report time */
	struct py_frame_info *python;     /* innermost first */
	unsigned n_python;
	char **native;                    /* "symbol+0x12 (object)", innermost first */
	unsigned n_native;
	bool truncated;                   /* a stack was cut at the depth limit */
};

/* --alloc: allocation tracing for one process.  When sampled, counts and
 * bytes are estimates (raw values multiplied by sample_every). */
struct alloc_report {
	bool enabled;
	uint64_t count, bytes;            /* allocations seen */
	uint64_t frees, freed_bytes;      /* frees of allocations seen */
	uint64_t live_bytes, live_count;  /* still live at report time */
	uint64_t peak_live_bytes;         /* high-water mark of live_bytes during the trace */
	double rate_bytes_per_s;          /* bytes / traced seconds */
	bool sampled;
	unsigned sample_every;
	/* --sample-window: the allocation probes were armed only in windows.
	 * count, bytes and the stacks' bytes and counts are then what the
	 * windows saw times window_scale (the traced time over the armed
	 * time); frees and everything live are unavailable (frees unprobed). */
	bool windowed;
	unsigned window_ms, period_ms;    /* as asked (the period is jittered) */
	unsigned windows;                 /* windows this process was armed in */
	double windows_s;                 /* their armed time, summed */
	double window_scale;              /* 0: no window yet, nothing to scale */
	uint64_t window_failures;         /* window links that failed to attach */
	/* The session's, for every process: the tracer's time arming the
	 * probes (the target traps meanwhile) and disarming them (the wait
	 * for the kernel's grace period: the target runs on) - means per window. */
	unsigned session_windows;
	double arm_ms_mean, disarm_ms_mean;
	/* Coverage: the share of the interpreter's allocations pymemtrace sees.
	 * coverage_known false: JSON null, with the reason. */
	bool coverage_known;
	double coverage;                  /* 0..1 */
	char coverage_reason[320];
	/* Memory pymalloc keeps for reuse (in its arenas but not in live
	 * blocks): not held by Python code, not a leak. */
	bool retained_known;
	uint64_t retained_bytes;
	char retained_reason[192];
	struct alloc_stack *stacks;       /* sorted by live_bytes, then bytes, descending */
	unsigned n_stacks;
	/* --top: how many stacks the text report lists by live bytes and, again,
	 * by allocated bytes; 0 means the default, 10.  JSON and the flame-graph
	 * formats show every stack above. */
	unsigned top_n;
	struct {
		uint64_t live_map_full;       /* allocations not tracked as live: --max-live */
		uint64_t stack_map_full;      /* stacks not recorded: --max-stacks */
		uint64_t truncated_stacks;    /* Python or native stacks cut at the depth limit */
		uint64_t stack_errors;        /* stacks that could not be read at all */
		uint64_t unresolved_frames;   /* code objects whose name could not be read */
		uint64_t unreadable;          /* LTO sites: block size unreadable, not counted */
	} lost;
};

/* --heap-growth: the stacks that made the heap grow, by kind (enum
 * pmt_growth_kind: pools, arenas, mmap, brk).  Growth is what was added;
 * what was given back (munmap, brk down, arena frees) is in the process's
 * totals, not here. */
struct growth_stack {
	struct alloc_stack stack; /* bytes, count: all kinds; python, native: names */
	uint64_t bytes[PMT_GROWTH_KINDS], events[PMT_GROWTH_KINDS];
};

struct growth_report {
	bool enabled;
	uint64_t bytes[PMT_GROWTH_KINDS], events[PMT_GROWTH_KINDS];
	struct {
		uint64_t no_stack;        /* growth events whose stack was not taken */
		uint64_t stack_map_full;  /* stacks not recorded: --max-stacks */
		uint64_t truncated_stacks, stack_errors;
	} lost;                   /* the stack counters are --alloc's too: shown once */
	bool pools_probed;        /* allocate_from_new_pool attached */
	char pools_reason[256];   /* why not */
	struct growth_stack *stacks; /* by bytes, descending */
	unsigned n_stacks;
	unsigned top_n;           /* stacks the text report lists */
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
	/* CPU time (user + system) the process used while traced: from
	 * /proc/PID/stat at attach to its exit (the exit event) or its last
	 * 100 ms sample. */
	double cpu_seconds;
	bool cpu_valid;
	struct {
		bool supported;
		uint64_t references, misses;
		char reason[192];     /* why unsupported */
	} cache;

	enum proc_state state;
	int exit_status;          /* wait status, -1 if unknown */
	char state_detail[192];   /* "exited with code 0", "exec'd 'ls'" ... */
	double traced_seconds;
	/* Fork following: the traced parent (0: not a followed child) and how
	 * long after the fork its uprobes were attached (GC and arena events
	 * before then were not seen; syscalls were). */
	pid_t parent_pid;
	double attach_after_fork_s;

	struct alloc_report alloc; /* --alloc; alloc.enabled false otherwise */
	struct growth_report growth; /* --heap-growth */

	/* --gc-budget: how this process's collections were seen.  Once its GC
	 * probes were disarmed (sampled), stats.gc[].collections and .collected
	 * are the interpreter's own counts (gc_counters.h) if counted, and the
	 * pause figures are those of the timed collections only. */
	struct {
		bool sampled;         /* its GC probes were disarmed at times */
		bool kept;            /* never disarmed, though the others were: why in why */
		uint64_t timed;       /* collections timed: both ends seen in one window */
		uint64_t window_cuts; /* collections cut by a window's edge, not timed */
		bool counted;         /* the collections are the interpreter's counts */
		bool incomplete;      /* counted, but subinterpreters ran: why in why */
		bool counts_at_end;   /* an ended process: its counters were read at its exit
		                       * or exec */
		double counts_age_s;  /* an ended process, not read at its exit: its counters
		                       * were read this long before it ended (collections
		                       * after that are missed) */
		unsigned arm_failures;
		char kept_why[160];   /* kept: why */
		char why[200];        /* sampled but not counted, or incomplete: why */
	} gc_sampling;

	/* Lost data, always reported (the total is processes[].lost in JSON). */
	struct {
		uint64_t ringbuf_drops;
		uint64_t pending_full;    /* per-thread pending map full */
		uint64_t gc_unmatched;    /* a GC end without its start */
		uint64_t gc_bad_generation;
		unsigned probes_failed;   /* probes that should have attached but did not */
		uint64_t events_dropped;  /* --events: no room in the ring (all types) */
		uint64_t forks_untracked; /* children not followed: --max-procs reached */
	} lost;
	/* The settings in force, for the fix printed next to each loss
	 * (user/lost.h); zero in retired groups, whose fixes then show no
	 * current value. */
	struct {
		unsigned ringbuf_kb, max_threads, max_procs, max_live, max_stacks;
		bool events;              /* --events: events_dropped applies */
	} limits;
};

/* Processes removed from the session after a report showed their exit
 * (retirement keeps memory bounded): what the totals still owe them. */
#define RETIRED_GROUPS_MAX 16

struct retired_totals {
	unsigned processes;
	uint64_t gc_collections[PMT_GENERATIONS];
	uint64_t arenas_allocated;
	int64_t mmap_bytes;
	uint64_t lost;
	/* The retired processes summed by interpreter version, as a process
	 * report without stacks, state exited: counters exported to Prometheus
	 * must never go down when a worker is retired.  Versions past
	 * RETIRED_GROUPS_MAX go into the last group. */
	struct proc_report groups[RETIRED_GROUPS_MAX];
	unsigned group_procs[RETIRED_GROUPS_MAX]; /* processes in each group */
	unsigned n_groups;
};

struct report;

/* Every process of a report, the retired ones included, added up. */
struct report_totals {
	unsigned processes;
	uint64_t gc[PMT_GENERATIONS];
	uint64_t arenas;
	int64_t mmap_bytes;
	uint64_t lost;
};
void report_totals(const struct report *r, struct report_totals *t);

/* a += b for every counter of a process's BPF statistics (maxima: max). */
void proc_stats_add(struct pmt_proc_stats *a, const struct pmt_proc_stats *b);
/* Adds p's counters (stats, faults, allocation and growth totals; no
 * stacks) into the matching group of rt. */
void retired_totals_add(struct retired_totals *rt, const struct proc_report *p);

/* pymemtrace's own cost, measured on itself. */
struct tracer_stats {
	bool valid;
	double attach_seconds;    /* from start-up until every probe was attached */
	double cpu_seconds;       /* user + system CPU time of pymemtrace so far */
	uint64_t peak_rss_bytes;  /* pymemtrace's own peak resident memory */
};

/* What the probes cost the traced processes (trap_cost.h): hits counted
 * in the kernel, times each hit's cost measured at start-up. */
struct overhead_report {
	bool counted;             /* the hits were counted (uprobe_multi) */
	char why[160];            /* why not */
	uint64_t hits[PMT_H_NR];  /* by handler; the calibration's slots are its own */
	uint64_t entry_hits, return_hits; /* the traced processes': entry traps and returns
	                                   * (a return probe alone at its entry: both) */
	/* handlers (bit 1 << PMT_H_*) with a probe that libbpf attached past
	 * the dispatcher: those hits are in no count, so the estimate leaves
	 * them out (still a lower bound) */
	uint32_t uncounted;
	struct trap_cost cost;
	/* cost.measured: hits x cost, the traps with the dispatch and an empty
	 * handler; when bpf_timed, the traps alone plus what the programs took */
	double trap_seconds;
	bool bpf_timed;           /* kernel.bpf_stats_enabled: bpf_seconds is measured */
	double bpf_seconds;       /* the programs' time on the traced processes' hits */
	/* when not bpf_timed: the GC handlers' own time, timed in BPF */
	bool gc_handlers_timed;
	double gc_handlers_seconds;
	double estimate_seconds;  /* trap + bpf + gc_handlers seconds: a lower bound,
	                           * but for the start-up cost's error (near 100% it
	                           * can pass target_cpu_seconds; the text says so) */
	double target_cpu_seconds; /* the traced processes' CPU while traced */
	bool target_cpu_valid;
	/* --max-overhead: the budget in percent (0: none); once exceeded, the
	 * window's share (0..1) and its end, in seconds since the start */
	unsigned budget_pct;
	bool budget_exceeded;
	double budget_share, budget_window_s, budget_at_seconds;
};

/* What the probes cost, in percent of the traced processes' CPU while
 * traced; false when either figure is unknown (or no CPU was used). */
bool overhead_share_pct(const struct overhead_report *o, double *pct);

/* --events: the event stream, all processes together.  Every event the
 * BPF side made was either sent (and then written) or dropped:
 * written == sent once the writer is closed, unless bad_records. */
struct events_report {
	bool enabled;
	const char *path;         /* borrowed from the writer */
	uint64_t ring_bytes;
	uint64_t sent;            /* records submitted to the ring */
	uint64_t written;         /* lines written */
	uint64_t dropped;         /* records the ring had no room for */
	uint64_t written_by_type[PMT_EV_TYPES]; /* by enum pmt_event_type */
	uint64_t dropped_by_type[PMT_EV_TYPES];
	uint64_t late;            /* written out of timestamp order (events_out.h) */
	uint64_t bad_records;     /* malformed records skipped */
	int error;                /* the first write error, 0 or -errno */
};

/* --gc-budget (gc_budget.h), for the whole trace. */
struct gc_budget_report {
	bool on;                  /* the GC probes could be disarmed */
	char why[160];            /* if not */
	double pct;               /* the budget, percent */
	bool sampled_now;         /* collections are being timed in windows */
	double duty;              /* the armed fraction now (1 when timing all) */
	double charge;            /* the budget's own (gc_budget__init): the shares
	                           * below are this times the measured cost */
	double share_all;         /* what timing every collection costs (0..1), the last
	                           * estimate, charged; 0 before any */
	unsigned windows;         /* windows completed */
	double windows_s;         /* their armed time */
	unsigned to_sampled;      /* switches from timing all to windows */
	double trigger_share;     /* the share_all that decided the last one */
	double first_sampled_s;   /* seconds into the trace of the first; 0: never */
	double window_s;          /* a window's length */
};

struct report {
	bool final;               /* false for an interval report */
	struct tracer_stats tracer;
	struct overhead_report overhead;
	struct gc_budget_report gc_budget;
	double elapsed_seconds;
	struct proc_report *procs;
	unsigned n_procs;
	uint64_t ringbuf_drops;   /* global, not attributable to a process */
	struct retired_totals retired; /* not in procs[] any more */
	/* Fork following: children seen forking, and those that could not be
	 * traced (gone or unreadable before their probes were attached; lost). */
	unsigned forks_followed, forks_missed;
	/* Followed children (and --all processes) dropped because they exec'd
	 * (subprocess's fork-then-exec): not lost, not Python any more. */
	unsigned forks_execd;
	/* --all PATH (borrowed; NULL otherwise): processes of PATH that could
	 * not be traced (--max-procs, gone at once), plus its probes that
	 * failed to attach: lost. */
	const char *all_path;
	uint64_t all_untracked;
	struct events_report events; /* --events; events.enabled false otherwise */
	/* --census (census_trace.h; borrowed, NULL otherwise): the writers ask
	 * it for each process's last census. */
	struct census_trace *census;
};

/* Frees everything a report owns: each stack's strings and arrays, each
 * process's alloc.stacks, and r->procs itself (so call this instead of
 * free(r->procs)).  Leaves r with procs NULL and n_procs 0; safe on a report
 * without --alloc, on one already released, and on NULL. */
void report_release(struct report *r);

/* Sum of a process's lost-data counters (what JSON prints as `lost`): the
 * rows of user/lost.h's table added up. */
uint64_t proc_report_lost_total(const struct proc_report *p);
/* Whether a group of probes (names starting with `prefix`, as plan.c names
 * them: "gc_start", "gc_collect", "arena_alloc"...) exists and none of them
 * attached: then its numbers are not zeros but unknown. */
bool proc_report_group_unavailable(const struct proc_report *p, const char *prefix);
/* "running", "exited", "exec", "detached" */
const char *proc_state_name(enum proc_state s);

#endif
