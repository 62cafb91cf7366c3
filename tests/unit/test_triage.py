"""Triage rules as named objects: flags from the rules, robots that are not bounces, and a
site's own rules from an installed distribution's entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailtickets.mail import ParsedMail, parse_mail
from mailtickets.triage import BUILTIN_RULES, Triage, TriageRule, triage
from tests.conftest import eml
from tests.plugins import build_wheel, install

OURS = frozenset({"soporte@hostingejemplo.es"})
ROOT = Path(__file__).resolve().parents[2]


def mail_from(sender: str, subject: str = "Aviso") -> ParsedMail:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "soporte@hostingejemplo.es", subject
    msg["Message-ID"] = "<aviso-1@example.net>"
    msg.set_content("Texto del aviso.")
    return parse_mail(msg.as_bytes())


def test_builtin_rules_are_named_described_and_unique() -> None:
    names = [rule.name for rule in BUILTIN_RULES]
    assert len(names) == len(set(names)) and all(rule.description for rule in BUILTIN_RULES)
    bounces = {rule.name for rule in BUILTIN_RULES if rule.bounce}
    # A null sender alone is machine mail, not a bounce: vacation replies come from <> too.
    assert bounces == {"bounce-sender", "delivery-report", "bounce-format"}


@pytest.mark.parametrize(
    ("name", "bounce", "rules"),
    [
        ("robot-noreply-monitoring.eml", False, {"robot-sender"}),
        ("read-receipt-thunderbird.eml", False, {"other-report"}),
        ("autoreply-vacation.eml", False, {"auto-submitted"}),
        ("autoreply-dovecot-vacation.eml", False, {"auto-submitted", "null-sender"}),
        ("dsn-bounce.eml", True, {"null-sender", "bounce-sender", "delivery-report"}),
    ],
)
def test_machine_mail_and_which_of_it_is_a_bounce(name: str, bounce: bool, rules: set[str]) -> None:
    raw = eml(
        name,
        code="SOP-7KQ2MX",
        ack_message_id="<ack-1@hostingejemplo.es>",
        answer_message_id="<answer-1@hostingejemplo.es>",
        verp_address="soporte+b-7-0123456789abcdef@hostingejemplo.es",
    )
    verdict = triage(parse_mail(raw), OURS)
    assert verdict.automatic and verdict.bounce is bounce
    assert rules <= set(verdict.rules) and len(verdict.reasons) == len(verdict.rules)


@pytest.mark.parametrize(
    ("sender", "automatic", "bounce"),
    [
        ("MAILER-DAEMON@mx.cliente.es", True, True),
        ("postmaster@cliente.es", True, True),
        ("noreply@floristerialaura.es", True, False),
        ("no-reply@formularios.example", True, False),
        ("donotreply@banco.example", True, False),
        ("noreply+alertas@monitor.example", True, False),
        ("norberto@cliente.es", False, False),
        ("reply@cliente.es", False, False),
    ],
)
def test_bounce_senders_and_robot_senders(sender: str, automatic: bool, bounce: bool) -> None:
    verdict = triage(mail_from(sender), OURS)
    assert (verdict.automatic, verdict.bounce) == (automatic, bounce), verdict


def test_flags_come_from_the_rules_never_from_the_words_of_their_reasons() -> None:
    says_bounce = TriageRule("a", "a", lambda _m, _o: "bounce, null sender")
    quiet_bounce = TriageRule("b", "b", lambda _m, _o: "x", bounce=True)
    note_only = TriageRule("c", "c", lambda _m, _o: "written with a web form", automatic=False)
    mail = mail_from("laura.martinez@gmail.com")
    assert triage(mail, OURS, (says_bounce,)) == Triage(
        True, False, ("bounce, null sender",), ("a",)
    )
    assert triage(mail, OURS, (quiet_bounce,)) == Triage(True, True, ("x",), ("b",))
    assert triage(mail, OURS, (note_only,)) == Triage(
        False, False, ("written with a web form",), ("c",)
    )
    assert triage(mail, OURS) == Triage(False, False, (), ())


def test_a_bounce_rule_is_always_automatic() -> None:
    with pytest.raises(ValueError, match="always automatic"):
        TriageRule("d", "d", lambda _m, _o: None, automatic=False, bounce=True)


PLUGIN = """\
from mailtickets.triage import TriageRule

def _alarm(mail, ours):
    return "acme alarm" if mail.subject.startswith("[ALARMA]") else None

def _flaky(mail, ours):
    if "boom" in mail.subject:
        raise RuntimeError("the acme rule is broken\\non two lines")
    return None

ALARMS = TriageRule("acme-alarms", "Acme's monitoring alarms", _alarm)
FLAKY = TriageRule("acme-flaky", "raises on some mail", _flaky)
CLASH = TriageRule("robot-sender", "takes a built-in rule's name", _alarm)
NOT_A_RULE = "just a string"
"""
ENTRY_POINTS = """\
[mailtickets.triage]
alarms = acme_rules:ALARMS
flaky = acme_rules:FLAKY
missing = acme_rules_gone:RULE
wrong = acme_rules:NOT_A_RULE
clash = acme_rules:CLASH
"""
SCRIPT = """\
import json, logging, sys
from email.message import EmailMessage
logging.basicConfig(stream=sys.stderr, format="%(name)s %(message)s")
from mailtickets.mail import parse_mail
from mailtickets.triage import all_rules, triage

def mail(subject):
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "web@acme.example", subject, "<m@acme>"
    msg.set_content("x")
    return parse_mail(msg.as_bytes())

verdicts = {s: triage(mail(s), frozenset()) for s in ("[ALARMA] disco", "boom", "Hola")}
all_rules()
print(json.dumps({
    "rules": [rule.name for rule in all_rules()],
    "verdicts": {s: [v.automatic, v.bounce, list(v.rules)] for s, v in verdicts.items()},
}))
"""


def test_a_site_adds_rules_through_an_installed_entry_point(tmp_path: Path) -> None:
    target = tmp_path / "site-packages"
    wheel = build_wheel(tmp_path, "acme-triage-rules", {"acme_rules.py": PLUGIN}, ENTRY_POINTS)
    install(wheel, target)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    builtin = [rule.name for rule in BUILTIN_RULES]
    assert out["rules"] == [*builtin, "acme-alarms", "acme-flaky"]  # after the built-ins
    assert out["verdicts"] == {
        "[ALARMA] disco": [True, False, ["acme-alarms"]],
        "boom": [False, False, []],  # the rule that raised matched nothing
        "Hola": [False, False, []],
    }
    # One line for each broken plugin, once (the rules are loaded once), and one for the
    # mail the flaky rule failed on.
    logged = [line for line in run.stderr.splitlines() if line.startswith("mailtickets.triage")]
    skipped = sorted(line.split()[3] for line in logged if " skipped: " in line)
    assert skipped == ["clash", "missing", "wrong"], logged
    failed = [line for line in logged if "failed on" in line]
    assert failed == [
        "mailtickets.triage triage rule acme-flaky failed on <m@acme>: "
        "RuntimeError: the acme rule is broken on two lines"
    ]
    assert len(logged) == 4
