/* --gc-budget: when the GC probes are armed (gc_budget.h). */
#include <string.h>
#include "gc_budget.h"

/* Times compare with this slack: a caller stepping every 100 ms must not
 * lose a step to 0.1 + 0.2 != 0.3. */
#define EPS_S 1e-6

void gc_budget__init(struct gc_budget *b, double pct, double charge, double window_s,
		     double now)
{
	memset(b, 0, sizeof(*b));
	b->pct = pct;
	b->charge = charge > 0 ? charge : 1;
	b->window_s = window_s;
	b->mode = GC_BUDGET_ALL;
	b->armed = true;
	b->duty = 1;
	b->t = now;
}

double gc_budget__duty(double pct, double share_all)
{
	double d = share_all > 0 ? pct / 100 / share_all : 1;

	if (d > 1)
		return 1;
	return d < GC_BUDGET_MIN_DUTY ? GC_BUDGET_MIN_DUTY : d;
}

/* The gap after a window that keeps the armed fraction at the duty. */
static double gap_s(const struct gc_budget *b)
{
	return b->window_s * (1 / b->duty - 1);
}

static void restart_span(struct gc_budget *b, double now, double cost_s, double cpu_s)
{
	b->primed = true;
	b->t = now;
	b->cost_s = cost_s;
	b->cpu_s = cpu_s;
}

static enum gc_budget_action step_all(struct gc_budget *b, double now, double cost_s,
				      double cpu_s)
{
	double share;

	if (!b->primed) {
		restart_span(b, now, cost_s, cpu_s);
		return GC_BUDGET_NONE;
	}
	if (now - b->t < GC_BUDGET_SPAN_S - EPS_S)
		return GC_BUDGET_NONE;
	if (cpu_s - b->cpu_s < GC_BUDGET_MIN_CPU_S) {
		/* an idle second decides nothing, and is not carried over */
		restart_span(b, now, cost_s, cpu_s);
		return GC_BUDGET_NONE;
	}
	share = (cost_s - b->cost_s) / (cpu_s - b->cpu_s);
	restart_span(b, now, cost_s, cpu_s);
	if (share * 100 <= b->pct)
		return GC_BUDGET_NONE;
	b->mode = GC_BUDGET_SAMPLED;
	b->share_all = share;
	b->trigger_share = share;
	b->duty = gc_budget__duty(b->pct, share);
	b->armed = false;
	b->span_t = now;
	b->span_cpu_s = cpu_s;
	b->next_arm = now + gap_s(b);
	b->to_sampled++;
	if (!b->first_sampled_at)
		b->first_sampled_at = now;
	return GC_BUDGET_DISARM;
}

/* A window ends: what timing all would have cost, from its collections. */
static enum gc_budget_action end_window(struct gc_budget *b, double now, double cost_s,
					double cpu_s)
{
	double wall = now - b->armed_at, span = now - b->span_t, cpu = cpu_s - b->span_cpu_s;
	double cost = cost_s - b->armed_cost_s;

	b->windows++;
	b->windows_s += wall;
	if (cost <= 0)
		b->share_all = 0;   /* no collection in the window */
	else if (wall > 0 && span > 0 && cpu >= GC_BUDGET_MIN_CPU_S)
		b->share_all = (cost / wall) / (cpu / span);
	/* else: too little CPU to divide by, the last estimate stands */
	if (b->share_all * 100 < b->pct / 2) {
		b->mode = GC_BUDGET_ALL;
		b->duty = 1;
		restart_span(b, now, cost_s, cpu_s);
		return GC_BUDGET_NONE;  /* stays armed */
	}
	b->duty = gc_budget__duty(b->pct, b->share_all);
	b->span_t = now;
	b->span_cpu_s = cpu_s;
	if (b->duty >= 1) {
		/* Within the budget but not under half of it: the next window
		 * starts now.  A disarm here would buy no gap, only an edge that
		 * cuts collections and links taken out and put back. */
		b->armed_at = now;
		b->armed_cost_s = cost_s;
		return GC_BUDGET_NONE;
	}
	b->armed = false;
	b->next_arm = now + gap_s(b);
	return GC_BUDGET_DISARM;
}

enum gc_budget_action gc_budget__step(struct gc_budget *b, double now, double cost_s,
				      double cpu_s)
{
	if (b->pct <= 0)
		return GC_BUDGET_NONE;
	cost_s *= b->charge;
	if (b->mode == GC_BUDGET_ALL)
		return step_all(b, now, cost_s, cpu_s);
	if (b->armed) {
		if (now - b->armed_at < b->window_s - EPS_S)
			return GC_BUDGET_NONE;
		return end_window(b, now, cost_s, cpu_s);
	}
	if (now < b->next_arm - EPS_S)
		return GC_BUDGET_NONE;
	b->armed = true;
	b->armed_at = now;
	b->armed_cost_s = cost_s;
	return GC_BUDGET_ARM;
}

double gc_budget__next(const struct gc_budget *b, double now)
{
	if (b->pct <= 0 || b->mode == GC_BUDGET_ALL)
		return now + GC_BUDGET_SPAN_S;
	return b->armed ? b->armed_at + b->window_s : b->next_arm;
}
