"""The runner's budgets against a server that never answers, a check that raises, and a
site's own check found through a `mailtickets.checks` entry point."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import invalidate_caches
from pathlib import Path

import pytest

from mailtickets.assistant.checks import dns, http
from mailtickets.assistant.findings import Finding
from mailtickets.assistant.plugin import Check, CheckContext
from mailtickets.assistant.registry import Registry, load_checks
from mailtickets.assistant.report import summary
from mailtickets.assistant.runner import GRACE, run_checks
from mailtickets.assistant.targets import Domain, Targets
from mailtickets.assistant.urls import parse_url
from tests.assistant_servers import Lab, Web, running_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("assistant-runner")) as started:
        yield started


def _stubborn(targets: Targets, ctx: CheckContext) -> Iterator[Finding]:
    """A careless site check: it connects to the silent port and waits for ever."""
    yield Finding("stubborn", "lento.test", "ok", "site_started", "lento.test", "connected")
    sock, _ = ctx.guard.connect("lento.test", _SILENT_PORT[0], 1.0)
    sock.settimeout(None)  # ignores its budget: only the runner can give up on it
    sock.recv(1)


def _raising(targets: Targets, ctx: CheckContext) -> Iterator[Finding]:
    raise RuntimeError("the panel answered nonsense\nsecond line")
    yield  # a generator, like every check


_SILENT_PORT = [0]


def test_a_check_that_never_returns_is_a_timeout_finding_within_its_budget(lab: Lab) -> None:
    _SILENT_PORT[0] = lab.silent.port
    registry = Registry(
        (
            dns.CHECK,
            Check("stubborn", "waits for ever", _stubborn),
            Check("raising", "raises", _raising),
        )
    )
    settings = lab.settings(check_budget=timedelta(seconds=1.5), total_budget=timedelta(seconds=5))
    targets = Targets(domains=(Domain("bueno.test", "mail"),))
    began = time.monotonic()
    found = run_checks(targets, settings, datetime.now(UTC), registry)
    took = time.monotonic() - began
    assert took < 1.5 + GRACE + 0.5
    stubborn = [f for f in found if f.check == "stubborn"]
    assert [f.code for f in stubborn] == ["site_started", "check_timeout"]  # the first kept
    assert stubborn[1].severity == "warning" and stubborn[1].facts["seconds"] == "1.5"
    [raised] = [f for f in found if f.check == "raising"]
    assert (raised.code, raised.facts["error"]) == (
        "check_failed",
        "RuntimeError: the panel answered nonsense",
    )
    assert [f.code for f in found if f.check == "dns"][:2] == ["dns_address", "dns_mx"]


def test_a_web_that_never_answers_is_reported_within_the_check_budget(lab: Lab) -> None:
    url = parse_url(f"http://lento.test:{lab.silent.port}/")
    assert url is not None
    settings = lab.settings(check_budget=timedelta(seconds=1), total_budget=timedelta(seconds=4))
    began = time.monotonic()
    found = run_checks(Targets(urls=(url,)), settings, datetime.now(UTC), Registry((http.CHECK,)))
    assert time.monotonic() - began < 1 + GRACE
    [finding] = found
    assert (finding.severity, finding.code, finding.facts["error"]) == (
        "problem",
        "http_unreachable",
        "no answer in time",
    )


def test_the_total_budget_bounds_checks_that_each_have_more(lab: Lab) -> None:
    url = parse_url(f"http://lento.test:{lab.silent.port}/")
    assert url is not None
    slow = Registry(tuple(Check(f"web{i}", "", http.run) for i in range(3)))
    settings = lab.settings(check_budget=timedelta(seconds=10), total_budget=timedelta(seconds=1))
    began = time.monotonic()
    found = run_checks(Targets(urls=(url,)), settings, datetime.now(UTC), slow)
    assert time.monotonic() - began < 1 + GRACE + 0.5
    assert [f.code for f in found] == ["http_unreachable"] * 3


SITE_CHECK = '''
"""Acme's own check: is the customer's hosting account suspended? Asks Acme's panel."""

import json
import os
import urllib.request

from mailtickets.assistant.findings import Finding


def suspended(targets, context):
    """Whether each domain's hosting account is suspended, from the panel."""
    panel = os.environ["ACME_PANEL_URL"]
    for domain in targets.domains:
        with urllib.request.urlopen(f"{panel}/cuentas/{domain.name}", timeout=5) as answer:
            account = json.load(answer)
        if account["suspendida"]:
            yield Finding(
                "suspended", domain.name, "problem", "acme_suspended",
                f"panel {panel}", json.dumps(account),
                texts={"es": f"la cuenta de hosting de {domain.name} está suspendida "
                             f"({account['motivo']})",
                       "en": f"the hosting account of {domain.name} is suspended"},
            )
'''


@pytest.fixture
def site_distribution(tmp_path: Path) -> Iterator[Path]:
    """A site's package with its entry points, as an installed distribution on sys.path."""
    (tmp_path / "acme_checks.py").write_text(SITE_CHECK)
    info = tmp_path / "acme_checks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-checks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [mailtickets.checks]
            suspended = acme_checks:suspended
            broken = acme_checks_missing:nothing
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    invalidate_caches()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("acme_checks", None)
    invalidate_caches()


def test_a_site_check_declared_by_an_entry_point_is_found_and_run(
    lab: Lab, site_distribution: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = b'{"suspendida": true, "motivo": "factura impagada"}'
    panel = Web({"/cuentas/bueno.test": (200, {"Content-Type": "application/json"}, account)})
    panel.start()
    try:
        monkeypatch.setenv("ACME_PANEL_URL", f"http://127.0.0.1:{panel.port}")
        registry = load_checks(disabled=("http", "tls", "smtp"))
        assert registry.names() == ("dns", "suspended")
        assert registry.checks[1].description == (
            "Whether each domain's hosting account is suspended, from the panel."
        )
        assert [(u.name, u.value) for u in registry.unloadable] == [
            ("broken", "acme_checks_missing:nothing")
        ]
        targets = Targets(domains=(Domain("bueno.test", "customer"),))
        found = run_checks(targets, lab.settings(), datetime.now(UTC), registry)
    finally:
        panel.stop()
    assert panel.requests[0][0] == "/cuentas/bueno.test"
    [suspended] = [f for f in found if f.check == "suspended"]
    assert suspended.severity == "problem"
    [broken] = [f for f in found if f.code == "check_unloadable"]
    assert "ModuleNotFoundError" in str(broken.facts["error"])
    assert summary(found, "es").splitlines()[1] == (
        "- PROBLEMA: la cuenta de hosting de bueno.test está suspendida (factura impagada)"
    )


def test_the_built_in_checks_are_entry_points_like_any_sites() -> None:
    assert load_checks().names() == ("dns", "http", "smtp", "tls")
    assert load_checks(disabled=("smtp",)).names() == ("dns", "http", "tls")


def test_nothing_listens_where_the_budget_tests_wait(lab: Lab) -> None:
    """The silent port accepts and stays mute: what the budget tests rely on."""
    with socket.create_connection(("127.0.0.1", lab.silent.port), timeout=2) as sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
