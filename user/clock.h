/* The one clock for durations the tracer reports (attach, detach, windows):
 * CLOCK_MONOTONIC, which wall-clock changes do not move. */
#ifndef PMT_CLOCK_H
#define PMT_CLOCK_H

#include <time.h>

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
