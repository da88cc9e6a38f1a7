"""Clarion's command line. `python main.py --help` lists the commands."""

from bot.cli import main

if __name__ == "__main__":
    main()
