"""Which replies only thank (issue 13 point 6): pure, on the text after quotes are cut."""

from __future__ import annotations

import pytest

from mailtickets.decide import only_thanks


@pytest.mark.parametrize(
    "text",
    [
        "gracias",
        "Gracias.",
        "¡Muchas gracias!",
        "ok, gracias",
        "Vale, muchísimas gracias por la ayuda :)",
        "thanks",
        "Thank you very much!",
        "Hola Ana,\n\nMil gracias.\n\nUn saludo,\nLaura Martínez",
        "Perfecto, gracias de nuevo\n\n--\nFloristería Laura\n912 345 678",
    ],
)
def test_only_thanks(text: str) -> None:
    assert only_thanks(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ok",  # no thanks in it: it may be an answer to a question
        "Gracias, pero sigue sin funcionar.",
        "Gracias. ¿Y el certificado?",
        "gracias, ya funciona laura@floristerialaura.es",
        "Thanks, the error 500 is back",
        "Muchas gracias. Otra cosa: quiero ampliar el plan.",
    ],
)
def test_anything_more_is_not_only_thanks(text: str) -> None:
    assert not only_thanks(text)
