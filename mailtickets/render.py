"""Render notifications from Jinja2 template files, site folder first (no I/O but reading)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)

KINDS = (
    "ack",
    "staff_new",
    "staff_reply",
    "answer",
    "status",
    "reminder",
    "autoclose",
    "reject",
    "command_error",
    "ticket_list",
    "sla_breach",
    "quarantine_report",
    "spoof_warning",
    "over_limit",
    "unidentified_sender",
    "merge_left_out",
    "credential_refused",
    "staff_checks",
    "canned_list",
    "digest",
    "digest_assigned",
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def builtin_templates() -> Path:
    """The templates shipped with the package (installed) or beside it (a checkout)."""
    here = Path(__file__).resolve().parent
    installed = here / "templates"
    return installed if installed.is_dir() else here.parent / "templates"


Length = Literal["full", "long", "medium", "short"]  # CLDR's named date and time forms


def _aware(value: datetime) -> datetime:
    # Callers hand templates datetimes already in the site's zone; a naive one is a bug
    # upstream, and Babel would silently read it as UTC.
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"templates format aware datetimes only, not {value!r}")
    return value


def date_filters(locale: str) -> dict[str, Callable[..., str]]:
    """Jinja filters that write a datetime the way `locale` does (CLDR data, via Babel),
    in the zone the datetime carries: `date` and `time` take a `Length` or a CLDR pattern
    such as "EEEE d 'de' MMMM"; `datetime` takes a `Length` for each half."""
    cldr = Locale.parse(locale)

    def date(value: datetime, form: str = "long") -> str:
        return format_date(_aware(value), form, locale=cldr)

    def time(value: datetime, form: str = "short") -> str:
        return format_time(_aware(value), form, tzinfo=None, locale=cldr)

    def date_time(
        value: datetime, date_form: Length = "medium", time_form: Length = "short"
    ) -> str:
        # Babel's format_datetime uses one length for both halves; a date without seconds
        # ("23 nov 2026, 10:15") needs the two chosen apart, joined the locale's way.
        joined = str(get_datetime_format(date_form, locale=cldr)).replace("'", "")
        written = joined.replace("{1}", date(value, date_form))
        return written.replace("{0}", time(value, time_form))

    return {
        "date": date,
        "time": time,
        "datetime": date_time,
        "weekday": lambda value: date(value, "EEEE"),
        "month": lambda value: date(value, "MMMM"),
    }


class _Environment(Environment):
    """Templates see the environment's globals as one plain dict, copied when the template
    is loaded (Jinja asks that globals not change after that). Its ChainMap, walked by
    every render and every `{% import %}`, cost a sixth of rendering a reminder."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


class Renderer:
    """One Jinja environment per locale; a site folder overrides any file by name.
    Dates are written by the filters of `date_filters` for the same locale."""

    def __init__(self, locale: str, site_dir: Path | None = None) -> None:
        folders = [builtin_templates() / locale]
        if site_dir is not None:
            folders.insert(0, site_dir / locale)
            folders.insert(1, site_dir)
        self.env = _Environment(
            loader=ChoiceLoader([FileSystemLoader(str(f)) for f in folders]),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
            keep_trailing_newline=True,
            # Files are read again on SIGHUP (reload), not checked on disk at every render:
            # a stat of each file per notice cost a tenth of rendering a reminder.
            auto_reload=False,
        )
        self.env.filters.update(date_filters(locale))
        # Kinds with no HTML file: searching every folder for it again, and raising, cost
        # more than rendering a reminder. Forgotten on reload, like the template cache.
        self._no_html: set[str] = set()

    def render(self, kind: str, context: dict[str, Any]) -> Rendered:
        """Subject, text and (when the file exists) HTML of notification `kind`."""
        subject = self.env.get_template(f"{kind}.subject.j2").render(context)
        text = self.env.get_template(f"{kind}.txt.j2").render(context)
        html: str | None = None
        if kind not in self._no_html:
            try:
                html = self.env.get_template(f"{kind}.html.j2").render(context)
            except TemplateNotFound:
                self._no_html.add(kind)
        return Rendered(" ".join(subject.split()), text.strip() + "\n", html)

    def reload(self) -> None:
        """Forget cached templates so edited files are read again (SIGHUP)."""
        self.env.cache = {} if self.env.cache is not None else None
        self._no_html = set()
