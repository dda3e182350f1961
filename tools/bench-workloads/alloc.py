"""Allocation-heavy: many short-lived small objects (tuples, dicts, lists,
strings).  Prints LOOP_SECONDS, the wall and CPU time of the main loop alone."""
import sys
import time

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40


def main():
    t0, c0 = time.perf_counter(), time.process_time()
    keep = 0
    for r in range(ROUNDS):
        items = [(i, str(i), {"k": i}, [i, i + 1]) for i in range(20000)]
        keep += len(items[-1][1])
        del items
    t1, c1 = time.perf_counter(), time.process_time()
    print("LOOP_SECONDS %.6f %.6f" % (t1 - t0, c1 - c0))
    print("check %d" % keep)


main()
