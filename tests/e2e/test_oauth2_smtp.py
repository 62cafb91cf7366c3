"""SMTP login with XOAUTH2: the aiosmtpd sink takes mail only with a token it can verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import World, eml, write_config
from tests.e2e.test_oauth2_imap import (
    SECRET,
    assert_rotated_privately,
    generic_oauth2,
    save_refresh_token,
)
from tests.servers import Dovecot, SmtpSink, TokenServer

LAURA = "laura.martinez@gmail.com"
SENDER = "soporte@hostingejemplo.es"


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    server = TokenServer(client_secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def oauth2_sink(tokens: TokenServer) -> Iterator[SmtpSink]:
    server = SmtpSink(tokens=tokens).start()
    yield server
    server.stop()


@pytest.fixture
def world(dovecot: Dovecot, oauth2_sink: SmtpSink, tokens: TokenServer, tmp_path: Path) -> World:
    user = dovecot.add_user()
    save_refresh_token(tmp_path, tokens, SENDER)
    db = tmp_path / "mailtickets.db"
    config = write_config(tmp_path / "config.toml", dovecot, user, oauth2_sink, db)
    oauth2 = f'[smtp]\nusername = "{SENDER}"\n' + generic_oauth2(tokens)
    text = config.read_text()
    assert text.count("[smtp]\n") == 1
    config.write_text(text.replace("[smtp]\n", oauth2))
    return World(dovecot, user, oauth2_sink, config, tmp_path, f"sqlite:///{db}")


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_TEST_CLIENT_SECRET", SECRET)


def test_run_once_sends_through_a_relay_that_takes_only_xoauth2(
    world: World, tokens: TokenServer
) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    before = (world.tmp / "refresh.token").read_text().strip()
    code, out, err = world.cli("run", "--once")
    assert code == 0, err
    assert len(world.sink.to(LAURA)) == 1
    assert world.sink.logins == [(SENDER, True)]
    assert_rotated_privately(world, tokens, before, out + err)


def test_the_token_is_kept_between_flushes_and_replaced_when_revoked(
    world: World, tokens: TokenServer
) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    report = world.cycle()
    assert report.errors == [], (report, world.sink.logins)
    asked = len(tokens.token_requests)
    world.deliver(eml("new-english-plain.eml"))
    assert world.cycle().errors == []
    assert len(tokens.token_requests) == asked  # the next flush reused the cached token
    tokens.revoke_access_tokens()
    world.deliver(eml("new-outlook-latin1.eml"))
    assert world.cycle().errors == []
    assert len(tokens.token_requests) == asked + 1
    assert world.sink.logins == [(SENDER, True), (SENDER, True), (SENDER, False), (SENDER, True)]
    # Every acknowledgement and staff notice of the three tickets went out, once each.
    sent = world.query(
        "SELECT count(*), count(DISTINCT message_id) FROM outbox WHERE state = 'sent'"
    )
    assert sent == [(6, 6)] and len(world.sink.received) == 6


def test_invalid_grant_is_one_line_naming_the_relay_and_nothing_is_sent(
    world: World, tokens: TokenServer
) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    tokens.refuse = "invalid_grant"
    code, out, err = world.cli("run", "--once")
    assert "Traceback" not in err and SECRET not in out + err
    relay = f"SMTP relay {SENDER}@127.0.0.1:{world.sink.port}"
    said = f"{relay}: OAuth2 provider refused the credential: invalid_grant: refused by the test"
    warnings = [line for line in err.splitlines() if " ERROR mailtickets.outbox: " in line]
    # One line for the relay; each mail's own retry is its event line (INFO).
    told = "the credential is refused, a person must renew it (told nobody: [policy] "
    told += "ops_address is not set)"
    assert len(warnings) == 1, err
    assert warnings[0].endswith(f"{said}; 2 mail(s) will be retried; {told}"), err
    assert not [line for line in err.splitlines() if " WARNING mailtickets.outbox: " in line]
    code, out, _err = world.cli("status")
    assert code == 1 and out.startswith("smtp:default: credential refused since "), out
    assert code == 1 and err.splitlines()[-1].startswith("mailtickets: SMTP relay "), err
    assert world.sink.received == [] and world.sink.logins == []
    assert world.query("SELECT count(*) FROM outbox WHERE state = 'sent'") == [(0,)]
