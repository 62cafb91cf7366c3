"""The findings as staff read them: problems first, a short summary for the top of a
staff notice and the whole internal note (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mailtickets.assistant.findings import SEVERITIES, Finding, Severity, rank
from mailtickets.assistant.targets import Targets
from mailtickets.assistant.wording import label, locale_of, sentence

SUMMARY_LINES = 4
_COUNTED: dict[str, dict[Severity, tuple[str, str]]] = {
    "es": {
        "problem": ("problema", "problemas"),
        "warning": ("aviso", "avisos"),
        "ok": ("correcta", "correctas"),
    },
    "en": {
        "problem": ("problem", "problems"),
        "warning": ("warning", "warnings"),
        "ok": ("fine", "fine"),
    },
}
_WORDS = {
    "es": {
        "title": "Comprobaciones automáticas",
        "nothing": "nada que comprobar: el correo no nombra dominio ni URL",
        "clean": "todo correcto",
        "more": "y {n} más en la nota interna",
        "looked_at": "miró",
        "seen": "vio",
        "skipped": "No se miró",
    },
    "en": {
        "title": "Automatic checks",
        "nothing": "nothing to check: the mail names no domain or URL",
        "clean": "all fine",
        "more": "and {n} more in the internal note",
        "looked_at": "looked at",
        "seen": "saw",
        "skipped": "Not looked at",
    },
}


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Problems first, then warnings, information and what is fine; within each, the order
    the checks reported them in."""
    return sorted(findings, key=rank)


def summary(findings: Sequence[Finding], locale: str, lines: int = SUMMARY_LINES) -> str:
    """A few lines for the top of a staff notice: the counts, then what matters most."""
    words, counted = _WORDS[locale_of(locale)], _COUNTED[locale_of(locale)]
    if not findings:
        return f"{words['title']}: {words['nothing']}."
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    parts = [_count(counts[s], forms) for s, forms in counted.items() if counts[s]]
    flagged = [f for f in ordered(findings) if f.severity in ("problem", "warning")]
    if not flagged:
        return f"{words['title']}: {words['clean']} ({', '.join(parts)})."
    head = [f"{words['title']}: {', '.join(parts)}."]
    shown = [f"- {label(f.severity, locale)}: {sentence(f, locale)}" for f in flagged[:lines]]
    rest = len(flagged) - len(shown)
    tail = [f"  ({words['more'].format(n=rest)})"] if rest > 0 else []
    return "\n".join(head + shown + tail)


def note(findings: Sequence[Finding], locale: str, targets: Targets | None = None) -> str:
    """The internal note: every finding, most important first, each with what the check
    looked at and what it saw; then what was left out and why."""
    words = _WORDS[locale_of(locale)]
    out = [summary(findings, locale, lines=0).splitlines()[0], ""]
    for finding in ordered(findings):
        out.append(f"- {label(finding.severity, locale)}: {sentence(finding, locale)}")
        out.append(f"  [{finding.check}] {words['looked_at']}: {finding.looked_at}")
        out.append(f"  {words['seen']}: {finding.seen}")
    if targets is not None and targets.skipped:
        out += ["", f"{words['skipped']}:"] + [f"- {why}" for why in targets.skipped]
    return "\n".join(out).rstrip() + "\n"


def _count(n: int, forms: tuple[str, str]) -> str:
    return f"{n} {forms[0] if n == 1 else forms[1]}"


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The most important severity among `findings` (None when there are none)."""
    return min((f.severity for f in findings), key=SEVERITIES.index, default=None)
