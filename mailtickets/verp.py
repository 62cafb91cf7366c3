"""Signed VERP envelope senders: which of our mails a bounce is about, unforgeably (pure)."""

from __future__ import annotations

import hashlib
import hmac
import re

TOKEN_LENGTH = 16  # hex digits: 64 bits of HMAC-SHA256
_VERP = re.compile(rf"\+b-(\d+)-([0-9a-f]{{{TOKEN_LENGTH}}})@", re.IGNORECASE)


def token(key: str, outbox_id: int, message_id: str) -> str:
    """HMAC of the outgoing mail's id and Message-ID under the site's secret key: knowing a
    mail we sent (its Message-ID) is not enough to forge a bounce for it."""
    data = f"{outbox_id}:{message_id}".encode()
    return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()[:TOKEN_LENGTH]


def address(from_address: str, key: str, outbox_id: int, message_id: str) -> str:
    """soporte+b-<id>-<token>@domain for the mail `outbox_id`."""
    local, _, domain = from_address.partition("@")
    return f"{local}+b-{outbox_id}-{token(key, outbox_id, message_id)}@{domain}"


def parse(text: str) -> tuple[int, str] | None:
    """The outbox id and token a VERP address carries, if `text` holds one."""
    match = _VERP.search(text)
    return (int(match.group(1)), match.group(2).lower()) if match else None


def valid(key: str, outbox_id: int, message_id: str, claimed: str) -> bool:
    return hmac.compare_digest(token(key, outbox_id, message_id), claimed.lower())
