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

from pdca.persistence.tables import SCHEMA, SCHEMA_ENV, TABLE_PREFIX, VERSION_TABLE, metadata

config = context.config


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "schema":
        return name == SCHEMA
    if type_ == "table":
        return bool(name) and str(name).startswith(TABLE_PREFIX)
    return True


def run_migrations(connection: Any) -> None:
    restore = None
    if SCHEMA is not None:
        if connection.dialect.name != "postgresql":
            raise RuntimeError(
                f"{SCHEMA_ENV} is a PostgreSQL setting; this is {connection.dialect.name}"
            )
        # Every pdca table goes into SCHEMA: create it, and point the migration's
        # unqualified DDL there for the length of the migration.
        connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
        restore = connection.exec_driver_sql("SHOW search_path").scalar()
        connection.exec_driver_sql(f"SELECT set_config('search_path', '\"{SCHEMA}\"', true)")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema=SCHEMA,
        include_schemas=SCHEMA is not None,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if restore is not None:
            connection.exec_driver_sql(
                "SELECT set_config('search_path', %(p)s, true)", {"p": restore}
            )


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
