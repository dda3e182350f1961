/* Removing a retired process's entries from the maps that are shared by
 * every process and keyed by something other than the pid (stacks, live
 * allocations), so that a long session with many short-lived workers keeps
 * bounded maps.
 */
#ifndef PMT_MAP_SWEEP_H
#define PMT_MAP_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where the owning pid (a __u32) of an entry is: in the key or in the
 * value, at this byte offset. */
struct map_sweep_field {
	bool in_value;
	size_t offset;
};

/* Deletes every entry of the hash map fd whose pid is one of pids[0..n).
 * key_size and value_size are the map's; the pid field must lie inside.
 * Entries added while it runs may be missed (they are swept next time).
 * Returns the entries deleted; bounded by the map's size, never loops
 * forever (iteration restarts at most once, when the map changes under it). */
unsigned map_sweep_pids(int fd, size_t key_size, size_t value_size,
			struct map_sweep_field field, const pid_t *pids, unsigned n);

#endif
