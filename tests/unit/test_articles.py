"""Help-centre articles (issue 12 point 7): the file format and its refusals, and which
articles a mail gets for a customer's plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtickets.article_files import parse_article, read_articles, site_articles
from mailtickets.articles import Article, applies_to, suggest
from mailtickets.config import load_settings
from mailtickets.errors import ConfigError
from tests.conftest import CONFIG_TEMPLATE, DATA

SHIPPED = DATA / "articles"
SELF_MANAGED = "Web autogestionada"
MANAGED = "Web gestionada"
MAIL_ACCOUNTS = "¿Cómo creo o elimino una cuenta de correo?"

GOOD = """+++
title = "¿Cómo creo o elimino una cuenta de correo?"
keywords = ["cuenta de correo", "buzón"]
plans = ["Web autogestionada"]
url = "https://ayuda.example.es/correo"
+++
Entre en su Acceso Hosting → E-mail.
"""


def article(title: str, keywords: tuple[str, ...], plans: tuple[str, ...] = ()) -> Article:
    return Article(title, keywords, plans, text=f"Respuesta de {title}")


def titles(found: tuple[object, ...]) -> list[str]:
    return [s.article.title for s in found]  # type: ignore[attr-defined]


# The file format ------------------------------------------------------------------------


def test_an_article_file_reads_into_its_fields() -> None:
    read = parse_article(GOOD, "correo.md")
    assert read.title == MAIL_ACCOUNTS
    assert read.keywords == ("cuenta de correo", "buzón")
    assert read.plans == (SELF_MANAGED,)
    assert read.url == "https://ayuda.example.es/correo"
    assert read.text == "Entre en su Acceso Hosting → E-mail."
    assert read.source == "correo.md"


def test_plans_and_url_may_be_left_out() -> None:
    text = '+++\ntitle = "Bonos"\nkeywords = ["bono"]\n+++\nSí, desde el Área de Cliente.\n'
    read = parse_article(text, "bonos.md")
    assert (read.plans, read.url) == ((), "")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the first line should be +++"),
        ('title = "x"\n+++\nTexto', "the first line should be +++"),
        ('+++\ntitle = "x"\nkeywords = ["a"]\nTexto', "no closing +++ line"),
        ('+++\ntitle = "x\nkeywords = ["a"]\n+++\nTexto', "not valid TOML"),
        ('+++\ntitle = "x"\nkeywords = ["a"]\nplan = ["A"]\n+++\nTexto', "unknown key 'plan'"),
        ('+++\nkeywords = ["a"]\n+++\nTexto', "title:"),
        ('+++\ntitle = "  "\nkeywords = ["a"]\n+++\nTexto', "title:"),
        ('+++\ntitle = 3\nkeywords = ["a"]\n+++\nTexto', "title:"),
        ('+++\ntitle = "x"\n+++\nTexto', "keywords: give at least one"),
        ('+++\ntitle = "x"\nkeywords = "correo"\n+++\nTexto', "keywords: a list of texts"),
        ('+++\ntitle = "x"\nkeywords = ["a", ""]\n+++\nTexto', "keywords: a list of texts"),
        ('+++\ntitle = "x"\nkeywords = ["a"]\nplans = "Web"\n+++\nTexto', "plans: a list"),
        ('+++\ntitle = "x"\nkeywords = ["a"]\nurl = "ayuda.es/x"\n+++\nT', "url: 'ayuda.es/x'"),
        ('+++\ntitle = "x"\nkeywords = ["a"]\nurl = "https://a b"\n+++\nT', "has spaces"),
        ('+++\ntitle = "x"\nkeywords = ["a"]\n+++\n  \n', "no answer text"),
    ],
)
def test_every_broken_article_is_one_line_naming_the_file(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_article(text, "/sitio/articulos/roto.md")
    message = str(caught.value)
    assert message.startswith("/sitio/articulos/roto.md: ") and problem in message
    assert "\n" not in message


def test_a_folder_reads_its_md_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text(GOOD.replace("correo?", "correo (b)?"))
    (tmp_path / "a.md").write_text(GOOD)
    (tmp_path / "LEAME.txt").write_text("not an article")
    (tmp_path / ".a.md.swp").write_text("an editor's")
    read = read_articles(tmp_path)
    assert [Path(a.source).name for a in read] == ["a.md", "b.md"]


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "latin1.md").write_bytes(GOOD.encode("latin-1", errors="replace"))
    with pytest.raises(ConfigError, match=r"latin1\.md: not UTF-8"):
        read_articles(tmp_path)


def test_one_title_per_plan_but_never_twice_for_one_customer(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(GOOD)
    (tmp_path / "b.md").write_text(GOOD.replace(SELF_MANAGED, MANAGED))
    assert len(read_articles(tmp_path)) == 2  # the seed's way: one question, an answer per plan
    (tmp_path / "c.md").write_text(GOOD.replace(f'plans = ["{SELF_MANAGED}"]\n', ""))
    with pytest.raises(ConfigError, match=r"c\.md: the same title as a\.md for the same plan"):
        read_articles(tmp_path)


def test_the_shipped_test_articles_all_read() -> None:
    read = read_articles(SHIPPED)
    assert len(read) == 8
    assert sum(a.title == MAIL_ACCOUNTS for a in read) == 2


# The config key --------------------------------------------------------------------------


def config(tmp_path: Path, tickets_extra: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        CONFIG_TEMPLATE.format(
            imap_port=1,
            user="nadie",
            smtp_port=1,
            database_url=f"sqlite:///{tmp_path / 'mt.db'}",
            policy="open",
            imap_extra="",
            tickets_extra=tickets_extra,
        )
    )
    path.chmod(0o600)
    return path


def test_articles_dir_is_relative_to_the_config_and_empty_by_default(tmp_path: Path) -> None:
    assert load_settings(config(tmp_path, "")).tickets.articles_dir is None
    (tmp_path / "ayuda").mkdir()
    (tmp_path / "ayuda" / "correo.md").write_text(GOOD)
    folder = load_settings(config(tmp_path, 'articles_dir = "ayuda"')).tickets.articles_dir
    assert folder == (tmp_path / "ayuda").resolve()
    assert [a.title for a in site_articles(folder)] == [MAIL_ACCOUNTS]


def test_a_broken_article_or_a_missing_folder_stops_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[tickets\].*articles_dir.*is not a folder"):
        load_settings(config(tmp_path, 'articles_dir = "no-existe"'))
    (tmp_path / "ayuda").mkdir()
    (tmp_path / "ayuda" / "roto.md").write_text('+++\ntitle = "x"\n+++\nTexto\n')
    with pytest.raises(ConfigError, match=r"ayuda/roto\.md: keywords"):
        load_settings(config(tmp_path, 'articles_dir = "ayuda"'))


# Matching --------------------------------------------------------------------------------


def test_plans_decide_who_may_be_offered_an_article() -> None:
    everyone = article("Bonos", ("bono",))
    theirs = article("Correo", ("correo",), (SELF_MANAGED, "Llave en mano"))
    assert applies_to(everyone, "") and applies_to(everyone, MANAGED)
    assert applies_to(theirs, SELF_MANAGED) and applies_to(theirs, "  web AUTOGESTIONADA ")
    assert applies_to(theirs, "llave en mano")
    assert not applies_to(theirs, MANAGED) and not applies_to(theirs, "")


def test_accents_and_case_are_folded_and_whole_words_count() -> None:
    found = suggest([article("Buzón", ("buzón",))], "BUZON lleno", "", "")
    assert titles(found) == ["Buzón"]
    assert suggest([article("Buzón", ("buzón",))], "buzones", "", "") == ()  # not a word match
    phrase = suggest([article("Cuentas", ("cuenta de correo",))], "", "una cuenta\nde  correo", "")
    assert titles(phrase) == ["Cuentas"] and phrase[0].matched == ("cuenta de correo",)


def test_the_subject_counts_more_than_the_body() -> None:
    body = article("A en el cuerpo", ("factura",))
    subject = article("B en el asunto", ("dominio",))
    found = suggest([body, subject], "Mi dominio", "Sobre la factura del dominio", "")
    assert titles(found) == ["B en el asunto", "A en el cuerpo"]
    assert [s.score for s in found] == [3, 1]


def test_at_most_two_best_first_and_ties_by_title() -> None:
    articles = [
        article("C", ("correo",)),
        article("b", ("correo",)),
        article("A", ("correo",)),
        article("Z", ("correo", "cuenta")),
    ]
    found = suggest(articles, "", "correo y cuenta", "")
    assert titles(found) == ["Z", "A"]  # Z scores 2; A, b and C tie at 1, A first by title
    assert titles(suggest(articles, "", "correo y cuenta", "", limit=4)) == ["Z", "A", "b", "C"]


def test_nothing_matches_nothing_is_suggested() -> None:
    assert suggest([article("Bonos", ("bono",))], "Hola", "¿Me llaman?", "") == ()
    assert suggest([], "Bono", "bono", "") == ()


def test_an_article_for_another_plan_is_never_offered_however_well_it_matches() -> None:
    theirs = article("Solo gestionada", ("correo",) * 5, (MANAGED,))
    mine = article("Para todos", ("cuenta",))
    subject, text = "correo correo", "cuenta de correo"
    assert titles(suggest([theirs, mine], subject, text, SELF_MANAGED)) == ["Para todos"]
    assert titles(suggest([theirs, mine], subject, text, "")) == ["Para todos"]
    assert titles(suggest([theirs, mine], subject, text, MANAGED))[0] == "Solo gestionada"


def test_the_seeds_question_gets_each_plans_answer() -> None:
    shipped = read_articles(SHIPPED)
    subject, text = "Crear una cuenta de correo nueva", "Necesitamos una cuenta de correo nueva."
    self_managed = suggest(shipped, subject, text, SELF_MANAGED)
    managed = suggest(shipped, subject, text, MANAGED)
    assert titles(self_managed)[0] == titles(managed)[0] == MAIL_ACCOUNTS
    assert "Acceso Hosting" in self_managed[0].article.text
    assert "nuestro equipo" in managed[0].article.text
    assert self_managed[0].article.plans == (SELF_MANAGED, "Llave en mano")
    assert managed[0].article.plans == (MANAGED,)
    assert titles(suggest(shipped, subject, text, "")) == []  # both are for a plan
