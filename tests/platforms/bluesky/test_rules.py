"""A Bluesky post's request, built by pure functions: the record, its facets (UTF-8 byte
offsets), the link card, thread replies and the record key chosen before sending."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.platforms.base import OutcomeUnknown, PermanentError
from bot.platforms.bluesky import rules
from bot.platforms.bluesky.credentials import pack, token_expiry, unpack
from bot.platforms.http.messages import HttpResponse
from bot.platforms.record_keys import (
    decode_tid,
    encode_tid,
    is_tid,
    new_record_key,
    part_record_key,
)

SESSION = {
    "did": "did:plc:campaign",
    "handle": "union.bsky.social",
    "pds_url": "https://bsky.social",
    "auth": "app_password",
    "access_token": "access-1",
    "refresh_token": "refresh-1",
}
AT = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def body_of(call) -> dict:
    return json.loads(call.request.body)


def test_a_post_is_created_under_the_record_key_it_was_given():
    key = new_record_key()
    call = rules.publish_call(SESSION, "Hello", record_key=key, created_at=AT)
    body = body_of(call)
    assert call.request.url == "https://bsky.social/xrpc/com.atproto.repo.createRecord"
    assert call.request.headers["Authorization"] == "Bearer access-1"
    assert not call.request.idempotent
    assert body["repo"] == "did:plc:campaign"
    assert body["collection"] == "app.bsky.feed.post"
    assert body["rkey"] == key
    assert body["record"] == {
        "$type": "app.bsky.feed.post",
        "text": "Hello",
        "createdAt": "2026-12-06T09:30:00.000Z",
    }


def test_link_and_hashtag_facets_count_utf8_bytes_not_characters():
    text = "Grève 💪 https://union.example/strike #Strike4Pay!"
    record = body_of(rules.publish_call(SESSION, text, record_key=new_record_key()))["record"]
    encoded = text.encode()
    spans = {
        facet["features"][0]["$type"]: encoded[
            facet["index"]["byteStart"] : facet["index"]["byteEnd"]
        ].decode()
        for facet in record["facets"]
    }
    assert spans == {
        "app.bsky.richtext.facet#link": "https://union.example/strike",
        "app.bsky.richtext.facet#tag": "#Strike4Pay",
    }
    # The byte offset, past "è" (2 bytes) and "💪" (4 bytes), differs from the index.
    link = record["facets"][0]
    assert link["index"]["byteStart"] == text.index("https") + 1 + 3


def test_the_campaign_link_is_a_link_card():
    record = body_of(
        rules.publish_call(SESSION, "Sign it", link="https://e.org/petition/", record_key=None)
    )["record"]
    assert record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {
            "$type": "app.bsky.embed.external#external",
            "uri": "https://e.org/petition/",
            "title": "e.org/petition",
            "description": "",
        },
    }
    assert record["text"] == "Sign it"


FIRST_URI = "at://did:plc:campaign/app.bsky.feed.post/3lbqzq2g3ab2c"
SECOND_URI = "at://did:plc:campaign/app.bsky.feed.post/3lbqzq2g3ab2d"
CID_A = "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
CID_B = "bafyreibbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"


def record_answer(uri: str, cid: str, value: dict) -> HttpResponse:
    """A getRecord answer as the PDS sends it, read by the rules into the SDK's model."""
    return HttpResponse(200, json.dumps({"uri": uri, "cid": cid, "value": value}).encode(), {})


def post_value(text: str, **more) -> dict:
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-12-06T09:30:00Z"} | more


def test_a_reply_names_the_threads_root_and_its_parent():
    first = rules.read_record_response(record_answer(FIRST_URI, CID_A, post_value("1")))
    refs = rules.reply_refs(first)
    assert refs == {"root": {"uri": FIRST_URI, "cid": CID_A}, "parent": refs["root"]}
    second = rules.read_record_response(
        record_answer(SECOND_URI, CID_B, post_value("2", reply=refs))
    )
    assert rules.reply_refs(second) == {
        "root": {"uri": FIRST_URI, "cid": CID_A},
        "parent": {"uri": SECOND_URI, "cid": CID_B},
    }
    record = body_of(rules.publish_call(SESSION, "3", reply=rules.reply_refs(second)))["record"]
    assert record["reply"]["root"]["cid"] == CID_A
    assert record["reply"]["parent"]["cid"] == CID_B


def test_a_parent_that_is_not_a_readable_post_is_its_own_threads_root():
    odd = rules.read_record_response(record_answer(FIRST_URI, CID_A, {"text": "no $type"}))
    assert rules.post_value(odd.value) is None
    assert rules.reply_refs(odd)["root"] == {"uri": FIRST_URI, "cid": CID_A}


def test_a_parent_with_a_malformed_cid_is_refused_on_reading_and_before_sending():
    from bot.platforms.base import TransientError

    with pytest.raises(TransientError, match=r"502.*cid.*'cid-a'"):
        rules.read_record_response(record_answer(FIRST_URI, "cid-a", post_value("1")))
    ref = {"uri": FIRST_URI, "cid": "cid-a"}
    with pytest.raises(PermanentError, match=r"would be refused by Bluesky.*reply\.parent\.cid"):
        rules.publish_call(SESSION, "2", reply={"root": ref, "parent": ref})


def test_a_card_link_the_lexicon_refuses_is_a_permanent_error_naming_the_field():
    too_long = "https://union.example/" + "a" * 8200
    with pytest.raises(PermanentError, match=r"external\.uri.*8192") as refused:
        rules.publish_call(SESSION, "Sign it", link=too_long)
    assert refused.value.code == "InvalidRecord"
    assert rules.record_problem("Sign it", too_long) == refused.value.message
    assert rules.record_problem("Sign it", "https://union.example/petition") is None


def test_the_request_body_is_the_sdks_create_record_model_as_the_sdk_dumps_it():
    from atproto_client import models

    call = rules.publish_call(SESSION, "Hi #Pay", link="https://e.org/p", created_at=AT)
    body = body_of(call)
    data = models.ComAtprotoRepoCreateRecord.Data.model_validate(
        body, context={"strict_string_format": True}
    )
    assert models.get_model_as_dict(data) == body
    assert models.get_or_create(body["record"], models.AppBskyFeedPost.Record).text == "Hi #Pay"
    assert "validate" not in body and "swapCommit" not in body  # None is left out


def test_the_nsids_are_the_sdks():
    from atproto_client import models

    assert models.ids.AppBskyFeedPost == rules.POST_COLLECTION
    url = rules.get_session_call(SESSION).request.url
    assert url.endswith("/xrpc/" + models.ids.ComAtprotoServerGetSession)


def test_an_answer_the_lexicon_cannot_read_is_a_transient_bad_gateway():
    from bot.platforms.base import TransientError

    call = rules.get_session_call(SESSION)
    with pytest.raises(TransientError, match="502") as failed:
        call.read(HttpResponse(200, b'{"handle": "union.bsky.social"}', {}))
    assert "did" in failed.value.message


def test_a_post_view_the_sdk_cannot_read_is_left_out_rather_than_the_batch():
    from bot.platforms.bluesky.metrics import parse_posts

    good = {
        "uri": FIRST_URI,
        "cid": CID_A,
        "author": {"did": "did:plc:campaign", "handle": "union.bsky.social"},
        "record": post_value("1"),
        "indexedAt": "2026-12-06T09:30:01.000Z",
        "likeCount": 4,
    }
    bad = dict(good, uri=SECOND_URI, author=None)
    answer = json.dumps({"posts": [good, bad]}).encode()
    views = rules.get_posts_call([FIRST_URI, SECOND_URI]).read(HttpResponse(200, answer, {}))
    readings = {r.platform_id: r for r in parse_posts(views, [FIRST_URI, SECOND_URI])}
    assert readings[FIRST_URI].values["likes"] == 4
    assert readings[FIRST_URI].values["quotes"] is None
    assert readings[SECOND_URI].deleted


def test_bluesky_cannot_hold_a_post_for_later():
    with pytest.raises(PermanentError, match="cannot hold a post"):
        rules.publish_call(SESSION, "Later", publish_at=AT)


def test_a_record_key_that_is_not_a_tid_is_refused():
    with pytest.raises(PermanentError, match="not a TID"):
        rules.publish_call(SESSION, "Hi", record_key="delivery-12")


def test_an_accepted_post_is_read_into_its_uri_and_bsky_app_url():
    call = rules.publish_call(SESSION, "Hi", record_key="3lbqzq2g3ab2c")
    answer = {"uri": "at://did:plc:campaign/app.bsky.feed.post/3lbqzq2g3ab2c", "cid": CID_A}
    published = call.read(HttpResponse(200, json.dumps(answer).encode(), {}))
    assert published.platform_id == answer["uri"]
    assert published.url == "https://bsky.app/profile/union.bsky.social/post/3lbqzq2g3ab2c"


def test_an_accepted_post_without_a_readable_uri_is_an_unknown_outcome():
    call = rules.publish_call(SESSION, "Hi", record_key="3lbqzq2g3ab2c")
    with pytest.raises(OutcomeUnknown):
        call.read(HttpResponse(200, b"{}", {}))


def test_tids_round_trip_and_sort_by_time():
    assert decode_tid(encode_tid(1_700_000_000_000_000, 17)) == (1_700_000_000_000_000, 17)
    keys = [new_record_key() for _ in range(50)]
    assert keys == sorted(keys)
    assert len(set(keys)) == 50
    assert all(is_tid(key) for key in keys)
    assert not is_tid("not-a-tid-at-all")


def test_thread_parts_take_consecutive_keys_after_the_deliverys_key():
    key = new_record_key()
    parts = [part_record_key(key, index) for index in range(4)]
    assert parts[0] == key
    assert parts == sorted(parts)
    assert len(set(parts)) == 4
    assert decode_tid(parts[3])[0] - decode_tid(key)[0] == 3


def test_a_session_survives_the_vault_and_a_broken_one_asks_for_reconnecting():
    assert unpack(pack(SESSION)) == SESSION
    assert pack(SESSION).platform_user_id == "did:plc:campaign"
    from bot.platforms.base import AuthError, Credentials

    with pytest.raises(AuthError, match="connect the account again"):
        unpack(Credentials(token="not json"))


def test_a_jwts_expiry_is_read_without_its_signature():
    import base64

    payload = base64.urlsafe_b64encode(b'{"exp": 1800000000}').rstrip(b"=").decode()
    assert token_expiry(f"e30.{payload}.sig") == 1_800_000_000
    assert token_expiry("opaque") is None


def test_the_queue_counts_bluesky_text_in_graphemes_and_bytes():
    from bot.campaigns import text_rules

    assert text_rules.bluesky_length("Grève 👩‍👩‍👧‍👦!") == 8
    assert text_rules.check("bluesky", "💪🏽" * 300) is None
    assert "shorten by 1" in (text_rules.check("bluesky", "a" * 301) or "")
    assert "5,000 bytes" in (text_rules.check("bluesky", "👩‍👩‍👧‍👦" * 200) or "")


FIRST_RECORDS_AT_ONCE = """
import threading
from datetime import UTC, datetime

from bot.platforms.bluesky import rules

SESSION = {"did": "did:plc:campaign", "pds_url": "https://bsky.social", "auth": "app_password",
           "access_token": "a", "refresh_token": "r"}
start, made, failed = threading.Barrier(16), [], []

def post(n):
    start.wait()
    try:
        text = f"#Strike {n} https://union.example/{n}"
        link = "https://union.example/petition"
        call = rules.publish_call(SESSION, text, link=link, created_at=datetime.now(UTC))
        made.append(call.request.body)
    except Exception as exc:
        failed.append(repr(exc))

threads = [threading.Thread(target=post, args=(n,)) for n in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(len(made), failed)
"""


def test_sixteen_threads_building_their_first_records_at_once_all_succeed():
    import subprocess
    import sys
    from pathlib import Path

    # A fresh interpreter: the SDK not yet imported, as in a daemon's first release burst.
    done = subprocess.run(
        [sys.executable, "-c", FIRST_RECORDS_AT_ONCE],
        cwd=Path(__file__).resolve().parents[3],
        env={"PYTHONPATH": "."},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "16 []", done.stdout + done.stderr
