"""Allocation-heavy: many short-lived small objects (tuples, dicts, lists,
strings).  Prints LOOP_SECONDS, the time of the main loop alone."""
import sys
import time

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40


def main():
    t0 = time.perf_counter()
    keep = 0
    for r in range(ROUNDS):
        items = [(i, str(i), {"k": i}, [i, i + 1]) for i in range(20000)]
        keep += len(items[-1][1])
        del items
    t1 = time.perf_counter()
    print("LOOP_SECONDS %.6f" % (t1 - t0))
    print("check %d" % keep)


main()
