/* pmt-test-tool commands for USDT argument specs (user/usdt_args.h) and the
 * uprobe_multi feature probe (user/uprobe_multi.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

const struct tool_cmd usdt_cmds[] = {
	{ "usdt-arg", "ARGS IDX: decode argument IDX of a stapsdt argument spec", cmd_usdt_arg },
	{ "uprobe-multi-probe", ": can uprobe_multi links be used here (root)", cmd_uprobe_multi_probe },
	{ NULL, NULL, NULL },
};
