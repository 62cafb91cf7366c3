"""transfer.send against a real aiosmtpd relay, side by side with aiosmtplib's sendmail:
the same bytes arrive, the same refusals come back, and the connection goes on after each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller

from mailtickets import transfer
from tests.servers import free_port

FROM = "rebotes@hostingejemplo.es"
BIG = 20_000  # the relay's size limit, announced by SIZE
BODY = (
    b"From: Soporte <soporte@hostingejemplo.es>\r\nSubject: [#HE-1] Recibido\r\n\r\n"
    b"Hola Marta:\r\n.una linea que empieza por punto\r\n..y otra por dos\r\n.\r\nfin\r\n"
)


class Relay:
    """Takes mail; refuses the recipients and the messages these tests name."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.commands: list[str] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.commands.append(f"RCPT {address} {' '.join(options)}".strip())
        if address.startswith("nadie@"):
            return "550 5.1.1 Usuario desconocido"
        if address.startswith("lleno@"):
            return "452 4.2.2 Buzon lleno"
        envelope.rcpt_tos.append(address)
        return "251 2.1.5 Reenviado" if address.startswith("desvio@") else "250 OK"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.commands.append(f"MAIL {address} {' '.join(options)}".strip())
        sizes = [int(o.split("=")[1]) for o in options if o.upper().startswith("SIZE=")]
        if sizes and sizes[0] > BIG:
            return "552 5.3.4 Mensaje demasiado grande"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if b"CORTAR" in envelope.content:  # gone with the data in, before answering it
            server.transport.close()
            return "421 4.4.2 Cerrando"
        if b"RECHAZAR" in envelope.content:
            return "554 5.7.1 Mensaje rechazado"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[Relay, int]]:
    handler, port = Relay(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


Sender = Callable[[aiosmtplib.SMTP, list[str], bytes], Awaitable[Any]]


async def by_sendmail(client: aiosmtplib.SMTP, to: list[str], raw: bytes) -> Any:
    refused, _ = await client.sendmail(FROM, to, raw)
    return refused


async def by_transfer(client: aiosmtplib.SMTP, to: list[str], raw: bytes) -> Any:
    return await transfer.send(client, FROM, to, raw)


MAILS: list[tuple[list[str], bytes]] = [
    (["marta@cliente.example"], BODY),
    (["marta@cliente.example"], BODY.replace(b"\r\n", b"\n")),  # lone LFs, mended
    (["marta@cliente.example", "nadie@cliente.example"], BODY),  # one refused
    (["nadie@cliente.example", "lleno@cliente.example"], BODY),  # all refused
    (["marta@cliente.example"], BODY + b"RECHAZAR\r\n"),  # the message refused
    (["marta@cliente.example"], b"sin fin de linea"),
    (["desvio@cliente.example"], BODY),  # 251: taken, to be forwarded
    (["marta@cliente.example"], BODY * 200),  # MAIL refused for its SIZE
    (["jefe@cliente.example"], BODY),  # after every refusal, the same connection goes on
]


def outcomes(port: int, send: Sender) -> list[Any]:
    """What each of MAILS gave, in turn over one connection: the refused recipients, or
    the error's type and codes."""

    async def run() -> list[Any]:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
        await client.connect()
        got: list[Any] = []
        for to, raw in MAILS:
            try:
                refused = await send(client, to, raw)
                got.append({a: (r.code, r.message) for a, r in refused.items()})
            except aiosmtplib.SMTPRecipientsRefused as exc:
                got.append(("refused", sorted((r.recipient, r.code) for r in exc.recipients)))
            except aiosmtplib.SMTPResponseException as exc:
                got.append((type(exc).__name__, exc.code, exc.message))
        assert client.is_connected
        await client.quit()
        return got

    return asyncio.run(run())


def test_the_relay_gets_and_answers_the_same_as_from_sendmail(relay: tuple[Relay, int]) -> None:
    handler, port = relay
    expected = outcomes(port, by_sendmail)
    theirs, their_commands = list(handler.received), list(handler.commands)
    handler.received.clear()
    handler.commands.clear()

    assert outcomes(port, by_transfer) == expected
    assert handler.received == theirs
    assert handler.commands == their_commands  # the same envelopes, SIZE announced the same
    assert sum(c.startswith("RCPT") for c in their_commands) == 10
    assert expected[7] == ("SMTPSenderRefused", 552, "5.3.4 Mensaje demasiado grande")
    assert theirs[4][1] == ["desvio@cliente.example"]
    # The comparison is not empty: what each case is meant to show, shown.
    assert len(theirs) == 6  # the first two, the one partly refused, no end of line, 251, last
    assert theirs[0][2] == BODY and theirs[1][2] == BODY  # dots unstuffed, LFs mended
    assert theirs[3][2] == b"sin fin de linea\r\n"
    assert expected[2] == {"nadie@cliente.example": (550, "5.1.1 Usuario desconocido")}
    assert expected[3] == (
        "refused",
        [("lleno@cliente.example", 452), ("nadie@cliente.example", 550)],
    )
    assert expected[4] == ("SMTPDataError", 554, "5.7.1 Mensaje rechazado")
    assert theirs[-1][1] == ["jefe@cliente.example"]


@pytest.mark.parametrize(
    ("address", "error"),
    [("marta perez@cliente.example", ValueError), ("ñandú@cliente.example", UnicodeEncodeError)],
)
def test_an_address_that_cannot_go_on_a_command_line_is_refused_before_the_relay_sees_it(
    relay: tuple[Relay, int], address: str, error: type[Exception]
) -> None:
    """aiosmtplib 5.1's sendmail raised a non-ASCII recipient's error only after MAIL, so the
    next mail on the connection met "503 nested MAIL"; here nothing is sent first."""
    handler, port = relay

    async def run() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
        await client.connect()
        with pytest.raises(error):
            await transfer.send(client, FROM, ["marta@cliente.example", address], BODY)
        await transfer.send(client, FROM, ["marta@cliente.example"], BODY)
        await client.quit()

    asyncio.run(run())
    assert [c.split()[0] for c in handler.commands] == ["MAIL", "RCPT"]  # none refused first
    assert [r[1] for r in handler.received] == [["marta@cliente.example"]]


@pytest.mark.parametrize("send", [by_sendmail, by_transfer], ids=["sendmail", "transfer"])
def test_a_relay_that_drops_the_connection_after_the_data_is_a_lost_connection(
    relay: tuple[Relay, int], send: Sender
) -> None:
    """The client is closed, so the outbox retries the rest on a new connection."""
    _handler, port = relay

    async def run() -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
        await client.connect()
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await send(client, ["marta@cliente.example"], BODY + b"CORTAR\r\n")
        return client

    assert not asyncio.run(run()).is_connected
