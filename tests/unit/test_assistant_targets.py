"""What the checks look at: support mail (.eml, through the real parser and the finder the
acknowledgement uses) turned into domains and URLs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mailtickets.assistant.settings import ChecksSettings
from mailtickets.assistant.targets import Domain, Targets, choose_targets
from mailtickets.assistant.urls import join, parse_url
from mailtickets.mail import ParsedMail, parse_mail
from mailtickets.mentions import mentions as find_mentions

DATA = Path(__file__).resolve().parents[1] / "data" / "assistant"
OURS = frozenset({"hostingejemplo.es"})
SETTINGS = ChecksSettings()


def mail(name: str) -> ParsedMail:
    return parse_mail((DATA / name).read_bytes())


def targets_of(parsed: ParsedMail, settings: ChecksSettings = SETTINGS, **kw: object) -> Targets:
    mentions = find_mentions(f"{parsed.subject}\n{parsed.text}")
    return choose_targets(mentions, parsed.from_addr, settings, ours=OURS, **kw)  # type: ignore[arg-type]


def test_a_site_down_mail_gives_its_domain_its_web_and_the_booking_url() -> None:
    found = targets_of(mail("web-caida-url-y-dominio.eml"))
    assert [u.text for u in found.urls] == [
        "https://www.clinica-sonrisas.es/",  # "www.…" in the subject: the web is meant
        "https://reservas.clinica-sonrisas.es/cita?id=3",  # the sentence's full stop cut
    ]
    assert found.domains == (
        Domain("clinica-sonrisas.es", "mail"),
        Domain("reservas.clinica-sonrisas.es", "mail"),
    )  # the sender's own domain is the same one: looked at once
    assert found.skipped == ("captura.png: a file name",)  # and our own address is not there


def test_a_gmail_sender_is_not_looked_at_but_the_domain_the_mail_names_is() -> None:
    found = targets_of(mail("correo-desde-gmail.eml"))
    assert found.domains == (Domain("ferreteria-perez.es", "mail"),)  # gmail, hotmail.es: no
    assert found.urls == ()


def test_the_public_mail_list_is_the_sites_to_change() -> None:
    settings = replace(SETTINGS, public_mail_domains=frozenset({"hotmail.es"}))
    found = targets_of(mail("correo-desde-gmail.eml"), settings)
    assert [d.name for d in found.domains] == ["ferreteria-perez.es", "gmail.com"]
    assert found.domains[1].source == "sender"


def test_credentials_in_a_url_are_dropped_and_never_repeated() -> None:
    found = targets_of(mail("url-con-credenciales.eml"))
    assert [u.text for u in found.urls] == ["https://tienda-artesania.es/wp-admin/"]
    assert found.urls[0].had_credentials
    assert found.skipped == ("https://tienda-artesania.es/wp-admin/: credentials removed",)
    assert "Clave2024" not in repr(found) and "tecnico" not in repr(found)


def test_at_most_max_urls_and_what_was_left_out_is_said() -> None:
    found = targets_of(mail("muchas-urls.eml"), replace(SETTINGS, max_urls=5))
    assert [u.path for u in found.urls] == [
        "/novedades",
        "/infantil",
        "/comics",
        "/ofertas",
        "/carrito",
    ]
    assert found.skipped == (
        "https://libreria-elfaro.es/mi-cuenta: over max_urls (5)",
        "https://libreria-elfaro.es/contacto: over max_urls (5)",
        "https://libreria-elfaro.es/: over max_urls (5)",  # "(https://…/)": bracket cut
    )


def test_an_internal_address_in_a_mail_is_a_target_the_guard_will_judge() -> None:
    raw = (DATA / "red-interna.eml").read_bytes().replace(b"__PUERTO__", b"8080")
    found = targets_of(parse_mail(raw))
    assert [u.text for u in found.urls] == [
        "http://127.0.0.1:8080/admin",
        "http://privado.test/intranet",
    ]
    assert found.domains == (Domain("privado.test", "mail"),)  # an address is no domain


def test_the_customers_domains_come_after_the_mails_and_max_domains_holds() -> None:
    settings = replace(SETTINGS, max_domains=3)
    found = choose_targets(
        ["midominio.es"], "ana@cliente.es", settings, customer_domains=["otro.es", "tercero.es"]
    )
    assert found.domains == (
        Domain("midominio.es", "mail"),
        Domain("cliente.es", "sender"),
        Domain("otro.es", "customer"),
    )
    assert found.skipped == ("tercero.es: over max_domains (3)",)


def test_targets_survive_a_trip_through_json_data() -> None:
    found = targets_of(mail("web-caida-url-y-dominio.eml"))
    assert Targets.from_data(found.as_data()) == replace(
        found, urls=tuple(replace(u, had_credentials=False) for u in found.urls)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://Tienda.Example.COM./carrito", "https://tienda.example.com/carrito"),
        ("http://example.es:80/", "http://example.es/"),
        ("https://example.es:8443", "https://example.es:8443/"),
        ("http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("https://españa.es/", "https://xn--espaa-rta.es/"),
        ("https://u:p@example.es/", "https://example.es/"),
        ("https://@example.es/", "https://example.es/"),
    ],
)
def test_urls_are_normalised(text: str, expected: str) -> None:
    url = parse_url(text)
    assert url is not None and url.text == expected


@pytest.mark.parametrize(
    "text", ["ftp://example.es/", "javascript:alert(1)", "https://", "http://x:99999/"]
)
def test_what_is_not_an_http_url_is_refused(text: str) -> None:
    assert parse_url(text) is None


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/pagina", "https://a.es:8443/pagina"),
        ("otra", "https://a.es:8443/dir/otra"),
        ("?q=1", "https://a.es:8443/dir/p?q=1"),
        ("//b.es/x", "https://b.es/x"),
        ("http://127.0.0.1:9/admin", "http://127.0.0.1:9/admin"),
    ],
)
def test_a_redirect_location_is_joined_to_where_it_came_from(location: str, expected: str) -> None:
    base = parse_url("https://a.es:8443/dir/p")
    assert base is not None
    joined = join(base, location)
    assert joined is not None and joined.text == expected
