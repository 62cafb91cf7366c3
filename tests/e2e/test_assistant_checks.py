"""Each built-in check against real servers on 127.0.0.1: dnsmasq's test zone, HTTPS with
chosen certificates, a redirect that ends in 500, aiosmtpd with and without STARTTLS.

The checks reach them as a site's config would point them: the resolver's address and
port, a CA file, the SMTP port, and allow_networks = ["127.0.0.0/8"].
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mailtickets.assistant.checks import dns, http, smtp, tls
from mailtickets.assistant.findings import Finding
from mailtickets.assistant.plugin import Check
from mailtickets.assistant.runner import run_check
from mailtickets.assistant.settings import ChecksSettings
from mailtickets.assistant.targets import Domain, Targets
from mailtickets.assistant.urls import parse_url
from mailtickets.assistant.wording import sentence
from tests.assistant_servers import Lab, running_lab
from tests.servers import free_port


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("assistant-lab")) as started:
        yield started


def domains(*names: str) -> Targets:
    return Targets(domains=tuple(Domain(n, "mail") for n in names))


def urls(*texts: str) -> Targets:
    parsed = [parse_url(t) for t in texts]
    assert all(parsed)
    return Targets(urls=tuple(u for u in parsed if u is not None))


def run(check: Check, targets: Targets, settings: ChecksSettings) -> list[Finding]:
    return run_check(check, targets, settings, datetime.now(UTC))


def codes(found: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.target, f.severity, f.code) for f in found]


def test_dns_of_a_good_domain_is_all_fine(lab: Lab) -> None:
    found = run(dns.CHECK, domains("bueno.test"), lab.settings())
    assert codes(found) == [
        ("bueno.test", "ok", "dns_address"),
        ("bueno.test", "ok", "dns_mx"),
        ("bueno.test", "ok", "dns_ns"),
        ("bueno.test", "ok", "dns_spf"),
        ("bueno.test", "ok", "dns_dmarc"),
    ]
    assert found[1].facts["hosts"] == "10 mx.bueno.test."
    assert found[3].facts["record"] == "v=spf1 mx -all"
    assert found[0].looked_at == f"A/AAAA bueno.test @ 127.0.0.1:{lab.dns.port}"


def test_dns_finds_the_broken_records(lab: Lab) -> None:
    settings = lab.settings()
    flagged = [
        (f.target, f.severity, f.code)
        for f in run(dns.CHECK, domains("sinmx.test", "sinspf.test", "doblespf.test"), settings)
        if f.severity != "ok"
    ]
    assert flagged == [
        ("sinmx.test", "problem", "dns_no_mx"),
        ("sinspf.test", "warning", "dns_no_spf"),
        ("sinspf.test", "warning", "dns_no_dmarc"),
        ("doblespf.test", "problem", "dns_no_mx"),
        ("doblespf.test", "warning", "dns_no_ns"),
        ("doblespf.test", "problem", "dns_many_spf"),
        ("doblespf.test", "warning", "dns_no_dmarc"),
    ]
    no_mx = run(dns.CHECK, domains("sinmx.test"), settings)[1]
    assert sentence(no_mx, "es") == "el dominio sinmx.test no tiene registro MX"


def test_dns_of_a_domain_that_does_not_exist_and_of_one_pointing_inside(lab: Lab) -> None:
    found = run(dns.CHECK, domains("nada.test", "privado.test"), lab.settings())
    assert found[0].code == "dns_nxdomain" and found[0].severity == "problem"
    assert found[0].seen == "NXDOMAIN"
    private = next(f for f in found if f.target == "privado.test" and f.code.endswith("address"))
    assert (private.severity, private.code) == ("warning", "dns_private_address")
    assert private.facts["addresses"] == "10.0.0.5"


def test_a_resolver_that_does_not_answer_is_a_finding_not_a_failure(lab: Lab) -> None:
    settings = lab.settings(resolver_port=lab.silent.port, check_budget=timedelta(seconds=2))
    began = time.monotonic()
    [found] = run(dns.CHECK, domains("bueno.test"), settings)
    assert time.monotonic() - began < 3
    assert (found.severity, found.code, found.facts["rdtype"]) == ("warning", "dns_failed", "A")
    assert f"@ 127.0.0.1:{lab.silent.port}" in found.looked_at


def test_http_follows_a_redirect_and_reports_the_500(lab: Lab) -> None:
    url = f"http://redirige.test:{lab.redirects.port}/"
    [found] = run(http.CHECK, urls(url), lab.settings())
    assert (found.severity, found.code) == ("problem", "http_server_error")
    assert found.facts["status"] == 500 and found.facts["hops"] == 1
    assert f"GET {url} (127.0.0.1) -> 302 Location: /pagina" in found.seen
    assert f"GET {url}pagina (127.0.0.1) -> 500" in found.seen
    assert sentence(found, "es") == f"{url} responde 500 (error del servidor) tras 1 redirección"


def test_http_reads_a_body_only_up_to_the_limit(lab: Lab) -> None:
    url = f"https://bueno.test:{lab.good.port}/"  # a page of 190 kB
    [found] = run(http.CHECK, urls(url), lab.settings(max_body_bytes=1000))
    assert (found.severity, found.code, found.facts["status"]) == ("ok", "http_ok", 200)
    assert found.facts["bytes"] == 1000
    assert isinstance(found.facts["ms"], int) and found.facts["ms"] >= 0


def test_http_sends_no_credentials_and_keeps_no_cookie(lab: Lab) -> None:
    before = len(lab.redirects.requests)
    url = f"http://usuario:clave@redirige.test:{lab.redirects.port}/galleta"
    [found] = run(http.CHECK, urls(url), lab.settings())
    assert found.facts["hops"] == 1
    seen = lab.redirects.requests[before:]
    assert [path for path, _ in seen] == ["/galleta", "/pagina"]
    for _, headers in seen:
        names = {n.lower() for n in headers}
        assert "authorization" not in names and "cookie" not in names
        assert headers["Host"] == f"redirige.test:{lab.redirects.port}"
    assert "clave" not in found.target and "clave" not in found.seen


def test_http_stops_a_redirect_loop(lab: Lab) -> None:
    [found] = run(
        http.CHECK, urls(f"http://redirige.test:{lab.redirects.port}/bucle"), lab.settings()
    )
    assert (found.severity, found.code, found.facts["max"]) == (
        "problem",
        "http_too_many_redirects",
        5,
    )
    assert found.seen.count("-> 302") == 6


def test_http_over_a_refused_certificate_says_why(lab: Lab) -> None:
    targets = urls(
        f"https://caducado.test:{lab.expired.port}/",
        f"https://nombre-mal.test:{lab.wrong_name.port}/",
    )
    expired, wrong = run(http.CHECK, targets, lab.settings())
    assert (expired.code, expired.facts["error"]) == ("http_tls_error", "certificate has expired")
    assert wrong.code == "http_tls_error"
    assert "Hostname mismatch" in str(wrong.facts["error"])


def test_tls_of_a_certificate_that_expires_in_3_days(lab: Lab) -> None:
    [found] = run(tls.CHECK, urls(f"https://expira.test:{lab.expiring.port}/"), lab.settings())
    assert (found.severity, found.code, found.facts["days"]) == ("warning", "tls_expiring", 3)
    assert sentence(found, "es") == "el certificado de expira.test caduca en 3 días"
    assert "verification: ok" in found.seen


def test_tls_of_a_certificate_that_expired_3_days_ago(lab: Lab) -> None:
    [found] = run(tls.CHECK, urls(f"https://caducado.test:{lab.expired.port}/"), lab.settings())
    assert (found.severity, found.code, found.facts["days"]) == ("problem", "tls_expired", 3)
    assert sentence(found, "es") == "certificado de caducado.test caducado hace 3 días"
    assert sentence(found, "en") == "certificate of caducado.test expired 3 days ago"
    assert "verification: certificate has expired" in found.seen


def test_tls_of_a_certificate_for_another_name(lab: Lab) -> None:
    [found] = run(
        tls.CHECK, urls(f"https://nombre-mal.test:{lab.wrong_name.port}/"), lab.settings()
    )
    assert (found.severity, found.code) == ("problem", "tls_wrong_name")
    assert found.facts["names"] == "otro-nombre.test"
    assert "Hostname mismatch" in found.seen


def test_tls_of_an_unknown_ca_says_the_chain_is_not_trusted(lab: Lab) -> None:
    settings = lab.settings(ca_file=None)  # the system's CAs do not know the test CA
    [found] = run(tls.CHECK, urls(f"https://bueno.test:{lab.good.port}/"), settings)
    assert (found.severity, found.code) == ("problem", "tls_untrusted")
    assert "unable to get local issuer certificate" in str(found.facts["error"])


def test_tls_of_the_mail_server_through_starttls(lab: Lab) -> None:
    found = run(tls.CHECK, domains("bueno.test"), lab.settings())
    assert codes(found) == [("mx.bueno.test", "ok", "tls_ok")]
    assert found[0].looked_at == f"STARTTLS mx.bueno.test:{lab.smtp_tls.port}"


def test_smtp_banner_and_starttls(lab: Lab) -> None:
    [found] = run(smtp.CHECK, domains("bueno.test"), lab.settings())
    assert (found.target, found.severity, found.code) == ("mx.bueno.test", "ok", "smtp_ok")
    assert str(found.facts["banner"]).startswith("220 ") and "mx.bueno.test ESMTP" in found.seen
    assert "STARTTLS" in found.seen


def test_smtp_without_starttls_is_a_warning(lab: Lab) -> None:
    settings = lab.settings(smtp_port=lab.smtp_plain.port)
    [found] = run(smtp.CHECK, domains("sinspf.test"), settings)
    assert (found.target, found.severity, found.code) == (
        "mx.sinspf.test",
        "warning",
        "smtp_no_starttls",
    )
    assert "STARTTLS" not in found.seen.partition("EHLO:")[2]
    assert sentence(found, "es").startswith(
        "el servidor de correo mx.sinspf.test no ofrece STARTTLS"
    )


def test_smtp_of_a_domain_without_mx_and_of_a_dead_port(lab: Lab) -> None:
    [none] = run(smtp.CHECK, domains("sinmx.test"), lab.settings())
    assert (none.severity, none.code) == ("info", "smtp_no_mx")
    closed = lab.settings(smtp_port=free_port())  # bound and released: nothing listens
    [dead] = run(smtp.CHECK, domains("bueno.test"), closed)
    assert (dead.severity, dead.code) == ("problem", "smtp_unreachable")
    assert "refused" in str(dead.facts["error"]).lower()
