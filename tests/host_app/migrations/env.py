"""The host's alembic environment: its own tables, with pdca's hidden from autogenerate."""

from __future__ import annotations

from alembic import context

import pdca
from host_app.models import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # pdca migrates its own tables; without this hook autogenerate would propose to drop them.
    include_name=None if config.attributes.get("naive") else pdca.ignore_pdca_tables,
)
with context.begin_transaction():
    context.run_migrations()
