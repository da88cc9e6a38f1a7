"""--state FILE keeps the sandbox's world across restarts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
import tweepy

from bot.sandbox import persistence
from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxAdmin, free_port, running_sandbox, start_sandbox_process
from tests.support.routing import x_client


def test_a_restart_keeps_users_tokens_and_posts(tmp_path: Path) -> None:
    state_file = str(tmp_path / "sandbox.sqlite")
    with running_sandbox(SandboxOptions(state_file=state_file)) as first:
        alice = first.admin.create_x_user("alice", followers=321)
        client = x_client(first.url, alice)
        kept = client.create_tweet(text="I survive restarts", user_auth=True).data["id"]
    with running_sandbox(SandboxOptions(state_file=state_file)) as second:
        client = x_client(second.url, alice)
        me = client.get_me(user_fields=["public_metrics"], user_auth=True).data
        assert me.username == "alice"
        assert me.public_metrics["followers_count"] == 321
        assert [p["text"] for p in second.admin.posts("x", alice["id"])] == ["I survive restarts"]
        newer = client.create_tweet(text="after restart", user_auth=True).data["id"]
        assert int(newer) > int(kept)
        with pytest.raises(tweepy.Forbidden):  # still a duplicate after the restart
            client.create_tweet(text="I survive restarts", user_auth=True)


def test_a_restart_keeps_mastodon_instances_apps_accounts_tokens_and_statuses(
    tmp_path: Path,
) -> None:
    from bot.platforms.base import Credentials
    from bot.platforms.http import ANY_HOST
    from bot.platforms.mastodon import MastodonPlatform

    state_file = str(tmp_path / "sandbox.sqlite")
    with running_sandbox(SandboxOptions(state_file=state_file)) as first:
        first.admin.mastodon_instance("kept.example", max_characters=900)
        made = first.admin.create_mastodon_account("kept.example", "ann", followers=42)
        creds = Credentials(made["access_token"], "", made["id"], server=made["server"])
        md = MastodonPlatform(routes={ANY_HOST: first.url})
        kept = md.publish(creds, "I survive restarts")
        client_id, _ = md.register_app("kept.example", "https://clarion.test/cb")
    with running_sandbox(SandboxOptions(state_file=state_file)) as second:
        md = MastodonPlatform(routes={ANY_HOST: second.url})
        assert md.verify(creds).followers == 42
        assert md.instance_limits("kept.example").max_characters == 900
        newer = md.publish(creds, "after restart")
        assert int(newer.platform_id) > int(kept.platform_id)
        statuses = second.admin.mastodon_statuses("kept.example", made["id"])
        assert [s["text"] for s in statuses] == ["after restart", "I survive restarts"]
        url = md.authorize_url("kept.example", client_id, "https://clarion.test/cb", "s")
        assert requests.get(url, timeout=5).status_code == 200  # the app is still known


def test_revocations_survive_a_restart(tmp_path: Path) -> None:
    state_file = str(tmp_path / "sandbox.sqlite")
    with running_sandbox(SandboxOptions(state_file=state_file)) as first:
        alice = first.admin.create_x_user("alice")
        first.admin.revoke("x", alice["access_token"])
    with (
        running_sandbox(SandboxOptions(state_file=state_file)) as second,
        pytest.raises(tweepy.Unauthorized),
    ):
        x_client(second.url, alice).get_me(user_auth=True)


def test_changes_are_saved_within_about_a_second_while_running(tmp_path: Path) -> None:
    state_file = str(tmp_path / "sandbox.sqlite")
    with running_sandbox(SandboxOptions(state_file=state_file)) as sandbox:
        alice = sandbox.admin.create_x_user("alice")
        x_client(sandbox.url, alice).create_tweet(text="saved soon", user_auth=True)
        deadline = time.monotonic() + 3
        saved = None
        while time.monotonic() < deadline:
            saved = persistence.load(state_file)
            if saved and saved["x"]["tweets"]:
                break
            time.sleep(0.1)
        assert saved is not None
        assert [t["text"] for t in saved["x"]["tweets"]] == ["saved soon"]


def test_sandbox_time_never_runs_backwards_after_a_restart(tmp_path: Path) -> None:
    state_file = str(tmp_path / "sandbox.sqlite")
    with running_sandbox(SandboxOptions(state_file=state_file)) as first:
        ahead = first.admin.advance_clock(7 * 24 * 3600)["timestamp"]
    with running_sandbox(SandboxOptions(state_file=state_file)) as second:
        assert second.admin.advance_clock(0)["timestamp"] >= ahead


def test_the_command_restores_state_from_its_state_option(tmp_path: Path) -> None:
    state_file = str(tmp_path / "cli.sqlite")
    port = free_port()
    process = start_sandbox_process(port, "--state", state_file)
    try:
        admin = SandboxAdmin(f"http://127.0.0.1:{port}")
        carol = admin.create_x_user("carol")
        x_client(admin.url, carol).create_tweet(text="from the command", user_auth=True)
    finally:
        process.terminate()  # uvicorn shuts down cleanly on SIGTERM and saves once more
        process.wait(timeout=10)
    process = start_sandbox_process(port, "--state", state_file)
    try:
        admin = SandboxAdmin(f"http://127.0.0.1:{port}")
        assert [p["text"] for p in admin.posts("x", carol["id"])] == ["from the command"]
        assert requests.get(f"{admin.url}/_sandbox/x/users", timeout=5).json()[0]["username"] == (
            "carol"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_facebook_pages_survive_a_restart(tmp_path: Path) -> None:
    state_file = str(tmp_path / "sandbox.sqlite")
    with running_sandbox(SandboxOptions(state_file=state_file)) as first:
        if first.state is None or first.state.fb is None:
            raise AssertionError("the sandbox started without its Graph part")
        page = first.admin.create_page("Persistent Page", followers=12)
    with running_sandbox(SandboxOptions(state_file=state_file)) as second:
        names = [a["name"] for a in second.admin.timeline() if a["platform"] == "facebook"]
        assert names == ["Persistent Page"]
        assert second.admin.posts("facebook", page["page_id"]) == []
