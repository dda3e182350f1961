/* USDT argument specs, the third string of a stapsdt note in the target's
 * file ("-4@%edi 8@-16(%rbp) 4@$3").  Every argument index is decoded,
 * turned into its cookie and described, as the attach plan does. */
#include <errno.h>
#include "fuzz.h"
#include "usdt_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usdt_arg a;
	char why[128], desc[96];
	uint64_t cookie;
	char *s = fuzz_strdup(data, size);

	if (!s)
		return 0;
	/* a note's args field is at most 256 bytes, but the parser must not care */
	for (unsigned idx = 0; idx < 16; idx++) {
		int ret = usdt_arg_parse(s, idx, &a, why, sizeof(why));

		if (ret == -ENOENT)
			break;
		if (ret)
			continue;
		if (!usdt_arg_cookie(&a, &cookie))
			fuzz_use(&cookie, sizeof(cookie));
		usdt_arg_describe(&a, desc, sizeof(desc));
	}
	free(s);
	return 0;
}
