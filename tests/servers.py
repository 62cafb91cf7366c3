"""Real servers for tests and benchmarks: Debian's Dovecot and an aiosmtpd sink, on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import json
import locale
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from imapclient import IMAPClient

from tests.oauth2_keys import (
    JWT_BEARER,
    NOT_DELEGATED,
    ServiceAccount,
    new_service_account,
    verified_claims,
)

# Mail processes refuse to run as root: mailboxes belong to an unprivileged uid.
MAIL_UID = 65534 if os.geteuid() == 0 else os.geteuid()
MAIL_GID = 65534 if os.geteuid() == 0 else os.getegid()


PREALLOCATED_USERS = 500


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{base}/mail/%u
first_valid_uid = {uid}
{users}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {base}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
protocol imap {{
  imap_idle_notify_interval = 1 secs
}}
"""

# Dovecot's oauth2 passdb (opt-in): the bearer token is POSTed to the introspection URL,
# which answers {"active": true, "username": ...} for a live token.
_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {base}/dovecot-oauth2.conf.ext
}}
"""

_OAUTH2_CONFIG = """\
introspection_mode = post
introspection_url = {introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


@dataclass
class Dovecot:
    """One private Dovecot: its own config, folders and passwd file; a user per test."""

    base: Path
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)
    free_users: list[str] = field(default_factory=list)

    introspection_url: str = ""  # "": passwords only (the suite's default)
    tls: tuple[Path, Path] | None = None  # a certificate and its key: STARTTLS and IMAPS
    tls_port: int = 0  # IMAPS, with `tls`

    @classmethod
    def start(cls, introspection_url: str = "", tls: tuple[Path, Path] | None = None) -> Dovecot:
        """`introspection_url`: also take XOAUTH2 and OAUTHBEARER logins, each bearer token
        checked there (Dovecot's oauth2 passdb, e.g. a TokenServer's); passwords still work.
        `tls`: a certificate file and its key, offered by STARTTLS and on `tls_port`."""
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            raise RuntimeError("dovecot is not installed: run tests/run-all.sh, which installs it")
        base = Path(tempfile.mkdtemp(prefix="mt-dovecot-"))
        base.chmod(0o755)
        server = cls(base=base, port=free_port(), introspection_url=introspection_url, tls=tls)
        if tls is not None:
            server.tls_port = free_port()
        (base / "mail").mkdir()
        os.chown(base / "mail", MAIL_UID, MAIL_GID)
        server._write_users(PREALLOCATED_USERS)
        (base / "dovecot.conf").write_text(server._config())
        subprocess.run([binary, "-c", str(base / "dovecot.conf")], check=True)
        _wait_for_port(server.port)
        return server

    def _config(self) -> str:
        users = ""
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid()).pw_name
            users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
        uid = min(MAIL_UID, 500)
        config = _CONFIG.format(
            base=self.base, port=self.port, users=users, uid=uid, tls_port=self.tls_port
        )
        if self.tls is not None:
            cert, key = self.tls
            config = config.replace("ssl = no", f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}")
        if not self.introspection_url:
            return config
        (self.base / "dovecot-oauth2.conf.ext").write_text(
            _OAUTH2_CONFIG.format(introspection_url=self.introspection_url)
        )
        oauth2 = _OAUTH2_PASSDB.format(base=self.base)
        config = config.replace(
            "auth_mechanisms = plain login", "auth_mechanisms = plain login xoauth2 oauthbearer"
        )
        return config.replace("passdb {", oauth2 + "passdb {", 1)

    def _write_users(self, count: int) -> None:
        # All users exist from the start: Dovecot notices a changed passwd file by its
        # mtime, which two writes within one second would not change.
        lines = []
        for number in range(1, count + 1):
            name = f"user{number}"
            lines.append(f"{name}:{{PLAIN}}secret:{MAIL_UID}:{MAIL_GID}::{self.base}/home/{name}")
        (self.base / "passwd").write_text("\n".join(lines) + "\n")
        self.free_users = [f"user{n}" for n in range(1, count + 1)]

    def add_user(self) -> str:
        """A user (and mailbox) no other test has touched."""
        name = self.free_users.pop(0)
        self.users[name] = "secret"
        return name

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(user, self.users[user])
        return client

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        when: datetime | None = None,
        flags: tuple[bytes, ...] = (),
    ) -> None:
        """Deliver `raw` as the mail server would: APPEND with an arrival time."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=flags, msg_time=when)

    def stop(self) -> None:
        pid_file = self.base / "run" / "master.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: object = None  # the client's (host, port): one value per SMTP connection
    at: float = field(default_factory=time.time)  # when the sink took it

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.data, policy=default_policy)

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        return str(body.get_content()) if body is not None else ""


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await self.sink.wait_turn()
        with self.sink.lock:
            if getattr(session, "over_limit", False):
                self.sink.turned_away += 1
                return "432 4.3.2 Concurrent connections limit exceeded"
            if self.sink.replies:
                return self.sink.replies.pop(0)
            self.sink.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    bytes(envelope.content),
                    session.peer,
                )
            )
        return "250 OK"


class _OAuth2SinkHandler(_SinkHandler):
    """The sink's handler plus SASL XOAUTH2, each bearer token checked by a TokenServer."""

    def __init__(self, sink: SmtpSink, tokens: TokenServer) -> None:
        super().__init__(sink)
        self.tokens = tokens

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        from aiosmtpd.smtp import AuthResult

        try:
            fields = base64.b64decode(args[1]).decode().split("\x01")
        except (IndexError, ValueError):
            return AuthResult(success=False, handled=False)
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        user, token = values.get("user", ""), values.get("auth", "").removeprefix("Bearer ")
        _status, answer = self.tokens.introspect({"token": token})
        with self.sink.lock:
            self.sink.logins.append((user, bool(answer.get("active"))))
        if answer.get("active") and answer.get("username") == user:
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)


class _SessionLimited(SMTP):
    """aiosmtpd's server, answering 421 to a connection beyond the sink's `max_sessions`
    open at once, as relays that limit one client's connections do. It overrides
    aiosmtpd's private _handle_client: should that change, the tests that count refused
    sessions fail loudly."""

    def __init__(self, handler: Any, sink: SmtpSink, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sink, self.counted = sink, False

    async def _handle_client(self) -> None:
        with self.sink.lock:
            limit = self.sink.max_sessions
            refuse = limit is not None and self.sink.sessions >= limit
            if refuse:
                self.sink.refused_sessions += 1
            else:
                self.sink.sessions += 1
                self.counted = True
                busy = self.sink.mail_sessions
                if busy is not None and self.sink.sessions > busy and self.session is not None:
                    self.session.over_limit = True  # type: ignore[attr-defined]
        if refuse:
            await self.push("421 4.7.0 Too many connections from your host")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self.counted:
            with self.sink.lock:
                self.sink.sessions -= 1
            self.counted = False
        super().connection_lost(error)


class _SinkController(Controller):
    def __init__(self, sink: SmtpSink, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sink = sink

    def factory(self) -> SMTP:
        return _SessionLimited(self.handler, self.sink, **self.SMTP_kwargs)


class SmtpSink:
    """An aiosmtpd server that keeps every mail; `replies` injects error answers in turn;
    `hold_after(n)` answers n more mails, then leaves each further one unanswered.
    With `tokens`, mail is taken only after AUTH XOAUTH2 with a token that server issued;
    `logins` lists each attempt as (user, accepted). `max_sessions`: connections taken at
    once, a further one answered 421 and counted in `refused_sessions`. `mail_sessions`:
    connections that may send at once; mail on a further one is answered 432, as
    Microsoft 365 does beyond three, and counted in `turned_away`."""

    def __init__(self, tokens: TokenServer | None = None) -> None:
        self.tokens = tokens
        self.logins: list[tuple[str, bool]] = []
        self.port = free_port()
        self.received: list[Received] = []
        self.replies: list[str] = []
        self.lock = threading.Lock()
        self.held = 0  # mails whose DATA is in, waiting for an answer
        self._answer_before_hold: int | None = None  # None: answer every mail
        self.max_sessions: int | None = None
        self.sessions = 0  # connections open now
        self.refused_sessions = 0
        self.mail_sessions: int | None = None
        self.turned_away = 0
        self.controller = self._controller()

    def _controller(self) -> Controller:
        if self.tokens is None:
            return _SinkController(self, _SinkHandler(self), hostname="127.0.0.1", port=self.port)
        return _SinkController(
            self,
            _OAuth2SinkHandler(self, self.tokens),
            hostname="127.0.0.1",
            port=self.port,
            auth_required=True,
            auth_require_tls=False,  # loopback, test tokens (aiosmtpd warns each session)
            auth_exclude_mechanism=["PLAIN", "LOGIN"],
        )

    def hold_after(self, count: int) -> None:
        """Answer `count` more mails as usual; keep later ones waiting until `release()`.
        A client that disconnects while its mail is held has not delivered it."""
        with self.lock:
            self._answer_before_hold = count

    def release(self) -> None:
        with self.lock:
            self._answer_before_hold = None

    async def wait_turn(self) -> None:
        with self.lock:
            if self._answer_before_hold is None:
                return
            if self._answer_before_hold > 0:
                self._answer_before_hold -= 1
                return
            self.held += 1
        try:
            while self._answer_before_hold is not None:
                await asyncio.sleep(0.005)
        finally:
            with self.lock:
                self.held -= 1

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def restart(self) -> None:
        """Come back on the same port, as a relay does after an outage."""
        self.controller = self._controller()
        self.controller.start()

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


# The program of a CliServer, run as `python -c`: it imports the command line once; then,
# for each request, a supervisor process forks from that state the process that runs
# `python -m mailtickets ARGS` (runpy's own entry point for -m) with the caller's stdin,
# stdout, stderr, cwd and environment, and reports its pid and exit code. The server runs
# nothing itself, so each run starts from a freshly imported interpreter, as a new one would.
_CLI_SERVER = r"""
import json, os, runpy, signal, socket, sys, threading
import mailtickets.cli


def serve(path, parent):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    listener.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    print("ready", flush=True)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test process is gone: so is its server
                os._exit(0)
            continue
        if os.fork() == 0:
            listener.close()
            if supervise(conn):
                return  # the forked command process: it runs the command line below
        conn.close()


def supervise(conn):
    # In the supervisor: run one command and exit. In the command's process: True.
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        message, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        while chunk := conn.recv(1 << 16):
            message += chunk
        request = json.loads(message)
        pid = os.fork()
    except BaseException:
        os._exit(1)
    if pid == 0:
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = os.getcwd()  # as `python -m` sets it
        sys.argv = ["-m", *request["argv"]]
        return True
    try:
        for fd in fds:
            os.close(fd)
        conn.sendall(f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    finally:
        os._exit(0)


if threading.active_count() != 1:  # fork copies one thread: the imports must start none
    sys.exit("mailtickets.cli started a thread at import: a fork of it would lack it")
serve(sys.argv[1], int(sys.argv[2]))
del serve, supervise
runpy._run_module_as_main("mailtickets")
"""

# Environment variables whose change does not make a started CliServer stale.
_PER_TEST_ENV = ("PYTEST_CURRENT_TEST",)


class CliServer:
    """Runs `python -m mailtickets ARGS` as a new process, without paying the command line's
    import time (about a second of CPU) each time: the process is forked from a server that
    imported mailtickets.cli once and ran nothing. A caller whose environment differs from
    the server's (a test's setenv may matter at import time) gets a plain `python -m`."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="mt-cli-"))
        self.path = self.base / "cli.sock"
        self.env = _import_env()
        self.log = (self.base / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CLI_SERVER, str(self.path), str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != b"ready\n":
            self.proc.wait(timeout=30)
            log = (self.base / "server.log").read_text(errors="replace")
            raise RuntimeError(f"the command line server did not start:\n{log}")

    def run(self, argv: list[str], timeout: float) -> tuple[int, str, str]:
        """Exit code, stdout and stderr of `python -m mailtickets *argv`, as subprocess.run
        with capture_output and text would give them."""
        if _import_env() != self.env:
            cmd = [sys.executable, "-m", "mailtickets", *argv]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            return done.returncode, done.stdout, done.stderr
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
        ):
            conn.settimeout(timeout)
            conn.connect(str(self.path))
            request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
            message = json.dumps(request).encode()
            socket.send_fds(conn, [message[: 1 << 15]], [0, out.fileno(), err.fileno()])
            conn.sendall(message[1 << 15 :])
            conn.shutdown(socket.SHUT_WR)
            answer = conn.makefile("rb")
            pid = int(answer.readline())
            try:
                code = answer.readline()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(["mailtickets", *argv], timeout) from None
            if not code:
                raise RuntimeError(f"the command line server lost `mailtickets {argv}`")
            return int(code), _text(out), _text(err)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)


def _import_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _PER_TEST_ENV}


def _text(stream: Any) -> str:
    """What subprocess's text mode makes of the bytes: locale encoding, universal newlines."""
    stream.seek(0)
    raw: bytes = stream.read()
    decoded = raw.decode(locale.getpreferredencoding(False))
    return decoded.replace("\r\n", "\n").replace("\r", "\n")


def _postgres_bindir() -> Path:
    """Debian's newest PostgreSQL server binaries (the package puts them off PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run tests/run-all.sh, which installs it")
    return found[-1].parent


def _as_mail_user() -> dict[str, Any]:
    # PostgreSQL refuses to run as root: the cluster belongs to the tests' unprivileged uid.
    return {"user": MAIL_UID, "group": MAIL_GID} if os.geteuid() == 0 else {}


@dataclass
class Postgres:
    """One private PostgreSQL cluster: initdb in a temporary folder, its own port and socket
    folder, loopback only, stopped by its postmaster's PID; a database per test."""

    base: Path
    port: int
    bindir: Path
    made: int = 0

    @classmethod
    def start(cls, durable: bool = False) -> Postgres:
        """`durable`: fsync, synchronous_commit and full_page_writes on, as in production
        (the benchmarks); by default off, which makes the tests fast."""
        bindir = _postgres_bindir()
        base = Path(tempfile.mkdtemp(prefix="mt-postgres-"))
        base.chmod(0o755)
        for sub in ("data", "run"):
            (base / sub).mkdir()
            os.chown(base / sub, MAIL_UID, MAIL_GID)
        server = cls(base=base, port=free_port(), bindir=bindir)
        quiet = {"stdout": subprocess.DEVNULL, "check": True, **_as_mail_user()}
        subprocess.run(
            [
                bindir / "initdb",
                "-D",
                base / "data",
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            **quiet,
        )
        # By default durability is the host's business, not the tests': no fsync is fast.
        durability = "on" if durable else "off"
        settings = [
            f"port = {server.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{base / 'run'}'",
            f"fsync = {durability}",
            f"synchronous_commit = {durability}",
            f"full_page_writes = {durability}",
            "max_connections = 200",
        ]
        with (base / "data" / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        subprocess.run(
            [
                bindir / "pg_ctl",
                "-D",
                base / "data",
                "-l",
                base / "run" / "postgres.log",
                "-w",
                "start",
            ],
            **quiet,
        )
        return server

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database no other test has touched; its URL."""
        self.made += 1
        name = f"t{os.getpid()}_{self.made}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg  # only the tests that use PostgreSQL need the driver

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.encode())

    def stop(self) -> None:
        pid_file = self.base / "data" / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)  # "fast" shutdown: end sessions, then stop
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class _Grant:
    username: str
    expires_at: float  # time.time(): Dovecot asks long after the token endpoint answered


class TokenServer:
    """An OAuth2 token endpoint on loopback (POST …/token) and the introspection endpoint
    Dovecot's oauth2 passdb asks (POST /introspect, token=...).

    Grants: refresh_token; client_credentials (the app's token, for `app_mailbox`); and
    the JWT bearer grant of a Google service account (`add_service_account`), whose
    RS256 signature, issuer, audience and times are checked, its scope against what
    domain-wide delegation granted, the token issued for the JWT's `sub`.
    Access tokens live `lifetime` seconds; with `rotate` each refresh hands out a new
    refresh token and voids the old one; `refuse` set to an RFC 6749 error code (e.g.
    "invalid_grant") answers every token request with it and `refuse_description`.

    With `ca` (a trustme CA) the token endpoint speaks HTTPS with a certificate for
    127.0.0.1, and serves the OpenID discovery document msal asks for at
    GET /TENANT/v2.0/.well-known/openid-configuration; introspection stays plain HTTP on a
    second port, since the suite's Dovecot trusts no test CA."""

    def __init__(
        self, client_id: str = "mailtickets", client_secret: str = "", ca: trustme.CA | None = None
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.lifetime = 3600
        self.rotate = True
        self.refuse: str | None = None
        self.refuse_description = "refused by the test"
        self.lock = threading.Lock()
        self.refresh_tokens: dict[str, str] = {}  # refresh token → username
        self.access_tokens: dict[str, _Grant] = {}
        self.token_requests: list[dict[str, str]] = []
        self.introspections = 0
        # Who an app's own token (grant_type=client_credentials) may log in as: the mailbox
        # permission an Exchange admin grants the app's service principal.
        self.app_mailbox = ""
        self.service_accounts: dict[str, ServiceAccount] = {}  # client_email → its key
        self.assertions: list[dict[str, Any]] = []  # the claims of each verified JWT
        self.discoveries: list[str] = []  # the tenant of each OpenID discovery asked
        self.tenants: set[str] = set()  # empty: any tenant exists
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self))
        self.port = int(self.httpd.server_address[1])
        self.scheme = "http"
        self.servers = [self.httpd]
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(context)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
            self.servers.append(ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self)))
        self.introspection_port = int(self.servers[-1].server_address[1])
        self.threads = [
            # A short poll: stop() waits one poll per listener.
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            for server in self.servers
        ]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def microsoft_token_url(self, tenant: str) -> str:
        """Where Entra ID's token endpoint would be for `tenant` (msal's authority + path)."""
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.introspection_port}/introspect"

    def start(self) -> TokenServer:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def grant(self, username: str) -> str:
        """A new refresh token for `username`, as the consent screen would give."""
        token = "r-" + secrets.token_urlsafe(16)
        with self.lock:
            self.refresh_tokens[token] = username
        return token

    def add_service_account(self, email: str, delegated_scopes: set[str]) -> dict[str, str]:
        """A new service account's JSON key file (its token_uri this endpoint) and the
        scopes an administrator delegated to it domain-wide (empty: none yet)."""
        info, account = new_service_account(email, self.token_url)
        account.delegated_scopes = set(delegated_scopes)
        with self.lock:
            self.service_accounts[email] = account
        return info

    def revoke_access_tokens(self) -> None:
        """Every access token handed out so far stops working (refresh tokens still do)."""
        with self.lock:
            self.access_tokens.clear()

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.token_requests.append(form)
            if self.refuse:
                return 400, {"error": self.refuse, "error_description": self.refuse_description}
            if form.get("grant_type") == JWT_BEARER:
                return self._delegated_token(form.get("assertion", ""))
            if form.get("client_id") != self.client_id or (
                self.client_secret and form.get("client_secret") != self.client_secret
            ):
                return 401, {"error": "invalid_client", "error_description": "unknown client"}
            if form.get("grant_type") == "client_credentials":
                return self._app_token()
            if form.get("grant_type") != "refresh_token":
                return 400, {"error": "unsupported_grant_type"}
            username = self.refresh_tokens.get(form.get("refresh_token", ""))
            if username is None:
                return 400, {"error": "invalid_grant", "error_description": "unknown token"}
            answer = self._access_token(username)
            if self.rotate:
                del self.refresh_tokens[form["refresh_token"]]
                rotated = "r-" + secrets.token_urlsafe(16)
                self.refresh_tokens[rotated] = username
                answer["refresh_token"] = rotated
            return 200, answer

    def _access_token(self, username: str) -> dict[str, Any]:
        access = "a-" + secrets.token_urlsafe(16)
        self.access_tokens[access] = _Grant(username, time.time() + self.lifetime)
        return {"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime}

    def _app_token(self) -> tuple[int, dict[str, Any]]:
        if not self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "a secret is needed"}
        return 200, self._access_token(self.app_mailbox)

    def _delegated_token(self, assertion: str) -> tuple[int, dict[str, Any]]:
        """RFC 7523: a token for the JWT's `sub`, once its signature and claims hold."""
        claims = verified_claims(assertion, self.service_accounts, time.time())
        if isinstance(claims, str):
            return 400, {"error": "invalid_grant", "error_description": claims}
        self.assertions.append(claims)
        asked = set(str(claims.get("scope", "")).split())
        if not asked or not asked <= self.service_accounts[claims["iss"]].delegated_scopes:
            return 401, {"error": "unauthorized_client", "error_description": NOT_DELEGATED}
        return 200, self._access_token(claims["sub"])

    def discover(self, tenant: str) -> tuple[int, dict[str, Any]]:
        """Entra ID's OpenID configuration of `tenant`, the first thing msal asks."""
        with self.lock:
            self.discoveries.append(tenant)
        if self.tenants and tenant not in self.tenants:
            return 400, {
                "error": "invalid_tenant",
                "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
            }
        base = f"{self.base_url}/{tenant}"
        return 200, {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
        }

    def introspect(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.introspections += 1
            grant = self.access_tokens.get(form.get("token", ""))
            if grant is None or grant.expires_at <= time.time():
                return 200, {"active": False}
            return 200, {"active": True, "username": grant.username}


# msal's first question: GET /TENANT/v2.0/.well-known/openid-configuration.
_DISCOVERY = re.compile(r"/([^/]+)/v2\.0/\.well-known/openid-configuration")


def _token_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            fields = parse_qs(self.rfile.read(length).decode())
            form = {key: values[0] for key, values in fields.items()}
            path = self.path.split("?")[0]
            if path.endswith("/token"):  # /token, or Entra's /TENANT/oauth2/v2.0/token
                self.answer(*server.issue(form))
            elif path == "/introspect":
                self.answer(*server.introspect(form))
            else:
                self.answer(404, {"error": "not_found"})

        def do_GET(self) -> None:
            found = _DISCOVERY.fullmatch(self.path.split("?")[0])
            self.answer(*(server.discover(found[1]) if found else (404, {"error": "not_found"})))

        def answer(self, status: int, answer: dict[str, Any]) -> None:
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests read the server's state, not its access log

    return Handler
