"""The console's roles (defined with the people they belong to, in bot.people.roles)."""

from __future__ import annotations

from bot.people.roles import Role

__all__ = ["Role"]
