"""``python -m bot.sandbox``: the same command as ``clarion sandbox``."""

from bot.sandbox.cli import sandbox_command

if __name__ == "__main__":
    sandbox_command(prog_name="python -m bot.sandbox")
