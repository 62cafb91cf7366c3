"""The automatic checks on a new ticket through the real daemon (issue 12 points 1 and 4):
queued with the ticket, run off the ingest path against the loopback lab (dnsmasq, HTTPS
with a certificate ending in 3 days), reported once as an internal note and at the top of
the staff notice, or in a follow-up threaded under it when the notice had already left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mailtickets.daemon import CycleReport, Daemon
from mailtickets.db import open_database
from tests.assistant_servers import Lab, running_lab
from tests.conftest import World, eml

ROSA = "rosa.gil.tienda@gmail.com"
ANA = "ana.garcia@hostingejemplo.es"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab")) as started:
        yield started


@pytest.fixture
def checked(world: World, lab: Lab) -> World:
    """The world's config with [checks] pointed at the lab, as a site's config would be."""
    text = world.config.read_text()
    section = f"""[checks]
enabled = true
resolvers = ["127.0.0.1"]
resolver_port = {lab.dns.port}
allow_networks = ["127.0.0.0/8"]
ca_file = "{lab.ca_file}"
smtp_port = {lab.smtp_tls.port}
check_budget = "8s"
total_budget = "20s"
"""
    old = "[checks]\n# Off unless"
    assert old in text
    head, _, tail = text.partition(old)
    rest = tail.split("enabled = false\n", 1)[1]
    world.config.write_text(head + section + rest)
    return world


def mail(lab: Lab) -> bytes:
    return eml("checks/tienda-certificado-y-correo.eml", port=str(lab.expiring.port))


def test_the_checks_summary_heads_the_staff_notice_and_stays_as_a_note(
    checked: World, lab: Lab
) -> None:
    world = checked
    world.deliver(mail(lab))
    report = world.cycle()
    assert report.errors == [] and report.checks_run >= 4
    (ack,) = world.sink.to(ROSA)
    assert "caduca" not in ack.text and "MX" not in ack.text  # never told to the customer
    (notice,) = world.sink.to(ANA)
    top = notice.text.split("Nuevo ticket")[0]
    assert top.startswith("Comprobaciones automáticas: ") and "PROBLEMA" in top, notice.text
    assert "sinmx.test no tiene registro MX" in top, notice.text
    code = world.tickets()[0]["code"]
    shown = world.show(code)
    notes = [m for m in shown["messages"] if m["direction"] == "internal"]
    assert len(notes) == 1 and "sinmx.test no tiene registro MX" in notes[0]["text"]
    assert "caduca en 3 días" in notes[0]["text"], notes[0]["text"]
    assert any(e["kind"] == "checks_done" for e in shown["events"])
    (note,) = shown["notes"]  # SPEC §2: the checks' note among the ticket's notes
    assert note["author"] == "mailtickets" and note["text"] == notes[0]["text"]
    assert shown["rating"] is None
    # Reported once: later cycles run nothing again and send nothing more.
    again = world.cycle()
    assert again.checks_run == 0 and len(world.sink.to(ANA)) == 1
    assert world.query("SELECT count(*) FROM ticket_check WHERE state = 'done'")[0][0] >= 4
    assert world.query("SELECT count(*) FROM ticket_check WHERE reported_at IS NULL") == [(0,)]


def test_checks_that_finish_after_the_notice_left_follow_it_up_threaded(
    checked: World, lab: Lab
) -> None:
    world = checked
    world.deliver(mail(lab))
    settings = world.settings
    engine = open_database(settings.database_url)
    now = datetime.now(UTC)
    try:
        first = Daemon(settings, engine, clock=lambda: now)
        with first.worker:  # ingest and process only, as a worker that died right after
            first._ingest(CycleReport())
            first._process(CycleReport())
        first.log_out()
        # The hold runs out before any worker ran the checks: the notice leaves without.
        later = now + timedelta(minutes=5)
        second = Daemon(settings, engine, clock=lambda: later)
        assert second.deliver().sent == 2  # the acknowledgement and the staff notice
        (notice,) = world.sink.to(ANA)
        assert notice.text.startswith("Nuevo ticket"), notice.text  # no summary on top
        report = second.cycle()
        second.log_out()
    finally:
        engine.dispose()
    assert report.checks_run >= 4 and report.errors == []
    follow_up = world.sink.to(ANA)[1]
    assert follow_up.message["Subject"].startswith("[")
    assert "Comprobaciones automáticas" in follow_up.message["Subject"]
    assert follow_up.message["In-Reply-To"] == notice.message["Message-ID"]
    assert "sinmx.test no tiene registro MX" in follow_up.text
    assert "caduca en 3 días" in follow_up.text
    assert world.sink.to(ROSA)[1:] == []  # the customer hears nothing of it
