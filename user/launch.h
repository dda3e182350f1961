/* Starting `pymemtrace -- CMD ARGS` so that it is traced from its first
 * Python instruction.
 *
 * launch__fork() resolves the program the kernel will really run (PATH
 * search, one level of "#!" including "#!/usr/bin/env NAME") and its ELF
 * entry point, then forks a child that waits on a pipe before it execs.  The
 * caller attaches a hold probe at that entry point for the child's pid and
 * calls launch__exec(); the child execs, the dynamic loader maps libpython,
 * the hold probe stops the child at _start, launch__wait_held() sees the stop,
 * the caller attaches everything and calls launch__resume().
 *
 * If pymemtrace dies before launch__exec(), the child sees EOF on the pipe
 * and exits without running CMD.
 */
#ifndef PMT_LAUNCH_H
#define PMT_LAUNCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct launch {
	pid_t pid;
	char exec_path[PATH_MAX];   /* what execv() is given */
	char image_path[PATH_MAX];  /* the ELF the kernel loads (the #! interpreter for scripts) */
	uint64_t entry_offset;      /* file offset of the image's entry point */
	int gate_fd;                /* write end: a byte lets the child exec */
	int err_fd;                 /* read end: the child's execv errno, EOF on success */
};

/* 0, or -errno with the reason in err (-ENOENT: command not found). */
int launch__fork(char **cmd, struct launch *l, char *err, size_t errlen);
/* Lets the child exec.  0, or -errno of the failed execv (reason in err). */
int launch__exec(struct launch *l, char *err, size_t errlen);
/* Waits up to timeout_ms for the child to stop at its entry point.  0 when
 * stopped; -ETIMEDOUT; -ECHILD if it exited (then *status is its wait status). */
int launch__wait_held(struct launch *l, int timeout_ms, int *status);
/* Lets a held child run on. */
void launch__resume(struct launch *l);
/* Kills a child that must not run (e.g. it does not run CPython). */
void launch__abort(struct launch *l);

#endif
