#!/usr/bin/python3
"""Checks that src/ keeps its layering (docs/ARCHITECTURE.md):

    main -> master -> worker -> wsgi -> {protocol, config} -> common

A file may include headers from its own folder and from folders below its own; never from
a folder above it, nor sideways (protocol and config do not see each other). Each folder's
meson.build may likewise link only the libraries of folders below it. Three more rules of
the same design: no file over 500 lines; the GIL is taken and let go only in
src/wsgi/gil.hpp; no private CPython API (`_Py` names), so ferry builds on newer Pythons.

    tests/check_layers.py [SRC_DIR]      # default: the src/ next to this script's parent

Prints one line per violation, naming the file, the line and the fix; exits 1 if any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# The folders, each with the folders it may use (besides itself).
BELOW = {
    "common": set(),
    "config": {"common"},
    "protocol": {"common"},
    "wsgi": {"protocol", "config", "common"},
    "worker": {"wsgi", "protocol", "config", "common"},
    "master": {"worker", "wsgi", "protocol", "config", "common"},
}
BELOW["main"] = set(BELOW) - {"main"}  # src/main.cpp: everything

MAX_LINES = 500
GIL_CALLS = re.compile(r"\b(PyGILState_\w+|PyEval_SaveThread|PyEval_RestoreThread|Py_(BEGIN|END)_ALLOW_THREADS)\b")
PRIVATE_API = re.compile(r"\b_Py\w+")
GIL_HOME = Path("wsgi") / "gil.hpp"

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"')
LIBRARY = re.compile(r"\bferry_([a-z]+)\b")


def folder_of(src: Path, path: Path) -> str | None:
    relative = path.relative_to(src)
    if len(relative.parts) == 1:
        return "main" if relative.suffix in (".cpp", ".hpp") else None
    return relative.parts[0]


def check(src: Path) -> list[str]:
    problems = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".cpp", ".hpp"):
            continue
        mine = folder_of(src, path)
        if mine not in BELOW:
            problems.append(f"{path}: src/{mine}/ is not a known layer; add it to BELOW in {__file__}")
            continue
        lines = path.read_text(errors="replace").splitlines()
        if len(lines) > MAX_LINES:
            problems.append(f"{path}: {len(lines)} lines, over {MAX_LINES}; split it by concept")
        for number, line in enumerate(lines, 1):
            code = line.split("//", 1)[0]
            if path.relative_to(src) != GIL_HOME and GIL_CALLS.search(code):
                problems.append(f"{path}:{number}: touches the GIL directly; use GilHeld or GilReleased "
                                f"(src/wsgi/gil.hpp)")
            if PRIVATE_API.search(code):
                problems.append(f"{path}:{number}: {PRIVATE_API.search(code).group(0)} is private CPython API; "
                                f"use the public equivalent")
            match = INCLUDE.match(line)
            if not match:
                continue
            theirs = match.group(1)
            if theirs == mine or theirs not in BELOW or theirs in BELOW[mine]:
                continue
            direction = "up" if mine in BELOW.get(theirs, set()) else "sideways"
            problems.append(
                f"{path}:{number}: src/{mine}/ includes {theirs}/ ({direction}: {mine} may use only "
                f"{', '.join(sorted(BELOW[mine])) or 'nothing else'}); move what it needs down, "
                f"or have src/{mine}/ declare an interface that src/{theirs}/ implements")
    for build in sorted(src.glob("*/meson.build")):
        mine = build.parent.name
        if mine not in BELOW:
            continue
        for number, line in enumerate(build.read_text().splitlines(), 1):
            if "link_with" not in line:
                continue
            for theirs in LIBRARY.findall(line):
                if theirs != mine and theirs in BELOW and theirs not in BELOW[mine]:
                    problems.append(f"{build}:{number}: ferry_{mine} links ferry_{theirs}, which is not below it")
    return problems


def main() -> int:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "src"
    problems = check(src)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} structure violation(s) in {src}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
