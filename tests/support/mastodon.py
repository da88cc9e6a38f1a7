"""Mastodon sign-in helpers: the sandbox instance's authorize form answered as a supporter
would."""

from __future__ import annotations

import requests


def consent_mastodon(authorize_url: str, username: str, *, deny: bool = False) -> str:
    """Approve (or deny) Clarion's app on the sandbox instance's authorize form as
    ``username``; return where the instance sends the browser back."""
    back = requests.post(
        authorize_url,
        data={"username": username, "decision": "deny" if deny else "approve"},
        allow_redirects=False,
        timeout=10,
    )
    assert back.status_code == 302, back.text
    return back.headers["location"]
