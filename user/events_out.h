/* The --events writer: ring-buffer records (struct pmt_event) to JSON lines.
 *
 * One line per event, one JSON object per line, keys in this order:
 *   {"t_ns":N,"type":"...","pid":N,"tid":N, ...fields of the type...}
 * t_ns is nanoseconds since the start of the trace (CLOCK_MONOTONIC, the
 * clock of bpf_ktime_get_ns).  Addresses are strings "0x..." (hex); lengths,
 * byte counts and results are integers.  README.md ("Event stream") lists
 * every type's fields.
 *
 * Ordering: the ring buffer holds records in the order they were reserved,
 * from every CPU; timestamps are taken right after the reservation, so two
 * CPUs can still swap neighbours by a few microseconds.  The writer keeps
 * each event for EVENTS_REORDER_NS after its timestamp and writes them in
 * timestamp order (ties in arrival order), so lines are non-decreasing in
 * t_ns.  An event that reaches the writer after a later one was written (its
 * program was held up between reservation and timestamp for longer than
 * that) is still written, where it arrives, and counted as `late`.
 *
 * Lifecycle: events_out__open -> events_out__add (from the ring-buffer
 * callback) and events_out__drain (after each poll) -> events_out__close ->
 * events_out__free.  The writer never fails the trace: a write error is
 * remembered, writing stops, and events_out__close returns it.
 */
#ifndef PMT_EVENTS_OUT_H
#define PMT_EVENTS_OUT_H

#include <stddef.h>
#include <stdint.h>
#include "pymemtrace.h"

#define EVENTS_REORDER_NS 10000000ULL   /* 10 ms */

struct events_out;

struct events_out_stats {
	uint64_t written;                 /* lines written (or buffered for writing) */
	uint64_t by_type[PMT_EV_TYPES];   /* of those, by enum pmt_event_type */
	uint64_t late;                    /* written after a later event (see above) */
	uint64_t bad_records;             /* records too short or of no known type: skipped */
	int error;                        /* first write error: 0 or -errno */
};

/* Opens path for writing ("-" is a copy of stdout, with its own buffer);
 * t0_ns is the trace's start on CLOCK_MONOTONIC.  NULL with the reason in
 * err (and errno set). */
struct events_out *events_out__open(const char *path, uint64_t t0_ns, char *err, size_t errlen);

/* Takes one ring-buffer record.  Never fails: records of a wrong size or an
 * unknown type are counted in bad_records. */
void events_out__add(struct events_out *eo, const void *data, size_t len);

/* Writes the events older than now_ns - EVENTS_REORDER_NS (now_ns on
 * CLOCK_MONOTONIC), and flushes the file at most every 100 ms. */
void events_out__drain(struct events_out *eo, uint64_t now_ns);

/* Writes every event still held and closes the file.  0 or the first write
 * error (-errno).  The stats stay readable until events_out__free. */
int events_out__close(struct events_out *eo);

void events_out__stats(const struct events_out *eo, struct events_out_stats *st);
const char *events_out__path(const struct events_out *eo);

/* NULL is a no-op; closes the file first if events_out__close was not called. */
void events_out__free(struct events_out *eo);

/* The line for one event, without the newline, into buf (NUL-terminated).
 * Returns its length, or 0 for an unknown type or a buffer under
 * EVENTS_LINE_MAX bytes. */
#define EVENTS_LINE_MAX 512
size_t events_out__format(const struct pmt_event *e, uint64_t t0_ns, char *buf, size_t cap);

/* "gc", "mmap", ... for a type, or NULL. */
const char *events_out__type_name(uint32_t type);

#endif
