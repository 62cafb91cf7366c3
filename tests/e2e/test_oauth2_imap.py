"""IMAP login with XOAUTH2: Dovecot's oauth2 passdb asks a token endpoint on loopback."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailtickets.daemon import Daemon
from mailtickets.db import open_database
from mailtickets.watchers import BACKOFF_FIRST
from tests.conftest import World, eml, write_config
from tests.e2e.test_daemon import wait_for
from tests.servers import Dovecot, SmtpSink, TokenServer

SECRET = "cl13nt-s3cret"
LAURA = "laura.martinez@gmail.com"
OPS = "sistemas@hostingejemplo.es"


def generic_oauth2(tokens: TokenServer) -> str:
    """The keys of a login through the generic provider at `tokens` (IMAP or SMTP)."""
    return (
        'auth = "oauth2"\n'
        'oauth2_provider = "generic"\n'
        f'token_url = "{tokens.token_url}"\n'
        'client_id = "mailtickets"\n'
        'client_secret_env = "MT_TEST_CLIENT_SECRET"\n'
        'refresh_token_file = "refresh.token"\n'
    )


def save_refresh_token(folder: Path, tokens: TokenServer, subject: str) -> None:
    """A refresh token for `subject`, where the config's refresh_token_file points."""
    (folder / "refresh.token").write_text(tokens.grant(subject) + "\n")
    (folder / "refresh.token").chmod(0o600)


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenServer]:
    server = TokenServer(client_secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oauth2_dovecot(tokens: TokenServer) -> Iterator[Dovecot]:
    server = Dovecot.start(introspection_url=tokens.introspection_url)
    yield server
    server.stop()


@pytest.fixture
def world(oauth2_dovecot: Dovecot, tokens: TokenServer, sink: SmtpSink, tmp_path: Path) -> World:
    tokens.refuse, tokens.rotate, tokens.lifetime, tokens.app_mailbox = None, True, 3600, ""
    user = oauth2_dovecot.add_user()
    save_refresh_token(tmp_path, tokens, user)
    db = tmp_path / "mailtickets.db"
    config = write_config(tmp_path / "config.toml", oauth2_dovecot, user, sink, db)
    text = config.read_text()
    assert 'password = "secret"\n' in text
    text = text.replace('password = "secret"\n', generic_oauth2(tokens))
    config.write_text(text.replace("[policy]\n", f'[policy]\nops_address = "{OPS}"\n'))
    return World(oauth2_dovecot, user, sink, config, tmp_path, f"sqlite:///{db}")


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_TEST_CLIENT_SECRET", SECRET)


def mailbox(world: World) -> str:
    return f"{world.user}@127.0.0.1:{world.dovecot.port}/INBOX"


def logins(world: World) -> list[str]:
    log = (world.dovecot.base / "dovecot.log").read_text()
    return [line for line in log.splitlines() if f"Login: user=<{world.user}>" in line]


def test_run_once_logs_in_with_xoauth2_and_ingests(world: World, tokens: TokenServer) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    before = (world.tmp / "refresh.token").read_text().strip()
    code, out, err = world.cli("run", "--once")
    assert code == 0, err
    [ticket] = world.tickets()
    assert ticket["requester"] == LAURA
    # (PLAIN logins are the test's own deliveries.)
    assert len([line for line in logins(world) if "method=XOAUTH2" in line]) == 1
    assert_rotated_privately(world, tokens, before, out + err)


def test_oauthbearer_is_used_when_configured(world: World, tokens: TokenServer) -> None:
    # RFC 7628, for servers that take OAUTHBEARER rather than Google's XOAUTH2.
    text = world.config.read_text()
    world.config.write_text(
        text.replace('auth = "oauth2"\n', 'auth = "oauth2"\noauth2_mechanism = "oauthbearer"\n', 1)
    )
    world.deliver(eml("new-gmail-plain.eml"))
    code, _out, err = world.cli("run", "--once")
    assert code == 0, err
    assert len(world.tickets()) == 1
    methods = [line for line in logins(world) if "method=OAUTHBEARER" in line]
    assert len(methods) == 1 and not [line for line in logins(world) if "method=XOAUTH2" in line]


def assert_rotated_privately(world: World, tokens: TokenServer, before: str, said: str) -> None:
    """The endpoint rotated the refresh token: the new one is saved, private, and works;
    neither it nor the client secret is in what the command said."""
    after = (world.tmp / "refresh.token").read_text().strip()
    assert after != before and after in tokens.refresh_tokens
    assert stat.S_IMODE((world.tmp / "refresh.token").stat().st_mode) == 0o600
    assert SECRET not in said and after not in said


def test_invalid_grant_is_one_line_naming_the_mailbox_and_exits_1(
    world: World, tokens: TokenServer
) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    tokens.refuse = "invalid_grant"
    code, out, err = world.cli("run", "--once")
    assert code == 1
    assert "Traceback" not in err and SECRET not in out + err
    said = f"mailbox {mailbox(world)}: OAuth2 provider refused the credential: "
    said += "invalid_grant: refused by the test"
    refusals = [line for line in err.splitlines() if "refused the credential" in line]
    # One log line, and the error line `run --once` ends with for every failed stage.
    assert len(refusals) == 2, err
    logged = f" ERROR mailtickets.watchers: mailbox default: {said}; failure 1 in a row, "
    logged += "trying again in 15 s; the credential is refused, a person must renew it "
    logged += f"(told {OPS})"
    assert refusals[0].endswith(logged), refusals
    assert refusals[1] == f"mailtickets: mailbox default: {said}", refusals
    assert world.query("SELECT count(*) FROM inbound") == [(0,)]
    assert not [line for line in logins(world) if "method=XOAUTH2" in line]
    # Loud, not a silent stop: `status` fails at once naming the login and the provider's
    # words, and ops get one mail however often it is tried.
    code, out, _err = world.cli("status")
    assert code == 1 and out.startswith("imap:default: credential refused since "), out
    assert "invalid_grant: refused by the test" in out.splitlines()[0]
    assert world.cli("run", "--once")[0] == 1
    (told,) = world.sink.to(OPS)
    assert told.message["Subject"] == "mailtickets: imap:default no puede iniciar sesión"
    assert "invalid_grant: refused by the test" in told.text
    # Once the provider accepts the credential again, the mail comes in, once.
    tokens.refuse = None
    code, _out, err = world.cli("run", "--once")
    assert code == 0, err
    assert len(world.tickets()) == 1
    assert "works again; alert cleared" in err
    code, out, _err = world.cli("status")
    assert "credential refused" not in out


def test_a_revoked_access_token_is_replaced_and_the_session_resumed(
    world: World, tokens: TokenServer
) -> None:
    settings = world.settings
    engine = open_database(settings.database_url)
    daemon = Daemon(settings, engine)
    try:
        world.deliver(eml("new-gmail-plain.eml"))
        assert daemon.cycle().errors == []
        assert len(tokens.token_requests) >= 1
        asked = len(tokens.token_requests)
        daemon.log_out()
        # Reconnecting with the cached token costs no request to the endpoint...
        world.deliver(eml("new-english-plain.eml"))
        assert daemon.cycle().errors == []
        assert len(tokens.token_requests) == asked
        daemon.log_out()
        # ...until the server stops accepting it: then one new token, and on.
        tokens.revoke_access_tokens()
        world.deliver(eml("new-outlook-latin1.eml"))
        assert daemon.cycle().errors == []
        assert len(tokens.token_requests) == asked + 1
    finally:
        daemon.close()
        engine.dispose()
    assert world.query("SELECT count(*) FROM inbound") == [(3,)]
    assert len(world.tickets()) == 3
    assert len([line for line in logins(world) if "method=XOAUTH2" in line]) == 3


def test_a_session_that_outlives_its_token_is_taken_up_again_at_once(
    world: World, tokens: TokenServer
) -> None:
    # The daemon IDLEs with a token that then stops being good (as when Exchange Online
    # ends an IDLE with "AccessTokenExpired"): the server ends the session, and the daemon
    # logs in again at once with a fresh token, before any back-off, losing and doubling
    # nothing.
    text = world.config.read_text().replace('poll_interval = "1s"', 'poll_interval = "5m"')
    world.config.write_text(text)  # only IDLE, or the reconnection, can be in time
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        world.deliver(eml("new-gmail-plain.eml"))
        assert wait_for(lambda: len(world.sink.to(LAURA)) == 1, 15)
        time.sleep(1.0)  # back in IDLE
        asked = len(tokens.token_requests)
        tokens.revoke_access_tokens()
        kicked = subprocess.run(
            ["doveadm", "-c", str(world.dovecot.base / "dovecot.conf"), "kick", world.user],
            capture_output=True,
            text=True,
            check=True,
        )
        assert world.user in kicked.stdout
        world.deliver(eml("new-english-plain.eml"))
        started = time.monotonic()
        assert wait_for(lambda: len(world.tickets()) == 2, 12)
        assert time.monotonic() - started < BACKOFF_FIRST.total_seconds()
        assert wait_for(lambda: len(world.sink.to("john.smith@example.co.uk")) == 1, 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "the session ended, connecting again" in err, err[-3000:]
    assert "failure 1 in a row" not in err, err[-3000:]
    assert len(tokens.token_requests) > asked  # a fresh token, asked for once more
    assert len(world.sink.to(LAURA)) == 1  # nothing read twice
    assert world.query("SELECT count(*) FROM inbound") == [(2,)]
