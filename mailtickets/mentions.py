"""The domains and URLs a mail names (pure): what the acknowledgement's hint and the
automatic checks (SPEC §11) look at."""

from __future__ import annotations

import re

DOMAIN_OR_URL = re.compile(
    r"(https?://\S+|\b(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:[a-z]{2,24})\b)", re.I
)


def mentions(*texts: str) -> list[str]:
    """Every URL and bare domain in `texts`, in order (an address's domain too)."""
    return [found for text in texts for found in DOMAIN_OR_URL.findall(text)]
