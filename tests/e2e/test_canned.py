"""Canned answers through the real daemon: `#plantilla` answers the customer, `#plantillas`
lists them to the staff member alone, an unknown name changes nothing."""

from __future__ import annotations

from email.utils import parseaddr

from tests.conftest import World, both_databases, eml
from tests.servers import Received

pytestmark = both_databases

LAURA = "laura.martinez@gmail.com"
ANA = "ana.garcia@hostingejemplo.es"


def only(mails: list[Received]) -> Received:
    assert len(mails) == 1, [m.message["Subject"] for m in mails]
    return mails[0]


def laura_ticket(world: World) -> tuple[str, str]:
    """Laura's new ticket in Hosting: its code and the Message-ID of Ana's notice."""
    world.deliver(eml("new-gmail-plain.eml"))
    assert world.cycle().errors == []
    code = str(world.tickets()[0]["code"])
    return code, str(only(world.sink.to(ANA)).message["Message-ID"])


def staff_reply(world: World, name: str, code: str, notice: str) -> None:
    world.deliver(eml(f"canned-time/{name}", code=code, notice_message_id=notice))
    report = world.cycle()
    assert report.errors == [] and [r.state for r in report.results] == ["done"], report


def test_a_canned_answer_then_the_staff_members_line_reach_the_customer(world: World) -> None:
    code, notice = laura_ticket(world)
    staff_reply(world, "staff-plantilla-alta-correo.eml", code, notice)

    answer = world.sink.to(LAURA)[-1]
    text = answer.text
    assert f"[{code}]" in answer.message["Subject"]
    assert parseaddr(str(answer.message["From"]))[1] == "soporte@hostingejemplo.es"
    assert ANA.encode() not in answer.data  # the staff member's address appears nowhere
    canned = text.index("Abra la sección «E-mail»")
    personal = text.index("Laura, si prefieres que te la dejemos creada nosotros")
    assert canned < personal < text.index("Ana García")  # canned, line, then the signature
    assert text.startswith("Hola Laura Martínez:")  # the contact's name, from her mail
    assert "#plantilla" not in text and "{{" not in text and "escribió:" not in text

    ticket = world.show(code)
    assert ticket["status"] == "waiting"
    out = ticket["messages"][-1]
    assert out["direction"] == "out" and "Abra la sección «E-mail»" in out["text"]
    assert ("canned", ANA) in [(e["kind"], e["actor"]) for e in ticket["events"]]


def test_the_list_of_canned_answers_reaches_the_staff_member_only(world: World) -> None:
    code, notice = laura_ticket(world)
    before = len(world.sink.received)
    staff_reply(world, "staff-plantillas.eml", code, notice)

    listing = only(world.sink.received[before:])
    assert listing.rcpt_tos == [ANA]
    assert f"[{code}] Plantillas de respuesta" in listing.message["Subject"]
    assert (
        listing.message["In-Reply-To"] == "<9f3c0a27-41b6-4c8d-b2e5-08d7a6e1f4c2@hostingejemplo.es>"
    )
    for name in ("alta-correo", "configurar-correo", "exportar-web"):
        assert f"  {name} · " in listing.text
    assert "#plantilla alta-correo" in listing.text
    ticket = world.show(code)
    assert ticket["status"] == "new"  # nobody answered the customer
    assert ticket["messages"][-1]["direction"] == "internal"  # the signature stayed here


def test_an_unknown_canned_answer_changes_nothing_and_names_the_closest(world: World) -> None:
    code, notice = laura_ticket(world)
    before_ticket = world.show(code)
    before = len(world.sink.received)
    staff_reply(world, "staff-plantilla-no-existe.eml", code, notice)

    told = only(world.sink.received[before:])
    assert told.rcpt_tos == [ANA]
    assert "Órdenes no aplicadas" in told.message["Subject"]
    assert "no hay ninguna plantilla «no-existe»; las más parecidas: " in told.text
    closest = told.text.split("las más parecidas: ")[1].split(" (")[0].split(", ")
    assert len(closest) == 3 and set(closest) <= {
        "alta-correo",
        "configurar-correo",
        "exportar-web",
    }
    assert "responda #plantillas" in told.text
    after = world.show(code)
    for key in ("status", "priority", "department", "assignee"):
        assert after[key] == before_ticket[key]
    assert after["messages"][-1]["direction"] == "internal"
    assert world.sink.to(LAURA) == world.sink.to(LAURA)[:1]  # still only the acknowledgement


def test_a_sites_own_canned_answer_overrides_the_built_in_one(world: World) -> None:
    site = world.tmp / "plantillas"
    (site / "canned").mkdir(parents=True)
    (site / "canned" / "alta-correo.txt.j2").write_text(
        "{# Alta de buzones en nuestro panel #}\n"
        "Hola {{ customer_name }}: entre en https://panel.hostingejemplo.es, ticket {{ code }}.\n",
        encoding="utf-8",
    )
    config = world.config.read_text().replace(
        'company_name = "Hosting Ejemplo"',
        'company_name = "Hosting Ejemplo"\ntemplates_dir = "plantillas"',
    )
    world.config.write_text(config)
    code, notice = laura_ticket(world)
    staff_reply(world, "staff-plantilla-alta-correo.eml", code, notice)
    text = world.sink.to(LAURA)[-1].text
    assert text.startswith(
        f"Hola Laura Martínez: entre en https://panel.hostingejemplo.es, ticket {code}."
    )
    assert "Abra la sección" not in text and "Laura, si prefieres" in text
