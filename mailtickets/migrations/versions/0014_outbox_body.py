"""An outbox mail's bytes move to a table of their own, `outboxbody`, as inbound mail's did
in 0005.

SQLite rewrites a row whole on every UPDATE, so claiming an outbox row and recording the
relay's answer each copied the mail it held, attachments included: every mail sent was
written three times. Every mail's bytes are copied over as they are; `outbox` keeps every
other column and value.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outboxbody",
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"]),
        sa.PrimaryKeyConstraint("outbox_id"),
    )
    op.execute("INSERT INTO outboxbody (outbox_id, raw) SELECT id, raw FROM outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("raw")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("raw", sa.LargeBinary(), nullable=False, server_default=""))
    op.execute(
        "UPDATE outbox SET raw = "
        "(SELECT raw FROM outboxbody WHERE outboxbody.outbox_id = outbox.id)"
    )
    op.drop_table("outboxbody")
