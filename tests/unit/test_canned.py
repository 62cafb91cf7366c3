"""Canned answers: `#plantilla`/`#macro` parsing, names, closest names, the files found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailtickets.canned import canned_list, canned_names, describe, render_canned, render_problem
from mailtickets.commands import CommandSite, ParsedCommands, closest_names, parse_commands
from mailtickets.render import Renderer
from mailtickets.staff_commands import specs

CANNED = ("alta-correo", "configurar-correo", "exportar-web", "renovar_dominio")


def parse(text: str, canned: tuple[str, ...] = CANNED) -> ParsedCommands:
    site = CommandSite(("Hosting",), frozenset({"ana@hostingejemplo.es"}), "SOP", canned)
    return parse_commands(text, specs(), site, "<m1@hostingejemplo.es>", "ana@hostingejemplo.es")


def context(**changes: Any) -> dict[str, Any]:
    """The canned answers' variables (staff_commands.canned_context), for a Correo ticket."""
    base: dict[str, Any] = {
        "code": "SOP-7KQ2MX",
        "subject": "Nueva cuenta de correo",
        "department": "Correo",
        "customer_name": "Floristería Laura",
        "contact_name": "Laura Martínez",
        "company": "Hosting Ejemplo",
        "staff_name": "Ana García",
        "plan": "",
        "domain": "floristerialaura.es",
    }
    return base | changes


@pytest.mark.parametrize(
    ("line", "name", "argument"),
    [
        ("#plantilla alta-correo", "macro", "alta-correo"),
        ("#macro alta-correo", "macro", "alta-correo"),
        ("#Plantilla Alta-Correo", "macro", "alta-correo"),
        ("#plantilla renovar_dominio", "macro", "renovar_dominio"),
        ("#plantillas", "macros", ""),
        ("#macros", "macros", ""),
    ],
)
def test_both_languages_name_the_same_commands(line: str, name: str, argument: str) -> None:
    parsed = parse(f"{line}\n\nSi prefieres, te la creo yo.")
    assert [(c.name, c.argument) for c in parsed.commands] == [(name, argument)]
    assert parsed.problems == () and parsed.text == "Si prefieres, te la creo yo."


def test_a_command_remembers_the_mail_it_came_in() -> None:
    command = parse("#plantilla alta-correo").commands[0]
    assert (command.message_id, command.sender) == (
        "<m1@hostingejemplo.es>",
        "ana@hostingejemplo.es",
    )


@pytest.mark.parametrize(
    "name",
    ["../ack", "..", "canned/alta-correo", "alta.correo", "alta correo", "-alta", "álta", "a" * 65],
)
def test_names_that_are_not_plain_file_names_are_refused(name: str) -> None:
    parsed = parse(f"#plantilla {name}")
    assert parsed.commands == ()
    assert "not a canned answer name" in parsed.problems[0].problem
    assert parsed.problems[0].kind == ""  # not "unknown": nothing to compare it with


def test_a_missing_name_is_a_problem() -> None:
    assert "needs an argument" in parse("#plantilla").problems[0].problem


def test_an_unknown_name_is_refused_with_the_closest_names() -> None:
    problem = parse("#plantilla alta-corro\n\nHola").problems[0]
    assert (problem.kind, problem.name) == ("canned_unknown", "alta-corro")
    assert problem.closest[0] == "alta-correo" and len(problem.closest) == 3
    assert "alta-correo" in problem.problem


def test_closest_names_always_offer_some_and_none_when_there_are_none() -> None:
    assert len(closest_names("no-existe", CANNED, 2)) == 2  # far from all, yet a hint
    assert closest_names("configurar", CANNED)[0] == "configurar-correo"
    assert closest_names("algo", ()) == ()
    problem = parse("#plantilla algo", canned=()).problems[0]
    assert problem.kind == "canned_unknown" and problem.closest == ()


def test_describe_reads_the_opening_comment() -> None:
    assert describe("{# Crear cuentas\nmás texto #}\nHola") == "Crear cuentas"
    assert describe("{#- Recortado -#}Hola") == "Recortado"
    assert describe("Hola {# no al principio #}") == ""
    assert describe("{##}Hola") == ""


@pytest.mark.parametrize(
    ("locale", "names"),
    [
        ("es", ["alta-correo", "configurar-correo", "exportar-web"]),
        ("en", ["mail-client-settings", "new-mail-account"]),
    ],
)
def test_the_built_in_examples_render_with_a_tickets_variables(
    locale: str, names: list[str]
) -> None:
    renderer = Renderer(locale)
    assert list(canned_names(renderer)) == names
    assert all(c.description for c in canned_list(renderer))
    for name in names:
        text = render_canned(renderer, name, context())
        assert "floristerialaura.es" in text or "Laura Martínez" in text, name
        assert "{{" not in text and "{%" not in text and text == text.strip()
        # Without the contacts import there is no domain, plan or contact name: still fine.
        bare = render_canned(renderer, name, context(domain="", contact_name="", plan=""))
        assert bare and "None" not in bare


def test_the_mail_account_answer_follows_the_customers_plan() -> None:
    renderer = Renderer("es")
    managed = render_canned(renderer, "alta-correo", context(plan="Web gestionada"))
    own = render_canned(renderer, "alta-correo", context(plan="Web autogestionada"))
    assert "la gestionamos nosotros" in managed and "Acceso Hosting" not in managed
    assert "Acceso Hosting" in own and "@floristerialaura.es" in own


def test_a_sites_files_add_to_and_override_the_built_in_ones(tmp_path: Path) -> None:
    (tmp_path / "es" / "canned").mkdir(parents=True)
    (tmp_path / "canned").mkdir()
    (tmp_path / "es" / "canned" / "alta-correo.txt.j2").write_text(
        "{# La nuestra #}\nEntre en panel.ejemplo.es, {{ contact_name }}.\n"
    )
    (tmp_path / "canned" / "baja-hosting.txt.j2").write_text("Lamentamos que se vaya.\n")
    (tmp_path / "canned" / "Mayusculas.txt.j2").write_text("no se puede pedir\n")
    (tmp_path / "canned" / "notas.txt").write_text("no es una plantilla\n")
    renderer = Renderer("es", tmp_path)
    names = canned_names(renderer)
    assert names == ("alta-correo", "baja-hosting", "configurar-correo", "exportar-web")
    described = {c.name: c.description for c in canned_list(renderer)}
    assert described["alta-correo"] == "La nuestra" and described["baja-hosting"] == ""
    text = render_canned(renderer, "alta-correo", context())
    assert text == "Entre en panel.ejemplo.es, Laura Martínez."


def test_a_broken_site_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "canned").mkdir()
    (tmp_path / "canned" / "rota.txt.j2").write_text("Hola {{ nombre_que_no_existe }}\n")
    (tmp_path / "canned" / "mal-cerrada.txt.j2").write_text("Hola {% if plan %}\n")
    renderer = Renderer("es", tmp_path)
    assert "nombre_que_no_existe" in render_problem(renderer, "rota", context())
    assert "cannot be written" in render_problem(renderer, "mal-cerrada", context())
    assert render_problem(renderer, "alta-correo", context()) == ""


def test_the_notices_word_an_unknown_name_in_their_language() -> None:
    problems = [
        {
            "line": "#plantilla no-existe",
            "problem": "no canned answer 'no-existe'",
            "kind": "canned_unknown",
            "name": "no-existe",
            "closest": ["exportar-web", "alta-correo"],
        }
    ]
    commands = [{"name": "macro", "word": "#plantilla"}, {"name": "macros", "word": "#plantillas"}]
    base = context(problems=problems, commands=commands, status="open", priority="normal")
    spanish = Renderer("es").render("command_error", base).text
    assert "no hay ninguna plantilla «no-existe»; las más parecidas: exportar-web, alta-correo" in (
        spanish
    )
    assert "responda #plantillas" in spanish and "no canned answer" not in spanish
    english = Renderer("en").render("command_error", base | {"commands": []}).text
    assert 'there is no canned answer "no-existe"; the closest: exportar-web' in english


@pytest.mark.parametrize(("locale", "word"), [("es", "#plantilla"), ("en", "#macro")])
def test_the_list_names_each_answer_and_how_to_send_it(locale: str, word: str) -> None:
    listed = [
        {"name": "alta-correo", "description": "Crear cuentas"},
        {"name": "x", "description": ""},
    ]
    commands = [{"name": "macro", "word": word}]
    rendered = Renderer(locale).render("canned_list", context(canned=listed, commands=commands))
    assert "alta-correo · Crear cuentas" in rendered.text and "  x\n" in rendered.text
    assert f"{word} alta-correo" in rendered.text
    assert rendered.subject.startswith("[SOP-7KQ2MX] ")
    empty = Renderer(locale).render("canned_list", context(canned=[], commands=[])).text
    assert "canned/" in empty
