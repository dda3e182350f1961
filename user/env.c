/* Command-line parsing: see env.h. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env.h"
#include "log.h"
#include "numparse.h"
#include "prom_server.h"
#include "pymemtrace.h"

#include "version.h"

struct env env = {
	.max_procs = 1024,     /* --max-procs */
	.ringbuf_kb = 0,       /* --ringbuf-kb; 0: 256, or 1024 with --events (below) */
	.max_threads = 8192,   /* --max-threads */
	.sample_every = 1,     /* --sample */
	.native_depth = 1,     /* --native-depth: the caller only, no stack map walk */
	.max_live = 1 << 20,   /* --max-live: about 56 MiB of kernel memory */
	.max_stacks = 65536,   /* --max-stacks: ~55 MiB of kernel memory */
	.top = 10,             /* --top */
	.folded_weight = -1,   /* --folded-weight; -1: live, or alloc with --sampled (below) */
	.gc_budget_pct = 0.5,  /* --gc-budget: half of the default mode's 1% target */
};

enum {
	OPT_JSON = 1000,
	OPT_DRY_RUN,
	OPT_MAX_PROCS,
	OPT_RINGBUF_KB,
	OPT_MAX_THREADS,
	OPT_ALLOC,
	OPT_SAMPLE,
	OPT_SAMPLED,
	OPT_SAMPLE_WINDOW,
	OPT_SAMPLE_PERIOD,
	OPT_HEAP_GROWTH,
	OPT_NATIVE_DEPTH,
	OPT_MAX_LIVE,
	OPT_MAX_STACKS,
	OPT_TOP,
	OPT_FOLDED,
	OPT_FOLDED_WEIGHT,
	OPT_SPEEDSCOPE,
	OPT_EVENTS,
	OPT_LIVE,
	OPT_PROMETHEUS,
	OPT_TEXTFILE,
	OPT_GROUP,
	OPT_PROM_LABEL_PID,
	OPT_CENSUS,
	OPT_CENSUS_INTERVAL,
	OPT_CENSUS_TOP,
	OPT_CENSUS_MAX_OBJECTS,
	OPT_CENSUS_MAX_TIME,
	OPT_NO_FOLLOW,
	OPT_ALL,
	OPT_MAX_OVERHEAD,
	OPT_GC_BUDGET,
};

#define GROUP_MAX 128 /* --group: a label value, kept short */

const char *argp_program_version = "pymemtrace " PMT_VERSION;

static const char doc[] =
"Trace the memory of running CPython processes with eBPF.\n"
"\n"
"Attaches to running processes (-p) or starts one (-- CMD) and reports GC\n"
"pauses, pymalloc arenas, mmap/munmap/mremap/brk heap growth, page faults,\n"
"cache counters and RSS.  The report goes to stdout, progress to stderr.\n"
"\n"
"EXAMPLES:\n"
"  pymemtrace -p 1234                 trace until Ctrl-C\n"
"  pymemtrace -p 1234 -d 30 --json -  30 s, JSON on stdout\n"
"  pymemtrace -i 5 -- python3 app.py  start app.py, report every 5 s\n"
"  pymemtrace --dry-run -p 1234       show the probe plan, attach nothing\n"
"  pymemtrace -p 1234 --events ev.jsonl   also a timeline of heap events\n"
"  pymemtrace --live --alloc -p 1234  a top-like view; q quits\n"
"  pymemtrace --prometheus 9464 --group web -p 1234\n"
"                                     serve metrics on 127.0.0.1:9464\n"
"\n"
"EXIT CODES:\n"
"  0 traced and reported    1 runtime failure     2 bad command line\n"
"  3 no such process        4 not a CPython process\n"
"  5 unsupported CPython (< 3.8 or free-threaded)\n"
"  6 not enough privilege   7 kernel lacks BTF/BPF/uprobes\n"
"  8 the command after -- could not be started\n"
"  9 --max-overhead ended the trace early (reported as usual)";

static const char args_doc[] = "-p PID [-p PID...] | --all PATH | -- CMD [ARGS...]";

static const struct argp_option opts[] = {
	{ NULL, 0, NULL, 0, "Targets:", 1 },
	{ "pid", 'p', "PID", 0, "Trace this running process (repeatable)", 1 },
	{ "all", OPT_ALL, "PATH", 0, "Trace every process that runs this python binary or libpython .so, also those started later (seen at their first collection or arena); not with --alloc or --heap-growth", 1 },
	{ "no-follow", OPT_NO_FOLLOW, NULL, 0, "Do not trace the children that traced processes fork (followed by default)", 1 },
	{ NULL, 0, NULL, 0, "Duration and reports:", 2 },
	{ "duration", 'd', "SECONDS", 0, "Stop after this long (default: Ctrl-C, SIGTERM, or all targets exited)", 2 },
	{ "interval", 'i', "SECONDS", 0, "Print an interval report this often", 2 },
	{ "live", OPT_LIVE, NULL, 0, "Show a top-like view in the terminal, refreshed every second (-i sets the period); q quits, then the final report is printed", 2 },
	{ "json", OPT_JSON, "FILE", 0, "Write the final report as JSON to FILE ('-': stdout)", 2 },
	{ "events", OPT_EVENTS, "FILE", 0, "Write a timeline of GC, arena, mmap/munmap/mremap, brk, exit and exec events as JSON lines to FILE ('-': stdout; the text report then goes to stderr)", 2 },
	{ "dry-run", OPT_DRY_RUN, NULL, 0, "Resolve targets and probes, print the plan, attach nothing", 2 },
	{ "verbose", 'v', NULL, 0, "Say which interpreter, symbols and probes were chosen, and why (-vv: libbpf debug)", 2 },
	{ "quiet", 'q', NULL, 0, "No progress messages on stderr", 2 },
	{ "max-overhead", OPT_MAX_OVERHEAD, "PCT", 0, "End the trace (and report, exit code 9) once its probes cost the traced processes PCT% of their CPU over a second (1..100; the cost is a lower bound: README \"What a trace cost its target\")", 2 },
	{ "gc-budget", OPT_GC_BUDGET, "PCT", 0, "Time every collection while that costs the traced processes at most PCT% of their CPU (default 0.5); past it, time them in 200 ms windows kept under PCT% and count them all from the interpreter's own counters. 'off': time every collection whatever it costs", 2 },
	{ NULL, 0, NULL, 0, "Allocations:", 3 },
	{ "alloc", OPT_ALLOC, NULL, 0, "Trace allocations by Python and native stack, with live (leaked) bytes", 3 },
	{ "heap-growth", OPT_HEAP_GROWTH, "UNIT", OPTION_ARG_OPTIONAL, "Attribute heap growth to Python and native stacks: pymalloc arenas, anonymous mmap, mremap and brk growth (rare events: low overhead). UNIT 'pools' (--heap-growth=pools) charges pymalloc's growth by pool refill instead of by arena: finer, but a trap and a stack walk per refill, which costs code that churns pools several percent", 3 },
	{ "sample", OPT_SAMPLE, "N", 0, "With --alloc: record a random 1 in N allocations; counts and bytes become estimates (default 1: all)", 3 },
	{ "sampled", OPT_SAMPLED, NULL, 0, "With --alloc: arm the allocation probes only in short windows (default " PMT_STR(PMT_WINDOW_MS_DEFAULT) " ms every " PMT_STR(PMT_PERIOD_MS_DEFAULT) " ms, jittered), so the target runs at nearly full speed; bytes and counts become estimates, live and freed bytes are not known", 3 },
	{ "sample-window", OPT_SAMPLE_WINDOW, "MS", 0, "With --alloc: --sampled with windows of MS milliseconds (1..1000)", 3 },
	{ "sample-period", OPT_SAMPLE_PERIOD, "MS", 0, "With --alloc: --sampled with a window every MS milliseconds on average (10..60000; each gap drawn from 0.5 to 1.5 times it)", 3 },
	{ "native-depth", OPT_NATIVE_DEPTH, "N", 0, "With --alloc: native frames kept per stack (default 1: the allocator's caller; up to 32, needs frame pointers to be useful, costs about 0.7 us per allocation)", 3 },
	{ "top", OPT_TOP, "N", 0, "Stacks shown in the text report, by live and by allocated bytes (default 10)", 3 },
	{ "folded", OPT_FOLDED, "FILE", 0, "Write folded stacks (flamegraph.pl, inferno, speedscope) to FILE", 3 },
	{ "folded-weight", OPT_FOLDED_WEIGHT, "live|alloc", 0, "Weight of --folded stacks: live bytes (default) or allocated bytes (the default with --sampled)", 3 },
	{ "speedscope", OPT_SPEEDSCOPE, "FILE", 0, "Write a speedscope profile (bytes as the weight) to FILE", 3 },
	{ NULL, 0, NULL, 0, "Sizes:", 4 },
	{ "max-live", OPT_MAX_LIVE, "N", 0, "Live allocations tracked (default 1048576); more are counted as lost", 4 },
	{ "max-stacks", OPT_MAX_STACKS, "N", 0, "Distinct allocation stacks recorded (default 65536)", 4 },
	{ "max-procs", OPT_MAX_PROCS, "N", 0, "Processes the statistics map can hold (default 1024)", 4 },
	{ "max-threads", OPT_MAX_THREADS, "N", 0, "Threads with a probe in flight the per-thread maps can hold (default 8192)", 4 },
	{ "ringbuf-kb", OPT_RINGBUF_KB, "KB", 0, "Ring buffer for exit/exec and --events, power of 2 (default 256; 1024 with --events)", 4 },
	{ NULL, 0, NULL, 0, "Prometheus:", 5 },
	{ "prometheus", OPT_PROMETHEUS, "[ADDR:]PORT", 0, "Serve /metrics over HTTP (default address 127.0.0.1; PORT 0: any free port, printed on stderr)", 5 },
	{ "textfile", OPT_TEXTFILE, "DIR", 0, "Write DIR/pymemtrace.prom for node_exporter's textfile collector, at each -i and at the end", 5 },
	{ "group", OPT_GROUP, "NAME", 0, "Label the series group=NAME (default: interpreter=\"cpython-X.Y.Z\")", 5 },
	{ "prom-label-pid", OPT_PROM_LABEL_PID, NULL, 0, "Add a pid label: one series per process (more series)", 5 },
	{ "census", OPT_CENSUS, NULL, 0, "Also take a heap census of each process (objects by type, pymalloc) in a thread of its own, served with the report (README \"Heap census\")", 5 },
	{ "census-interval", OPT_CENSUS_INTERVAL, "SECONDS", 0, "At most one census per process this often (default 60, at least 2)", 5 },
	{ "census-top", OPT_CENSUS_TOP, "N", 0, "Types per process in the census gauges and JSON (default 20)", 5 },
	{ "census-max-objects", OPT_CENSUS_MAX_OBJECTS, "N", 0, "Stop each census after N objects (default 20000000)", 5 },
	{ "census-max-time", OPT_CENSUS_MAX_TIME, "SECONDS", 0, "Stop each census after this long (default 30)", 5 },
	{},
};

/* Durations (-d, -i, --census-interval): up to a year. */
#define MAX_SECONDS (365.0 * 24 * 3600)

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	uint64_t v;

	switch (key) {
	case 'p':
		if (!numparse_u64(arg, 1, INT_MAX, &v))
			argp_error(state, "invalid pid '%s'", arg);
		/* a pid named twice (pgrep lists joined) is one target */
		for (unsigned i = 0; i < env.n_pids; i++)
			if (env.pids[i] == (pid_t)v)
				return 0;
		if (env.n_pids >= PMT_MAX_PIDS)
			argp_error(state, "at most %d -p options", PMT_MAX_PIDS);
		env.pids[env.n_pids++] = (pid_t)v;
		break;
	case 'd':
		if (!numparse_seconds(arg, MAX_SECONDS, &env.duration))
			argp_error(state, "invalid duration '%s': want seconds > 0, at most a year", arg);
		break;
	case 'i':
		if (!numparse_seconds(arg, MAX_SECONDS, &env.interval))
			argp_error(state, "invalid interval '%s': want seconds > 0, at most a year", arg);
		break;
	case OPT_JSON:
		env.json_path = arg;
		break;
	case OPT_EVENTS:
		env.events_path = arg;
		break;
	case OPT_DRY_RUN:
		env.dry_run = true;
		break;
	case 'v':
		env.verbose++;
		break;
	case 'q':
		env.quiet = true;
		break;
	case OPT_MAX_PROCS:
		if (!numparse_u64(arg, 1, 1 << 20, &v))
			argp_error(state, "invalid --max-procs '%s'", arg);
		env.max_procs = v;
		break;
	case OPT_MAX_THREADS:
		if (!numparse_u64(arg, 16, 1 << 22, &v))
			argp_error(state, "invalid --max-threads '%s'", arg);
		env.max_threads = v;
		break;
	case OPT_RINGBUF_KB:
		if (!numparse_u64(arg, 4, 1 << 20, &v) || (v & (v - 1)))
			argp_error(state, "invalid --ringbuf-kb '%s': want a power of 2, 4..1048576", arg);
		env.ringbuf_kb = v;
		break;
	case OPT_ALLOC:
		env.alloc = true;
		break;
	case OPT_HEAP_GROWTH:
		env.heap_growth = true;
		/* arenas by default: a pool refill is a trap and a stack walk,
		 * and code that churns pools refills tens of thousands a second
		 * (README "Overhead": 5-9% against the 3% that arenas keep) */
		env.growth_arenas = true;
		if (arg && !strcmp(arg, "pools"))
			env.growth_arenas = false;
		else if (arg && strcmp(arg, "arenas"))
			argp_error(state, "invalid --heap-growth unit '%s': want arenas or pools", arg);
		break;
	case OPT_SAMPLE:
		if (!numparse_u64(arg, 1, 1 << 20, &v))
			argp_error(state, "invalid --sample '%s': want 1..1048576", arg);
		env.sample_every = v;
		break;
	case OPT_SAMPLED:
		if (!env.window_ms)
			env.window_ms = PMT_WINDOW_MS_DEFAULT;
		break;
	case OPT_SAMPLE_WINDOW:
		if (!numparse_u64(arg, 1, 1000, &v))
			argp_error(state, "invalid --sample-window '%s': want 1..1000 ms", arg);
		env.window_ms = v;
		break;
	case OPT_GC_BUDGET:
		if (!strcmp(arg, "off")) {
			env.gc_budget_pct = 0;
			break;
		}
		if (!numparse_seconds(arg, 100, &env.gc_budget_pct) || env.gc_budget_pct < 0.01)
			argp_error(state, "invalid --gc-budget '%s': want 0.01..100 (percent) or 'off'",
				   arg);
		break;
	case OPT_MAX_OVERHEAD:
		if (!numparse_u64(arg, 1, 100, &v))
			argp_error(state, "invalid --max-overhead '%s': want 1..100 (percent)", arg);
		env.max_overhead_pct = v;
		break;
	case OPT_SAMPLE_PERIOD:
		if (!numparse_u64(arg, 10, 60000, &v))
			argp_error(state, "invalid --sample-period '%s': want 10..60000 ms", arg);
		env.period_ms = v;
		break;
	case OPT_NATIVE_DEPTH:
		if (!numparse_u64(arg, 1, PMT_MAX_NATIVE_FRAMES, &v))
			argp_error(state, "invalid --native-depth '%s': want 1..%d", arg, PMT_MAX_NATIVE_FRAMES);
		env.native_depth = v;
		break;
	case OPT_MAX_LIVE:
		if (!numparse_u64(arg, 1024, 1 << 26, &v))
			argp_error(state, "invalid --max-live '%s': want 1024..67108864", arg);
		env.max_live = v;
		break;
	case OPT_MAX_STACKS:
		if (!numparse_u64(arg, 64, 1 << 22, &v))
			argp_error(state, "invalid --max-stacks '%s': want 64..4194304", arg);
		env.max_stacks = v;
		break;
	case OPT_TOP:
		if (!numparse_u64(arg, 1, 10000, &v))
			argp_error(state, "invalid --top '%s': want 1..10000", arg);
		env.top = v;
		break;
	case OPT_FOLDED:
		env.folded_path = arg;
		break;
	case OPT_FOLDED_WEIGHT:
		if (!strcmp(arg, "live"))
			env.folded_weight = 0;
		else if (!strcmp(arg, "alloc"))
			env.folded_weight = 1;
		else
			argp_error(state, "invalid --folded-weight '%s': want live or alloc", arg);
		break;
	case OPT_SPEEDSCOPE:
		env.speedscope_path = arg;
		break;
	case OPT_ALL:
		env.all_path = arg;
		break;
	case OPT_NO_FOLLOW:
		env.no_follow = true;
		break;
	case OPT_LIVE:
		env.live = true;
		break;
	case OPT_PROMETHEUS: {
		struct sockaddr_storage ss;
		socklen_t sl;
		char err[256];

		if (prom_parse_listen(arg, &ss, &sl, err, sizeof(err)))
			argp_error(state, "%s", err);
		env.prom_listen = arg;
		break;
	}
	case OPT_TEXTFILE:
		if (!*arg)
			argp_error(state, "invalid --textfile '': want a directory");
		env.textfile_dir = arg;
		break;
	case OPT_GROUP:
		if (!*arg || strlen(arg) > GROUP_MAX)
			argp_error(state, "invalid --group: want 1..%d bytes", GROUP_MAX);
		env.group = arg;
		break;
	case OPT_PROM_LABEL_PID:
		env.prom_label_pid = true;
		break;
	case OPT_CENSUS:
		env.census = true;
		break;
	case OPT_CENSUS_INTERVAL:
		/* A census of a million objects costs seconds of the tracer's
		 * time: a floor keeps it from running back to back. */
		if (!numparse_seconds(arg, MAX_SECONDS, &env.census_interval) || env.census_interval < 2.0)
			argp_error(state, "invalid --census-interval '%s': want seconds, at least 2", arg);
		break;
	case OPT_CENSUS_TOP:
		if (!numparse_u64(arg, 1, 100000, &v))
			argp_error(state, "invalid --census-top '%s': want 1..100000", arg);
		env.census_top = v;
		break;
	case OPT_CENSUS_MAX_OBJECTS:
		if (!numparse_u64(arg, 1, ULONG_MAX, &v))
			argp_error(state, "invalid --census-max-objects '%s'", arg);
		env.census_max_objects = v;
		break;
	case OPT_CENSUS_MAX_TIME: {
		double d;

		if (!numparse_seconds(arg, 3600, &d))
			argp_error(state, "invalid --census-max-time '%s': want seconds, at most 3600", arg);
		env.census_max_ms = (uint64_t)(d * 1000) ? (uint64_t)(d * 1000) : 1;
		break;
	}
	case ARGP_KEY_ARG:
		/* Everything from the first non-option on is the command. */
		env.cmd = &state->argv[state->next - 1];
		state->next = state->argc;
		break;
	case ARGP_KEY_END:
		if (!env.n_pids && !env.cmd && !env.all_path)
			argp_error(state, "nothing to trace: give -p PID, --all PATH or -- CMD");
		if ((env.n_pids != 0) + (env.cmd != NULL) + (env.all_path != NULL) > 1)
			argp_error(state, "give one of -p PID, --all PATH or -- CMD");
		if (env.all_path && (env.alloc || env.heap_growth || env.dry_run))
			argp_error(state, "--all does not go with --alloc, --heap-growth or --dry-run");
		/* Exit and exec need little room.  The stream needs slack for
		 * the moments the reader is not scheduled: with 2 busy CPUs,
		 * tools/ringbuf-bench saw 256 KiB drop at 100k events/s and
		 * 1 MiB never drop up to the producers' ~250k events/s. */
		if (!env.ringbuf_kb)
			env.ringbuf_kb = env.events_path ? 1024 : 256;
		if (env.events_path && env.json_path && !strcmp(env.events_path, "-") &&
		    !strcmp(env.json_path, "-"))
			argp_error(state, "--events - and --json - cannot share stdout");
		if ((env.sample_every > 1 || env.folded_path || env.speedscope_path) && !env.alloc)
			argp_error(state, "--sample, --folded and --speedscope need --alloc");
		if (env.period_ms && !env.window_ms)
			env.window_ms = PMT_WINDOW_MS_DEFAULT; /* a period asks for windows */
		if (env.window_ms && !env.period_ms)
			env.period_ms = PMT_PERIOD_MS_DEFAULT;
		if (env.window_ms && !env.alloc)
			argp_error(state, "--sampled, --sample-window and --sample-period need --alloc");
		if (env.folded_weight < 0)
			env.folded_weight = env.window_ms ? 1 : 0;
		else if (env.folded_weight == 0 && env.window_ms)
			argp_error(state, "--folded-weight live needs every free: not with --sampled");
		if (env.window_ms && env.sample_every > 1)
			argp_error(state, "--sample N and --sampled are two ways to sample: give one");
		if (env.window_ms >= env.period_ms / 2 && env.window_ms)
			argp_error(state, "--sample-window must be under half of --sample-period "
				   "(the shortest gap)");
		if ((env.group || env.prom_label_pid) && !env.prom_listen && !env.textfile_dir)
			argp_error(state, "--group and --prom-label-pid need --prometheus or --textfile");
		if ((env.census_interval > 0 || env.census_top || env.census_max_objects ||
		     env.census_max_ms) && !env.census)
			argp_error(state, "--census-interval, --census-top, --census-max-objects and "
				   "--census-max-time need --census");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int env_parse(int argc, char **argv)
{
	static const struct argp argp = { opts, parse_opt, args_doc, doc, NULL, NULL, NULL };
	int err;

	/* argp exits with argp_err_exit_status on usage errors, and 0 after
	 * --help/--version: both are the exit codes we document. */
	argp_err_exit_status = EXIT_USAGE;
	err = argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, NULL);
	if (err)
		return EXIT_USAGE;
	if (env.quiet)
		log_verbosity = 0;
	else
		log_verbosity = 1 + env.verbose;
	return 0;
}
