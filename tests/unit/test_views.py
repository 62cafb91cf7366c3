"""The operator's text views of a ticket."""

from __future__ import annotations

from mailtickets.views import detail_text, ticket_line

SUMMARY = {
    "code": "SOP-ABCDEF",
    "status": "open",
    "priority": "high",
    "department": "Facturación",
    "requester": "jose@example.com",
    "subject": "",
}


def test_a_ticket_without_a_subject_says_so_to_the_operator() -> None:
    assert ticket_line(SUMMARY).endswith(" (no subject)")
    assert ticket_line(SUMMARY | {"subject": "Factura"}).endswith(" Factura")
    detail = SUMMARY | dict.fromkeys(
        ("customer", "assignee", "linked_to", "created_at", "updated_at")
    )
    detail |= {"contacts_notified": [], "participants": [], "messages": [], "events": []}
    assert detail_text(detail).startswith("SOP-ABCDEF  (no subject)\n")
