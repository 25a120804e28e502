"""Schema migrations, run from the API or the CLI.

pdca's alembic scripts ship inside the package (``pdca/migrations``) and keep their own
version table, ``pdca_alembic_version``, so they live beside a host's migrations in the
same database without touching them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from pdca.errors import PdcaError

from .tables import SCHEMA, TABLE_PREFIX, VERSION_TABLE

__all__ = [
    "alembic_config",
    "check_at_head",
    "current_revision",
    "downgrade",
    "head_revision",
    "ignore_pdca_tables",
    "ignoring_pdca_tables",
    "migrations_path",
    "upgrade",
]


def migrations_path() -> Path:
    """Where pdca's alembic scripts are: inside the installed package, or the source tree."""
    packaged = resources.files("pdca") / "migrations"
    candidate = Path(str(packaged))
    if (candidate / "env.py").is_file():
        return candidate
    source_tree = Path(__file__).resolve().parents[3] / "migrations"
    if (source_tree / "env.py").is_file():
        return source_tree
    raise PdcaError(f"pdca's migrations were not found (looked in {candidate} and {source_tree})")


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic Config for pdca's scripts, bound to ``connection`` when given."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_path()))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _connection(bind: Connection | Engine) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as conn:
            yield conn


def upgrade(bind: Connection | Engine, revision: str = "head") -> None:
    """Migrate pdca's tables up to ``revision`` (default: the newest).

    Given a Connection, runs inside the caller's transaction and leaves the commit to it;
    given an Engine, commits.
    """
    with _connection(bind) as conn:
        command.upgrade(alembic_config(conn), revision)


def downgrade(bind: Connection | Engine, revision: str) -> None:
    """Migrate pdca's tables down to ``revision`` (``base`` removes them all)."""
    with _connection(bind) as conn:
        command.downgrade(alembic_config(conn), revision)


def current_revision(bind: Connection | Engine) -> str | None:
    """The revision pdca's tables are at, or None when pdca was never migrated here."""
    with _connection(bind) as conn:
        ctx = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "version_table_schema": SCHEMA}
        )
        return ctx.get_current_revision()


def head_revision() -> str:
    """The newest revision this version of pdca ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def check_at_head(bind: Connection | Engine) -> bool:
    """True when the database's pdca tables are at this pdca's newest revision."""
    return current_revision(bind) == head_revision()


IncludeName = Callable[[str | None, str, Mapping[str, str | None]], bool]


def ignore_pdca_tables(
    name: str | None, type_: str, parent_names: Mapping[str, str | None]
) -> bool:
    """An ``include_name`` hook for a host's alembic ``env.py``: hides pdca's tables.

    pdca migrates its own tables (every name starts with ``pdca_``, including its version
    table); with this hook the host's ``alembic revision --autogenerate`` never proposes to
    drop or change them::

        context.configure(connection=..., target_metadata=..., include_name=pdca.ignore_pdca_tables)

    With a :data:`~pdca.persistence.tables.SCHEMA` setting, pdca's schema is hidden too.
    """
    if type_ == "schema":
        return SCHEMA is None or name != SCHEMA
    if type_ == "table":
        return not (name or "").startswith(TABLE_PREFIX)
    table = parent_names.get("table_name") if parent_names else None
    return not (table or "").startswith(TABLE_PREFIX)


def ignoring_pdca_tables(include_name: IncludeName) -> IncludeName:
    """Combine a host's own ``include_name`` hook with :func:`ignore_pdca_tables`."""

    def combined(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
        return ignore_pdca_tables(name, type_, parent_names) and include_name(
            name, type_, parent_names
        )

    return combined
