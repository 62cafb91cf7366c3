"""What a new ticket's checks look at: domains and URLs from the mail, its sender and the
customer's own domains (pure).

The mentions come from the project's own finder, the one the acknowledgement uses to see
whether the customer named a domain (`mentions.mentions`): what counts as
"naming a domain" is decided in one place. Here they are cleaned and chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mailtickets.assistant.settings import ChecksSettings
from mailtickets.assistant.urls import Url, normal_host, parse_url

Source = Literal["mail", "sender", "customer"]
# What often follows a URL in prose and is never part of it.
_TRAILING = ".,;:!?)]}>'\"»“”’"
# Words the finder takes for domains that are file names in a support mail ("captura.png").
_FILE_WORDS = (
    "png jpg jpeg gif bmp webp svg tif tiff heic pdf doc docx xls xlsx ppt pptx odt ods "
    "odp txt log csv php html htm js css json xml zip rar 7z gz tgz tar eml msg exe dll "
    "jsp asp aspx sql bak tmp ini conf cfg py sh mp3 mp4 mov avi wav"
)
FILE_SUFFIXES = frozenset(_FILE_WORDS.split())


@dataclass(frozen=True)
class Domain:
    name: str
    source: Source  # why it is looked at: named in the mail, the sender's, the customer's


@dataclass(frozen=True)
class Targets:
    """The domains and URLs of one ticket, and what was left out and why."""

    domains: tuple[Domain, ...] = ()
    urls: tuple[Url, ...] = ()
    skipped: tuple[str, ...] = ()  # "captura.png: a file name", "…: over max_urls (5)"

    def as_data(self) -> dict[str, Any]:
        """Plain JSON-able data, for a queue row; `from_data` reads it back."""
        return {
            "domains": [[d.name, d.source] for d in self.domains],
            "urls": [u.text for u in self.urls],
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Targets:
        urls = (parse_url(text) for text in data.get("urls", ()))
        return cls(
            domains=tuple(Domain(name, source) for name, source in data.get("domains", ())),
            urls=tuple(u for u in urls if u is not None),
            skipped=tuple(data.get("skipped", ())),
        )


def choose_targets(
    mentions: Iterable[str],
    sender: str,
    settings: ChecksSettings,
    customer_domains: Iterable[str] = (),
    ours: frozenset[str] = frozenset(),
) -> Targets:
    """The targets of a mail: `mentions` as the finder found them in its subject and text
    (URLs and bare domains), then the sender's domain, then the customer's domains.

    Our own domains and public mail providers are never looked at; a URL's credentials are
    dropped; at most `max_urls` URLs and `max_domains` domains."""
    skip = ours | settings.public_mail_domains
    urls: list[Url] = []
    named: list[tuple[str, Source]] = []
    skipped: list[str] = []
    for mention in mentions:
        url, domain, why = _read_mention(mention)
        if url is not None and url.host.removeprefix("www.") in skip:
            url, domain, why = None, "", "our own or a public mail provider's"
        if why:  # named by what is left of it: never a password the mail carried
            skipped.append(f"{url.text if url else mention.split('://')[-1].split('@')[-1]}: {why}")
        if url is not None and url not in urls:
            urls.append(url)
        if domain:
            named.append((domain, "mail"))
    named.append((sender.rpartition("@")[2], "sender"))
    named.extend((name, "customer") for name in customer_domains)
    domains: list[Domain] = []
    for name, source in named:
        host = normal_host(name.removeprefix("www."))
        if not host or _is_address(host) or host in skip or "." not in host:
            continue
        if all(d.name != host for d in domains):
            domains.append(Domain(host, source))
    skipped += [f"{u.text}: over max_urls ({settings.max_urls})" for u in urls[settings.max_urls :]]
    skipped += [
        f"{d.name}: over max_domains ({settings.max_domains})"
        for d in domains[settings.max_domains :]
    ]
    return Targets(
        tuple(domains[: settings.max_domains]), tuple(urls[: settings.max_urls]), tuple(skipped)
    )


def _read_mention(mention: str) -> tuple[Url | None, str, str]:
    """(URL, domain, why something was dropped) of one mention of the finder."""
    text = mention.strip().rstrip(_TRAILING)
    if "://" in text:
        url = parse_url(text)
        if url is None:
            return None, "", "not an http(s) URL"
        why = "credentials removed" if url.had_credentials else ""
        host = "" if _is_address(url.host) else url.host
        return url, host, why
    name = text.lower()
    if name.rpartition(".")[2] in FILE_SUFFIXES:
        return None, "", "a file name"
    if name.startswith("www."):  # "no veo mi página www.midominio.es": the web is meant
        return parse_url(f"https://{name}/"), name, ""
    return None, name, ""


def _is_address(host: str) -> bool:
    return ":" in host or host.replace(".", "").isdigit()
