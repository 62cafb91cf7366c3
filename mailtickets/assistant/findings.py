"""A check's finding: how much it matters, what was looked at, what was seen (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

Severity = Literal["problem", "warning", "info", "ok"]
# Most important first: the order of the note and of the summary.
SEVERITIES: tuple[Severity, ...] = ("problem", "warning", "info", "ok")
Facts = Mapping[str, str | int]


@dataclass(frozen=True)
class Finding:
    """One result. `code` and `facts` word it per locale (wording.py); a site's check that
    brings its own codes gives `texts` instead ({"es": "…", "en": "…"})."""

    check: str  # the check's name: "dns", "http", a site's "suspended"
    target: str  # the domain, URL or host it is about
    severity: Severity
    code: str  # "dns_no_mx", "tls_expired", …
    looked_at: str  # what was asked, of whom: "MX bueno.test @ 192.0.2.53:53"
    seen: str  # what came back, as seen: "NOERROR, no records"
    facts: Facts = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        """Plain JSON-able data, for a database row; `from_data` reads it back."""
        return {
            "check": self.check,
            "target": self.target,
            "severity": self.severity,
            "code": self.code,
            "looked_at": self.looked_at,
            "seen": self.seen,
            "facts": dict(self.facts),
            "texts": dict(self.texts),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Finding:
        severity = data["severity"] if data["severity"] in SEVERITIES else "info"
        return cls(
            check=str(data["check"]),
            target=str(data["target"]),
            severity=cast(Severity, severity),
            code=str(data["code"]),
            looked_at=str(data.get("looked_at", "")),
            seen=str(data.get("seen", "")),
            facts=dict(data.get("facts", {})),
            texts=dict(data.get("texts", {})),
        )


def rank(finding: Finding) -> int:
    return SEVERITIES.index(finding.severity)
