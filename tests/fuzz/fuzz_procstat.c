/* /proc/PID/stat and /proc/PID/status text: the comm field is the target's
 * own choice (prctl PR_SET_NAME), spaces and ')' included. */
#include "fuzz.h"
#include "procstat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procstat_sample smp;
	char *s = fuzz_strdup(data, size);

	if (!s)
		return 0;
	memset(&smp, 0, sizeof(smp));
	if (!procstat__parse_stat(s, &smp))
		fuzz_use(smp.comm, strnlen(smp.comm, sizeof(smp.comm)));
	if (!procstat__parse_status(s, &smp))
		fuzz_use(&smp, smp.rss_bytes);
	free(s);
	return 0;
}
