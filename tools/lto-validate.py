#!/usr/bin/python3
"""Checks lto_sites' probe points on a live interpreter with gdb (read-only).

usage: lto-validate.py PYTHON [N]

Runs PYTHON on a workload that makes N bytes objects (bytes(10) through
PyObject_Calloc, int.to_bytes(20) through PyObject_Malloc), keeps them, then
frees them.  gdb attaches to that process only (never pid -1), puts
breakpoints at every probe that `pmt-test-tool lto-sites` computed (and a
finish breakpoint on allocate_from_new_pool), reads the registers the scan
names, and detaches.  With a file that has no inlined sites (pyenv), it counts
_PyObject_Malloc and _PyObject_Calloc calls instead: the baseline.
Prints key: value lines; exits 1 when a check fails.
"""
import json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.environ.get("PMT_TEST_TOOL", os.path.join(ROOT, "build", "pmt-test-tool"))

WORKLOAD = r'''
import os, signal, sys, time
signal.signal(signal.SIGUSR1, lambda *a: None)
n, out, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.05)
keep = [None] * (2 * n)
os.kill(os.getpid(), signal.SIGUSR1)
for i in range(n):
    keep[2 * i] = bytes(10)
    keep[2 * i + 1] = i.to_bytes(20, "little")
os.kill(os.getpid(), signal.SIGUSR1)
with open(out, "w") as f:
    f.write("\n".join("%x %d" % (id(b), len(b)) for b in keep))
os.kill(os.getpid(), signal.SIGUSR1)
for i in range(2 * n):
    keep[i] = None
os.kill(os.getpid(), signal.SIGUSR1)
'''

GDB_PY = r'''
import gdb, json
cfg = json.load(open(CFG))
phase = [0]
seen = {"alloc": [], "free": [], "bad": [], "hits": {}}
def reg(name):
    # frame 0 of the thread that stopped: a selected outer frame would
    # show callee-saved registers as unwound, not as they are
    return int(gdb.newest_frame().read_register(name)) & 0xffffffffffffffff
def u32(addr):
    return int.from_bytes(bytes(gdb.selected_inferior().read_memory(addr, 4)), "little")
class Probe(gdb.Breakpoint):
    def __init__(self, p):
        super().__init__("*0x%x" % p["vaddr"], internal=True)
        self.p = p
    def stop(self):
        try:
            self.count()
        except Exception as e:
            seen["bad"].append("gdb: %s at 0x%x" % (e, self.p["vaddr"]))
        return False
    def count(self):
        p = self.p
        if phase[0] not in (1, 3):
            return False
        seen["hits"][p["role"]] = seen["hits"].get(p["role"], 0) + 1
        if p["role"] in ("block", "large-ret"):
            v = reg(p["reg"])
            if p["role"] == "block":
                if v % 16:
                    seen["bad"].append("block 0x%x at 0x%x not 16-aligned" % (v, p["vaddr"]))
                pool = v & ~(cfg["pool"] - 1)
                if p["reg2"] and reg(p["reg2"]) != pool:
                    seen["bad"].append("pool reg %s=0x%x != 0x%x (block %s=0x%x)" % (p["reg2"], reg(p["reg2"]), pool, p["reg"], v))
                cls = u32(pool + 0x24)
                if cls > 31:
                    seen["bad"].append("szidx %d at 0x%x" % (cls, pool))
                seen["alloc"].append((v, cls))
            elif v:
                seen["alloc"].append((v, -1))
        elif p["role"] == "free-check":
            if p["reg2"] and reg(p["reg2"]) != p["expect"]:
                return False
            seen["free"].append(reg(p["reg"]))
        elif p["role"] == "count":
            seen["alloc"].append((0, -2))
        return False
class NewPoolRet(gdb.Breakpoint):
    """After a call to allocate_from_new_pool: rax is the block (what a
    uretprobe on it sees)."""
    def stop(self):
        try:
            v = reg("rax")
            if v and phase[0] in (1, 3):
                seen["hits"]["newpool-ret"] = seen["hits"].get("newpool-ret", 0) + 1
                seen["alloc"].append((v, u32((v & ~(cfg["pool"] - 1)) + 0x24)))
        except Exception as e:
            seen["bad"].append("gdb: %s after a new-pool call" % e)
        return False
for p in cfg["probes"]:
    Probe(p)
for a in cfg.get("newpool_rets", []):
    NewPoolRet("*0x%x" % a, internal=True)
sig = [0]
def on_stop(ev):
    if isinstance(ev, gdb.SignalEvent) and ev.stop_signal == "SIGUSR1":
        sig[0] += 1
gdb.events.stop.connect(on_stop)
gdb.execute("handle SIGUSR1 stop print pass")
for ph in range(4):
    want = sig[0] + 1
    for _ in range(100):
        gdb.execute("continue")
        if sig[0] >= want:
            break
    phase[0] = ph + 1
json.dump(seen, open(OUT, "w"))
gdb.execute("detach")
'''

def scan(path):
    r = subprocess.run([TOOL, "lto-sites", path], capture_output=True, text=True)
    if r.returncode:
        return None
    probes = []
    info = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if f and f[0] == "site" and "handled=1" in f:
            expect = int(f[1], 16)
            for pr in f[7][len("probes="):].split(","):
                role, rest = pr.split("@")
                addr, regs, _ = rest.split(":")
                r1, _, r2 = regs.partition("/")
                if role in ("block", "large-ret", "free-check"):
                    probes.append({"role": role, "vaddr": int(addr, 16), "reg": r1,
                                   "reg2": r2, "expect": 0})
        elif ": " in line:
            k, v = line.split(": ", 1)
            info[k] = v
    for p in probes:
        if p["role"] == "free-check" and p["reg2"]:
            p["expect"] = int(info["hook_free"], 16)
    return probes, info

def calls_returns(path, fn):
    """Return addresses of every direct call to fn (objdump, for the check only)."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path],
                         capture_output=True, text=True).stdout.splitlines()
    rets, pat = [], "call   %x " % fn
    for i, l in enumerate(out[:-1]):
        if pat in l + " ":
            nxt = out[i + 1].split(":")[0].strip()
            rets.append(int(nxt, 16))
    return rets

def symtab_addr(path, name):
    out = subprocess.run(["readelf", "-sW", path], capture_output=True, text=True).stdout
    for l in out.splitlines():
        f = l.split()
        if len(f) >= 8 and f[7] == name and f[6] != "UND":
            return int(f[1], 16)
    return None

def interp_file(py):
    pre = os.path.dirname(os.path.dirname(py))
    v = subprocess.run([py, "-c", "import sys;print('%d.%d'%sys.version_info[:2])"],
                       capture_output=True, text=True).stdout.strip()
    lib = os.path.join(pre, "lib", "libpython%s.so.1.0" % v)
    return lib if os.path.exists(lib) else os.path.realpath(py)

def main():
    py, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    path = interp_file(py)
    tmp = tempfile.mkdtemp(prefix="lto-validate.")
    cfg = {"pool": 0x4000, "probes": [], "newpool": 0}
    s = scan(path)
    if s and s[0]:
        cfg["probes"], info = s
        cfg["newpool_rets"] = calls_returns(path, int(info["new_pool_fn"], 16))
        cfg["pool"] = int(info["pool_size"], 16)
        mode = "sites"
    else:
        # the baseline: one count per call of the real allocator functions
        for name in ("_PyObject_Malloc", "_PyObject_Calloc"):
            a = symtab_addr(path, name)
            if a is None:
                sys.exit("no %s in %s" % (name, path))
            cfg["probes"].append({"role": "count", "vaddr": a, "reg": "", "reg2": "", "expect": 0})
        mode = "baseline"
    bias = 0
    wl = os.path.join(tmp, "w.py")
    open(wl, "w").write(WORKLOAD)
    ids, go = os.path.join(tmp, "ids"), os.path.join(tmp, "go")
    proc = subprocess.Popen([py, wl, str(n), ids, go])
    try:
        if path.endswith(".so.1.0"):
            # the library is mapped a moment after the exec
            for _ in range(200):
                for l in open("/proc/%d/maps" % proc.pid):
                    if l.rstrip().endswith(path) and " 00000000 " in l:
                        bias = int(l.split("-")[0], 16)
                        break
                if bias:
                    break
                time.sleep(0.05)
            if not bias:
                sys.exit("%s is not mapped by pid %d" % (path, proc.pid))
            for p in cfg["probes"]:
                p["vaddr"] += bias
        json.dump(cfg, open(os.path.join(tmp, "cfg.json"), "w"))
        script = os.path.join(tmp, "g.py")
        open(script, "w").write("CFG=%r\nOUT=%r\n" % (os.path.join(tmp, "cfg.json"),
                                os.path.join(tmp, "seen.json")) + GDB_PY)
        g = subprocess.Popen(["gdb", "-nx", "-batch", "-p", str(proc.pid), "-x", script],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # gdb has attached and set its breakpoints once the target is traced
        for _ in range(600):
            st = open("/proc/%d/status" % proc.pid).read()
            if "TracerPid:\t0" not in st:
                break
            time.sleep(0.05)
        time.sleep(3)
        open(go, "w").close()
        _, gerr = g.communicate(timeout=300)
        rc = proc.wait(timeout=60)
        if rc:
            print("target: exit status %d" % rc, file=sys.stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
    if not os.path.exists(os.path.join(tmp, "seen.json")):
        sys.exit("gdb failed:\n" + gerr[-2000:])
    seen = json.load(open(os.path.join(tmp, "seen.json")))
    allocs = seen["alloc"]
    print("mode: %s" % mode)
    print("file: %s" % path)
    print("probes: %d" % len(cfg["probes"]))
    print("allocations_seen: %d" % len(allocs))
    print("hits: %s" % json.dumps(seen["hits"], sort_keys=True))
    if mode == "baseline":
        return 0
    want = {}
    for l in open(ids):
        a, ln = l.split()
        want[int(a, 16)] = int(ln)
    got = {a: c for a, c in allocs}
    missing = [a for a in want if a not in got]
    badcls = [a for a, ln in want.items() if a in got and got[a] != -1 and
              got[a] != (33 + ln - 1) // 16]
    freed = set(seen["free"])
    unfreed = [a for a in want if a not in freed]
    print("objects: %d" % len(want))
    print("objects_missing: %d" % len(missing))
    print("objects_bad_class: %d" % len(badcls))
    print("objects_not_freed: %d" % len(unfreed))
    print("bad: %d %s" % (len(seen["bad"]), "; ".join(seen["bad"][:3])))
    return 1 if missing or badcls or unfreed or seen["bad"] else 0

sys.exit(main())
