"""OAuth2 access tokens for a mailbox's login: fetched, cached, refreshed before they expire."""

from __future__ import annotations

import functools
import json
import os
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailtickets.config import check_service_account, reveal
from mailtickets.errors import TemporaryError
from mailtickets.settings import MICROSOFT_TOKEN_PATH, OAuth2Settings

# A token this close to its end is renewed first: a login, then an IDLE, may take a while.
MARGIN = timedelta(minutes=5)
# The lifetime assumed when the endpoint gives none (RFC 6749 makes expires_in optional).
DEFAULT_LIFETIME = timedelta(hours=1)
# The provider's error text is shown as it is, but never as more than one short line.
MAX_ERROR_TEXT = 300
# Entra ID's own words for "try again later" (RFC 6749 §5.2 has them too); not a refusal.
_TRANSIENT_ERRORS = ("temporarily_unavailable", "server_error")


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
    """Access tokens for one login, cached; each subclass is one way of asking for them."""

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
        raise NotImplementedError

    def _endpoint(self) -> str:
        return self.settings.token_url

    def _where(self) -> str:
        return f"{self.account}: OAuth2 token endpoint {self._endpoint()}"

    def _refused(self, text: str) -> CredentialRefused:
        return CredentialRefused(f"{self.account}: OAuth2 provider refused the credential: {text}")

    def _unreachable(self, exc: BaseException) -> TemporaryError:
        return TemporaryError(f"{self._where()}: {_root_reason(exc)}")


class RefreshTokenProvider(TokenProvider):
    """The generic provider: the refresh token in `refresh_token_file` is exchanged at
    `token_url` (RFC 6749 §6) with the standard library; a rotated one replaces the file's."""

    def _refresh(self, now: datetime) -> AccessToken:
        refresh = read_refresh_token(self.account, self.settings)
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
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
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh:
            save_secret_file(_refresh_path(self.account, self.settings), rotated)
        return AccessToken(value, now + _lifetime(answer.get("expires_in")))

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
                raise self._refused(_provider_text(answer)) from None
            raise TemporaryError(f"{self._where()}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TemporaryError(f"{self._where()}: {reason}") from None


class _GoogleGrant(TokenProvider):
    """What Google's two ways share: google-auth asks, its errors become ours."""

    def _ask_google(self, credentials: Any, now: datetime) -> AccessToken:
        import requests
        from google.auth import exceptions
        from google.auth.transport.requests import Request

        try:
            with requests.Session() as session:
                credentials.refresh(functools.partial(Request(session), timeout=self.timeout))
        except exceptions.RefreshError as exc:
            raise self._google_refusal(exc) from None
        except exceptions.TransportError as exc:
            raise self._unreachable(exc) from None
        value = credentials.token
        if not isinstance(value, str) or not value:
            raise TemporaryError(f"{self._where()}: the answer holds no access_token")
        return AccessToken(value, now + _google_lifetime(credentials.expiry))

    def _google_refusal(self, exc: Exception) -> TemporaryError:
        # google-auth raises RefreshError("error: description", answer) for an OAuth error,
        # and retries (then flags `retryable`) what RFC 6749 calls temporary.
        answer = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(answer, dict) and answer.get("error") and not getattr(exc, "retryable", 0):
            return self._refused(_provider_text(answer))
        said = str(exc.args[0]) if exc.args else type(exc).__name__
        return TemporaryError(f"{self._where()}: {_one_line(said)}")


class GoogleRefreshTokenProvider(_GoogleGrant):
    """Google with an OAuth client's refresh token (a user's consent to the Gmail scope)."""

    def _refresh(self, now: datetime) -> AccessToken:
        from google.oauth2.credentials import Credentials

        refresh = read_refresh_token(self.account, self.settings)
        credentials = Credentials(
            None,
            refresh_token=refresh,
            token_uri=self.settings.token_url,
            client_id=self.settings.client_id,
            client_secret=reveal(self.settings.client_secret),
            scopes=[self.settings.scope],
        )
        token = self._ask_google(credentials, now)
        rotated = credentials.refresh_token
        if isinstance(rotated, str) and rotated and rotated != refresh:
            save_secret_file(_refresh_path(self.account, self.settings), rotated)
        return token


class GoogleServiceAccountProvider(_GoogleGrant):
    """Google Workspace: a service account with domain-wide delegation signs a JWT (RFC 7523)
    asking for the token of the mailbox user `subject`; its key file names the endpoint."""

    _token_uri = ""  # the key file's, once read

    def _refresh(self, now: datetime) -> AccessToken:
        from google.oauth2 import service_account

        info = check_service_account(self.settings.service_account)
        self._token_uri = str(info["token_uri"])
        try:
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=[self.settings.scope], subject=self.settings.subject
            )
        except ValueError as exc:  # e.g. a private key that is not one; never its text
            key = self.settings.service_account.value
            raise CredentialRefused(
                f"{self.account}: service_account_file {key}: {_one_line(str(exc))}"
            ) from None
        return self._ask_google(credentials, now)

    def _endpoint(self) -> str:
        return self._token_uri


class MicrosoftProvider(TokenProvider):
    """Microsoft 365 through msal: the app's own token (client credentials, what an Entra ID
    app registration with IMAP.AccessAsApp / SMTP.SendAsApp uses); nothing kept between runs."""

    def _refresh(self, now: datetime) -> AccessToken:
        import msal
        import requests

        try:
            # A new application each time: msal's token cache would give back the very token
            # the server has just refused. The authority is the one the config names, so
            # msal's instance discovery (a question to login.microsoftonline.com) is left out.
            app = msal.ConfidentialClientApplication(
                self.settings.client_id,
                client_credential=reveal(self.settings.client_secret),
                authority=self.settings.token_url.removesuffix(MICROSOFT_TOKEN_PATH),
                instance_discovery=False,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        except ValueError as exc:  # msal's words for a tenant its authority does not know
            raise self._refused(_one_line(str(exc))) from None
        try:
            answer = app.acquire_token_for_client(scopes=[self.settings.scope])
        except (requests.RequestException, ValueError) as exc:  # ValueError: not JSON
            raise self._unreachable(exc) from None
        return self._answered(answer, now)

    def _answered(self, answer: dict[str, Any], now: datetime) -> AccessToken:
        value = answer.get("access_token")
        if isinstance(value, str) and value:
            return AccessToken(value, now + _lifetime(answer.get("expires_in")))
        if answer.get("error") in _TRANSIENT_ERRORS:
            raise TemporaryError(f"{self._where()}: {_provider_text(answer)}")
        if answer.get("error"):
            # invalid_client (AADSTS7000222: the secret expired), unauthorized_client…
            raise self._refused(_provider_text(answer))
        raise TemporaryError(f"{self._where()}: the answer holds no access_token")


def read_refresh_token(account: str, settings: OAuth2Settings) -> str:
    """The refresh token in the login's refresh_token_file; CredentialRefused when none."""
    path = _refresh_path(account, settings)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialRefused(
            f"{account}: cannot read refresh_token_file {path}: {exc.strerror}"
        ) from None
    if not token:
        raise CredentialRefused(f"{account}: refresh_token_file {path} is empty")
    return token


def _refresh_path(account: str, settings: OAuth2Settings) -> Path:
    if settings.refresh_token_file is None:  # config.py gives every refresh-token login one
        raise CredentialRefused(f"{account}: no refresh_token_file")
    return settings.refresh_token_file


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


def _google_lifetime(expiry: object) -> timedelta:
    """google-auth keeps the end as a naive UTC time; what is left of it, in whole seconds."""
    if not isinstance(expiry, datetime):
        return DEFAULT_LIFETIME
    left = expiry - datetime.now(UTC).replace(tzinfo=None)
    return _lifetime(round(left.total_seconds()))


def _provider_text(answer: dict[str, Any]) -> str:
    """The error code and its description as one line (the provider's own words)."""
    parts = [str(answer.get("error", "")), str(answer.get("error_description", ""))]
    return _one_line(": ".join(p for p in parts if p))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_ERROR_TEXT]


def _root_reason(exc: BaseException) -> str:
    """The innermost cause of a transport failure ("Connection refused", "timed out", a
    certificate that does not verify), not the wrappers' repr of pools and URLs."""
    for _ in range(20):
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    if isinstance(exc, OSError) and exc.strerror:
        return _one_line(exc.strerror)
    return _one_line(str(exc) or type(exc).__name__)


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


def _provider_class(settings: OAuth2Settings) -> type[TokenProvider]:
    if settings.provider == "microsoft":
        return MicrosoftProvider
    if settings.provider == "google" and settings.service_account.kind:
        return GoogleServiceAccountProvider
    if settings.provider == "google":
        return GoogleRefreshTokenProvider
    return RefreshTokenProvider


def token_provider(
    account: str, settings: OAuth2Settings, clock: Callable[[], datetime], timeout: float
) -> TokenProvider:
    """The provider `settings` names: generic, microsoft, or google (either way)."""
    return _provider_class(settings)(account, settings, clock, timeout)


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
