"""`image:` and `image_alt:` in `pledge_campaigns:`: the picture is read relative to the
schedule file, stored once (same sha256: no change), and every refusal names the file,
line, field and value."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.campaigns.schedules.files import load_files
from bot.campaigns.schedules.pledge_campaigns import load_pledge_files
from bot.campaigns.specs import Problem, SpecError
from bot.pledges.campaigns import apply_campaigns
from bot.pledges.images import from_bytes
from bot.storage.models import PledgeCampaign
from tests.support.pictures import JPEG_3X2, png
from tests.support.pledge_files import GOOD, write

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
WITH_IMAGE = GOOD + "    image: pictures/banner.png\n    image_alt: Reps with a banner\n"


def _problems(path: Path) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        load_pledge_files([path], default_timezone="UTC")
    # `apply` (posts) reads the same section and refuses the same file
    with pytest.raises(SpecError):
        load_files([path], default_timezone="UTC")
    return caught.value.problems


def test_the_picture_is_read_relative_to_the_schedule_file_and_stored(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "banner.png").write_bytes(png(6, 4))
    [spec] = load_pledge_files([write(tmp_path, WITH_IMAGE)], default_timezone="UTC")
    assert spec.image is not None and spec.image_alt == "Reps with a banner"
    assert (spec.image.media_type, spec.image.width, spec.image.height) == ("image/png", 6, 4)
    with sessions() as s:
        assert apply_campaigns(s, [spec], now=NOW, default_window=10).created
        pc = s.scalars(select(PledgeCampaign)).one()
        assert (pc.image_data, pc.image_path, pc.image_alt) == (
            png(6, 4),
            "pictures/banner.png",
            "Reps with a banner",
        )


def test_re_applying_the_same_file_changes_nothing_and_a_new_picture_replaces_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "pictures").mkdir()
    picture = tmp_path / "pictures" / "banner.png"
    picture.write_bytes(png(6, 4))
    path = write(tmp_path, WITH_IMAGE)
    with sessions() as s:
        apply_campaigns(
            s, load_pledge_files([path], default_timezone="UTC"), now=NOW, default_window=10
        )
        again = apply_campaigns(
            s, load_pledge_files([path], default_timezone="UTC"), now=NOW, default_window=10
        )
        assert again.unchanged == ["fujitsu-demo-morning"]
        picture.write_bytes(JPEG_3X2)  # same name, new contents: the bytes decide
        changed = apply_campaigns(
            s, load_pledge_files([path], default_timezone="UTC"), now=NOW, default_window=10
        )
        assert changed.updated == ["fujitsu-demo-morning"]
        pc = s.scalars(select(PledgeCampaign)).one()
        assert (pc.image_type, pc.image_data) == ("image/jpeg", JPEG_3X2)
        removed = apply_campaigns(
            s, load_pledge_files([write(tmp_path, GOOD)], default_timezone="UTC"),
            now=NOW, default_window=10,
        )  # fmt: skip
        assert removed.updated == ["fujitsu-demo-morning"]
        s.refresh(pc)
        assert (pc.image_type, pc.image_data, pc.image_sha256) == (None, None, None)


def test_a_text_file_named_png_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "banner.png").write_text("not a picture", encoding="utf-8")
    path = write(tmp_path, WITH_IMAGE)
    [problem] = _problems(path)
    assert (problem.where.file, problem.where.line) == (str(path), 15)
    assert (problem.field, problem.value) == ("pledge_campaigns[1].image", "pictures/banner.png")
    assert "not a PNG, JPEG, GIF or WebP image" in problem.message


def test_a_missing_picture_is_refused_naming_where_it_was_looked_for(tmp_path: Path) -> None:
    path = write(tmp_path, WITH_IMAGE)
    [problem] = _problems(path)
    assert "no such file" in problem.message
    assert str(tmp_path / "pictures" / "banner.png") in problem.message


def test_a_picture_without_alt_text_is_refused_at_the_image_line(tmp_path: Path) -> None:
    (tmp_path / "banner.jpg").write_bytes(JPEG_3X2)
    path = write(tmp_path, GOOD + "    image: banner.jpg\n")
    [problem] = _problems(path)
    assert (problem.where.line, problem.field) == (15, "pledge_campaigns[1].image_alt")
    assert "describe the picture" in problem.message and "add image_alt:" in problem.message


def test_alt_text_without_a_picture_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    image_alt: A banner\n")
    [problem] = _problems(path)
    assert (problem.field, problem.value) == ("pledge_campaigns[1].image_alt", "A banner")
    assert "no image to describe" in problem.message


def test_a_picture_too_small_for_a_large_card_is_stored_with_a_note(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "banner.png").write_bytes(png(299, 200))
    specs = load_pledge_files([write(tmp_path, WITH_IMAGE)], default_timezone="UTC")
    with sessions() as s:
        report = apply_campaigns(s, specs, now=NOW, default_window=10)
    assert report.created == ["fujitsu-demo-morning"]
    assert "the picture is 299 × 200 pixels" in report.notes[0]
    (tmp_path / "pictures" / "banner.png").write_bytes(png(300, 157))
    specs = load_pledge_files([write(tmp_path, WITH_IMAGE)], default_timezone="UTC")
    with sessions() as s:
        assert apply_campaigns(s, specs, now=NOW, default_window=10).notes == []


def test_a_spec_with_a_picture_and_blank_alt_text_is_refused_by_apply(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    [spec] = load_pledge_files([write(tmp_path, GOOD)], default_timezone="UTC")
    blank = replace(spec, image=from_bytes(png(), "banner.png"), image_alt="  ")
    with sessions() as s, pytest.raises(SpecError) as caught:
        apply_campaigns(s, [blank], now=NOW, default_window=10)
    [problem] = caught.value.problems
    assert problem.field == "image_alt" and "describe the picture" in problem.message
