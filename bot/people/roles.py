"""The four console roles, each allowed everything the one before it is."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """viewer reads everything but secrets; editor composes, edits, cancels and applies
    schedule files; approver adds approvals; admin adds people, accounts and settings."""

    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether someone with this role may do what ``needed`` may."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, raw: str) -> Role:
        """A role from user input; ValueError names the choices."""
        try:
            return cls(raw.strip().lower())
        except ValueError:
            choices = ", ".join(r.value for r in cls)
            raise ValueError(f"role {raw!r} is not one of: {choices}") from None
