/* Hardware cache counters (references, misses) for a process, through
 * perf_event_open, one counter pair per existing thread, inherited by new
 * threads.  Machines without a PMU (most VMs) cannot count these: then
 * perfcount__open returns NULL and says why, and the reports print null with
 * that reason, never zeros. */
#ifndef PMT_PERFCOUNT_H
#define PMT_PERFCOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct perfcount;

struct perfcount *perfcount__open(pid_t pid, char *reason, size_t reasonlen);
/* Sums the counters over all threads; scaled if the PMU multiplexed them.
 * 0 or -errno. */
int perfcount__read(struct perfcount *pc, uint64_t *references, uint64_t *misses);
void perfcount__free(struct perfcount *pc);

#endif
