"""The console's menu: what volunteers use every day comes first, admin pages last."""

from __future__ import annotations

import re

from bot.console.roles import Role


def _menu(page: str) -> list[str]:
    nav = page.split('aria-label="Console"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r">([^<>]+)</a>", nav)


def test_an_editor_finds_schedule_files_beside_posts(console):
    menu = _menu(console.client(Role.EDITOR).get("/console/posts").text)
    assert menu[:3] == ["Calendar", "Posts", "Schedule files"]


def test_an_admin_finds_people_and_audit_after_the_volunteers_pages(console):
    menu = _menu(console.client(Role.ADMIN).get("/console/posts").text)
    assert menu.index("Schedule files") < menu.index("People") < menu.index("Audit")
