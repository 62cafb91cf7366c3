"""Fixtures: one Dovecot per session, and per test its own IMAP user, SMTP sink and database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from mailtickets.cli import main
from mailtickets.config import load_settings
from mailtickets.daemon import CycleReport, Daemon
from mailtickets.db import connect, open_database
from mailtickets.settings import Settings
from tests.servers import CliServer, Dovecot, Postgres, SmtpSink

DATA = Path(__file__).parent / "data"

CONFIG_TEMPLATE = """\
[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
password = "secret"
folder = "INBOX"
poll_interval = "1s"
{imap_extra}

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "soporte@hostingejemplo.es"
from_name = "Soporte Hosting Ejemplo"

[database]
url = "{database_url}"

[tickets]
code_prefix = "SOP"
locale = "es"
company_name = "Hosting Ejemplo"
{tickets_extra}

[policy]
unknown_senders = "{policy}"

[checks]
# Off unless a test turns them on with its own DNS server (tests/assistant_servers.py): a
# test's mail must never make the automatic checks ask the machine's resolver.
enabled = false

[[departments]]
name = "Hosting"
addresses = ["hosting@hostingejemplo.es"]
keywords = ["wordpress", "web", "error 500"]
staff = ["ana.garcia@hostingejemplo.es"]
default = true

[[departments]]
name = "Facturación"
addresses = ["facturacion@hostingejemplo.es"]
keywords = ["factura", "facturación", "cobro", "pago"]
staff = ["pablo.ruiz@hostingejemplo.es"]

[[departments]]
name = "Dominios"
addresses = ["dominios@hostingejemplo.es"]
keywords = ["dns", "renovar", "renovación", "transferencia", "whois"]
staff = ["pablo.ruiz@hostingejemplo.es"]

[[staff]]
email = "ana.garcia@hostingejemplo.es"
name = "Ana García"

[[staff]]
email = "pablo.ruiz@hostingejemplo.es"
name = "Pablo Ruiz"
"""


def eml(name: str, **placeholders: str) -> bytes:
    """A test mail from tests/data with {{PLACEHOLDERS}} filled in."""
    raw = (DATA / name).read_bytes()
    for key, value in placeholders.items():
        raw = raw.replace(b"{{" + key.upper().encode() + b"}}", value.encode())
    return raw


# New customer mail from different clients, for tests and benchmarks that need many.
NEW_MAIL = (
    "new-gmail-plain.eml",
    "new-outlook-latin1.eml",
    "new-thunderbird-windows1252.eml",
    "new-english-plain.eml",
    "cc-soporte-facturacion.eml",
)


def eml_variant(n: int, prefix: str = "variant") -> bytes:
    """The n-th of many distinct new mails: corpus mail n with its own Message-ID."""
    raw = eml(NEW_MAIL[n % len(NEW_MAIL)])
    new_id = f"Message-ID: <{prefix}-{n}@test.example>\n".encode()
    return re.sub(rb"(?im)^message-id:.*\n", new_id, raw, count=1)


@dataclass
class World:
    """Everything one end-to-end test talks to."""

    dovecot: Dovecot
    user: str
    sink: SmtpSink
    config: Path
    tmp: Path
    database_url: str

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    def deliver(self, raw: bytes, when: datetime | None = None, folder: str = "INBOX") -> None:
        self.dovecot.append(self.user, raw, folder=folder, when=when)

    def cycle(self, clock: Any = None) -> CycleReport:
        """One `run --once` cycle in process, optionally on a fake clock."""
        settings = self.settings
        engine = open_database(settings.database_url)
        daemon = Daemon(settings, engine, clock) if clock else Daemon(settings, engine)
        try:
            return daemon.cycle()
        finally:
            daemon.log_out()
            engine.dispose()

    def cli(self, *args: str) -> tuple[int, str, str]:
        """The real command line in a process of its own: exit code, stdout, stderr."""
        return cli_server().run(["--config", str(self.config), *args], timeout=120)

    def tickets(self) -> list[dict[str, Any]]:
        code, out, err = self.cli("tickets", "--json")
        assert code == 0, err
        return list(json.loads(out))

    def show(self, code: str) -> dict[str, Any]:
        rc, out, err = self.cli("show", code, "--json")
        assert rc == 0, err
        return dict(json.loads(out))

    def run_main(self, *args: str) -> int:
        return main(["--config", str(self.config), *args])

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of one SQL query against the test's database, SQLite or PostgreSQL."""
        engine = connect(self.database_url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()


_CLI_SERVERS: list[CliServer] = []


def cli_server() -> CliServer:
    """This test process's CliServer, started on first use (World.cli's `python -m`)."""
    if not _CLI_SERVERS:
        _CLI_SERVERS.append(CliServer())
    return _CLI_SERVERS[0]


@pytest.fixture(scope="session", autouse=True)
def _stop_cli_server() -> Iterator[None]:
    yield
    while _CLI_SERVERS:
        _CLI_SERVERS.pop().stop()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres.start()
    yield server
    server.stop()


BACKENDS = ("sqlite", "postgresql")
# On a test or module: run it once on each database SPEC §3 accepts (not copied per backend);
# tests of it that touch no database run once.
both_databases = pytest.mark.both_databases


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_databases: run once on SQLite, once on PostgreSQL")


# The files that take longest (about 100-200 s each under `-n 3` on 2 cores), longest
# first. They are collected first, and with --no-loadscope-reorder (pyproject.toml) xdist
# hands files out in collection order, so none is still running alone at the end (xdist's
# default order, most tests first, left test_crash.py's two long tests for last).
SLOW_FILES_FIRST = (
    "tests/e2e/test_crash.py",
    "tests/e2e/test_core_loop.py",
    "tests/e2e/test_timers.py",
    "tests/e2e/test_report.py",
    "tests/e2e/test_people.py",
    "tests/e2e/test_mailbox_watch.py",
    "tests/e2e/test_takeover.py",
    "tests/e2e/test_security.py",
    "tests/e2e/test_three_workers.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    chosen = any("backend" in m.args[0] for m in metafunc.definition.iter_markers("parametrize"))
    if (
        metafunc.definition.get_closest_marker("both_databases")
        and not chosen
        and ("backend" in metafunc.fixturenames)
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on: SQLite unless `both_databases` asks for each."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new empty database for one test: a file in tmp_path, or one in the tests' cluster."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'mt.db'}"
        return
    cluster: Postgres = request.getfixturevalue("postgres")
    url = cluster.create_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """That database with the schema made, as `mailtickets` opens it (tests/unit has its
    own, from the settings)."""
    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def write_config(
    path: Path,
    dovecot: Dovecot,
    user: str,
    sink: SmtpSink,
    db: Path | str,
    policy: str = "open",
    imap_extra: str = "",
    tickets_extra: str = "",
) -> Path:
    path.write_text(
        CONFIG_TEMPLATE.format(
            imap_port=dovecot.port,
            user=user,
            smtp_port=sink.port,
            database_url=db if isinstance(db, str) else f"sqlite:///{db}",
            policy=policy,
            imap_extra=imap_extra,
            tickets_extra=tickets_extra,
        )
    )
    path.chmod(0o600)  # it holds a password: keep it private, as ops would
    return path


@pytest.fixture
def world(dovecot: Dovecot, sink: SmtpSink, tmp_path: Path, database_url: str) -> World:
    user = dovecot.add_user()
    config = write_config(tmp_path / "config.toml", dovecot, user, sink, database_url)
    return World(dovecot, user, sink, config, tmp_path, database_url)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
