/* `pymemtrace census -p PID ...`: a read-only snapshot of a running CPython
 * heap, objects by type (README.md "Heap census").  Needs no BPF: only
 * permission to read the target's memory (process_vm_readv).
 */
#ifndef PMT_CENSUS_CLI_H
#define PMT_CENSUS_CLI_H

/* argv[0] is "census".  Returns the exit code of README "Exit codes". */
int census_main(int argc, char **argv);

#endif
