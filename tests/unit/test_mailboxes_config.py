"""`[[mailboxes]]` (SPEC §3): each mailbox's keys, its relay, what is refused with one line;
the mailbox's department in routing; the back-off of a failing mailbox."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest

from mailtickets.config import load_settings, reveal
from mailtickets.errors import ConfigError
from mailtickets.mail import parse_mail
from mailtickets.routing import route
from mailtickets.settings import Department, Limits, Settings
from mailtickets.watchers import BACKOFF_CAP, BACKOFF_FIRST, backoff_seconds

DATA = Path(__file__).resolve().parents[1] / "data"

BOXES = """\
[[mailboxes]]
name = "soporte"
address = "soporte@example.com"
host = "outlook.office365.com"
username = "soporte@example.com"
password = "uno"

[[mailboxes]]
name = "facturacion"
address = "facturacion@example.com"
department = "Facturación"
host = "imap.example.com"
port = 143
security = "starttls"
username = "facturacion@example.com"
password = "dos"
folder = "Entrada"
poll_interval = "2m"
{extra}
[smtp]
host = "smtp.example.com"
username = "soporte@example.com"
password = "tres"
from_address = "soporte@example.com"
from_name = "Soporte Example"

[[departments]]
name = "Hosting"
keywords = ["web"]
default = true

[[departments]]
name = "Facturación"
keywords = ["factura"]
"""

OWN_RELAY = """
[mailboxes.smtp]
host = "smtp.facturas.example.com"
port = 465
security = "ssl"
username = "facturacion@example.com"
password = "cuatro"
from_name = "Facturación Example"
"""


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return load_settings(path)


def replace_addresses(
    depts: tuple[Department, ...], name: str, address: str
) -> tuple[Department, ...]:
    return tuple(replace(d, addresses=(address,)) if d.name == name else d for d in depts)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_each_mailbox_has_its_own_server_login_folder_address_and_department(
    tmp_path: Path,
) -> None:
    settings = load(tmp_path, BOXES.format(extra=""))
    soporte, facturacion = settings.mailboxes
    assert (soporte.name, soporte.address, soporte.department) == (
        "soporte",
        "soporte@example.com",
        "",
    )
    assert soporte.imap.host == "outlook.office365.com" and soporte.imap.port == 993
    assert facturacion.department == "Facturación" and facturacion.imap.folder == "Entrada"
    assert facturacion.imap.security == "starttls" and facturacion.imap.port == 143
    assert facturacion.imap.poll_interval == timedelta(minutes=2)
    assert reveal(facturacion.imap.password) == "dos"
    # Without a relay of its own, a mailbox sends through [smtp] as its own address.
    assert facturacion.smtp.host == "smtp.example.com"
    assert facturacion.smtp.from_address == "facturacion@example.com"
    assert reveal(facturacion.smtp.password) == "tres"
    assert settings.imap == soporte.imap  # the first mailbox stands for "the" mailbox
    assert settings.mailbox_named("facturacion") is facturacion
    assert settings.mailbox_named(None) is soporte  # a ticket from before [[mailboxes]]
    assert settings.mailbox_of_key(facturacion.imap.key) is facturacion
    assert {"soporte@example.com", "facturacion@example.com"} <= settings.our_addresses


def test_a_mailbox_may_have_its_own_relay(tmp_path: Path) -> None:
    settings = load(tmp_path, BOXES.format(extra=OWN_RELAY))
    relay = settings.mailboxes[1].smtp
    assert (relay.host, relay.port, relay.security) == ("smtp.facturas.example.com", 465, "ssl")
    assert relay.from_address == "facturacion@example.com"
    assert relay.from_name == "Facturación Example" and reveal(relay.password) == "cuatro"
    assert settings.mailboxes[0].smtp.host == "smtp.example.com"


RELAY_KEYS = """
port = 2525
security = "none"
verp = false
connections = 1
timeout = 12
batch_size = 40
"""


def test_a_mailbox_relay_takes_what_it_does_not_say_from_smtp(tmp_path: Path) -> None:
    text = BOXES.format(extra="\n[mailboxes.smtp]\nconnections = 3\n")
    text = text.replace(
        'from_name = "Soporte Example"\n', 'from_name = "Soporte Example"' + RELAY_KEYS
    )
    relay = load(tmp_path, text).mailboxes[1].smtp
    # Only connections is its own: the relay, its settings and its login are [smtp]'s.
    assert (relay.host, relay.port, relay.security) == ("smtp.example.com", 2525, "none")
    assert (relay.verp, relay.timeout, relay.batch_size) == (False, 12.0, 40)
    assert relay.connections == 3 and relay.from_name == "Soporte Example"
    assert relay.username == "soporte@example.com" and reveal(relay.password) == "tres"
    assert relay.from_address == "facturacion@example.com"


def test_a_mailbox_relay_with_its_own_user_or_host_never_takes_smtps_password(
    tmp_path: Path,
) -> None:
    own_user = '\n[mailboxes.smtp]\nusername = "facturacion@example.com"\npassword = "cinco"\n'
    relay = load(tmp_path, BOXES.format(extra=own_user)).mailboxes[1].smtp
    assert relay.host == "smtp.example.com"  # the same relay, its own login
    assert (relay.username, reveal(relay.password)) == ("facturacion@example.com", "cinco")
    only_user = '\n[mailboxes.smtp]\nusername = "facturacion@example.com"\n'
    relay = load(tmp_path, BOXES.format(extra=only_user)).mailboxes[1].smtp
    assert relay.username == "facturacion@example.com" and reveal(relay.password) == ""
    other_host = '\n[mailboxes.smtp]\nhost = "smtp.otro.example"\n'
    relay = load(tmp_path, BOXES.format(extra=other_host)).mailboxes[1].smtp
    assert relay.host == "smtp.otro.example" and relay.port == 587
    assert (relay.username, reveal(relay.password)) == ("", "")


def test_a_mailbox_relay_naming_its_security_gets_that_securitys_port(tmp_path: Path) -> None:
    text = BOXES.format(extra='\n[mailboxes.smtp]\nsecurity = "ssl"\n')
    text = text.replace(
        'from_name = "Soporte Example"\n', 'from_name = "Soporte Example"\nport = 2525\n'
    )
    settings = load(tmp_path, text)
    assert settings.smtp.port == 2525
    relay = settings.mailboxes[1].smtp
    assert (relay.security, relay.port) == ("ssl", 465)


def test_a_lone_imap_table_is_the_mailbox_default(tmp_path: Path) -> None:
    text = BOXES.format(extra="")
    text = text[text.index("[smtp]") :]
    text = '[imap]\nhost = "imap.example.com"\nusername = "u"\npassword = "p"\n\n' + text
    settings = load(tmp_path, text)
    assert settings.mailboxes == ()
    (only,) = settings.mailbox_list
    assert (only.name, only.address, only.imap, only.smtp) == (
        "default",
        "soporte@example.com",
        settings.imap,
        settings.smtp,
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda t: '[imap]\nhost = "x"\nusername = "u"\npassword = "p"\n\n' + t,
            r"\[imap\]: give either one \[imap\] table or \[\[mailboxes\]\] tables",
        ),
        (
            lambda t: t.replace('department = "Facturación"', 'department = "Ventas"'),
            r"\[\[mailboxes\]\] #2 department: 'Ventas' is not a \[\[departments\]\] name",
        ),
        (
            lambda t: t.replace('name = "facturacion"', 'name = "soporte"'),
            r"#2 name: 'soporte' names an earlier mailbox too",
        ),
        (
            lambda t: t.replace('name = "facturacion"', 'name = "Facturación"'),
            r"#2 name: 'Facturación': use lower-case letters, digits, - and _",
        ),
        (
            lambda t: t.replace('"facturacion@example.com"\ndep', '"soporte@example.com"\ndep'),
            r"#2 address: soporte@example.com is mailbox 'soporte''s already",
        ),
        (
            lambda t: t.replace('address = "facturacion@example.com"', 'address = "nope"'),
            r"#2 address: 'nope' is not an email address",
        ),
        (
            lambda t: t.replace('folder = "Entrada"', 'folder = "Entrada"\nfolders = "x"'),
            r"#2 folders: unknown key",
        ),
        (
            lambda t: t.replace('host = "outlook.office365.com"\n', ""),
            r"\[\[mailboxes\]\] #1 host: missing \(required\)",
        ),
    ],
)
def test_a_bad_mailbox_is_refused_with_one_line_naming_it(
    tmp_path: Path, change: object, expected: str
) -> None:
    assert callable(change)
    message = refused(tmp_path, change(BOXES.format(extra="")))
    assert re.search(expected, message), message
    assert message.startswith(str(tmp_path / "config.toml"))


def test_a_mailbox_relay_takes_no_from_address_of_its_own(tmp_path: Path) -> None:
    text = BOXES.format(extra=OWN_RELAY + 'from_address = "otra@example.com"\n')
    message = refused(tmp_path, text)
    assert "#2 smtp from_address: the mailbox's address (facturacion@example.com) is its From" in (
        message
    )


def test_two_mailboxes_reading_one_folder_are_refused(tmp_path: Path) -> None:
    text = BOXES.format(extra="").replace(
        'host = "imap.example.com"', 'host = "outlook.office365.com"'
    )
    text = text.replace(
        'port = 143\nsecurity = "starttls"\nusername = "facturacion@example.com"',
        'username = "soporte@example.com"',
    )
    text = text.replace('folder = "Entrada"', 'folder = "INBOX"')
    assert "#2 folder: mailbox 'soporte' reads this folder already" in refused(tmp_path, text)


def test_an_inline_password_in_a_mailbox_is_warned_about_when_others_can_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(BOXES.format(extra="").replace('password = "tres"\n', ""))
    path.chmod(0o644)
    (warning,) = load_settings(path).warnings
    assert "([[mailboxes]] #1 password)" in warning and "chmod 600" in warning


def test_the_mailbox_department_weighs_like_an_address_above_keywords(tmp_path: Path) -> None:
    settings = load(tmp_path, BOXES.format(extra=""))
    mail = parse_mail((DATA / "mailboxes" / "cargo-duplicado-alias.eml").read_bytes(), Limits())
    depts = settings.departments
    assert route(mail, depts).department == "Hosting"  # "web" in the body
    chosen = route(mail, depts, "facturacion:Facturación")
    assert chosen.department == "Facturación"
    assert chosen.reasons[0] == "mailbox facturacion → Facturación"
    # A department that no longer exists routes as if the mailbox named none.
    assert route(mail, depts, "viejo:Ventas").department == "Hosting"
    # A department's own address, when the mail names it, still comes first.
    raw = (DATA / "mailboxes" / "cargo-duplicado-alias.eml").read_bytes()
    message = message_from_bytes(raw)
    message.replace_header("To", "soporte@example.com")
    addressed = replace_addresses(settings.departments, "Hosting", "soporte@example.com")
    chosen = route(parse_mail(message.as_bytes(), Limits()), addressed, "facturacion:Facturación")
    assert chosen.department == "Hosting"


def test_a_failing_mailbox_waits_longer_each_time_up_to_a_cap() -> None:
    first = BACKOFF_FIRST.total_seconds()
    waits = [backoff_seconds(n, timedelta(seconds=1)) for n in range(1, 9)]
    assert waits[:4] == [first, 2 * first, 4 * first, 8 * first]
    assert waits[-1] == BACKOFF_CAP.total_seconds() and max(waits) == waits[-1]
    # A mailbox polled rarely is not tried more often when failing than when working.
    assert backoff_seconds(1, timedelta(minutes=2)) == 120.0


def test_checks_keys_are_read_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    text = (
        BOXES.format(extra="")
        + """
[checks]
enabled = true
resolvers = ["192.0.2.53"]
resolver_port = 5353
allow_networks = ["10.20.0.0/16"]
check_budget = "5s"
total_budget = "15s"
max_urls = 2
disabled = ["smtp"]
"""
    )
    checks = load(tmp_path, text).checks
    assert checks.resolvers == ("192.0.2.53",) and checks.resolver_port == 5353
    assert [str(n) for n in checks.allow_networks] == ["10.20.0.0/16"]
    assert (checks.check_budget, checks.total_budget) == (
        timedelta(seconds=5),
        timedelta(seconds=15),
    )
    assert checks.max_urls == 2 and checks.disabled == frozenset({"smtp"})
    for bad, said in (
        ('resolvers = ["dns.example.com"]', "resolvers: 'dns.example.com' is not an IP address"),
        ('allow_networks = ["10.0.0.0/33"]', "allow_networks: "),
        ('total_budget = "1s"', "total_budget: must be at least check_budget"),
        ("max_urls = -1", "max_urls: -1 must be 0 or more"),
        ("enabled = 1", "enabled: expected bool"),
    ):
        key = bad.split(" =")[0]
        changed = "\n".join(
            bad if line.startswith(f"{key} =") else line for line in text.splitlines()
        )
        if bad not in changed:
            changed += "\n" + bad + "\n"
        message = refused(tmp_path, changed)
        assert f"[checks] {said}" in message, message
