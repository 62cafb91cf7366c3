"""Help-centre answers by plan through the real daemon (issue 12 point 7): contacts imported
with their plans by the CLI, then the same question from a self-managed and a managed web's
customer gets each its own article in the acknowledgement, staff are told which, and an
article for another plan never reaches anybody."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DATA, World, eml

ARTICLES = DATA / "articles"
LAURA = "laura@floristerialaura.es"  # Web autogestionada
ANTONIO = "antonio@bodegasantonio.es"  # Web gestionada
ROSA = "rosa.gil.tienda@gmail.com"  # no plan: opened a customer by writing in
ANA = "ana.garcia@hostingejemplo.es"  # Hosting, the default department's staff
QUESTION = "¿Cómo creo o elimino una cuenta de correo?"
SELF_URL = "https://ayuda.hostingejemplo.es/correo/crear-o-eliminar-cuentas"

CSV = (
    "cliente;correo;nombre;notificar;plan;dominios\r\n"
    f"Floristería Laura;{LAURA};Laura Martínez;sí;Web autogestionada;"
    '"floristerialaura.es, www.floristerialaura.com"\r\n'
    f"Bodegas Antonio;{ANTONIO};Antonio Muñoz;sí;Web gestionada;bodegasantonio.es\r\n"
)


@pytest.fixture
def helped(world: World) -> World:
    """The world's site with the test articles, as a site's config names its folder."""
    text = world.config.read_text()
    company = 'company_name = "Hosting Ejemplo"\n'
    assert company in text
    world.config.write_text(text.replace(company, f'{company}articles_dir = "{ARTICLES}"\n'))
    path = world.tmp / "clientes.csv"
    path.write_text(CSV, encoding="utf-8")
    rc, out, err = world.cli("contacts", "import", str(path))
    assert rc == 0 and "2 added, 0 updated, 0 unchanged, 0 skipped" in out, err
    return world


def test_the_same_question_gets_each_plans_answer(helped: World) -> None:
    world = helped
    world.deliver(eml("articles/crear-cuenta-correo-autogestionada.eml"))
    world.deliver(eml("articles/crear-cuenta-correo-gestionada.eml"))
    report = world.cycle()
    assert report.errors == [] and [r.state for r in report.results] == ["done", "done"]

    (self_ack,) = world.sink.to(LAURA)
    assert f"Quizá le sirva: {QUESTION}" in self_ack.text
    assert "Acceso Hosting" in self_ack.text and f"Más información: {SELF_URL}" in self_ack.text
    assert "nos encargamos" not in self_ack.text  # the managed web's answer

    (managed_ack,) = world.sink.to(ANTONIO)
    assert f"Quizá le sirva: {QUESTION}" in managed_ack.text
    assert "nos encargamos de hacer los cambios" in managed_ack.text
    assert "Acceso Hosting" not in managed_ack.text and SELF_URL not in managed_ack.text
    assert managed_ack.text.count("Quizá le sirva:") <= 2

    notices = {n.message["Subject"]: n.text for n in world.sink.to(ANA)}
    assert len(notices) == 2
    told = sorted(line for t in notices.values() for line in t.splitlines() if "Sugerido" in line)
    assert told[0].startswith(f"Sugerido al cliente: {QUESTION} (Web autogestionada, Llave")
    assert told[1].startswith(f"Sugerido al cliente: {QUESTION} (Web gestionada)")

    for ticket in world.tickets():
        events = [e for e in world.show(str(ticket["code"]))["events"] if e["kind"] == "suggested"]
        assert [e["detail"].split("; ")[0] for e in events] == [QUESTION]


def test_a_customer_without_a_plan_gets_only_articles_for_every_plan(helped: World) -> None:
    world = helped
    world.deliver(eml("articles/crear-cuenta-correo-sin-plan.eml"))
    world.cycle()
    (ack,) = world.sink.to(ROSA)
    assert "Quizá le sirva" not in ack.text and QUESTION not in ack.text
    (notice,) = world.sink.to(ANA)
    assert "Sugerido" not in notice.text
    code = str(world.tickets()[0]["code"])
    assert all(e["kind"] != "suggested" for e in world.show(code)["events"])


def test_contacts_list_shows_plans_and_domains_and_reimport_updates_them(helped: World) -> None:
    world = helped
    rc, out, _ = world.cli("contacts", "list", "--json")
    listed = {c["email"]: c for c in json.loads(out)}
    assert rc == 0 and listed[LAURA]["plan"] == "Web autogestionada"
    assert listed[LAURA]["domains"] == ["floristerialaura.es", "floristerialaura.com"]
    path = world.tmp / "clientes.csv"
    path.write_text(CSV.replace("Web autogestionada", "Web gestionada"), encoding="utf-8")
    rc, out, _ = world.cli("contacts", "import", str(path))
    assert rc == 0 and "0 added, 1 updated, 1 unchanged" in out
    rc, out, _ = world.cli(
        "contacts", "add", ROSA, "--customer", "Rosa Gil", "--plan", "Llave en mano",
        "--domain", "WWW.TiendaRosa.es", "--domain", "rosa.shop",
    )  # fmt: skip
    assert rc == 0 and "1 added" in out
    rc, out, _ = world.cli("contacts", "list", "--json", "--customer", "Rosa Gil")
    assert [(c["plan"], c["domains"]) for c in json.loads(out)] == [
        ("Llave en mano", ["tiendarosa.es", "rosa.shop"])
    ]
    rc, _, err = world.cli("contacts", "add", ROSA, "--customer", "Rosa Gil", "--domain", "x")
    assert rc == 2 and "'x' is not a domain name" in err and "Traceback" not in err


def test_a_broken_article_stops_check_and_run_naming_the_file(helped: World) -> None:
    world = helped
    folder = world.tmp / "ayuda"
    folder.mkdir()
    for article in ARTICLES.glob("*.md"):
        (folder / article.name).write_bytes(article.read_bytes())
    (folder / "roto.md").write_text('+++\ntitle = "Sin palabras"\n+++\nTexto.\n')
    world.config.write_text(world.config.read_text().replace(str(ARTICLES), "ayuda"))
    for command in (("check",), ("run", "--once")):
        rc, out, err = world.cli(*command)
        assert rc == 2, (command, out, err)
        assert err.strip().count("\n") == 0 and f"{folder / 'roto.md'}: keywords" in err
        assert "Traceback" not in err
