"""Refusing a command-line argument that is not UTF-8, once, before any command runs.

The shell hands Python bytes; one that is not UTF-8 arrives as a lone surrogate (see
bot/utf8.py) that every command would carry on until something tried to encode it (a
database query, a log line, the terminal). The group checks every argument first and
names the option or argument it was given for, as click names a bad value.
"""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from bot.utf8 import not_utf8, shown

WHAT_TO_DO = "type it again as UTF-8 text (a file name: rename the file)"


def refuse_undecodable(ctx: click.Context, args: list[str]) -> None:
    """click.UsageError naming the first of ``args`` that is not UTF-8 and what it was
    given for; nothing when all are text."""
    for index, argument in enumerate(args):
        if "\x00" in argument:
            # A shell cannot pass one (argv is NUL-terminated), but a program calling
            # Clarion can; no text field holds one, and PostgreSQL refuses it.
            hint = parameter_hint(ctx, args[:index], argument)
            where = f"value for {hint}" if hint is not None else "argument"
            raise click.UsageError(
                f"Invalid {where}: it contains a NUL character, which no text can hold", ctx
            )
        if not_utf8(argument) is None:
            continue
        hint = parameter_hint(ctx, args[:index], argument)
        if argument.startswith("--") and "=" in argument and hint is not None:
            argument = argument.partition("=")[2]  # --option=value: the value is at fault
        where = f"value for {hint}" if hint is not None else "argument"
        raise click.UsageError(
            f"Invalid {where}: {shown(argument)} is not valid text: {not_utf8(argument)}; "
            f"{WHAT_TO_DO}",
            ctx,
        )


def refuse_undecodable_values(ctx: click.Context) -> None:
    """The same for the values ``ctx``'s command took from elsewhere (an environment
    variable such as CLARION_CONFIG, an answer typed at a prompt), once they are parsed.
    A hidden answer (a token) is never shown."""
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if not isinstance(value, str | Path):
            continue
        why = not_utf8(str(value))
        if why is None:
            continue
        source = ""
        if ctx.get_parameter_source(param.name or "") is ParameterSource.ENVIRONMENT:
            source = f" (from the environment variable {param.envvar})"
        elif ctx.get_parameter_source(param.name or "") is ParameterSource.PROMPT:
            source = " (as typed at the prompt)"
        hidden = isinstance(param, click.Option) and param.hide_input
        raise click.UsageError(
            f"Invalid value for {param.get_error_hint(ctx)}{source}: "
            f"{'it' if hidden else shown(str(value))} is not valid text: {why}; {WHAT_TO_DO}",
            ctx,
        )


def parameter_hint(ctx: click.Context, before: list[str], argument: str) -> str | None:
    """What ``argument``, coming after ``before``, is given for: 'POST_ID', '--post', or
    None when no parameter takes it. Follows subcommands and options that take a
    value the way click's parser does, without converting anything."""
    command = ctx.command
    positional = 0
    awaiting: click.Option | None = None
    options_end = False
    for word in before:
        if awaiting is not None:
            awaiting = None
        elif not options_end and word == "--":
            options_end = True
        elif not options_end and word.startswith("-") and word != "-":
            option = _option(command, word.partition("=")[0])
            if option is not None and "=" not in word and _takes_value(option):
                awaiting = option
        elif isinstance(command, click.Group) and word in command.commands:
            command, positional, options_end = command.commands[word], 0, False
        else:
            positional += 1
    if awaiting is not None:
        return awaiting.get_error_hint(ctx)
    if not options_end and argument.startswith("-") and argument != "-":
        option = _option(command, argument.partition("=")[0])
        return option.get_error_hint(ctx) if option is not None else None
    for param in command.params:
        if not isinstance(param, click.Argument):
            continue
        if param.nargs < 0 or positional < param.nargs:
            return param.get_error_hint(ctx)
        positional -= param.nargs
    return None


def _option(command: click.Command, name: str) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def _takes_value(option: click.Option) -> bool:
    return not (option.is_flag or option.count)
