/* --gc-budget: when the GC probes are armed.
 *
 * Timing a collection takes two probe hits in the target (the collector's
 * entry and return, or the USDT pair): about 1 us here, which is 1.3-2.9%
 * of a loop that collects 13,600 times a second (tools/bench-notes.md).
 * Under a budget of pct percent of the traced processes' CPU:
 *  - ALL: the GC probes stay armed and every collection is timed.  Over
 *    each span of at least a second in which the processes used at least
 *    MIN_CPU_S of CPU, the GC probes' cost (charge times the measured,
 *    trap_cost.h), over that CPU.  Past the budget: SAMPLED.
 *  - SAMPLED: the probes are armed for window_s at a time.  The armed
 *    fraction (duty) is the budget over what timing every collection would
 *    cost, estimated after each window: the window's GC cost per second of
 *    wall time, over the processes' CPU per second of wall time since the
 *    previous window ended.  The duty is at least GC_BUDGET_MIN_DUTY, so a
 *    sample keeps coming (then the budget is exceeded, and the report says
 *    by how much).  When the estimate falls under half the budget (the
 *    collector calmed down), back to ALL.
 * The caller counts collections from the interpreter (gc_counters.h) once
 * a process has been SAMPLED.  Pure arithmetic, no I/O: the caller arms and
 * disarms.
 */
#ifndef PMT_GC_BUDGET_H
#define PMT_GC_BUDGET_H

#include <stdbool.h>

#define GC_BUDGET_SPAN_S    1.0
#define GC_BUDGET_MIN_CPU_S 0.05
#define GC_BUDGET_MIN_DUTY  0.02

/* What the session charges the budget for a GC probe hit: this times its
 * measured cost (trap_cost.h: the trap and dispatch calibrated at start-up,
 * plus the GC handler's own time).  That measurement is a lower bound: it
 * cannot see what the trap does to the target's own caches and TLB, which
 * a calibration on pymemtrace's small loop does not suffer.  Measured by
 * attach cycles on the bench's GC-heavy loops, timing every collection
 * cost the target 1.9x the measured figure (tools/bench-notes.md, "The
 * budget charges twice the measured cost"), so a budget of pct percent
 * held by the measured figure alone let the target pay about twice pct. */
#define GC_BUDGET_CHARGE    2.0

enum gc_budget_mode { GC_BUDGET_ALL, GC_BUDGET_SAMPLED };
enum gc_budget_action { GC_BUDGET_NONE, GC_BUDGET_DISARM, GC_BUDGET_ARM };

struct gc_budget {
	double pct;               /* the budget, percent; 0: none (ALL forever) */
	double charge;            /* the measured cost is charged this times */
	double window_s;          /* an armed window's length when SAMPLED */
	enum gc_budget_mode mode;
	bool armed;
	/* ALL: the measured span's start */
	bool primed;
	double t, cost_s, cpu_s;
	/* SAMPLED: the current window's start, the span the CPU rate is taken
	 * over (since the previous window ended), and the next window */
	double armed_at, armed_cost_s;
	double span_t, span_cpu_s;
	double next_arm;
	double duty;              /* armed fraction, GC_BUDGET_MIN_DUTY..1 */
	double share_all;         /* what timing every collection costs, 0..1, as
	                           * charged (divide by charge for the measured):
	                           * the figure that decided the last switch or window */
	/* what happened, for the report */
	unsigned windows;         /* SAMPLED windows completed */
	double windows_s;         /* their armed time */
	unsigned to_sampled;      /* switches from ALL to SAMPLED */
	double trigger_share;     /* the share_all that decided the last one */
	double first_sampled_at;  /* the caller's clock at the first one; 0: never */
};

/* Armed, ALL, at now.  charge: what a second of measured probe cost counts
 * as against the budget (GC_BUDGET_CHARGE; 1 charges what is measured). */
void gc_budget__init(struct gc_budget *b, double pct, double charge, double window_s,
		     double now);

/* Given the GC probes' measured cost so far and the traced processes' CPU
 * so far (both cumulative, seconds), what to do now.  The cost is charged
 * here, so that every decision and share_all see the same figure.  The
 * state assumes the caller does it at once. */
enum gc_budget_action gc_budget__step(struct gc_budget *b, double now, double cost_s,
				      double cpu_s);

/* When the next step may act (the caller's loop wakes by then): a window's
 * end or start, or now + GC_BUDGET_SPAN_S. */
double gc_budget__next(const struct gc_budget *b, double now);

/* The armed fraction for a share of what timing all costs (exposed for the
 * unit test): budget / share, within GC_BUDGET_MIN_DUTY..1. */
double gc_budget__duty(double pct, double share_all);

#endif
