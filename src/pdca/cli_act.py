"""CLI commands of the act half (registered by :mod:`pdca.cli`)."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the act half's commands to ``group``."""
