"""Who wrote a mail: the From header read whole, a display name never an address."""

from __future__ import annotations

import email
from email import quoprimime
from email.header import Header
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mailtickets.addresses import _by_registry, _plain_mailbox, author, recipients
from mailtickets.mail import parse_mail

MARCOS = "marcos@competidor.example"


def test_an_encoded_display_name_holding_another_address_is_only_a_name() -> None:
    forged = f"=?utf-8?q?Luc=C3=ADa:lucia.martinez@example.com;?= <{MARCOS}>"
    got = author([forged])
    assert got.address == MARCOS and got.problem == ""
    assert got.name == "Lucía:lucia.martinez@example.com;"


def test_the_forged_mail_from_the_issue_is_marcos_after_parsing_too() -> None:
    raw = (
        b"From: =?utf-8?q?Luc=C3=ADa:lucia.martinez@example.com;?= <marcos@competidor.example>\r\n"
        b"To: soporte@hostingejemplo.es\r\nSubject: hola\r\nMessage-ID: <f@x>\r\n\r\nhola\r\n"
    )
    mail = parse_mail(raw)
    assert mail.from_addr == MARCOS and mail.sender_problem == ""


def test_several_mailboxes_a_group_or_nothing_usable_is_an_unknown_sender() -> None:
    cases = {
        "Lucia <lucia@example.com>, <marcos@competidor.example>": "names 2 mailboxes",
        "Clientes: lucia@example.com;": "is a group",
        "undisclosed-recipients:;": "names 0 mailboxes",
        "lucia": "cannot be read",
        "<>": "cannot be read",
        "lucia@example.com <marcos@competidor.example>": "cannot be read",
        '"a" <marcos@competidor.example> <lucia@example.com>': "cannot be read",
        "=?utf-8?q?=3Clucia=40example=2Ecom=3E?=": "cannot be read",
    }
    for value, problem in cases.items():
        got = author([value])
        assert got.address == "" and problem in got.problem, value
    assert author([]).problem == "the mail has no From header"
    assert author([f"{'a' * 300}@cliente.es"]).address == ""
    assert "2 From headers" in author(["a@x.es", "b@x.es"]).problem


def test_comments_and_quoted_names_never_supply_the_address() -> None:
    assert author([f"{MARCOS} (lucia@example.com)"]).address == MARCOS
    assert author([f'"lucia@example.com" <{MARCOS}>']).address == MARCOS
    assert author([f"(lucia@example.com) {MARCOS}"]).address == MARCOS
    assert author([f'"Lucía\r\n <lucia@example.com>" <{MARCOS}>']).address == MARCOS


def test_recipients_take_group_members_and_drop_malformed_headers() -> None:
    got = recipients(["Equipo: a@cliente.es, b@cliente.es;", "c@cliente.es"])
    assert got == ("a@cliente.es", "b@cliente.es", "c@cliente.es")
    assert recipients([f"lucia@example.com <{MARCOS}>"]) == ()
    assert recipients(["=?utf-8?q?x=40y=2Ees?= <z@cliente.es>"]) == ("z@cliente.es",)


NAME_PARTS = st.lists(
    st.sampled_from(
        [
            "Lucía",
            "lucia.martinez@example.com",
            "<lucia.martinez@example.com>",
            ":",
            ";",
            ",",
            "@",
            '"',
            "(",
            ")",
            "\r\n",
            "\r\n ",
            " ",
            "=?utf-8?q?",
            "?=",
            "=3C",
            "=40",
            "\\",
            "Grupo:",
        ]
    ),
    max_size=12,
)
REAL = st.sampled_from(["marcos@competidor.example", "ana@cliente.es", "x.y+z@sub.dominio.es"])


@given(NAME_PARTS, REAL, st.sampled_from(["raw", "quoted", "encoded-q", "encoded-b"]))
def test_whatever_the_display_name_holds_the_sender_is_the_real_mailbox_or_nobody(
    parts: list[str], real: str, style: str
) -> None:
    name = "".join(parts)
    if style == "quoted":
        shown = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif style == "encoded-b":
        shown = Header(name, "utf-8", header_name="From").encode() if name else ""
    elif style == "encoded-q":
        shown = quoprimime.header_encode(name.encode(), "utf-8") if name else ""
    else:
        shown = name
    got = author([f"{shown} <{real}>"])
    # Either the one real mailbox, or an unknown sender: never an address from the name.
    assert got.address in (real, ""), (shown, got)
    assert got.address or got.problem


@given(st.lists(REAL, min_size=2, max_size=4, unique=True))
def test_a_from_with_several_mailboxes_never_picks_one(many: list[str]) -> None:
    assert author([", ".join(many)]).address == ""
    assert author([f"Grupo: {', '.join(many)};"]).address == ""


def test_an_encoded_word_inside_the_address_is_no_address() -> None:
    # The registry decodes it to lucia@example.com; DMARC upstream saw another domain.
    for forged in (
        "lucia.martinez@=?utf-8?q?example.com?=",
        "lucia.martinez@=?utf-8?b?ZXhhbXBsZS5jb20=?= (Lucía)",
        "=?utf-8?q?lucia?=@example.com",
    ):
        assert author([forged]).address == "", forged
    assert recipients(["ana@=?utf-8?q?hostingejemplo.es?="]) == ()


def test_hostile_address_headers_give_an_unknown_sender_not_an_error() -> None:
    assert author(['"a(b"@x.example']).address == ""  # quoted local parts are refused
    assert "cannot be read" in author(["(" * 1500]).problem  # deep comments, no RecursionError
    for run in ("\\", ",", '"'):
        got = author([run * 60_000])
        assert got.address == "" and len(got.problem) < 300
        assert recipients([run * 60_000]) == ()
    many = ", ".join(f"desconocido{n}@lista{n % 7}.example" for n in range(500))
    assert len(recipients([many])) == 500  # a long plain list is still read whole


def test_an_encoded_name_without_a_space_before_the_address_is_still_the_sender() -> None:
    got = author(["=?UTF-8?Q?Jos=C3=A9_P=C3=A9rez?=<jose@construccionesperez.es>"])
    assert got.address == "jose@construccionesperez.es" and got.name == "José Pérez"


# The plain shapes are read by a pattern, not the registry (addresses._plain_mailbox): it
# must give the registry's answer wherever it answers at all.
_NAME_WORDS = st.text(alphabet="aAñÍ zZ09.'_-+=?\"<>@,;:()\\\t", max_size=14)


def _encoded_word(text: str, charset: str, how: str) -> str:
    """An encoded word as mail clients write it, or one written carelessly by hand."""
    fits = text.encode(charset, "replace")
    if how == "header":
        return Header(fits.decode(charset).replace("\n", " "), charset).encode()
    if how == "quoted-printable":
        return quoprimime.header_encode(fits, charset)
    return f"=?{charset}?{how}?{text}?="


_ENCODED = st.builds(
    _encoded_word,
    st.text(alphabet='aÍñ €<@:;,._ =?"()\\\n\x00', max_size=12),
    st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "windows-1252", "us-ascii", "koi8-r"]),
    st.sampled_from(["header", "quoted-printable", "Q", "q", "B", "b"]),
)
_LOCAL = st.one_of(
    st.sampled_from(["ana", "ana.garcia", "x+y", "o'neil", "a_b-c"]),
    st.text(alphabet="ab.+_-=?!#'\"é@ ", max_size=8),
)
_DOMAIN = st.one_of(
    st.sampled_from(["cliente.es", "sub.dominio-uno.com", "x.y"]),
    st.text(alphabet="xy.-=?_é ", max_size=8),
)
_NAME = st.one_of(
    st.sampled_from(["Ana", "Ana García", "ANA GARCIA", "Ana  Garcia", "O'Neil", "Ana S.A."]),
    _NAME_WORDS,
    _ENCODED,
    st.just(""),
)


@given(
    _NAME,
    st.sampled_from([" ", "  ", "", "\t", " \t"]),
    _LOCAL,
    _DOMAIN,
    st.sampled_from(["<{}>", "{}", "<{}> ", "<{}>,", "{} (x)"]),
)
def test_the_plain_shapes_give_what_the_registry_gives(
    name: str, gap: str, local: str, domain: str, wrap: str
) -> None:
    value = (name + gap + wrap.format(f"{local}@{domain}")).strip()
    fast = _plain_mailbox(value)
    assert fast is None or fast == _by_registry(value), value


def test_the_plain_shapes_are_most_of_a_real_inbox_and_read_as_the_registry_reads_them() -> None:
    from bench.corpus import generate

    values = [email.message_from_bytes(m.raw)["From"] for m in generate(300, seed=3)]
    values += [
        value
        for path in sorted(Path(__file__).parents[1].glob("data/*.eml"))
        for value in email.message_from_bytes(path.read_bytes()).get_all("From", [])
    ]
    unfolded = [" ".join(str(v).split()) for v in values]
    answered = [v for v in unfolded if _plain_mailbox(v) is not None]
    assert len(answered) > 0.9 * len(values)
    for value in answered:
        assert _plain_mailbox(value) == _by_registry(value), value


_PLAIN_FROMS = [
    "Sonia Garrido <sonia@clinica-garrido.com>",
    "=?utf-8?B?TUFSw41BIMOBTFZBUkVa?= <maria@centroelolivo.com>",
    "=?UTF-8?Q?Librer=C3=ADa_Hermanos_Gil_S=2EA=2E?= <pedidos@libreria-gil.es>",
    "=?iso-8859-1?q?Jos=E9_P=E9rez?= <jose@perez.es>",
    "rosa.torres@gmail.com",
]


_ONE_OFF = [*" \t\"'()<>@,;:\\.=?_-+ÍñA0\x00\u2003", "=3C", "=40", "=20", "=?", "?=", "=C3", "__"]


def test_one_character_off_a_plain_shape_still_gives_what_the_registry_gives() -> None:
    answered = 0
    for plain in _PLAIN_FROMS:
        for at in range(len(plain) + 1):
            for piece in _ONE_OFF:
                for value in (
                    plain[:at] + piece + plain[at:],
                    plain[:at] + piece + plain[at + 1 :],
                    plain[:at] + plain[at + 1 :],
                ):
                    fast = _plain_mailbox(value.strip())
                    assert fast is None or fast == _by_registry(value.strip()), value
                    answered += fast is not None
    assert answered > 1000  # the pattern still answers many of them itself
