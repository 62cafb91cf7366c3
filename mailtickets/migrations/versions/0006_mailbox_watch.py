"""Who watches each mailbox: `mailbox_watch`, one row per mailbox, made on first use.

A lease tied to the worker heartbeats of 0003 (see mailtickets/watch.py): the holder's
worker id, since when, and the last successful fetch and last error, for `status`. A new
table only; no existing row changes, and no mailbox is held until a worker takes it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_watch",
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=True),
        sa.Column("held_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fetch_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mailbox"),
    )


def downgrade() -> None:
    op.drop_table("mailbox_watch")
