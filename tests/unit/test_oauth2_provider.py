"""The generic OAuth2 provider against a real token endpoint on loopback (tests/servers.py)."""

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailtickets.errors import TemporaryError
from mailtickets.oauth2 import (
    ClientCredentialsProvider,
    CredentialRefused,
    RefreshTokenProvider,
    save_secret_file,
    token_provider,
)
from mailtickets.settings import OAuth2Settings, Secret
from tests.servers import TokenServer, free_port

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "cl13nt-s3cret"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[TokenServer]:
    token_server = TokenServer(client_secret=SECRET).start()
    yield token_server
    token_server.stop()


def provider(
    server: TokenServer, tmp_path: Path, clock: Clock, url: str = "", secret: str = SECRET
) -> RefreshTokenProvider:
    refresh_file = tmp_path / "refresh.token"
    if not refresh_file.exists():
        refresh_file.write_text(server.grant("user1") + "\n")
        refresh_file.chmod(0o600)
    settings = OAuth2Settings(
        provider="generic",
        client_id="mailtickets",
        token_url=url or server.token_url,
        refresh_token_file=refresh_file,
        client_secret=Secret("value", secret, "test"),
        scope="imap",
    )
    return RefreshTokenProvider("mailbox soporte", settings, clock, timeout=5)


def test_a_token_is_cached_until_five_minutes_before_it_expires(
    server: TokenServer, tmp_path: Path
) -> None:
    clock = Clock()
    tokens = provider(server, tmp_path, clock)
    first = tokens.token()
    assert first in server.access_tokens and len(server.token_requests) == 1
    request = server.token_requests[0]
    assert request["grant_type"] == "refresh_token" and request["scope"] == "imap"
    assert request["client_secret"] == SECRET and request["client_id"] == "mailtickets"
    clock.now = START + timedelta(seconds=3600 - 301)
    assert tokens.token() == first and len(server.token_requests) == 1
    clock.now = START + timedelta(seconds=3600 - 300)
    second = tokens.token()
    assert second != first and len(server.token_requests) == 2


def test_a_rotated_refresh_token_is_saved_atomically_and_privately(
    server: TokenServer, tmp_path: Path
) -> None:
    clock = Clock()
    tokens = provider(server, tmp_path, clock)
    (tmp_path / "refresh.token").chmod(0o644)
    original = (tmp_path / "refresh.token").read_text().strip()
    tokens.token()
    saved = (tmp_path / "refresh.token").read_text().strip()
    assert saved != original and saved in server.refresh_tokens
    assert original not in server.refresh_tokens  # the endpoint voided the old one
    assert stat.S_IMODE((tmp_path / "refresh.token").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refresh.token"]
    tokens.forget()
    tokens.token()  # the saved one is the one that works now
    assert (tmp_path / "refresh.token").read_text().strip() in server.refresh_tokens
    assert len(server.token_requests) == 2


def test_without_rotation_the_file_is_left_alone(server: TokenServer, tmp_path: Path) -> None:
    server.rotate = False
    tokens = provider(server, tmp_path, Clock())
    before = (tmp_path / "refresh.token").stat()
    tokens.token()
    after = (tmp_path / "refresh.token").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_invalid_grant_is_one_line_naming_the_mailbox_and_the_provider_text(
    server: TokenServer, tmp_path: Path
) -> None:
    tokens = provider(server, tmp_path, Clock())
    refresh = (tmp_path / "refresh.token").read_text().strip()
    server.refuse = "invalid_grant"
    with pytest.raises(CredentialRefused) as caught:
        tokens.token()
    line = str(caught.value)
    assert line == (
        "mailbox soporte: OAuth2 provider refused the credential: "
        "invalid_grant: refused by the test"
    )
    assert SECRET not in line and refresh not in line


def test_a_revoked_refresh_token_is_refused(server: TokenServer, tmp_path: Path) -> None:
    tokens = provider(server, tmp_path, Clock())
    server.refresh_tokens.clear()
    with pytest.raises(CredentialRefused, match="invalid_grant: unknown token"):
        tokens.token()


def test_a_wrong_client_secret_is_refused(server: TokenServer, tmp_path: Path) -> None:
    tokens = provider(server, tmp_path, Clock(), secret="expired")
    with pytest.raises(CredentialRefused, match="invalid_client: unknown client") as caught:
        tokens.token()
    assert "expired" not in str(caught.value)


def test_an_unreachable_endpoint_is_temporary_not_a_refusal(
    server: TokenServer, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}/token"
    tokens = provider(server, tmp_path, Clock(), url=url)
    with pytest.raises(TemporaryError) as caught:
        tokens.token()
    assert not isinstance(caught.value, CredentialRefused)
    assert str(caught.value).startswith(f"mailbox soporte: OAuth2 token endpoint {url}: ")


def test_an_empty_refresh_token_file_is_refused(server: TokenServer, tmp_path: Path) -> None:
    (tmp_path / "refresh.token").write_text("\n")
    tokens = provider(server, tmp_path, Clock())
    with pytest.raises(CredentialRefused, match=r"refresh_token_file .* is empty"):
        tokens.token()
    assert server.token_requests == []


def test_save_secret_file_replaces_a_readable_file_by_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old\n")
    path.chmod(0o644)
    inode = path.stat().st_ino
    save_secret_file(path, "new")
    assert path.read_text() == "new\n" and path.stat().st_ino != inode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["token"]


def microsoft(server: TokenServer, clock: Clock, secret: str = SECRET) -> ClientCredentialsProvider:
    settings = OAuth2Settings(
        provider="microsoft",
        client_id="mailtickets",
        token_url=server.token_url,
        client_secret=Secret("value", secret, "test"),
        scope="https://outlook.office365.com/.default",
        tenant_id="t",
    )
    made = token_provider("mailbox soporte", settings, clock, 5)
    assert isinstance(made, ClientCredentialsProvider)
    return made


def test_client_credentials_ask_for_the_apps_own_token_and_cache_it(server: TokenServer) -> None:
    server.app_mailbox = "soporte@example.com"
    clock = Clock()
    tokens = microsoft(server, clock)
    first = tokens.token()
    assert server.token_requests == [
        {
            "grant_type": "client_credentials",
            "client_id": "mailtickets",
            "client_secret": SECRET,
            "scope": "https://outlook.office365.com/.default",
        }
    ]
    assert server.access_tokens[first].username == "soporte@example.com"
    clock.now = START + timedelta(seconds=3600 - 301)
    assert tokens.token() == first
    clock.now = START + timedelta(seconds=3600 - 300)
    assert tokens.token() != first and len(server.token_requests) == 2


def test_an_expired_client_secret_is_one_line_without_the_secret(server: TokenServer) -> None:
    tokens = microsoft(server, Clock(), secret="old-s3cret")
    with pytest.raises(CredentialRefused) as caught:
        tokens.token()
    assert str(caught.value) == (
        "mailbox soporte: OAuth2 provider refused the credential: invalid_client: unknown client"
    )
