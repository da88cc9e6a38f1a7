"""What a pledged account posts: the campaign's message, a wording variant or the
supporter's own edit, and the campaign link tagged with UTM parameters per platform.

Pure functions over a PledgeCampaign, shared by pledging (the receipt), rules (identical
text, costs) and release (the Post written for each pledge), so all three agree.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.campaigns import text_rules
from bot.campaigns.schedules.fields import X_MAX_CHARS_TO_COUNT
from bot.storage.models import PledgeCampaign


def utm_tag(link: str, *, platform: str, campaign: str) -> str:
    """``link`` with utm_source/utm_medium/utm_campaign added, so the campaign's analytics
    can tell the release's visits apart by platform. Parameters already present are kept
    (a volunteer's own tagging wins), and the volunteer's query is kept as written: only
    the missing tags are appended, because re-encoding it (``ref`` → ``ref=``, ``;`` →
    ``%3B``) can change what the site they link to reads."""
    parts = urlsplit(link)
    have = {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    missing = [
        (key, value)
        for key, value in (
            ("utm_source", platform),
            ("utm_medium", "social"),
            ("utm_campaign", campaign),
        )
        if key not in have
    ]
    if not missing:
        return link
    query = "&".join(q for q in (parts.query, urlencode(missing)) if q)
    return urlunsplit(parts._replace(query=query))


def tagged_link(pc: PledgeCampaign, platform: str) -> str | None:
    if not pc.link:
        return None
    return utm_tag(pc.link, platform=platform, campaign=pc.campaign.slug)


def wordings(pc: PledgeCampaign, platform: str) -> list[str]:
    """The campaign's texts on ``platform``: its message there, then every variant."""
    return [pc.message[platform], *pc.variants]


def choose_variant(pc: PledgeCampaign, platform: str, pledged_before: int) -> int | None:
    """Round-robin over [message] + variants, so consecutive supporters on a platform get
    different texts. None = the message itself, k = ``variants[k]``."""
    slot = pledged_before % len(wordings(pc, platform))
    return None if slot == 0 else slot - 1


def base_text(pc: PledgeCampaign, platform: str, variant: int | None, wording: str | None) -> str:
    """The text before the link: the supporter's edit, else their variant, else the message."""
    if wording:
        return wording
    if variant is not None and 0 <= variant < len(pc.variants):
        return pc.variants[variant]
    return pc.message[platform]


def as_posted(platform: str, text: str, link: str | None) -> str:
    """What appears on the platform: on X and Mastodon the link goes into the text (where it
    counts 23 characters); on Facebook the link is attached to the post as its ``link``
    field."""
    return text_rules.x_text(text, link) if platform in text_rules.LINK_IN_TEXT else text


def refusal(
    platform: str, text: str, link: str | None, *, max_length: int | None = None
) -> str | None:
    """None when ``text`` (with ``link``) fits ``platform``, else what to fix.
    ``max_length``: the account's own server's limit (``Account.max_length``), where
    each server sets its own (Mastodon); None: the platform's default."""
    posted = as_posted(platform, text, link)
    if platform == "x" and len(posted) > X_MAX_CHARS_TO_COUNT:
        # not counted: twitter-text's weighted count slows down on long texts
        return (
            f"is {len(posted):,} characters; X allows {text_rules.X_MAX_WEIGHTED} "
            f"(links count as {text_rules.X_URL_WEIGHT})"
        )
    refused = text_rules.check(platform, posted, max_length=max_length)
    if refused is None and platform == "bluesky":
        # The app.bsky.feed.post lexicon, as the atproto SDK's model checks it (the card
        # link's URI too): what the PDS would refuse at the release is refused now.
        from bot.platforms.bluesky.rules import record_problem

        refused = record_problem(text, link)
    return refused
