"""Did our own receiving server see DKIM or DMARC pass for the From domain? (RFC 8601, pure)"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_RESULT = re.compile(r"\b(dkim|dmarc)\s*=\s*([a-z]+)\b([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"\bheader\.(d|i|from)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)


@dataclass(frozen=True)
class AuthVerdict:
    passed: bool
    reason: str


def verify_sender(
    results: Sequence[str], trusted_ids: Sequence[str], from_domain: str
) -> AuthVerdict:
    """Read only the topmost header written by a trusted server: any header below it, or
    with another authserv-id, could have been written by the sender."""
    trusted = {t.lower() for t in trusted_ids}
    for header in results:
        authserv_id = header.split(";", 1)[0].strip().split()[0].lower() if header.strip() else ""
        if authserv_id in trusted:
            return _judge(header, authserv_id, from_domain.lower())
    return AuthVerdict(False, "no Authentication-Results header from a trusted server")


def _judge(header: str, authserv_id: str, domain: str) -> AuthVerdict:
    for method, result, rest in _RESULT.findall(header):
        if result.lower() != "pass":
            continue
        for prop, value in _PROPERTY.findall(rest):
            aligned = value.lower().rpartition("@")[2] == domain
            if aligned and (method.lower() == "dmarc") == (prop.lower() == "from"):
                return AuthVerdict(True, f"{authserv_id}: {method.lower()}=pass for {domain}")
    return AuthVerdict(False, f"{authserv_id}: no DKIM or DMARC pass for {domain}")
