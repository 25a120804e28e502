"""Nox sessions for pdca.

nox -s tests-sqlite tests-postgres lint typecheck docs   # what CI runs (.ci/run)
nox -s tests-sqlite -- -k period -x                 # extra args go to pytest
nox -s tests-postgres -- --long                     # the long reliability variants
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PYTHON = "3.11"

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
# `nox` without -s: what CI runs (bench is opt-in).
nox.options.sessions = ["tests-sqlite", "tests-postgres", "lint", "typecheck", "docs"]

# Tests import this; any pdca found elsewhere (e.g. ./src) means we are not testing the wheel.
_CHECK_INSTALLED = """
import pathlib, sys, pdca
paths = [pathlib.Path(p).resolve() for p in pdca.__path__]
if not all("site-packages" in p.parts for p in paths):
    sys.exit(f"pdca imported from {paths}, expected the installed wheel in site-packages")
"""


def _run_tests(session: nox.Session, backend: str, **env: str) -> None:
    # A real (non-editable) install: the tests must exercise the built wheel, not src/.
    session.install(".[test]")
    session.run("python", "-c", _CHECK_INSTALLED)
    session.run("pytest", *session.posargs, env={"PDCA_TEST_BACKEND": backend, **env})


def _find_pg_bindir(session: nox.Session) -> Path:
    # tests/pgcluster.py is stdlib-only until a cluster is started, so it can be loaded
    # by the interpreter running nox.
    spec = importlib.util.spec_from_file_location("pgcluster", ROOT / "tests" / "pgcluster.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        bindir: Path = module.find_bindir()
    except RuntimeError as exc:
        session.error(f"tests-postgres: {exc}")
    return bindir


@nox.session(name="tests-sqlite", python=PYTHON)
def tests_sqlite(session: nox.Session) -> None:
    """Run the test suite against SQLite."""
    _run_tests(session, "sqlite")


@nox.session(name="tests-postgres", python=PYTHON)
def tests_postgres(session: nox.Session) -> None:
    """Run the test suite against a throwaway PostgreSQL cluster (tests/pgcluster.py)."""
    bindir = _find_pg_bindir(session)  # fail before installing anything
    session.log(f"PostgreSQL binaries: {bindir}")
    _run_tests(session, "postgresql", PDCA_PG_BINDIR=str(bindir))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the installed package's sources."""
    session.install(".", "mypy", "types-PyYAML")
    session.run("mypy", "--strict", "src/pdca")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation strictly: any warning (a broken link, a bad docstring) fails.

    The API reference is generated from the docstrings in src/ (mkdocstrings). The code
    examples in the docs are run by the test suite (tests/test_docs.py), not here.
    """
    # mkdocstrings formats the signatures with ruff when it is installed.
    session.install("mkdocs>=1.6", "mkdocstrings[python]>=0.26", "ruff")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / ".nox" / "site"))


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks: nox -s bench -- [bench/run.py args]."""
    session.install(".[test]")
    session.run("python", "bench/run.py", *session.posargs)
