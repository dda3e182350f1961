"""The workloads' main loop count, shared by tools/bench-workloads/*.py (a
name with a leading underscore: not a workload itself).

rounds(n): range(n), or under BENCH_COUNTER=FILE (tools/bench --cycles)
endless, with the number of rounds done so far published in FILE's first
8 bytes (native-endian unsigned), so that the bench can take the process's
CPU time per round while it traces and untraces one running process."""
import itertools
import mmap
import os
import struct


def rounds(n):
    path = os.environ.get("BENCH_COUNTER")
    if not path:
        return range(n)
    return _counted(path)


def _counted(path):
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), 8)
    for r in itertools.count():
        yield r
        m[0:8] = struct.pack("Q", r + 1)
