"""A small "service" for the pymemtrace demo: about 5 seconds of work that
exercises the garbage collector (reference cycles), pymalloc arenas (a cache
that grows and is dropped) and mmap (anonymous buffers).  Stdlib only.

    python3 tools/demo.py [SECONDS]
"""
import gc
import mmap
import os
import sys
import time


class Session:
    def __init__(self, sid):
        self.sid = sid
        self.peer = None
        self.payload = [sid] * 8


def handle_requests(n, base):
    # Each pair of sessions points at each other: only the cycle collector
    # can free them.
    for i in range(n):
        a, b = Session(base + i), Session(base + i + 1)
        a.peer, b.peer = b, a


def fill_cache(n):
    # Many small objects: pymalloc takes fresh arenas for them.
    return {i: (i, str(i), [i]) for i in range(n)}


def buffer_burst(mib):
    m = mmap.mmap(-1, mib << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for off in range(0, mib << 20, mmap.PAGESIZE):
        m[off] = 1
    m.close()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    print("demo: pid %d, running for %.0f s" % (os.getpid(), seconds),
          flush=True)
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        handle_requests(5000, tick * 10000)
        cache = fill_cache(60000 if tick % 4 == 0 else 5000)
        buffer_burst(16)
        if tick % 5 == 4:
            gc.collect()            # an explicit full collection now and then
        del cache
        tick += 1
        time.sleep(0.1)
    print("demo: %d ticks, gc counts %s" % (tick, gc.get_count()), flush=True)


if __name__ == "__main__":
    main()
