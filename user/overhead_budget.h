/* --max-overhead: ending a trace whose probes cost the traced processes too
 * much of their CPU.
 *
 * The caller passes, about once a second, two cumulative figures: what the
 * probes have cost the traced processes so far (trap_cost.h: hits times
 * their measured cost, a lower bound) and the CPU time those processes used
 * while traced.  Over each window of at least a second, the share is the
 * first's growth over the second's; the budget is exceeded once a share
 * reaches `pct` percent.  A window in which the processes used less than
 * MIN_CPU_S of CPU decides nothing (an idle target's ticks are too coarse
 * to divide by: /proc counts CPU in 10 ms ticks).  Pure arithmetic, no I/O.
 */
#ifndef PMT_OVERHEAD_BUDGET_H
#define PMT_OVERHEAD_BUDGET_H

#include <stdbool.h>

#define OVERHEAD_BUDGET_WINDOW_S  1.0
#define OVERHEAD_BUDGET_MIN_CPU_S 0.05

struct overhead_budget {
	unsigned pct;             /* 1..100; 0: no budget */
	bool primed;              /* a first check set the window's start */
	double t, cost_s, cpu_s;  /* the window's start */
	bool exceeded;
	double share;             /* the window that exceeded it: cost / CPU, 0..1 */
	double window_s;          /* its length: a second or more */
	double at_s;              /* its end, in the caller's clock */
};

/* Returns true exactly once: at the check that first finds a window over
 * the budget (then exceeded, share and at_s say which). */
bool overhead_budget__check(struct overhead_budget *b, double now_s, double cost_s, double cpu_s);

#endif
