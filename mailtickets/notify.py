"""Render notifications from Jinja2 template files, site folder first (no I/O but reading)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class Renderer:
    """One Jinja environment per locale; a site folder overrides any file by name."""

    def __init__(self, locale: str, site_dir: Path | None = None) -> None:
        folders = [builtin_templates() / locale]
        if site_dir is not None:
            folders.insert(0, site_dir / locale)
            folders.insert(1, site_dir)
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(f)) for f in folders]),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
            keep_trailing_newline=True,
        )

    def render(self, kind: str, context: dict[str, Any]) -> Rendered:
        """Subject, text and (when the file exists) HTML of notification `kind`."""
        subject = self.env.get_template(f"{kind}.subject.j2").render(context)
        text = self.env.get_template(f"{kind}.txt.j2").render(context)
        try:
            html: str | None = self.env.get_template(f"{kind}.html.j2").render(context)
        except TemplateNotFound:
            html = None
        return Rendered(" ".join(subject.split()), text.strip() + "\n", html)

    def reload(self) -> None:
        """Forget cached templates so edited files are read again (SIGHUP)."""
        self.env.cache = {} if self.env.cache is not None else None
