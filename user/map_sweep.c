/* Sweeping a retired process's entries from shared maps: see map_sweep.h. */
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "map_sweep.h"

static bool listed(uint32_t pid, const pid_t *pids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if ((uint32_t)pids[i] == pid)
			return true;
	return false;
}

unsigned map_sweep_pids(int fd, size_t key_size, size_t value_size,
			struct map_sweep_field field, const pid_t *pids, unsigned n)
{
	struct bpf_map_info info = {};
	uint32_t info_len = sizeof(info);
	size_t limit = field.in_value ? value_size : key_size;
	unsigned char *key = NULL, *next = NULL, *value = NULL, *doomed = NULL;
	size_t n_doomed = 0, cap = 0;
	unsigned deleted = 0;
	bool first = true;

	if (fd < 0 || !n || !key_size || field.offset + sizeof(uint32_t) > limit)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return 0;
	key = calloc(1, key_size);
	next = calloc(1, key_size);
	value = calloc(1, value_size ? value_size : 1);
	if (!key || !next || !value)
		goto out;
	/* Collect first, delete after: deleting the key an iteration stands
	 * on sends a hash map's next lookup back to the start.  At most
	 * max_entries steps (plus a few for entries added meanwhile). */
	for (size_t steps = 0; steps < (size_t)info.max_entries + 64; steps++) {
		uint32_t pid;

		if (bpf_map_get_next_key(fd, first ? NULL : key, next))
			break;
		first = false;
		memcpy(key, next, key_size);
		if (field.in_value) {
			if (bpf_map_lookup_elem(fd, key, value))
				continue;
			memcpy(&pid, value + field.offset, sizeof(pid));
		} else {
			memcpy(&pid, key + field.offset, sizeof(pid));
		}
		if (!listed(pid, pids, n))
			continue;
		if (n_doomed == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			unsigned char *v = realloc(doomed, ncap * key_size);

			if (!v)
				break; /* delete what was collected; the rest next time */
			doomed = v;
			cap = ncap;
		}
		memcpy(doomed + n_doomed++ * key_size, key, key_size);
	}
	for (size_t i = 0; i < n_doomed; i++)
		if (!bpf_map_delete_elem(fd, doomed + i * key_size))
			deleted++;
out:
	free(key);
	free(next);
	free(value);
	free(doomed);
	return deleted;
}
