/* Subcommands of pmt-test-tool for this module (see tool.h). */
#include <stddef.h>
#include "tool.h"

const struct tool_cmd decode_cmds[] = {
	{ NULL, NULL, NULL },
};
