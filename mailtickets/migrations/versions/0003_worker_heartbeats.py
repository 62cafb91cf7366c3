"""Workers and outbox claims: a claim names its holder and lasts while the holder beats.

Replaces 0.1's fixed 10-minute claim lease (a moved `next_attempt_at`): `worker` holds one
row per running process with its heartbeat, and `outbox.claimed_by`/`claimed_at` say who is
sending a row and since when. Existing rows keep every value; none is claimed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("process", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Nullable columns with no default: added in place (no copy of the outbox on SQLite).
    op.add_column("outbox", sa.Column("claimed_by", sa.String(), nullable=True))
    op.add_column("outbox", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_outbox_claimed_by"), "outbox", ["claimed_by"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_claimed_by"), table_name="outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claimed_by")
    op.drop_table("worker")
