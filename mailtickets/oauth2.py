"""OAuth2 access tokens for a mailbox's login: fetched, cached, refreshed before they expire."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mailtickets.config import reveal
from mailtickets.errors import TemporaryError
from mailtickets.settings import OAuth2Settings

# A token this close to its end is renewed first: a login, then an IDLE, may take a while.
MARGIN = timedelta(minutes=5)
# The lifetime assumed when the endpoint gives none (RFC 6749 makes expires_in optional).
DEFAULT_LIFETIME = timedelta(hours=1)
# The provider's error text is shown as it is, but never as more than one short line.
MAX_ERROR_TEXT = 300


# One refresh at a time in this process: two logins sharing a refresh_token_file must not
# both spend the same rotating refresh token.
_REFRESHING = threading.RLock()


class CredentialRefused(TemporaryError):
    """The provider refused the mailbox's credential (`invalid_grant`, an expired client
    secret): nothing will work until a person acts. Retried like any outage meanwhile."""


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: datetime


class TokenProvider:
    """Access tokens from `token_url`, cached; each subclass is one grant of RFC 6749."""

    def __init__(
        self,
        account: str,
        settings: OAuth2Settings,
        clock: Callable[[], datetime],
        timeout: float = 30.0,
    ) -> None:
        # `account` names the login in error lines: "mailbox soporte@…", "SMTP relay …".
        self.account, self.settings, self.clock = account, settings, clock
        self.timeout = timeout
        self._token: AccessToken | None = None
        self._lock = threading.Lock()  # the relay's thread and the mailbox's may both ask

    def token(self) -> str:
        """A token valid for at least MARGIN more, from the cache when it has one."""
        with self._lock, _REFRESHING:
            now = self.clock()
            if self._token is None or now + MARGIN >= self._token.expires_at:
                self._token = self._refresh(now)
            return self._token.value

    def forget(self) -> None:
        """The server refused the cached token (revoked, or its clock runs ahead of ours)."""
        with self._lock:
            self._token = None

    def _refresh(self, now: datetime) -> AccessToken:
        form = self._grant()
        form["client_id"] = self.settings.client_id
        secret = reveal(self.settings.client_secret)
        if secret:
            form["client_secret"] = secret
        if self.settings.scope:
            form["scope"] = self.settings.scope
        answer = self._post(form)
        value = answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise TemporaryError(f"{self._where()}: the answer holds no access_token")
        self._answered(form, answer)
        return AccessToken(value, now + _lifetime(answer.get("expires_in")))

    def _grant(self) -> dict[str, str]:
        raise NotImplementedError

    def _answered(self, form: dict[str, str], answer: dict[str, Any]) -> None:
        """What a grant keeps from a good answer besides the access token."""

    def _post(self, form: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.settings.token_url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _json(response.read())
        except urllib.error.HTTPError as exc:
            answer = _json(exc.read())
            if exc.code in (400, 401) and "error" in answer:
                # RFC 6749 §5.2: invalid_grant, invalid_client, unauthorized_client…
                raise CredentialRefused(
                    f"{self.account}: OAuth2 provider refused the credential: "
                    f"{_provider_text(answer)}"
                ) from None
            raise TemporaryError(f"{self._where()}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TemporaryError(f"{self._where()}: {reason}") from None

    def _where(self) -> str:
        return f"{self.account}: OAuth2 token endpoint {self.settings.token_url}"


class RefreshTokenProvider(TokenProvider):
    """The generic provider: the refresh token in `refresh_token_file` is exchanged at
    `token_url` (RFC 6749 §6); a rotated refresh token replaces the file's."""

    def _grant(self) -> dict[str, str]:
        return {"grant_type": "refresh_token", "refresh_token": self._read_refresh_token()}

    def _answered(self, form: dict[str, str], answer: dict[str, Any]) -> None:
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != form["refresh_token"]:
            save_secret_file(self._path(), rotated)

    def _path(self) -> Path:
        path = self.settings.refresh_token_file
        if path is None:  # config.py gives every generic provider one
            raise CredentialRefused(f"{self.account}: no refresh_token_file")
        return path

    def _read_refresh_token(self) -> str:
        path = self._path()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialRefused(
                f"{self.account}: cannot read refresh_token_file {path}: {exc.strerror}"
            ) from None
        if not token:
            raise CredentialRefused(f"{self.account}: refresh_token_file {path} is empty")
        return token


class ClientCredentialsProvider(TokenProvider):
    """Microsoft 365: the app's own token (RFC 6749 §4.4, what an Entra ID app registration
    with IMAP.AccessAsApp / SMTP.SendAsApp uses); nothing to keep between runs."""

    def _grant(self) -> dict[str, str]:
        return {"grant_type": "client_credentials"}


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _lifetime(expires_in: object) -> timedelta:
    if isinstance(expires_in, int | float | str) and not isinstance(expires_in, bool):
        try:
            seconds = float(expires_in)
        except ValueError:
            return DEFAULT_LIFETIME
        if seconds > 0:
            return timedelta(seconds=seconds)
    return DEFAULT_LIFETIME


def _provider_text(answer: dict[str, Any]) -> str:
    """The error code and its description as one line (the provider's own words)."""
    parts = [str(answer.get("error", "")), str(answer.get("error_description", ""))]
    text = ": ".join(p for p in parts if p)
    return " ".join(text.split())[:MAX_ERROR_TEXT]


def save_secret_file(path: Path, text: str) -> None:
    """Replace `path` by `text` at once (mode 0600): a crash leaves the old or the new file,
    never half of one, and never a file others may read."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


def token_provider(
    account: str, settings: OAuth2Settings, clock: Callable[[], datetime], timeout: float
) -> TokenProvider:
    """The provider `settings` names (config.py admits "generic" and "microsoft" so far)."""
    kind = ClientCredentialsProvider if settings.provider == "microsoft" else RefreshTokenProvider
    return kind(account, settings, clock, timeout)


_SHARED: dict[tuple[str, OAuth2Settings], TokenProvider] = {}


def shared_provider(
    account: str, settings: OAuth2Settings, clock: Callable[[], datetime], timeout: float
) -> TokenProvider:
    """One provider per login for the life of the process: each outbox flush opens its own
    connection, and must not ask the endpoint for a new token every time."""
    with _REFRESHING:
        key = (account, settings)
        if key not in _SHARED:
            _SHARED[key] = token_provider(account, settings, clock, timeout)
        return _SHARED[key]
