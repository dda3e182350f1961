/* Names for the Python stacks of one traced process.
 *
 * The BPF side stores each distinct Python stack once, as (code object,
 * instruction offset) pairs, in the `pystacks` map.  pynames__update() names
 * the new ones through pysym (reading the target read-only) and keeps the
 * names, so a report can still show them after the process has exited: call
 * it regularly while the process runs, and pynames__name_one() for each stack
 * the BPF side announces.
 */
#ifndef PMT_PYNAMES_H
#define PMT_PYNAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "report.h"

struct interp;
struct pynames;

/* NULL with errno set when the interpreter has no layout (pysym__new). */
struct pynames *pynames__new(struct interp *in);
void pynames__free(struct pynames *pn);            /* NULL is a no-op */

/* Names every stack of pid in the pystacks map (fd) not named yet.
 * Returns how many were named. */
unsigned pynames__update(struct pynames *pn, int pystacks_fd, pid_t pid);

/* Names one stack of pid, `hash`, if it is in the map and not named yet:
 * called as soon as the BPF side announces a new stack (PMT_EV_PYSTACK),
 * while short-lived code objects still exist.  true if it named it. */
bool pynames__name_one(struct pynames *pn, int pystacks_fd, pid_t pid, uint64_t hash);

/* Copies the named frames of stack `hash` into out->python / n_python
 * (malloc'ed, innermost first) and sets out->truncated if the stack was cut.
 * false when the stack is unknown. */
bool pynames__get(struct pynames *pn, uint64_t hash, struct alloc_stack *out);

/* Records stack `hash` as one frame that cannot be named ("?"): a stack
 * whose process was gone before it was named.  Counted once, like any
 * unnamed frame; later reports show the same placeholder. */
void pynames__mark_unnamed(struct pynames *pn, uint64_t hash);

/* Frames that could not be named (code object gone or unreadable) over all
 * the stacks named so far, each counted once: it only grows, as a
 * Prometheus counter must. */
uint64_t pynames__unresolved(const struct pynames *pn);

#endif
