"""Imperative mapping of the domain's attrs classes onto the tables.

The domain classes stay plain; :func:`start_mappers` (called by :func:`pdca.open_store`,
never at import) teaches SQLAlchemy how to load and save them. It is idempotent.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import registry, relationship

from pdca.domain import model as m

from . import tables as t

__all__ = ["mapper_registry", "start_mappers"]

mapper_registry = registry(metadata=t.metadata)
_lock = threading.Lock()
_started = False


def start_mappers() -> None:
    """Map the domain classes (once per process)."""
    global _started
    with _lock:
        if _started:
            return
        reg = mapper_registry
        reg.map_imperatively(m.Organization, t.organization)
        reg.map_imperatively(m.Item, t.item)
        reg.map_imperatively(
            m.SchemeCategory,
            t.scheme_category,
            properties={
                "items": relationship(
                    m.Item, order_by=t.item.c.position, cascade="all, delete-orphan"
                )
            },
        )
        reg.map_imperatively(m.Checkpoint, t.checkpoint)
        reg.map_imperatively(m.Score, t.score, version_id_col=t.score.c.version)
        reg.map_imperatively(
            m.Scheme,
            t.scheme,
            properties={
                "categories": relationship(
                    m.SchemeCategory,
                    order_by=t.scheme_category.c.position,
                    cascade="all, delete-orphan",
                ),
                "checkpoints": relationship(
                    m.Checkpoint,
                    order_by=t.checkpoint.c.position,
                    cascade="all, delete-orphan",
                ),
            },
        )
        reg.map_imperatively(m.Measure, t.measure)
        reg.map_imperatively(
            m.Target,
            t.target,
            properties={
                "measures": relationship(
                    m.Measure, order_by=t.measure.c.id, cascade="all, delete-orphan"
                )
            },
        )
        reg.map_imperatively(m.Record, t.record)
        reg.map_imperatively(
            m.Finding,
            t.finding,
            version_id_col=t.finding.c.version,
        )
        reg.map_imperatively(
            m.Cycle,
            t.cycle,
            version_id_col=t.cycle.c.version,
            properties={
                "targets": relationship(
                    m.Target, order_by=t.target.c.id, cascade="all, delete-orphan"
                ),
                "findings": relationship(
                    m.Finding, order_by=t.finding.c.id, cascade="all, delete-orphan"
                ),
            },
        )
        reg.map_imperatively(m.Rectification, t.rectification)
        reg.map_imperatively(m.Appeal, t.appeal, version_id_col=t.appeal.c.version)
        reg.map_imperatively(m.Publication, t.publication)
        reg.map_imperatively(m.Event, t.event, exclude_properties=["seq", "hash"])
        reg.configure()
        _started = True
