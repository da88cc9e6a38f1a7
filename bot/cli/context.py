"""What every command shares: settings loaded once, a runtime opened on demand."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import click

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


pass_app = click.make_pass_decorator(AppContext)
