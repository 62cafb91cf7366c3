"""The customer's kind of service and domains (issue 12: help-centre answers by plan, checks
of the customer's own domains), time spent per staff member (`#tiempo`, issue 13) and
satisfaction ratings, once per closing (issue 13). Old customers have no plan ("") and no
domains ("[]"): no answer is suggested to them by plan, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch_op:
        batch_op.add_column(sa.Column("plan", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("domains", sa.String(), nullable=False, server_default="[]"))
    with op.batch_alter_table("customer") as batch_op:  # new rows always name them
        batch_op.alter_column("plan", server_default=None)
        batch_op.alter_column("domains", server_default=None)
    op.create_table(
        "time_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("staff", sa.String(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("time_entry") as batch_op:
        batch_op.create_index("ix_time_entry_ticket_id", ["ticket_id"], unique=False)
        batch_op.create_index("ix_time_entry_staff", ["staff"], unique=False)
        batch_op.create_index("ix_time_entry_at", ["at"], unique=False)
    op.create_table(
        "rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "closed_at"),
    )
    with op.batch_alter_table("rating") as batch_op:
        batch_op.create_index("ix_rating_ticket_id", ["ticket_id"], unique=False)
        batch_op.create_index("ix_rating_at", ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("rating")
    op.drop_table("time_entry")
    with op.batch_alter_table("customer") as batch_op:
        batch_op.drop_column("domains")
        batch_op.drop_column("plan")
