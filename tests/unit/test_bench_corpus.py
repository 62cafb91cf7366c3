"""The benchmark corpus generator: the asked-for mix, clean MIME, honest flags, determinism."""

from __future__ import annotations

import email
import io
import zipfile
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from email.utils import parseaddr, parsedate_to_datetime

import pytest

from bench.corpus import CorpusMail, big_mail, generate, iter_mails, summary

COUNT = 500


@pytest.fixture(scope="module")
def corpus() -> list[CorpusMail]:
    return generate(COUNT, seed=1)


@pytest.fixture(scope="module")
def parsed(corpus: list[CorpusMail]) -> list[EmailMessage]:
    return [_parse(mail.raw) for mail in corpus]


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def _defects(msg: EmailMessage) -> list[str]:
    """Every defect the parser finds: of parts, of their headers, of decoding bodies."""
    found: list[str] = []
    for part in msg.walk():
        for name, value in part.items():
            found += [f"{name}: {d!r}" for d in getattr(value, "defects", ())]
        if not part.is_multipart():
            if part.get_content_maintype() == "text":
                assert isinstance(part.get_content(), str)
            else:
                assert part.get_payload(decode=True)
        found += [repr(d) for d in part.defects]
    return found


def test_the_mix_is_the_one_the_benchmark_asks_for(corpus: list[CorpusMail]) -> None:
    stats = summary(corpus)
    assert stats["count"] == len(corpus) == COUNT
    assert abs(stats["replies"] - 0.14) <= 0.03
    assert abs(stats["attachments"] - 0.18) <= 0.03
    assert abs(stats["html"] - 0.58) <= 0.03
    assert 13_000_000 <= stats["total_bytes"] <= 18_000_000
    assert len({mail.message_id for mail in corpus}) == COUNT


def test_every_mail_parses_without_defects(
    corpus: list[CorpusMail], parsed: list[EmailMessage]
) -> None:
    for mail, msg in zip(corpus, parsed, strict=True):
        assert _defects(msg) == [], mail.message_id
        for name in ("From", "To", "Subject", "Date", "Message-ID"):
            assert msg[name], (name, mail.message_id)
        head, _, _ = mail.raw.partition(b"\r\n\r\n")
        assert head.isascii(), mail.message_id  # non-ASCII only as encoded words
        crlf = mail.raw.count(b"\r\n")
        assert mail.raw.count(b"\r") == mail.raw.count(b"\n") == crlf, mail.message_id
        assert max(map(len, mail.raw.split(b"\r\n"))) <= 998, mail.message_id


def test_the_flags_say_what_the_mail_holds(
    corpus: list[CorpusMail], parsed: list[EmailMessage]
) -> None:
    for mail, msg in zip(corpus, parsed, strict=True):
        assert msg["Message-ID"] == mail.message_id
        assert parseaddr(str(msg["From"]))[1] == mail.sender
        assert (msg["In-Reply-To"] is not None) == mail.is_reply
        types = [part.get_content_type() for part in msg.walk()]
        assert ("text/html" in types) == mail.has_html
        assert ("multipart/alternative" in types) == mail.has_html
        assert any(part.is_attachment() for part in msg.walk()) == mail.has_attachment


def test_a_reply_follows_an_earlier_mail_of_the_same_sender(
    corpus: list[CorpusMail], parsed: list[EmailMessage]
) -> None:
    earlier: dict[str, tuple[CorpusMail, EmailMessage]] = {}
    for mail, msg in zip(corpus, parsed, strict=True):
        if mail.is_reply:
            parent, parent_msg = earlier[str(msg["In-Reply-To"]).strip()]
            assert parent.sender == mail.sender
            assert str(msg["References"]).split()[-1] == parent.message_id
            subject, parent_subject = str(msg["Subject"]), str(parent_msg["Subject"])
            if parent_subject.lower().startswith("re:"):
                assert subject == parent_subject
            else:
                assert subject in (f"Re: {parent_subject}", f"RE: {parent_subject}")
        earlier[mail.message_id] = (mail, msg)


def test_dates_increase_in_madrid_time(parsed: list[EmailMessage]) -> None:
    dates = [parsedate_to_datetime(str(msg["Date"])) for msg in parsed]
    assert dates == sorted(dates)
    offsets = {d.utcoffset() for d in dates}
    assert offsets <= {timedelta(hours=1), timedelta(hours=2)}


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others(
    corpus: list[CorpusMail],
) -> None:
    again = [mail.raw for mail in iter_mails(COUNT, seed=1)]
    assert again == [mail.raw for mail in corpus]
    other = generate(50, seed=2)
    assert all(a.raw != b.raw for a, b in zip(other, corpus, strict=False))


def test_a_domain_tag_gives_other_message_ids(corpus: list[CorpusMail]) -> None:
    tagged = generate(50, seed=1, domain_tag="run2")
    assert not {m.message_id for m in tagged} & {m.message_id for m in corpus}
    with pytest.raises(ValueError):
        generate(1, domain_tag="no spaces")


def test_the_support_address_is_a_parameter() -> None:
    mails = generate(20, support="ayuda@ejemplo.test")
    for mail in mails:
        msg = _parse(mail.raw)
        assert parseaddr(str(msg["To"]))[1] == "ayuda@ejemplo.test"
        assert str(msg["Authentication-Results"]).startswith("mx.ejemplo.test;")


def test_a_big_mail_is_about_the_size_asked_and_parses() -> None:
    size = 5 * 1024 * 1024
    mail = big_mail(size)
    assert abs(len(mail.raw) - size) <= size * 0.05
    msg = _parse(mail.raw)
    assert _defects(msg) == []
    assert mail.has_attachment and not mail.is_reply
    (attachment,) = [part for part in msg.walk() if part.is_attachment()]
    data = attachment.get_payload(decode=True)
    assert isinstance(data, bytes)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
    assert mail.message_id not in {m.message_id for m in generate(5)}
