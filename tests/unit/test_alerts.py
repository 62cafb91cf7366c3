"""Alerts (issue 11 point 2): a refused credential is raised once, ops are mailed once per
raising however many workers see it, `status` fails and the metrics show it while it lasts,
and the next login that works clears it (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiosmtplib
from imapclient.exceptions import LoginError
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from mailtickets import metrics
from mailtickets.alerts import Alerts, is_refusal, login_key
from mailtickets.db import transaction
from mailtickets.errors import TemporaryError
from mailtickets.oauth2 import CredentialRefused
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.status import problems, read_facts, thresholds
from tests.conftest import both_databases

pytestmark = both_databases

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
OPS = "sistemas@hostingejemplo.es"
REFUSED = "mailbox soporte: OAuth2 provider refused the credential: invalid_grant: Token revoked"


def alerts_of(settings: Settings, engine: Engine, clock: list[datetime]) -> Alerts:
    site = replace(settings, policy=replace(settings.policy, ops_address=OPS))
    return Alerts(site, engine, Renderer("es"), lambda: clock[0])


def ops_mails(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, recipients FROM outbox ORDER BY id")).all()
    return [(kind, json.loads(recipients)[0]) for kind, recipients in rows]


def test_a_refusal_is_raised_once_mailed_once_and_cleared_when_it_works(
    settings: Settings, engine: Engine
) -> None:
    clock = [NOW]
    one, other = alerts_of(settings, engine, clock), alerts_of(settings, engine, clock)
    one.refused("imap:soporte", REFUSED)
    other.refused("imap:soporte", REFUSED + " (again)")  # another worker, the same login
    clock[0] = NOW + timedelta(minutes=5)
    one.refused("imap:soporte", REFUSED)
    assert ops_mails(engine) == [("credential_refused", OPS)]
    with transaction(engine) as session:
        facts = read_facts(session, [], NOW + timedelta(minutes=6))
    # (The ops mail itself, queued and not yet sent, is the other problem.)
    (line,) = [p for p in problems(facts, thresholds(settings)) if not p.startswith("outbox")]
    assert line.startswith("imap:soporte: credential refused since 2026-12-01T09:30:00+00:00")
    assert line.endswith(f"(6 min ago): {REFUSED}")
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT raw FROM outboxbody")).scalar_one()
    assert b"invalid_grant: Token revoked" in raw and b"imap:soporte" in raw

    other.working("imap:soporte")  # a worker that never saw it raised still clears it
    with transaction(engine) as session:
        found = problems(read_facts(session, [], NOW), thresholds(settings))
    assert [p for p in found if "credential" in p] == []
    # Refused again after working: a new raising, so one more mail.
    one.refused("imap:soporte", REFUSED)
    assert ops_mails(engine) == [("credential_refused", OPS)] * 2


def test_a_working_login_costs_no_statement_once_checked(
    settings: Settings, engine: Engine
) -> None:
    clock = [NOW]
    alerts = alerts_of(settings, engine, clock)
    alerts.working("smtp")  # the first success looks (an earlier process may have raised it)
    engine.dispose()
    statements: list[str] = []

    def listener(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(3):
            alerts.working("smtp")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []


def test_the_metric_shows_each_refused_login_by_name(settings: Settings, engine: Engine) -> None:
    clock = [NOW]
    alerts = alerts_of(settings, engine, clock)
    alerts.refused(login_key("imap", "facturacion"), REFUSED)
    alerts.refused(login_key("smtp", ""), "SMTP relay: 535 5.7.8 Authentication failed")
    collector = metrics.QueueCollector(engine, lambda: NOW, {})
    families = {f.name: f for f in collector.collect()}
    refused = families["mailtickets_credential_refused"]
    assert sorted((s.labels["login"], s.value) for s in refused.samples) == [
        ("imap:facturacion", 1.0),
        ("smtp", 1.0),
    ]
    alerts.working("smtp")
    families = {f.name: f for f in collector.collect()}
    assert [s.labels["login"] for s in families["mailtickets_credential_refused"].samples] == [
        "imap:facturacion"
    ]


def test_what_counts_as_a_refused_credential() -> None:
    def wrapped(cause: BaseException) -> TemporaryError:
        try:
            raise TemporaryError("IMAP server 127.0.0.1:143: refused") from cause
        except TemporaryError as exc:
            return exc

    assert is_refusal(CredentialRefused(REFUSED))
    assert is_refusal(wrapped(LoginError("[AUTHENTICATIONFAILED] Authentication failed.")))
    assert is_refusal(aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Authentication failed"))
    assert not is_refusal(wrapped(ConnectionRefusedError(111, "Connection refused")))
    assert not is_refusal(TemporaryError("OAuth2 token endpoint: timed out"))
