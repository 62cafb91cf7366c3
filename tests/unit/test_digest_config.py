"""`[digest]`: defaults, and one line naming the key for anything wrong in it."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from mailtickets.config import load_settings
from mailtickets.errors import ConfigError
from tests.unit.test_config import GOOD, write

TWO_DEPARTMENTS = (
    GOOD
    + """
[[departments]]
name = "Facturación"
addresses = ["facturacion@example.com"]
staff = ["ana@example.com"]
"""
)


def test_off_by_default_with_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    digest = settings.digest
    assert not digest.enabled and digest.hour == time(8, 30)
    assert digest.business_days_only and digest.staff
    assert digest.at_risk_within == timedelta(hours=2)
    assert digest.recipients_of(settings.departments[0]) == ("ana@example.com",)


def test_recipients_per_department_else_its_staff(tmp_path: Path) -> None:
    text = TWO_DEPARTMENTS + (
        '\n[digest]\nenabled = true\nhour = "07:05"\nbusiness_days_only = false\n'
        'staff = false\nat_risk_within = "4h"\n'
        '[digest.departments]\n"Facturación" = ["Jefa@Example.com", "otra@example.com"]\n'
    )
    settings = load_settings(write(tmp_path, text))
    digest = settings.digest
    assert digest.enabled and digest.hour == time(7, 5) and not digest.business_days_only
    assert not digest.staff and digest.at_risk_within == timedelta(hours=4)
    hosting, billing = settings.departments
    assert digest.recipients_of(billing) == ("jefa@example.com", "otra@example.com")
    assert digest.recipients_of(hosting) == ("ana@example.com",)


def test_a_toml_local_time_is_an_hour_too(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD + "\n[digest]\nhour = 09:15:00\n"))
    assert settings.digest.hour == time(9, 15)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('hour = "8:30"', r'\[digest\] hour: .*"08:30"'),
        ('hour = "24:00"', r"\[digest\] hour: '24:00' is not a time of day"),
        ("hour = 830", r"\[digest\] hour: 830 is not a time of day"),
        ('enabled = "yes"', r"\[digest\] enabled: expected bool"),
        ('at_risk_within = "soon"', r"\[digest\] at_risk_within: "),
        ('recipients = ["a@example.com"]', r"\[digest\] recipients: unknown key"),
        (
            '[digest.departments]\nVentas = ["a@example.com"]',
            r"\[digest.departments\] Ventas: not a \[\[departments\]\] name \(Hosting, Fact",
        ),
        (
            '[digest.departments]\n"Facturación" = ["no-es-correo"]',
            r"\[digest.departments\] Facturación: 'no-es-correo' is not an email address",
        ),
        ('[digest.departments]\nHosting = "a@example.com"', r"Hosting: expected list"),
        ('departments = "Hosting"', r"\[digest\] departments: expected dict"),
    ],
)
def test_each_bad_key_is_one_line_naming_it(tmp_path: Path, section: str, message: str) -> None:
    path = write(tmp_path, TWO_DEPARTMENTS + "\n[digest]\n" + section + "\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
