#!/usr/bin/env python3
"""Runs the C++ compiler on one file with pier's test flags and checks the outcome.

    compile_check.py --cxx CXX --flags FLAGS_FILE --expect-fail SOURCE
    compile_check.py --cxx CXX --flags FLAGS_FILE --expect-success SOURCE

--expect-fail: SOURCE's first line is `// expect: <regex>` (a Python regular expression,
searched in the compiler's output, per line: ^ and $ match at line ends). Passes when the
compiler fails AND its output matches. The compiler runs with LC_ALL=C so GCC quotes with
ASCII ' rather than Unicode quotes: write regexes against 'this'.

--expect-success: passes when SOURCE compiles (the control that keeps a broken flag set from
making every compile-fail test "pass").

FLAGS_FILE is written by tests/CMakeLists.txt with file(GENERATE): sections [std], [cxxflags],
[include], [define], [option], [implicit], [pch], one item per line. Implicit include directories
(/usr/include) are dropped: passing them as -I breaks libstdc++'s #include_next.

[pch] names the build tree's shared precompiled <pier/pier.hpp> (pier_pch, built with these same
flags). Every compile-fail source includes <pier/pier.hpp> first, so including it ahead of the
source changes nothing but the time: parsing pier.hpp was about 60% of each check. It is used
only when its .gch exists; otherwise the source compiles from the headers alone.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys


def read_flags(path):
    sections = {}
    current = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.fullmatch(r"\[(\w+)\]", line)
            if m:
                current = sections.setdefault(m.group(1), [])
            elif line and current is not None:
                current.append(line)
    implicit = {os.path.normpath(d) for d in sections.get("implicit", [])}
    flags = list(sections.get("std", []))
    for item in sections.get("cxxflags", []):
        flags.extend(shlex.split(item))
    for d in sections.get("include", []):
        if os.path.normpath(d) not in implicit:
            flags.append("-I" + d)
    flags.extend("-D" + d for d in sections.get("define", []))
    flags.extend(sections.get("option", []))
    for header in sections.get("pch", []):
        if os.path.exists(header + ".gch"):
            flags.extend(["-Winvalid-pch", "-include", header])
    return flags


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cxx", required=True)
    parser.add_argument("--flags", required=True)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--expect-fail", action="store_true")
    mode.add_argument("--expect-success", action="store_true")
    parser.add_argument("source")
    args = parser.parse_args()

    pattern = None
    if args.expect_fail:
        with open(args.source, encoding="utf-8") as f:
            first = f.readline().rstrip("\n")
        m = re.fullmatch(r"//\s*expect:\s*(.+?)\s*", first)
        if not m:
            print(f"{args.source}: first line must be `// expect: <regex>`, found: {first!r}")
            return 2
        try:
            pattern = re.compile(m.group(1), re.MULTILINE)
        except re.error as e:
            print(f"{args.source}: bad regex {m.group(1)!r}: {e}")
            return 2

    command = [args.cxx] + read_flags(args.flags) + ["-fsyntax-only", args.source]
    env = dict(os.environ, LC_ALL="C", LANG="C")
    env.pop("GCC_COLORS", None)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True, errors="replace")
    output = result.stdout

    if args.expect_success:
        if result.returncode != 0:
            print("FAILED: the control TU does not compile with the compile-fail flags:")
            print(" ".join(shlex.quote(c) for c in command))
            print(output)
            return 1
        print("ok: compiled with the compile-fail flags")
        return 0

    if result.returncode == 0:
        print(f"FAILED: {args.source} compiled, but it must not")
        print(" ".join(shlex.quote(c) for c in command))
        return 1
    match = pattern.search(output)
    if not match:
        print(f"FAILED: {args.source} failed to compile, but no diagnostic matches "
              f"/{pattern.pattern}/. Compiler output:")
        print(output[-20000:])
        return 1
    line = output.count("\n", 0, match.start()) + 1
    print(f"ok: failed to compile as expected; output line {line} matches: {match.group(0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
