"""Who does something: a person, the organization they act for, and their role."""

from __future__ import annotations

from attrs import frozen

__all__ = ["SYSTEM", "Actor"]


@frozen
class Actor:
    """The author of a change, written into every event.

    ``name`` is a person (or a job such as ``rollover``); ``org`` the code of the
    organization they act for; ``role`` e.g. ``assessor``, ``secretary``, ``member``.
    """

    name: str
    org: str | None = None
    role: str | None = None

    @classmethod
    def of(cls, actor: Actor | str) -> Actor:
        return actor if isinstance(actor, Actor) else cls(str(actor))

    def __str__(self) -> str:
        parts = [self.name]
        if self.org:
            parts.append(f"@{self.org}")
        if self.role:
            parts.append(f"({self.role})")
        return "".join(parts)


SYSTEM = Actor("pdca", role="system")
