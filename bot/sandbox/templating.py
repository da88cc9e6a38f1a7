"""Jinja2 templates for the sandbox's HTML pages (autoescaped: post text is user input)."""

from __future__ import annotations

from pathlib import Path

from starlette.templating import Jinja2Templates

# Starlette's Jinja2Templates turns autoescape on for every template.
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
