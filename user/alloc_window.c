/* The --sample-window schedule: see alloc_window.h. */
#include "alloc_window.h"

static double uniform(struct window_clock *c)
{
	uint64_t x = c->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->rng = x;
	return (double)(x >> 11) / (double)(1ULL << 53);
}

double window_clock__gap(const struct window_clock *c, double u)
{
	double gap = c->period_s * (0.5 + u);

	return gap < c->window_s ? c->window_s : gap;
}

void window_clock__init(struct window_clock *c, unsigned window_ms, unsigned period_ms,
			double now, uint64_t seed)
{
	c->window_s = window_ms / 1000.0;
	c->period_s = period_ms / 1000.0;
	/* splitmix64 of the seed: xorshift's first draws from a small seed
	 * are small too */
	seed += 0x9e3779b97f4a7c15ULL;
	seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ULL;
	seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebULL;
	seed ^= seed >> 31;
	c->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	c->next_open = now + window_clock__gap(c, uniform(c));
}

double window_clock__next(struct window_clock *c, double opened)
{
	c->next_open = opened + window_clock__gap(c, uniform(c));
	return c->next_open;
}
