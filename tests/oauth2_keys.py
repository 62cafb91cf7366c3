"""Google service-account keys and the RS256 JWTs they sign, checked the way Google's token
endpoint checks them (RFC 7523), for TokenServer's JWT-bearer grant."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Every service-account JWT is addressed to Google's token endpoint, wherever it is sent.
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
# Google's own answers, so the tests see the lines an administrator would.
BAD_SIGNATURE = "Invalid JWT Signature."
BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)
NOT_DELEGATED = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)


@dataclass
class ServiceAccount:
    """What the token endpoint knows of one service account: its public key, and the scopes
    an administrator granted its client ID (Admin console → Security → API controls →
    Domain-wide delegation)."""

    email: str
    key_id: str
    public_key: rsa.RSAPublicKey
    delegated_scopes: set[str] = field(default_factory=set)


def new_service_account(email: str, token_uri: str) -> tuple[dict[str, str], ServiceAccount]:
    """A fresh RSA key as the Google Cloud console hands it out (the JSON key file's fields),
    and the public half for the token endpoint."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_id = secrets.token_hex(20)
    info = {
        "type": "service_account",
        "project_id": "mailtickets-test",
        "private_key_id": key_id,
        "private_key": pem.decode(),
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "token_uri": token_uri,
    }
    return info, ServiceAccount(email, key_id, key.public_key())


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified_claims(
    assertion: str, accounts: dict[str, ServiceAccount], now: float
) -> dict[str, Any] | str:
    """The JWT's claims once its signature, issuer, audience and times hold; else the
    `invalid_grant` description Google would give."""
    try:
        head, body, signature = assertion.split(".")
        header, claims = json.loads(_decode(head)), json.loads(_decode(body))
        raw_signature = _decode(signature)
    except (ValueError, binascii.Error):
        return BAD_SIGNATURE
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return BAD_SIGNATURE
    account = accounts.get(str(claims.get("iss")))
    if account is None or header.get("alg") != "RS256" or header.get("kid") != account.key_id:
        return BAD_SIGNATURE
    try:
        signed = f"{head}.{body}".encode()
        account.public_key.verify(raw_signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return BAD_SIGNATURE
    if claims.get("aud") != GOOGLE_AUDIENCE:
        return f"Invalid JWT: audience {claims.get('aud')!r} is not {GOOGLE_AUDIENCE}"
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or not isinstance(expires, int):
        return BAD_TIMES
    if not issued - 60 <= now < expires or expires - issued > 3600:
        return BAD_TIMES
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        return "Invalid email or User ID"
    return claims
