/* /proc/PID/maps: the path column names the target's files (any bytes but
 * '\n', " (deleted)" suffixes).  The whole input goes through the file
 * reader, which splits lines, and through the line parser as one line. */
#include <stdio.h>
#include "fuzz.h"
#include "procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procmaps m = { 0 };
	struct procmap_entry e;
	size_t bad = 0;
	char *s;
	FILE *f;

	s = fuzz_strdup(data, size);
	if (!s)
		return 0;
	if (!procmaps__parse_line(s, &e))
		fuzz_use(e.path, strlen(e.path));
	free(s);

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	if (!procmaps__load_file(f, &m, &bad))
		fuzz_use(m.v, m.n + bad);
	procmaps__release(&m);
	fclose(f);
	return 0;
}
