/* Watching a target's probed instructions for our breakpoints.
 *
 * A uprobe is an int3 (0xCC) that the kernel writes into the target's
 * private copy of a text page.  Reading the probed bytes back (read-only,
 * remote_mem.h) tells when the breakpoints are in and, at detach, when the
 * target runs free of them: the kernel takes a link's breakpoints out first
 * and only then waits for its grace periods, so "closed" comes later than
 * "free" (README "Attaching and detaching").
 *
 * The kernel refuses to probe an int3, so a probed byte that already holds
 * 0xCC before we attach is someone else's breakpoint (another tracer on the
 * same address): such addresses are left out, not mistaken for ours.
 * Everything read is the target's and is only compared with 0xCC.
 */
#ifndef PMT_BP_WATCH_H
#define PMT_BP_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The file an address was found in, to tell it from a new image's after an exec. */
struct bp_file {
	uint64_t inode;
	unsigned dev_major, dev_minor;
};

struct bp_watch {
	pid_t pid;
	uint64_t *addrs;       /* target addresses of probed instructions */
	struct bp_file *files; /* files[i]: the file mapped at addrs[i] */
	size_t n, cap;
	unsigned others;       /* left out: they held an int3 before we attached */
	unsigned unread;       /* left out: they could not be read before we attached */
};

struct procmaps;

/* Adds the target addresses at which file `path` maps each of offs[0..n)
 * executable in m, process w->pid's maps (every such mapping; none if the
 * file is not mapped).  0 or -errno (-ENOMEM; stat's error for path). */
int bp_watch__add(struct bp_watch *w, const struct procmaps *m, const char *path,
		  const uint64_t *offs, size_t n);

/* Before attaching: drops the addresses that already hold an int3 (counted
 * in w->others) or cannot be read (w->unread). */
void bp_watch__before(struct bp_watch *w);

/* After attaching: keeps only the addresses that now hold an int3, our
 * breakpoints, and returns how many. */
size_t bp_watch__confirm(struct bp_watch *w);

/* Before watching them go: drops the addresses that no longer lie in an
 * executable mapping of their file (an exec the tracer has not handled yet
 * replaced the image: its bytes, int3 padding included, are not ours).
 * Returns true when it dropped some while the process still has memory
 * mapped: the new image may hold breakpoints of the same links that nothing
 * watches.  A process that is gone, or has no mappings left, holds none. */
bool bp_watch__recheck(struct bp_watch *w);

/* How many watched addresses still hold an int3; 0 also when the process
 * is gone (its breakpoints went with it). */
size_t bp_watch__count_in(const struct bp_watch *w);

void bp_watch__release(struct bp_watch *w);

#endif
