/* pymemtrace's own version, shared by --version, the JSON report and (later)
 * pymemtrace_build_info. */
#ifndef PMT_VERSION_H
#define PMT_VERSION_H

#define PMT_VERSION "0.1.0"

#endif
