/* Checks made before anything is loaded, so that a missing privilege or
 * kernel feature is reported by name instead of as a libbpf error code. */
#ifndef PMT_PREFLIGHT_H
#define PMT_PREFLIGHT_H

#include <stddef.h>

/* 0, or -EPERM with the missing capabilities named in err.  pymemtrace needs
 * CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load and attach, and
 * CAP_SYS_PTRACE to read other processes' maps, files and memory. */
int preflight_privileges(char *err, size_t errlen);

/* 0, or -ENOENT/-EOPNOTSUPP with the reason in err: kernel BTF (at
 * $PYMEMTRACE_BTF_PATH or /sys/kernel/btf/vmlinux), the uprobe PMU, and
 * BPF cookies for uprobe programs (Linux 5.15+; loads a probe program). */
int preflight_kernel(char *err, size_t errlen);

/* The BTF file to check and to hand libbpf, or NULL for the default. */
const char *preflight_btf_override(void);

#endif
