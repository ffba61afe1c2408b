"""The README's and the guide's Python examples run as written.

Every ```` ```python ```` block of README.md and docs/src/**/*.md is executed, the blocks of one
page in order in one namespace, in the repository root; a ```` ```text ```` block right after a
Python block is its expected output: its lines must appear in the printed output in that order
(`[..]` in a line matches any text). A ```` ```python,torch ```` block needs PyTorch (the
AutoAttack example) and runs only where it is installed."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT, require_torch

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def blocks(page: Path):
    """(info string, code, expected output or None) of each Python block of `page`."""
    found = list(FENCE.finditer(page.read_text()))
    out = []
    for i, m in enumerate(found):
        info = m.group(1).strip()
        if info.split(",")[0] != "python":
            continue
        expected = None
        if i + 1 < len(found):
            nxt = found[i + 1]
            between = page.read_text()[m.end() : nxt.start()]
            if nxt.group(1).strip() == "text" and not between.strip():
                expected = nxt.group(2)
        out.append((info, m.group(2), expected))
    return out


PAGES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs" / "src").rglob("*.md"))] if blocks(p)]


def matches(expected: str, printed: str) -> bool:
    lines = printed.splitlines()
    i = 0
    for want in expected.strip("\n").splitlines():
        pattern = "^" + ".*".join(re.escape(part) for part in want.split("[..]")) + "$"
        while i < len(lines) and not re.match(pattern, lines[i]):
            i += 1
        if i == len(lines):
            return False
        i += 1
    return True


def test_pages_have_python_examples():
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/src/guide/python.md"} <= names, names


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_python_examples_run(page, tmp_path, monkeypatch):
    namespace = {"__name__": "__doc_example__"}
    skipped = []
    for n, (info, code, expected) in enumerate(blocks(page), 1):
        if "torch" in info.split(","):
            try:
                import torch  # noqa: F401
            except ImportError:
                # The page's other blocks still run; the skip is reported once they have.
                skipped.append(n)
                continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, f"{page.name}, Python block {n}", "exec"), namespace)
        printed = buf.getvalue()
        print(printed)
        if expected is not None:
            assert matches(expected, printed), (
                f"{page.name}, Python block {n}: printed\n{printed}\nexpected (in order)\n{expected}"
            )
    if skipped:
        print(f"{page.name}: Python block(s) {skipped} need PyTorch", file=sys.stderr)
        require_torch()
