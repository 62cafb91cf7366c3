"""[metrics] listen: off by default, "host:port" accepted, anything else one line naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailtickets.config import load_settings
from mailtickets.errors import ConfigError
from mailtickets.settings import split_listen
from tests.unit.test_config import EXAMPLE, GOOD, write


@pytest.fixture(autouse=True)
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_TEST_PASSWORD", "s3cret")


def with_metrics(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, f"{GOOD}\n[metrics]\n{body}\n")


def test_no_metrics_section_means_no_endpoint(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, GOOD)).metrics.listen == ""


def test_an_empty_listen_means_no_endpoint(tmp_path: Path) -> None:
    assert load_settings(with_metrics(tmp_path, 'listen = ""')).metrics.listen == ""


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:9464", "127.0.0.1", 9464),
        ("[::1]:9464", "::1", 9464),
        ("0.0.0.0:1", "0.0.0.0", 1),
        ("metrics.internal.example.com:65535", "metrics.internal.example.com", 65535),
        ("localhost:9464", "localhost", 9464),
    ],
)
def test_host_port_is_accepted_and_split(tmp_path: Path, listen: str, host: str, port: int) -> None:
    settings = load_settings(with_metrics(tmp_path, f'listen = "{listen}"'))
    assert settings.metrics.listen == listen
    assert split_listen(settings.metrics.listen) == (host, port)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('listen = "9464"', "not host:port"),
        ('listen = "127.0.0.1"', "not host:port"),
        ('listen = "127.0.0.1:"', "not host:port"),
        ('listen = "127.0.0.1:http"', "not host:port"),
        ('listen = "127.0.0.1:0"', "not a TCP port"),
        ('listen = "127.0.0.1:70000"', "not a TCP port"),
        ('listen = ":9464"', "not a host name"),
        ('listen = "::1:9464"', "in brackets"),
        ('listen = "[::zz]:9464"', "not an IPv6 address"),
        ('listen = "bad host:9464"', "not a host name"),
        ('listen = "127.0.0.1:９４６４"', "not host:port"),  # full-width digits are digits too
        ("listen = 9464", "expected str"),
    ],
)
def test_a_bad_listen_names_the_file_and_the_key(tmp_path: Path, line: str, says: str) -> None:
    path = with_metrics(tmp_path, line)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: [metrics] listen: ")
    assert says in message and "\n" not in message


def test_an_unknown_metrics_key_is_refused(tmp_path: Path) -> None:
    path = with_metrics(tmp_path, "port = 9464")
    with pytest.raises(ConfigError, match=r"\[metrics\] port: unknown key"):
        load_settings(path)


def test_the_cli_exits_2_with_one_line_for_a_bad_listen(tmp_path: Path) -> None:
    path = with_metrics(tmp_path, 'listen = "localhost"')
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "--config", str(path), "tickets"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "[metrics] listen" in lines[0] and str(path) in lines[0]


def test_the_example_documents_metrics_listen_off() -> None:
    # The example is what sites copy: it names the key, and leaves the endpoint off.
    text = EXAMPLE.read_text()
    assert "[metrics]" in text and '\nlisten = ""\n' in text
