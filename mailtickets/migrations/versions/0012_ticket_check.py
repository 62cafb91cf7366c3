"""The automatic checks of a ticket (issue 12, SPEC §11): one row per check and round, queued
in the transaction that commits the ticket (or its reopening), claimed and run by any
worker off the ingest path, its findings kept, and the round reported once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("targets", sa.String(), nullable=False),
        sa.Column("findings", sa.String(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "round", "name"),
    )
    with op.batch_alter_table("ticket_check") as batch_op:
        batch_op.create_index("ix_ticket_check_ticket_id", ["ticket_id"], unique=False)
        batch_op.create_index("ix_ticket_check_state", ["state"], unique=False)
        # Each cycle looks for rounds not reported yet: an index, not a scan of the history.
        batch_op.create_index("ix_ticket_check_reported_at", ["reported_at"], unique=False)


def downgrade() -> None:
    op.drop_table("ticket_check")
