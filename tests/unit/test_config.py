"""Configuration: one clear line naming the file and the key, exit code 2, no traceback."""

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from mailtickets.config import check_secrets, load_settings, reveal
from mailtickets.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"

GOOD = """\
[imap]
host = "imap.example.com"
username = "soporte@example.com"
password_env = "MT_TEST_PASSWORD"

[smtp]
host = "smtp.example.com"
from_address = "soporte@example.com"

[tickets]
reminder_after = "48h"

[[departments]]
name = "Hosting"
addresses = ["soporte@example.com"]
staff = ["ana@example.com"]

[[staff]]
email = "ana@example.com"
name = "Ana"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_TEST_PASSWORD", "s3cret")


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert reveal(settings.imap.password) == "s3cret" and settings.imap.port == 993
    assert settings.smtp.port == 587 and settings.smtp.security == "starttls"
    assert settings.smtp.connections == 2
    assert settings.tickets.reminder_after == timedelta(hours=48)
    assert settings.default_department.name == "Hosting"
    assert "s3cret" not in repr(settings)


def test_example_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "imap.password").write_text("x\n")
    monkeypatch.setenv("MAILTICKETS_SMTP_PASSWORD", "y")
    text = EXAMPLE.read_text().replace("/etc/mailtickets/imap.password", "imap.password")
    settings = load_settings(write(tmp_path, text))
    assert [d.name for d in settings.departments] == ["Hosting", "Facturación", "Dominios"]
    assert reveal(settings.imap.password) == "x" and reveal(settings.smtp.password) == "y"


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (('reminder_after = "48h"', 'reminder_after = "48 horas"'), "[tickets] reminder_after"),
        (('host = "imap.example.com"', 'host = "imap.example.com"\nport = "993"'), "[imap] port"),
        (('host = "imap.example.com"', 'host = "imap.example.com"\nprot = 993'), "[imap] prot"),
        (
            ('from_address = "soporte@example.com"', 'from_address = "soporte"'),
            "[smtp] from_address",
        ),
        (
            ('password_env = "MT_TEST_PASSWORD"', 'password_file = "nope.txt"'),
            "[imap] password_file",
        ),
        (
            ('password_env = "MT_TEST_PASSWORD"', 'password_env = "MT_NOT_SET_ANYWHERE"'),
            "[imap] password_env",
        ),
        (
            ('staff = ["ana@example.com"]', 'staff = ["luis@example.com"]'),
            "[[departments]] #1 staff",
        ),
        (
            (
                'from_address = "soporte@example.com"',
                'from_address = "soporte@example.com"\nconnections = 0',
            ),
            "[smtp] connections",
        ),
    ],
)
def test_each_bad_value_names_file_and_key(
    tmp_path: Path, change: tuple[str, str], names: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as caught:
        check_secrets(load_settings(path))  # secrets are read by the commands that log in
    message = str(caught.value)
    assert str(path) in message and names in message and "\n" not in message


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[imap\nhost="))


def test_password_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "imap.pass").write_text("from-file\n")
    path = write(
        tmp_path, GOOD.replace('password_env = "MT_TEST_PASSWORD"', 'password_file = "imap.pass"')
    )
    assert reveal(load_settings(path).imap.password) == "from-file"


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('"48h"', '"48 horas"'))
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "reminder_after" in lines[0] and str(path) in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_readable_file_with_a_password_draws_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('password_env = "MT_TEST_PASSWORD"', 'password = "s3cret"'))
    path.chmod(0o644)
    (warning,) = load_settings(path).warnings
    assert "chmod 600" in warning and "s3cret" not in warning
    path.chmod(0o600)
    assert load_settings(path).warnings == ()
    env_only = write(tmp_path, GOOD)
    env_only.chmod(0o644)
    assert load_settings(env_only).warnings == ()


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (('reminder_after = "48h"', 'reminder_after = "99999999999d"'), "too long a duration"),
        (("[tickets]", '[database]\nurl = "postgresql"\n\n[tickets]'), "[database] url"),
        (("[tickets]", '[database]\nurl = "mysql://x/y"\n\n[tickets]'), "[database] url"),
    ],
)
def test_odd_values_are_one_line_errors_too(
    tmp_path: Path, change: tuple[str, str], names: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(names)):
        load_settings(write(tmp_path, GOOD.replace(*change)))


def test_a_config_not_in_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD.replace('name = "Hosting"', 'name = "Facturación"').encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_a_missing_database_driver_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace(
            "[tickets]", '[database]\nurl = "postgresql+nosuchdriver://u@h/db"\n\n[tickets]'
        ),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "--config", str(path), "tickets"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MT_TEST_PASSWORD": "x"},
    )
    assert proc.returncode == 2 and str(path) in proc.stderr and "[database] url" in proc.stderr
    assert "Traceback" not in proc.stderr
