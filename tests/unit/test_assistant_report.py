"""The findings as staff read them, in Spanish and English: order, summary, note; and the
certificate facts the TLS check words them from."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import pytest
import trustme

from mailtickets.assistant.certs import BadCertificate, days_between, name_matches, read_certificate
from mailtickets.assistant.findings import Finding
from mailtickets.assistant.report import note, ordered, summary, worst
from mailtickets.assistant.targets import Targets
from mailtickets.assistant.wording import sentence

NO_MX = Finding("dns", "bueno.es", "problem", "dns_no_mx", "MX bueno.es @ 1.1.1.1:53", "none")
EXPIRED = Finding(
    "tls", "tienda.es", "problem", "tls_expired", "TLS tienda.es:443", "…", {"days": 3}
)
EXPIRED_1 = Finding("tls", "t.es", "problem", "tls_expired", "TLS t.es:443", "…", {"days": 1})
NO_SPF = Finding("dns", "bueno.es", "warning", "dns_no_spf", "TXT bueno.es", "no TXT records")
OK_WEB = Finding(
    "http",
    "https://bueno.es/",
    "ok",
    "http_ok",
    "GET https://bueno.es/",
    "200",
    {"status": 200, "ms": 120, "hops": 0},
)
REDIRECTED_500 = Finding(
    "http",
    "http://a.es/",
    "problem",
    "http_server_error",
    "GET http://a.es/",
    "…",
    {"status": 500, "ms": 4, "hops": 1},
)
REFUSED = Finding(
    "http",
    "http://127.0.0.1:8080/admin",
    "info",
    "refused",
    "GET …",
    "…",
    {"address": "127.0.0.1", "kind": "loopback"},
)
SUSPENDED = Finding(
    "suspended",
    "bueno.es",
    "problem",
    "hosting_suspended",
    "panel",
    "suspended: true",
    texts={"es": "la cuenta de hosting está suspendida", "en": "the hosting account is suspended"},
)


@pytest.mark.parametrize(
    ("finding", "es", "en"),
    [
        (NO_MX, "el dominio bueno.es no tiene registro MX", "the domain bueno.es has no MX record"),
        (
            EXPIRED,
            "certificado de tienda.es caducado hace 3 días",
            "certificate of tienda.es expired 3 days ago",
        ),
        (
            EXPIRED_1,
            "certificado de t.es caducado hace 1 día",
            "certificate of t.es expired 1 day ago",
        ),
        (
            REDIRECTED_500,
            "http://a.es/ responde 500 (error del servidor) tras 1 redirección",
            "http://a.es/ answers 500 (server error) after 1 redirect",
        ),
        (
            OK_WEB,
            "https://bueno.es/ responde 200 en 120 ms",
            "https://bueno.es/ answers 200 in 120 ms",
        ),
        (
            REFUSED,
            "no se conectó a http://127.0.0.1:8080/admin: 127.0.0.1 es una dirección de loopback"
            " no permitida",
            "did not connect to http://127.0.0.1:8080/admin: 127.0.0.1 is a loopback address,"
            " not allowed",
        ),
        (SUSPENDED, "la cuenta de hosting está suspendida", "the hosting account is suspended"),
    ],
)
def test_each_finding_reads_as_a_sentence_in_both_locales(
    finding: Finding, es: str, en: str
) -> None:
    assert sentence(finding, "es") == es
    assert sentence(finding, "en") == en


def test_an_unknown_locale_reads_english_and_a_missing_fact_shows_what_was_seen() -> None:
    assert sentence(NO_MX, "fr") == "the domain bueno.es has no MX record"
    broken = Finding("tls", "x.es", "problem", "tls_expired", "TLS x.es", "expired long ago")
    assert sentence(broken, "es") == "tls x.es: expired long ago"


def test_problems_come_first_then_warnings_information_and_what_is_fine() -> None:
    found = [OK_WEB, NO_SPF, REFUSED, NO_MX, EXPIRED]
    assert ordered(found) == [NO_MX, EXPIRED, NO_SPF, REFUSED, OK_WEB]
    assert worst(found) == "problem"
    assert worst([OK_WEB]) == "ok" and worst([]) is None


def test_the_summary_flags_what_matters_in_a_few_lines_in_spanish() -> None:
    text = summary([OK_WEB, NO_SPF, EXPIRED, NO_MX, REFUSED], "es")
    assert text.splitlines() == [
        "Comprobaciones automáticas: 2 problemas, 1 aviso, 1 correcta.",
        "- PROBLEMA: certificado de tienda.es caducado hace 3 días",
        "- PROBLEMA: el dominio bueno.es no tiene registro MX",
        "- AVISO: el dominio bueno.es no tiene registro SPF",
    ]


def test_the_summary_says_how_many_more_are_in_the_note_in_english() -> None:
    text = summary([NO_MX, EXPIRED, EXPIRED_1, REDIRECTED_500, NO_SPF, OK_WEB], "en", lines=2)
    assert text.splitlines() == [
        "Automatic checks: 4 problems, 1 warning, 1 fine.",
        "- PROBLEM: the domain bueno.es has no MX record",
        "- PROBLEM: certificate of tienda.es expired 3 days ago",
        "  (and 3 more in the internal note)",
    ]


def test_a_clean_run_and_an_empty_one_say_so() -> None:
    assert summary([OK_WEB], "es") == "Comprobaciones automáticas: todo correcto (1 correcta)."
    assert (
        summary([], "en") == "Automatic checks: nothing to check: the mail names no domain or URL."
    )


def test_the_note_lists_every_finding_with_what_was_looked_at_and_seen() -> None:
    skipped = Targets(skipped=("captura.png: a file name",))
    text = note([OK_WEB, NO_MX, REFUSED], "es", skipped)
    assert text == (
        "Comprobaciones automáticas: 1 problema, 1 correcta.\n"
        "\n"
        "- PROBLEMA: el dominio bueno.es no tiene registro MX\n"
        "  [dns] miró: MX bueno.es @ 1.1.1.1:53\n"
        "  vio: none\n"
        "- INFO: no se conectó a http://127.0.0.1:8080/admin: 127.0.0.1 es una dirección de"
        " loopback no permitida\n"
        "  [http] miró: GET …\n"
        "  vio: …\n"
        "- BIEN: https://bueno.es/ responde 200 en 120 ms\n"
        "  [http] miró: GET https://bueno.es/\n"
        "  vio: 200\n"
        "\n"
        "No se miró:\n"
        "- captura.png: a file name\n"
    )


def test_findings_survive_a_trip_through_json_data() -> None:
    for finding in (NO_MX, EXPIRED, SUSPENDED, REFUSED):
        assert Finding.from_data(finding.as_data()) == finding


def _der(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def test_a_certificates_dates_and_names_are_read_from_its_der_bytes() -> None:
    ca = trustme.CA()
    until = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    facts = read_certificate(
        _der(ca.issue_cert("tienda.es", "*.tienda.es", "192.0.2.7", not_after=until))
    )
    assert facts.not_after == until
    assert facts.names == ("tienda.es", "*.tienda.es", "192.0.2.7")
    assert facts.not_before < until


def test_names_match_exactly_or_by_a_left_most_wildcard() -> None:
    names = ("tienda.es", "*.tienda.es")
    assert name_matches("TIENDA.es.", names)
    assert name_matches("www.tienda.es", names)
    assert not name_matches("a.b.tienda.es", names)
    assert not name_matches("otratienda.es", names)
    assert not name_matches("tienda.com", names)


def test_days_are_whole_days_either_side_of_now() -> None:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert days_between(now, now + timedelta(days=3, hours=1)) == 3
    assert days_between(now, now - timedelta(days=3, hours=1)) == -3
    assert days_between(now, now + timedelta(hours=5)) == 0


def test_bytes_that_are_no_certificate_are_refused() -> None:
    with pytest.raises(BadCertificate):
        read_certificate(b"\x30\x03\x02\x01")
    with pytest.raises(BadCertificate):
        read_certificate(b"not a certificate")
