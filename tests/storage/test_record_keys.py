"""Every delivery row gets its own record key when it is written, however it is written."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from bot.platforms.record_keys import is_tid
from bot.storage.models import Account, Delivery, Post
from tests.support.factories import add_account, queue, spec


def test_deliveries_inserted_in_bulk_each_get_their_own_record_key(sessions, vault):
    add_account(sessions, vault, "x", "union")
    queue(sessions, spec("Bulk"))
    with sessions() as session:
        post_id = session.scalars(select(Post.id)).one()
        accounts = [
            {"platform": "x", "handle": f"s{n}", "platform_user_id": f"{n}", "credentials": ""}
            for n in range(50)
        ]
        account_ids = session.scalars(insert(Account).returning(Account.id), accounts).all()
        rows = [
            {"post_id": post_id, "account_id": a, "platform": "x", "due_at": datetime.now(UTC)}
            for a in account_ids
        ]
        session.execute(insert(Delivery), rows)
        keys = session.scalars(select(Delivery.record_key)).all()
    assert len(set(keys)) == 51
    assert all(is_tid(key) for key in keys)
