"""Decide what an incoming mail does to the tickets (pure: plain data in, Decision out)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from mailtickets.codes import strip_reply_prefixes
from mailtickets.routing import fold
from mailtickets.triage import Triage


class Action(StrEnum):
    NEW = "new"  # open a ticket
    APPEND = "append"  # a customer-side mail added to a ticket
    STAFF_REPLY = "staff_reply"  # a staff answer to relay
    STORE_ONLY = "store_only"  # machine mail added to its ticket, nobody told
    IGNORE = "ignore"  # kept in the inbound table only
    LIST_TICKETS = "list_tickets"  # a contact asked for their tickets by mail
    UNVERIFIED_STAFF = "unverified_staff"  # a staff address that failed authentication
    UNIDENTIFIED = "unidentified"  # From names no single mailbox: kept, staff told
    RATE = "rate"  # a rating of the ticket's closing (SPEC §12): recorded, stays closed


@dataclass(frozen=True)
class TicketView:
    """What the decision needs to know about a ticket."""

    id: int
    code: str
    status: str
    customer_id: int
    requester: str
    participants: frozenset[str]
    closed_at: datetime | None


@dataclass(frozen=True)
class Thread:
    """The ticket the mail points at, and how it was found ('' when none)."""

    ticket: TicketView | None
    found_by: str


@dataclass(frozen=True)
class Sender:
    email: str
    is_staff: bool
    customer_id: int | None
    unverified: str = ""  # why a staff address was not trusted; "" when it was or is none
    unidentified: str = ""  # why the mail has no usable sender ("" when it has one)
    verified: bool = True  # DKIM/DMARC passed at a trusted server, or none is configured
    authorised: bool = False  # a contact with the notify flag: may hear of all its tickets


@dataclass(frozen=True)
class Rated:
    """A satisfaction rating read from a reply (rating.read_rating): 1 to 5, and any words."""

    score: int
    comment: str = ""


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    ticket: TicketView | None = None
    linked_to: TicketView | None = None
    reopen: bool = False
    # The sender's customer: whose tickets LIST_TICKETS lists, for whom NEW opens a ticket
    # (None: a stranger).
    customer_id: int | None = None
    copies_verified: bool = True  # To/Cc of a verified mail may join the ticket
    rating: Rated | None = None  # what an Action.RATE records


def find_thread(by_code: TicketView | None, by_reference: TicketView | None) -> Thread:
    """SPEC §4: the code in the subject wins, then In-Reply-To/References, else none."""
    if by_code is not None:
        return Thread(by_code, f"code {by_code.code} in subject")
    if by_reference is not None:
        return Thread(by_reference, "In-Reply-To/References")
    return Thread(None, "")


def may_write(sender: Sender, ticket: TicketView) -> bool:
    """Requester, the customer's contacts, participants and staff may add to a ticket."""
    return (
        sender.is_staff
        or sender.email == ticket.requester
        or sender.email in ticket.participants
        or (sender.customer_id is not None and sender.customer_id == ticket.customer_id)
    )


def may_rate(sender: Sender, ticket: TicketView) -> bool:
    """The requester or an authorised contact of the ticket's customer (as for #cerrar)."""
    return sender.email == ticket.requester or (
        sender.authorised and sender.customer_id == ticket.customer_id
    )


LIST_SUBJECTS = frozenset({"tickets", "mis tickets", "estado", "my tickets", "status"})
# "How are my requests going?", folded, in Spanish and English: a body made only of these
# words asks for the list. Anything else (a domain, an error, a service, a number, "cerrar")
# is something for a person to read: no word here asks for anything but the list.
_STATUS_PHRASES = (
    "hola buenas buenos dias tardes equipo soporte",
    "me nos podeis podrias podria podrian puedes puede pueden podriais",
    "decir decirme deciros indicar indicarme indicadme informar informarme informadme",
    "saber sabeis ver conocer quiero quisiera queria querria gustaria algo novedades pasa",
    "enviar enviarme enviadme mandar mandarme mandadme pasar pasarme pasadme",
    "como que cual cuales cuantos cuantas tal va van esta estan anda andan sigue siguen es son",
    "el la los las lo ellos ellas mi mis nuestro nuestra nuestros nuestras",
    "tickets ticket consultas consulta peticiones peticion solicitudes solicitud",
    "incidencias incidencia casos caso estado situacion lista listado resumen",
    "abiertos abiertas abierto abierta pendientes pendiente activos activas curso",
    "tengo tenemos tiene hay todos todas y o e a en de del con por favor ok vale",
    "gracias muchas mil antemano un una saludo saludos cordial cordiales atentamente abrazo",
    "hi hello hey dear there team support good morning afternoon",
    "could can would you please tell let know show send give get",
    "what whats s is are the status state of my our requests request cases case issues issue",
    "how going doing open pending all i we have do any update updates latest on in",
    "thanks thank regards kind best many advance cheers sincerely a an and or list summary",
)
STATUS_WORDS = frozenset(word for phrase in _STATUS_PHRASES for word in phrase.split())
_WORD = re.compile(r"[^\W_]+")
# A digit, an address, a URL or a domain: the mail is about something in particular.
NAMES_A_THING = re.compile(r"\d|@|://|www\.|[^\W_]\.[^\W\d_]{2,}")
_GREETINGS = frozenset(
    {"hola", "buenas", "buenos", "estimados", "estimado", "estimada", "hello", "hi", "hey", "dear"}
)
_PHONE = re.compile(
    r"(?:(?:tel|tlf|telf|telefono|movil|phone|mobile|mob)\.?:?\s*)?\+?[\d\s().-]{9,}"
)
_SENT_FROM = ("enviado desde", "sent from my", "get outlook for", "obtener outlook para")


def asks_for_list(subject: str) -> bool:
    """The subject alone asks for the list of tickets ('tickets', 'mis tickets', 'estado'…)."""
    return fold(strip_reply_prefixes(subject)).strip(" .:!?¿¡") in LIST_SUBJECTS


def is_list_request(subject: str, text: str = "") -> bool:
    """The subject asks for the list ('tickets', 'mis tickets', 'estado'…) and the body,
    greeting and signature aside, says nothing more ("gracias") or only asks how the
    sender's requests are going ("¿Me podéis decir cómo van mis consultas?"). A body that
    says anything else, names a domain, a URL, an error or a number, or tells a longer story
    ("Estado: ¿cómo va el traslado de midominio.es?") is a request: it opens a ticket."""
    if not asks_for_list(subject):
        return False
    body = "\n".join(without_greeting_and_signature(text))
    if NAMES_A_THING.search(body):
        return False
    return all(word in STATUS_WORDS for word in _WORD.findall(fold(body)))


# A reply that says only this (greeting and signature aside) thanks, and asks for nothing:
# one of THANKS_WORDS and nothing outside FILLER_WORDS (SPEC §12: thanks do not reopen).
_THANKS_PHRASES = ("gracias agradezco agradecido agradecida", "thanks thank thx ty")
_FILLER_PHRASES = (
    "muchas muchisimas mil millones de nuevo todo todos todas ok okey okay vale perfecto",
    "genial estupendo fenomenal bien muy un una saludo saludos abrazo cordial cordiales",
    "atentamente por la ayuda rapidez vuestra tu su os te le y hola buenas buenos dias",
    "tardes noches equipo soporte you very much so a lot many again for the help your",
    "great perfect cheers regards best kind all hi hello team support",
)
THANKS_WORDS = frozenset(word for phrase in _THANKS_PHRASES for word in phrase.split())
FILLER_WORDS = THANKS_WORDS | frozenset(w for phrase in _FILLER_PHRASES for w in phrase.split())


def only_thanks(text: str) -> bool:
    """The reply (quoted history already cut) only thanks: "gracias", "¡Muchas gracias!",
    "ok, gracias", "Thanks!" with a greeting and a signature; anything more is not."""
    lines = without_greeting_and_signature(text)
    if not lines:  # "Gracias." alone looks like a signed name: take the first line back
        lines = [line for line in text.strip().splitlines() if line.strip()][:1]
    body = "\n".join(lines)
    if NAMES_A_THING.search(body) or "?" in body:
        return False
    words = _WORD.findall(fold(body))
    return (
        bool(words)
        and any(w in THANKS_WORDS for w in words)
        and all(w in FILLER_WORDS for w in words)
    )


def without_greeting_and_signature(text: str) -> list[str]:
    """The reply's lines, stripped, without its greeting line, signature and blank lines."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    if "--" in lines:  # the signature separator "-- " (stripped)
        lines = lines[: lines.index("--")]
    lines = [line for line in lines if line and not fold(line).startswith(_SENT_FROM)]
    if lines and _is_greeting(lines[0]):
        lines = lines[1:]
    # Trailing name, phone and web lines are a signature from its first name on: a bare
    # "midominio.es" or "Error 500" with no name above it is what the mail is about.
    start = len(lines)
    while start and _signature_line(lines[start - 1]):
        start -= 1
    names = [i for i in range(start, len(lines)) if _name_like(lines[i].split())]
    if names:
        lines = lines[: names[0]]
    if lines:
        head, comma, tail = lines[-1].rpartition(",")
        if comma and head and _name_like(tail.split()):  # "Un saludo, Laura Martínez"
            lines[-1] = head
    return lines


def _is_greeting(line: str) -> bool:
    """'Hola Ana,' or 'Buenos días,' or 'Dear support team,' alone on the first line."""
    words = line.split()
    first = fold(words[0]).strip(",.:;!¡")
    rest = words[1:]
    return (
        "?" not in line
        and first in _GREETINGS
        and all(fold(w).strip(",.:;!¡") in STATUS_WORDS or _name_like([w]) for w in rest)
    )


def _signature_line(line: str) -> bool:
    if "?" in line:
        return False
    folded = fold(line)
    is_web = len(line.split()) == 1 and bool(NAMES_A_THING.search(line))
    return _name_like(line.split()) or bool(_PHONE.fullmatch(folded)) or is_web


def _name_like(words: list[str]) -> bool:
    """'Laura Martínez', 'Floristería Laura S.L.': a few capitalised words, no digits."""
    named = [w.lstrip("¿¡(\"'") for w in words if any(c.isalnum() for c in w)]
    return 0 < len(named) <= 5 and all(
        w[:1].isupper() and not any(c.isdigit() for c in w) for w in named
    )


def decide(
    thread: Thread,
    sender: Sender,
    verdict: Triage,
    now: datetime,
    reopen_within: timedelta,
    wants_list: bool = False,
    thanks: bool = False,
    rating: Rated | None = None,
) -> Decision:
    """What to do with one mail; the reason names the rule that chose. `thanks`: the reply
    only thanks (only_thanks); `rating`: it starts with a rating (rating.read_rating). A
    closed ticket keeps either without reopening, a rating only from whoever may rate."""
    decision = _decide(thread, sender, verdict, now, reopen_within, wants_list, thanks, rating)
    if decision.action is Action.NEW:  # the handler need not look the sender up again
        decision = replace(decision, customer_id=sender.customer_id)
    return replace(decision, copies_verified=sender.verified)


def _decide(
    thread: Thread,
    sender: Sender,
    verdict: Triage,
    now: datetime,
    reopen_within: timedelta,
    wants_list: bool,
    thanks: bool = False,
    rating: Rated | None = None,
) -> Decision:
    ticket = thread.ticket
    if sender.unverified and not verdict.automatic:
        return Decision(
            Action.UNVERIFIED_STAFF, f"staff address not authenticated: {sender.unverified}", ticket
        )
    if verdict.automatic:
        why = "; ".join(verdict.reasons)
        # A robot joins a ticket only as a bounce of our own mail or on behalf of someone
        # who may write to it: a fake auto-reply must not slip text into a stranger's ticket.
        if ticket is not None and (
            thread.found_by.startswith("bounce") or may_write(sender, ticket)
        ):
            return Decision(Action.STORE_ONLY, f"automatic mail ({why})", ticket)
        return Decision(Action.IGNORE, f"automatic mail ({why})")
    if sender.unidentified:
        # A code in the subject is no key: who wrote this cannot be told, so it touches no
        # ticket and gets no automatic answer.
        return Decision(Action.UNIDENTIFIED, f"unidentified sender: {sender.unidentified}")
    if ticket is None:
        if sender.is_staff:
            return Decision(Action.IGNORE, "staff mail that names no ticket")
        if wants_list and sender.customer_id is not None and sender.authorised:
            # Only an authorised contact hears of the account's tickets (SPEC §8).
            return Decision(
                Action.LIST_TICKETS,
                "an authorised contact asked for their tickets",
                customer_id=sender.customer_id,
            )
        return Decision(Action.NEW, "no ticket code or reference")
    if not may_write(sender, ticket):
        return Decision(
            Action.NEW,
            f"{sender.email} may not write to {ticket.code}: new ticket linked to it",
            linked_to=ticket,
        )
    if sender.is_staff:
        return Decision(Action.STAFF_REPLY, f"staff answer ({thread.found_by})", ticket)
    if ticket.status == "closed":
        # A rating is of the latest closing (closed_at), from whoever may close the ticket;
        # anyone else's rating-like reply is an ordinary reply (SPEC §12).
        if rating is not None and ticket.closed_at is not None and may_rate(sender, ticket):
            closing = ticket.closed_at.isoformat(timespec="minutes")
            why = f"rating {rating.score} of the closing of {closing}: the ticket stays closed"
            return Decision(Action.RATE, why, ticket, rating=rating)
        if thanks:
            return Decision(Action.STORE_ONLY, "only thanks: kept, the ticket stays closed", ticket)
        return _closed(ticket, thread, now, reopen_within)
    return Decision(Action.APPEND, f"customer reply ({thread.found_by})", ticket)


def _closed(ticket: TicketView, thread: Thread, now: datetime, within: timedelta) -> Decision:
    if ticket.closed_at is None or now - ticket.closed_at <= within:
        return Decision(
            Action.APPEND, f"reply within {within} of closing reopens it", ticket, reopen=True
        )
    return Decision(
        Action.NEW,
        f"{ticket.code} closed more than {within} ago: new linked ticket",
        linked_to=ticket,
    )


def status_after(action: Action, current: str, reopen: bool) -> str:
    """SPEC §4 status machine: new stays new until staff answers; replies reopen."""
    if action is Action.STAFF_REPLY:
        return "waiting"
    if action is Action.APPEND:
        if reopen:
            return "open"
        return "new" if current == "new" else "open"
    return current
