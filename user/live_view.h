/* --live: a top-like terminal view of the interval reports, drawn with
 * ncurses.  Presentation only: everything on the screen comes from a
 * struct report (report.h); rates (bytes/s, collections/s) are the
 * difference between a report and the one drawn before it, over their
 * elapsed time.  Nothing here looks anything up or stops the session: the
 * caller asks live_view__update() and acts on LIVE_QUIT.
 *
 * Lifecycle:
 *   live_view__check()   before attaching: is stdout a usable terminal?
 *   live_view__start()   takes over the terminal (alternate screen)
 *   live_view__update()  once per interval report: keys, then a frame
 *   live_view__stop()    gives the terminal back; every exit path calls it
 *
 * While the view is up, stderr is captured (a memfd) and written to the real
 * stderr by live_view__stop(), so that warnings cannot scribble over the
 * screen and are not lost.  Strings from the target are escaped
 * (units_sanitize) and every row is clipped to the terminal's width: a row
 * never wraps.
 *
 * Keys (read without waiting, at each update, so at most one refresh
 * period late): q quits, s cycles the sort of the stacks, p pauses the
 * numbers (keys and resizing still work).
 */
#ifndef PMT_LIVE_VIEW_H
#define PMT_LIVE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include "report.h"

struct live_view;

struct live_view_opts {
	double refresh_s;         /* the interval between reports, for the header */
	bool alloc;               /* --alloc: stacks by live bytes */
	bool heap_growth;         /* --heap-growth: stacks by heap growth */
	/* Repaint the whole screen at every frame, not only what changed:
	 * for `-- CMD`, whose own output goes to the same terminal. */
	bool full_repaint;
};

enum live_action {
	LIVE_CONTINUE = 0,
	LIVE_QUIT,                /* the user pressed q */
};

/* 0 when stdout is a terminal that terminfo knows; else -ENOTTY or
 * -ENOENT with the reason in err.  Takes nothing over. */
int live_view__check(char *err, size_t errlen);

/* Takes over the terminal on stdout and draws a "waiting for the first
 * report" frame.  NULL with errno and the reason in err on failure (the
 * terminal is then left as it was). */
struct live_view *live_view__start(const struct live_view_opts *o, char *err, size_t errlen);

/* Reads the keys typed since the last call, then draws r (unless paused).
 * LIVE_QUIT when q was pressed.  r may be NULL (keys only). */
enum live_action live_view__update(struct live_view *v, const struct report *r);

/* Restores the terminal, writes what was captured from stderr to the real
 * stderr, and frees v.  Safe on NULL. */
void live_view__stop(struct live_view *v);

#endif
