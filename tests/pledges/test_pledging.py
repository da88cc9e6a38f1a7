"""Pledging: what a pledge will post, and how it is made, changed and withdrawn while the
campaign is open (and refused once the release is written)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AccountInfo, Credentials
from bot.pledges.pledging import (
    PledgeError,
    add_pledge,
    edit_pledge,
    find_campaign,
    key_hash,
    open_email,
    pledge_by_secret,
    preview,
    progress,
    withdraw,
)
from bot.pledges.release import release
from bot.pledges.texts import utm_tag
from bot.storage.models import Account, AccountStatus, Pledge, PledgeCampaignState, PledgeState
from bot.storage.vault import Vault
from tests.support.pledges import NOW, RELEASE, Pledger, make_campaign


def test_a_receipt_says_exactly_what_goes_out_with_the_tagged_link(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    receipt = pledge_factory("fujitsu", "1")
    assert receipt.text == (
        "Stop the victimisation of reps at Fujitsu\nhttps://union.org.uk/fujitsu"
        "?utm_source=x&utm_medium=social&utm_campaign=fujitsu"
    )
    assert receipt.handle == "h1" and receipt.release_at == RELEASE
    fb = pledge_factory("fujitsu", "2", platform="facebook")
    assert fb.text == "Stop it now" and fb.link is not None and "utm_source=facebook" in fb.link


def test_the_withdraw_secret_is_not_stored_only_its_hash(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    receipt = pledge_factory("fujitsu", "1")
    with sessions() as s:
        pledge = s.scalars(select(Pledge)).one()
        assert pledge.withdraw_key_hash == key_hash(receipt.withdraw_secret)
        assert receipt.withdraw_secret not in pledge.withdraw_key_hash
        assert pledge_by_secret(s, receipt.withdraw_secret) is not None
        assert pledge_by_secret(s, receipt.withdraw_secret + "x") is None


def test_progress_counts_live_pledges_and_their_reach(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=500)
    pledge_factory("fujitsu", "1", followers=100)
    pledge_factory("fujitsu", "2", followers=50, platform="facebook")
    gone = pledge_factory("fujitsu", "3", followers=1000)
    with sessions() as s:
        assert withdraw(s, gone.withdraw_secret, NOW)
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        p = progress(s, pc, NOW)
    assert (p.pledged, p.goal, p.pledged_reach, p.ready_reach) == (2, 500, 150, 150)
    assert p.by_platform == {"x": 1, "facebook": 1}
    assert p.seconds_left == (RELEASE - NOW).total_seconds()


def test_supporters_get_the_variants_round_robin(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, variants=["Variant A", "Variant B"], link=None)
    got = [pledge_factory("fujitsu", str(i)).text for i in range(4)]
    assert got == [
        "Stop the victimisation of reps at Fujitsu",
        "Variant A",
        "Variant B",
        "Stop the victimisation of reps at Fujitsu",
    ]


def test_wording_too_long_for_x_with_the_link_is_refused(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    with pytest.raises(PledgeError, match="shorten by 1"):
        # 256 + newline + 23 for the link = 280 + 1
        pledge_factory("fujitsu", "1", wording="a" * 257)
    assert pledge_factory("fujitsu", "1", wording="a" * 256).text.startswith("a" * 256)


def test_wording_edits_are_refused_when_the_campaign_does_not_allow_them(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, allow_edit=False)
    with pytest.raises(PledgeError, match="not to change"):
        pledge_factory("fujitsu", "1", wording="my words")


def test_no_pledges_are_taken_once_the_release_time_has_come(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    with pytest.raises(PledgeError, match="no longer taking pledges"):
        pledge_factory("fujitsu", "1", now=RELEASE)


def test_edit_changes_wording_and_email_and_empty_clears_them(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    receipt = pledge_factory("fujitsu", "1", email="rep@example.org")
    with sessions() as s:
        edited = edit_pledge(
            s,
            vault,
            receipt.withdraw_secret,
            wording="Solidarity with the reps",
            email=None,
            now=NOW,
        )
        assert edited.text.startswith("Solidarity with the reps\n")
        pledge = s.scalars(select(Pledge)).one()
        assert open_email(vault, pledge.email) == "rep@example.org"
        cleared = edit_pledge(s, vault, receipt.withdraw_secret, wording="", email="", now=NOW)
        assert cleared.text.startswith("Stop the victimisation")
        s.refresh(pledge)
        assert pledge.email is None and pledge.wording is None
        with pytest.raises(PledgeError, match="no longer"):
            edit_pledge(s, vault, receipt.withdraw_secret, wording="late", email=None, now=RELEASE)


def test_withdraw_deletes_the_sealed_tokens_and_the_email(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    receipt = pledge_factory("fujitsu", "1", email="rep@example.org")
    with sessions() as s:
        before = s.scalars(select(Account)).one()
        assert before.credentials and s.scalars(select(Pledge)).one().email
    with sessions() as s:
        assert withdraw(s, receipt.withdraw_secret, NOW)
        assert not withdraw(s, receipt.withdraw_secret, NOW)
    with sessions() as s:
        account = s.scalars(select(Account)).one()
        pledge = s.scalars(select(Pledge)).one()
        assert account.credentials == "" and account.token_fingerprint == ""
        assert account.status == AccountStatus.DISABLED
        assert pledge.email is None and pledge.state == PledgeState.WITHDRAWN


def test_withdraw_is_refused_once_the_release_has_started(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    receipt = pledge_factory("fujitsu", "1")
    with sessions() as s:
        assert not withdraw(s, receipt.withdraw_secret, RELEASE + timedelta(seconds=1))


def test_pledging_again_refreshes_the_token_and_replaces_the_link(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    first = pledge_factory("fujitsu", "1", token="old")
    second = pledge_factory("fujitsu", "1", token="new")
    assert first.pledge_id == second.pledge_id
    with sessions() as s:
        assert pledge_by_secret(s, first.withdraw_secret) is None
        assert s.scalars(select(Pledge)).one().state == PledgeState.ACTIVE


def test_preview_is_the_default_text_on_each_platform(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        pc = make_campaign(s, link=None)
        assert preview(pc, "x") == "Stop the victimisation of reps at Fujitsu"
        assert preview(pc, "facebook") == "Stop it now"


def test_utm_tags_keep_the_volunteers_own_query_as_written() -> None:
    tagged = utm_tag(
        "https://union.example/p?ref&id=a%2Fb;lang=en#sign", platform="x", campaign="c"
    )
    assert tagged == (
        "https://union.example/p?ref&id=a%2Fb;lang=en"
        "&utm_source=x&utm_medium=social&utm_campaign=c#sign"
    )
    # a volunteer's own tagging still wins, and a link without a query gets one
    assert utm_tag("https://u.example/?utm_source=leaflet", platform="x", campaign="c") == (
        "https://u.example/?utm_source=leaflet&utm_medium=social&utm_campaign=c"
    )
    assert utm_tag("https://u.example", platform="facebook", campaign="c") == (
        "https://u.example?utm_source=facebook&utm_medium=social&utm_campaign=c"
    )


def test_a_pledge_that_arrives_after_the_release_was_written_is_refused(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1, policy="release_anyway")
    request_start = RELEASE - timedelta(seconds=11)
    with sessions() as web:
        pc = find_campaign(web, "fujitsu")
        assert pc is not None and pc.state == PledgeCampaignState.OPEN
        web.commit()
        with sessions() as daemon:  # the release is written during the sign-in's calls
            assert release(daemon, pc.id, RELEASE - timedelta(seconds=10)).state == "releasing"
        with pytest.raises(PledgeError, match="no longer taking pledges"):
            add_pledge(
                web, vault, pc, "x", Credentials("t", "s", "u1"),
                AccountInfo("u1", "ann", "Ann", 10), now=request_start,
            )  # fmt: skip
    with sessions() as s:
        assert s.scalars(select(Pledge)).all() == []


def test_an_edit_after_the_release_was_written_is_refused(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1, policy="release_anyway")
    r = pledge_factory("fujitsu", "1")
    with sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        release(s, pc.id, RELEASE - timedelta(seconds=10))
    with sessions() as s, pytest.raises(PledgeError):
        # a clock that lags the daemon's must not let the edit through
        edit_pledge(s, vault, r.withdraw_secret, wording="Mine", email=None, now=NOW)


def test_choosing_the_main_message_as_your_wording_posts_the_main_message(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1, variants=["Variant one text"])
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        main = pc.message["x"]
        add_pledge(
            s, vault, pc, "x", Credentials("t0", "s", "u0"),
            AccountInfo("u0", "h0", "n", 1), now=NOW,
        )  # fmt: skip
        r = add_pledge(
            s, vault, pc, "x", Credentials("t1", "s", "u1"),
            AccountInfo("u1", "h1", "n", 1), now=NOW,
        )  # fmt: skip
        assert r.text.startswith("Variant one text")
        after = edit_pledge(s, vault, r.withdraw_secret, wording=main, email=None, now=NOW)
    assert after.text.startswith(main)


def test_pledging_again_keeps_the_wording_and_email_chosen_before(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    pledge_factory("fujitsu", "1", wording="My own words", email="ann@example.org")
    again = pledge_factory("fujitsu", "1", token="new-token")
    assert again.text.startswith("My own words")
    with sessions() as s:
        pledge = s.scalars(select(Pledge)).one()
        assert open_email(vault, pledge.email) == "ann@example.org"


@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "esc\x1b[31m"])
def test_control_characters_in_a_wording_are_refused_plainly(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger, bad: str
) -> None:
    with sessions() as s:
        make_campaign(s)
    r = pledge_factory("fujitsu", "1")
    with sessions() as s, pytest.raises(PledgeError, match="control characters"):
        edit_pledge(s, vault, r.withdraw_secret, wording=bad, email=None, now=NOW)
    with pytest.raises(PledgeError, match="control characters"):
        pledge_factory("fujitsu", "2", wording=bad)
    ok = pledge_factory("fujitsu", "3", wording="Two lines\n\tand a tab")
    assert "Two lines\n\tand a tab" in ok.text


def test_a_mastodon_supporters_wording_is_checked_against_their_own_servers_limit(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    with sessions() as s:
        pc = make_campaign(s, link=None)
        pc.message = {**pc.message, "mastodon": "Stand with the Fujitsu reps"}
        s.commit()
    long_words = "Solidarity with the reps. " * 30  # 779 characters: past Mastodon's 500
    creds = Credentials("tok", "", "", server="https://long.example")

    def pledge(user: str, max_length: int | None, wording: str | None) -> str:
        with sessions() as s:
            pc = find_campaign(s, "fujitsu")
            assert pc is not None
            who = AccountInfo(user, f"{user}@long.example", user, 10)
            receipt = add_pledge(
                s,
                vault,
                pc,
                "mastodon",
                creds,
                who,
                wording=wording,
                now=NOW,
                max_length=max_length,
            )
            return receipt.withdraw_secret

    with pytest.raises(PledgeError, match="500"):
        pledge("short", None, long_words)  # a server that said nothing: the default
    secret = pledge("roomy", 1000, long_words)
    with sessions() as s:
        [(stored, limit)] = s.execute(
            select(Pledge.wording, Account.max_length)
            .join(Account)
            .where(Account.handle == "roomy@long.example")
        ).all()
        assert (stored, limit) == (long_words.strip(), 1000)
        # an edit later is checked against the limit kept for the account
        with pytest.raises(PledgeError, match="1000|1,000"):
            edit_pledge(s, vault, secret, wording=long_words * 2, email=None, now=NOW)
        edit_pledge(s, vault, secret, wording=long_words + "And more.", email=None, now=NOW)
