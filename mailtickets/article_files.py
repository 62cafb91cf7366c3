"""Read a site's help-centre articles: one Markdown file each, TOML front matter between
`+++` lines (docs/help-centre.md). A broken file is a ConfigError naming it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from mailtickets.articles import Article, same_plan
from mailtickets.errors import ConfigError
from mailtickets.routing import fold

FENCE = "+++"
KEYS = ("title", "keywords", "plans", "url")
SUFFIX = ".md"


def article_paths(folder: Path) -> list[Path]:
    """The article files of `folder`, in name order (hidden files, editors' own, skipped)."""
    return sorted(
        p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file() and p.name[0] != "."
    )


def read_articles(folder: Path) -> tuple[Article, ...]:
    """Every article of `folder`; ConfigError with the file and its problem on the first
    one that cannot be used, or when one customer could be offered two of the same title."""
    try:
        paths = article_paths(folder)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot read the articles folder: {exc.strerror}") from None
    articles: list[Article] = []
    for path in paths:
        article = parse_article(_text(path), str(path))
        twin = next((a for a in articles if _may_meet(a, article)), None)
        if twin is not None:
            raise ConfigError(
                f"{path}: the same title as {Path(twin.source).name} for the same plan: "
                f"{article.title!r} (give each its own plans, or another title)"
            )
        articles.append(article)
    return tuple(articles)


def _may_meet(a: Article, b: Article) -> bool:
    """Both titled alike and both offered to some customer: one question answered per plan
    is the help centre's way ("Web autogestionada" / "Web gestionada"), twice to one is not."""
    if fold(a.title) != fold(b.title):
        return False
    if not a.plans or not b.plans:
        return True
    return any(same_plan(p, q) for p in a.plans for q in b.plans)


# Each folder's articles as last read: once per process, and again on SIGHUP.
_READ: dict[Path, tuple[Article, ...]] = {}


def site_articles(folder: Path | None) -> tuple[Article, ...]:
    """The articles of `folder` (None: none), read once per process: the config check at
    start reads them first, so a broken file stops the start, not a ticket."""
    if folder is None:
        return ()
    found = _READ.get(folder)
    if found is None:
        found = _READ[folder] = read_articles(folder)
    return found


def reread_articles(folder: Path | None) -> str:
    """Read `folder`'s articles again (the daemon's SIGHUP); what happened, in one line.
    A broken file keeps the articles read before, as a broken file at start stops it."""
    if folder is None:
        return ""
    try:
        articles = read_articles(folder)
    except ConfigError as exc:
        return f"{exc}; the {len(_READ.get(folder, ()))} articles read before stay in use"
    _READ[folder] = articles
    return f"{len(articles)} articles read again from {folder}"


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None


def parse_article(text: str, where: str) -> Article:
    """One article file's text; ConfigError "`where`: problem" when it is not one."""
    head, body = _split(text, where)
    try:
        fields = tomllib.loads(head)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: the front matter is not valid TOML: {exc}") from None
    unknown = sorted(set(fields) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} in the front matter (use {', '.join(KEYS)})"
        )
    answer = body.strip()
    if not answer:
        raise ConfigError(f"{where}: no answer text after the closing {FENCE}")
    return Article(
        title=_title(fields, where),
        keywords=_words(fields, "keywords", where, required=True),
        plans=_words(fields, "plans", where, required=False),
        url=_url(fields, where),
        text=answer,
        source=where,
    )


def _split(text: str, where: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        raise ConfigError(f"{where}: the first line should be {FENCE} (the front matter)")
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() == FENCE:
            return "".join(lines[1:number]), "".join(lines[number + 1 :])
    raise ConfigError(f"{where}: the front matter has no closing {FENCE} line")


def _title(fields: dict[str, Any], where: str) -> str:
    title = fields.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"{where}: title: write the article's question as a text")
    return " ".join(title.split())


def _words(fields: dict[str, Any], key: str, where: str, required: bool) -> tuple[str, ...]:
    value = fields.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f'{where}: {key}: a list of texts, like ["cuenta de correo", "buzón"]')
    if required and not value:
        raise ConfigError(f"{where}: {key}: give at least one, or the article is never suggested")
    return tuple(" ".join(v.split()) for v in value)


def _url(fields: dict[str, Any], where: str) -> str:
    url = fields.get("url", "")
    if not isinstance(url, str) or (url and not url.startswith(("https://", "http://"))):
        raise ConfigError(f"{where}: url: {url!r} should start with https:// or http://")
    if any(c.isspace() for c in url):
        raise ConfigError(f"{where}: url: {url!r} has spaces")
    return url
