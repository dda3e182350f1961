/* --max-overhead: see overhead_budget.h. */
#include "overhead_budget.h"

bool overhead_budget__check(struct overhead_budget *b, double now_s, double cost_s, double cpu_s)
{
	double cost, cpu;

	if (!b->pct || b->exceeded)
		return false;
	if (!b->primed) {
		b->primed = true;
		b->t = now_s;
		b->cost_s = cost_s;
		b->cpu_s = cpu_s;
		return false;
	}
	if (now_s - b->t < OVERHEAD_BUDGET_WINDOW_S)
		return false;
	cost = cost_s - b->cost_s;
	cpu = cpu_s - b->cpu_s;
	/* A process leaving the trace takes its CPU along: start afresh. */
	if (cost < 0 || cpu < 0) {
		b->primed = false;
		return false;
	}
	/* Too little CPU to divide by: the window goes on. */
	if (cpu < OVERHEAD_BUDGET_MIN_CPU_S)
		return false;
	b->window_s = now_s - b->t;
	b->t = now_s;
	b->cost_s = cost_s;
	b->cpu_s = cpu_s;
	if (cost < cpu * b->pct / 100.0)
		return false;
	b->exceeded = true;
	b->share = cost / cpu;
	b->at_s = now_s;
	return true;
}
