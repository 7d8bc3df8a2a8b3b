#!/usr/bin/env python3
"""check_layers.py SOURCE_DIR - every #include "..." of tessera's code against the module layers.

Each module folder's README.md states its layer and what it may include on one line:

    **Layer 2.** May include: `runtime/`, `io/`.

A module is a folder with such a README; its files are the *.c and *.h directly in it (a
sub-folder with its own README is a module of its own). The generated header tsr_version.h
counts as runtime's. A file may include its own module and the modules its README lists; every
listed module must sit on a lower layer; a `*_internal.h` header is private to its module.
Prints one line per problem (file:line, what it includes, what is allowed) and exits 1 if any;
exits 0 with a one-line summary otherwise.
"""
import os
import re
import sys

LAYER_RE = re.compile(r"^\*\*Layer (\d+)\.\*\*\s*May include:(.*)$", re.I)
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
GENERATED = {"tsr_version.h": "runtime"}
SKIP_TOP = {"tests", "deploy", ".git", ".ci"}


def find_modules(root):
    """{module path: (layer, [allowed module paths], readme)} for every folder whose README states a layer."""
    mods = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        top = rel.split(os.sep)[0]
        if top in SKIP_TOP or top.startswith("build") or top.startswith("_"):
            dirnames[:] = []
            continue
        if "README.md" not in filenames or rel == ".":
            continue
        readme = os.path.join(dirpath, "README.md")
        with open(readme, encoding="utf-8") as f:
            for line in f:
                m = LAYER_RE.match(line.strip())
                if m:
                    stated = re.split(r"\.\s|\.$|Must not", m.group(2))[0]  # up to the sentence's end
                    allowed = [a.strip("/") for a in re.findall(r"`([^`]+)`", stated)]
                    mods[rel.replace(os.sep, "/")] = (int(m.group(1)), allowed, readme)
                    break
    return mods


def module_of(path, mods):
    """The module owning a repository-relative file path: its deepest module folder."""
    d = os.path.dirname(path)
    while d:
        if d in mods:
            return d
        d = os.path.dirname(d)
    return None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    mods = find_modules(root)
    problems = []
    for name in ("runtime", "scheduler", "io", "kernels"):
        if name not in mods:
            problems.append(f"{name}/README.md: no '**Layer N.** May include: ...' line; add one")
    for mod, (layer, allowed, readme) in sorted(mods.items()):
        for a in allowed:
            if a not in mods:
                problems.append(f"{os.path.relpath(readme, root)}: may include `{a}/`, which is not a module "
                                f"(no README with a layer line)")
            elif mods[a][0] >= layer:
                problems.append(f"{os.path.relpath(readme, root)}: layer {layer} may not include `{a}/` "
                                f"(layer {mods[a][0]}): a module includes only lower layers")
    n_files = n_includes = 0
    for mod, (layer, allowed, _) in sorted(mods.items()):
        folder = os.path.join(root, mod)
        for fn in sorted(os.listdir(folder)):
            if not fn.endswith((".c", ".h")):
                continue
            n_files += 1
            rel_file = f"{mod}/{fn}"
            with open(os.path.join(folder, fn), encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE_RE.match(line)
                    if not m:
                        continue
                    n_includes += 1
                    inc = m.group(1)
                    target = GENERATED.get(inc) or module_of(inc, mods)
                    if target is None:
                        problems.append(f"{rel_file}:{lineno}: includes \"{inc}\", which belongs to no module; "
                                        f"include project headers by their path from the repository root")
                        continue
                    if target == mod:
                        continue
                    if os.path.basename(inc).endswith("_internal.h"):
                        problems.append(f"{rel_file}:{lineno}: includes \"{inc}\", private to {target}/; "
                                        f"use {target}'s public header")
                    elif target not in allowed:
                        problems.append(f"{rel_file}:{lineno}: includes \"{inc}\" ({target}/, layer "
                                        f"{mods[target][0]}); {mod}/ (layer {layer}) may include only "
                                        f"{', '.join(a + '/' for a in allowed) or 'nothing of ours'}")
    for p in problems:
        print(f"layering: {p}")
    if problems:
        print(f"layering: {len(problems)} problem(s)")
        return 1
    print(f"layering: {len(mods)} modules, {n_files} files, {n_includes} includes, all downward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
