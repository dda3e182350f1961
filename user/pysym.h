/* Python frames to file, function and line: code objects read out of the
 * traced process.
 *
 * The BPF walker (bpf/pystack.bpf.h) records (code object address, byte
 * offset) per frame.  pysym reads the code object from the target, read-only
 * (remote_read), and decodes co_filename, co_qualname (3.11+) or co_name, and
 * the line of the offset from the line table (user/linetable.h).
 *
 * Code objects are cached by address.  An address can be reused by a new code
 * object once the old one is freed, so each lookup re-reads the object's
 * header and compares a checksum of (argcount, flags, firstlineno, filename,
 * name, qualname and line table pointers) with the cached one; a mismatch, or
 * an object that is no longer a code object, drops the entry and reads again.
 *
 * The target is hostile: strings are bounded (PYSYM_MAX_STR characters),
 * tables too (PYSYM_MAX_TABLE bytes), invalid code points become U+FFFD.
 */
#ifndef PMT_PYSYM_H
#define PMT_PYSYM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "pyoffsets.h"
#include "report.h"

#define PYSYM_MAX_STR   4096      /* characters kept of a name; longer ones end in "..." */
#define PYSYM_MAX_TABLE (1 << 20) /* bytes of line table read at most */

struct interp;
struct pysym;                       /* per-process cache of code-object lookups */

/* Reads exactly len bytes of the target at addr: 0 or -errno. */
typedef int (*pysym_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

/* For the process of `in`, reading with remote_read().  NULL with errno set
 * (ENOTSUP: no layout for this interpreter, see pyoffsets__layout; ENOMEM). */
struct pysym *pysym__new(struct interp *in);

/* With any reader and layout (tests use a fake target).  l->code_type 0 skips
 * the type check. */
struct pysym *pysym__new_reader(const struct py_layout *l, pysym_read_fn read, void *ctx);

/* Fills file/function/line (malloc'ed strings the caller frees).  0 or
 * -errno: -EFAULT/-ESRCH... when the code object cannot be read,
 * -EINVAL when it is not a code object, -ENOMEM.  Unreadable names give "?",
 * an offset without a line gives line -1. */
int pysym__frame(struct pysym *ps, __u64 code, __u32 offset, struct py_frame_info *out);

struct pysym_stats {
	uint64_t hits;            /* answered from the cache, checksum unchanged */
	uint64_t misses;          /* read because the address was not cached */
	uint64_t stale;           /* cached address now holds another object: re-read */
};
void pysym__stats(const struct pysym *ps, struct pysym_stats *out);

/* Starts a naming round.  Within a round each cached code object's header
 * is compared once; without rounds, at every lookup.  A round should be
 * short (one pass over newly recorded stacks): an address reused within it
 * keeps the old name, as it would between two lookups anyway. */
void pysym__new_round(struct pysym *ps);

void pysym__free(struct pysym *ps);                  /* NULL is a no-op */

#endif
