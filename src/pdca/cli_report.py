"""CLI commands for reports (registered by :mod:`pdca.cli`)."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the report commands to ``group``."""
