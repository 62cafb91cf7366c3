"""Read the TOML configuration once into the frozen settings of `settings.py`, validated."""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import replace
from datetime import date, time, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mailtickets.addresses import plain_address
from mailtickets.article_files import site_articles
from mailtickets.assistant.safety import parse_networks
from mailtickets.assistant.settings import ChecksSettings
from mailtickets.business_hours import parse_weekly
from mailtickets.durations import parse_duration
from mailtickets.errors import ConfigError
from mailtickets.settings import (
    AUTH_MODES,
    GOOGLE_SCOPE,
    GOOGLE_TOKEN_URL,
    LOCALES,
    MICROSOFT_SCOPE,
    MICROSOFT_TOKEN_PATH,
    MICROSOFT_TOKEN_URL,
    OAUTH2_MECHANISMS,
    OAUTH2_PROVIDERS,
    OFFICE_HOURS,
    SECURITY_MODES,
    UNKNOWN_SENDER_POLICIES,
    Department,
    DigestSettings,
    HoursSettings,
    ImapSettings,
    Limits,
    MailboxSettings,
    MetricsSettings,
    OAuth2Settings,
    PolicySettings,
    Secret,
    Settings,
    SmtpSettings,
    Staff,
    TicketSettings,
    TimerSettings,
    Weekly,
    split_listen,
)
from mailtickets.spam import HEADER_NAME

# The keys of `auth = "oauth2"` (SPEC §3); a secret's three spellings follow the password's.
_MAILBOX_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # metrics label, log word
_OAUTH2_KEYS = (
    "oauth2_provider",
    "tenant_id",
    "client_id",
    "client_secret",
    "client_secret_file",
    "client_secret_env",
    "refresh_token_file",
    "token_url",
    "scope",
    "service_account_file",
    "subject",
    "oauth2_mechanism",
)
# A relay's login: a mailbox's [mailboxes.smtp] that names one of these gives its own.
_LOGIN_KEYS = frozenset(
    ("username", "password", "password_file", "password_env", "auth", *_OAUTH2_KEYS)
)
# What a relay key is when [smtp] does not say (host and from_address it must say).
_SMTP_DEFAULTS = SmtpSettings(host="", port=0, security="starttls", from_address="")
# Keys that only some providers take; the others refuse them in one line.
_PROVIDER_KEYS = {"tenant_id": ("microsoft",), "service_account_file": ("google",)}
_CLIENT_KEYS = ("client_id", "client_secret", "client_secret_file", "client_secret_env")
# What the Google Cloud console's JSON key holds that google-auth needs.
_SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")


def reveal(secret: Secret) -> str:
    """The password itself, read now; ConfigError names the file and key when it cannot be."""
    if secret.kind == "env":
        if secret.value not in os.environ:
            raise ConfigError(f"{secret.where}: environment variable {secret.value} is not set")
        return os.environ[secret.value]
    if secret.kind == "file":
        try:
            return Path(secret.value).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{secret.where}: cannot read {secret.value}: {exc.strerror}"
            ) from None
    return secret.value


def check_secrets(settings: Settings) -> None:
    """Read every mail secret once, so `run` and `sweep` refuse a bad one at start."""
    logins = [settings.smtp] + [
        part for box in settings.mailbox_list for part in (box.imap, box.smtp)
    ]
    for login in logins:
        reveal(login.password)
    for oauth2 in (login.oauth2 for login in logins):
        if oauth2 is None:
            continue
        reveal(oauth2.client_secret)
        if oauth2.service_account.kind:
            check_service_account(oauth2.service_account)
        if oauth2.refresh_token_file is None:
            continue
        if not os.access(oauth2.refresh_token_file, os.R_OK | os.W_OK):
            # Read now, and rewritten when the endpoint rotates the token.
            raise ConfigError(
                f"{oauth2.where} refresh_token_file: cannot read and write "
                f"{oauth2.refresh_token_file}"
            )


def check_service_account(key: Secret) -> dict[str, Any]:
    """The service account's JSON key, read now; one line (never its content) when it is not
    the file the Google Cloud console gives."""
    try:
        info = json.loads(reveal(key))
    except ValueError:
        info = None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigError(
            f'{key.where}: {key.value} is not a service account key (JSON with "type": '
            '"service_account"; download one in the Google Cloud console, IAM → Service '
            "accounts → Keys)"
        )
    for name in _SERVICE_ACCOUNT_FIELDS:
        if not isinstance(info.get(name), str) or not info[name]:
            raise ConfigError(f"{key.where}: {key.value} has no {name}: download a new key")
    return info


def default_config_path() -> Path:
    """$MAILTICKETS_CONFIG, else ./config.toml."""
    return Path(os.environ.get("MAILTICKETS_CONFIG") or "config.toml")


def load_settings(path: Path) -> Settings:
    """Read and validate `path`; ConfigError names the file and the key on any fault."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found; copy config.example.toml there "
            "or pass --config FILE"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    return _Reader(path, data).settings()


class _Section:
    """Typed access to one table; remembers which keys were read to refuse unknown ones."""

    def __init__(self, path: Path, name: str, data: Any) -> None:
        self.path, self.name = path, name
        if not isinstance(data, dict):
            raise self.error("", "must be a table")
        self.data: dict[str, Any] = data
        self.seen: set[str] = set()

    def error(self, key: str, problem: str) -> ConfigError:
        where = f"{self.name} {key}".strip()
        return ConfigError(f"{self.path}: {where}: {problem}")

    def get(self, key: str, kind: type, default: Any = ...) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise self.error(key, "missing (required)")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, f"expected {kind.__name__}, got {value!r}")
        return value

    def text(self, key: str, default: Any = ...) -> str:
        return str(self.get(key, str, default))

    def weekly(self, key: str, default: Weekly | None) -> Weekly | None:
        raw = self.get(key, str, None)
        if raw is None:
            return default
        try:
            return parse_weekly(raw)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def dates(self, key: str) -> frozenset[date]:
        values = self.get(key, list, [])
        try:
            return frozenset(
                v if isinstance(v, date) else date.fromisoformat(str(v)) for v in values
            )
        except ValueError:
            raise self.error(key, f'{values!r}: write dates as "2026-12-24"') from None

    def duration(self, key: str, default: Any) -> Any:
        raw = self.get(key, str, None)
        if raw is None:
            return default
        try:
            value = parse_duration(raw)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        except OverflowError:
            raise self.error(key, f"{raw!r} is too long a duration") from None
        if value <= timedelta():
            raise self.error(key, "must be longer than zero")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def port(self, key: str, default: int) -> int:
        value = int(self.get(key, int, default))
        if not 0 < value < 65536:
            raise self.error(key, f"{value} is not a TCP port (1-65535)")
        return value

    def address(self, key: str, default: Any = ...) -> str:
        return self.check_address(key, self.text(key, default))

    def addresses(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        return tuple(self.check_address(key, v) for v in values)

    def check_address(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected an email address, got {value!r}")
        address = plain_address(value)
        if address is None:
            raise self.error(key, f"{value!r} is not an email address like soporte@example.com")
        return address

    def secret(self, required: bool, name: str = "password") -> Secret:
        """`name`, `name`_file or `name`_env: exactly one of them (read on use)."""
        keys = (name, f"{name}_file", f"{name}_env")
        given = [k for k in keys if k in self.data]
        self.seen.update(keys)
        if len(given) > 1:
            raise self.error(given[1], f"give only one of {', '.join(given)}")
        if not given:
            if required:
                raise self.error(name, f"missing: set {', '.join(keys[:2])} or {keys[2]}")
            return Secret()
        key = given[0]
        value = str(self.get(key, str))
        where = f"{self.path}: {self.name} {key}"
        if key == f"{name}_file":
            value = str((self.path.parent / value).resolve())
        return Secret(key.removeprefix(f"{name}_") if key != name else "value", value, where)

    def refuse(self, keys: tuple[str, ...], why: str) -> None:
        """Keys that make no sense here (e.g. a password with auth = "oauth2")."""
        for key in keys:
            if key in self.data:
                raise self.error(key, why)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key (see config.example.toml)")


class _Reader:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    def section(self, name: str, required: bool = True) -> _Section:
        if name not in self.data and required:
            raise ConfigError(f"{self.path}: [{name}]: missing section")
        return _Section(self.path, f"[{name}]", self.data.get(name, {}))

    def settings(self) -> Settings:
        known = {
            "imap",
            "smtp",
            "database",
            "tickets",
            "policy",
            "departments",
            "staff",
            "hours",
            "timers",
            "limits",
            "security",
            "metrics",
            "mailboxes",
            "checks",
            "digest",
        }
        for key in self.data:
            if key not in known:
                raise ConfigError(
                    f"{self.path}: [{key}]: unknown section (see config.example.toml)"
                )
        staff = self.staff()
        policy = self.policy_settings()
        smtp = self.smtp()
        departments = self.departments({s.email for s in staff})
        mailboxes = self.mailboxes(smtp, departments)
        settings = Settings(
            source=self.path,
            imap=mailboxes[0].imap if mailboxes else self.imap(),
            smtp=smtp,
            mailboxes=mailboxes,
            database_url=self.database(),
            tickets=self.tickets(),
            departments=departments,
            staff=staff,
            hours=self.hours(),
            timers=self.timers(),
            limits=self.limits(),
            policy=policy,
            warnings=self.warnings(),
            metrics=self.metrics(),
            checks=self.checks(),
            digest=self.digest(departments),
        )
        return settings

    def warnings(self) -> tuple[str, ...]:
        """A password or client secret written in a file that other users can read."""
        tables = [(f"[{name}]", self.data.get(name)) for name in ("imap", "smtp")]
        boxes = self.data.get("mailboxes")
        for i, box in enumerate(boxes if isinstance(boxes, list) else []):
            if isinstance(box, dict):
                tables += [(f"[[mailboxes]] #{i + 1}", box)]
                tables += [(f"[[mailboxes]] #{i + 1} smtp", box.get("smtp"))]
        inline = [
            (name, key)
            for name, table in tables
            for key in ("password", "client_secret")
            if isinstance(table, dict) and key in table
        ]
        try:
            mode = self.path.stat().st_mode
        except OSError:
            return ()
        if inline and mode & 0o044:
            name, key = inline[0]
            return (
                f"{self.path} holds a {key.replace('_', ' ')} ({name} {key}) and other users "
                f"can read it: chmod 600 {self.path}, or use {key}_file/{key}_env",
            )
        return ()

    def imap(self) -> ImapSettings:
        s = self.section("imap")
        result = self.imap_keys(s)
        s.done()
        return result

    def mailboxes(
        self, smtp: SmtpSettings, departments: tuple[Department, ...]
    ) -> tuple[MailboxSettings, ...]:
        """SPEC §3 `[[mailboxes]]`: each the [imap] keys plus name, address, department and
        its own [mailboxes.smtp]; () when the config has a lone [imap] instead."""
        tables = self.tables("mailboxes")
        if not tables:
            return ()
        if "imap" in self.data:
            raise ConfigError(
                f"{self.path}: [imap]: give either one [imap] table or [[mailboxes]] tables, "
                "not both (move [imap]'s keys into a [[mailboxes]] table)"
            )
        names = {d.name for d in departments}
        boxes: list[MailboxSettings] = []
        for i, raw in enumerate(tables):
            s = _Section(self.path, f"[[mailboxes]] #{i + 1}", raw)
            name = s.text("name")
            if not _MAILBOX_NAME.fullmatch(name):
                raise s.error("name", f"{name!r}: use lower-case letters, digits, - and _")
            address = s.address("address")
            department = s.text("department", "")
            if department and department not in names:
                raise s.error(
                    "department",
                    f"{department!r} is not a [[departments]] name ({', '.join(sorted(names))})",
                )
            imap = self.imap_keys(s)
            s.seen.add("smtp")
            own = replace(smtp, from_address=address)
            if "smtp" in raw:
                relay = _Section(self.path, f"[[mailboxes]] #{i + 1} smtp", raw["smtp"])
                relay.refuse(("from_address",), f"the mailbox's address ({address}) is its From")
                own = self.smtp_keys(relay, address, base=smtp)
            s.done()
            box = MailboxSettings(name, address, imap, own, department)
            self.check_unlike(s, box, boxes)
            boxes.append(box)
        return tuple(boxes)

    @staticmethod
    def check_unlike(s: _Section, box: MailboxSettings, earlier: list[MailboxSettings]) -> None:
        """Two mailboxes never share a name, an address or the same folder of one login."""
        for other in earlier:
            if other.name == box.name:
                raise s.error("name", f"{box.name!r} names an earlier mailbox too")
            if other.address == box.address:
                raise s.error("address", f"{box.address} is mailbox {other.name!r}'s already")
            same = (other.imap.host, other.imap.port, other.imap.username, other.imap.folder)
            if same == (box.imap.host, box.imap.port, box.imap.username, box.imap.folder):
                raise s.error("folder", f"mailbox {other.name!r} reads this folder already")

    def imap_keys(self, s: _Section) -> ImapSettings:
        """The [imap] keys of `s` (a lone [imap] or one [[mailboxes]] table)."""
        security = s.choice("security", SECURITY_MODES, "ssl")
        poll = s.duration("poll_interval", ImapSettings.poll_interval)
        auth = s.choice("auth", AUTH_MODES, ImapSettings.auth)
        result = ImapSettings(
            host=s.text("host"),
            port=s.port("port", 993 if security == "ssl" else 143),
            security=security,
            username=s.text("username"),
            password=self.login_secret(s, auth),
            auth=auth,
            oauth2=self.oauth2(s) if auth == "oauth2" else None,
            folder=s.text("folder", ImapSettings.folder),
            processed_folder=s.text("processed_folder", ImapSettings.processed_folder),
            failed_folder=s.text("failed_folder", ImapSettings.failed_folder),
            backlog=self.backlog(s),
            quiet_older_than=s.duration("quiet_older_than", ImapSettings.quiet_older_than),
            batch_size=self.positive(s, "batch_size", ImapSettings.batch_size),
            poll_interval=poll,
            idle=bool(s.get("idle", bool, ImapSettings.idle)),
            timeout=float(s.get("timeout", float, ImapSettings.timeout)),
        )
        return result

    @staticmethod
    def login_secret(s: _Section, auth: str, required: bool = True) -> Secret:
        """The password, which `auth = "oauth2"` replaces by tokens."""
        if auth != "oauth2":
            s.refuse(_OAUTH2_KEYS, 'only with auth = "oauth2"')
            return s.secret(required=required)
        s.refuse(("password", "password_file", "password_env"), 'not used with auth = "oauth2"')
        return Secret()

    def oauth2(self, s: _Section) -> OAuth2Settings:
        """The keys of `auth = "oauth2"`: the provider's, and the IMAP login's mechanism."""
        if "oauth2_provider" not in s.data:
            raise s.error("oauth2_provider", f"missing: one of {', '.join(OAUTH2_PROVIDERS)}")
        provider = s.choice("oauth2_provider", OAUTH2_PROVIDERS, "generic")
        for key, providers in _PROVIDER_KEYS.items():
            if provider not in providers:
                wanted = " or ".join(f'"{p}"' for p in providers)
                s.refuse((key,), f"only with oauth2_provider = {wanted}")
        mechanism = self.oauth2_mechanism(s)
        if provider == "microsoft":
            result = self.microsoft(s)
        elif provider == "google":
            result = self.google(s)
        else:
            s.refuse(("subject",), 'only with oauth2_provider = "google" and service_account_file')
            result = self.refresh_token_grant(s, provider, ..., OAuth2Settings.scope, False)
        return replace(result, mechanism=mechanism, where=f"{self.path}: {s.name}")

    @staticmethod
    def oauth2_mechanism(s: _Section) -> str:
        # A relay's table is "[smtp]" or "[[mailboxes]] #N smtp" (see smtp and mailboxes).
        if s.name == "[smtp]" or s.name.endswith(" smtp"):
            s.refuse(
                ("oauth2_mechanism",),
                "IMAP only: SMTP logs in with XOAUTH2 (the mechanism aiosmtplib offers)",
            )
            return OAuth2Settings.mechanism
        return s.choice("oauth2_mechanism", OAUTH2_MECHANISMS, OAuth2Settings.mechanism)

    def refresh_token_grant(
        self, s: _Section, provider: str, token_url: Any, scope: str, secret_required: bool
    ) -> OAuth2Settings:
        """A refresh token kept in `refresh_token_file`, exchanged at `token_url`."""
        url = self.token_url(s, s.text("token_url", token_url))
        refresh = s.text("refresh_token_file")
        return OAuth2Settings(
            provider=provider,
            client_id=s.text("client_id"),
            token_url=url,
            refresh_token_file=(self.path.parent / refresh).resolve(),
            client_secret=s.secret(required=secret_required, name="client_secret"),
            scope=s.text("scope", scope),
        )

    def google(self, s: _Section) -> OAuth2Settings:
        """Google: an OAuth client's refresh token, or a service account with domain-wide
        delegation acting as the mailbox user; exactly one of the two."""
        ways = {
            "refresh_token_file": "refresh_token_file (an OAuth client's refresh token)",
            "service_account_file": "service_account_file (a service account's key with "
            "domain-wide delegation)",
        }
        given = [key for key in ways if key in s.data]
        if len(given) > 1:
            raise s.error(
                "service_account_file", f"give either {' or '.join(ways.values())}, not both"
            )
        if not given:
            raise s.error("refresh_token_file", f"missing: give {' or '.join(ways.values())}")
        if given == ["service_account_file"]:
            return self.google_service_account(s)
        s.refuse(("subject",), "only with service_account_file (a refresh token is the user's)")
        return self.refresh_token_grant(s, "google", GOOGLE_TOKEN_URL, GOOGLE_SCOPE, True)

    def google_service_account(self, s: _Section) -> OAuth2Settings:
        """The JSON key, read like a password_file; it names its own client and token_uri."""
        s.refuse(
            (*_CLIENT_KEYS, "token_url"),
            "not used with service_account_file (the key file holds the client and its token_uri)",
        )
        path = (self.path.parent / s.text("service_account_file")).resolve()
        key = Secret("file", str(path), f"{self.path}: {s.name} service_account_file")
        # Domain-wide delegation: the token is the mailbox user's, so the login's by default.
        subject = s.text("subject", "") or s.text("username", "")
        if not subject:
            raise s.error("subject", "missing: the mailbox user the service account acts as")
        return OAuth2Settings(
            provider="google",
            client_id="",
            token_url="",
            service_account=key,
            subject=subject,
            scope=s.text("scope", GOOGLE_SCOPE),
        )

    def microsoft(self, s: _Section) -> OAuth2Settings:
        """Client credentials: the app's own token, no refresh token and no user consent."""
        s.refuse(("refresh_token_file",), 'not used with oauth2_provider = "microsoft"')
        s.refuse(("subject",), 'only with oauth2_provider = "google" and service_account_file')
        tenant = s.text("tenant_id")
        if not tenant or not all(c.isalnum() or c in "-." for c in tenant):
            raise s.error("tenant_id", f"{tenant!r}: write the directory (tenant) ID or domain")
        # token_url only for national clouds (login.microsoftonline.us, …).
        url = self.token_url(s, s.text("token_url", MICROSOFT_TOKEN_URL.format(tenant_id=tenant)))
        authority = url.removesuffix(MICROSOFT_TOKEN_PATH)
        if not url.startswith("https://") or authority == url or authority.count("/") != 3:
            # msal takes an https authority, https://HOST/TENANT, and finds the rest there.
            raise s.error(
                "token_url",
                f"{url!r}: write https://HOST/TENANT{MICROSOFT_TOKEN_PATH}, e.g. "
                f"{MICROSOFT_TOKEN_URL.format(tenant_id=tenant).replace('.com/', '.us/')}",
            )
        return OAuth2Settings(
            provider="microsoft",
            client_id=s.text("client_id"),
            token_url=url,
            client_secret=s.secret(required=True, name="client_secret"),
            scope=s.text("scope", MICROSOFT_SCOPE),
            tenant_id=tenant,
        )

    @staticmethod
    def token_url(s: _Section, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise s.error("token_url", f"{url!r} is not an http(s) URL")
        return url

    @staticmethod
    def backlog(s: _Section) -> str:
        value = s.text("backlog", ImapSettings.backlog)
        if value in ("all", "none"):
            return value
        try:
            date.fromisoformat(value.removeprefix("since:"))
        except ValueError:
            value = ""
        if not value.startswith("since:"):
            raise s.error("backlog", 'use "all", "none" or "since:YYYY-MM-DD"')
        return value

    def smtp(self) -> SmtpSettings:
        s = self.section("smtp")
        return self.smtp_keys(s, s.address("from_address"))

    def smtp_keys(
        self, s: _Section, from_address: str, base: SmtpSettings | None = None
    ) -> SmtpSettings:
        """A relay's keys: [smtp], or a mailbox's own [mailboxes.smtp] sending as its address.
        A mailbox's table takes from [smtp] (`base`) what it does not say: each relay key
        (a port only with the security it was for), and the login only whole and only for
        [smtp]'s own host: a table naming its own user, or another relay, never sends
        [smtp]'s password."""
        keys = base or _SMTP_DEFAULTS
        security = s.choice("security", SECURITY_MODES, keys.security)
        default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
        if base is not None and "security" not in s.data:
            default_port = base.port
        if base is not None and not (_LOGIN_KEYS | {"host"}) & s.data.keys():
            login = (base.username, base.password, base.auth, base.oauth2)
        else:
            auth = s.choice("auth", AUTH_MODES, SmtpSettings.auth)
            username = s.text("username", SmtpSettings.username)
            if auth == "oauth2" and not username:
                raise s.error("username", 'missing: auth = "oauth2" logs in as this user')
            secret = self.login_secret(s, auth, required=False)
            login = (username, secret, auth, self.oauth2(s) if auth == "oauth2" else None)
        result = SmtpSettings(
            host=s.text("host", base.host if base else ...),
            port=s.port("port", default_port),
            security=security,
            from_address=from_address,
            from_name=s.text("from_name", keys.from_name),
            username=login[0],
            password=login[1],
            auth=login[2],
            oauth2=login[3],
            timeout=float(s.get("timeout", float, keys.timeout)),
            batch_size=self.positive(s, "batch_size", keys.batch_size),
            verp=bool(s.get("verp", bool, keys.verp)),
            connections=self.positive(s, "connections", keys.connections),
        )
        s.done()
        return result

    def database(self) -> str:
        s = self.section("database", required=False)
        url = s.text("url", "sqlite:///mailtickets.db")
        try:
            parsed = make_url(url)
        except ArgumentError:
            parsed = None
        if parsed is None or parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise s.error("url", f"{url!r}: use sqlite:///PATH or postgresql+psycopg://…")
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            # A relative SQLite path is relative to the config file, not to the cwd.
            url = "sqlite:///" + str((self.path.parent / url[len("sqlite:///") :]).resolve())
        s.done()
        return url

    def tickets(self) -> TicketSettings:
        s = self.section("tickets", required=False)
        prefix = s.text("code_prefix", TicketSettings.code_prefix)
        if not prefix.isalnum() or not prefix.isascii() or len(prefix) > 8:
            raise s.error("code_prefix", f"{prefix!r}: use 1-8 ASCII letters or digits")
        tz = s.text("timezone", TicketSettings.timezone)
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise s.error("timezone", f"{tz!r} is not a time zone like Europe/Madrid") from None
        templates = s.get("templates_dir", str, None)
        templates_dir = (self.path.parent / templates).resolve() if templates else None
        if templates_dir is not None and not templates_dir.is_dir():
            raise s.error("templates_dir", f"{templates_dir} is not a folder")
        articles = s.get("articles_dir", str, None)
        articles_dir = (self.path.parent / articles).resolve() if articles else None
        if articles_dir is not None and not articles_dir.is_dir():
            raise s.error("articles_dir", f"{articles_dir} is not a folder")
        site_articles(articles_dir)  # a broken article stops the start, naming its file
        result = TicketSettings(
            code_prefix=prefix.upper(),
            reminder_after=s.duration("reminder_after", TicketSettings.reminder_after),
            close_after=s.duration("close_after", TicketSettings.close_after),
            reopen_within=s.duration("reopen_within", TicketSettings.reopen_within),
            locale=s.choice("locale", LOCALES, TicketSettings.locale),
            timezone=tz,
            templates_dir=templates_dir,
            max_attempts=self.positive(s, "max_attempts", TicketSettings.max_attempts),
            company_name=s.text("company_name", TicketSettings.company_name),
            support_hours=s.text("support_hours", TicketSettings.support_hours),
            articles_dir=articles_dir,
        )
        s.done()
        return result

    def hours(self) -> HoursSettings:
        s = self.section("hours", required=False)
        weekly = s.weekly("weekly", dict(OFFICE_HOURS))
        assert weekly is not None
        country = s.text("holidays_country", "")
        subdiv = s.text("holidays_subdiv", "")
        if country:
            self.check_holidays(s, country, subdiv)
        result = HoursSettings(weekly, country, subdiv, s.dates("closed_dates"))
        s.done()
        return result

    @staticmethod
    def check_holidays(s: _Section, country: str, subdiv: str) -> None:
        import holidays

        try:
            holidays.country_holidays(country, subdiv=subdiv or None)
        except (NotImplementedError, ValueError) as exc:
            key = "holidays_subdiv" if "subdivision" in str(exc) else "holidays_country"
            raise s.error(key, f'{exc} (e.g. country "ES", subdivision "MD")') from None

    def timers(self) -> TimerSettings:
        s = self.section("timers", required=False)
        result = TimerSettings(
            sweep_interval=s.duration("sweep_interval", TimerSettings.sweep_interval),
            outbox_interval=s.duration("outbox_interval", TimerSettings.outbox_interval),
            batch_size=self.positive(s, "batch_size", TimerSettings.batch_size),
        )
        s.done()
        return result

    def metrics(self) -> MetricsSettings:
        s = self.section("metrics", required=False)
        listen = s.text("listen", MetricsSettings.listen).strip()
        if listen:
            try:
                _host, port = split_listen(listen)
            except ValueError as exc:
                raise s.error("listen", str(exc)) from None
            if port == 0:
                # Any free port: Prometheus could never be told which one.
                raise s.error("listen", f"{listen!r}: 0 is not a TCP port (1-65535)")
        s.done()
        return MetricsSettings(listen=listen)

    def checks(self) -> ChecksSettings:
        """SPEC §11 `[checks]`: the automatic checks of a new ticket (assistant/)."""
        s = self.section("checks", required=False)
        d = ChecksSettings()
        resolvers = tuple(str(r) for r in s.get("resolvers", list, []))
        for resolver in resolvers:
            try:
                ip_address(resolver)
            except ValueError:
                raise s.error("resolvers", f"{resolver!r} is not an IP address") from None
        try:
            allow = parse_networks(str(n) for n in s.get("allow_networks", list, []))
        except ValueError as exc:
            raise s.error("allow_networks", f'{exc}; write ranges like "127.0.0.0/8"') from None
        check_budget = s.duration("check_budget", d.check_budget)
        total_budget = s.duration("total_budget", d.total_budget)
        if total_budget < check_budget:
            raise s.error("total_budget", "must be at least check_budget")
        ca_file = s.text("ca_file", "")
        ca = (self.path.parent / ca_file).resolve() if ca_file else None
        if ca is not None and not ca.is_file():
            raise s.error("ca_file", f"{ca} is not a file")
        public = s.get("public_mail_domains", list, None)
        result = ChecksSettings(
            enabled=bool(s.get("enabled", bool, d.enabled)),
            resolvers=resolvers,
            resolver_port=s.port("resolver_port", d.resolver_port),
            check_budget=check_budget,
            total_budget=total_budget,
            max_urls=self.at_least_zero(s, "max_urls", d.max_urls),
            max_domains=self.at_least_zero(s, "max_domains", d.max_domains),
            max_redirects=self.at_least_zero(s, "max_redirects", d.max_redirects),
            max_body_bytes=self.positive(s, "max_body_bytes", d.max_body_bytes),
            allow_networks=allow,
            public_mail_domains=(
                frozenset(str(x).lower() for x in public)
                if public is not None
                else d.public_mail_domains
            ),
            smtp_port=s.port("smtp_port", d.smtp_port),
            ehlo_name=s.text("ehlo_name", d.ehlo_name) or d.ehlo_name,
            ca_file=ca,
            cert_warning_days=self.at_least_zero(s, "cert_warning_days", d.cert_warning_days),
            disabled=frozenset(str(x) for x in s.get("disabled", list, [])),
        )
        s.done()
        return result

    def digest(self, departments: tuple[Department, ...]) -> DigestSettings:
        """SPEC §12 `[digest]`, with `[digest.departments]` naming who gets each digest."""
        s = self.section("digest", required=False)
        d = DigestSettings()
        names = [dept.name for dept in departments]
        table = _Section(self.path, "[digest.departments]", s.get("departments", dict, {}))
        for name in table.data:
            if name not in names:
                raise table.error(name, f"not a [[departments]] name ({', '.join(names)})")
        recipients = {name: table.addresses(name) for name in table.data}
        table.done()
        result = DigestSettings(
            enabled=bool(s.get("enabled", bool, d.enabled)),
            hour=self.clock(s, "hour", d.hour),
            business_days_only=bool(s.get("business_days_only", bool, d.business_days_only)),
            staff=bool(s.get("staff", bool, d.staff)),
            at_risk_within=s.duration("at_risk_within", d.at_risk_within),
            recipients=recipients,
        )
        s.done()
        return result

    @staticmethod
    def clock(s: _Section, key: str, default: time) -> time:
        """A time of day: "08:30" (or a TOML local time, 08:30:00)."""
        raw = s.get(key, object, default)
        if isinstance(raw, time):
            return raw.replace(second=0, microsecond=0)
        parts = str(raw).split(":")
        if len(parts) == 2 and all(p.isascii() and p.isdigit() and len(p) == 2 for p in parts):
            hours, minutes = int(parts[0]), int(parts[1])
            if hours < 24 and minutes < 60:
                return time(hours, minutes)
        raise s.error(key, f'{raw!r} is not a time of day like "08:30"')

    @staticmethod
    def at_least_zero(s: _Section, key: str, default: int) -> int:
        value = int(s.get(key, int, default))
        if value < 0:
            raise s.error(key, f"{value} must be 0 or more")
        return value

    def policy_settings(self) -> PolicySettings:
        s = self.section("policy", required=False)
        security = self.section("security", required=False)
        ids = security.get("trusted_authserv_ids", list, [])
        if not all(isinstance(i, str) and i for i in ids):
            raise security.error(
                "trusted_authserv_ids", 'write host names, e.g. ["mx.example.com"]'
            )
        result = PolicySettings(
            unknown_senders=s.choice(
                "unknown_senders", UNKNOWN_SENDER_POLICIES, PolicySettings.unknown_senders
            ),
            ops_address=s.address("ops_address", "") if "ops_address" in s.data else "",
            max_auto_replies_per_hour=self.positive(
                s, "max_auto_replies_per_hour", PolicySettings.max_auto_replies_per_hour
            ),
            trusted_authserv_ids=tuple(i.lower() for i in ids),
            spam_headers=self.spam_headers(security),
        )
        s.done()
        security.done()
        return result

    @staticmethod
    def spam_headers(security: _Section) -> tuple[str, ...]:
        names = security.get("spam_headers", list, list(PolicySettings.spam_headers))
        for name in names:
            if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
                raise security.error(
                    "spam_headers",
                    f"{name!r} is not a header name; write them without the colon, "
                    'e.g. ["X-Spam-Flag", "X-Spam-Status", "X-Spam"]',
                )
        once: dict[str, str] = {}  # each once (names are case-insensitive), as first written
        for name in names:
            once.setdefault(name.lower(), name)
        return tuple(once.values())

    def limits(self) -> Limits:
        s = self.section("limits", required=False)
        result = Limits(
            max_message_bytes=self.positive(s, "max_message_bytes", Limits.max_message_bytes),
            max_attachments=self.positive(s, "max_attachments", Limits.max_attachments),
            max_attachment_bytes=self.positive(
                s, "max_attachment_bytes", Limits.max_attachment_bytes
            ),
            max_mime_depth=self.positive(s, "max_mime_depth", Limits.max_mime_depth),
            max_header_bytes=self.positive(s, "max_header_bytes", Limits.max_header_bytes),
            max_processing_seconds=self.at_most(
                s,
                "max_processing_seconds",
                self.positive(s, "max_processing_seconds", Limits.max_processing_seconds),
                3600,
            ),
            max_participants_per_mail=self.positive(
                s, "max_participants_per_mail", Limits.max_participants_per_mail
            ),
            max_participants_per_ticket=self.positive(
                s, "max_participants_per_ticket", Limits.max_participants_per_ticket
            ),
        )
        s.done()
        return result

    def staff(self) -> tuple[Staff, ...]:
        people = []
        for i, raw in enumerate(self.tables("staff")):
            s = _Section(self.path, f"[[staff]] #{i + 1}", raw)
            people.append(Staff(email=s.address("email"), name=s.text("name")))
            s.done()
        return tuple(people)

    def departments(self, staff_emails: set[str]) -> tuple[Department, ...]:
        depts = []
        for i, raw in enumerate(self.tables("departments")):
            s = _Section(self.path, f"[[departments]] #{i + 1}", raw)
            dept = Department(
                name=s.text("name"),
                addresses=s.addresses("addresses"),
                keywords=tuple(str(k) for k in s.get("keywords", list, [])),
                staff=s.addresses("staff"),
                default=bool(s.get("default", bool, Department.default)),
                first_response=s.duration("first_response", None),
                hours=s.weekly("hours", None),
                lead=s.address("lead", "") if "lead" in s.data else "",
            )
            for member in dept.staff:
                if member not in staff_emails:
                    raise s.error("staff", f"{member} is not listed in any [[staff]] table")
            s.done()
            depts.append(dept)
        return self.with_one_default(tuple(depts))

    def with_one_default(self, depts: tuple[Department, ...]) -> tuple[Department, ...]:
        if not depts:
            raise ConfigError(f"{self.path}: [[departments]]: define at least one department")
        defaults = [d for d in depts if d.default]
        if len(defaults) > 1:
            raise ConfigError(
                f"{self.path}: [[departments]] default: only one department may be the default "
                f"({', '.join(d.name for d in defaults)})"
            )
        if defaults:
            return depts
        first = depts[0]
        return (replace(first, default=True), *depts[1:])

    def tables(self, name: str) -> list[Any]:
        value = self.data.get(name, [])
        if not isinstance(value, list):
            raise ConfigError(f"{self.path}: [[{name}]]: write it as an array of tables")
        return value

    @staticmethod
    def at_most(s: _Section, key: str, value: int, limit: int) -> int:
        if value > limit:
            raise s.error(key, f"{value} is more than {limit}")
        return value

    @staticmethod
    def positive(s: _Section, key: str, default: int) -> int:
        value = int(s.get(key, int, default))
        if value < 1:
            raise s.error(key, f"{value} must be 1 or more")
        return value
