"""GC-heavy: reference cycles only the collector can free, with automatic
collection on.  Prints LOOP_SECONDS, the wall and CPU time of the main loop alone."""
import os
import sys
import time

from _rounds import rounds

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 120

# tools/bench sets BENCH_GATE: "start" waits for a line on stdin before the
# loop (a tracer attaching by pid is ready then), "end" waits after
# LOOP_SECONDS (the bench reads the tracer's BPF statistics before it detaches).
GATE = os.environ.get("BENCH_GATE", "")


class Node:
    __slots__ = ("other", "data")


def main():
    if "start" in GATE:
        sys.stdin.readline()
    t0, c0 = time.perf_counter(), time.process_time()
    for r in rounds(ROUNDS):
        for i in range(10000):
            a = Node()
            b = Node()
            a.other, b.other = b, a
            a.data = b.data = i
    t1, c1 = time.perf_counter(), time.process_time()
    print("LOOP_SECONDS %.6f %.6f" % (t1 - t0, c1 - c0))
    if "end" in GATE:
        sys.stdout.flush()
        sys.stdin.readline()


main()
