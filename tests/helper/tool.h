/* pmt-test-tool: drives pymemtrace's parsers and math with no root and no BPF,
 * for tests/10-unit.bats and the fuzz seeds.  Each module's file exports a
 * table of subcommands; pmt-test-tool.c dispatches on argv[1].
 * A subcommand prints its result on stdout and returns the exit code. */
#ifndef PMT_TEST_TOOL_H
#define PMT_TEST_TOOL_H

struct tool_cmd {
	const char *name;
	const char *usage;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

/* Tables, each ended by an entry with name == NULL. */
extern const struct tool_cmd parser_cmds[];  /* tests/helper/parser_cmds.c: elf, maps, notes, hist, version */
extern const struct tool_cmd output_cmds[];  /* tests/helper/output_cmds.c: procstat, json */
extern const struct tool_cmd decode_cmds[];  /* tests/helper/decode_cmds.c: x86 decoding */
extern const struct tool_cmd pystack_cmds[]; /* tests/helper/pystack_cmds.c: line tables, Python stacks */
extern const struct tool_cmd lto_cmds[];     /* tests/helper/lto_cmds.c: inlined allocator sites */
extern const struct tool_cmd usdt_cmds[];    /* tests/helper/usdt_cmds.c: USDT specs, uprobe_multi */
extern const struct tool_cmd census_cmds[];  /* tests/helper/census_cmds.c: pymalloc census */

#endif
