"""Share buttons for a campaign page: plain links to each platform's own share page
(no script of theirs on ours), and our own small step for Mastodon, which has no single
address to share to.

    share_links("https://pledge.union.example/c/fujitsu", "Defend the union at Fujitsu")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

# A Mastodon server's name as a supporter types it: a DNS name (letters, digits, hyphens;
# at least one dot), with "https://" or a trailing path tolerated and dropped.
_HOSTNAME = re.compile(
    r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE
)


@dataclass(frozen=True)
class ShareLink:
    name: str  # the button's words: "Share on X"
    href: str
    external: bool = True  # opens the platform's page (a new tab), not one of ours


def share_text(title: str, url: str) -> str:
    return f"{title}: add your voice {url}"


def share_links(page_url: str, title: str, slug: str) -> list[ShareLink]:
    """The buttons under "Ask others to join", each a platform's public share address:
    X's web intent (https://developer.x.com/en/docs/x-for-websites/tweet-button/guides/web-intent),
    Facebook's sharer.php (the address its Share Button opens), Bluesky's compose intent
    (https://docs.bsky.app/docs/advanced-guides/intent-links), WhatsApp's click to chat
    (wa.me/?text=, WhatsApp's FAQ "How to use click to chat"), and mailto: (RFC 6068)."""
    text = share_text(title, page_url)
    return [
        ShareLink(
            "Share on X",
            "https://twitter.com/intent/tweet?" + urlencode({"text": title, "url": page_url}),
        ),
        ShareLink(
            "Share on Facebook",
            "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": page_url}),
        ),
        ShareLink(
            "Share on Bluesky", "https://bsky.app/intent/compose?" + urlencode({"text": text})
        ),
        ShareLink("Share on Mastodon", f"/c/{quote(slug)}/share/mastodon", external=False),
        ShareLink("Share on WhatsApp", "https://wa.me/?" + urlencode({"text": text})),
        ShareLink(
            "Share by email",
            f"mailto:?subject={quote(title)}&body={quote(text)}",
            external=False,
        ),
    ]


class BadServer(ValueError):
    """What was typed is not a server name."""


def mastodon_server(typed: str) -> str:
    """The server's host name from what a supporter typed ("mastodon.social",
    "https://mastodon.social/@me"), lower-cased; BadServer if it is not one."""
    host = typed.strip().lower()
    host = re.sub(r"^[a-z]+://", "", host).split("/", 1)[0].removeprefix("@")
    host = host.rsplit("@", 1)[-1]  # "@me@mastodon.social" names the server after the @
    if not _HOSTNAME.match(host):
        raise BadServer(
            f"“{typed.strip()[:80]}” is not a server name: type the part after the last @ "
            "of your Mastodon address, like mastodon.social"
        )
    return host


def mastodon_share(server: str, title: str, page_url: str) -> str:
    """The /share?text= page of ``server``'s web interface: a Mastodon server's own
    compose box, filled in, where the supporter is already signed in."""
    return f"https://{server}/share?" + urlencode({"text": share_text(title, page_url)})
