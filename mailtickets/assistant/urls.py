"""URLs as the checks use them: split, normalised, credentials removed, joined (pure).

Hand-written rather than urllib.parse so that the pure modules stay free of `urllib` (the
import contract), and because the checks need only http(s), a host, a port and a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PORTS = {"http": 80, "https": 443}
_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>[^#]*)", re.I)
_HOST_PORT = re.compile(r"(?P<host>\[[0-9a-f:.]+\]|[^:\[\]]+)(?::(?P<port>[0-9]{1,5}))?", re.I)


@dataclass(frozen=True)
class Url:
    """An http(s) URL without user information; `had_credentials` when some were removed."""

    scheme: str
    host: str  # lower case, IDNA, no trailing dot; an IPv6 address without brackets
    port: int
    path: str  # path and query, at least "/"
    had_credentials: bool = False

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def text(self) -> str:
        return self.origin + self.path

    @property
    def host_header(self) -> str:
        return self.origin.partition("://")[2]


def parse_url(text: str) -> Url | None:
    """The http(s) URL in `text`, credentials dropped; None for another scheme or no host."""
    match = _URL.fullmatch(text.strip())
    if match is None:
        return None
    scheme = match["scheme"].lower()
    if scheme not in DEFAULT_PORTS:
        return None
    _credentials, at, hostport = match["authority"].rpartition("@")
    parts = _HOST_PORT.fullmatch(hostport)
    if parts is None:
        return None
    host = normal_host(parts["host"].strip("[]"))
    port = int(parts["port"]) if parts["port"] else DEFAULT_PORTS[scheme]
    if host is None or not 0 < port < 65536:
        return None
    path = match["rest"] or "/"
    if not path.startswith("/"):
        path = "/" + path
    return Url(scheme, host, port, path, had_credentials=bool(at))


def normal_host(host: str) -> str | None:
    """`host` lower-cased, its trailing dot cut and IDNA-encoded; None if it cannot be."""
    host = host.strip().rstrip(".").lower()
    if not host or any(c.isspace() for c in host):
        return None
    if ":" in host:  # an IPv6 address: checked as an address, never encoded
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def join(base: Url, location: str) -> Url | None:
    """Where a redirect's Location sends a client that was at `base` (RFC 3986 §5, the
    cases servers send: absolute, scheme-relative, absolute path, relative path)."""
    location = location.strip()
    if "://" in location.split("?", 1)[0]:
        return parse_url(location)
    if location.startswith("//"):
        return parse_url(f"{base.scheme}:{location}")
    if location.startswith("/"):
        return parse_url(base.origin + location)
    if location.startswith("?"):
        return parse_url(base.origin + base.path.split("?", 1)[0] + location)
    directory = base.path.split("?", 1)[0].rpartition("/")[0]
    return parse_url(f"{base.origin}{directory}/{location}")
