/* Subcommands of pmt-test-tool for the report side (see tool.h): /proc
 * parsers, the JSON writer, the unit formatters, the report writers on a
 * synthetic report with known numbers, and the cache counters. */
#include <linux/types.h> /* report.h -> pymemtrace.h uses __u64 without including it */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "events_out.h"
#include "json_writer.h"
#include "live_view.h"
#include "lost.h"
#include "output.h"
#include "perfcount.h"
#include "procstat.h"
#include "tool.h"
#include "units.h"

#define FILE_MAX (64 * 1024)

/* Reads a test input file into a NUL-terminated buffer (caller frees). */
static char *slurp(const char *path)
{
	char *buf = malloc(FILE_MAX + 1);
	FILE *f = fopen(path, "re");
	size_t n;

	if (!buf || !f) {
		fprintf(stderr, "cannot open '%s': %s\n", path, strerror(errno));
		free(buf);
		if (f)
			fclose(f);
		return NULL;
	}
	n = fread(buf, 1, FILE_MAX, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void print_sample(const struct procstat_sample *s, bool stat, bool status)
{
	if (stat) {
		printf("comm %s\nstate %c\nmin_flt %" PRIu64 "\nmaj_flt %" PRIu64 "\n",
		       s->comm, s->state, s->min_flt, s->maj_flt);
		if (s->cpu_valid)
			printf("cpu_ticks %" PRIu64 "\n", s->cpu_ticks);
		else
			printf("cpu_ticks -\n");
	}
	if (status)
		printf("rss_bytes %" PRIu64 "\nhwm_bytes %" PRIu64 "\n", s->rss_bytes, s->hwm_bytes);
}

static int parse_file(int argc, char **argv, bool stat)
{
	struct procstat_sample s = { 0 };
	char *buf;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	buf = slurp(argv[1]);
	if (!buf)
		return 1;
	err = stat ? procstat__parse_stat(buf, &s) : procstat__parse_status(buf, &s);
	free(buf);
	if (err) {
		printf("error: %s\n", strerror(-err));
		return 1;
	}
	print_sample(&s, stat, !stat);
	return 0;
}

static int cmd_parse_stat(int argc, char **argv)
{
	return parse_file(argc, argv, true);
}

static int cmd_parse_status(int argc, char **argv)
{
	return parse_file(argc, argv, false);
}

static int cmd_procstat(int argc, char **argv)
{
	struct procstat_sample s;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PID\n", argv[0]);
		return 2;
	}
	err = procstat__read(atoi(argv[1]), &s);
	if (err) {
		printf("error: %s\n", strerror(-err));
		return 1;
	}
	print_sample(&s, true, true);
	return 0;
}

static int cmd_json_escape(int argc, char **argv)
{
	struct jw *w = jw_new(stdout);
	int err;

	if (argc != 2 || !w) {
		fprintf(stderr, "usage: %s STRING\n", argv[0]);
		jw_free(w);
		return 2;
	}
	jw_string(w, argv[1]);
	putchar('\n');
	err = jw_free(w);
	return err ? 1 : 0;
}

/* Each scenario misuses the writer; every one must end in -EINVAL, and the
 * writer must stop writing at the mistake.  Output goes to /dev/null. */
static int cmd_json_misuse(int argc, char **argv)
{
	static const char *const names[] = {
		"value-without-key", "key-in-array", "unclosed", "wrong-end", "two-top-level",
		"end-after-key", "too-deep", "empty",
	};
	FILE *null = fopen("/dev/null", "we");
	int failed = 0;

	if (!null)
		return 1;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct jw *w = jw_new(null);
		int err;

		switch (i) {
		case 0: jw_object_begin(w); jw_u64(w, 1); jw_object_end(w); break;
		case 1: jw_array_begin(w); jw_key(w, "k"); jw_array_end(w); break;
		case 2: jw_object_begin(w); jw_array_begin(w); break;
		case 3: jw_array_begin(w); jw_object_end(w); break;
		case 4: jw_u64(w, 1); jw_u64(w, 2); break;
		case 5: jw_object_begin(w); jw_key(w, "k"); jw_object_end(w); break;
		case 6:
			for (unsigned d = 0; d <= JW_MAX_DEPTH; d++)
				jw_array_begin(w);
			break;
		case 7: break;
		}
		err = jw_free(w);
		printf("%s %s\n", names[i], err == -EINVAL ? "ok" : "NOT DETECTED");
		failed |= err != -EINVAL;
	}
	fclose(null);
	return failed;
}

static int cmd_units(int argc, char **argv)
{
	char buf[UNITS_BUFSZ];
	const char *kind;

	if (argc != 3) {
		fprintf(stderr, "usage: %s bytes|sbytes|ns|seconds VALUE\n", argv[0]);
		return 2;
	}
	kind = argv[1];
	if (!strcmp(kind, "bytes"))
		puts(units_bytes(buf, sizeof(buf), strtoull(argv[2], NULL, 0)));
	else if (!strcmp(kind, "sbytes"))
		puts(units_sbytes(buf, sizeof(buf), strtoll(argv[2], NULL, 0)));
	else if (!strcmp(kind, "ns"))
		puts(units_ns(buf, sizeof(buf), strtoull(argv[2], NULL, 0)));
	else if (!strcmp(kind, "seconds"))
		puts(units_seconds(buf, sizeof(buf), strtod(argv[2], NULL)));
	else
		return 2;
	return 0;
}

static void add_probe(struct proc_report *p, const char *name, bool attached, const char *how,
		      const char *reason)
{
	struct probe_status *ps = &p->probes[p->n_probes++];

	snprintf(ps->name, sizeof(ps->name), "%s", name);
	ps->attached = attached;
	snprintf(ps->how, sizeof(ps->how), "%s", how);
	snprintf(ps->reason, sizeof(ps->reason), "%s", reason);
}

/* Process 1: every section filled with known numbers (tests/12-output.bats
 * asserts them), cache counters unsupported. */
static void sample_proc1(struct proc_report *p)
{
	struct pmt_proc_stats *st = &p->stats;

	p->pid = 4242;
	snprintf(p->comm, sizeof(p->comm), "python3.11");
	snprintf(p->interp_path, sizeof(p->interp_path), "/usr/bin/python3.11");
	p->interp_kind = "static";
	snprintf(p->version, sizeof(p->version), "3.11.2");
	snprintf(p->version_source, sizeof(p->version_source), "Py_Version in .dynsym");
	add_probe(p, "gc_start", true, "usdt python:gc__start @0x426fc1", "USDT note present");
	snprintf(p->probes[p->n_probes - 1].link, sizeof(p->probes[0].link), "uprobe_multi");
	add_probe(p, "gc_done", true, "usdt python:gc__done @0x4270aa", "USDT note present");
	snprintf(p->probes[p->n_probes - 1].link, sizeof(p->probes[0].link), "perf uprobe");
	add_probe(p, "arena_alloc", true, "uprobe _PyObject_ArenaMmap+4",
		  "found via the allocator table in _PyObject");
	add_probe(p, "pymalloc", false, "",
		  "'_PyObject_Malloc' is inlined at 190 sites in this LTO build, so a "
		  "probe on it would miss most allocations");
	add_probe(p, "mmap", true, "raw_tp sys_enter/sys_exit", "no tracefs needed");

	st->gc[0] = (struct pmt_gc_gen_stats){ .collections = 120, .collected = 1000,
		.pause_total_ns = 240000, .pause_max_ns = 8000 };
	st->gc[0].hist[10] = 100;
	st->gc[0].hist[12] = 20;
	st->gc[1] = (struct pmt_gc_gen_stats){ .collections = 10, .collected = 50,
		.pause_total_ns = 200000, .pause_max_ns = 30000 };
	st->gc[1].hist[14] = 10;
	/* One gen-2 collection was not timed (attached mid-collection). */
	st->gc[2] = (struct pmt_gc_gen_stats){ .collections = 5, .collected = 7,
		.pause_total_ns = 5000000, .pause_max_ns = 2000000 };
	st->gc[2].hist[20] = 4;

	st->arena_allocs = 12;
	st->arena_alloc_bytes = 12 << 20;
	st->arena_frees = 3;
	st->arena_free_bytes = 3 << 20;
	st->mmap_anon = (struct pmt_sys_stats){ 20, 80 << 20 };
	st->mmap_file = (struct pmt_sys_stats){ 3, 1258291 };
	st->munmap = (struct pmt_sys_stats){ 4, 10 << 20 };
	st->mremap = (struct pmt_sys_stats){ 2, 1 << 20 };
	st->brk = (struct pmt_sys_stats){ 5, -135168 };
	st->syscalls_failed = 1;

	p->faults.valid = true;
	p->faults.minor = 20480;
	p->faults.major = 3;
	snprintf(p->cache.reason, sizeof(p->cache.reason), "no hardware PMU: perf_event_open"
		 "(cache-references) failed: No such file or directory (typical in VMs)");
	p->rss.start = 10695475;
	p->rss.end = 94476697;
	p->rss.peak = 99614720;
	p->rss.peak_exact = true;
	p->state = PROC_RUNNING;
	p->exit_status = -1;
	p->traced_seconds = 3.0;
	p->lost.pending_full = 2;
	p->lost.gc_unmatched = 1;
	p->lost.probes_failed = 1;
	p->limits.max_threads = 8192;
}

/* Process 2: hostile strings from the target, an exit, no fault numbers,
 * working cache counters. */
static void sample_proc2(struct proc_report *p)
{
	/* 16 bytes, no terminator: the writers must stop at the array's end. */
	static const char comm[16] = "ev\"il\\\n\x1b[2J\xff)(x ";
	static const char path[] = "/tmp/dir with spaces/\xc3\x28python\x01";

	p->pid = 4243;
	add_probe(p, "gc_start", false, "", "no USDT notes and no symbol table");
	add_probe(p, "gc_done", false, "", "no USDT notes and no symbol table");
	memcpy(p->comm, comm, sizeof(p->comm));
	memcpy(p->interp_path, path, sizeof(path));
	p->interp_kind = "libpython";
	snprintf(p->version, sizeof(p->version), "3.12.1");
	p->cache.supported = true;
	p->cache.references = 1000;
	p->cache.misses = 250;
	p->state = PROC_EXITED;
	p->exit_status = 256;
	snprintf(p->state_detail, sizeof(p->state_detail), "exited with code 1");
	p->traced_seconds = 1.5;
}

static int cmd_report_sample(int argc, char **argv)
{
	static struct proc_report procs[2];   /* large: keep off the stack */
	struct report r = {
		.final = true, .elapsed_seconds = 3.01, .procs = procs, .n_procs = 2,
		.ringbuf_drops = 7,
	};

	int err = 0;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "interval"))) {
		fprintf(stderr, "usage: %s json|text|folded|speedscope [interval]\n", argv[0]);
		return 2;
	}
	memset(procs, 0, sizeof(procs));
	sample_proc1(&procs[0]);
	sample_proc2(&procs[1]);
	r.final = argc < 3;
	/* The flame-graph formats on a report without --alloc: nothing to show. */
	if (!strcmp(argv[1], "json"))
		output_json(stdout, &r);
	else if (!strcmp(argv[1], "text"))
		output_text(stdout, &r);
	else if (!strcmp(argv[1], "folded"))
		err = output_folded(stdout, &r, WEIGHT_LIVE);
	else if (!strcmp(argv[1], "speedscope"))
		err = output_speedscope(stdout, &r);
	else
		return 2;
	return err ? 1 : 0;
}

/* The overhead block alone, for given figures: an estimate of ESTIMATE
 * seconds over CPU seconds of the traced processes' CPU. */
static int cmd_overhead_text(int argc, char **argv)
{
	struct report r = { .final = true, .elapsed_seconds = 2 };
	struct overhead_report *o = &r.overhead;

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "interval"))) {
		fprintf(stderr, "usage: %s ESTIMATE_S CPU_S [interval]\n", argv[0]);
		return 2;
	}
	o->counted = o->cost.measured = o->target_cpu_valid = true;
	o->entry_hits = 1000000;
	o->cost.entry_ns = 850;
	o->cost.return_ns = 600;
	o->estimate_seconds = o->trap_seconds = strtod(argv[1], NULL);
	o->target_cpu_seconds = strtod(argv[2], NULL);
	snprintf(r.gc_budget.why, sizeof(r.gc_budget.why), "--gc-budget off");
	r.final = argc == 3;
	output_text(stdout, &r);
	return 0;
}

/* ---- --alloc: a synthetic report with known stacks ------------------------- */

/* Test-tool allocations: running out of memory here is not under test. */
static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		perror("pmt-test-tool");
		exit(1);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	return strcpy(xrealloc(NULL, strlen(s) + 1), s);
}

static struct alloc_stack *add_stack(struct alloc_report *a, uint64_t live_bytes,
				     uint64_t live_count, uint64_t bytes, uint64_t count)
{
	struct alloc_stack *s;

	a->stacks = xrealloc(a->stacks, (a->n_stacks + 1) * sizeof(*a->stacks));
	s = &a->stacks[a->n_stacks++];
	*s = (struct alloc_stack){ .live_bytes = live_bytes, .live_count = live_count,
		.bytes = bytes, .count = count };
	return s;
}

/* Frames are added innermost first, as the report holds them. */
static void add_py(struct alloc_stack *s, const char *file, const char *function, int line)
{
	s->python = xrealloc(s->python, (s->n_python + 1) * sizeof(*s->python));
	s->python[s->n_python++] = (struct py_frame_info){ xstrdup(file), xstrdup(function), line };
}

static void add_native(struct alloc_stack *s, const char *sym)
{
	s->native = xrealloc(s->native, (s->n_native + 1) * sizeof(*s->native));
	s->native[s->n_native++] = xstrdup(sym);
}

/* Process A (tests/13-alloc-output.bats asserts all of it): partial coverage,
 * sampled, 15 stacks so that both top-10 lists are cut and differ.  First a
 * hostile stack (20000 bytes, all live), then stack k = 0..11: live (12-k)
 * KB in 12-k blocks, allocated 5(k+1) KB in 5(k+1) blocks, frames
 * "/app/mod<k>.py:<10+k> f<k>" then "/app/main.py:100 main", then
 * PyObject_Malloc; then a deep truncated stack (100000 bytes, none live) and
 * one with no frames (300 bytes, none live). */
static void sample_alloc_a(struct proc_report *p)
{
	struct alloc_report *a = &p->alloc;
	struct alloc_stack *s;
	char file[64], fn[16];

	p->pid = 5151;
	snprintf(p->comm, sizeof(p->comm), "python3.11");
	p->interp_kind = "static";
	p->exit_status = -1;
	p->traced_seconds = 3.0;
	*a = (struct alloc_report){ .enabled = true, .count = 100000, .bytes = 6400000,
		.frees = 90000, .freed_bytes = 5000000, .live_bytes = 1400000, .live_count = 10000,
		.peak_live_bytes = 2000000, .rate_bytes_per_s = 6400000 / 3.0, .sampled = true,
		.sample_every = 64, .coverage_known = true, .coverage = 0.35, .retained_known = true,
		.retained_bytes = 3 << 20 };
	snprintf(a->coverage_reason, sizeof(a->coverage_reason),
		 "LTO build: about 190 call sites inline pymalloc and are not probed");
	a->lost.live_map_full = 5;
	a->lost.stack_map_full = 2;
	a->lost.truncated_stacks = 1;
	a->lost.stack_errors = 3;
	a->lost.unresolved_frames = 4;
	p->limits.max_live = 1048576;
	p->limits.max_stacks = 65536;
	/* Everything a target can put in a name, on the stack with most live
	 * bytes so that every format shows it. */
	s = add_stack(a, 20000, 1, 20000, 1);
	add_py(s, "/tmp/evil;dir\nname\"q\xff.py", "bad;fn\x1b[2J\"\xc3\x28\\", -1);
	add_py(s, "/app/main.py", "main", 100);
	add_native(s, "sym;x\n\xfe (lib\"so)");
	add_native(s, "");
	for (unsigned k = 0; k < 12; k++) {
		s = add_stack(a, (12 - k) * 1000, 12 - k, (k + 1) * 5000, (k + 1) * 5);
		snprintf(file, sizeof(file), "/app/mod%u.py", k);
		snprintf(fn, sizeof(fn), "f%u", k);
		add_py(s, file, fn, 10 + k);
		add_py(s, "/app/main.py", "main", 100);
		add_native(s, "PyObject_Malloc+0x12 (/usr/bin/python3.11)");
	}
	s = add_stack(a, 0, 0, 100000, 50);
	s->truncated = true;
	for (unsigned k = 0; k < 40; k++) {
		snprintf(fn, sizeof(fn), "rec%u", k);
		add_py(s, "/app/deep.py", fn, 7);
	}
	add_stack(a, 0, 0, 300, 3);
}

/* Process B: a hostile comm, coverage and retained memory unknown, a stack
 * with nothing live. */
static void sample_alloc_b(struct proc_report *p)
{
	static const char comm[16] = "ev;il\n\xff\"nam  x;y";
	struct alloc_report *a = &p->alloc;
	struct alloc_stack *s;

	p->pid = 5152;
	memcpy(p->comm, comm, sizeof(p->comm));
	p->interp_kind = "libpython";
	p->exit_status = -1;
	p->traced_seconds = 1.0;
	*a = (struct alloc_report){ .enabled = true, .count = 30, .bytes = 3000, .frees = 10,
		.freed_bytes = 1000, .live_bytes = 2000, .live_count = 20, .peak_live_bytes = 2500,
		.rate_bytes_per_s = 3000 };
	snprintf(a->coverage_reason, sizeof(a->coverage_reason),
		 "no allocator call count to compare with");
	snprintf(a->retained_reason, sizeof(a->retained_reason),
		 "pymalloc's arena list could not be read");
	s = add_stack(a, 2000, 20, 2000, 20);
	add_py(s, "/srv/app.py", "handler", 42);
	s = add_stack(a, 0, 0, 1000, 10);
	add_py(s, "/srv/app.py", "handler", 43);
}

/* Process D: good coverage, --top 1, a native-only stack, and a stack
 * identical to one of process A's (speedscope frames are shared across
 * processes). */
static void sample_alloc_d(struct proc_report *p)
{
	struct alloc_report *a = &p->alloc;
	struct alloc_stack *s;

	p->pid = 5154;
	snprintf(p->comm, sizeof(p->comm), "worker");
	p->interp_kind = "libpython";
	p->exit_status = -1;
	p->traced_seconds = 2.0;
	*a = (struct alloc_report){ .enabled = true, .count = 2, .bytes = 8192, .live_bytes = 8192,
		.live_count = 2, .peak_live_bytes = 8192, .rate_bytes_per_s = 4096,
		.coverage_known = true, .coverage = 0.97, .retained_known = true, .top_n = 1 };
	s = add_stack(a, 4096, 1, 4096, 1);
	add_native(s, "malloc+0x4 (/lib/x86_64-linux-gnu/libc.so.6)");
	add_native(s, "_PyBytes_FromSize+0x30 (/usr/lib/libpython3.12.so.1.0)");
	s = add_stack(a, 4096, 1, 4096, 1);
	add_py(s, "/app/mod0.py", "f0", 10);
	add_py(s, "/app/main.py", "main", 100);
	add_native(s, "PyObject_Malloc+0x12 (/usr/bin/python3.11)");
}

/* Draws r once in the --live view on this terminal, then reads keys until
 * q (or a 60 s bound, so that a lost test cannot leave it running). */
static int show_live(const struct report *r)
{
	struct live_view_opts o = { .refresh_s = 1.0, .alloc = true };
	struct live_view *v;
	char err[256];

	if (live_view__check(err, sizeof(err))) {
		fprintf(stderr, "error: %s\n", err);
		return -ENOTTY;
	}
	v = live_view__start(&o, err, sizeof(err));
	if (!v) {
		fprintf(stderr, "error: %s\n", err);
		return -ENOTTY;
	}
	live_view__update(v, r);
	for (int i = 0; i < 1200 && live_view__update(v, NULL) != LIVE_QUIT; i++)
		usleep(50 * 1000);
	live_view__stop(v);
	return 0;
}

/* A as a --sample-window trace leaves it (alloc_collect.c): windowed,
 * scaled, and nothing known live. */
static void make_windowed(struct alloc_report *a)
{
	a->windowed = true;
	a->window_ms = 1;
	a->period_ms = 1000;
	a->windows = 3;
	a->windows_s = 0.003;
	a->window_scale = 1000.0;
	a->frees = a->freed_bytes = a->live_bytes = a->live_count = a->peak_live_bytes = 0;
	for (unsigned k = 0; k < a->n_stacks; k++)
		a->stacks[k].live_bytes = a->stacks[k].live_count = 0;
}

/* Process C (pid 5153) has --alloc off.  "windowed-FORMAT": A (5151) as
 * a --sample-window trace. */
static int cmd_report_sample_alloc(int argc, char **argv)
{
	struct report r = { .final = true, .elapsed_seconds = 3.0, .n_procs = 4 };
	const char *what = argc == 2 ? argv[1] : "";
	bool windowed = !strncmp(what, "windowed-", 9);
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s [windowed-]json|text|folded-live|folded-alloc|"
			"speedscope|live\n", argv[0]);
		return 2;
	}
	if (windowed)
		what += 9;
	r.procs = calloc(r.n_procs, sizeof(*r.procs));
	if (!r.procs)
		return 1;
	sample_alloc_a(&r.procs[0]);
	if (windowed)
		make_windowed(&r.procs[0].alloc);
	sample_alloc_b(&r.procs[1]);
	r.procs[2].pid = 5153;
	snprintf(r.procs[2].comm, sizeof(r.procs[2].comm), "noalloc");
	r.procs[2].exit_status = -1;
	sample_alloc_d(&r.procs[3]);
	if (!strcmp(what, "json"))
		output_json(stdout, &r);
	else if (!strcmp(what, "text"))
		output_text(stdout, &r);
	else if (!strcmp(what, "folded-live"))
		err = output_folded(stdout, &r, WEIGHT_LIVE);
	else if (!strcmp(what, "folded-alloc"))
		err = output_folded(stdout, &r, WEIGHT_ALLOC);
	else if (!strcmp(what, "speedscope"))
		err = output_speedscope(stdout, &r);
	else if (!strcmp(what, "live"))
		err = show_live(&r);
	else
		err = -EINVAL;
	report_release(&r);
	/* Twice: the second call must find nothing to free. */
	report_release(&r);
	if (err)
		fprintf(stderr, "error: %s\n", strerror(-err));
	return err ? 1 : 0;
}

static int cmd_perfcount(int argc, char **argv)
{
	char reason[256];
	struct perfcount *pc;
	uint64_t refs, misses;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PID\n", argv[0]);
		return 2;
	}
	pc = perfcount__open(atoi(argv[1]), reason, sizeof(reason));
	if (!pc) {
		printf("unsupported: %s\n", reason);
		return 0;
	}
	err = perfcount__read(pc, &refs, &misses);
	perfcount__free(pc);
	if (err) {
		printf("error: %s\n", strerror(-err));
		return 1;
	}
	printf("references %" PRIu64 "\nmisses %" PRIu64 "\n", refs, misses);
	return 0;
}

/* ---- --events: the JSON-lines writer ---------------------------------------- */

#define EV_T0 1000000000ULL

static struct pmt_event ev_make(uint32_t type, uint64_t ts)
{
	struct pmt_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.pid = 4242;
	e.tid = 4243;
	e.ts_ns = ts;
	return e;
}

/* One line per type, with edge values: a failed mmap, a shrinking brk, a
 * hostile 16-byte comm without a NUL, a timestamp before t0. */
static int cmd_events_format(int argc, char **argv)
{
	struct pmt_event ev[12];
	char line[EVENTS_LINE_MAX];
	unsigned n = 0;

	ev[n] = ev_make(PMT_EV_GC, EV_T0 + 5);
	ev[n].gc.generation = 2;
	ev[n].gc.pause_ns = 1234567;
	ev[n++].gc.collected = 400;
	ev[n] = ev_make(PMT_EV_ARENA_ALLOC, EV_T0 + 6);
	ev[n].arena.addr = 0x7f0000100000ULL;
	ev[n++].arena.bytes = 1 << 20;
	ev[n] = ev_make(PMT_EV_ARENA_FREE, EV_T0 + 7);
	ev[n].arena.addr = 0x7f0000100000ULL;
	ev[n++].arena.bytes = 1 << 20;
	ev[n] = ev_make(PMT_EV_MMAP, EV_T0 + 8);
	ev[n].mem.addr = 0x7fffdead0000ULL;
	ev[n].mem.len = 12345;
	ev[n++].mem.anon = 1;
	ev[n] = ev_make(PMT_EV_MMAP, EV_T0 + 9);
	ev[n].mem.len = UINT64_MAX;
	ev[n++].mem.result = -12;
	ev[n] = ev_make(PMT_EV_MUNMAP, EV_T0 + 10);
	ev[n].mem.addr = 0x1000;
	ev[n++].mem.len = 4096;
	ev[n] = ev_make(PMT_EV_MREMAP, EV_T0 + 11);
	ev[n].mem.addr = 0x2000;
	ev[n].mem.len = 4096;
	ev[n].mem.new_addr = 0x10000;
	ev[n++].mem.new_len = 65536;
	ev[n] = ev_make(PMT_EV_BRK, EV_T0 + 12);
	ev[n].mem.addr = 0x5000000;
	ev[n++].mem.new_addr = 0x4fdf000;
	ev[n] = ev_make(PMT_EV_EXIT, EV_T0 + 13);
	ev[n++].exit.exit_code = 9; /* killed by SIGKILL */
	ev[n] = ev_make(PMT_EV_EXEC, EV_T0 + 14);
	memcpy(ev[n++].exec.comm, "a\"b\\\n\x1b[31m\xff\xc3\xa9xyzw", 16);
	ev[n++] = ev_make(PMT_EV_GC, EV_T0 - 1);
	ev[n++] = ev_make(PMT_EV_TYPES + 1, EV_T0);   /* unknown: no line */
	for (unsigned i = 0; i < n; i++) {
		size_t len = events_out__format(&ev[i], EV_T0, line, sizeof(line));

		printf("%s\n", len ? line : "(none)");
	}
	/* A buffer under EVENTS_LINE_MAX is refused, never overrun. */
	printf("%zu\n", events_out__format(&ev[0], EV_T0, line, 16));
	return 0;
}

/* The writer's ordering: records given as ts[,drain] pairs in argv: "d@T"
 * drains at T (kernel ns); "N" adds an mmap event at time N; "bad" adds a
 * short record.  Writes to FILE, then prints the stats. */
static int cmd_events_order(int argc, char **argv)
{
	struct events_out_stats st;
	struct events_out *eo;
	char err[256];
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [N|d@T|bad]...\n", argv[0]);
		return 2;
	}
	eo = events_out__open(argv[1], 0, err, sizeof(err));
	if (!eo) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (!strncmp(argv[i], "d@", 2)) {
			events_out__drain(eo, strtoull(argv[i] + 2, NULL, 10));
		} else if (!strcmp(argv[i], "bad")) {
			events_out__add(eo, "x", 1);
		} else {
			struct pmt_event e = ev_make(PMT_EV_MMAP, strtoull(argv[i], NULL, 10));

			events_out__add(eo, &e, sizeof(e));
		}
	}
	ret = events_out__close(eo);
	events_out__stats(eo, &st);
	printf("written %" PRIu64 " late %" PRIu64 " bad %" PRIu64 " mmap %" PRIu64 " error %d\n",
	       st.written, st.late, st.bad_records, st.by_type[PMT_EV_MMAP], ret);
	events_out__free(eo);
	return 0;
}

/* The loss table, one row a line: key, whether it is a counter, the flag's
 * setting (0: none), then the fields printed; NULL fields print as "(null)"
 * for the test to catch. */
static int cmd_lost_table(int argc, char **argv)
{
	for (unsigned r = 0; r < LOST_NR; r++) {
		const struct lost_reason_info *ri = &lost_reasons[r];

		printf("%s\t%d\t%d\t%s\t%s\t%s\n", ri->key ? ri->key : "(null)", ri->counter,
		       (int)ri->limit, ri->cause ? ri->cause : "(null)",
		       ri->what ? ri->what : "(null)", ri->fix ? ri->fix : "(null)");
	}
	return 0;
}

const struct tool_cmd output_cmds[] = {
	{ "procstat-parse-stat", "FILE: parse a /proc/PID/stat text", cmd_parse_stat },
	{ "procstat-parse-status", "FILE: parse VmRSS/VmHWM from a status text", cmd_parse_status },
	{ "procstat", "PID: sample /proc/PID/{stat,status}", cmd_procstat },
	{ "json-escape", "STRING: print STRING as a JSON string", cmd_json_escape },
	{ "json-misuse", "check that unbalanced JSON writer use is detected", cmd_json_misuse },
	{ "units", "bytes|sbytes|ns|seconds VALUE: format a number", cmd_units },
	{ "report-sample", "json|text|folded|speedscope [interval]: a synthetic report",
	  cmd_report_sample },
	{ "report-sample-alloc", "json|text|folded-live|folded-alloc|speedscope|live: --alloc report",
	  cmd_report_sample_alloc },
	{ "overhead-text", "ESTIMATE_S CPU_S [interval]: the overhead lines for these figures",
	  cmd_overhead_text },
	{ "perfcount", "PID: cache counters, or 'unsupported: <reason>'", cmd_perfcount },
	{ "events-format", "the --events line of each event type, with edge values", cmd_events_format },
	{ "events-order", "FILE [N|d@T|bad]...: the --events writer's ordering", cmd_events_order },
	{ "lost-table", "the loss reasons (user/lost.h), one a line", cmd_lost_table },
	{ NULL, NULL, NULL },
};
