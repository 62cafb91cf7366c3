"""The `[checks]` settings as one frozen dataclass, each default written once here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

# Mail providers whose customers' domain says nothing about their hosting: the sender's
# domain is looked at only when it is none of these.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.es",
        "hotmail.com",
        "hotmail.es",
        "live.com",
        "live.es",
        "msn.com",
        "yahoo.com",
        "yahoo.es",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.es",
        "gmx.net",
        "aol.com",
        "yandex.com",
        "zoho.com",
        "telefonica.net",
        "movistar.es",
    }
)

Network = IPv4Network | IPv6Network


@dataclass(frozen=True)
class ChecksSettings:
    """What the checks may look at, where they may connect and how long they may take."""

    enabled: bool = True
    # DNS servers the checks ask (addresses); empty: the system's /etc/resolv.conf.
    resolvers: tuple[str, ...] = ()
    resolver_port: int = 53
    check_budget: timedelta = timedelta(seconds=10)  # one check, all its targets
    total_budget: timedelta = timedelta(seconds=30)  # every check of one ticket
    max_urls: int = 5  # URLs taken from one mail
    max_domains: int = 5  # domains taken from one mail, the sender's and customer's included
    max_redirects: int = 5
    max_body_bytes: int = 64 * 1024  # read of each response body, the rest never fetched
    # Ranges the checks may reach although they are private, loopback, link-local…
    allow_networks: tuple[Network, ...] = ()
    public_mail_domains: frozenset[str] = field(default=PUBLIC_MAIL_DOMAINS)
    smtp_port: int = 25  # where the MX's banner and STARTTLS are read
    ehlo_name: str = "mailtickets.invalid"
    ca_file: Path | None = None  # trusted CAs for HTTPS and STARTTLS; None: the system's
    cert_warning_days: int = 14  # a certificate expiring sooner is a warning
    disabled: frozenset[str] = frozenset()  # check names not to run (built-in or a site's)
