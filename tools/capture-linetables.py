#!/usr/bin/env python3
"""Captures CPython line tables for the linetable unit test.

Run it with each interpreter (3.8+):  pythonX.Y tools/capture-linetables.py DIR
It compiles a source with tricky shapes (long jumps, big line gaps, negative
line deltas, generators, comprehensions, instructions without a line, very
long lines, a large first line number) and writes DIR/<X.Y>.json with, for
every code object: the raw table bytes (co_lnotab up to 3.9, co_linetable
from 3.10), co_firstlineno, the bytecode length, and the interpreter's own
answer: dis.findlinestarts() up to 3.9, list(co.co_lines()) from 3.10.
tests/16-pystack.bats checks user/linetable.c against these files.
"""
import dis
import json
import os
import sys

LONG_EXPR = " + ".join("v%d" % i for i in range(120))

SOURCE = '''
def simple(a, b):
    c = a + b
    return c

def loops(n):
    total = 0
    for i in range(n):
        if i % 2:
            total += i
        else:
            total -= 1
    while total > 0:
        total -= 3
    return total

def negative(a, b, c):
    x = (a
         if b else
         c)
    y = [a,
         b,
         c]
    return (x,
            y)

def long_jump(flag):
    if flag:
''' + "".join("        v%d = %d\n" % (i, i) for i in range(120)) + '''
        return ''' + LONG_EXPR + '''
    return None

def wide(a):
    return a.''' + ".".join(["attr"] * 60) + ''' + (a if a else a)

def gap():
    x = 1
''' + "\n" * 300 + '''    y = 2
''' + "\n" * 40000 + '''    return x + y

def gen(n):
    for i in range(n):
        yield i
    yield from range(3)

def comps(xs):
    a = [x * 2 for x in xs if x]
    b = {x: y for x, y in zip(xs, xs)}
    c = (x for x in xs)
    d = lambda q: q + 1
    return a, b, c, d

def tryfinally(f):
    try:
        f()
    except ValueError as e:
        return e
    finally:
        f()
    with open(f) as g:
        pass
    return None

class Klass:
    def method(self):
        def inner():
            return self
        return inner
'''

# A large first line number: the table starts from co_firstlineno.
SOURCE += "\n" * 100000 + '''
def late(a):
    return a
'''


def code_objects(co):
    yield co
    for c in co.co_consts:
        if hasattr(c, "co_code"):
            yield from code_objects(c)


def describe(co):
    d = {
        "name": getattr(co, "co_qualname", co.co_name),
        "firstlineno": co.co_firstlineno,
        "code_len": len(co.co_code),
    }
    if sys.version_info >= (3, 10):
        d["table"] = co.co_linetable.hex()
        d["co_lines"] = [list(t) for t in co.co_lines()]
    else:
        d["table"] = co.co_lnotab.hex()
        d["linestarts"] = [list(t) for t in dis.findlinestarts(co)]
    return d


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: capture-linetables.py OUTDIR")
    top = compile(SOURCE, "<linetables>", "exec")
    out = {
        "version": "%d.%d.%d" % sys.version_info[:3],
        "version_mm": sys.version_info[0] * 100 + sys.version_info[1],
        "code": [describe(c) for c in code_objects(top)],
    }
    path = os.path.join(sys.argv[1], "%d.%d.json" % sys.version_info[:2])
    if sys.executable == "/usr/bin/python3.11" or sys.version.find("Debian") >= 0:
        path = os.path.join(sys.argv[1], "debian-%d.%d.json" % sys.version_info[:2])
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("%s: %d code objects" % (path, len(out["code"])))


main()
