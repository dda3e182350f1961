/* pmt-test-tool commands for USDT argument specs (user/usdt_args.h), the
 * uprobe_multi feature probe (user/uprobe_multi.h) and the detach watch's
 * mapping recheck (user/bp_watch.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bp_watch.h"
#include "perf_uprobe.h"
#include "procmaps.h"
#include "tool.h"
#include "uprobe_multi.h"
#include "usdt_args.h"

/* usdt-arg ARGS IDX: "kind=reg reg=5 size=4 signed=1 off=-8 cookie=0x..." or
 * "error=-ENOTSUP why=..." */
static int cmd_usdt_arg(int argc, char **argv)
{
	static const char *const kinds[] = { "reg", "deref", "const" };
	struct usdt_arg a;
	char why[160] = "", desc[96];
	uint64_t cookie = 0;
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: usdt-arg ARGS IDX\n");
		return 2;
	}
	ret = usdt_arg_parse(argv[1], (unsigned)atoi(argv[2]), &a, why, sizeof(why));
	if (ret) {
		printf("error=%s why=%s\n", ret == -ENOENT ? "ENOENT" : ret == -ENOTSUP ? "ENOTSUP"
		       : ret == -EINVAL ? "EINVAL" : "?", why);
		return 1;
	}
	usdt_arg_describe(&a, desc, sizeof(desc));
	ret = usdt_arg_cookie(&a, &cookie);
	printf("kind=%s reg=%d size=%u signed=%d off=%" PRId64 " cookie=%s0x%" PRIx64
	       " desc=%s\n", kinds[a.kind], a.kind == USDT_ARG_CONST ? -1 : a.reg, a.size,
	       a.is_signed, a.off, ret ? "ERANGE:" : "", cookie, desc);
	return 0;
}

/* uprobe-hold PATH OFFSET REF_CTR: another tool's uprobe, as bcc's tools
 * leave them: a perf-event uprobe at PATH's file OFFSET with USDT semaphore
 * offset REF_CTR (hex or decimal), for this process only.  The kernel keeps
 * one semaphore per (file, offset), so a tracer asking for another there is
 * refused (EINVAL).  Prints "held", keeps it until stdin closes (root). */
static int cmd_uprobe_hold(int argc, char **argv)
{
	char line[16];
	uint64_t off, ref;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: uprobe-hold PATH OFFSET REF_CTR\n");
		return 2;
	}
	off = strtoull(argv[2], NULL, 0);
	ref = strtoull(argv[3], NULL, 0);
	fd = perf_uprobe__open(argv[1], off, getpid(), false, ref);
	if (fd < 0) {
		printf("error: %s\n", strerror(-fd));
		return 1;
	}
	printf("held\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	close(fd);
	return 0;
}

/* uprobe-multi-probe: "supported" or "unsupported: why" (needs root). */
static int cmd_uprobe_multi_probe(int argc, char **argv)
{
	char why[192] = "";

	if (uprobe_multi__supported(why, sizeof(why))) {
		printf("supported\n");
		return 0;
	}
	printf("unsupported: %s\n", why);
	return 1;
}

/* bp-watch PID FILE OFFSET: watches FILE's OFFSET in PID as detach does,
 * without the int3 filters (bp_watch__before/confirm), and prints "watched
 * N"; after a line on stdin, rechecks the mappings and prints "kept N". */
static int cmd_bp_watch(int argc, char **argv)
{
	struct bp_watch w = { 0 };
	struct procmaps m = { 0 };
	uint64_t off;
	char line[16];
	bool moved;
	int ret;

	if (argc != 4) {
		fprintf(stderr, "usage: bp-watch PID FILE OFFSET\n");
		return 2;
	}
	w.pid = (pid_t)strtol(argv[1], NULL, 10);
	off = strtoull(argv[3], NULL, 0);
	ret = procmaps__load(w.pid, &m, NULL);
	if (!ret)
		ret = bp_watch__add(&w, &m, argv[2], &off, 1);
	procmaps__release(&m);
	if (ret) {
		fprintf(stderr, "bp_watch__add: %s\n", strerror(-ret));
		return 1;
	}
	printf("watched %zu\n", w.n);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	moved = bp_watch__recheck(&w);
	printf("kept %zu\n", w.n);
	printf("moved %d\n", moved);
	bp_watch__release(&w);
	return 0;
}

const struct tool_cmd usdt_cmds[] = {
	{ "bp-watch", "PID FILE OFFSET: the detach watch's mapping recheck (after a line on stdin)",
	  cmd_bp_watch },
	{ "usdt-arg", "ARGS IDX: decode argument IDX of a stapsdt argument spec", cmd_usdt_arg },
	{ "uprobe-multi-probe", ": can uprobe_multi links be used here (root)", cmd_uprobe_multi_probe },
	{ "uprobe-hold", "PATH OFFSET REF_CTR: hold a perf-event uprobe with that semaphore offset until stdin closes (root)", cmd_uprobe_hold },
	{ NULL, NULL, NULL },
};
