/* Helpers on the report struct: see report.h. */
#include "report.h"

/* Saturating: a wrapped total would print a small, believable number. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

uint64_t proc_report_lost_total(const struct proc_report *p)
{
	uint64_t t = 0;

	if (!p)
		return 0;
	t = add_sat(t, p->lost.ringbuf_drops);
	t = add_sat(t, p->lost.pending_full);
	t = add_sat(t, p->lost.gc_unmatched);
	t = add_sat(t, p->lost.gc_bad_generation);
	t = add_sat(t, p->lost.probes_failed);
	return t;
}

const char *proc_state_name(enum proc_state s)
{
	switch (s) {
	case PROC_RUNNING:
		return "running";
	case PROC_EXITED:
		return "exited";
	case PROC_EXECED:
		return "exec";
	case PROC_DETACHED:
		return "detached";
	}
	return "unknown";
}
