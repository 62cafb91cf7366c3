"""Spam verdicts (issue 11 point 4, SPEC §8): the topmost verdict header of each configured
name, parsed exactly; the pipeline's hold and `spam release` over a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import select

from mailtickets import metrics, store
from mailtickets.config import load_settings
from mailtickets.db import transaction
from mailtickets.errors import ConfigError
from mailtickets.models import Inbound, Outbox, Ticket
from mailtickets.pipeline import Pipeline
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.spam import header_fields, says_spam, spam_verdict, topmost
from mailtickets.spam_cli import held_mail, release
from tests.conftest import both_databases, eml
from tests.unit.test_config import GOOD, write

NAMES = ("X-Spam-Flag", "X-Spam-Status", "X-Spam")
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "value", "spam"),
    [
        ("X-Spam-Flag", "YES", True),
        ("X-Spam-Flag", "yes", True),
        ("X-Spam-Flag", "  Yes  ", True),
        ("X-Spam-Flag", "NO", False),
        ("X-Spam-Flag", "YES, really", False),  # the whole value, nothing more
        ("X-Spam-Flag", "", False),
        ("X-Spam-Status", "Yes, score=7.1 required=5.0 tests=BAYES_99", True),
        ("X-Spam-Status", "yes,score=7.1", True),
        ("X-Spam-Status", "YES , score=7.1", True),
        ("X-Spam-Status", "No, score=-1 tests=BAYES_00", False),  # "yes" inside "BAYES"
        ("X-Spam-Status", "No, score=-0.2 required=5.0 tests=BAYES_00,YES_PLEASE", False),
        ("X-Spam-Status", "No, score=0.4 autolearn=no yes=1", False),
        ("X-Spam-Status", "Yesterday, score=9", False),
        ("X-Spam-Status", "Yes score=7.1", False),  # no comma: the first token is not "Yes"
        ("X-Spam-Status", "", False),
        ("X-Spam", "Yes", True),
        ("X-Spam", "yes", True),
        ("X-Spam", "No", False),
        ("X-Spam", "Yesss", False),
        ("X-Acme-Verdict", "true (score 9)", True),  # a site's own header: its first word
        ("X-Acme-Verdict", "TRUE", True),
        ("X-Acme-Verdict", "false; yes=never", False),
        ("X-Acme-Verdict", "ham, not yes", False),
    ],
)
def test_each_filter_s_value_is_read_exactly(name: str, value: str, spam: bool) -> None:
    assert says_spam(name, value) is spam
    assert says_spam(name.upper(), value) is spam  # header names have no case


def test_only_the_topmost_instance_of_each_header_counts() -> None:
    fields = [
        ("Received", "from mx.hostingejemplo.es by buzones2"),
        ("X-Spam-Status", "No, score=0.4 required=5.0"),  # the site's own server, on top
        ("Received", "from smtp.sender.example by mx.hostingejemplo.es"),
        ("X-Spam-Status", "Yes, score=99.0"),  # another server's, or the sender's
    ]
    assert topmost(fields, "x-spam-status") == "No, score=0.4 required=5.0"
    assert not spam_verdict(fields, NAMES).spam
    flipped = [fields[0], fields[3], fields[2], fields[1]]
    assert spam_verdict(flipped, NAMES).spam


def test_a_sender_s_no_in_another_header_never_outweighs_the_server_s_yes() -> None:
    fields = [
        ("X-Spam-Status", "Yes, score=12.4 required=5.0 tests=PHISH_FORGED"),
        ("X-Spam-Flag", "NO"),  # written by the sender: the server adds no flag it lowers
    ]
    assert spam_verdict(fields, NAMES).reason == "X-Spam-Status: Yes, score=12.4"


def test_the_reason_names_every_header_that_said_spam_and_nothing_else() -> None:
    fields = [
        ("x-spam-flag", "YES"),
        ("X-SPAM-STATUS", "Yes, hits=7.1 required=5.0 tests=BAYES_99,URIBL_BLACK"),
        ("X-Spam", "No"),
    ]
    assert spam_verdict(fields, NAMES).reason == "X-Spam-Flag: YES; X-Spam-Status: Yes, hits=7.1"
    assert spam_verdict(fields, ("X-Spam",)).spam is False
    assert spam_verdict(fields, ()).spam is False  # nothing configured: nothing held


def test_headers_are_unfolded_in_order_and_the_body_is_not_read() -> None:
    raw = (
        b"From MAILER-DAEMON Tue Nov 24 03:12:11 2026\r\n"  # an mbox separator: no field
        b"X-Spam-Status: No,\r\n\tscore=-0.2 required=5.0\r\n  tests=BAYES_00\r\n"
        b"X-Spam-Flag :  YES\r\n"  # obsolete space before the colon
        b"Subject: Hola\r\n"
        b"\r\n"
        b"X-Spam: Yes\r\n"  # body text, not a header
    )
    assert header_fields(raw) == [
        ("X-Spam-Status", "No, score=-0.2 required=5.0 tests=BAYES_00"),
        ("X-Spam-Flag", "YES"),
        ("Subject", "Hola"),
    ]
    assert spam_verdict(header_fields(raw), ("X-Spam",)).spam is False
    assert spam_verdict(header_fields(raw), ("X-Spam-Flag",)).spam is True
    lf_only = raw.replace(b"\r\n", b"\n")
    assert header_fields(lf_only) == header_fields(raw)


_SENDER_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
_VERDICT_NAMES = st.sampled_from(["X-Spam-Status", "x-spam-status", "X-Spam-Flag", "X-Spam"])


@given(below=st.lists(st.tuples(_VERDICT_NAMES, _SENDER_VALUES), max_size=6))
@example(below=[("X-Spam", "TRUE")])  # found once: a header the server did not write
def test_nothing_a_sender_writes_below_the_trusted_headers_changes_the_verdict(
    below: list[tuple[str, str]],
) -> None:
    ham = [("X-Spam-Status", "No, score=-0.2 tests=BAYES_00"), ("X-Spam-Flag", "NO")]
    ham += [("X-Spam", "No")]
    # The trusted server writes every configured header: what is below is the sender's.
    spam = [("X-Spam-Status", "Yes, score=7.1 tests=BAYES_99"), ("X-Spam-Flag", "YES")]
    spam += [("X-Spam", "Yes")]
    assert spam_verdict([*ham, *below], NAMES).spam is False
    # In the configured order.
    expected = "X-Spam-Flag: YES; X-Spam-Status: Yes, score=7.1; X-Spam: Yes"
    assert spam_verdict([*spam, *below], NAMES).reason == expected


@given(rest=_SENDER_VALUES)
def test_a_status_that_starts_with_no_is_never_spam_whatever_follows(rest: str) -> None:
    assert not says_spam("X-Spam-Status", "No," + rest)
    assert not says_spam("X-Spam-Status", "No " + rest)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("spam-spamassassin-flagged.eml", "X-Spam-Flag: YES; X-Spam-Status: Yes, score=7.1"),
        ("spam-rspamd-flagged.eml", "X-Spam: Yes"),
        ("spam-forged-no-below.eml", "X-Spam-Flag: YES; X-Spam-Status: Yes, score=12.4"),
        ("ham-spamassassin-bayes00.eml", ""),
        ("ham-forged-yes-below.eml", ""),
        ("new-gmail-plain.eml", ""),
    ],
)
def test_the_test_mails_say_what_their_names_say(name: str, reason: str) -> None:
    verdict = spam_verdict(header_fields(eml(name)), NAMES)
    assert (verdict.spam, verdict.reason) == (bool(reason), reason)


# --- configuration ------------------------------------------------------------------------


def test_spam_headers_are_off_by_default_and_read_once_each(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, GOOD)).policy.spam_headers == ()
    text = GOOD + '\n[security]\nspam_headers = ["X-Spam-Flag", "X-Spam", "x-spam-flag"]\n'
    assert load_settings(write(tmp_path, text)).policy.spam_headers == ("X-Spam-Flag", "X-Spam")


@pytest.mark.parametrize(
    "value", ['"X-Spam-Flag"', '["X-Spam-Flag:"]', '["X Spam"]', '[""]', "[1]", '["X-Spam", 2]']
)
def test_a_bad_spam_headers_value_is_one_line_naming_key_and_file(
    tmp_path: Path, value: str
) -> None:
    path = write(tmp_path, GOOD + f"\n[security]\nspam_headers = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and "[security] spam_headers" in str(caught.value)
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "--config", str(path), "tickets"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MT_TEST_PASSWORD": "x"},
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "spam_headers" in lines[0] and str(path) in lines[0]


def test_the_spam_outcome_is_its_own_metric_label() -> None:
    assert metrics.OUTCOMES["spam"] == "spam"
    assert list(metrics.OUTCOMES.values()).count("spam") == 1


# --- the hold and the release, on each database ---------------------------------------------


def save(engine: Engine, uid: int, raw: bytes) -> int:
    row = Inbound(mailbox="default", uidvalidity=1, uid=uid, dedup_key=f"k{uid}", fetched_at=NOW)
    with transaction(engine) as session:
        store.add_inbound(session, row, raw)
        return row.id or 0


def states(engine: Engine) -> dict[int, tuple[str, str]]:
    with transaction(engine) as session:
        rows = session.exec(select(Inbound)).all()
        return {r.id or 0: (r.state, r.outcome) for r in rows}


def counts(engine: Engine) -> tuple[int, int]:
    with transaction(engine) as session:
        return len(session.exec(select(Ticket)).all()), len(session.exec(select(Outbox)).all())


@both_databases
def test_held_mail_opens_nothing_is_listed_and_a_release_processes_it_once(
    settings: Settings, engine: Engine
) -> None:
    site = replace(settings, policy=replace(settings.policy, spam_headers=NAMES))
    run = Pipeline(site, engine, Renderer("es"), lambda: NOW)
    spam = save(engine, 1, eml("spam-spamassassin-flagged.eml"))
    rspamd = save(engine, 2, eml("spam-rspamd-flagged.eml"))
    ham = save(engine, 3, eml("ham-spamassassin-bayes00.eml"))
    results = {r.inbound_id: r for r in run.process_pending()}
    assert results[spam].state == "spam" and results[rspamd].state == "spam"
    assert results[spam].detail == "spam (X-Spam-Flag: YES; X-Spam-Status: Yes, score=7.1)"
    assert "spam ticket=-: spam (X-Spam: Yes)" in results[rspamd].log_line()
    assert results[ham].state == "done"
    found = states(engine)
    assert found[spam] == ("spam", "spam: X-Spam-Flag: YES; X-Spam-Status: Yes, score=7.1")
    assert counts(engine) == (1, 2)  # the ham's ticket: its acknowledgement, its staff notice

    with transaction(engine) as session:
        listed = held_mail(session)
    assert [(h.id, h.sender, h.verdict) for h in listed] == [
        (spam, "info@posicionamiento-top24.com", "X-Spam-Flag: YES; X-Spam-Status: Yes, score=7.1"),
        (rspamd, "renovaciones@registro-dominios-es.net", "X-Spam: Yes"),
    ]
    assert listed[0].subject == "¡Su web en la primera página de Google en 7 días!"

    with transaction(engine) as session:
        assert release(session, rspamd, NOW) is True
    with transaction(engine) as session:
        assert release(session, rspamd, NOW) is False  # no longer held
        assert release(session, ham, NOW) is False  # never held
        assert release(session, 999, NOW) is False  # no such mail
    again = run.process_pending()
    assert [(r.inbound_id, r.state) for r in again] == [(rspamd, "done")]
    assert states(engine)[rspamd][0] == "done" and counts(engine) == (2, 4)
    assert run.process_pending() == []
    with transaction(engine) as session:
        assert [h.id for h in held_mail(session)] == [spam]
