#!/usr/bin/python3
"""Checks the module layering of docs/architecture.md on the source and the build.

  util <- io, engine <- nowcast <- publish <- daemon <- tools

1. Includes: a file of module M includes public headers (include/impa/*.h) of M
   and of modules below M only, and internal headers ("x-impl.h", "mod/x.h") of
   M only (tools may include the internal headers of the module they serve).
2. Calls: from the symbols of the built objects (nm), a file uses functions and
   data of its own module and of modules below only, and no two files use each
   other, directly or around a longer loop (a cycle between files).
3. Python: no import cycle between the modules of train/impa (imports inside
   functions count: they still tie the modules together).

Usage: check_layers.py SOURCE_ROOT BUILD_ROOT. Prints every violation, exits 1
when there is one (0 otherwise). The meson test 'layers' runs it.
"""
import ast
import os
import re
import subprocess
import sys

RANK = {"util": 0, "io": 1, "engine": 1, "nowcast": 2, "publish": 3, "daemon": 4, "tools": 5}

# Public header -> module that implements it.
HEADERS = {
    "error.h": "util", "timeutil.h": "util", "sha256.h": "util", "cli.h": "util", "fileperm.h": "util",
    "durable.h": "util", "statefile.h": "util",
    "grid.h": "io", "reader.h": "io", "domain.h": "io", "archive.h": "io", "forecast.h": "io",
    "engine.h": "engine",
    "extrapolate.h": "nowcast", "guided.h": "nowcast", "calibrate.h": "nowcast", "prob.h": "nowcast",
    "verify.h": "nowcast", "alerts.h": "nowcast", "alertverify.h": "nowcast",
    "publish.h": "publish",
}
INTERNAL_DIRS = {"daemon", "publish", "io", "engine", "nowcast", "util"}


def below_or_same(user, owner):
    if user == owner:
        return True
    if RANK[owner] >= RANK[user]:
        return False
    return True


def module_of_source(path):
    """src/<mod>/x.c -> mod; include/impa/x.h -> the header's module."""
    parts = path.split(os.sep)
    if parts[0] == "src" and len(parts) >= 3:
        return parts[1]
    if parts[0] == "include":
        return HEADERS.get(parts[-1])
    return None


def check_includes(root):
    errors = []
    files = []
    for d in ("src", "include"):
        for dp, _, fns in os.walk(os.path.join(root, d)):
            for fn in fns:
                if fn.endswith((".c", ".h")):
                    files.append(os.path.relpath(os.path.join(dp, fn), root))
    for f in sorted(files):
        mod = module_of_source(f)
        if mod is None:
            if f.startswith("include/"):
                errors.append(f"{f}: public header not in the module table of {sys.argv[0]}")
            continue
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                inc = m.group(1)
                if inc.startswith("impa/"):
                    owner = HEADERS.get(inc[5:])
                    if owner is None:
                        errors.append(f"{f}:{n}: {inc}: header not in the module table")
                    elif not below_or_same(mod, owner):
                        errors.append(f"{f}:{n}: {mod} includes {inc} of {owner}, "
                                      f"which is not below it")
                elif "/" in inc and inc.split("/")[0] in INTERNAL_DIRS:
                    owner = inc.split("/")[0]
                    if owner != mod and mod != "tools":
                        errors.append(f"{f}:{n}: {mod} includes {inc}, internal to {owner}")
                    elif mod == "tools" and not below_or_same(mod, owner):
                        errors.append(f"{f}:{n}: tools include {inc}")
    return errors


def objects(build):
    """{source path relative to src/: (defined symbols, undefined symbols)}."""
    out = {}
    for mod in RANK:
        if mod == "tools":
            continue
        lib = os.path.join(build, "src", mod, f"libimpa_{mod}.a")
        if not os.path.exists(lib):
            raise SystemExit(f"check_layers: {lib} not built")
        text = subprocess.run(["nm", "-o", lib], capture_output=True, text=True,
                              check=True).stdout
        for line in text.splitlines():
            m = re.match(r".*?:(?:.*/)?([^/:]+)\.c\.o:\s*(?:[0-9a-f]+)?\s+([A-Za-z])\s+(\S+)$",
                         line)
            if not m:
                continue
            src, kind, sym = f"{mod}/{m.group(1)}.c", m.group(2), m.group(3)
            d, u = out.setdefault(src, (set(), set()))
            if kind == "U":
                u.add(sym)
            elif kind in "TDBRCGSV" and kind.isupper():
                d.add(sym)
    return out


def check_calls(build):
    errors = []
    objs = objects(build)
    owner = {}
    for src, (d, _) in objs.items():
        for s in d:
            owner[s] = src
    edges = {src: set() for src in objs}
    for src, (_, u) in objs.items():
        for s in u:
            o = owner.get(s)
            if o and o != src:
                edges[src].add(o)
                ms, mo = src.split("/")[0], o.split("/")[0]
                if not below_or_same(ms, mo):
                    errors.append(f"src/{src} uses {s} of src/{o}: {ms} calls into {mo}, "
                                  f"which is not below it")
    errors += [f"cycle between files: {', '.join('src/' + x for x in c[:-1])}"
               for c in cycles(edges)]
    return errors


def cycles(edges):
    """Strongly connected components of more than one node (Tarjan), each as a
    loop through its nodes in order of discovery."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp) + [sorted(comp)[0]])

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def check_python(root):
    pkg = os.path.join(root, "train", "impa")
    if not os.path.isdir(pkg):
        return []
    mods = {fn[:-3] for fn in os.listdir(pkg) if fn.endswith(".py")}
    edges = {m: set() for m in mods}
    for m in mods:
        with open(os.path.join(pkg, m + ".py"), encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), m + ".py")
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                if node.level == 1 and node.module:
                    names = [node.module.split(".")[0]]
                elif node.level == 1:
                    names = [a.name for a in node.names]
                elif node.module and node.module.startswith("impa."):
                    names = [node.module.split(".")[1]]
                elif node.module == "impa":
                    names = [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names if a.name.startswith("impa.")]
            for n in names:
                if n in mods and n != m:
                    edges[m].add(n)
    return [f"import cycle in train/impa between: {', '.join(c[:-1])}" for c in cycles(edges)]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    root, build = sys.argv[1], sys.argv[2]
    errors = check_includes(root) + check_calls(build) + check_python(root)
    for e in errors:
        print(e)
    print(f"check_layers: {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
