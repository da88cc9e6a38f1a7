"""The command line: `python main.py COMMAND --help` explains each command."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.accounts import accounts
from bot.cli.admin import config_group, init, keys
from bot.cli.alerts import alerts
from bot.cli.backup import backup, restore
from bot.cli.context import AppContext
from bot.cli.crash import GuardedGroup
from bot.cli.daemon import run
from bot.cli.deliveries import deliveries
from bot.cli.engagement import engagement
from bot.cli.pledges import pledges
from bot.cli.posts import posts
from bot.cli.release import release
from bot.cli.report import report
from bot.cli.schedules import apply, schedules
from bot.cli.status import status
from bot.cli.users import users
from bot.cli.web import web
from bot.runtime.logs import escape_by_default


class LazySandbox(click.Command):
    """`sandbox` imports the server stack only when asked for."""

    def __init__(self) -> None:
        super().__init__(
            "sandbox",
            help="Run the X and Facebook stand-in server (rehearsals, "
            "tests). `python main.py sandbox --help` for its options.",
            add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )

    def invoke(self, ctx: click.Context) -> None:
        from bot.sandbox.cli import sandbox_command

        sandbox_command.main(args=ctx.args, prog_name=ctx.command_path, standalone_mode=True)


@click.group(
    cls=GuardedGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_file",
    default="config.env",
    show_default=True,
    envvar="CLARION_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (values in the environment win).",
)
@click.version_option(package_name="clarion")
@click.pass_context
def main(ctx: click.Context, config_file: Path) -> None:
    """Clarion: scheduled and pledged campaign posts to X and Facebook Pages.

    \b
    Start here:
      python main.py init               create config.env, a key and the database
      python main.py run                run the scheduler (on the sandbox until you
                                        set real credentials)
      python main.py posts add --in 5m "Demo tomorrow 8:30 at Fujitsu HQ"
      python main.py apply              queue the schedule files in schedules/
      python main.py deliveries list    what went out, where, with which id
    """
    escape_by_default()
    ctx.obj = AppContext(config_file)


for command in (
    init,
    config_group,
    keys,
    posts,
    apply,
    schedules,
    deliveries,
    accounts,
    alerts,
    engagement,
    report,
    pledges,
    release,
    run,
    status,
    web,
    backup,
    restore,
    users,
    LazySandbox(),
):
    main.add_command(command)
