"""Duration strings from the config."""

from datetime import timedelta

import pytest

from mailtickets.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("48h", timedelta(hours=48)),
        ("7d", timedelta(days=7)),
        ("1d12h", timedelta(hours=36)),
        (" 90s ", timedelta(seconds=90)),
        ("2w", timedelta(days=14)),
    ],
)
def test_valid_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["48 horas", "", "h", "10", "-5m", "5x"])
def test_invalid_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="30m"):
        parse_duration(text)
