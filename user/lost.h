/* Every way pymemtrace loses data, in one table: what was lost, why, and the
 * flag that fixes it.  The text, JSON and Prometheus writers all print from
 * this table (text: "lost data" lines; JSON: processes[].lost_detail.<key>;
 * Prometheus: pymemtrace_lost_events_total{reason="<key>"}), so a new
 * counter is added here once and shows up everywhere.
 *
 * Lookup only: nothing here prints.
 */
#ifndef PMT_LOST_H
#define PMT_LOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "report.h"

enum lost_reason {
	LOST_RINGBUF_DROPS = 0,
	LOST_PENDING_FULL,
	LOST_GC_UNMATCHED,
	LOST_GC_BAD_GENERATION,
	LOST_PROBES_FAILED,
	LOST_EVENTS_DROPPED,
	LOST_FORKS_UNTRACKED,
	LOST_ALLOC_LIVE_MAP_FULL,
	LOST_ALLOC_STACK_MAP_FULL,
	LOST_ALLOC_TRUNCATED_STACKS,
	LOST_ALLOC_STACK_ERRORS,
	LOST_ALLOC_UNRESOLVED_FRAMES,
	LOST_ALLOC_UNREADABLE,
	LOST_GROWTH_NO_STACK,
	/* --heap-growth shares the stack maps with --alloc: these three count
	 * only when --alloc is off (else the alloc_ ones hold them). */
	LOST_GROWTH_STACK_MAP_FULL,
	LOST_GROWTH_TRUNCATED_STACKS,
	LOST_GROWTH_STACK_ERRORS,
	LOST_NR,
};

/* Which size setting a reason's flag changes (its current value is in
 * struct proc_report's `limits`). */
enum lost_limit {
	LOST_LIMIT_NONE = 0,
	LOST_LIMIT_RINGBUF_KB,
	LOST_LIMIT_MAX_THREADS,
	LOST_LIMIT_MAX_PROCS,
	LOST_LIMIT_MAX_LIVE,
	LOST_LIMIT_MAX_STACKS,
};

/* When a reason's counter means something: the others are always 0. */
enum lost_scope {
	LOST_SCOPE_ALWAYS = 0,
	LOST_SCOPE_EVENTS,        /* --events */
	LOST_SCOPE_ALLOC,         /* --alloc */
	LOST_SCOPE_GROWTH,        /* --heap-growth */
	LOST_SCOPE_GROWTH_ONLY,   /* --heap-growth without --alloc */
};

struct lost_reason_info {
	const char *key;          /* JSON lost_detail key and Prometheus reason label */
	const char *cause;        /* "live map full" */
	const char *what;         /* what the count counts: "untracked" */
	const char *fix;          /* "raise --max-live", or why when no flag helps */
	enum lost_limit limit;
	enum lost_scope scope;
	/* false: not an event count (probes that failed), so not part of the
	 * Prometheus counter family; it has a gauge of its own. */
	bool counter;
};

extern const struct lost_reason_info lost_reasons[LOST_NR];

/* The count of one reason for one process (0 when out of its scope). */
uint64_t lost_count(const struct proc_report *p, enum lost_reason r);
/* Whether the reason's counter is meaningful for p (its scope holds). */
bool lost_applies(const struct proc_report *p, enum lost_reason r);
/* The current value of a reason's size setting for p; 0 when the reason has
 * no setting or the report does not know it (retired process groups). */
unsigned lost_limit_value(const struct proc_report *p, enum lost_reason r);
/* "live map full: 12 untracked; raise --max-live (now 64)" into
 * buf (always NUL-terminated).  Returns buf. */
const char *lost_describe(char *buf, size_t len, const struct proc_report *p, enum lost_reason r);

#endif
