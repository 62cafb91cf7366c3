"""What a server's certificate says: until when, and for which names (pure).

Read from the DER bytes the TLS handshake hands over, so a certificate that fails
verification (expired, wrong name, unknown CA) still tells its dates and names. Only the
few fields the checks need are walked (RFC 5280 §4.1); anything else is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address

_SEQUENCE, _SET, _OID, _OCTETS, _BOOLEAN = 0x30, 0x31, 0x06, 0x04, 0x01
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_VERSION, _EXTENSIONS = 0xA0, 0xA3
_DNS_NAME, _IP_ADDRESS = 0x82, 0x87
_SUBJECT_ALT_NAME = bytes([0x55, 0x1D, 0x11])  # 2.5.29.17
_COMMON_NAME = bytes([0x55, 0x04, 0x03])  # 2.5.4.3


@dataclass(frozen=True)
class CertFacts:
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]  # subjectAltName DNS names and IP addresses
    subject_cn: str = ""


class BadCertificate(ValueError):
    """The bytes are not a certificate this reader understands."""


def read_certificate(der: bytes) -> CertFacts:
    """The validity and names of a DER X.509 certificate; BadCertificate if unreadable."""
    try:
        certificate = _only(der, _SEQUENCE)
        tbs = _items(_first(certificate, _SEQUENCE))
        if tbs and tbs[0][0] == _VERSION:
            tbs = tbs[1:]
        # serial, signature algorithm, issuer, validity, subject, public key, extensions…
        validity = _items(tbs[3][1])
        subject = tbs[4][1]
        extensions = next((value for tag, value in tbs[6:] if tag == _EXTENSIONS), b"")
        return CertFacts(
            not_before=_time(*validity[0]),
            not_after=_time(*validity[1]),
            names=_alt_names(extensions),
            subject_cn=_common_name(subject),
        )
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise BadCertificate(f"unreadable certificate: {exc}") from exc


def name_matches(host: str, names: tuple[str, ...]) -> bool:
    """Is `host` one of `names`, a wildcard covering only its left-most label (RFC 6125)?"""
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            label, rest = host.split(".", 1)
            if rest == name[2:] and label and _is_name(host):
                return True
    return False


def days_between(now: datetime, then: datetime) -> int:
    """Whole days from `now` to `then` (negative once `then` has passed)."""
    seconds = (then - now).total_seconds()
    return int(seconds // 86400) if seconds >= 0 else -int(-seconds // 86400)


def _is_name(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return True
    return False


def _tlv(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, value, where the next element starts) of the DER element at `at`."""
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4:
            raise ValueError("bad length")
        length, at = int.from_bytes(data[at : at + size], "big"), at + size
    if at + length > len(data):
        raise ValueError("element runs past the end")
    return tag, data[at : at + length], at + length


def _items(data: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(data):
        tag, value, at = _tlv(data, at)
        out.append((tag, value))
    return out


def _only(data: bytes, tag: int) -> bytes:
    found, value, end = _tlv(data, 0)
    if found != tag or end != len(data):
        raise ValueError("not one DER sequence")
    return value


def _first(data: bytes, tag: int) -> bytes:
    found, value, _ = _tlv(data, 0)
    if found != tag:
        raise ValueError(f"expected tag {tag:#x}, found {found:#x}")
    return value


def _time(tag: int, value: bytes) -> datetime:
    text = value.decode("ascii")
    if tag == _UTC_TIME:  # YYMMDDHHMMSSZ, years 1950-2049 (RFC 5280 §4.1.2.5.1)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise ValueError("not a time")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def _alt_names(extensions: bytes) -> tuple[str, ...]:
    if not extensions:
        return ()
    for _, extension in _items(_first(extensions, _SEQUENCE)):
        parts = _items(extension)
        if parts[0] == (_OID, _SUBJECT_ALT_NAME):
            value = next(v for t, v in parts[1:] if t == _OCTETS)
            return tuple(_general_name(t, v) for t, v in _items(_first(value, _SEQUENCE)))
    return ()


def _general_name(tag: int, value: bytes) -> str:
    if tag == _DNS_NAME:
        return value.decode("ascii")
    if tag == _IP_ADDRESS and len(value) in (4, 16):
        return str(ip_address(value))
    return ""


def _common_name(subject: bytes) -> str:
    for _, rdn in _items(subject):
        for _, pair in _items(rdn):
            parts = _items(pair)
            if parts[0] == (_OID, _COMMON_NAME):
                return parts[1][1].decode("utf-8", "replace")
    return ""
