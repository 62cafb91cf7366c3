"""oauth2_provider = "microsoft" end to end through msal: an Entra ID look-alike over HTTPS
(a throw-away CA, trusted through REQUESTS_CA_BUNDLE as a site would trust its own), and
Dovecot's oauth2 passdb taking the app's token only for the mailbox it was granted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.conftest import World, eml, write_config
from tests.servers import Dovecot, SmtpSink, TokenServer

SECRET = "Xq8~m365-cl13nt-s3cret"
TENANT = "8d3c1f0e-5b7a-4e2d-9c61-0f2a7b9e4d13"
CLIENT = "b2f7c9d1-0a4e-4f6b-8e3d-5c1a2b7f9e60"
EXPIRED = (
    f"AADSTS7000222: The provided client secret keys for app '{CLIENT}' are expired.\r\n"
    "Visit the Azure portal to create new keys for your app.\r\nTrace ID: 0d4f"
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def entra(ca: trustme.CA) -> Iterator[TokenServer]:
    server = TokenServer(client_id=CLIENT, client_secret=SECRET, ca=ca).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oauth2_dovecot(entra: TokenServer) -> Iterator[Dovecot]:
    server = Dovecot.start(introspection_url=entra.introspection_url)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def environment(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client secret, and the CA the command line's HTTP client (requests) trusts."""
    monkeypatch.setenv("MT_TEST_M365_SECRET", SECRET)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))


@pytest.fixture
def world(oauth2_dovecot: Dovecot, entra: TokenServer, sink: SmtpSink, tmp_path: Path) -> World:
    entra.refuse, entra.refuse_description, entra.app_mailbox = None, "refused by the test", ""
    user = oauth2_dovecot.add_user()
    db = tmp_path / "mailtickets.db"
    config = write_config(tmp_path / "config.toml", oauth2_dovecot, user, sink, db)
    # token_url is the national-cloud override, here the loopback Entra ID.
    keys = (
        'auth = "oauth2"\n'
        'oauth2_provider = "microsoft"\n'
        f'tenant_id = "{TENANT}"\n'
        f'client_id = "{CLIENT}"\n'
        'client_secret_env = "MT_TEST_M365_SECRET"\n'
        f'token_url = "{entra.microsoft_token_url(TENANT)}"\n'
    )
    text = config.read_text()
    assert 'password = "secret"\n' in text
    config.write_text(text.replace('password = "secret"\n', keys))
    return World(oauth2_dovecot, user, sink, config, tmp_path, f"sqlite:///{db}")


def xoauth2_logins(world: World) -> list[str]:
    log = (world.dovecot.base / "dovecot.log").read_text()
    return [
        line
        for line in log.splitlines()
        if f"Login: user=<{world.user}>" in line and "method=XOAUTH2" in line
    ]


def mailbox(world: World) -> str:
    return f"mailbox {world.user}@127.0.0.1:{world.dovecot.port}/INBOX"


def test_the_apps_token_opens_the_mailbox_it_was_granted(world: World, entra: TokenServer) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    entra.app_mailbox = world.user  # Add-MailboxPermission
    asked = len(entra.token_requests)
    code, out, err = world.cli("run", "--once")
    assert code == 0, err
    assert len(world.tickets()) == 1
    assert len(xoauth2_logins(world)) == 1
    [request] = entra.token_requests[asked:]
    assert request["grant_type"] == "client_credentials" and request["client_id"] == CLIENT
    assert request["scope"] == "https://outlook.office365.com/.default"
    assert entra.discoveries[-1] == TENANT  # msal read the tenant's OpenID configuration
    assert SECRET not in out + err


def test_before_the_mailbox_is_granted_the_apps_token_does_not_open_it(
    world: World, entra: TokenServer
) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    code, _out, err = world.cli("run", "--once")
    assert code == 1 and "AUTHENTICATIONFAILED" in err and "Traceback" not in err, err
    assert world.query("SELECT count(*) FROM inbound") == [(0,)]
    assert xoauth2_logins(world) == []


def test_an_expired_client_secret_is_entra_ids_line_naming_the_mailbox(
    world: World, entra: TokenServer
) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    entra.app_mailbox = world.user
    entra.refuse, entra.refuse_description = "invalid_client", EXPIRED
    code, out, err = world.cli("run", "--once")
    assert code == 1, err
    assert "Traceback" not in err and SECRET not in out + err
    said = (
        f"{mailbox(world)}: OAuth2 provider refused the credential: invalid_client: "
        f"AADSTS7000222: The provided client secret keys for app '{CLIENT}' are expired. "
        "Visit the Azure portal to create new keys for your app. Trace ID: 0d4f"
    )
    assert err.splitlines()[-1] == f"mailtickets: mailbox default: {said}", err
    assert world.query("SELECT count(*) FROM inbound") == [(0,)]


def test_an_untrusted_certificate_is_an_outage_not_a_refusal(
    world: World, entra: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    entra.app_mailbox = world.user
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # the public CAs only: msal checks TLS
    asked = len(entra.token_requests)
    code, _out, err = world.cli("run", "--once")
    assert code == 1, err
    last = err.splitlines()[-1]
    endpoint = f"OAuth2 token endpoint {entra.microsoft_token_url(TENANT)}: "
    assert last.startswith(f"mailtickets: mailbox default: {mailbox(world)}: {endpoint}"), err
    assert "certificate verify failed" in last and "refused the credential" not in err
    assert len(entra.token_requests) == asked
