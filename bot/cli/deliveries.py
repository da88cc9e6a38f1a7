"""`deliveries`: what went out, where, when, with which id — or why not."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.campaigns.enqueue import find_post
from bot.cli.context import AppContext, pass_app
from bot.cli.output import LIMIT, account_label, emit_json, local, table
from bot.cli.posts import delivery_json
from bot.storage.models import Delivery, DeliveryState, Post


@click.group()
def deliveries() -> None:
    """The delivery ledger: one row per post and account."""


@deliveries.command("list")
@click.option("--state", help="pending, sending, unknown, sent, failed, missed or cancelled.")
@click.option("--post", "post_ref", help="Only this post (id or campaign/key).")
@click.option(
    "--limit", default=50, show_default=True, type=LIMIT, help="At most this many, newest first."
)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_app
def list_deliveries(
    app: AppContext, state: str | None, post_ref: str | None, limit: int, as_json: bool
) -> None:
    """List deliveries, most recently due first."""
    with app.runtime.sessions() as session:
        query = (
            select(Delivery)
            .options(
                selectinload(Delivery.account),
                selectinload(Delivery.post).selectinload(Post.campaign),
            )
            .order_by(Delivery.due_at.desc(), Delivery.id.desc())
            .limit(limit)
        )
        if state:
            query = query.where(Delivery.state == state)
        if post_ref:
            post = find_post(session, post_ref)
            if post is None:
                raise click.ClickException(f"no post {post_ref!r}")
            query = query.where(Delivery.post_id == post.id)
        rows = list(session.scalars(query))
        if as_json:
            emit_json([delivery_json(d) for d in rows])
            return
        tz = app.settings.timezone
        table(
            (
                (
                    d.id,
                    f"{d.post.campaign.slug}/{d.post.key}",
                    d.platform,
                    account_label(d.platform, d.account.handle),
                    d.state,
                    local(d.sent_at or d.due_at, tz),
                    _next_try(d, tz),
                    d.url or d.error or "",
                )
                for d in rows
            ),
            (
                "id",
                "post",
                "platform",
                "account",
                "state",
                "sent / due",
                "next try",
                "url or error",
            ),
            empty="no deliveries" + (f" in state {state}" if state else ""),
        )


def _next_try(d: Delivery, tz: str) -> str:
    """When an open delivery is tried again, if not at its due time (a retry, a wait)."""
    if d.state not in DeliveryState.OPEN or d.next_attempt_at == d.due_at:
        return ""
    return local(d.next_attempt_at, tz)
