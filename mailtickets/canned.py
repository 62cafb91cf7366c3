"""Canned answers (`#plantilla NOMBRE`): the files `canned/NAME.txt.j2` of the templates.

They are found where every template is (the site's `templates_dir`, its locale folder first,
then the package's), so a site's file overrides a built-in one of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from mailtickets.commands import CANNED_NAME
from mailtickets.render import Renderer

FOLDER = "canned/"
SUFFIX = ".txt.j2"
_FIRST_COMMENT = re.compile(r"\A\s*\{#-?\s*(.*?)\s*-?#\}", re.DOTALL)


@dataclass(frozen=True)
class Canned:
    name: str
    description: str  # the file's opening {# comment #}, shown in the list staff get


def canned_names(renderer: Renderer) -> tuple[str, ...]:
    """Every canned answer the renderer can find, sorted; names that could not be asked for
    (capitals, dots, spaces) are left out rather than listed and then refused."""
    found = set()
    for template in renderer.env.list_templates():
        if template.startswith(FOLDER) and template.endswith(SUFFIX):
            name = template[len(FOLDER) : -len(SUFFIX)]
            if CANNED_NAME.match(name):
                found.add(name)
    return tuple(sorted(found))


def canned_list(renderer: Renderer) -> list[Canned]:
    """Every canned answer with its description, for `#plantillas`."""
    return [Canned(n, _description(renderer, n)) for n in canned_names(renderer)]


def _description(renderer: Renderer, name: str) -> str:
    loader = renderer.env.loader
    assert loader is not None
    source, _, _ = loader.get_source(renderer.env, template_path(name))
    return describe(source)


def describe(source: str) -> str:
    """The first line of the template's opening Jinja comment, or "" (pure)."""
    match = _FIRST_COMMENT.match(source)
    return match.group(1).splitlines()[0].strip() if match and match.group(1) else ""


def template_path(name: str) -> str:
    return f"{FOLDER}{name}{SUFFIX}"


def render_canned(renderer: Renderer, name: str, context: dict[str, Any]) -> str:
    """The canned answer's text for one ticket; TemplateError when the file is broken."""
    return renderer.env.get_template(template_path(name)).render(context).strip()


def render_problem(renderer: Renderer, name: str, context: dict[str, Any]) -> str:
    """Why the canned answer cannot be rendered for this ticket, or "" when it can."""
    try:
        render_canned(renderer, name, context)
    except TemplateError as exc:
        return f"canned answer {name!r} cannot be written: {exc}"
    return ""
