"""oauth2_provider = "google" end to end: `run --once` logs in to Dovecot's oauth2 passdb with
a token from google-auth, by a refresh token or a service account's signed JWT."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import World, eml, write_config
from tests.servers import Dovecot, SmtpSink, TokenServer

SECRET = "GOCSPX-cl13nt-s3cret"
CLIENT = "1234567890-abc.apps.googleusercontent.com"
ROBOT = "mailtickets@hosting-ejemplo.iam.gserviceaccount.com"
GMAIL = "https://mail.google.com/"
LAURA = "laura.martinez@gmail.com"


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenServer]:
    server = TokenServer(client_id=CLIENT, client_secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oauth2_dovecot(tokens: TokenServer) -> Iterator[Dovecot]:
    server = Dovecot.start(introspection_url=tokens.introspection_url)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_TEST_GOOGLE_SECRET", SECRET)


def google_world(
    oauth2_dovecot: Dovecot, tokens: TokenServer, sink: SmtpSink, tmp_path: Path, keys: str
) -> World:
    """A site whose [imap] logs in with `keys` instead of its password."""
    tokens.refuse, tokens.rotate = None, True
    user = oauth2_dovecot.add_user()
    db = tmp_path / "mailtickets.db"
    config = write_config(tmp_path / "config.toml", oauth2_dovecot, user, sink, db)
    text = config.read_text()
    assert 'password = "secret"\n' in text
    config.write_text(text.replace('password = "secret"\n', keys))
    return World(oauth2_dovecot, user, sink, config, tmp_path, f"sqlite:///{db}")


@pytest.fixture
def refresh_world(
    oauth2_dovecot: Dovecot, tokens: TokenServer, sink: SmtpSink, tmp_path: Path
) -> World:
    # token_url stands in for https://oauth2.googleapis.com/token, the default.
    keys = (
        'auth = "oauth2"\n'
        'oauth2_provider = "google"\n'
        f'client_id = "{CLIENT}"\n'
        'client_secret_env = "MT_TEST_GOOGLE_SECRET"\n'
        'refresh_token_file = "google.refresh-token"\n'
        f'token_url = "{tokens.token_url}"\n'
    )
    world = google_world(oauth2_dovecot, tokens, sink, tmp_path, keys)
    (tmp_path / "google.refresh-token").write_text(tokens.grant(world.user) + "\n")
    (tmp_path / "google.refresh-token").chmod(0o600)
    return world


@pytest.fixture
def robot_world(
    oauth2_dovecot: Dovecot, tokens: TokenServer, sink: SmtpSink, tmp_path: Path
) -> World:
    """A service account with domain-wide delegation of the Gmail scope; its key file's
    token_uri is the TokenServer; it acts as the login's username (no `subject` key)."""
    keys = 'auth = "oauth2"\noauth2_provider = "google"\nservice_account_file = "keys/sa.json"\n'
    world = google_world(oauth2_dovecot, tokens, sink, tmp_path, keys)
    (tmp_path / "keys").mkdir()
    key = tmp_path / "keys" / "sa.json"
    key.write_text(json.dumps(tokens.add_service_account(ROBOT, {GMAIL})))
    key.chmod(0o600)
    return world


def xoauth2_logins(world: World) -> list[str]:
    log = (world.dovecot.base / "dovecot.log").read_text()
    # (PLAIN logins are the test's own deliveries.)
    return [
        line
        for line in log.splitlines()
        if f"Login: user=<{world.user}>" in line and "method=XOAUTH2" in line
    ]


def refusal_lines(world: World, err: str, said: str) -> None:
    """A refused credential: logged once naming the mailbox, and the line `run --once`
    ends with; no traceback."""
    assert "Traceback" not in err, err
    mailbox = f"mailbox {world.user}@127.0.0.1:{world.dovecot.port}/INBOX"
    full = f"{mailbox}: OAuth2 provider refused the credential: {said}"
    logged = [
        line for line in err.splitlines() if " mailtickets.watchers: " in line and full in line
    ]
    assert len(logged) == 1, err
    assert err.splitlines()[-1] == f"mailtickets: mailbox default: {full}", err


def test_a_refresh_token_logs_in_and_its_rotation_is_saved_privately(
    refresh_world: World, tokens: TokenServer
) -> None:
    world = refresh_world
    world.deliver(eml("new-gmail-plain.eml"))
    before = (world.tmp / "google.refresh-token").read_text().strip()
    code, out, err = world.cli("run", "--once")
    assert code == 0, err
    [ticket] = world.tickets()
    assert ticket["requester"] == LAURA
    assert len(xoauth2_logins(world)) == 1
    request = tokens.token_requests[-1]
    assert request["grant_type"] == "refresh_token" and request["scope"] == GMAIL
    assert request["client_id"] == CLIENT and request["refresh_token"] == before
    after = (world.tmp / "google.refresh-token").read_text().strip()
    assert after != before and tokens.refresh_tokens.get(after) == world.user
    assert stat.S_IMODE((world.tmp / "google.refresh-token").stat().st_mode) == 0o600
    assert SECRET not in out + err and after not in out + err


def test_a_revoked_refresh_token_is_one_line_and_exit_1(
    refresh_world: World, tokens: TokenServer
) -> None:
    world = refresh_world
    world.deliver(eml("new-gmail-plain.eml"))
    tokens.refuse, tokens.refuse_description = "invalid_grant", "Token has been expired or revoked."
    try:
        code, out, err = world.cli("run", "--once")
    finally:
        tokens.refuse, tokens.refuse_description = None, "refused by the test"
    assert code == 1, err
    refusal_lines(world, err, "invalid_grant: Token has been expired or revoked.")
    assert SECRET not in out + err
    assert world.query("SELECT count(*) FROM inbound") == [(0,)]
    assert xoauth2_logins(world) == []


def test_a_service_account_logs_in_as_the_mailbox_user(
    robot_world: World, tokens: TokenServer
) -> None:
    world = robot_world
    world.deliver(eml("new-gmail-plain.eml"))
    code, out, err = world.cli("run", "--once")
    assert code == 0, err
    assert len(world.tickets()) == 1
    assert len(xoauth2_logins(world)) == 1
    # The JWT was signed with the key file's private key, and verified with its public half.
    claims = tokens.assertions[-1]
    assert claims["iss"] == ROBOT and claims["sub"] == world.user and claims["scope"] == GMAIL
    assert tokens.token_requests[-1]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert "PRIVATE KEY" not in out + err


def test_a_service_account_without_delegation_is_one_line_until_an_admin_grants_it(
    robot_world: World, tokens: TokenServer
) -> None:
    world = robot_world
    world.deliver(eml("new-gmail-plain.eml"))
    tokens.service_accounts[ROBOT].delegated_scopes = set()  # Admin console: not granted yet
    code, out, err = world.cli("run", "--once")
    assert code == 1, err
    refusal_lines(
        world,
        err,
        "unauthorized_client: Client is unauthorized to retrieve access tokens using this "
        "method, or client not authorized for any of the scopes requested.",
    )
    assert "PRIVATE KEY" not in out + err
    assert world.query("SELECT count(*) FROM inbound") == [(0,)]
    # Once the administrator grants https://mail.google.com/, the mail comes in, once.
    tokens.service_accounts[ROBOT].delegated_scopes = {GMAIL}
    code, _out, err = world.cli("run", "--once")
    assert code == 0, err
    assert len(world.tickets()) == 1


def test_a_missing_key_file_stops_run_at_start(robot_world: World) -> None:
    world = robot_world
    key = world.tmp / "keys" / "sa.json"
    key.unlink()
    code, _out, err = world.cli("run", "--once")
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"mailtickets: {world.config}: [imap] service_account_file: cannot read {key}: "
        "No such file or directory"
    ], err
