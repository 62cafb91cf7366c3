"""Several mailboxes (issue 11 point 1, SPEC §3 `[[mailboxes]]`): two Dovecot users, one
daemon. Each mailbox answers from its own address and routes to its own department; a
message delivered to both is one ticket; one that fails is retried with back-off while the
other goes on; `check` and `status` say which mailbox works."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from mailtickets.daemon import Daemon
from mailtickets.db import open_database
from mailtickets.watchers import BACKOFF_FIRST
from tests.conftest import World, eml
from tests.e2e.test_daemon import wait_for
from tests.servers import Dovecot, SmtpSink

JORGE = "jorge.navarro@talleresnavarro.es"
LAURA = "laura.martinez@gmail.com"
MARTA = "marta@academiamarta.es"
ANA = "ana.garcia@hostingejemplo.es"
PABLO = "pablo.ruiz@hostingejemplo.es"


class TwoBoxes:
    """The test's world with its [imap] table replaced by two [[mailboxes]]: "soporte" (the
    world's own user) and "facturacion" (a second user, department Facturación)."""

    def __init__(self, world: World, dovecot: Dovecot, second_password: str = "secret"):
        self.world, self.dovecot = world, dovecot
        self.second = dovecot.add_user()
        text = world.config.read_text()
        imap = re.search(r"(?s)\[imap\]\n.*?\n\n", text)
        assert imap is not None
        port = dovecot.port
        boxes = f"""\
[[mailboxes]]
name = "soporte"
address = "soporte@hostingejemplo.es"
host = "127.0.0.1"
port = {port}
security = "none"
username = "{world.user}"
password = "secret"
poll_interval = "1s"

[[mailboxes]]
name = "facturacion"
address = "facturacion@hostingejemplo.es"
department = "Facturación"
host = "127.0.0.1"
port = {port}
security = "none"
username = "{self.second}"
password = "{second_password}"
poll_interval = "1s"

"""
        world.config.write_text(text.replace(imap.group(0), boxes))

    def deliver_second(self, raw: bytes) -> None:
        self.dovecot.append(self.second, raw)

    def unseen(self, user: str) -> list[int]:
        with self.dovecot.client(user) as client:
            client.select_folder("INBOX")
            return list(client.search(["UNSEEN"]))


@pytest.fixture
def boxes(world: World, dovecot: Dovecot) -> TwoBoxes:
    return TwoBoxes(world, dovecot)


def test_mail_in_facturacion_opens_a_facturacion_ticket_answered_from_facturacion(
    boxes: TwoBoxes,
) -> None:
    world = boxes.world
    boxes.deliver_second(eml("mailboxes/cargo-duplicado-alias.eml"))
    world.deliver(eml("new-gmail-plain.eml"))
    report = world.cycle()
    assert report.errors == [] and report.saved == 2

    tickets = {t["requester"]: t for t in world.tickets()}
    # The body's "web" is a Hosting keyword; the mailbox it arrived in weighs more.
    assert tickets[JORGE]["department"] == "Facturación"
    assert tickets[LAURA]["department"] == "Hosting"
    events = world.show(tickets[JORGE]["code"])["events"]
    assert any("mailbox facturacion → Facturación" in e["detail"] for e in events)

    ack = world.sink.to(JORGE)[0]
    assert "facturacion@hostingejemplo.es" in ack.message["From"]
    assert "facturacion@hostingejemplo.es" in ack.message["Reply-To"]
    assert ack.mail_from.startswith("facturacion+b-")  # its bounces come back to it too
    assert "soporte@" in world.sink.to(LAURA)[0].message["From"]
    # Each department's staff are told of their own ticket only.
    assert [tickets[JORGE]["code"] in m.message["Subject"] for m in world.sink.to(PABLO)] == [True]
    assert [tickets[LAURA]["code"] in m.message["Subject"] for m in world.sink.to(ANA)] == [True]

    # Staff answer the facturación ticket (from whichever mailbox): the customer gets it
    # from facturacion@, threaded under the ticket.
    code = tickets[JORGE]["code"]
    notice = next(m for m in world.sink.to(PABLO) if code in m.message["Subject"])
    reply = eml(
        "staff-reply-thunderbird.eml", code=code, notice_message_id=notice.message["Message-ID"]
    )
    world.deliver(reply)
    assert world.cycle().errors == []
    answer = world.sink.to(JORGE)[-1]
    assert "Revisa que el puerto SMTP" in answer.text
    assert "facturacion@hostingejemplo.es" in answer.message["From"]
    assert world.query("SELECT mailbox FROM ticket WHERE code = :c", c=code) == [("facturacion",)]
    # Both mailboxes were read from their own checkpoint and flagged on their own server.
    assert boxes.unseen(world.user) == [] and boxes.unseen(boxes.second) == []
    keys = {k for (k,) in world.query("SELECT mailbox FROM checkpoint")}
    assert len(keys) == 2 and any(boxes.second in k for k in keys)


def test_one_message_delivered_to_both_mailboxes_is_one_ticket(boxes: TwoBoxes) -> None:
    world = boxes.world
    raw = eml("cc-soporte-facturacion.eml")  # To soporte@, Cc facturacion@
    world.deliver(raw)
    boxes.deliver_second(raw)
    report = world.cycle()
    assert report.errors == [] and (report.saved, report.duplicates) == (1, 1)
    assert len(world.tickets()) == 1
    assert len(world.sink.to(MARTA)) == 1  # one acknowledgement
    assert boxes.unseen(world.user) == [] and boxes.unseen(boxes.second) == []
    # Later cycles find nothing new in either.
    assert world.cycle().saved == 0 and len(world.sink.to(MARTA)) == 1


def test_a_mailbox_with_a_wrong_password_backs_off_while_the_other_goes_on(
    world: World, dovecot: Dovecot
) -> None:
    boxes = TwoBoxes(world, dovecot, second_password="not-the-password")
    boxes.deliver_second(eml("mailboxes/cargo-duplicado-alias.eml"))
    world.deliver(eml("new-gmail-plain.eml"))
    settings = world.settings
    engine = open_database(settings.database_url)
    daemon = Daemon(settings, engine)
    try:
        first = daemon.cycle()
        # soporte's mail is answered; facturación's failure is named, not fatal.
        assert len(world.sink.to(LAURA)) == 1 and first.saved == 1
        assert len(first.errors) == 1 and first.errors[0].startswith("mailbox facturacion: ")
        assert "IMAP server 127.0.0.1" in first.errors[0]
        failing = daemon.watchers[1]
        assert failing.name == "facturacion" and failing.failures == 1

        # Within the back-off the failing mailbox is left alone; the other is still read.
        world.deliver(eml("new-english-plain.eml"))
        second = daemon.cycle()
        assert second.errors == [] and second.saved == 1 and failing.failures == 1

        # Once it is due again it is tried again, and waits twice as long after.
        started = time.monotonic()
        failing.retry_at = 0.0
        third = daemon.cycle()
        assert third.errors[0].startswith("mailbox facturacion: ") and failing.failures == 2
        assert failing.retry_at - started >= 2 * BACKOFF_FIRST.total_seconds()
    finally:
        daemon.close()
        engine.dispose()
    # The failure is on record for ops: `status` fails naming the mailbox and the error.
    code, out, _err = world.cli("status", "--json")
    assert code == 1
    facts = json.loads(out)
    failed = [m for m in facts["mailboxes"] if m["name"] == "facturacion"]
    assert failed and "AUTHENTICATIONFAILED" in failed[0]["last_error"].upper()
    assert any("mailbox facturacion (" in p for p in facts["problems"])
    assert not any("mailbox soporte (" in p for p in facts["problems"])
    assert boxes.unseen(boxes.second) == [1]  # nothing was taken from it


def test_check_says_per_mailbox_what_works(world: World, dovecot: Dovecot) -> None:
    TwoBoxes(world, dovecot, second_password="not-the-password")
    code, out, err = world.cli("check")
    assert code == 1, out + err
    assert re.search(r"(?m)^ok    imap soporte user\d+@127\.0\.0\.1:\d+/INBOX$", out), out
    assert re.search(r"(?m)^ok    smtp soporte 127\.0\.0\.1:\d+", out), out
    assert re.search(r"(?m)^ok    smtp facturacion 127\.0\.0\.1:\d+", out), out
    assert re.search(r"(?m)^FAIL  imap facturacion: IMAP server 127\.0\.0\.1:\d+: ", err), err
    assert "Traceback" not in err


def test_the_daemon_idles_on_every_mailbox_at_once(boxes: TwoBoxes) -> None:
    world = boxes.world
    text = world.config.read_text().replace('poll_interval = "1s"', 'poll_interval = "5m"')
    world.config.write_text(text)  # only IDLE can make it notice the mail in time
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: proc.poll() is None and world.tickets() == [], 10)
        time.sleep(1.0)  # let it settle into IDLE on both connections
        boxes.deliver_second(eml("mailboxes/cargo-duplicado-alias.eml"))
        assert wait_for(lambda: len(world.sink.to(JORGE)) == 1, 15)
        world.deliver(eml("new-gmail-plain.eml"))
        assert wait_for(lambda: len(world.sink.to(LAURA)) == 1, 15)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert re.search(r"running: soporte \(user\d+@.*\), facturacion \(user\d+@", err), err


def test_status_names_each_mailbox(boxes: TwoBoxes) -> None:
    world = boxes.world
    world.cycle()
    code, out, err = world.cli("status")
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if line.startswith("mailbox ")]
    assert [line.split()[1] for line in lines] == ["soporte", "facturacion"], out


def test_a_mailbox_with_its_own_relay_sends_through_it_and_waits_when_it_is_down(
    boxes: TwoBoxes,
) -> None:
    world = boxes.world
    own = SmtpSink().start()
    running = True
    try:
        text = world.config.read_text()
        relay = f"""
[mailboxes.smtp]
host = "127.0.0.1"
port = {own.port}
security = "none"
from_name = "Facturación Hosting Ejemplo"
"""
        # After the last [[mailboxes]] table (facturación's), before [smtp].
        assert text.count("\n[smtp]") == 1
        world.config.write_text(text.replace("\n[smtp]", relay + "\n[smtp]"))
        own.stop()  # facturación's relay is down: soporte's mail goes out all the same
        running = False
        boxes.deliver_second(eml("mailboxes/cargo-duplicado-alias.eml"))
        world.deliver(eml("new-gmail-plain.eml"))
        report = world.cycle()
        assert len(world.sink.to(LAURA)) == 1 and world.sink.to(JORGE) == []
        assert report.retried >= 1
        # The line names the relay that is down, not [smtp]'s, which took soporte's mail.
        retries = [e for e in report.errors if "left for retry" in e]
        assert retries == [
            f"SMTP relay 127.0.0.1:{own.port}: {report.retried} mail(s) left for retry"
        ]
        own.restart()
        running = True
        later = datetime.now(UTC) + timedelta(hours=2)  # past the retry's back-off
        world.cycle(clock=lambda: later)
        (ack,) = own.to(JORGE)
        assert "Facturación Hosting Ejemplo" in ack.message["From"]
        assert "facturacion@hostingejemplo.es" in ack.message["From"]
        assert world.sink.to(JORGE) == []  # never through the other relay
    finally:
        if running:
            own.stop()
