#!/usr/bin/env python3
"""Generates single_include/pier/pier.hpp from include/pier/pier.hpp.

    tools/amalgamate.py            write single_include/pier/pier.hpp
    tools/amalgamate.py --check    exit 1 if the committed file differs from a fresh one
    tools/amalgamate.py --output F write to F instead (e.g. a build directory)

Every `#include <pier/...>` (or "pier/...") is replaced by the file's contents, recursively,
the first time it is met; later includes of the same file are dropped, as `#pragma once` would.
That is only right because pier's headers never include a pier header conditionally: an include
inside `#if` would be inlined inside it, and missing where a later unconditional include was
dropped. Other includes stay, and an identical `#include <...>` of a standard or third-party
header that already appeared unconditionally is dropped.

At the end, every macro named PIER_DETAIL_* that was #defined along the way is #undef'd, so the
single header leaks no internal macros. A public macro whose expansion uses one would then break,
so that is an error here.

The output is byte-stable (no dates, no absolute paths): CI regenerates and compares it.
"""

import argparse
import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE_DIR = os.path.join(ROOT, "include")
ENTRY = "pier/pier.hpp"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
PRAGMA_ONCE_RE = re.compile(r"^\s*#\s*pragma\s+once\b")
IF_RE = re.compile(r"^\s*#\s*(if|ifdef|ifndef)\b")
ENDIF_RE = re.compile(r"^\s*#\s*endif\b")
DEFINE_RE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)(.*)$", re.DOTALL)
DETAIL_MACRO_RE = re.compile(r"\bPIER_DETAIL_\w+")
# Headers meant to be included more than once with different settings.
NEVER_DEDUPE = {"cassert", "assert.h"}


class AmalgamationError(Exception):
    pass


def project_version():
    try:
        with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
            m = re.search(r"project\s*\(\s*pier\s+VERSION\s+([0-9.]+)", f.read())
            return m.group(1) if m else None
    except OSError:
        return None


def logical_lines(text):
    """Splits text into lines, joining backslash continuations (needed to read #defines)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        group = [lines[i]]
        while group[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            group.append(lines[i])
        yield group
        i += 1


class Amalgamator:
    def __init__(self):
        self.inlined = set()  # pier headers already emitted, as "pier/x.hpp"
        self.system_includes = set()  # unconditional non-pier includes already emitted
        self.detail_macros = []  # PIER_DETAIL_* in order of first definition
        self.public_macro_uses = []  # (macro, file) pairs: public macros expanding PIER_DETAIL_*
        self.out = []

    def include(self, name, depth, stack):
        path = os.path.join(INCLUDE_DIR, name)
        if not os.path.isfile(path):
            where = f" (included from {stack[-1]})" if stack else ""
            raise AmalgamationError(f"<{name}> not found under include/{where}")
        self.inlined.add(name)
        with open(path, encoding="utf-8") as f:
            text = f.read().replace("\r\n", "\n")
        self.out.append(f"// ----- begin <{name}> -----\n")
        local_depth = 0
        for group in logical_lines(text):
            line = group[0]
            full = "\n".join(group)
            if PRAGMA_ONCE_RE.match(line):
                continue
            if IF_RE.match(line):
                local_depth += 1
            elif ENDIF_RE.match(line):
                local_depth -= 1
            m = INCLUDE_RE.match(line)
            if m:
                target = m.group(2).strip()
                if target.startswith("pier/"):
                    if target not in self.inlined:
                        self.include(target, depth + local_depth, stack + [name])
                    continue
                if m.group(1) == '"':
                    raise AmalgamationError(
                        f'{name}: #include "{target}": include pier headers as <pier/...>')
                if depth + local_depth == 0 and target not in NEVER_DEDUPE:
                    if target in self.system_includes:
                        continue
                    self.system_includes.add(target)
            d = DEFINE_RE.match(full)
            if d:
                macro, body = d.group(1), d.group(2)
                if macro.startswith("PIER_DETAIL_"):
                    if macro not in self.detail_macros:
                        self.detail_macros.append(macro)
                elif DETAIL_MACRO_RE.search(body):
                    self.public_macro_uses.append((macro, name))
            self.out.append(full + "\n")
        if local_depth != 0:
            raise AmalgamationError(f"{name}: unbalanced #if/#endif ({local_depth:+d})")
        self.out.append(f"// ----- end <{name}> -----\n")

    def run(self):
        version = project_version()
        banner = [
            "// pier: header-only C++20 network servers on standalone Asio and OpenSSL.\n",
            f"// Version {version}. " if version else "// ",
            "Single-header edition.\n",
            "//\n",
            "// GENERATED by tools/amalgamate.py from include/pier/pier.hpp. Do not edit: change\n",
            "// the headers under include/pier/ and run `python3 tools/amalgamate.py`.\n",
            "#pragma once\n",
            "\n",
        ]
        self.out.extend(banner)
        self.include(ENTRY, 0, [])
        if self.public_macro_uses:
            uses = ", ".join(f"{m} ({f})" for m, f in self.public_macro_uses)
            raise AmalgamationError(
                "public macros expand internal PIER_DETAIL_* macros, which the single header "
                f"#undefs at its end: {uses}")
        if self.detail_macros:
            self.out.append("\n// pier's internal macros end here.\n")
            for macro in self.detail_macros:
                self.out.append(f"#undef {macro}\n")
        return "".join(self.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed file instead of writing it")
    parser.add_argument("--output", help="file to write or check "
                        "(default: single_include/pier/pier.hpp)")
    parser.add_argument("--root", help=argparse.SUPPRESS)  # another tree, for testing this script
    args = parser.parse_args()
    global ROOT, INCLUDE_DIR
    if args.root:
        ROOT = os.path.abspath(args.root)
        INCLUDE_DIR = os.path.join(ROOT, "include")
    if not args.output:
        args.output = os.path.join(ROOT, "single_include", "pier", "pier.hpp")

    try:
        text = Amalgamator().run()
    except AmalgamationError as e:
        print(f"amalgamate.py: error: {e}", file=sys.stderr)
        return 2

    rel = os.path.relpath(args.output, ROOT)
    if args.check:
        try:
            with open(args.output, encoding="utf-8", newline="") as f:
                current = f.read()
        except FileNotFoundError:
            print(f"amalgamate.py: {rel} does not exist: run `python3 tools/amalgamate.py`",
                  file=sys.stderr)
            return 1
        if current == text:
            print(f"amalgamate.py: {rel} is up to date")
            return 0
        diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(),
                                         f"{rel} (committed)", f"{rel} (generated)",
                                         lineterm="", n=2))
        print(f"amalgamate.py: {rel} is stale: run `python3 tools/amalgamate.py` and commit "
              f"the result. First differences:", file=sys.stderr)
        for line in diff[:60]:
            print(line, file=sys.stderr)
        if len(diff) > 60:
            print(f"... ({len(diff) - 60} more diff lines)", file=sys.stderr)
        return 1

    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    try:
        with open(args.output, encoding="utf-8", newline="") as f:
            if f.read() == text:
                print(f"amalgamate.py: {rel} is up to date")
                return 0
    except FileNotFoundError:
        pass
    with open(args.output, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    print(f"amalgamate.py: wrote {rel} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
