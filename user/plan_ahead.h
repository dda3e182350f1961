/* Plans for the -p targets, built on a thread of their own while the BPF
 * object loads (--alloc), or all at once before any is attached.
 *
 * Planning a target (plan.h) reads its ELF files and, on an LTO build such
 * as Debian's python3.11, decodes the whole interpreter text for inlined
 * allocator sites: about 0.3 s of user-space CPU.  Loading the BPF object
 * is about 0.4 s in the kernel's verifier, then the start-up measure of a
 * probe hit's cost.  Neither needs the other, so the plans of the targets
 * named at start-up are built meanwhile, on the other core, and taken when
 * each target is added: attach comes that much sooner.  Planning only
 * reads (the target's files, /proc, its memory with process_vm_readv), as
 * plan__build would a moment later; a plan taken is plan__build's result
 * from those few hundred ms earlier, error included, except that its copy
 * of the interpreter file was dropped once it was made (so that N targets
 * do not hold N copies at once): the taker reads it again with
 * interp__recheck_image, which also finds a target that exec'd since.
 */
#ifndef PMT_PLAN_AHEAD_H
#define PMT_PLAN_AHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "plan.h"

struct plan_ahead;

/* Starts planning pids[0..n) with opts (copied; opts->no_multi_why must
 * outlive the plan_ahead).  NULL when n is 0 or no thread could be made:
 * the caller then plans each target itself. */
struct plan_ahead *plan_ahead__start(const pid_t *pids, unsigned n, const struct plan_opts *opts);

/* If pid was planned ahead with the same opts and not taken yet: waits for
 * the planning, moves the plan into *p (plan__move) and returns true, with
 * plan__build's return value in *ret and its reason in err.  Otherwise
 * false, and the caller plans it itself. */
bool plan_ahead__take(struct plan_ahead *pa, pid_t pid, const struct plan_opts *opts,
		      struct plan *p, int *ret, char *err, size_t errlen);

/* Waits for the planning; returns the first failed plan's plan__build
 * value, in the order of pids, with its reason in err; 0 if every target
 * planned (NULL pa: nothing was planned, 0).  Lets a bad target among
 * several fail the start before any is probed. */
int plan_ahead__first_error(struct plan_ahead *pa, char *err, size_t errlen);

/* Waits for the planning and releases the plans not taken. */
void plan_ahead__free(struct plan_ahead *pa);

#endif
