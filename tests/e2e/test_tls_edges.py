"""TLS at both edges, with certificates from a test CA the process trusts: delivery over
STARTTLS to a real aiosmtpd relay, and IMAP over STARTTLS and IMAPS to a real Dovecot.
Certificates and their names are checked, and one TLS context serves every connection."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from mailtickets import ingest, outbox, tls
from mailtickets.errors import TemporaryError
from mailtickets.settings import ImapSettings, Secret, SmtpSettings
from mailtickets.workers import Heartbeat
from tests.outbox_rows import queue
from tests.servers import Dovecot, free_port


class Relay:
    """Takes mail only after STARTTLS (aiosmtpd's require_starttls) and notes it came so."""

    def __init__(self) -> None:
        self.over_tls: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.over_tls.append(session.ssl is not None)
        return "250 OK"


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[trustme.CA]:
    """A CA the process trusts, as a site's own relay's would be (SSL_CERT_FILE), read by a
    context made after it is set: the shared context is made again for this test."""
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    tls.client_context.cache_clear()
    yield authority
    tls.client_context.cache_clear()  # the next test's context trusts what it sets


def relay_with(ca: trustme.CA, name: str) -> tuple[Relay, Controller]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(server)
    handler = Relay()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server,
        require_starttls=True,
    )
    controller.start()
    return handler, controller


def relay_settings(port: int) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", port, "starttls", "soporte@hostingejemplo.es", connections=2)


def test_mail_goes_over_starttls_and_one_context_serves_every_connection(
    ca: trustme.CA, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, controller = relay_with(ca, "127.0.0.1")
    built: list[object] = []
    make = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args)
        return make(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    try:
        with Heartbeat(engine) as worker:
            for _flush in range(2):
                queue(engine, 30)  # a connection a flush: these rows share one lane (no ticket)
                report = outbox.flush(
                    relay_settings(controller.port), engine, datetime.now(UTC), worker
                )
                assert (report.sent, report.retried, report.failed) == (30, 0, 0)
    finally:
        controller.stop()
    assert handler.over_tls == [True] * 60
    assert len(built) == 1  # aiosmtplib made one for each connection: two


def test_a_relay_whose_certificate_names_another_host_gets_nothing(
    ca: trustme.CA, engine: Engine
) -> None:
    handler, controller = relay_with(ca, "otro.example")
    try:
        with Heartbeat(engine) as worker:
            queue(engine, 2)
            report = outbox.flush(
                relay_settings(controller.port), engine, datetime.now(UTC), worker
            )
    finally:
        controller.stop()
    assert (report.sent, report.retried) == (0, 2)
    assert handler.over_tls == []


def test_the_shared_context_checks_every_certificate_and_its_name() -> None:
    context = tls.client_context()
    assert context is tls.client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def certificate_files(ca: trustme.CA, folder: Path, name: str) -> tuple[Path, Path]:
    issued = ca.issue_cert(name)
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_imap_over_tls_logs_in_with_the_shared_context(
    ca: trustme.CA, tmp_path: Path, security: str
) -> None:
    dovecot = Dovecot.start(tls=certificate_files(ca, tmp_path, "127.0.0.1"))
    try:
        user = dovecot.add_user()
        dovecot.append(user, b"Subject: Hola\r\nMessage-ID: <a@b.example>\r\n\r\nHola\r\n")
        port = dovecot.port if security == "starttls" else dovecot.tls_port
        imap = ImapSettings(
            "127.0.0.1", port, security, user, Secret("value", "secret"), timeout=10
        )
        client = ingest.connect(imap)
        try:
            assert client.search(["ALL"]) == [1]
            assert client.socket().version() in ("TLSv1.2", "TLSv1.3")
        finally:
            client.logout()
    finally:
        dovecot.stop()


def test_an_imap_server_whose_certificate_names_another_host_is_refused(
    ca: trustme.CA, tmp_path: Path
) -> None:
    dovecot = Dovecot.start(tls=certificate_files(ca, tmp_path, "otro.example"))
    try:
        imap = ImapSettings(
            "127.0.0.1",
            dovecot.tls_port,
            "ssl",
            dovecot.add_user(),
            Secret("value", "secret"),
            timeout=10,
        )
        with pytest.raises(TemporaryError, match=r"IMAP server 127\.0\.0\.1"):
            ingest.connect(imap)
    finally:
        dovecot.stop()
