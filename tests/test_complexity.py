"""The size and complexity gate (tools/complexity.py, run by `make lint`): what it counts, and the tree passes it."""

from __future__ import annotations

from pathlib import Path

from tools.complexity import ALLOWED, COMPLEXITY, check, offences

ROOT = Path(__file__).resolve().parent.parent


def test_and_or_and_conditional_expressions_count() -> None:
    # Ruff's C901 gives this function 1; radon counts each `and`/`or` and each conditional expression.
    terms = " and ".join(f"a{i}" for i in range(COMPLEXITY))
    source = f"def f(a0, *rest):\n    return ({terms}) if a0 else None\n"
    [offence] = offences("x.py", source)
    assert offence.key == "x.py:f (complexity)"
    assert offence.value > COMPLEXITY


def test_long_functions_classes_and_closures_are_named_by_their_path() -> None:
    body = "".join(f"        x{i} = {i}\n" for i in range(60))
    source = f"class C:\n    def m(self):\n        def inner():\n            pass\n{body}"
    found = {offence.key: offence.value for offence in offences("y.py", source)}
    assert found == {"y.py:C.m (lines)": 63}
    big = "class D:\n" + "".join(f"    v{i} = {i}\n" for i in range(200))
    assert [offence.key for offence in offences("z.py", big)] == ["z.py:D (lines)"]


def test_an_allowed_offender_that_is_fixed_fails_the_gate(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def small():\n    return 1\n", encoding="utf-8")
    problems = check(tmp_path, ["pkg"], {"pkg/m.py:small (lines)": "someone's area"})
    assert problems == [
        "pkg/m.py:small (lines): no longer over its limit; remove it from ALLOWED in tools/complexity.py"
        " (someone's area)"
    ]


def test_the_tree_passes_the_gate() -> None:
    assert check(ROOT) == []
    assert all(area for area in ALLOWED.values())
