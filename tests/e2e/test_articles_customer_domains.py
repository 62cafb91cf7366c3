"""The customer's domains from the contacts import are checked (issue 12 point 2), through
the real daemon against the loopback lab: a mail that names no domain, from a public mail
provider, still gets its customer's domain looked at."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.assistant_servers import Lab, running_lab
from tests.conftest import World
from tests.e2e.test_people import mail_from

SENDER = "laura.martinez.flores@gmail.com"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab")) as started:
        yield started


def test_an_imported_domain_is_a_target_of_the_checks(world: World, lab: Lab) -> None:
    text = world.config.read_text()
    old = "[checks]\n"
    assert text.count(old) == 1
    section = (
        f'[checks]\nresolvers = ["127.0.0.1"]\nresolver_port = {lab.dns.port}\n'
        f'allow_networks = ["127.0.0.0/8"]\nca_file = "{lab.ca_file}"\n'
        f'smtp_port = {lab.smtp_tls.port}\ncheck_budget = "8s"\ntotal_budget = "20s"\n'
    )
    world.config.write_text(text.replace(old, section).replace("enabled = false\n", ""))
    csv = world.tmp / "clientes.csv"
    csv.write_text(
        f"customer,email,name,notify,plan,domains\nFloristería,{SENDER},Laura,yes,"
        "Web autogestionada,WWW.SINMX.TEST\n"
    )
    assert world.cli("contacts", "import", str(csv))[0] == 0

    world.deliver(mail_from(SENDER, "No me llegan los correos", "Desde ayer no recibo nada."))
    report = world.cycle()
    assert report.errors == [] and report.checks_run >= 1
    (targets,) = {row[0] for row in world.query("SELECT targets FROM ticket_check")}
    assert json.loads(targets)["domains"] == [["sinmx.test", "customer"]]  # gmail.com: public
    code = str(world.tickets()[0]["code"])
    notes = [m["text"] for m in world.show(code)["messages"] if m["direction"] == "internal"]
    assert len(notes) == 1 and "sinmx.test no tiene registro MX" in notes[0], notes
