"""Which help-centre articles to suggest for a new ticket's mail and customer plan (pure).

An article applies to the plans it lists, or to every plan when it lists none; its keywords
are matched like routing's (accents and case folded, whole words, the subject weighing more
than the body). The files themselves are read by `article_files`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailtickets.routing import fold

SUBJECT_WEIGHT = 2
BODY_WEIGHT = 1
MAX_SUGGESTED = 2


@dataclass(frozen=True)
class Article:
    """One help-centre answer, as its file says it."""

    title: str
    keywords: tuple[str, ...]
    plans: tuple[str, ...] = ()  # () applies to every plan
    url: str = ""
    text: str = ""
    source: str = ""  # the file it came from, for messages


@dataclass(frozen=True)
class Suggestion:
    """An article chosen for a mail, with its score and the keywords that matched."""

    article: Article
    score: int
    matched: tuple[str, ...]


def same_plan(a: str, b: str) -> bool:
    """Plans are names people type: "Web Gestionada" is "web gestionada"."""
    return " ".join(fold(a).split()) == " ".join(fold(b).split())


def applies_to(article: Article, plan: str) -> bool:
    """True when `article` is for a customer on `plan` ("" : no plan known, so only the
    articles for every plan)."""
    if not article.plans:
        return True
    return bool(plan.strip()) and any(same_plan(p, plan) for p in article.plans)


def suggest(
    articles: Iterable[Article],
    subject: str,
    text: str,
    plan: str,
    limit: int = MAX_SUGGESTED,
) -> tuple[Suggestion, ...]:
    """At most `limit` articles for `plan` whose keywords the mail names, best first;
    equal scores in title order, so the same mail always gets the same answer."""
    folded_subject, folded_text = fold(subject), fold(text)
    found: list[Suggestion] = []
    for article in articles:
        if not applies_to(article, plan):
            continue
        score, matched = _score(article.keywords, folded_subject, folded_text)
        if score:
            found.append(Suggestion(article, score, matched))
    found.sort(key=lambda s: (-s.score, fold(s.article.title), s.article.title))
    return tuple(found[:limit])


def _score(keywords: Iterable[str], subject: str, text: str) -> tuple[int, tuple[str, ...]]:
    total, matched = 0, []
    for keyword in keywords:
        words = fold(keyword).split()
        if not words:
            continue
        # Whole words, any run of spaces between them: "cuenta  de\ncorreo" is the phrase.
        pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)")
        score = len(pattern.findall(subject)) * SUBJECT_WEIGHT
        score += len(pattern.findall(text)) * BODY_WEIGHT
        if score:
            total += score
            matched.append(keyword)
    return total, tuple(matched)
