/* The loss table and its lookups: see lost.h. */
#include <inttypes.h>
#include <stdio.h>
#include "lost.h"
#include "pystack.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Printed as "<cause>: N <what>; <fix> (now <limit>)": keep each line under
 * the text report's 65 columns of values. */
const struct lost_reason_info lost_reasons[LOST_NR] = {
	[LOST_RINGBUF_DROPS] = { "ringbuf_drops", "ring buffer full", "events lost",
		"raise --ringbuf-kb", LOST_LIMIT_RINGBUF_KB, LOST_SCOPE_ALWAYS, true },
	[LOST_PENDING_FULL] = { "pending_full", "pending map full", "hits lost",
		"raise --max-threads", LOST_LIMIT_MAX_THREADS, LOST_SCOPE_ALWAYS, true },
	[LOST_GC_UNMATCHED] = { "gc_unmatched", "GC end without start", "untimed",
		"attached mid-collection", LOST_LIMIT_NONE, LOST_SCOPE_ALWAYS, true },
	[LOST_GC_BAD_GENERATION] = { "gc_bad_generation", "bad GC generation",
		"uncounted", "please report", LOST_LIMIT_NONE, LOST_SCOPE_ALWAYS, true },
	[LOST_PROBES_FAILED] = { "probes_failed", "probes failed", "not attached",
		"see probes (-v says why)", LOST_LIMIT_NONE, LOST_SCOPE_ALWAYS, false },
	[LOST_EVENTS_DROPPED] = { "events_dropped", "event ring full", "dropped",
		"raise --ringbuf-kb", LOST_LIMIT_RINGBUF_KB, LOST_SCOPE_EVENTS, true },
	[LOST_FORKS_UNTRACKED] = { "forks_untracked", "process map full", "children lost",
		"raise --max-procs", LOST_LIMIT_MAX_PROCS, LOST_SCOPE_ALWAYS, true },
	[LOST_ALLOC_LIVE_MAP_FULL] = { "alloc_live_map_full", "live map full",
		"untracked", "raise --max-live", LOST_LIMIT_MAX_LIVE,
		LOST_SCOPE_ALLOC, true },
	[LOST_ALLOC_STACK_MAP_FULL] = { "alloc_stack_map_full", "stack map full",
		"not recorded", "raise --max-stacks", LOST_LIMIT_MAX_STACKS,
		LOST_SCOPE_ALLOC, true },
	[LOST_ALLOC_TRUNCATED_STACKS] = { "alloc_truncated_stacks", "stack too deep",
		"cut", "fixed limit of " STR(PMT_MAX_PYFRAMES) " frames",
		LOST_LIMIT_NONE, LOST_SCOPE_ALLOC, true },
	[LOST_ALLOC_STACK_ERRORS] = { "alloc_stack_errors", "stack walk failed",
		"unreadable", "target memory unreadable", LOST_LIMIT_NONE,
		LOST_SCOPE_ALLOC, true },
	[LOST_ALLOC_UNRESOLVED_FRAMES] = { "alloc_unresolved_frames", "code unreadable",
		"unnamed", "target memory unreadable", LOST_LIMIT_NONE,
		LOST_SCOPE_ALLOC, true },
	[LOST_ALLOC_UNREADABLE] = { "alloc_unreadable", "block unreadable",
		"uncounted", "target memory unreadable", LOST_LIMIT_NONE,
		LOST_SCOPE_ALLOC, true },
	[LOST_GROWTH_NO_STACK] = { "growth_no_stack", "growth stack missing",
		"growth events", "please report", LOST_LIMIT_NONE, LOST_SCOPE_GROWTH, true },
	[LOST_GROWTH_STACK_MAP_FULL] = { "growth_stack_map_full", "stack map full",
		"not recorded", "raise --max-stacks", LOST_LIMIT_MAX_STACKS,
		LOST_SCOPE_GROWTH_ONLY, true },
	[LOST_GROWTH_TRUNCATED_STACKS] = { "growth_truncated_stacks", "stack too deep",
		"cut", "fixed limit of " STR(PMT_MAX_PYFRAMES) " frames",
		LOST_LIMIT_NONE, LOST_SCOPE_GROWTH_ONLY, true },
	[LOST_GROWTH_STACK_ERRORS] = { "growth_stack_errors", "stack walk failed",
		"unreadable", "target memory unreadable", LOST_LIMIT_NONE,
		LOST_SCOPE_GROWTH_ONLY, true },
};

bool lost_applies(const struct proc_report *p, enum lost_reason r)
{
	if (!p || (unsigned)r >= LOST_NR)
		return false;
	switch (lost_reasons[r].scope) {
	case LOST_SCOPE_ALWAYS:
		return true;
	case LOST_SCOPE_EVENTS:
		return p->limits.events;
	case LOST_SCOPE_ALLOC:
		return p->alloc.enabled;
	case LOST_SCOPE_GROWTH:
		return p->growth.enabled;
	case LOST_SCOPE_GROWTH_ONLY:
		return p->growth.enabled && !p->alloc.enabled;
	}
	return false;
}

static uint64_t raw_count(const struct proc_report *p, enum lost_reason r)
{
	switch (r) {
	case LOST_RINGBUF_DROPS:           return p->lost.ringbuf_drops;
	case LOST_PENDING_FULL:            return p->lost.pending_full;
	case LOST_GC_UNMATCHED:            return p->lost.gc_unmatched;
	case LOST_GC_BAD_GENERATION:       return p->lost.gc_bad_generation;
	case LOST_PROBES_FAILED:           return p->lost.probes_failed;
	case LOST_EVENTS_DROPPED:          return p->lost.events_dropped;
	case LOST_FORKS_UNTRACKED:         return p->lost.forks_untracked;
	case LOST_ALLOC_LIVE_MAP_FULL:     return p->alloc.lost.live_map_full;
	case LOST_ALLOC_STACK_MAP_FULL:    return p->alloc.lost.stack_map_full;
	case LOST_ALLOC_TRUNCATED_STACKS:  return p->alloc.lost.truncated_stacks;
	case LOST_ALLOC_STACK_ERRORS:      return p->alloc.lost.stack_errors;
	case LOST_ALLOC_UNRESOLVED_FRAMES: return p->alloc.lost.unresolved_frames;
	case LOST_ALLOC_UNREADABLE:        return p->alloc.lost.unreadable;
	case LOST_GROWTH_NO_STACK:         return p->growth.lost.no_stack;
	case LOST_GROWTH_STACK_MAP_FULL:   return p->growth.lost.stack_map_full;
	case LOST_GROWTH_TRUNCATED_STACKS: return p->growth.lost.truncated_stacks;
	case LOST_GROWTH_STACK_ERRORS:     return p->growth.lost.stack_errors;
	case LOST_NR:
		break;
	}
	return 0;
}

uint64_t lost_count(const struct proc_report *p, enum lost_reason r)
{
	/* Events-dropped is counted by the BPF side only with --events, so it
	 * needs no scope check; the others' scope also hides shared counters
	 * (growth's stack counters are --alloc's when both are on). */
	if (!p || (unsigned)r >= LOST_NR)
		return 0;
	if (r != LOST_EVENTS_DROPPED && !lost_applies(p, r))
		return 0;
	return raw_count(p, r);
}

unsigned lost_limit_value(const struct proc_report *p, enum lost_reason r)
{
	if (!p || (unsigned)r >= LOST_NR)
		return 0;
	switch (lost_reasons[r].limit) {
	case LOST_LIMIT_NONE:        return 0;
	case LOST_LIMIT_RINGBUF_KB:  return p->limits.ringbuf_kb;
	case LOST_LIMIT_MAX_THREADS: return p->limits.max_threads;
	case LOST_LIMIT_MAX_PROCS:   return p->limits.max_procs;
	case LOST_LIMIT_MAX_LIVE:    return p->limits.max_live;
	case LOST_LIMIT_MAX_STACKS:  return p->limits.max_stacks;
	}
	return 0;
}

const char *lost_describe(char *buf, size_t len, const struct proc_report *p, enum lost_reason r)
{
	const struct lost_reason_info *ri;
	unsigned now;

	if (!len)
		return buf;
	if ((unsigned)r >= LOST_NR) {
		buf[0] = '\0';
		return buf;
	}
	ri = &lost_reasons[r];
	now = lost_limit_value(p, r);
	if (now)
		snprintf(buf, len, "%s: %" PRIu64 " %s; %s (now %u)", ri->cause, lost_count(p, r),
			 ri->what, ri->fix, now);
	else
		snprintf(buf, len, "%s: %" PRIu64 " %s; %s", ri->cause, lost_count(p, r), ri->what,
			 ri->fix);
	return buf;
}
