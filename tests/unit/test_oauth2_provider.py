"""The OAuth2 providers against a real token endpoint on loopback (tests/servers.py): generic
with the standard library, Google with google-auth (both ways), Microsoft with msal."""

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from mailtickets.errors import TemporaryError
from mailtickets.oauth2 import (
    CredentialRefused,
    GoogleRefreshTokenProvider,
    GoogleServiceAccountProvider,
    MicrosoftProvider,
    RefreshTokenProvider,
    TokenProvider,
    save_secret_file,
    token_provider,
)
from mailtickets.settings import (
    GOOGLE_SCOPE,
    MICROSOFT_SCOPE,
    OAuth2Settings,
    Secret,
)
from tests.oauth2_keys import GOOGLE_AUDIENCE, JWT_BEARER, new_service_account
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


GOOGLE_CLIENT = "1234567890-abc.apps.googleusercontent.com"
ROBOT = "mailtickets@mailtickets-test.iam.gserviceaccount.com"
TENANT = "8d3c1f0e-5b7a-4e2d-9c61-0f2a7b9e4d13"


def google(server: TokenServer, tmp_path: Path, clock: Clock, url: str = "") -> TokenProvider:
    """The Google refresh-token way, as config.py builds it (Google's scope by default)."""
    refresh_file = tmp_path / "refresh.token"
    refresh_file.write_text(server.grant("soporte@example.com") + "\n")
    server.client_id = GOOGLE_CLIENT
    settings = OAuth2Settings(
        provider="google",
        client_id=GOOGLE_CLIENT,
        token_url=url or server.token_url,
        refresh_token_file=refresh_file,
        client_secret=Secret("value", SECRET, "test"),
        scope=GOOGLE_SCOPE,
    )
    made = token_provider("mailbox soporte", settings, clock, 5)
    assert isinstance(made, GoogleRefreshTokenProvider)
    return made


def test_google_refresh_token_is_exchanged_cached_and_its_rotation_saved(
    server: TokenServer, tmp_path: Path
) -> None:
    clock = Clock()
    tokens = google(server, tmp_path, clock)
    original = (tmp_path / "refresh.token").read_text().strip()
    first = tokens.token()
    assert server.access_tokens[first].username == "soporte@example.com"
    [request] = server.token_requests
    assert request["grant_type"] == "refresh_token" and request["refresh_token"] == original
    assert request["client_id"] == GOOGLE_CLIENT and request["client_secret"] == SECRET
    assert request["scope"] == "https://mail.google.com/"
    saved = (tmp_path / "refresh.token").read_text().strip()
    assert saved != original and saved in server.refresh_tokens
    assert stat.S_IMODE((tmp_path / "refresh.token").stat().st_mode) == 0o600
    clock.now = START + timedelta(seconds=3600 - 301)
    assert tokens.token() == first and len(server.token_requests) == 1
    clock.now = START + timedelta(seconds=3600 - 300)
    assert tokens.token() != first and len(server.token_requests) == 2
    assert server.token_requests[1]["refresh_token"] == saved


def test_google_invalid_grant_is_one_line_in_googles_words(
    server: TokenServer, tmp_path: Path
) -> None:
    tokens = google(server, tmp_path, Clock())
    server.refuse, server.refuse_description = "invalid_grant", "Token has been expired or revoked."
    with pytest.raises(CredentialRefused) as caught:
        tokens.token()
    assert str(caught.value) == (
        "mailbox soporte: OAuth2 provider refused the credential: "
        "invalid_grant: Token has been expired or revoked."
    )


def test_google_temporarily_unavailable_is_an_outage_not_a_refusal(
    server: TokenServer, tmp_path: Path
) -> None:
    tokens = google(server, tmp_path, Clock())
    server.refuse = "temporarily_unavailable"
    with pytest.raises(TemporaryError) as caught:
        tokens.token()
    assert not isinstance(caught.value, CredentialRefused)
    assert str(caught.value).startswith(
        f"mailbox soporte: OAuth2 token endpoint {server.token_url}"
    )
    assert len(server.token_requests) == 3  # google-auth tried three times, backing off


def test_google_unreachable_endpoint_names_it(server: TokenServer, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/token"
    tokens = google(server, tmp_path, Clock(), url=url)
    with pytest.raises(TemporaryError) as caught:
        tokens.token()
    assert not isinstance(caught.value, CredentialRefused)
    assert str(caught.value) == f"mailbox soporte: OAuth2 token endpoint {url}: Connection refused"


def service_account(
    server: TokenServer, tmp_path: Path, clock: Clock, delegated: set[str] | None = None
) -> TokenProvider:
    """A service account whose key file points at `server`, acting as soporte@."""
    info = server.add_service_account(ROBOT, {GOOGLE_SCOPE} if delegated is None else delegated)
    key = tmp_path / "service-account.json"
    key.write_text(json.dumps(info))
    settings = OAuth2Settings(
        provider="google",
        client_id="",
        token_url="",
        service_account=Secret("file", str(key), "test: [imap] service_account_file"),
        subject="soporte@example.com",
        scope=GOOGLE_SCOPE,
    )
    made = token_provider("mailbox soporte", settings, clock, 5)
    assert isinstance(made, GoogleServiceAccountProvider)
    return made


def test_a_service_account_signs_a_jwt_for_the_mailbox_user(
    server: TokenServer, tmp_path: Path
) -> None:
    clock = Clock()
    tokens = service_account(server, tmp_path, clock)
    first = tokens.token()
    [request] = server.token_requests
    assert request["grant_type"] == JWT_BEARER and set(request) == {"grant_type", "assertion"}
    [claims] = server.assertions  # its signature verified with the key's public half
    assert claims["iss"] == ROBOT and claims["sub"] == "soporte@example.com"
    assert claims["scope"] == GOOGLE_SCOPE and claims["aud"] == GOOGLE_AUDIENCE
    assert server.access_tokens[first].username == "soporte@example.com"
    clock.now = START + timedelta(seconds=3600 - 301)
    assert tokens.token() == first
    tokens.forget()
    assert tokens.token() != first and len(server.assertions) == 2


def test_a_service_account_without_delegation_is_refused_in_one_line(
    server: TokenServer, tmp_path: Path
) -> None:
    tokens = service_account(server, tmp_path, Clock(), delegated=set())
    with pytest.raises(CredentialRefused) as caught:
        tokens.token()
    assert str(caught.value) == (
        "mailbox soporte: OAuth2 provider refused the credential: unauthorized_client: "
        "Client is unauthorized to retrieve access tokens using this method, or client not "
        "authorized for any of the scopes requested."
    )


def test_a_key_the_endpoint_does_not_know_is_an_invalid_signature(
    server: TokenServer, tmp_path: Path
) -> None:
    tokens = service_account(server, tmp_path, Clock())
    # The key was deleted in the console and a new one made: the file's no longer verifies.
    server.add_service_account(ROBOT, {GOOGLE_SCOPE})
    with pytest.raises(
        CredentialRefused, match=r"refused the credential: invalid_grant: Invalid JWT Signature\.$"
    ):
        tokens.token()
    assert server.assertions == [] and server.access_tokens == {}


def test_the_signature_itself_is_checked(server: TokenServer, tmp_path: Path) -> None:
    tokens = service_account(server, tmp_path, Clock())
    # Same account, same key id, but another public key: only the RS256 check can tell.
    _info, impostor = new_service_account(ROBOT, server.token_url)
    server.service_accounts[ROBOT].public_key = impostor.public_key
    with pytest.raises(CredentialRefused, match=r"invalid_grant: Invalid JWT Signature\.$"):
        tokens.token()
    assert server.assertions == [] and server.access_tokens == {}


def test_a_broken_private_key_names_the_file_never_the_key(
    server: TokenServer, tmp_path: Path
) -> None:
    tokens = service_account(server, tmp_path, Clock())
    key = tmp_path / "service-account.json"
    info = json.loads(key.read_text())
    info["private_key"] = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    key.write_text(json.dumps(info))
    with pytest.raises(CredentialRefused) as caught:
        tokens.token()
    line = str(caught.value)
    assert line.startswith(f"mailbox soporte: service_account_file {key}: ")
    assert "bm90IGEga2V5" not in line and "\n" not in line
    assert server.token_requests == []


def test_a_service_account_outage_names_the_key_files_token_uri(tmp_path: Path) -> None:
    down = TokenServer().start()
    tokens = service_account(down, tmp_path, Clock())
    down.stop()  # its port is closed now
    with pytest.raises(TemporaryError) as caught:
        tokens.token()
    assert not isinstance(caught.value, CredentialRefused)
    assert str(caught.value) == (
        f"mailbox soporte: OAuth2 token endpoint {down.token_url}: Connection refused"
    )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def entra(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenServer]:
    """An Entra ID look-alike over HTTPS, its CA trusted the way requests (msal's HTTP
    client) trusts a private CA: REQUESTS_CA_BUNDLE."""
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    token_server = TokenServer(client_secret=SECRET, ca=ca).start()
    token_server.app_mailbox = "soporte@example.com"
    yield token_server
    token_server.stop()


def microsoft(server: TokenServer, clock: Clock, secret: str = SECRET) -> TokenProvider:
    settings = OAuth2Settings(
        provider="microsoft",
        client_id="mailtickets",
        token_url=server.microsoft_token_url(TENANT),
        client_secret=Secret("value", secret, "test"),
        scope=MICROSOFT_SCOPE,
        tenant_id=TENANT,
    )
    made = token_provider("mailbox soporte", settings, clock, 5)
    assert isinstance(made, MicrosoftProvider)
    return made


def test_msal_asks_for_the_apps_own_token_and_it_is_cached(entra: TokenServer) -> None:
    clock = Clock()
    tokens = microsoft(entra, clock)
    first = tokens.token()
    assert entra.discoveries == [TENANT]  # msal read the tenant's OpenID configuration
    [request] = entra.token_requests
    assert request["grant_type"] == "client_credentials" and request["client_id"] == "mailtickets"
    assert request["client_secret"] == SECRET and request["scope"] == MICROSOFT_SCOPE
    assert entra.access_tokens[first].username == "soporte@example.com"
    clock.now = START + timedelta(seconds=3600 - 301)
    assert tokens.token() == first and len(entra.token_requests) == 1
    clock.now = START + timedelta(seconds=3600 - 300)
    assert tokens.token() != first and len(entra.token_requests) == 2


def test_forget_makes_msal_ask_again_not_answer_from_its_cache(entra: TokenServer) -> None:
    tokens = microsoft(entra, Clock())
    first = tokens.token()
    tokens.forget()
    assert tokens.token() != first and len(entra.token_requests) == 2


def test_an_expired_client_secret_is_entra_ids_line_without_the_secret(
    entra: TokenServer,
) -> None:
    tokens = microsoft(entra, Clock(), secret="old-s3cret")
    with pytest.raises(CredentialRefused) as caught:
        tokens.token()
    assert str(caught.value) == (
        "mailbox soporte: OAuth2 provider refused the credential: invalid_client: unknown client"
    )
    expired = (
        "AADSTS7000222: The provided client secret keys for app 'b2f7c9d1' are expired.\r\n"
        "Visit the Azure portal to create new keys for your app.\r\nTrace ID: 5d1c"
    )
    entra.refuse, entra.refuse_description = "invalid_client", expired
    with pytest.raises(CredentialRefused) as caught:
        tokens.token()
    line = str(caught.value)
    assert line == (
        "mailbox soporte: OAuth2 provider refused the credential: invalid_client: "
        "AADSTS7000222: The provided client secret keys for app 'b2f7c9d1' are expired. "
        "Visit the Azure portal to create new keys for your app. Trace ID: 5d1c"
    )
    assert "old-s3cret" not in line


def test_an_unknown_tenant_is_refused(entra: TokenServer) -> None:
    entra.tenants = {"another-tenant"}
    with pytest.raises(CredentialRefused, match="refused the credential: Unable to get authority"):
        microsoft(entra, Clock()).token()
    assert entra.token_requests == []


def test_temporarily_unavailable_is_an_outage(entra: TokenServer) -> None:
    entra.refuse = "temporarily_unavailable"
    with pytest.raises(TemporaryError) as caught:
        microsoft(entra, Clock()).token()
    assert not isinstance(caught.value, CredentialRefused)
    url = entra.microsoft_token_url(TENANT)
    said = "temporarily_unavailable: refused by the test"
    assert str(caught.value) == f"mailbox soporte: OAuth2 token endpoint {url}: {said}"


def test_a_certificate_nobody_trusts_is_an_outage_naming_it(
    entra: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # back to the public CAs: TLS is checked
    with pytest.raises(TemporaryError) as caught:
        microsoft(entra, Clock()).token()
    assert not isinstance(caught.value, CredentialRefused)
    assert "certificate verify failed" in str(caught.value)
    assert entra.discoveries == [] and entra.token_requests == []


def test_an_unreachable_entra_id_is_an_outage(tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{free_port()}/{TENANT}/oauth2/v2.0/token"
    settings = OAuth2Settings(
        provider="microsoft",
        client_id="mailtickets",
        token_url=url,
        client_secret=Secret("value", SECRET, "test"),
        scope=MICROSOFT_SCOPE,
    )
    with pytest.raises(TemporaryError) as caught:
        token_provider("mailbox soporte", settings, Clock(), 5).token()
    assert not isinstance(caught.value, CredentialRefused)
    assert str(caught.value) == f"mailbox soporte: OAuth2 token endpoint {url}: Connection refused"
