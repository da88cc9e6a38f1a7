"""The options `pledges create` and `pledges edit` share, and the PledgeCampaignSpec they
make: what a create needs, and on an edit everything not given kept as it is."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import click

from bot.campaigns.schedules.times import TimeProblem, parse_time, zone
from bot.cli.context import AppContext
from bot.pledges.campaigns import MAX_GOAL, MAX_WINDOW_MINUTES, PledgeCampaignSpec
from bot.pledges.images import CampaignImage, ImageProblem, read_image
from bot.storage.models import GoalPolicy, PledgeCampaign

POLICY_CHOICE = {
    "post-nothing": GoalPolicy.ALL_OR_NOTHING,
    "release-anyway": GoalPolicy.RELEASE_ANYWAY,
}


_options = [
    click.option("--title", help="What supporters see first."),
    click.option("--description", help="A paragraph for the campaign page."),
    click.option("--text", "text_all", help="The message, on every platform."),
    click.option("--x-text", help="The message on X (instead of --text there)."),
    click.option("--facebook-text", help="The message on Facebook (instead of --text there)."),
    click.option("--mastodon-text", help="The message on Mastodon (instead of --text there)."),
    click.option(
        "--platforms",
        default=None,
        help="Where supporters can pledge, comma-separated: x, facebook, mastodon (create: "
        "x,facebook; edit: as it is).",
    ),
    click.option("--variant", "variants", multiple=True, help="Another wording (repeatable)."),
    click.option("--link", help="A web address; UTM-tagged per platform."),
    click.option(
        "--image",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A PNG, JPEG, GIF or WebP picture (at most 5 MB) for the campaign page and its "
        "shared link's card; posts stay text and link. Needs --image-alt.",
    ),
    click.option(
        "--image-alt", help="What the picture shows, for people who cannot see it (required)."
    ),
    click.option("--no-image", is_flag=True, help="Edit: remove the campaign's picture."),
    click.option(
        "--goal", type=click.IntRange(1, MAX_GOAL), help="How many supporters you aim for."
    ),
    click.option("--release", "release_text", help="When it goes out: 'YYYY-MM-DD HH:MM'."),
    click.option("--tz", help="Time zone of --release (default TIMEZONE)."),
    click.option(
        "--if-goal-missed", type=click.Choice(sorted(POLICY_CHOICE)), help="Default post-nothing."
    ),
    click.option(
        "--window",
        type=click.IntRange(0, MAX_WINDOW_MINUTES),
        help="Minutes to spread the posts over (0 = at once).",
    ),
    click.option("--allow-edit/--no-edit", default=None, help="May supporters change the wording?"),
]


def with_options(function: Any) -> Any:
    for option in reversed(_options):
        function = option(function)
    return function


def stored_image(base: PledgeCampaign) -> CampaignImage | None:
    """The picture a campaign has now, as a spec carries it (an edit that does not touch
    it keeps it; the unchanged sha256 means its bytes are not written again)."""
    if base.image_sha256 is None or base.image_data is None or base.image_type is None:
        return None
    return CampaignImage(
        base.image_data,
        base.image_type,
        base.image_width or 0,
        base.image_height or 0,
        base.image_sha256,
        base.image_path or "",
    )


def _image(base: PledgeCampaign | None, given: dict[str, Any]) -> tuple[CampaignImage | None, str]:
    """--image replaces the picture, --no-image removes it, neither keeps it; the alt text
    is required with every new picture (the old words describe the old one); --image-alt
    alone re-describes the kept picture."""
    path: Path | None = given["image"]
    alt = given["image_alt"]
    if given["no_image"]:
        if path is not None or alt is not None:
            raise click.UsageError("--no-image removes the picture: leave out --image/--image-alt")
        return None, ""
    if path is None:
        kept = stored_image(base) if base is not None else None
        if kept is None and alt is not None:
            raise click.UsageError("--image-alt describes a picture: give --image PATH too")
        return kept, (alt if alt is not None else (base.image_alt or "") if base else "")
    try:
        image = read_image(path, str(path))
    except ImageProblem as problem:
        raise click.BadParameter(f"{path}: {problem}", param_hint="--image") from None
    if not alt or not alt.strip():
        raise click.UsageError(
            "--image-alt is needed: describe the picture for people who cannot see it, e.g. "
            "--image-alt 'Union reps holding a banner outside the Fujitsu office'"
        )
    return image, alt


def spec_from_options(
    app: AppContext, slug: str, base: PledgeCampaign | None, given: dict[str, Any]
) -> PledgeCampaignSpec:
    tz_name = given["tz"] or (base.timezone if base else app.settings.timezone)
    try:
        tz = zone(tz_name)
    except TimeProblem as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    if given["release_text"]:
        try:
            release_at = parse_time(given["release_text"], tz).astimezone(UTC)
        except TimeProblem as exc:
            raise click.BadParameter(str(exc), param_hint="--release") from None
    elif base is not None:
        release_at = base.release_at
    else:
        raise click.UsageError("--release is needed: when does it go out?")
    image, image_alt = _image(base, given)
    # Without --platforms, an edit keeps the campaign's platforms (a new --text must not
    # add one the volunteer left out); a create offers both.
    if given["platforms"] is not None:
        platforms = [p.strip() for p in given["platforms"].split(",") if p.strip()]
    else:
        platforms = list(base.message) if base else ["x", "facebook"]
    current = dict(base.message) if base else {}
    message = {p: current[p] for p in platforms if p in current}
    if given["text_all"]:
        message = {p: given["text_all"] for p in platforms}
    for platform, key in (
        ("x", "x_text"),
        ("facebook", "facebook_text"),
        ("mastodon", "mastodon_text"),
    ):
        if given[key]:
            message[platform] = given[key]
    if not message:
        raise click.UsageError("--text (or --x-text / --facebook-text) is needed")
    missing = [p for p in platforms if p not in message]
    if missing:
        raise click.UsageError(
            f"no text for {', '.join(missing)}: give --text (or --x-text / --facebook-text)"
        )
    title = given["title"] or (base.campaign.title if base else "")
    goal = given["goal"] or (base.goal if base else None)
    if goal is None:
        raise click.UsageError("--goal is needed: how many supporters do you aim for?")
    policy = (
        POLICY_CHOICE[given["if_goal_missed"]]
        if given["if_goal_missed"]
        else (base.goal_policy if base else GoalPolicy.ALL_OR_NOTHING)
    )

    def pick(key: str, current: Any, default: Any) -> Any:
        value = given[key]
        if value is None or value == ():
            return current if base is not None else default
        return value

    return PledgeCampaignSpec(
        slug=slug,
        title=title,
        description=pick("description", base and base.description, ""),
        message=message,
        variants=tuple(pick("variants", base and base.variants, ())),
        link=pick("link", base and base.link, None),
        image=image,
        image_alt=image_alt,
        goal=goal,
        release_at=release_at,
        timezone=tz_name,
        goal_policy=policy,
        window_minutes=pick("window", base and base.window_minutes, None),
        allow_edit=pick("allow_edit", base and base.allow_edit, True),
    )
