"""routing.fold: the fast paths fold exactly as Unicode's decomposition says."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from mailtickets.routing import fold


def slow_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def test_spanish_words_lose_their_accents_and_case() -> None:
    assert fold("Facturación ÚRGENTE: año, pingüino") == "facturacion urgente: ano, pinguino"
    assert fold("STRASSE ß") == "strasse ss"


@given(st.text())
def test_fold_matches_the_decomposition_for_any_text(text: str) -> None:
    assert fold(text) == slow_fold(text)


@given(st.text(alphabet=st.characters(min_codepoint=0x300, max_codepoint=0x36F)))
def test_combining_marks_fold_as_the_decomposition_says(text: str) -> None:
    # Not all of them vanish: U+034F, the grapheme joiner, has combining class 0.
    assert fold(text) == slow_fold(text)
