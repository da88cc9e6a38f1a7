"""`pledges create/edit --image`: a real picture with its alt text is stored in the
database; a wrong file, a too-big one or a missing description is refused, naming it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bot.pledges.images import MAX_BYTES
from bot.pledges.pledging import find_campaign
from tests.support.cli import Cli, create
from tests.support.pictures import JPEG_3X2, png

ALT = "Union reps holding a banner outside the Fujitsu office"


def _stored(cli: Cli, slug: str = "fujitsu-demo") -> tuple[object, ...]:
    with cli.runtime().sessions() as s:
        pc = find_campaign(s, slug)
        assert pc is not None
        return (pc.image_type, pc.image_width, pc.image_height, pc.image_alt, pc.image_data)


def test_create_stores_a_real_png_with_its_alt_text_and_show_reports_it(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "banner.png").write_bytes(png(4, 3))
    create(cli, "fujitsu-demo", "--image", str(tmp_path / "banner.png"), "--image-alt", ALT)
    assert _stored(cli) == ("image/png", 4, 3, ALT, png(4, 3))
    data = cli.json("pledges", "show", "fujitsu-demo")
    assert isinstance(data, dict)
    assert data["image"]["sha256"] == hashlib.sha256(png(4, 3)).hexdigest()
    assert data["image"]["url"].endswith("/c/fujitsu-demo/image")
    assert "picture (page and shared link only)" in cli("pledges", "show", "fujitsu-demo").output


def test_a_campaign_without_a_picture_shows_none(cli: Cli) -> None:
    create(cli)
    data = cli.json("pledges", "show", "fujitsu-demo")
    assert isinstance(data, dict) and data["image"] is None
    assert _stored(cli) == (None, None, None, None, None)


def test_a_picture_without_alt_text_is_refused_and_nothing_is_stored(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "banner.jpg").write_bytes(JPEG_3X2)
    result = cli(
        "pledges", "create", "pic", "--title", "t", "--text", "x", "--goal", "1",
        "--release", "2099-01-01 08:00", "--image", str(tmp_path / "banner.jpg"),
    )  # fmt: skip
    assert result.exit_code != 0 and "--image-alt is needed" in result.output
    with cli.runtime().sessions() as s:
        assert find_campaign(s, "pic") is None


def test_a_text_file_named_png_is_refused_naming_the_file(cli: Cli, tmp_path: Path) -> None:
    fake = tmp_path / "banner.png"
    fake.write_text("hello", encoding="utf-8")
    result = cli(
        "pledges", "create", "pic", "--title", "t", "--text", "x", "--goal", "1",
        "--release", "2099-01-01 08:00", "--image", str(fake), "--image-alt", ALT,
    )  # fmt: skip
    assert result.exit_code != 0
    assert "--image" in result.output and "banner.png" in result.output
    assert "not a PNG, JPEG, GIF or WebP image" in result.output


def test_a_picture_over_5_mb_is_refused(cli: Cli, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(png() + b"\x00" * MAX_BYTES)
    result = cli(
        "pledges", "create", "pic", "--title", "t", "--text", "x", "--goal", "1",
        "--release", "2099-01-01 08:00", "--image", str(big), "--image-alt", ALT,
    )  # fmt: skip
    assert result.exit_code != 0 and "at most 5 MB" in result.output


def test_edit_replaces_keeps_redescribes_and_removes_the_picture(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png(2, 2))
    (tmp_path / "b.jpg").write_bytes(JPEG_3X2)
    create(cli, "fujitsu-demo", "--image", str(tmp_path / "a.png"), "--image-alt", ALT)
    # an edit that does not mention the picture keeps it
    assert cli("pledges", "edit", "fujitsu-demo", "--goal", "9").exit_code == 0
    assert _stored(cli) == ("image/png", 2, 2, ALT, png(2, 2))
    # the same file again is no change at all
    again = cli(
        "pledges", "edit", "fujitsu-demo", "--image", str(tmp_path / "a.png"), "--image-alt", ALT
    )
    assert "unchanged: fujitsu-demo" in again.output, again.output
    # a new picture needs its own description
    bare = cli("pledges", "edit", "fujitsu-demo", "--image", str(tmp_path / "b.jpg"))
    assert bare.exit_code != 0 and "--image-alt is needed" in bare.output
    replaced = cli(
        "pledges", "edit", "fujitsu-demo", "--image", str(tmp_path / "b.jpg"),
        "--image-alt", "Reps at the gate",
    )  # fmt: skip
    assert "updated: fujitsu-demo" in replaced.output, replaced.output
    assert _stored(cli) == ("image/jpeg", 3, 2, "Reps at the gate", JPEG_3X2)
    redescribed = cli("pledges", "edit", "fujitsu-demo", "--image-alt", "Reps at the main gate")
    assert redescribed.exit_code == 0, redescribed.output
    assert _stored(cli)[3] == "Reps at the main gate"
    removed = cli("pledges", "edit", "fujitsu-demo", "--no-image")
    assert "updated: fujitsu-demo" in removed.output, removed.output
    assert _stored(cli) == (None, None, None, None, None)


def test_alt_text_alone_without_a_picture_is_refused(cli: Cli) -> None:
    create(cli)
    result = cli("pledges", "edit", "fujitsu-demo", "--image-alt", ALT)
    assert result.exit_code != 0 and "give --image PATH too" in result.output


def test_the_help_says_posts_stay_text_and_link(cli: Cli) -> None:
    text = cli("pledges", "create", "--help").output
    assert "--image-alt" in text and "posts stay text and link" in " ".join(text.split())
