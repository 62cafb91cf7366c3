"""Ticket codes in subjects: found through reply prefixes, brackets, case and encodings."""

import pytest

from mailtickets.codes import (
    ALPHABET,
    clean_subject,
    find_code,
    new_code,
    parse_code,
    strip_reply_prefixes,
)


def test_new_codes_use_the_prefix_and_the_unambiguous_alphabet() -> None:
    codes = {new_code("SOP") for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        prefix, body = code.split("-")
        assert prefix == "SOP" and len(body) == 6 and set(body) <= set(ALPHABET)


@pytest.mark.parametrize(
    "subject",
    [
        "[SOP-7KQ2MX] Hemos recibido su consulta",
        "Re: [SOP-7KQ2MX] Hemos recibido su consulta",
        "RE: RV: [SOP-7KQ2MX] Facturación",
        "Fwd: AW: Antw: [[SOP-7KQ2MX]] hola",
        "re: [sop-7kq2mx] minúsculas",
        "Respuesta: [ SOP - 7KQ2MX ] con espacios",
        "consulta SOP-7KQ2MX sin corchetes",
    ],
)
def test_code_is_found_through_prefixes_case_and_brackets(subject: str) -> None:
    assert find_code(subject, "SOP") == "SOP-7KQ2MX"


@pytest.mark.parametrize(
    "subject",
    [
        "Factura SOP-7KQ2M",
        "XSOP-7KQ2MX",
        "SOP-7KQ2MXY",
        "[ABC-7KQ2MX] otra empresa",
        "sin código",
        "[SOP-0O1IL5] letras que el alfabeto no usa",
        "[SOP-7\u212aQ2MX] signo kelvin, no una K",
    ],
)
def test_no_code_where_there_is_none(subject: str) -> None:
    assert find_code(subject, "SOP") is None


def test_prefix_from_config_is_escaped_not_spliced_into_the_regex() -> None:
    assert find_code("[A1-7KQ2MX]", "A1") == "A1-7KQ2MX"
    assert find_code("[AX-7KQ2MX]", "A.") is None


def test_reply_prefixes_are_stripped() -> None:
    assert strip_reply_prefixes("RE: RV: Fwd: AW: hola") == "hola"
    assert strip_reply_prefixes("Re[2]: hola") == "hola"
    assert strip_reply_prefixes("Reunión mañana") == "Reunión mañana"


def test_clean_subject_drops_code_and_prefixes_and_leaves_no_words_of_its_own() -> None:
    assert clean_subject("RE: [SOP-7KQ2MX] Dominio caducado", "SOP") == "Dominio caducado"
    assert clean_subject("Re:", "SOP") == ""  # templates word a missing subject per locale
    assert clean_subject("[SOP-7KQ2MX]", "SOP") == ""


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SOP-7KQ2MX", "SOP-7KQ2MX"),
        ("[sop-7kq2mx]", "SOP-7KQ2MX"),
        (" SOP - 7KQ2MX ", "SOP-7KQ2MX"),
        ("SOP-0O1IL5", None),  # every one of 0, O, 1, I, L is outside the alphabet
        ("SOP-7KQ2MI", None),
        ("SOP-7KQ2M", None),
        ("SOP-7KQ2MX2", None),
        ("ABC-7KQ2MX", None),
        ("SOP-7KQ2MX gracias", None),
        ("", None),
    ],
)
def test_parse_code_takes_exactly_one_code_of_the_alphabet(text: str, code: str | None) -> None:
    assert parse_code(text, "SOP") == code


def test_every_code_made_is_parsed_and_found_back() -> None:
    for _ in range(200):
        code = new_code("SOP")
        assert parse_code(code.lower(), "SOP") == code == find_code(f"Re: [{code}] x", "SOP")
