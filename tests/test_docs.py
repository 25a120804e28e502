"""Every ``python`` code block in README.md and docs/ runs, on the session's database.

Blocks of one page share a namespace and run in order. The URL ``sqlite:///pdca.sqlite3``
in an example is replaced by a fresh database of the test backend. A comment line right
after a line with ``print(`` states what that print shows; it must appear in the output.
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^[ \t]*```python\n(.*?)^[ \t]*```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return [textwrap.dedent(m.group(1)) for m in BLOCK.finditer(page.read_text(encoding="utf-8"))]


def expected_output(code: str) -> list[str]:
    lines = code.splitlines()
    out = []
    for i, line in enumerate(lines[:-1]):
        nxt = lines[i + 1].strip()
        if "print(" in line and nxt.startswith("# "):
            out.append(nxt[2:])
    return out


def test_pages_have_examples() -> None:
    assert any(blocks(p) for p in PAGES)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_examples_run(
    page: Path, empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for code in blocks(page):
        source = code.replace("sqlite:///pdca.sqlite3", empty_db_url)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(source, str(page), "exec"), namespace)
        for line in expected_output(code):
            assert line in buf.getvalue(), f"{page.name}: expected {line!r} in {buf.getvalue()!r}"
