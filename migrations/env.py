"""alembic environment for pdca's own tables.

It keeps its own version table (``pdca_alembic_version``) and only ever looks at tables
named ``pdca_*``, so it can run inside a host's database beside the host's migrations.
A connection handed in through ``config.attributes["connection"]`` is used as it is
(pdca's API, pytest-alembic); otherwise ``sqlalchemy.url`` is used.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Engine, create_engine

from pdca.persistence.tables import TABLE_PREFIX, VERSION_TABLE, metadata

config = context.config


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "table":
        return bool(name) and str(name).startswith(TABLE_PREFIX)
    return True


def run_migrations(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Engine):  # pytest-alembic hands over an Engine
        with connection.begin() as conn:
            run_migrations(conn)
        return
    if connection is not None:
        run_migrations(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set")
    engine = create_engine(url)
    with engine.begin() as conn:
        run_migrations(conn)
    engine.dispose()


if context.is_offline_mode():  # pragma: no cover - pdca does not ship offline SQL
    raise RuntimeError("pdca's migrations run online only")
run()
