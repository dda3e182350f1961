/* pmt-test-tool: see tool.h. */
#include <stdio.h>
#include <string.h>
#include "tool.h"

static const struct tool_cmd *const tables[] = { parser_cmds, output_cmds, decode_cmds, lto_cmds, pystack_cmds, usdt_cmds, census_cmds };

static void usage(FILE *f)
{
	fprintf(f, "usage: pmt-test-tool COMMAND [ARGS...]\ncommands:\n");
	for (unsigned t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct tool_cmd *c = tables[t]; c->name; c++)
			fprintf(f, "  %-16s %s\n", c->name, c->usage);
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (unsigned t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct tool_cmd *c = tables[t]; c->name; c++)
			if (!strcmp(c->name, argv[1]))
				return c->run(argc - 1, argv + 1);
	fprintf(stderr, "pmt-test-tool: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
