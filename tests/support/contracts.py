"""Comparing an answer with a recorded or documented one by structure, not by values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


def shape(value: Any) -> Any:
    """Keys and value types, recursively; a list is described by its first element."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__
