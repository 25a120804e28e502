"""Every ``python`` and ``bash`` code block in README.md and docs/ runs.

Python blocks of one page share a namespace and run in order, on the session's database:
the URL ``sqlite:///pdca.sqlite3`` in an example is replaced by a fresh database of the test
backend. A comment line right after a line with ``print(`` states what that print shows; it
must appear in the output. Bash blocks of one page run in order in one folder, each with
``set -euo pipefail``, with ``pdca`` and ``python`` being the interpreter under test.
(``console`` blocks show commands and are not run.)
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pdca

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^[ \t]*```python\n(.*?)^[ \t]*```", re.S | re.M)
BASH = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.S | re.M)


def blocks(page: Path, pattern: re.Pattern[str] = BLOCK) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [textwrap.dedent(m.group(1)) for m in pattern.finditer(text)]


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


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, BASH)], ids=lambda p: p.name)
def test_shell_examples_run(page: Path, tmp_path: Path) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    for name, argv in (("pdca", f'"{sys.executable}" -m pdca'), ("python", f'"{sys.executable}"')):
        shim = shims / name
        shim.write_text(f'#!/bin/sh\nexec {argv} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}", "CI": "true"}
    # The pdca under test (the installed wheel, or src/ in a checkout), wherever bash runs.
    env["PYTHONPATH"] = str(Path(pdca.__file__).resolve().parents[1])
    env.pop("PDCA_DATABASE_URL", None)
    env_file = tmp_path / "env.sh"  # variables exported by one block reach the next
    env_file.write_text("", encoding="utf-8")
    for code in blocks(page, BASH):
        script = f"set -euo pipefail\n. {env_file}\n{code}\nexport -p > {env_file}\n"
        out = subprocess.run(
            ["bash", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert out.returncode == 0, (
            f"{page.name}: {code}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"
        )
