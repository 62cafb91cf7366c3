"""The hourly automatic-mail limit counted from an index, not by searching the outbox.

Until 0003 each automatic mail searched the recipient lists (JSON text, `LIKE`) of every
outbox row of the last hour, so the cost per mail grew with the traffic. `automail` holds
one row per address per automatic mail; the rows of the last hour are carried over from
the outbox, so the limit counts what was already sent.
"""

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    automail = op.create_table(
        "automail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_automail_email_at", "automail", ["email", "at"], unique=False)
    bind = op.get_bind()
    since = datetime.now(UTC) - timedelta(hours=1)
    if bind.dialect.name == "sqlite":  # stored there as naive UTC text
        since = since.replace(tzinfo=None)
    outbox = sa.table(
        "outbox",
        sa.column("recipients", sa.String()),
        sa.column("automatic", sa.Boolean()),
        sa.column("created_at", sa.DateTime()),
    )
    recent = sa.select(outbox.c.recipients, outbox.c.created_at).where(
        outbox.c.automatic.is_(True), outbox.c.created_at >= since
    )
    rows = [
        {"email": email, "at": created_at}
        for recipients, created_at in bind.execute(recent)
        for email in json.loads(recipients)
    ]
    if rows:
        op.bulk_insert(automail, rows)


def downgrade() -> None:
    op.drop_index("ix_automail_email_at", table_name="automail")
    op.drop_table("automail")
