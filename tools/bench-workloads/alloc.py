"""Allocation-heavy: many short-lived small objects (tuples, dicts, lists,
strings).  Prints LOOP_SECONDS, the wall and CPU time of the main loop alone."""
import os
import sys
import time

from _rounds import rounds

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40

# tools/bench sets BENCH_GATE: "start" waits for a line on stdin before the
# loop (a tracer attaching by pid is ready then), "end" waits after
# LOOP_SECONDS (the bench reads the tracer's BPF statistics before it detaches).
GATE = os.environ.get("BENCH_GATE", "")


def main():
    if "start" in GATE:
        sys.stdin.readline()
    t0, c0 = time.perf_counter(), time.process_time()
    keep = 0
    for r in rounds(ROUNDS):
        items = [(i, str(i), {"k": i}, [i, i + 1]) for i in range(20000)]
        keep += len(items[-1][1])
        del items
    t1, c1 = time.perf_counter(), time.process_time()
    print("LOOP_SECONDS %.6f %.6f" % (t1 - t0, c1 - c0))
    if "end" in GATE:
        sys.stdout.flush()
        sys.stdin.readline()
    print("check %d" % keep)


main()
