/* pymemtrace: lifecycle only.  parse -> check -> (launch) -> load -> attach ->
 * run -> report.  Everything else lives in its own module. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "census_cli.h"
#include "census_trace.h"
#include "env.h"
#include "events_out.h"
#include "launch.h"
#include "live_view.h"
#include "log.h"
#include "output.h"
#include "plan.h"
#include "preflight.h"
#include "privileges.h"
#include "prom_server.h"
#include "prom_textfile.h"
#include "session.h"
#include "uprobe_multi.h"

#define HOLD_TIMEOUT_MS 5000
#define LIVE_REFRESH_S  1.0   /* --live without -i */

/* --live: the view that owns the terminal while the session runs. */
static struct live_view *live;
/* --census: the thread that takes the censuses (census_trace.h), or NULL. */
static struct census_trace *census;

static void on_signal(int sig)
{
	session__stop();
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: the event loop's poll must return on a signal. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Maps a target-discovery error to the documented exit code. */
static int exit_code_for(int err)
{
	switch (err) {
	case -ESRCH:           return EXIT_NO_PROCESS;
	case -ENOEXEC:         return EXIT_NOT_PYTHON;
	case -EPROTONOSUPPORT: return EXIT_UNSUPPORTED;
	case -EACCES:
	case -EPERM:           return EXIT_PRIVILEGE;
	default:               return EXIT_RUNTIME;
	}
}

static int dry_run(void)
{
	int worst = EXIT_OK;

	if (env.cmd) {
		struct launch l;
		char err[512];

		/* Nothing runs before the command execs, so there is no process
		 * to plan against yet: say what would be held and where. */
		if (launch__fork(env.cmd, &l, err, sizeof(err))) {
			pr_err("%s", err);
			return EXIT_CMD_FAILED;
		}
		launch__abort(&l);
		printf("would start '%s' (image '%s'), hold it at its entry point (file offset "
		       "0x%llx), find its interpreter and attach before its first Python "
		       "instruction\n", l.exec_path, l.image_path, (unsigned long long)l.entry_offset);
		return EXIT_OK;
	}
	for (unsigned i = 0; i < env.n_pids; i++) {
		struct plan plan;
		char err[512];
		/* No feature probe here: it would create (refused) links. */
		struct plan_opts po = {
			.alloc = env.alloc,
			.heap_growth = env.heap_growth,
			.growth_arenas = env.growth_arenas,
			.uprobe_multi = !uprobe_multi__knob_off(),
			.no_multi_why = PMT_ENV_NO_UPROBE_MULTI " is set",
		};
		int ret = plan__build(env.pids[i], &po, &plan, err, sizeof(err));

		if (ret) {
			pr_err("%s", err);
			if (worst == EXIT_OK)
				worst = exit_code_for(ret);
			continue;
		}
		plan__print(stdout, &plan);
		plan__release(&plan);
	}
	return worst;
}

/* With --events -, stdout carries nothing but JSON lines. */
static FILE *text_out(void)
{
	return env.events_path && !strcmp(env.events_path, "-") ? stderr : stdout;
}

/* The labels of --prometheus and --textfile. */
static struct prom_opts prom_opts_of_env(bool up)
{
	return (struct prom_opts){ .group = env.group, .label_pid = env.prom_label_pid, .up = up,
				   .extra = census ? census_trace__prom : NULL, .extra_ctx = census };
}

/* --textfile: a failed write is reported and tracing goes on. */
static int write_textfile(const struct report *r, bool up)
{
	struct prom_opts o = prom_opts_of_env(up);
	char err[512];

	if (!env.textfile_dir)
		return 0;
	if (prom_textfile_write(env.textfile_dir, r, &o, err, sizeof(err))) {
		pr_err("%s", err);
		return EXIT_RUNTIME;
	}
	return 0;
}

static void print_interval(const struct report *r, void *ctx)
{
	census_trace__sync(census, r);
	output_text(text_out(), r);
	fflush(text_out());
	write_textfile(r, true);
}

/* A scrape's fresh report (prom_server.h). */
static int collect_for_scrape(struct report *r, void *ctx)
{
	struct session **s = ctx;

	int err = *s ? session__report(*s, r, false) : -EAGAIN;

	if (!err)
		census_trace__sync(census, r);
	return err;
}

/* --live: q leaves by the same path as SIGINT. */
static void live_interval(const struct report *r, void *ctx)
{
	census_trace__sync(census, r);
	write_textfile(r, true);
	if (live_view__update(live, r) == LIVE_QUIT)
		session__stop();
}

static int live_start(void)
{
	struct live_view_opts o = {
		.refresh_s = env.interval > 0 ? env.interval : LIVE_REFRESH_S,
		.alloc = env.alloc,
		.heap_growth = env.heap_growth,
		.full_repaint = env.cmd != NULL,
	};
	char err[256];

	live = live_view__start(&o, err, sizeof(err));
	if (!live) {
		pr_err("%s", err);
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}

/* The report files (NULL: not asked for, or "-"), opened once the probes
 * are attached and before the capabilities are dropped (privileges.h): the
 * writers at the end then need no privilege of their own. */
static FILE *json_file, *folded_file, *speedscope_file;

static int open_output(const char *path, const char *what, FILE **f)
{
	*f = NULL;
	if (!path || !strcmp(path, "-"))
		return 0;
	*f = fopen(path, "we");
	if (!*f) {
		pr_err("cannot write %s to '%s': %s", what, path, strerror(errno));
		return EXIT_RUNTIME;
	}
	return 0;
}

static int open_outputs(void)
{
	int ret = open_output(env.json_path, "JSON report", &json_file);

	if (!ret)
		ret = open_output(env.folded_path, "folded stacks", &folded_file);
	if (!ret)
		ret = open_output(env.speedscope_path, "the speedscope profile", &speedscope_file);
	return ret;
}

/* Closes what is still open (an early exit): the files stay, empty. */
static void close_outputs(void)
{
	FILE **fs[] = { &json_file, &folded_file, &speedscope_file };

	for (unsigned i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		if (*fs[i])
			fclose(*fs[i]);
		*fs[i] = NULL;
	}
}

/* Gives up the capabilities the rest of the run does not need. */
static int drop_privileges(void)
{
	struct privileges_keep keep = {
		.attach_later = !env.no_follow || env.all_path,
		.create_files = env.textfile_dir != NULL,
	};
	char err[256], names[512];
	uint64_t caps = 0;

	if (privileges__drop(&keep, err, sizeof(err))) {
		pr_err("%s", err);
		return EXIT_PRIVILEGE;
	}
	if (!privileges__effective(&caps)) {
		privileges__names(caps, names, sizeof(names));
		pr_debug("capabilities kept after the attach: %s", names);
	}
	return EXIT_OK;
}

/* Writes one report with writer() to f (opened by open_outputs), or to
 * stdout when f is NULL ("-"); closes f. */
static int write_file(FILE **fp, const char *path, const char *what,
		      int (*writer)(FILE *, const struct report *, int), const struct report *r, int arg)
{
	FILE *f = *fp ? *fp : stdout;
	int ret;

	ret = writer(f, r, arg);
	*fp = NULL;
	if (f != stdout && fclose(f) && !ret)
		ret = -errno;
	if (ret) {
		pr_err("cannot write %s to '%s': %s", what, path, strerror(-ret));
		return EXIT_RUNTIME;
	}
	return 0;
}

static int folded_writer(FILE *f, const struct report *r, int weight)
{
	return output_folded(f, r, (enum stack_weight)weight);
}

static int speedscope_writer(FILE *f, const struct report *r, int unused)
{
	return output_speedscope(f, r);
}

static int json_writer(FILE *f, const struct report *r, int unused)
{
	output_json(f, r);
	return ferror(f) ? -EIO : 0;
}

static int write_reports(const struct report *r)
{
	int ret;

	if (env.folded_path) {
		ret = write_file(&folded_file, env.folded_path, "folded stacks", folded_writer, r,
				 env.folded_weight);
		if (ret)
			return ret;
	}
	if (env.speedscope_path) {
		ret = write_file(&speedscope_file, env.speedscope_path, "the speedscope profile",
				 speedscope_writer, r, 0);
		if (ret)
			return ret;
	}

	/* The last textfile says pymemtrace_up 0: nobody updates it any more. */
	ret = write_textfile(r, false);
	if (ret)
		return ret;

	if (!env.json_path || strcmp(env.json_path, "-"))
		output_text(text_out(), r);
	if (!env.json_path)
		return 0;
	return write_file(&json_file, env.json_path, "JSON report", json_writer, r, 0);
}

/* Starts env.cmd held at its entry point and adds it to the session. */
static int launch_and_add(struct session *s, struct launch *l)
{
	char err[512];
	int ret, status = 0;
	bool held;

	ret = launch__fork(env.cmd, l, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		return EXIT_CMD_FAILED;
	}
	ret = session__hold(s, l->pid, l->image_path, l->entry_offset);
	held = !ret;
	if (ret)
		pr_warn("cannot hold '%s' at its entry point (%s): tracing starts a little late",
			l->image_path, strerror(-ret));
	ret = launch__exec(l, err, sizeof(err));
	if (ret) {
		session__unhold(s);
		pr_err("%s", err);
		return EXIT_CMD_FAILED;
	}
	if (held) {
		ret = launch__wait_held(l, HOLD_TIMEOUT_MS, &status);
		session__unhold(s);
		if (ret == -ECHILD) {
			pr_err("'%s' exited before it could be traced (wait status 0x%x)",
			       l->exec_path, status);
			return EXIT_CMD_FAILED;
		}
		if (ret)
			pr_warn("'%s' did not stop at its entry point: tracing starts late", l->exec_path);
	}
	ret = session__add(s, l->pid, true, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		launch__abort(l);
		return exit_code_for(ret);
	}
	census_trace__watch(census, l->pid);
	launch__resume(l);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct session_opts so = {};
	struct session *s = NULL;
	struct prom_server *srv = NULL;
	struct events_out *events = NULL;
	struct launch l = { .pid = -1 };
	struct report r;
	char err[512];
	int ret, code = EXIT_OK;

	/* `pymemtrace census ...` is its own command, with its own options */
	if (argc > 1 && !strcmp(argv[1], "census"))
		return census_main(argc - 1, argv + 1);
	ret = env_parse(argc, argv);
	if (ret)
		return ret;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (env.dry_run)
		return dry_run();
	/* Before anything is attached: a --live that cannot draw is a usage error. */
	if (env.live && live_view__check(err, sizeof(err))) {
		pr_err("%s", err);
		return EXIT_USAGE;
	}
	if (preflight_privileges(err, sizeof(err))) {
		pr_err("%s", err);
		return EXIT_PRIVILEGE;
	}
	if (preflight_kernel(err, sizeof(err))) {
		pr_err("%s", err);
		return EXIT_KERNEL;
	}
	install_signals();
	if (env.textfile_dir && access(env.textfile_dir, W_OK)) {
		pr_err("cannot write to --textfile directory '%s': %s", env.textfile_dir,
		       strerror(errno));
		return EXIT_USAGE;
	}
	if (env.census) {
		struct census_trace_opts co = {
			.interval_s = env.census_interval > 0 ? env.census_interval
							      : CENSUS_TRACE_DEFAULT_INTERVAL,
			.top = env.census_top ? env.census_top : 20,
			.walk = { .max_objects = env.census_max_objects,
				  .max_ms = env.census_max_ms },
		};

		census = census_trace__new(&co, err, sizeof(err));
		if (!census) {
			pr_err("%s", err);
			return EXIT_RUNTIME;
		}
	}
	if (env.prom_listen) {
		/* Bound before anything is loaded: a port in use fails fast.
		 * Requests are only answered from the session's loop. */
		struct prom_server_opts po = {
			.listen = env.prom_listen, .fmt = prom_opts_of_env(true),
			.collect = collect_for_scrape, .ctx = &s,
		};

		srv = prom_server__new(&po, err, sizeof(err));
		if (!srv) {
			pr_err("%s", err);
			return EXIT_RUNTIME;
		}
		pr_info("serving metrics on http://%s/metrics", prom_server__address(srv));
		so.poll_fd = prom_server__fd(srv);
		so.poll_timeout_ms = prom_server__timeout_ms;
		so.poll_run = prom_server__run;
		so.poll_ctx = srv;
	}

	so.max_procs = env.max_procs;
	so.max_threads = env.max_threads;
	so.ringbuf_kb = env.ringbuf_kb;
	so.alloc = env.alloc;
	so.heap_growth = env.heap_growth;
	so.growth_arenas = env.growth_arenas;
	so.sample_every = env.sample_every;
	so.window_ms = env.window_ms;
	so.period_ms = env.period_ms;
	so.native_depth = env.native_depth;
	so.max_live = env.max_live;
	so.max_stacks = env.max_stacks;
	so.max_overhead_pct = env.max_overhead_pct;
	so.gc_budget_pct = env.gc_budget_pct;
	so.top = env.top;
	so.duration = env.duration;
	so.interval = env.interval;
	so.follow = !env.no_follow;
	so.all_path = env.all_path;
	/* Every target is planned before any is probed, so that a bad one
	 * among several fails the start with nothing attached.  Only --alloc's
	 * plans take long enough (Debian's LTO site scan, 0.3 s) to be worth
	 * making during the load: while libbpf holds the kernel's BTF, the copy
	 * of the interpreter file adds about 10 MiB to the peak RSS. */
	if (!env.cmd && !env.all_path) {
		so.plan_pids = env.pids;
		so.n_plan_pids = env.n_pids;
		so.plan_during_load = env.alloc;
	}
	so.census = census;
	so.on_interval = print_interval;
	if (env.events_path) {
		struct timespec t0;

		/* Event times count from here: the session starts now. */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		events = events_out__open(env.events_path,
					  (uint64_t)t0.tv_sec * 1000000000ULL + t0.tv_nsec,
					  err, sizeof(err));
		if (!events) {
			pr_err("%s", err);
			prom_server__free(srv);
			return EXIT_RUNTIME;
		}
		so.events = events;
	}
	if (env.live) {
		so.interval = env.interval > 0 ? env.interval : LIVE_REFRESH_S;
		so.on_interval = live_interval;
	}
	s = session__new(&so, &ret, err, sizeof(err));
	if (!s) {
		pr_err("%s", err);
		events_out__free(events);
		prom_server__free(srv);
		/* Past the capability check, EPERM still means a privilege
		 * (lockdown, seccomp); anything else is the kernel refusing. */
		return ret == -EPERM ? EXIT_PRIVILEGE : EXIT_KERNEL;
	}
	if (env.cmd) {
		code = launch_and_add(s, &l);
	} else if (env.all_path) {
		ret = session__add_all(s, err, sizeof(err));
		if (ret) {
			pr_err("%s", err);
			code = exit_code_for(ret);
		}
	} else {
		ret = session__check_planned(s, err, sizeof(err));
		if (ret) {
			pr_err("%s", err);
			code = exit_code_for(ret);
		}
		for (unsigned i = 0; i < env.n_pids && code == EXIT_OK; i++) {
			ret = session__add(s, env.pids[i], false, err, sizeof(err));
			if (ret) {
				pr_err("%s", err);
				code = exit_code_for(ret);
			} else {
				census_trace__watch(census, env.pids[i]);
			}
		}
	}
	if (code == EXIT_OK)
		code = open_outputs();
	if (code == EXIT_OK)
		code = drop_privileges();
	/* Only now: a thread keeps the capabilities it was created with. */
	if (code == EXIT_OK && census && census_trace__start(census, err, sizeof(err))) {
		pr_err("%s", err);
		code = EXIT_RUNTIME;
	}
	if (code != EXIT_OK)
		goto out;

	pr_info("tracing; %s", env.duration > 0 ? "stops after -d" : "Ctrl-C to stop");
	if (env.live && (code = live_start()) != EXIT_OK)
		goto out;
	ret = session__run(s);
	if (ret)
		code = EXIT_RUNTIME;
	/* The final report goes to the normal screen, after the view. */
	live_view__stop(live);
	live = NULL;
	/* The probes go before the report is assembled: the target runs at
	 * full speed again while pymemtrace reads the maps and names stacks. */
	session__detach(s);
	/* Before the report: closing writes the events still held for
	 * ordering, so the report's counts are the file's. */
	ret = events_out__close(events);
	if (ret) {
		pr_err("cannot write events to '%s': %s", env.events_path, strerror(-ret));
		code = EXIT_RUNTIME;
	}
	if (session__report(s, &r, true)) {
		pr_err("out of memory building the report");
		code = EXIT_RUNTIME;
		goto out;
	}
	ret = write_reports(&r);
	if (ret && code == EXIT_OK)
		code = ret;
	if (r.overhead.budget_exceeded && code == EXIT_OK)
		code = EXIT_OVERHEAD;
	report_release(&r);
out:
	/* The server first: its scrapes read the session. */
	prom_server__free(srv);
	live_view__stop(live);
	session__free(s);
	events_out__free(events);
	close_outputs();
	/* Last: the server and the reports read it.  A census under way
	 * is cancelled, not waited for. */
	census_trace__free(census);
	return code;
}
