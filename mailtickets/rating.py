"""Read a satisfaction rating from a reply to a closed ticket (pure): "5 muy bien" → 5.

The closing notices ask for a number from 1 to 5 and, if the customer likes, a few words
(SPEC §12). A reply counts as a rating when its new text, greeting and signature aside,
starts with that number; anything that might be a new problem instead ("3 cuentas siguen sin
correo", "5 de diciembre", "5€", a question, a domain) is not one, and goes the ordinary way
(it reopens the ticket, where a person reads it). A missed rating costs a reopening; a
problem taken for a rating would be read by nobody.
"""

from __future__ import annotations

import re

from mailtickets.decide import NAMES_A_THING, Rated, without_greeting_and_signature
from mailtickets.routing import fold

# "Un 3.", "Nota: 4", "Le doy un 5", "Mi valoración: 4", "I'd give you a 5", "Rating: 4/5".
_RATING = re.compile(
    r"""^\s*
    (?:(?:le|les|os|te)\s+(?:doy|damos|pongo|ponemos)\s+|i(?:'|’)?d\s+give\s+(?:you|it)\s+
       |i\s+give\s+(?:you|it)\s+)?
    (?:(?:mi|my|our|nuestra)\s+)?
    (?:(?:un|una|a|nota|puntuaci[oó]n|valoraci[oó]n|calificaci[oó]n|rating|score)\b\s*:?\s*)?
    (?P<score>[1-5])(?!\d)
    (?:\s*(?:/|de|sobre|out\s+of|of)\s*5(?!\d))?
    (?:\s*(?:estrellas?|stars?|puntos?|points?)\b)?
    (?P<tail>.*)$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
# Right after the number, these make it a quantity, a price, a date or a time: "5€", "5%",
# "5º", "5h", "5GB", "4,5", "5.12", "5/12", "5:30", "5-6".
_GLUED = re.compile(r"^(?:[^\W_]|[€$£%º°ª'’]|[.,:/\-–]\s?\d)")
# A first word after the number that counts something or starts a date: "3 cuentas…",
# "2 días sin web", "5 de diciembre", "1 pregunta más", "2 emails bounce".
_COUNTED_PHRASES = (
    "de del dia dias hora horas h hrs minuto minutos min mins segundo segundos semana semanas",
    "mes meses ano anos euro euros eur correo correos email emails mail mails mensaje mensajes",
    "cuenta cuentas dominio dominios web webs pagina paginas sitio sitios usuario usuarios vez",
    "veces error errores gb mb kb tb gigas megas persona personas equipo equipos archivo",
    "archivos fichero ficheros factura facturas pedido pedidos ticket tickets pregunta",
    "preguntas duda dudas cosa cosas problema problemas incidencia incidencias",
    "of day days hour hours minute minutes second seconds week weeks month months year years",
    "dollar dollars usd account accounts domain domains site sites website websites page pages",
    "user users time times people file files invoice invoices order orders message messages",
    "question questions thing things problem problems issue issues error errors am pm x € $ %",
)
_COUNTED = frozenset(word for phrase in _COUNTED_PHRASES for word in phrase.split())
_SEPARATORS = " \t.,;:!-–—)>*"
# A closing line that is not part of the comment: "Un saludo,", "Saludos", "Best regards".
_SIGN_OFF_PHRASES = (
    "un saludo saludos cordial cordiales atentamente abrazo abrazos",
    "best kind regards cheers sincerely yours",
)
_SIGN_OFF = frozenset(word for phrase in _SIGN_OFF_PHRASES for word in phrase.split())
_WORD = re.compile(r"[^\W_]+|[€$%]")
MAX_COMMENT = 300  # a longer text tells a story: for a person to read, not a rating


def read_rating(reply: str) -> Rated | None:
    """The rating that the reply (quoted history already cut) starts with: "5", "5 muy
    bien", "4 - todo correcto, gracias", "Un 3. Tardasteis un poco"; None when it does not
    start with a lone 1 to 5 or when what follows may be something to answer."""
    lines = without_greeting_and_signature(reply)
    if not lines:  # "5" above a bare name may all look like a signature: take it back
        lines = [line.strip() for line in reply.strip().splitlines() if line.strip()][:1]
    found = _RATING.match("\n".join(lines))
    if found is None or _GLUED.match(found.group("tail")):
        return None
    comment = _comment(found.group("tail"))
    if len(comment) > MAX_COMMENT or "?" in comment or NAMES_A_THING.search(comment):
        return None
    words = _WORD.findall(fold(comment))
    if words and words[0] in _COUNTED:
        return None
    return Rated(int(found.group("score")), comment)


def _comment(tail: str) -> str:
    lines = [line.strip() for line in tail.strip().lstrip(_SEPARATORS).splitlines()]
    while lines and (not lines[-1] or _signs_off(lines[-1])):
        lines.pop()
    return "\n".join(line for line in lines if line)


def _signs_off(line: str) -> bool:
    words = _WORD.findall(fold(line))
    return bool(words) and all(w in _SIGN_OFF for w in words)
