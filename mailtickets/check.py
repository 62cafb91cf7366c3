"""`mailtickets check`: config, database, IMAP, SMTP and every template, one line each."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import aiosmtplib
from jinja2 import TemplateError

from mailtickets import digest
from mailtickets.canned import canned_names, render_canned
from mailtickets.db import open_database
from mailtickets.errors import ConfigError, TemporaryError
from mailtickets.ingest import connect
from mailtickets.models import Ticket
from mailtickets.notifier import ticket_context
from mailtickets.outbox import connect_relay
from mailtickets.render import KINDS, Renderer
from mailtickets.settings import ImapSettings, Settings, SmtpSettings


def sample_digest(settings: Settings, opened: datetime) -> dict[str, Any]:
    """The daily digest's variables (digest_job.py), one ticket in every section."""
    row = {
        "code": f"{settings.tickets.code_prefix}-GHJKMN",
        "subject": "No carga la web",
        "status": "new",
        "priority": "high",
        "department": settings.default_department.name,
        "assignee": "ana@example.com",
        "opened": opened,
        "age_days": 3,
        "due": opened,
        "late": True,
        "closes": opened,
    }
    section = {"rows": [row], "count": 31, "more": 30}
    return {
        "digest_day": opened,
        "digest_department": settings.default_department.name,
        "digest_open": 4,
        "digest_bands": [{"key": key, "count": 1} for key in digest.BAND_KEYS],
        "digest_within_minutes": 120,
        "digest_at_risk": section,
        "digest_waiting": section,
        "digest_closing": section,
        "digest_assigned": section,
    }


def sample_context(settings: Settings) -> dict[str, Any]:
    """Every variable any template may use, with plausible values."""
    cfg = settings.tickets
    # Aware datetimes in the site's zone, as the daemon hands them to templates.
    opened = datetime(2026, 11, 23, 17, 55, tzinfo=cfg.tz)
    ticket = Ticket(
        code=f"{cfg.code_prefix}-ABCDEF",
        subject="No funciona el correo de midominio.es",
        status="waiting",
        department=settings.default_department.name,
        requester="cliente@example.com",
        customer_id=0,
        created_at=opened,
        updated_at=opened,
    )
    # The variables every ticket template gets, then plausible values for the others.
    return ticket_context(
        settings,
        ticket,
        "Ejemplo S.L.",
        expected={"at": datetime(2026, 11, 30, 10, 30, tzinfo=cfg.tz), "days": 7},
        needs_domain=True,
        opened=opened,
        first_response_minutes=30,
        id=7,
        message_id="<a@example.com>",
        uid=7,
        mailbox="soporte@imap.example.com/INBOX",
        attempts=3,
        error="ValueError: example",
        folder=settings.imap.failed_folder,
        limits=settings.limits,
        not_added=[{"address": "otro@example.com", "why": "cap"}],
        merged_code=f"{cfg.code_prefix}-GHJKMN",
        left_out=["otro@example.com"],
        from_header="=?utf-8?q?Luc=C3=ADa?= <a@example.com>, <b@example.com>",
        open_tickets=[{"code": f"{cfg.code_prefix}-GHJKMN", "subject": "x", "status": "open"}],
        text="Hola,\nno puedo enviar correo.",
        sender="cliente@example.com",
        reopened=False,
        attachments=["captura.png"],
        staff_name="Ana",
        reason="sin respuesta",
        login="imap:soporte",
        suggestions=[
            {
                "title": "¿Cómo creo o elimino una cuenta de correo?",
                "text": "Entre en Acceso Hosting → E-mail.",
                "url": "https://ayuda.example.com/correo",
                "plans": ["Web autogestionada"],
            }
        ],
        # What a canned answer gets besides the ticket's variables (staff_commands.py).
        staff_email="ana@example.com",
        requester="cliente@example.com",
        contact_name="Lucía",
        plan="Web autogestionada",
        domain="midominio.es",
        summary="Comprobaciones: 1 problema.\n- Problema: el dominio midominio.es no tiene MX",
        note="- Problema: el dominio midominio.es no tiene registro MX",
        since=opened,
        # command_error reads line/problem; over_limit reads kind/size/limit/name.
        problems=[
            {
                "line": "#prioridad altísima",
                "problem": "unknown priority",
                "kind": "attachment_size",
                "size": 12_000_000,
                "limit": 10_485_760,
                "name": "captura.png",
            }
        ],
        canned=[{"name": "alta-correo", "description": "Crear cuentas de correo"}],
        tickets=[
            {
                "code": f"{cfg.code_prefix}-GHJKMN",
                "subject": "x",
                "status": "open",
                "updated": opened,
            }
        ],
        **sample_digest(settings, opened),
    )


def run_check(settings: Settings) -> int:
    """0 when everything answers; 2 for a template fault; 1 when a server is unreachable."""
    print(f"ok    config {settings.source}")
    if settings.unverified_senders:
        print(f"warn  security: {settings.unverified_senders}")
    failures = usage = 0
    for name, probe in probes(settings):
        try:
            print(f"ok    {name} {probe()}")
        except ConfigError as exc:
            usage += 1
            print(f"FAIL  {name}: {exc}", file=sys.stderr)
        except TemporaryError as exc:
            failures += 1
            print(f"FAIL  {name}: {exc}", file=sys.stderr)
    return 2 if usage else 1 if failures else 0


def probes(settings: Settings) -> list[tuple[str, Callable[[], str]]]:
    """What `check` tries, in order: the database, each mailbox's IMAP login and relay
    authentication (tokens included), the templates. A lone [imap] is "imap" and "smtp";
    [[mailboxes]] are "imap NAME" and "smtp NAME", so each line says which one works."""
    several = bool(settings.mailboxes)
    found: list[tuple[str, Callable[[], str]]] = [("database", partial(_database, settings))]
    for box in settings.mailbox_list:
        suffix = f" {box.name}" if several else ""
        found.append((f"imap{suffix}", partial(_imap, box.imap)))
        found.append((f"smtp{suffix}", partial(_smtp, box.smtp)))
    found.append(("templates", partial(_templates, settings)))
    return found


def _database(settings: Settings) -> str:
    engine = open_database(settings.database_url)
    engine.dispose()
    return engine.url.render_as_string(hide_password=True)


def _imap(imap: ImapSettings) -> str:
    client = connect(imap)
    client.logout()
    return imap.key


def _smtp(smtp: SmtpSettings) -> str:
    async def ehlo() -> None:
        client = await connect_relay(smtp)
        await client.quit()

    try:
        asyncio.run(ehlo())
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TemporaryError(f"SMTP relay {smtp.host}:{smtp.port}: {exc}") from exc
    return f"{smtp.host}:{smtp.port} ({smtp.security})"


def _templates(settings: Settings) -> str:
    renderer = Renderer(settings.tickets.locale, settings.tickets.templates_dir)
    context = sample_context(settings)
    # Every notice, then every canned answer (the site's own included) a staff member may
    # send with #plantilla: a broken one is found now, not when a customer waits for it.
    jobs: list[tuple[str, Callable[[], object]]] = [
        (kind, partial(renderer.render, kind, context)) for kind in KINDS
    ]
    names = canned_names(renderer)
    jobs += [(f"canned/{n}", partial(render_canned, renderer, n, context)) for n in names]
    for name, render in jobs:
        try:
            render()
        except TemplateError as exc:
            where = getattr(exc, "filename", None) or getattr(exc, "name", None) or name
            raise ConfigError(f"template {where}: {exc}") from exc
    return (
        f"{len(KINDS)} notifications and {len(names)} canned answers render in "
        f"'{settings.tickets.locale}'"
    )
