/* pmt-test-tool subcommands for the out-of-process censuses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "census_pymalloc.h"
#include "interp.h"
#include "json_writer.h"
#include "tool.h"

/* pymalloc-census PID [--json]: the census of a running CPython. */
static int cmd_pymalloc_census(int argc, char **argv)
{
	struct pymalloc_census *c;
	struct interp in;
	char err[256], *end;
	bool json = argc == 3 && !strcmp(argv[2], "--json");
	long pid;
	int ret;

	if (argc < 2 || argc > 3 || (argc == 3 && !json)) {
		fprintf(stderr, "usage: pymalloc-census PID [--json]\n");
		return 2;
	}
	errno = 0;
	pid = strtol(argv[1], &end, 10);
	if (errno || *end || pid <= 0 || pid > 0x7fffffff) {
		fprintf(stderr, "pymalloc-census: bad pid '%s'\n", argv[1]);
		return 2;
	}
	ret = interp__find((pid_t)pid, &in, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "pymalloc-census: process %ld: %s\n", pid, err);
		return 1;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		interp__release(&in);
		return 1;
	}
	ret = pymalloc_census__take(&in, (pid_t)pid, c, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "pymalloc-census: process %ld: %s (%s)\n", pid, err, strerror(-ret));
	} else if (json) {
		struct jw *w = jw_new(stdout);

		jw_object_begin(w);
		jw_key(w, "pymalloc");
		pymalloc_census__write_json(w, c);
		jw_object_end(w);
		ret = jw_free(w);
		putchar('\n');
	} else {
		pymalloc_census__write_text(stdout, c);
	}
	free(c);
	interp__release(&in);
	return ret ? 1 : 0;
}

const struct tool_cmd census_cmds[] = {
	{ "pymalloc-census", "PID [--json]: pymalloc arenas, pools and blocks of a live CPython",
	  cmd_pymalloc_census },
	{ NULL, NULL, NULL },
};
