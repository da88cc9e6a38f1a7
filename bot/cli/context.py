"""What every command shares: settings loaded once, a runtime opened on demand."""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from bot.cli.undecodable import refuse_undecodable_values
from bot.runtime.wiring import Runtime
from bot.settings import ConfigError, Settings, folder_problems, load_settings


class AppContext:
    def __init__(self, config_file: Path) -> None:
        self.config_file = config_file

    @cached_property
    def settings(self) -> Settings:
        try:
            return load_settings(self.config_file)
        except ConfigError as exc:
            raise click.ClickException(
                f"{exc}\n(read from the environment and {self.config_file})"
            ) from None

    @cached_property
    def runtime(self) -> Runtime:
        """The database, brought up to date with migrations (safe to run every time)."""
        runtime = Runtime(self.settings)
        try:
            runtime.migrate()
        except Exception as exc:  # show the operator what is wrong, not a traceback
            raise click.ClickException(
                f"cannot open the database at DATABASE_URL ({type(exc).__name__}: {exc}); "
                "check the setting and that the database server is running"
            ) from None
        return runtime


def refuse_missing_folders(settings: Settings) -> None:
    """Before a long-running process starts: a setting naming a folder that does not
    exist stops it here, by name, rather than minutes later in a traceback."""
    problems = folder_problems(settings)
    if problems:
        raise click.ClickException("bad configuration:\n  " + "\n  ".join(problems))


def pass_app(function: Callable[..., Any]) -> Callable[..., Any]:
    """As ``click.make_pass_decorator(AppContext)``: the command gets the AppContext first.
    Before it runs, every value it took is checked to be UTF-8 text: the command line is
    checked as a whole before any command (bot/cli/undecodable.py), but an answer typed at
    a prompt (a token, a PIN) arrives only now."""

    @functools.wraps(function)
    def with_app(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        refuse_undecodable_values(ctx)
        app = ctx.find_object(AppContext)
        if app is None:
            raise RuntimeError(f"{ctx.command_path} ran outside bot.cli.main (no AppContext)")
        return ctx.invoke(function, app, *args, **kwargs)

    return with_app
