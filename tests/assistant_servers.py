"""Real servers for the automatic checks' tests, all on 127.0.0.1: Debian's dnsmasq serving
a test zone, HTTP(S) servers with chosen certificates, aiosmtpd with and without STARTTLS,
and a port that accepts connections and never says a word."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.resolver
import trustme
from aiosmtpd.controller import Controller

from mailtickets.assistant.safety import parse_networks
from mailtickets.assistant.settings import ChecksSettings
from tests.servers import free_port

DNSMASQ = "/usr/sbin/dnsmasq"


def _ns(name: str) -> str:
    """An NS record for dnsmasq's --dns-rr: type 2, the host in DNS wire form, in hex."""
    wire = dns.name.from_text(name).to_wire()
    assert wire is not None
    return f"2,{wire.hex()}"


# The test zone: good and broken domains, every address one the tests can reason about.
ZONE = [
    # bueno.test: everything right (web, mail with STARTTLS, SPF, DMARC, NS).
    "host-record=bueno.test,127.0.0.1",
    "host-record=mx.bueno.test,127.0.0.1",
    "mx-host=bueno.test,mx.bueno.test,10",
    "txt-record=bueno.test,v=spf1 mx -all",
    "txt-record=_dmarc.bueno.test,v=DMARC1; p=reject; rua=mailto:dmarc@bueno.test",
    f"dns-rr=bueno.test,{_ns('ns1.bueno.test')}",
    # sinmx.test: a web without mail: no MX.
    "host-record=sinmx.test,127.0.0.1",
    "txt-record=sinmx.test,v=spf1 -all",
    "txt-record=_dmarc.sinmx.test,v=DMARC1; p=reject",
    f"dns-rr=sinmx.test,{_ns('ns1.sinmx.test')}",
    # sinspf.test: mail without SPF or DMARC.
    "host-record=sinspf.test,127.0.0.1",
    "host-record=mx.sinspf.test,127.0.0.1",
    "mx-host=sinspf.test,mx.sinspf.test,10",
    f"dns-rr=sinspf.test,{_ns('ns1.sinspf.test')}",
    # doblespf.test: two SPF records, which makes SPF fail (RFC 7208 §4.5).
    "host-record=doblespf.test,127.0.0.1",
    "txt-record=doblespf.test,v=spf1 mx -all",
    "txt-record=doblespf.test,v=spf1 a -all",
    # privado.test: a customer's name pointing into a private network, mail included.
    "host-record=privado.test,10.0.0.5",
    "host-record=mx.privado.test,10.0.0.5",
    "mx-host=privado.test,mx.privado.test,10",
    # mapeado.test: the same private address dressed as IPv6 (IPv4-mapped).
    "host-record=mapeado.test,::ffff:10.0.0.5",
    # The loopback names: reachable only where allow_networks covers 127.0.0.0/8.
    "host-record=local.test,127.0.0.1",
    "host-record=expira.test,127.0.0.1",
    "host-record=caducado.test,127.0.0.1",
    "host-record=nombre-mal.test,127.0.0.1",
    "host-record=redirige.test,127.0.0.1",
    "host-record=lento.test,127.0.0.1",
    "host-record=mx.lento.test,127.0.0.1",
    "mx-host=lento.test,mx.lento.test,10",
    # A stand-in for a public host: its only address is 127.0.0.1 written as IPv4-mapped
    # IPv6, which a test allows alone ("::ffff:127.0.0.1/128") while 127.0.0.0/8 stays
    # forbidden, so that a redirect from it to 127.0.0.1 can be refused.
    "host-record=www.tienda-publica.test,::ffff:127.0.0.1",
]


@dataclass
class Dnsmasq:
    """dnsmasq answering for the .test zone alone (no upstream, no /etc/hosts)."""

    workdir: Path
    records: list[str] = field(default_factory=lambda: list(ZONE))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Dnsmasq:
        config = self.workdir / "dnsmasq.conf"
        options = [
            f"port={self.port}",
            "listen-address=127.0.0.1",
            "bind-interfaces",
            "no-resolv",
            "no-hosts",
            "local=/test/",  # answer NXDOMAIN / no data for .test names we do not hold
            *self.records,
        ]
        config.write_text("\n".join(options) + "\n")
        self.process = subprocess.Popen(
            [DNSMASQ, f"--conf-file={config}", "--keep-in-foreground", "--log-facility=-"],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "dnsmasq.log").open("wb"),
        )
        self._wait()
        return self

    def _wait(self) -> None:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], self.port
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, "dnsmasq died"
            with contextlib.suppress(dns.exception.DNSException):
                resolver.resolve("bueno.test", "A", lifetime=0.5)
                return
            time.sleep(0.05)
        raise RuntimeError("dnsmasq does not answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


Route = tuple[int, dict[str, str], bytes]


class _Handler(BaseHTTPRequestHandler):
    server: Web._Server

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.requests.append((self.path, dict(self.headers.items())))
        status, headers, body = owner.routes.get(self.path.split("?")[0], (404, {}, b"no"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Web:
    """An HTTP or, with `tls`, HTTPS server on 127.0.0.1; `routes` maps a path to
    (status, headers, body); `connections` counts every TCP connection it accepted."""

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        owner: Web

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client refusing our certificate is what some tests are about

        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = super().get_request()
            self.owner.connections += 1
            if self.owner.tls is not None:  # handshake in the handler's thread
                sock = self.owner.tls.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            return sock, address

    def __init__(self, routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.tls = tls
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.httpd = Web._Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> Web:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Silent:
    """A port that takes connections (the kernel's backlog) and never answers anything."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])

    def stop(self) -> None:
        self.sock.close()


class _Quiet:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "554 no mail taken here"


class Smtp:
    """aiosmtpd on 127.0.0.1: a mail server's banner, STARTTLS offered when `tls` is."""

    def __init__(self, tls: ssl.SSLContext | None = None, ident: str = "mx Test ESMTP") -> None:
        self.port = free_port()
        self.controller = Controller(
            _Quiet(), hostname="127.0.0.1", port=self.port, tls_context=tls, ident=ident
        )

    def start(self) -> Smtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def server_tls(ca: trustme.CA, *names: str, not_after: datetime | None = None) -> ssl.SSLContext:
    """A server context with a certificate for `names` signed by `ca`, valid until
    `not_after` (trustme's far future when None)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, not_after=not_after).configure_cert(context)
    return context


@dataclass
class Lab:
    """Every server of the checks' tests, started once per test module."""

    ca_file: Path
    dns: Dnsmasq
    good: Web  # https://bueno.test:PORT/, certificate valid for a year
    expiring: Web  # https://expira.test:PORT/, certificate ending in 3 days
    expired: Web  # https://caducado.test:PORT/, certificate ended 3 days ago
    wrong_name: Web  # https://nombre-mal.test:PORT/, certificate for otro-nombre.test
    # http://redirige.test:PORT/ -> /pagina -> 500; /fuera -> 127.0.0.1; /bucle -> itself;
    # /galleta sets a cookie on its way to /pagina
    redirects: Web
    recorder: Web  # http://127.0.0.1:PORT/admin, counts who comes
    silent: Silent  # accepts and never answers
    smtp_tls: Smtp  # offers STARTTLS, certificate for mx.bueno.test
    smtp_plain: Smtp  # no STARTTLS
    stops: list[Callable[[], None]] = field(default_factory=list)

    def settings(self, **overrides: Any) -> ChecksSettings:
        """The checks pointed at these servers the way a site's config would point them:
        the resolver, the CA, the SMTP port, and 127.0.0.0/8 allowed (unless overridden)."""
        values: dict[str, Any] = {
            "resolvers": ("127.0.0.1",),
            "resolver_port": self.dns.port,
            "allow_networks": parse_networks(["127.0.0.0/8"]),
            "ca_file": self.ca_file,
            "smtp_port": self.smtp_tls.port,
            "check_budget": timedelta(seconds=8),
            "total_budget": timedelta(seconds=20),
        }
        return ChecksSettings(**{**values, **overrides})

    def stop(self) -> None:
        for stop in reversed(self.stops):
            with contextlib.suppress(Exception):
                stop()


def start_lab(workdir: Path) -> Lab:
    """Start every server (stopped by `Lab.stop`); names resolve through `lab.dns` only."""
    ca = trustme.CA()
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    now = datetime.now(UTC)
    stops: list[Callable[[], None]] = []

    def started(server: Any) -> Any:
        server.start()
        stops.append(server.stop)
        return server

    page: Route = (200, {"Content-Type": "text/html"}, b"<h1>Bienvenido</h1>" * 10_000)
    recorder = started(Web({"/admin": (200, {}, b"panel interno")}))
    redirects = {
        "/": (302, {"Location": "/pagina"}, b""),
        "/pagina": (500, {}, b"Internal Server Error"),
        "/fuera": (302, {"Location": f"http://127.0.0.1:{recorder.port}/admin"}, b""),
        "/bucle": (302, {"Location": "/bucle"}, b""),
        "/galleta": (302, {"Location": "/pagina", "Set-Cookie": "sesion=abc123; Path=/"}, b""),
    }
    try:
        lab = Lab(
            ca_file=ca_file,
            dns=started(Dnsmasq(workdir)),
            good=started(Web({"/": page}, server_tls(ca, "bueno.test", "www.bueno.test"))),
            expiring=started(
                Web(
                    {"/": page},
                    server_tls(ca, "expira.test", not_after=now + timedelta(days=3, hours=1)),
                )
            ),
            expired=started(
                Web(
                    {"/": page},
                    server_tls(ca, "caducado.test", not_after=now - timedelta(days=3, hours=1)),
                )
            ),
            wrong_name=started(Web({"/": page}, server_tls(ca, "otro-nombre.test"))),
            redirects=started(Web(redirects)),
            recorder=recorder,
            silent=Silent(),
            smtp_tls=started(Smtp(server_tls(ca, "mx.bueno.test"), ident="mx.bueno.test ESMTP")),
            smtp_plain=started(Smtp(ident="mx.sinspf.test ESMTP")),
            stops=stops,
        )
    except BaseException:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                stop()
        raise
    stops.append(lab.silent.stop)
    return lab


@contextlib.contextmanager
def running_lab(workdir: Path) -> Iterator[Lab]:
    lab = start_lab(workdir)
    try:
        yield lab
    finally:
        lab.stop()
