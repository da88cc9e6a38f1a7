"""A pledge campaign file that passes every check, and a way to write variants of it."""

from __future__ import annotations

from pathlib import Path

GOOD = """\
campaign: fujitsu-victimisation
timezone: Europe/London
pledge_campaigns:
  - id: fujitsu-demo-morning
    title: Defend the union at Fujitsu
    text:
      x: "Fujitsu: stop victimising union reps. #DefendTheUnion"
      facebook: "Fujitsu must stop victimising union reps."
    variants: ["Reinstate the Fujitsu reps now."]
    link: https://union.org.uk/fujitsu
    goal: 500
    release: 2027-03-09 08:30
    if_goal_missed: release anyway
    window: 0
"""


def write(tmp_path: Path, text: str, name: str = "pledge.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
