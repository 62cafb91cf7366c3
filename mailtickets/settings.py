"""The settings: frozen dataclasses, each default written once here (standard library only).

Pure modules read these; `config.py` fills them from the TOML file and validates them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from mailtickets.assistant.settings import ChecksSettings

SECURITY_MODES = ("ssl", "starttls", "none")
UNKNOWN_SENDER_POLICIES = ("open", "reject")
LOCALES = ("es", "en")
AUTH_MODES = ("password", "oauth2")
OAUTH2_PROVIDERS = ("microsoft", "google", "generic")
# The SASL mechanism an IMAP login sends its token with (RFC 7628 OAUTHBEARER, or XOAUTH2,
# which Gmail, Exchange Online and Dovecot all take).
OAUTH2_MECHANISMS = ("xoauth2", "oauthbearer")
# Exchange Online's IMAP and SMTP AUTH resource, for an app's own (client credentials) token.
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
# msal finds the rest from the authority: the token URL less this path (national clouds too).
MICROSOFT_TOKEN_PATH = "/oauth2/v2.0/token"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant_id}" + MICROSOFT_TOKEN_PATH
# Gmail's IMAP and SMTP scope, and Google's token endpoint for a refresh token.
GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class Secret:
    """Where a password comes from (`kind`: value, file or env), read only by the commands
    that use it: a support manager's `tickets` needs no mail secrets. `where` names the key
    for error lines, e.g. "/etc/mailtickets/config.toml: [imap] password_file"."""

    kind: str = ""  # "" none
    value: str = field(default="", repr=False)  # the password, the file's path or the env var
    where: str = ""


@dataclass(frozen=True)
class OAuth2Settings:
    """How a mailbox gets its OAuth2 access tokens (`auth = "oauth2"`); `oauth2.py` uses it.

    generic: a refresh token kept in `refresh_token_file`, exchanged at `token_url`.
    microsoft: the app's own token (client credentials) from `tenant_id`'s token URL.
    google: a refresh token as generic, or a service account's key (`service_account`)
    acting as the mailbox user `subject` (domain-wide delegation).
    """

    provider: str
    client_id: str
    token_url: str  # "" for a Google service account: its key file names its token_uri
    refresh_token_file: Path | None = None  # generic, google with a refresh token
    client_secret: Secret = field(default=Secret(), repr=False)
    scope: str = ""
    tenant_id: str = ""  # microsoft only
    service_account: Secret = field(default=Secret(), repr=False)  # google: the JSON key
    subject: str = ""  # google service account: the user it acts as
    mechanism: str = "xoauth2"  # IMAP only: "xoauth2" or "oauthbearer"
    where: str = ""  # "/etc/mailtickets/config.toml: [imap]" for error lines


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str
    username: str
    password: Secret = field(repr=False)
    auth: str = "password"
    oauth2: OAuth2Settings | None = None
    folder: str = "INBOX"
    processed_folder: str = ""
    failed_folder: str = ""
    backlog: str = "all"  # all | none | since:YYYY-MM-DD
    quiet_older_than: timedelta = timedelta(days=7)
    batch_size: int = 50
    poll_interval: timedelta = timedelta(seconds=60)
    idle: bool = True
    timeout: float = 30.0

    @property
    def key(self) -> str:
        """The name the mailbox goes by in the database: checkpoint, inbound rows, watch."""
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    from_address: str
    from_name: str = "Soporte"
    username: str = ""
    password: Secret = field(default=Secret(), repr=False)
    auth: str = "password"
    oauth2: OAuth2Settings | None = None
    timeout: float = 30.0
    batch_size: int = 100
    verp: bool = True
    connections: int = 2  # at most, open at once for a flush (outbox._Relay)


@dataclass(frozen=True)
class MailboxSettings:
    """One watched mailbox (SPEC §3 `[[mailboxes]]`; a lone `[imap]` is "default"): where
    its mail is read, the address its tickets are answered from, the department its mail
    goes to when nothing else routes it, and the relay that sends that mail."""

    name: str
    address: str
    imap: ImapSettings
    smtp: SmtpSettings  # its own [mailboxes.smtp], else [smtp] sending as `address`
    department: str = ""  # "": the site's default department


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 25 * 1024 * 1024
    max_attachments: int = 20
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_mime_depth: int = 8
    max_header_bytes: int = 256 * 1024
    max_processing_seconds: int = 60  # one mail's processing; longer counts as a failure
    # Addresses a customer copies join the ticket up to these caps (no mass mailing).
    max_participants_per_mail: int = 5
    max_participants_per_ticket: int = 10


@dataclass(frozen=True)
class PolicySettings:
    unknown_senders: str = "open"
    ops_address: str = ""
    max_auto_replies_per_hour: int = 5
    trusted_authserv_ids: tuple[str, ...] = ()
    # The verdict headers the site's own receiving server adds ([security] spam_headers):
    # a mail whose topmost one says spam is held (spam.py); () holds nothing.
    spam_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TicketSettings:
    code_prefix: str = "SOP"
    reminder_after: timedelta = timedelta(hours=48)
    close_after: timedelta = timedelta(hours=24)
    reopen_within: timedelta = timedelta(days=30)
    locale: str = "es"
    timezone: str = "Europe/Madrid"
    templates_dir: Path | None = None
    max_attempts: int = 3
    company_name: str = "Soporte"
    support_hours: str = ""  # "": each locale's _labels.j2 words the default hours
    articles_dir: Path | None = None  # help-centre articles (article_files.py); None: none

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Department:
    name: str
    addresses: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    staff: tuple[str, ...] = ()
    default: bool = False
    first_response: timedelta | None = None  # business time; None: no SLA
    hours: Weekly | None = None  # None: the site's [hours]
    lead: str = ""  # also told when the first-response SLA is breached


# Weekly opening hours: weekday (0 = Monday) → (start, end) spans; end None is midnight.
Interval = tuple[time, time | None]
Weekly = dict[int, tuple[Interval, ...]]
OFFICE_HOURS: Weekly = {day: ((time(10), time(18)),) for day in range(5)}  # mon-fri 10-18


@dataclass(frozen=True)
class HoursSettings:
    weekly: Weekly = field(default_factory=lambda: dict(OFFICE_HOURS))
    holidays_country: str = ""
    holidays_subdiv: str = ""
    closed_dates: frozenset[date] = frozenset()


@dataclass(frozen=True)
class TimerSettings:
    sweep_interval: timedelta = timedelta(minutes=1)
    outbox_interval: timedelta = timedelta(seconds=15)
    batch_size: int = 500


@dataclass(frozen=True)
class MetricsSettings:
    """Where the Prometheus endpoint listens: "host:port", or "" for no endpoint."""

    listen: str = ""


# A host name as DNS spells it: dot-separated labels of letters, digits and hyphens.
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


def split_listen(listen: str) -> tuple[str, int]:
    """("127.0.0.1", 9464) from "127.0.0.1:9464" (IPv6 as "[::1]:9464"); ValueError says
    what is wrong. Port 0 is kept: it asks the system for any free port."""
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isascii() or not port.isdigit():
        raise ValueError(f'{listen!r} is not host:port, e.g. "127.0.0.1:9464"')
    if int(port) > 65535:
        raise ValueError(f"{listen!r}: {port} is not a TCP port (1-65535)")
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1])), int(port)
        except ValueError:
            raise ValueError(f"{listen!r}: {host} is not an IPv6 address") from None
    if ":" in host:
        raise ValueError(f'{listen!r}: write an IPv6 address in brackets, e.g. "[::1]:9464"')
    if not _HOST_NAME.fullmatch(host):
        raise ValueError(f"{listen!r}: {host!r} is not a host name or IP address")
    return host, int(port)


@dataclass(frozen=True)
class DigestSettings:
    """SPEC §12 `[digest]`: the daily mail to each department and to each staff member."""

    enabled: bool = False
    hour: time = time(8, 30)  # local, in [tickets] timezone
    business_days_only: bool = True
    staff: bool = True  # each staff member also gets the open tickets assigned to them
    at_risk_within: timedelta = timedelta(hours=2)  # business time left on a first response
    # Department name → who gets its digest; a department not named: its staff.
    recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def recipients_of(self, department: Department) -> tuple[str, ...]:
        return self.recipients.get(department.name, department.staff)


@dataclass(frozen=True)
class Staff:
    email: str
    name: str


@dataclass(frozen=True)
class Settings:
    source: Path
    imap: ImapSettings
    smtp: SmtpSettings
    database_url: str
    tickets: TicketSettings
    departments: tuple[Department, ...]
    staff: tuple[Staff, ...]
    hours: HoursSettings = HoursSettings()
    timers: TimerSettings = TimerSettings()
    limits: Limits = Limits()
    policy: PolicySettings = PolicySettings()
    warnings: tuple[str, ...] = ()
    metrics: MetricsSettings = MetricsSettings()
    # Empty only for settings built by hand with one [imap]: `mailbox_list` fills it in.
    mailboxes: tuple[MailboxSettings, ...] = ()
    checks: ChecksSettings = field(default_factory=ChecksSettings)  # SPEC §11
    digest: DigestSettings = field(default_factory=DigestSettings)  # SPEC §12

    @property
    def mailbox_list(self) -> tuple[MailboxSettings, ...]:
        """Every watched mailbox, the first one first (it answers tickets of no mailbox)."""
        if self.mailboxes:
            return self.mailboxes
        return (MailboxSettings("default", self.smtp.from_address, self.imap, self.smtp),)

    def mailbox_named(self, name: str | None) -> MailboxSettings:
        """The mailbox called `name`; else the first (a ticket older than [[mailboxes]], or
        of a mailbox since removed from the config)."""
        boxes = self.mailbox_list
        return next((m for m in boxes if m.name == name), boxes[0])

    def mailbox_of_key(self, key: str) -> MailboxSettings:
        """The mailbox whose inbound rows are saved under `key` (ImapSettings.key); else the
        first (its row is older than a change of login or folder)."""
        boxes = self.mailbox_list
        return next((m for m in boxes if m.imap.key == key), boxes[0])

    @property
    def our_addresses(self) -> frozenset[str]:
        """Every address that is ours: never a customer, never notified."""
        ours = {self.smtp.from_address}
        for box in self.mailbox_list:
            ours.update((box.address, box.smtp.from_address))
            if "@" in box.imap.username:
                ours.add(box.imap.username.lower())
        for dept in self.departments:
            ours.update(dept.addresses)
        return frozenset(ours)

    @property
    def default_department(self) -> Department:
        return next(d for d in self.departments if d.default)

    @property
    def unverified_senders(self) -> str:
        """One line for `check` and the start log when sender addresses are not verified."""
        if self.policy.trusted_authserv_ids:
            return ""
        return (
            "sender addresses are not verified ([security] trusted_authserv_ids is not set): "
            "anyone can write as a customer to add to their tickets and copy others in, or "
            "as staff to answer and run commands"
        )

    def department(self, name: str) -> Department:
        """The department called `name`, else the default one (e.g. a removed department)."""
        return next((d for d in self.departments if d.name == name), self.default_department)

    def staff_by_email(self, email: str) -> Staff | None:
        return next((s for s in self.staff if s.email == email.lower()), None)
