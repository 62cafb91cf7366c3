"""The fast MIME reader gives the ParsedMail the stdlib's parser gives, mail for mail.

`parse_mail` finds the MIME tree with bytes searches (`read_entities`) and leaves what it
is not sure of to `email.message_from_bytes(raw, policy=compat32)` (`stdlib_entities`);
both trees go through `parsed_from_entities`. Here every corpus mail, hand-built MIME,
generated MIME and the benchmark corpus are read both ways and compared field by field.
"""

from __future__ import annotations

import base64
import quopri
import tracemalloc
from email import message_from_bytes
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtickets.mail import (
    Irregular,
    ParsedMail,
    _head_span,
    _header_block,
    parse_mail,
    parsed_from_entities,
    read_entities,
    stdlib_entities,
)
from mailtickets.settings import Limits
from tests.conftest import DATA

LIMITS = Limits()
# Mail the fast reader leaves to the stdlib: delivery-status blocks are its own format.
STDLIB_ONLY = {"dsn-bounce.eml", "customer-forwards-dsn-attachment.eml"}


def comparable(mail: ParsedMail, containers: bool = True) -> dict[str, Any]:
    """Every field. A multipart or message/* saved as a file is the bytes as sent on the
    fast path, while the stdlib can only render again what it parsed (LF line ends, its
    own last line, a closing boundary the sender left out): compared by their text, or
    not at all where the sender's MIME was cut short."""
    fields = dict(mail.__dict__)
    fields["attachments"] = [
        (a.filename, a.content_type, _container_text(a.data) if containers else b"")
        if _container(a.content_type)
        else (a.filename, a.content_type, a.data)
        for a in mail.attachments
    ]
    return fields


def _container(content_type: str) -> bool:
    return content_type.startswith(("message/", "multipart/"))


def _container_text(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").rstrip(b"\n")


def fast_and_stdlib(raw: bytes, limits: Limits = LIMITS) -> tuple[ParsedMail, ParsedMail]:
    fast = parsed_from_entities(raw, read_entities(raw, limits.max_mime_depth), limits)
    tree = stdlib_entities(message_from_bytes(raw, policy=compat32))
    return fast, parsed_from_entities(raw, tree, limits)


def assert_same(raw: bytes, limits: Limits = LIMITS, containers: bool = True) -> ParsedMail:
    fast, stdlib = fast_and_stdlib(raw, limits)
    assert comparable(fast, containers) == comparable(stdlib, containers)
    assert parse_mail(raw, limits) == fast
    return fast


def crlf(text: str, line_end: str = "\r\n") -> bytes:
    return text.replace("\n", line_end).encode("utf-8")


CORPUS = sorted(DATA.rglob("*.eml"))


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_every_corpus_mail_reads_the_same_both_ways(path: Any, line_end: str) -> None:
    raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", line_end.encode())
    if path.name in STDLIB_ONLY:
        with pytest.raises(Irregular):
            read_entities(raw, LIMITS.max_mime_depth)
        return
    assert_same(raw)


HEAD = "From: Ana <ana@cliente.es>\nTo: soporte@hostingejemplo.es\nSubject: prueba\n"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 20
PDF_B64 = base64.encodebytes(PDF).decode()

NESTED = f"""{HEAD}MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hola, adjunto la factura.
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>Hola, <b>adjunto</b> la factura.</p><img src="cid:logo@x">
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--alt--
--mix
Content-Type: application/pdf; name="factura.pdf"
Content-Disposition: attachment; filename="factura.pdf"
Content-Transfer-Encoding: base64

{PDF_B64}
--mix--
"""
QP_LATIN1 = (
    HEAD + "Content-Type: text/plain; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n\n"
    "Facturaci=F3n duplicada, =BFpod=E9is mirarlo? Una l=EDnea muy larga que sigue=\n"
    " aqu=ED.\n"
)
BASE64_UTF8 = (
    HEAD
    + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
    + base64.encodebytes("Renovación del dominio tallerhernández.es — ¿cuándo?".encode()).decode()
)
RFC2231 = f"""{HEAD}MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

Adjunto.
--b
Content-Type: application/pdf; name="=?utf-8?q?Captura_de_pantalla.pdf?="
Content-Disposition: attachment;
 filename*=utf-8''Captura%20de%20pantalla%202026-11-20%20a%20las%209.41.03.pdf
Content-Transfer-Encoding: base64

{PDF_B64}--b--
"""
FORWARDED = f"""{HEAD}MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

Os reenvío el correo que recibí.
--outer
Content-Type: message/rfc822
Content-Disposition: attachment; filename="original.eml"

From: Banco <avisos@banco.example>
Subject: Aviso
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

Texto del aviso.
--inner
Content-Type: text/html

<p>Texto del aviso.</p>
--inner--

--outer--
"""
NO_CLOSING_BOUNDARY = f"""{HEAD}MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="cut"

--cut
Content-Type: text/plain; charset=utf-8

El mensaje se cortó aquí.
--cut
Content-Type: application/octet-stream; name="datos.bin"
Content-Transfer-Encoding: base64

{PDF_B64[:200]}
"""
PREAMBLE_EPILOGUE = f"""{HEAD}MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="pe"

This is a multi-part message in MIME format.
--pe is not a boundary line, nor is --pe-- x
--pe
Content-Type: text/plain

texto
--pe
Content-Type: text/html

<p>texto</p>
--pe--
Epilogue text that nobody reads.
--pe
Content-Type: text/plain

after the end: still epilogue
"""
BOUNDARY_LIKE_IN_BASE64 = f"""{HEAD}MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="QUJD"

--QUJD
Content-Type: text/plain

Texto con una línea que empieza igual: --QUJDE no es un límite.
--QUJD
Content-Type: application/octet-stream; name="x.bin"
Content-Disposition: attachment; filename="x.bin"
Content-Transfer-Encoding: base64

QUJDQUJDQUJD
--QUJDQUJD
QUJD
--QUJD--
"""
DIGEST = f"""{HEAD}MIME-Version: 1.0
Content-Type: multipart/digest; boundary="d"

--d

From: a@b.es
Subject: uno

primero
--d

From: c@d.es
Subject: dos

segundo
--d--
"""
INLINE_NAMED_TEXT = f"""{HEAD}MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="n"

--n
Content-Type: text/plain; charset=utf-8
Content-Disposition: inline; filename="nota.txt"

Texto que es a la vez cuerpo y fichero.
--n
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment

Sin nombre.
--n
Content-Type: application/rtf

{{\\rtf1 hola}}
--n--
"""
EIGHT_BIT_NAMES = (
    HEAD + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="u"\n\n--u\n'
    'Content-Type: text/plain; charset="utf-9"\nContent-Transfer-Encoding: 8bit\n\n'
    "Charset que miente: José\n--u\n"
    'Content-Type: image/png; name="gráfico.png"\n'
    'Content-Disposition: attachment; filename="gráfico.png"\n\n'
    "png\n--u--\n"
)
HAND_BUILT = {
    "nested mixed > alternative > related": NESTED,
    "quoted-printable latin-1": QP_LATIN1,
    "base64 utf-8 text": BASE64_UTF8,
    "RFC 2231 file name": RFC2231,
    "message/rfc822 attachment": FORWARDED,
    "no closing boundary": NO_CLOSING_BOUNDARY,
    "preamble and epilogue": PREAMBLE_EPILOGUE,
    "boundary-like lines in base64": BOUNDARY_LIKE_IN_BASE64,
    "digest of messages": DIGEST,
    "named inline text, unnamed attachment, rtf": INLINE_NAMED_TEXT,
    "8-bit file name, lying charset": EIGHT_BIT_NAMES,
}


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("name", list(HAND_BUILT))
def test_hand_built_mime_reads_the_same_both_ways(name: str, line_end: str) -> None:
    assert_same(crlf(HAND_BUILT[name], line_end))


def test_what_the_hand_built_mime_holds() -> None:
    nested = assert_same(crlf(NESTED))
    assert nested.text == "Hola, adjunto la factura."
    assert "<b>adjunto</b>" in nested.html
    assert [(a.filename, a.content_type) for a in nested.attachments] == [
        ("<logo@x>", "image/png"),
        ("factura.pdf", "application/pdf"),
    ]
    assert nested.attachments[1].data == PDF
    assert "Facturación duplicada, ¿podéis" in assert_same(crlf(QP_LATIN1)).text
    assert "tallerhernández.es — ¿cuándo?" in assert_same(crlf(BASE64_UTF8)).text
    (capture,) = assert_same(crlf(RFC2231)).attachments
    assert capture.filename == "Captura de pantalla 2026-11-20 a las 9.41.03.pdf"
    forwarded = assert_same(crlf(FORWARDED))
    assert [a.filename for a in forwarded.attachments] == ["original.eml"]
    assert forwarded.attachments[0].data.startswith(b"From: Banco <avisos@banco.example>\r\n")
    assert "Texto del aviso." in forwarded.text  # the forwarded mail's text, as before
    cut = assert_same(crlf(NO_CLOSING_BOUNDARY))
    assert "CloseBoundaryNotFoundDefect" in cut.defects and cut.attachments[0].data
    assert assert_same(crlf(PREAMBLE_EPILOGUE)).text == "texto"
    (binary,) = assert_same(crlf(BOUNDARY_LIKE_IN_BASE64)).attachments
    assert binary.data == base64.b64decode("QUJDQUJDQUJDQUJDQUJDQUJD")
    assert assert_same(crlf(DIGEST)).text == "primero\nsegundo"
    named = assert_same(crlf(INLINE_NAMED_TEXT))
    assert named.text == "Texto que es a la vez cuerpo y fichero."
    assert [a.filename for a in named.attachments] == [
        "nota.txt",
        "attachment-2.txt",
        "attachment-3.rtf",
    ]
    eight_bit = assert_same(crlf(EIGHT_BIT_NAMES))
    assert eight_bit.text == "Charset que miente: José"
    assert [a.filename for a in eight_bit.attachments] == ["gráfico.png"]


MULTIPART = b"Content-Type: multipart/mixed; boundary=b\n\n"
IRREGULAR = {
    "lone CR before a boundary": MULTIPART + b"--b\nx\r--b\ny\n--b--\n",
    "boundary line ended by a lone CR": MULTIPART + b"--b\r\nx\n--b--\rz\n",
    "lone CR in a header block": b"Subject: a\rb: c\nContent-Type: text/plain\n\nbody\n",
    "no start boundary": MULTIPART + b"no parts at all\n",
    "no boundary parameter": b"Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n",
    "repeated boundary lines": MULTIPART + b"--b\n--b\n\nx\n--b--\n",
    "body with no blank line": b"Subject: x\nthis line is no header\n\nbody\n",
    "From line late in the header": b"Subject: x\nFrom nobody\n\nbody\n",
    "delivery-status": b"Content-Type: message/delivery-status\n\nAction: failed\n\nStatus: 5\n",
}


@pytest.mark.parametrize("name", list(IRREGULAR))
def test_irregular_mime_is_read_by_the_stdlib(name: str) -> None:
    raw = b"From: a@b.es\n" + IRREGULAR[name]
    with pytest.raises(Irregular):
        read_entities(raw, LIMITS.max_mime_depth)
    stdlib = parsed_from_entities(
        raw, stdlib_entities(message_from_bytes(raw, policy=compat32)), LIMITS
    )
    assert comparable(parse_mail(raw)) == comparable(stdlib)


def test_nesting_past_the_limit_is_read_by_the_stdlib_and_reported() -> None:
    raw = b"From: a@b.es\nSubject: hondo\n" + _nested(6)
    limits = Limits(max_mime_depth=4)
    with pytest.raises(Irregular):
        read_entities(raw, limits.max_mime_depth)
    mail = parse_mail(raw, limits)
    assert mail.text == "fondo" and [p.kind for p in mail.problems] == ["mime_depth"]
    assert_same(raw, Limits(max_mime_depth=8))  # within the limit, the fast path reads it


def _nested(depth: int) -> bytes:
    inner = b"Content-Type: text/plain\n\nfondo\n"
    for level in range(depth):
        b = f"n{level}".encode()
        inner = (
            b"Content-Type: multipart/mixed; boundary="
            + b
            + b"\n\n--"
            + b
            + b"\n"
            + inner
            + b"\n--"
            + b
            + b"--\n"
        )
    return inner


def test_an_attachment_over_the_limit_is_never_decoded() -> None:
    data = bytes(range(256)) * 16_384  # 4 MiB
    raw = (
        crlf(
            f"{HEAD}MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=big\n\n--big\n"
            "Content-Type: text/plain\n\nAdjunto la copia.\n--big\n"
            "Content-Type: application/zip\n"
            'Content-Disposition: attachment; filename="copia.zip"\n'
            "Content-Transfer-Encoding: base64\n\n"
        )
        + base64.encodebytes(data).replace(b"\n", b"\r\n")
        + b"--big--\r\n"
    )
    tracemalloc.start()
    mail = parse_mail(raw, Limits(max_attachment_bytes=1_000_000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert mail.attachments == () and mail.text == "Adjunto la copia."
    (problem,) = mail.problems
    assert (problem.kind, problem.size, problem.name) == ("attachment_size", len(data), "copia.zip")
    assert peak < len(raw) // 10  # neither decoded nor copied


# --- Generated MIME ---------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
NAMES = st.sampled_from(
    [
        'filename="factura.pdf"',
        "filename*=utf-8''Captura%20de%20pantalla.pdf",
        'filename="=?iso-8859-1?q?Facturaci=F3n.pdf?="',
        'filename="gráfico.png"',
        'filename="../../etc/passwd"',
    ]
)


@st.composite
def leaf(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["text/plain", "text/html", "application/pdf", "image/png"]))
    charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "utf-9", ""]))
    encoding = draw(st.sampled_from(["7bit", "8bit", "quoted-printable", "base64", ""]))
    head = f"Content-Type: {kind}" + (f"; charset={charset}" if charset else "") + "\n"
    head += f"Content-Transfer-Encoding: {encoding}\n" if encoding else ""
    if draw(st.booleans()):
        disposition = draw(st.sampled_from(["attachment", "inline"]))
        head += f"Content-Disposition: {disposition}; {draw(NAMES)}\n"
    if draw(st.integers(0, 5)) == 0:
        head += "Content-ID: <part@x>\n"
    data = draw(TEXT).encode("utf-8")
    if encoding == "base64":
        body = base64.encodebytes(data).decode()
    elif encoding == "quoted-printable":
        body = quopri.encodestring(data).decode()
    else:
        body = data.decode("utf-8")
    return head + "\n" + body


def multipart(children: list[str], subtype: str, boundary: str, extras: tuple[bool, ...]) -> str:
    preamble, epilogue, close, boundary_like = extras
    text = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'
    text += "preamble\n" if preamble else ""
    for child in children:
        text += f"--{boundary}\n{child}\n"
        text += f"--{boundary}x not a boundary\n" if boundary_like else ""
    text += f"--{boundary}--\n" if close else ""
    return text + ("epilogue\n" if epilogue else "")


def forwarded(inner: str) -> str:
    return "Content-Type: message/rfc822\nContent-Disposition: attachment\n\nSubject: fw\n" + inner


ENTITIES = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.builds(
            multipart,
            st.lists(inner, min_size=1, max_size=3),
            st.sampled_from(["mixed", "alternative", "related", "digest"]),
            st.text("abcXYZ0123'()+_,-./:=?", min_size=1, max_size=12),
            st.tuples(st.booleans(), st.booleans(), st.integers(0, 4).map(bool), st.booleans()),
        ),
        inner.map(forwarded),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENTITIES, st.sampled_from(["\n", "\r\n"]), st.integers(0, 9))
def test_generated_mime_reads_the_same_both_ways(body: str, line_end: str, lone_cr: int) -> None:
    raw = crlf(HEAD + "MIME-Version: 1.0\n" + body, line_end)
    if lone_cr == 0:  # a CR alone somewhere: the stdlib ends a line there
        raw = raw.replace(b"\n--", b"\r--", 1)
    try:
        read_entities(raw, LIMITS.max_mime_depth)
    except Irregular:
        return
    assert_same(raw, containers=False)


HEADER_LINES = st.lists(
    st.sampled_from(
        [
            b"Subject: x\xc3\xa9",
            b" continued",
            b"\tcontinued",
            b"From x@y Mon Nov 23",
            b"From: a@b.es",
            b":no name",
            b"X-Empty:",
            b"To: <a@b.es>,\n c@d.es",
            b"Content-Type: text/plain;\n\tcharset=utf-8",
        ]
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(HEADER_LINES, st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_header_blocks_read_as_the_stdlib_reads_them(
    lines: list[bytes], line_end: bytes, ended: bool
) -> None:
    block = line_end.join(line.replace(b"\n", line_end) for line in lines)
    raw = block + (line_end if ended and lines else b"") + line_end + b"body"
    try:
        head_end, _ = _head_span(raw, 0, len(raw))
    except Irregular:
        return
    ours = _header_block(raw[:head_end])
    stdlib = BytesHeaderParser(policy=compat32).parsebytes(raw[:head_end])
    assert list(ours.raw_items()) == list(stdlib.raw_items())
    assert [repr(d) for d in ours.defects] == [repr(d) for d in stdlib.defects]
    assert ours.get_unixfrom() == stdlib.get_unixfrom()


def test_the_benchmark_corpus_reads_the_same_both_ways() -> None:
    corpus = pytest.importorskip("bench.corpus")
    for mail in corpus.generate(500, seed=1):
        assert_same(mail.raw)
