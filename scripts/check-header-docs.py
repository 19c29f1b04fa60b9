#!/usr/bin/env python3
"""Check that every function in include/wsengine.h has a doc comment with
Ownership, Thread safety and Errors paragraphs (the C API's contract)."""
import re
import sys

header = open(sys.argv[1] if len(sys.argv) > 1 else "include/wsengine.h").read()
prototypes = re.findall(r"\bwse_\w+\([^;]*\);", header)
documented = 0
problems = []
for m in re.finditer(r"/\*\*(.*?)\*/\s*\n([^;{}]*?\bwse_\w+\([^;]*?\);)", header, re.S):
    doc, proto = m.group(1), m.group(2)
    name = re.search(r"(wse_\w+)\(", proto).group(1)
    documented += 1
    missing = [k for k in ("Ownership", "Thread safety", "Errors") if k not in doc]
    if missing:
        problems.append(f"{name}: no {', '.join(missing)} paragraph")
if documented != len(prototypes):
    problems.append(f"{len(prototypes) - documented} functions have no doc comment at all")
for p in problems:
    print(p)
print(f"header docs: {len(prototypes) - len(problems)} of {len(prototypes)} functions complete")
sys.exit(1 if problems else 0)
