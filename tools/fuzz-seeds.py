#!/usr/bin/env python3
"""Makes the seed corpora of the libFuzzer harnesses (tests/fuzz/) from the
interpreters present on this machine.  Usage: fuzz-seeds.py OUTDIR

OUTDIR/<harness>/ receives, per interpreter found (Debian's python3.11, the
pyenv 3.8-3.13 builds):
  fuzz_elf        the ELF file cut down by objcopy to its symbol tables and
                  stapsdt notes (real headers, tables, notes; ~100 KiB)
  fuzz_interp     the same cut files (the code itself is too big a seed)
  fuzz_usdt_args  the argument spec of every stapsdt note
  fuzz_x86        the first bytes of the functions interp.c and lto_sites.c
                  analyse, prefixed by their vaddr (the harness's format)
  fuzz_procmaps   /proc/self/maps of the running interpreter
  fuzz_procstat   its /proc/self/stat and /proc/self/status
  fuzz_pyversion  sys.version
  fuzz_linetable  the tables of tests/fixtures/linetables/*.json
  fuzz_pysym      code objects built from those tables (names, lying lengths)
Nothing here is committed: the seeds are made at fuzz time from the files on
the machine.  Small hand-made seeds live in tests/fuzz/seeds/ and are added
too.  Missing interpreters are skipped and said so.
"""
import glob
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The functions whose code the tracer decodes (interp.c, lto_sites.c, plan.c).
X86_FUNCS = ("PyObject_Malloc", "PyObject_Free", "PyObject_Calloc", "PyObject_Realloc",
             "PyObject_GetArenaAllocator", "Py_GetVersion", "_PyObject_Malloc",
             "PyMem_Malloc", "PyGC_Collect", "_PyObject_GC_Malloc", "PyType_GenericAlloc")
X86_WINDOW = 512


def put(outdir, harness, data):
    d = os.path.join(outdir, harness)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def interpreters():
    """(label, executable, ELF file holding the interpreter) for those present."""
    found = []
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(("debian3.11", "/usr/bin/python3.11", "/usr/bin/python3.11"))
    else:
        print("fuzz-seeds: /usr/bin/python3.11 is missing, skipped", file=sys.stderr)
    root = os.environ.get("PYENV_ROOT", "/root/.pyenv")
    for minor in range(8, 14):
        v = "3.%d" % minor
        dirs = sorted(glob.glob(os.path.join(root, "versions", v + ".[0-9]*")))
        dirs = [d for d in dirs if os.path.basename(d).replace(".", "").isdigit()]
        if not dirs:
            print("fuzz-seeds: pyenv %s not installed, skipped" % v, file=sys.stderr)
            continue
        d = dirs[-1]
        lib = os.path.join(d, "lib", "libpython%s.so.1.0" % v)
        exe = os.path.join(d, "bin", "python" + v)
        if os.access(exe, os.X_OK):
            found.append(("py" + v, exe, lib if os.path.exists(lib) else exe))
    return found


class Elf:
    """Just enough ELF64 reading for the seeds: sections, PT_LOADs, symbols."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.b = f.read()
        b = self.b
        if b[:4] != b"\x7fELF" or b[4] != 2 or b[5] != 1:
            raise ValueError("not a little-endian ELF64 file")
        (self.phoff, self.shoff) = struct.unpack_from("<QQ", b, 0x20)
        (self.phnum, _, self.shnum, self.shstrndx) = struct.unpack_from("<HHHH", b, 0x38)
        self.secs = [struct.unpack_from("<IIQQQQIIQQ", b, self.shoff + 64 * i)
                     for i in range(self.shnum)]
        self.loads = []
        for i in range(self.phnum):
            p = struct.unpack_from("<IIQQQQQQ", b, self.phoff + 56 * i)
            if p[0] == 1:       # PT_LOAD: (offset, vaddr, filesz)
                self.loads.append((p[2], p[3], p[5]))

    def symbols(self):
        out = {}
        for s in self.secs:
            if s[1] not in (2, 11):     # SHT_SYMTAB, SHT_DYNSYM
                continue
            strs = self.secs[s[6]]
            for off in range(s[4], s[4] + s[5], 24):
                (name, info, _, shndx, value, size) = struct.unpack_from("<IBBHQQ", self.b, off)
                if shndx == 0 or info & 0xf != 2:   # defined STT_FUNC only
                    continue
                start = strs[4] + name
                end = self.b.index(b"\0", start)
                out.setdefault(self.b[start:end].decode("latin-1"), (value, size))
        return out

    def read_vaddr(self, vaddr, n):
        for (off, va, filesz) in self.loads:
            if va <= vaddr < va + filesz:
                n = min(n, va + filesz - vaddr)
                return self.b[off + vaddr - va:off + vaddr - va + n]
        return b""


def elf_seeds(outdir, path):
    cut = os.path.join(outdir, "cut.elf")
    keep = [".dynsym", ".dynstr", ".note.stapsdt", ".stapsdt.base", ".gnu.hash", ".dynamic"]
    args = ["objcopy"] + ["--only-section=" + s for s in keep] + [path, cut]
    r = subprocess.run(args, stderr=subprocess.DEVNULL)
    if r.returncode == 0:
        with open(cut, "rb") as f:
            data = f.read()
        put(outdir, "fuzz_elf", data)
        put(outdir, "fuzz_interp", data)
        os.unlink(cut)
    else:
        print("fuzz-seeds: objcopy failed on %s" % path, file=sys.stderr)
    # libpython3.so, the stable-ABI stub next to libpython: a small whole file
    stub = os.path.join(os.path.dirname(path), "libpython3.so")
    if os.path.isfile(stub) and os.path.getsize(stub) < (1 << 20):
        with open(stub, "rb") as f:
            put(outdir, "fuzz_elf", f.read())


def usdt_seeds(outdir, path):
    r = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("Arguments:"):
            put(outdir, "fuzz_usdt_args", line[len("Arguments:"):].strip().encode())


def x86_seeds(outdir, path):
    try:
        e = Elf(path)
        syms = e.symbols()
    except (ValueError, struct.error, IndexError) as err:
        print("fuzz-seeds: cannot read %s: %s" % (path, err), file=sys.stderr)
        return
    for fn in X86_FUNCS:
        if fn not in syms:
            continue
        (vaddr, size) = syms[fn]
        code = e.read_vaddr(vaddr, min(size, X86_WINDOW) if size else X86_WINDOW)
        if code:
            put(outdir, "fuzz_x86", struct.pack("<Q", vaddr) + code)


PROBE = r'''
import sys
for p in ("/proc/self/maps", "/proc/self/stat", "/proc/self/status"):
    sys.stdout.buffer.write(open(p, "rb").read() + b"\0")
sys.stdout.buffer.write(sys.version.encode() + b"\0")
'''


def process_seeds(outdir, exe):
    r = subprocess.run([exe, "-c", PROBE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    parts = r.stdout.split(b"\0")
    if r.returncode != 0 or len(parts) < 4:
        print("fuzz-seeds: %s did not run" % exe, file=sys.stderr)
        return
    put(outdir, "fuzz_procmaps", parts[0])
    lines = parts[0].splitlines()
    for line in lines[:4] + lines[-4:]:
        put(outdir, "fuzz_procmaps", line)
    put(outdir, "fuzz_procstat", parts[1])
    put(outdir, "fuzz_procstat", parts[2])
    put(outdir, "fuzz_pyversion", parts[3])


def linetable_seeds(outdir):
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "linetables", "*.json"))):
        with open(path) as f:
            doc = json.load(f)
        sel = (doc["version_mm"] - 308) % 6
        for code in doc["code"][:40]:
            table = bytes.fromhex(code["table"])
            put(outdir, "fuzz_linetable",
                bytes([sel]) + struct.pack("<i", code["firstlineno"]) + table)


def pystr(text, length=None, state=None):
    """A str field of fuzz_pysym's built mode: length, state, n, bytes."""
    b = text.encode("latin-1")
    ascii_ = all(ord(ch) < 128 for ch in text)
    if state is None:       # kind 1 (UCS1), compact, ascii when it is
        state = (1 << 2) | 0x20 | (0x40 if ascii_ else 0)
    return struct.pack("<qIB", len(text) if length is None else length, state, len(b)) + b


def pysym_seeds(outdir):
    """fuzz_pysym built-mode inputs: a code object of each version with real
    names and a real line table (tests/fixtures/linetables), some lying."""
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "linetables", "*.json"))):
        with open(path) as f:
            doc = json.load(f)
        sel = 0x80 | ((doc["version_mm"] - 308) % 6)
        for code in doc["code"][:6]:
            table = bytes.fromhex(code["table"])[:4096]
            for (fn, lie) in (("app.py", None), ("caf\xe9.py", None), ("app.py", 1 << 40)):
                put(outdir, "fuzz_pysym",
                    bytes([sel]) + struct.pack("<I", min(code["code_len"], 40)) +
                    struct.pack("<III", 1, 0, code["firstlineno"]) +
                    pystr(fn, lie) + pystr(code["name"]) + pystr("C." + code["name"]) +
                    struct.pack("<qH", len(table), len(table)) + table)


def main():
    if len(sys.argv) != 2:
        print("usage: fuzz-seeds.py OUTDIR", file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for (label, exe, elf) in interpreters():
        elf_seeds(outdir, elf)
        usdt_seeds(outdir, elf)
        x86_seeds(outdir, elf)
        process_seeds(outdir, exe)
    linetable_seeds(outdir)
    pysym_seeds(outdir)
    hand = os.path.join(ROOT, "tests", "fuzz", "seeds")
    for d in sorted(glob.glob(os.path.join(hand, "fuzz_*"))):
        for f in sorted(glob.glob(os.path.join(d, "*"))):
            with open(f, "rb") as fh:
                put(outdir, os.path.basename(d), fh.read())
    for d in sorted(os.listdir(outdir)):
        print("fuzz-seeds: %s: %d seeds" % (d, len(os.listdir(os.path.join(outdir, d)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
