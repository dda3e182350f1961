// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The census command: options, one or two snapshots, output.  See census_cli.h. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "census_cli.h"
#include "census_gc.h"
#include "census_out.h"
#include "census_pymalloc.h"
#include "env.h"
#include "interp.h"
#include "json_writer.h"
#include "log.h"
#include "numparse.h"

#define DEFAULT_TOP      20
#define MAX_GROWTH_S     86400.0

enum census_fmt { FMT_TEXT, FMT_JSON, FMT_PROM };

#define HELP_SHOWN (-1)

struct census_args {
	pid_t pid;
	enum census_fmt fmt;
	const char *json_path;        /* --json FILE ("-": stdout) */
	const char *prom_path;        /* --prometheus FILE ("-": stdout) */
	unsigned top;
	double growth_s;              /* 0: one snapshot */
	struct census_gc_opts walk;
};

enum { OPT_JSON = 1000, OPT_TOP, OPT_GROWTH, OPT_PROM, OPT_MAX_OBJECTS, OPT_MAX_TIME };

static const char usage[] =
"usage: pymemtrace census -p PID [--json FILE|-] [--top N] [--growth SECONDS]\n"
"                         [-o text|json|prom] [--prometheus FILE|-]\n"
"                         [--max-objects N] [--max-time SECONDS]\n"
"\n"
"Counts the GC-tracked objects of a running CPython process by type, reading\n"
"its memory only (README.md \"Heap census\").\n"
"  -p PID             the process\n"
"  -o FMT             text (default), json or prom (Prometheus gauges) on stdout\n"
"  --json FILE|-      also write JSON to FILE (\"-\": stdout, instead of text)\n"
"  --prometheus FILE|-  also write Prometheus gauges to FILE\n"
"  --top N            rows in text and Prometheus output (default 20)\n"
"  --growth SECONDS   take two snapshots SECONDS apart and show the types whose\n"
"                     counts grew most (objgraph's show_growth, from outside)\n"
"  --max-objects N    stop each snapshot after N objects (default 20000000)\n"
"  --max-time SECONDS stop each snapshot after this long (default 30)\n";

static int bad_usage(const char *fmt, const char *arg)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, arg);
	pr_err("census: %s", msg);
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/* 0, HELP_SHOWN after --help, or EXIT_USAGE. */
static int parse_args(int argc, char **argv, struct census_args *a)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "prometheus", required_argument, NULL, OPT_PROM },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "growth", required_argument, NULL, OPT_GROWTH },
		{ "max-objects", required_argument, NULL, OPT_MAX_OBJECTS },
		{ "max-time", required_argument, NULL, OPT_MAX_TIME },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	uint64_t v;
	double d;
	int c;

	memset(a, 0, sizeof(*a));
	a->top = DEFAULT_TOP;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (a->pid || !numparse_u64(optarg, 1, INT32_MAX, &v))
				return bad_usage("-p takes one process id, not '%s'", optarg);
			a->pid = (pid_t)v;
			break;
		case 'o':
			if (!strcmp(optarg, "text"))
				a->fmt = FMT_TEXT;
			else if (!strcmp(optarg, "json"))
				a->fmt = FMT_JSON;
			else if (!strcmp(optarg, "prom"))
				a->fmt = FMT_PROM;
			else
				return bad_usage("-o takes text, json or prom, not '%s'", optarg);
			break;
		case OPT_JSON:
			a->json_path = optarg;
			break;
		case OPT_PROM:
			a->prom_path = optarg;
			break;
		case OPT_TOP:
			if (!numparse_u64(optarg, 1, 100000, &v))
				return bad_usage("--top takes 1 to 100000, not '%s'", optarg);
			a->top = (unsigned)v;
			break;
		case OPT_GROWTH:
			if (!numparse_seconds(optarg, MAX_GROWTH_S, &a->growth_s))
				return bad_usage("--growth takes seconds (> 0, at most a day), not '%s'",
						 optarg);
			break;
		case OPT_MAX_OBJECTS:
			if (!numparse_u64(optarg, 1, UINT32_MAX * 16ull, &a->walk.max_objects))
				return bad_usage("--max-objects takes a positive count, not '%s'", optarg);
			break;
		case OPT_MAX_TIME:
			if (!numparse_seconds(optarg, 3600, &d))
				return bad_usage("--max-time takes seconds (> 0, at most 3600), not '%s'",
						 optarg);
			a->walk.max_ms = (uint64_t)(d * 1000) ? (uint64_t)(d * 1000) : 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return HELP_SHOWN;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (!a->pid)
		return bad_usage("%s", "-p PID is required");
	return 0;
}

static int exit_code_for(int err)
{
	switch (err) {
	case -ESRCH:           return EXIT_NO_PROCESS;
	case -ENOEXEC:         return EXIT_NOT_PYTHON;
	case -EPROTONOSUPPORT:
	case -ENOTSUP:         return EXIT_UNSUPPORTED;
	case -EACCES:
	case -EPERM:           return EXIT_PRIVILEGE;
	default:               return EXIT_RUNTIME;
	}
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- the pymalloc census (user/census_pymalloc.c) ---------------------------
 * Taken right after the type census, so both describe nearly the same moment.
 * When it cannot be taken the reason is printed in its place and the
 * untracked estimate is null: nothing is made up. */
static void write_pymalloc_text(FILE *f, const struct census_view *v)
{
	if (v->pymalloc)
		pymalloc_census__write_text(f, v->pymalloc);
	else
		fprintf(f, "\npymalloc census: unavailable: %s\n", v->pymalloc_why);
}

static void write_pymalloc_json(struct jw *w, const struct census_view *v)
{
	if (v->pymalloc) {
		jw_key(w, "pymalloc");
		pymalloc_census__write_json(w, v->pymalloc);
	} else {
		jw_kv_null(w, "pymalloc");
		jw_kv_string(w, "pymalloc_reason", v->pymalloc_why);
	}
}

/* Untracked objects live in pymalloc blocks the GC lists do not reach: the
 * bytes in live blocks minus the GC-tracked objects small enough to be
 * there.  false: no estimate (no pymalloc census, or GC bytes above the
 * pymalloc total, which a walk racing the target can produce). */
static bool untracked_estimate(const struct census_view *v, uint64_t *bytes)
{
	uint64_t used;

	*bytes = 0;
	if (!v->pymalloc)
		return false;
	used = pymalloc_census__used_bytes(v->pymalloc);
	if (used < v->gc->pymalloc_bytes)
		return false;
	*bytes = used - v->gc->pymalloc_bytes;
	return true;
}
/* ---- end of the pymalloc part ---------------------------------------------- */

#define UNTRACKED_NOTE \
	"objects the GC does not track (ints, floats, strs, bytes, tuples of atoms, ...) " \
	"are not on the GC lists and not counted by type"

static void write_text(FILE *f, const struct census_view *v)
{
	uint64_t est;

	census_out__text(f, v);
	fprintf(f, "\nUntracked: %s.\n", UNTRACKED_NOTE);
	if (untracked_estimate(v, &est))
		fprintf(f, "  estimated from pymalloc: %llu bytes\n", (unsigned long long)est);
	else
		fprintf(f, "  no estimate: it needs the pymalloc census\n");
	write_pymalloc_text(f, v);
}

static int write_json(FILE *f, const struct census_view *v)
{
	struct jw *w = jw_new(f);
	uint64_t est;

	if (!w)
		return -ENOMEM;
	jw_object_begin(w);
	jw_key(w, "census");
	jw_object_begin(w);
	jw_kv_s64(w, "pid", v->pid);
	jw_kv_string(w, "interpreter", v->version);
	census_out__json(w, v);
	jw_key(w, "untracked");
	jw_object_begin(w);
	jw_kv_string(w, "note", UNTRACKED_NOTE);
	if (untracked_estimate(v, &est))
		jw_kv_u64(w, "estimated_bytes", est);
	else
		jw_kv_null(w, "estimated_bytes");
	jw_object_end(w);
	write_pymalloc_json(w, v);
	jw_object_end(w);
	jw_object_end(w);
	fputc('\n', f);
	return jw_free(w);
}

static int write_prom(FILE *f, const struct census_view *v)
{
	return census_out__prom(f, v, 1);
}

/* Writes to path ("-": stdout) with fn. */
static int write_to(const char *path, int (*fn)(FILE *, const struct census_view *),
		    const struct census_view *v)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	int err;

	if (!f) {
		pr_err("census: cannot write '%s': %s", path, strerror(errno));
		return -errno;
	}
	err = fn(f, v);
	if (f != stdout && fclose(f) && !err)
		err = -EIO;
	else if (f == stdout)
		fflush(stdout);
	if (err)
		pr_err("census: writing '%s' failed: %s", path, strerror(-err));
	return err;
}

static int take(struct interp *in, const struct census_args *a, struct census_gc *out)
{
	char why[512];
	int err = census_gc__take(in, a->pid, &a->walk, out, why, sizeof(why));

	if (err)
		pr_err("census: %s", why);
	return err;
}

int census_main(int argc, char **argv)
{
	struct census_args a;
	struct census_gc first = { 0 }, second = { 0 };
	struct census_view v = { 0 };
	static struct pymalloc_census pm;   /* large: not on the stack */
	char pm_why[256] = "";
	struct interp in;
	char why[512];
	bool text;
	int err, code = EXIT_OK;

	err = parse_args(argc, argv, &a);
	if (err)
		return err == HELP_SHOWN ? EXIT_OK : err;
	err = interp__find(a.pid, &in, why, sizeof(why));
	if (err) {
		pr_err("%s", why);
		return exit_code_for(err);
	}
	err = take(&in, &a, &first);
	if (!err && a.growth_s > 0) {
		pr_info("census: first snapshot taken (%llu objects); the second in %.1f s",
			(unsigned long long)first.objects, a.growth_s);
		sleep_s(a.growth_s);
		err = take(&in, &a, &second);
	}
	if (err) {
		code = exit_code_for(err);
		goto out;
	}
	if (pymalloc_census__take(&in, a.pid, &pm, pm_why, sizeof(pm_why)))
		pr_warn("census: no pymalloc census: %s", pm_why);
	else
		v.pymalloc = &pm;
	v.pymalloc_why = pm_why;
	v.pid = a.pid;
	v.version = in.version_str;
	v.top = a.top;
	v.gc = a.growth_s > 0 ? &second : &first;
	v.before = a.growth_s > 0 ? &first : NULL;
	v.growth_s = a.growth_s;
	text = a.fmt == FMT_TEXT && !(a.json_path && !strcmp(a.json_path, "-")) &&
	       !(a.prom_path && !strcmp(a.prom_path, "-"));
	if (text)
		write_text(stdout, &v);
	if (a.fmt == FMT_JSON && write_to("-", write_json, &v))
		code = EXIT_RUNTIME;
	if (a.fmt == FMT_PROM && write_to("-", write_prom, &v))
		code = EXIT_RUNTIME;
	if (a.json_path && write_to(a.json_path, write_json, &v))
		code = EXIT_RUNTIME;
	if (a.prom_path && write_to(a.prom_path, write_prom, &v))
		code = EXIT_RUNTIME;
out:
	census_gc__free(&first);
	census_gc__free(&second);
	interp__release(&in);
	return code;
}
