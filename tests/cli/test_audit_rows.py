"""What the CLI changes is in the audit log, as the console's changes are: pledge campaigns
created and edited, keys rotated (a restore: tests/cli/test_backup.py); and what keys
rotate reseals."""

from __future__ import annotations

from sqlalchemy import select

from bot.people.audit import cli_actor
from bot.settings import Secret
from bot.storage.models import AlertChannels, AuditEntry, Campaign, MastodonApp
from bot.storage.vault import Vault
from tests.support.cli import Cli, create


def entries(cli: Cli) -> list[AuditEntry]:
    with cli.runtime().sessions() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_pledges_create_and_edit_leave_an_audit_row_each_with_what_was_stored(cli: Cli) -> None:
    create(cli)
    assert cli("pledges", "edit", "fujitsu-demo", "--goal", "300").exit_code == 0
    rows = [(e.action, e.subject, e.actor) for e in entries(cli)]
    assert rows == [
        ("pledge_campaign.create", "pledge_campaign:fujitsu-demo", cli_actor()),
        ("pledge_campaign.edit", "pledge_campaign:fujitsu-demo", cli_actor()),
    ]
    assert entries(cli)[-1].after["goal"] == 300


def test_a_dry_run_leaves_no_audit_row(cli: Cli) -> None:
    create(cli)
    assert cli("pledges", "edit", "fujitsu-demo", "--goal", "9", "--dry-run").exit_code == 0
    assert [e.action for e in entries(cli)] == ["pledge_campaign.create"]


def test_keys_rotate_is_audited_with_how_many_secrets_it_resealed(with_accounts) -> None:
    assert with_accounts("keys", "rotate").exit_code == 0
    [row] = [e for e in entries(with_accounts) if e.action == "keys.rotate"]
    assert row.after == {"secrets_reencrypted": 2}
    assert row.subject == "TOKEN_ENCRYPTION_KEYS"


def test_keys_rotate_reseals_alert_webhooks_and_mastodon_app_secrets_under_the_new_key(
    with_accounts,
) -> None:
    runtime = with_accounts.runtime()
    with runtime.sessions() as session:
        campaign = Campaign(slug="rota", timezone="UTC")
        session.add(campaign)
        session.flush()
        session.add(
            AlertChannels(
                campaign_id=campaign.id,
                webhook_url=runtime.vault.seal_text("https://hooks.test/T0KEN"),
                webhook_host="hooks.test",
                webhook_secret=runtime.vault.seal_text("sign-with-this"),
            )
        )
        session.add(
            MastodonApp(
                server="https://union.social",
                redirect_uri="urn:ietf:wg:oauth:2.0:oob",
                scopes="write:statuses",
                client_id="cid",
                client_secret=runtime.vault.seal_text("app-secret"),
            )
        )
        session.commit()
    assert with_accounts("keys", "rotate").exit_code == 0
    keys = with_accounts.runtime().settings.token_encryption_keys.reveal()
    only_new = Vault(Secret(keys.split(",")[0]))  # what is left once the old keys go
    with runtime.sessions() as session:
        hook = session.scalars(select(AlertChannels)).one()
        app = session.scalars(select(MastodonApp)).one()
        assert only_new.open_text(hook.webhook_url) == "https://hooks.test/T0KEN"
        assert only_new.open_text(hook.webhook_secret) == "sign-with-this"
        assert only_new.open_text(app.client_secret) == "app-secret"
