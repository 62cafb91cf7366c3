"""A customer's mail cannot make the checks probe the company's network (SPEC §8): what the
mail names, what its names resolve to and where redirects point are judged before any
connection, and nothing forbidden is ever connected to.

Two witnesses: the listening server's own count of accepted connections, and Python's
audit hook `socket.connect`, which every TCP connect in this process passes (so a
connection to 10.0.0.5, where no server of ours can listen, would still be seen).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailtickets.assistant.findings import Finding
from mailtickets.assistant.runner import run_checks
from mailtickets.assistant.safety import parse_networks
from mailtickets.assistant.targets import Targets, choose_targets
from mailtickets.assistant.urls import parse_url
from mailtickets.mail import parse_mail
from mailtickets.mentions import mentions as find_mentions
from tests.assistant_servers import Lab, running_lab

DATA = Path(__file__).resolve().parents[1] / "data" / "assistant"
_CONNECTS: list[list[tuple[str, int]]] = []  # one list per watching test


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _CONNECTS and isinstance(args[1], tuple):
        _CONNECTS[-1].append((str(args[1][0]), int(args[1][1])))


sys.addaudithook(_audit)  # hooks cannot be removed: it records only while a test watches


@pytest.fixture
def connects() -> Iterator[list[tuple[str, int]]]:
    seen: list[tuple[str, int]] = []
    _CONNECTS.append(seen)
    yield seen
    _CONNECTS.remove(seen)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("assistant-safety")) as started:
        yield started


def mail_targets(lab: Lab) -> Targets:
    """red-interna.eml names http://127.0.0.1:PORT/admin (PORT: the recording server's) and
    privado.test (10.0.0.5), through the real parser and the acknowledgement's finder."""
    raw = (DATA / "red-interna.eml").read_bytes()
    mail = parse_mail(raw.replace(b"__PUERTO__", str(lab.recorder.port).encode()))
    mentions = find_mentions(f"{mail.subject}\n{mail.text}")
    return choose_targets(mentions, mail.from_addr, lab.settings())


def by_code(found: list[Finding], code: str) -> list[Finding]:
    return [f for f in found if f.code == code]


def test_a_mail_naming_loopback_and_a_private_name_connects_to_neither(
    lab: Lab, connects: list[tuple[str, int]]
) -> None:
    targets = mail_targets(lab)
    assert [u.text for u in targets.urls] == [
        f"http://127.0.0.1:{lab.recorder.port}/admin",
        "http://privado.test/intranet",
    ]
    before = lab.recorder.connections
    found = run_checks(targets, lab.settings(allow_networks=()), datetime.now(UTC))
    assert lab.recorder.connections == before  # the server saw no one
    assert not [c for c in connects if c[0] in ("127.0.0.1", "10.0.0.5") and c[1] != lab.dns.port]
    refused = {(f.check, f.target, f.facts["address"]) for f in by_code(found, "refused")}
    assert refused == {
        ("http", f"http://127.0.0.1:{lab.recorder.port}/admin", "127.0.0.1"),
        ("http", "http://privado.test/intranet", "10.0.0.5"),
        ("smtp", "mx.privado.test", "10.0.0.5"),
        ("tls", "mx.privado.test", "10.0.0.5"),
    }


def test_the_same_mail_does_reach_loopback_once_the_site_allows_it(
    lab: Lab, connects: list[tuple[str, int]]
) -> None:
    """The control: the zero above is the guard's doing, not a server nobody could reach."""
    before = lab.recorder.connections
    found = run_checks(mail_targets(lab), lab.settings(), datetime.now(UTC))
    assert lab.recorder.connections == before + 1
    assert ("127.0.0.1", lab.recorder.port) in connects
    [admin] = [f for f in found if f.target.endswith("/admin")]
    assert (admin.code, admin.facts["status"]) == ("http_ok", 200)
    assert not [c for c in connects if c[0] == "10.0.0.5"]  # 10/8 still not allowed


def test_an_ipv4_mapped_ipv6_name_is_judged_by_the_ipv4_it_reaches(
    lab: Lab, connects: list[tuple[str, int]]
) -> None:
    url = parse_url("http://mapeado.test:8080/")  # AAAA ::ffff:10.0.0.5
    assert url is not None
    found = run_checks(Targets(urls=(url,)), lab.settings(allow_networks=()), datetime.now(UTC))
    [refused] = by_code(found, "refused")
    assert refused.facts == {"address": "::ffff:a00:5", "kind": "private"}
    assert "reaches 10.0.0.5" in refused.seen
    assert not [c for c in connects if c[1] == 8080]


def test_a_redirect_to_loopback_is_not_followed_when_loopback_is_not_allowed(
    lab: Lab, connects: list[tuple[str, int]]
) -> None:
    """www.tienda-publica.test stands for a public host (see tests/assistant_servers.py):
    only its address is allowed, and it redirects to http://127.0.0.1:PORT/admin."""
    url = parse_url(f"http://www.tienda-publica.test:{lab.redirects.port}/fuera")
    assert url is not None
    settings = lab.settings(allow_networks=parse_networks(["::ffff:127.0.0.1/128"]))
    recorded, redirected = lab.recorder.connections, lab.redirects.connections
    found = run_checks(Targets(urls=(url,)), settings, datetime.now(UTC))
    assert lab.redirects.connections == redirected + 1  # the first hop was made
    assert lab.recorder.connections == recorded  # the second never was
    assert not [c for c in connects if c == ("127.0.0.1", lab.recorder.port)]
    [refused] = by_code(found, "http_redirect_refused")
    assert refused.severity == "warning"
    assert refused.facts["location"] == f"http://127.0.0.1:{lab.recorder.port}/admin"
    assert refused.facts["why"] == "127.0.0.1 is a loopback address"
    assert "-> 302 Location: http://127.0.0.1" in refused.seen
