"""Who does something: a person, the organization they act for, and their role."""

from __future__ import annotations

from attrs import frozen

__all__ = ["ROLLOVER", "SYSTEM", "Actor"]


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
        """``actor`` itself, or a string taken as a plain name (no organization, no role:
        the default policy refuses such an actor every change; see :meth:`parse`)."""
        return actor if isinstance(actor, Actor) else cls(str(actor))

    @classmethod
    def parse(cls, text: str) -> Actor:
        """An actor from ``NAME[@ORG][:ROLE]``: ``"李书记@B11:secretary"``,
        ``"王组长@JG:assessor"``, ``"ops:system"``, ``"张三"`` (no organization, no role).

        The name may not contain ``@`` or ``:`` (build such an actor with ``Actor(...)``).
        """
        from pdca.errors import ValidationError

        raw = str(text).strip()
        rest, colon, role = raw.partition(":")
        name, at, org = rest.partition("@")
        name, org, role = name.strip(), org.strip(), role.strip()
        if not name or (at and not org) or (colon and not role) or ":" in role:
            raise ValidationError("actor", text, "write an actor as NAME[@ORG][:ROLE]")
        return cls(name, org=org or None, role=role or None)

    def __str__(self) -> str:
        parts = [self.name]
        if self.org:
            parts.append(f"@{self.org}")
        if self.role:
            parts.append(f"({self.role})")
        return "".join(parts)


#: pdca's own jobs: the default actor of a unit of work.
SYSTEM = Actor("pdca", role="system")
#: The annual rollover's default actor.
ROLLOVER = Actor("rollover", role="system")
