"""Cut quoted history and signatures off a reply, keeping what the writer added (pure)."""

from __future__ import annotations

from mailparser_reply import EmailReplyParser

_PARSER = EmailReplyParser(languages=["es", "en", "de", "fr"])


def latest_reply(text: str) -> str:
    """The new part of a reply; the whole text when nothing looks quoted."""
    try:
        reply = _PARSER.parse_reply(text)
    except (ValueError, IndexError, AttributeError):
        return text.strip()
    return (reply or "").strip() or text.strip()
