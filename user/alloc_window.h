/* When --sample-window opens its windows: a window of window_ms every
 * period_ms on average, each gap drawn uniformly from [period/2, 3 period/2)
 * so that windows do not all land in the same phase of a periodic workload.
 * It only computes times; opening and closing is attach.h's job. */
#ifndef PMT_ALLOC_WINDOW_H
#define PMT_ALLOC_WINDOW_H

#include <stdint.h>

struct window_clock {
	double window_s, period_s;
	double next_open;         /* seconds, on the caller's clock */
	uint64_t rng;             /* xorshift64 state, never 0 */
};

/* The first window opens one jittered gap after now.  seed: anything (0 is
 * replaced). */
void window_clock__init(struct window_clock *c, unsigned window_ms, unsigned period_ms,
			double now, uint64_t seed);
/* A window opened at `opened`: schedules the next one, returns its time.  A
 * gap is never shorter than the window itself. */
double window_clock__next(struct window_clock *c, double opened);
/* The gap drawn for a uniform u in [0, 1): period * (0.5 + u), at least the
 * window (exposed for the unit test). */
double window_clock__gap(const struct window_clock *c, double u);

#endif
