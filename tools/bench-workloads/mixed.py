"""Mixed: a growing cache (arenas), cycles (GC), anonymous buffers (mmap)
and string work.  Prints LOOP_SECONDS, the wall and CPU time of the main loop alone."""
import mmap
import os
import sys
import time

from _rounds import rounds

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40

# tools/bench sets BENCH_GATE: "start" waits for a line on stdin before the
# loop (a tracer attaching by pid is ready then), "end" waits after
# LOOP_SECONDS (the bench reads the tracer's BPF statistics before it detaches).
GATE = os.environ.get("BENCH_GATE", "")


class Req:
    def __init__(self, n):
        self.n = n
        self.me = self


def main():
    if "start" in GATE:
        sys.stdin.readline()
    t0, c0 = time.perf_counter(), time.process_time()
    total = 0
    for r in rounds(ROUNDS):
        cache = {i: ("v%d" % i, i * 2) for i in range(30000)}
        reqs = [Req(i) for i in range(5000)]
        m = mmap.mmap(-1, 8 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        for off in range(0, 8 << 20, mmap.PAGESIZE):
            m[off] = 1
        m.close()
        total += len(cache) + len(reqs)
        del cache, reqs
    t1, c1 = time.perf_counter(), time.process_time()
    print("LOOP_SECONDS %.6f %.6f" % (t1 - t0, c1 - c0))
    if "end" in GATE:
        sys.stdout.flush()
        sys.stdin.readline()
    print("check %d" % total)


main()
