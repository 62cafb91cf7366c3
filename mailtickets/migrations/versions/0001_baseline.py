"""Baseline: the schema release 0.1.0 made with create_all, before revisions were kept."""

# Written out in full rather than from mailtickets.models, so later model changes cannot
# alter what this revision creates. Constraints stay unnamed, as create_all left them, so a
# stamped 0.1.0 database and one built here carry the same server-given names.

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer",
        _id(),
        _text("name"),
        _when("created_at"),
    )
    op.create_table(
        "contact",
        _id(),
        _ref("customer_id", "customer.id"),
        _text("email", unique=True),
        _text("name"),
        sa.Column("notify", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "ticket",
        _id(),
        _text("code", unique=True),
        _text("subject"),
        _text("status"),
        _text("priority"),
        _text("department"),
        _text("requester"),
        _ref("customer_id", "customer.id"),
        _text("assignee", nullable=True),
        _ref("linked_to_id", "ticket.id", nullable=True),
        _when("created_at"),
        _when("updated_at"),
        _when("last_customer_at", nullable=True),
        _when("last_staff_at", nullable=True),
        _when("closed_at", nullable=True),
        _when("remind_at", nullable=True),
        _when("reminder_sent_at", nullable=True),
        sa.Column("reminder_outbox_id", sa.Integer(), nullable=True),
        _when("first_response_due", nullable=True),
        _when("sla_escalated_at", nullable=True),
    )
    op.create_table(
        "participant",
        _id(),
        _ref("ticket_id", "ticket.id"),
        _text("email"),
        sa.UniqueConstraint("ticket_id", "email"),
    )
    op.create_table(
        "inbound",
        _id(),
        _text("mailbox"),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        _text("dedup_key", unique=True),
        _text("message_id"),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        _when("internal_date", nullable=True),
        _when("fetched_at"),
        _text("state"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _text("error"),
        _text("outcome"),
        _text("ticket_code"),
        _when("processed_at", nullable=True),
        _when("quarantined_at", nullable=True),
        _text("server_state"),
        sa.UniqueConstraint("mailbox", "uidvalidity", "uid"),
    )
    op.create_table(
        "message",
        _id(),
        _ref("ticket_id", "ticket.id"),
        _ref("inbound_id", "inbound.id", nullable=True),
        _text("direction"),
        _text("message_id"),
        _text("sender"),
        _text("recipients"),
        _text("subject"),
        _when("date"),
        _text("text"),
        _text("html"),
    )
    op.create_table(
        "attachment",
        _id(),
        _ref("message_id", "message.id"),
        _text("filename"),
        _text("content_type"),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "event",
        _id(),
        _ref("ticket_id", "ticket.id"),
        _when("at"),
        _text("kind"),
        _text("actor"),
        _text("detail"),
    )
    op.create_table(
        "outbox",
        _id(),
        _ref("ticket_id", "ticket.id", nullable=True),
        _text("kind"),
        _text("message_id", unique=True),
        _text("envelope_from"),
        _text("recipients"),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        _text("state"),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("next_attempt_at"),
        _text("last_error"),
        _when("created_at"),
        _when("sent_at", nullable=True),
    )
    op.create_table(
        "checkpoint",
        _text("mailbox", primary_key=True),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("last_uid", sa.Integer(), nullable=False),
    )
    op.create_table(
        "suppression",
        _text("email", primary_key=True),
        _text("reason"),
        _when("at"),
    )
    for table, column in INDEXED:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)


INDEXED = (
    ("contact", "customer_id"),
    ("ticket", "status"),
    ("ticket", "department"),
    ("ticket", "customer_id"),
    ("ticket", "remind_at"),
    ("ticket", "reminder_sent_at"),
    ("ticket", "first_response_due"),
    ("participant", "ticket_id"),
    ("inbound", "state"),
    ("inbound", "server_state"),
    ("message", "ticket_id"),
    ("message", "message_id"),
    ("attachment", "message_id"),
    ("event", "ticket_id"),
    ("outbox", "ticket_id"),
    ("outbox", "state"),
    ("outbox", "next_attempt_at"),
)
TABLES = (
    "customer",
    "contact",
    "ticket",
    "participant",
    "inbound",
    "message",
    "attachment",
    "event",
    "outbox",
    "checkpoint",
    "suppression",
)


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _text(name: str, nullable: bool = False, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.String(), nullable=nullable, **kw)


def _when(name: str, nullable: bool = False) -> sa.Column[Any]:
    # models.AwareDateTime stores through DateTime(timezone=True).
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _ref(name: str, target: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey(target), nullable=nullable)
