"""The size and complexity gate run by `make test` (the Makefile's `lint`) and by tests/test_complexity.py.

It fails on any function over 60 lines or with a cyclomatic complexity over 15 as radon counts it (ruff's C901
counts neither `and`/`or` nor conditional expressions, so a function it passes can be far over), and on any
class over 200 lines, in exporter/ and bench/. A function's lines run from its `def` to its last line, nested
functions included; closures and methods are judged on their own.

tests/ is not gated: a test is a straight list of steps and assertions, where radon counts every `and` inside an
`assert` and every `if` that picks what to check, and splitting one into helpers would hide what it checks.
ruff's C901 still covers the tests.

ALLOWED names today's offenders in areas other work is fixing. The gate fails when one of them is no longer an
offender, so the list only shrinks: remove the entry once its area is fixed.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from radon.complexity import cc_visit

__all__ = ["ALLOWED", "CLASS_LINES", "COMPLEXITY", "FUNCTION_LINES", "ROOTS", "Offence", "check", "offences"]

FUNCTION_LINES = 60
COMPLEXITY = 15
CLASS_LINES = 200
ROOTS = ("exporter", "bench")

# Offender -> the area (and the work) that owns it. Keys are "path:qualified name (measure)".
ALLOWED: dict[str, str] = {
    "exporter/tracking/tracker.py:Tracker (lines)": "tracker (issue 21, item 5)",
    "exporter/tracking/tracker.py:Tracker._judge (complexity)": "tracker (issue 21, item 5)",
}


@dataclass(frozen=True)
class Offence:
    """One function or class over a limit."""

    key: str  # "path:qualified name (lines|complexity)", the form ALLOWED uses
    line: int
    value: int
    limit: int

    def __str__(self) -> str:
        path, _, rest = self.key.partition(":")
        return f"{path}:{self.line}: {rest}: {self.value} (limit {self.limit})"


def _complexities(blocks: Iterable[object]) -> Iterator[tuple[int, int]]:
    """(line of the def, radon's complexity) of every function, method and closure in radon's blocks."""
    for block in blocks:
        methods = getattr(block, "methods", None)
        if methods is not None:  # a class: its methods and inner classes
            yield from _complexities(methods)
            yield from _complexities(getattr(block, "inner_classes", ()))
            continue
        yield getattr(block, "lineno"), getattr(block, "complexity")  # noqa: B009 - radon's blocks are untyped
        yield from _complexities(getattr(block, "closures", ()))


def offences(path: str, source: str) -> list[Offence]:
    """Every function and class of one file over a limit."""
    complexity = dict(_complexities(cc_visit(source)))
    found: list[Offence] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, prefix)
                continue
            name = prefix + child.name
            lines = (child.end_lineno or child.lineno) - child.lineno + 1
            limit = CLASS_LINES if isinstance(child, ast.ClassDef) else FUNCTION_LINES
            if lines > limit:
                found.append(Offence(f"{path}:{name} (lines)", child.lineno, lines, limit))
            cc = complexity.get(child.lineno, 0) if not isinstance(child, ast.ClassDef) else 0
            if cc > COMPLEXITY:
                found.append(Offence(f"{path}:{name} (complexity)", child.lineno, cc, COMPLEXITY))
            visit(child, name + ".")

    visit(ast.parse(source, path), "")
    return found


def check(root: Path, roots: Iterable[str] = ROOTS, allowed: dict[str, str] | None = None) -> list[str]:
    """The gate's complaints about the tree at root: offenders not allowed, and allowed entries now fixed."""
    allowed = ALLOWED if allowed is None else allowed
    seen: set[str] = set()
    problems: list[str] = []
    for top in roots:
        for file in sorted((root / top).rglob("*.py")):
            relative = file.relative_to(root).as_posix()
            for offence in offences(relative, file.read_text(encoding="utf-8")):
                seen.add(offence.key)
                if offence.key not in allowed:
                    problems.append(str(offence))
    problems += [
        f"{key}: no longer over its limit; remove it from ALLOWED in tools/complexity.py ({area})"
        for key, area in allowed.items()
        if key not in seen
    ]
    return problems


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    problems = check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"complexity: {len(problems)} problem(s); limits: functions {FUNCTION_LINES} lines and radon complexity"
            f" {COMPLEXITY}, classes {CLASS_LINES} lines",
            file=sys.stderr,
        )
        return 1
    print(f"complexity: ok ({len(ALLOWED)} allowed offenders left in other areas)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
